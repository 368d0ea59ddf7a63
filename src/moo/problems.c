/* Benchmark problems, defined as in pymoo 0.6 (checked against tests/fixtures/pymoo/problems.txt).
 *
 * ZDT (Zitzler, Deb, Thiele 2000), x in [0,1]^n:
 *   f1 = x1, g = 1 + 9 / (n - 1) * sum_{i >= 2} x_i, h = f1 / g
 *   zdt1: f2 = g (1 - sqrt(h))   zdt2: f2 = g (1 - h^2)   zdt3: f2 = g (1 - sqrt(h) - h sin(10 pi
 * f1)) DTLZ2 (Deb, Thiele, Laumanns, Zitzler 2002), M objectives, x in [0,1]^n, k = n - M + 1: g =
 * sum_{i >= M} (x_i - 1/2)^2, f_m = (1 + g) prod_{j < M - m} cos(x_j pi / 2) [* sin(x_{M-m} pi / 2)
 * for m > 0] pymoo's default n_var is 10 for 3 objectives (k = 8). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "moo/moo_internal.h"

enum { ZDT1, ZDT2, ZDT3, DTLZ2 };

static const struct {
    const char *name;
    int kind, n_obj, n_var_default, n_var_min;
} problems[] = {
    {"zdt1", ZDT1, 2, 30, 2},
    {"zdt2", ZDT2, 2, 30, 2},
    {"zdt3", ZDT3, 2, 30, 2},
    {"dtlz2", DTLZ2, 3, 10, 3},
};

static void zdt(int kind, int n, const double *x, double *f)
{
    double s = 0;
    for (int i = 1; i < n; i++)
        s += x[i];
    double g = 1 + 9.0 / (n - 1) * s, f1 = x[0], h = f1 / g;
    f[0] = f1;
    if (kind == ZDT1)
        f[1] = g * (1 - sqrt(h));
    else if (kind == ZDT2)
        f[1] = g * (1 - h * h);
    else
        f[1] = g * (1 - sqrt(h) - h * sin(10 * M_PI * f1));
}

static void dtlz2(int n, int m, const double *x, double *f)
{
    double g = 0;
    for (int i = m - 1; i < n; i++)
        g += (x[i] - 0.5) * (x[i] - 0.5);
    for (int o = 0; o < m; o++) {
        double v = 1 + g;
        for (int j = 0; j < m - 1 - o; j++)
            v *= cos(x[j] * M_PI / 2);
        if (o > 0)
            v *= sin(x[m - 1 - o] * M_PI / 2);
        f[o] = v;
    }
}

static td_status problem_eval(void *user, int n, const double *x, double *f, double *g)
{
    (void)g;
    const td_moo_problem *p = user;
    int nv = p->space.n_var, no = p->space.n_obj;
    bool is_dtlz2 = strcmp(p->name, "dtlz2") == 0;
    int kind = p->name[3] == '1' ? ZDT1 : p->name[3] == '2' ? ZDT2 : ZDT3;
    for (int i = 0; i < n; i++) {
        const double *xi = x + (size_t)i * nv;
        for (int v = 0; v < nv; v++)
            if (!(xi[v] >= p->lo[v] && xi[v] <= p->hi[v]))
                return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                    "%s: design %d variable %d is %g, outside [%g, %g]", p->name, i,
                                    v, xi[v], p->lo[v], p->hi[v]);
        if (is_dtlz2)
            dtlz2(nv, no, xi, f + (size_t)i * no);
        else
            zdt(kind, nv, xi, f + (size_t)i * no);
    }
    return TD_OK;
}

td_status td_moo_problem_get(const char *name, int n_var, td_moo_problem *out)
{
    if (!out)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moo problem: out is NULL");
    memset(out, 0, sizeof *out);
    int which = -1, count = (int)(sizeof problems / sizeof problems[0]);
    for (int i = 0; i < count && name; i++)
        if (strcmp(name, problems[i].name) == 0)
            which = i;
    if (which < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moo problem '%s': unknown (known: zdt1, zdt2, zdt3, dtlz2)",
                            name ? name : "(null)");
    int nv = n_var == 0 ? problems[which].n_var_default : n_var;
    int cap = (int)(sizeof out->lo / sizeof out->lo[0]);
    if (nv < problems[which].n_var_min || nv > cap)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moo problem '%s': n_var %d out of range [%d, %d] (0 = default %d)",
                            name, n_var, problems[which].n_var_min, cap,
                            problems[which].n_var_default);
    snprintf(out->name, sizeof out->name, "%s", problems[which].name);
    for (int v = 0; v < nv; v++)
        out->lo[v] = 0, out->hi[v] = 1;
    out->space.n_var = nv;
    out->space.n_obj = problems[which].n_obj;
    out->space.n_con = 0;
    out->space.lo = out->lo;
    out->space.hi = out->hi;
    out->space.integer = NULL;
    out->eval = problem_eval;
    return TD_OK;
}
