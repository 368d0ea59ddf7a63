/* Multi-objective search: hypervolume against pymoo (tests/fixtures/pymoo, made by
 * tools/gen_pymoo_fixtures.py), Pareto fronts, constraint domination, the ask/tell contract
 * (determinism, cap independence), exhaustive and random search, option errors, the benchmark
 * problems, and NSGA-II's hypervolume against pymoo's NSGA-II at the same budget. */
#include "td_test.h"

#include "moo/moo_internal.h"
#include "tandem/moo.h"

#define FIX TD_FIXTURE_DIR "/pymoo/"

static bool close_rel(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b)) || a == b;
}

/* Parses the whitespace-separated doubles after a keyword; returns how many. */
static int parse_doubles(const char *s, double *v, int cap)
{
    int n = 0;
    char *end;
    while (n < cap) {
        double x = strtod(s, &end);
        if (end == s)
            break;
        v[n++] = x;
        s = end;
    }
    return n;
}

static FILE *open_fixture(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, FIX "%s", name);
    FILE *f = fopen(path, "r");
    TD_CHECK(f != NULL, "cannot open %s (run tools/gen_pymoo_fixtures.py)", path);
    return f;
}

/* ---- hypervolume ---- */

static void test_hv_fixtures(void)
{
    FILE *fp = open_fixture("hypervolume.txt");
    if (!fp)
        return;
    static char line[1 << 14];
    char name[64] = "";
    int n = 0, d = 0, got = 0, sets = 0;
    double ref[8], *pts = NULL, worst = 0;
    while (fgets(line, sizeof line, fp)) {
        if (sscanf(line, "set %63s %d %d", name, &n, &d) == 3) {
            free(pts);
            pts = malloc((size_t)n * d * sizeof *pts);
            got = 0;
        } else if (!strncmp(line, "ref ", 4)) {
            TD_CHECK(parse_doubles(line + 4, ref, 8) == d, "%s: ref", name);
        } else if (!strncmp(line, "p ", 2)) {
            TD_CHECK(got < n && parse_doubles(line + 2, pts + (size_t)got * d, d) == d,
                     "%s: point %d", name, got);
            got++;
        } else if (!strncmp(line, "hv ", 3)) {
            double want = strtod(line + 3, NULL), hv = -1;
            TD_CHECK(got == n, "%s: %d of %d points", name, got, n);
            TD_CHECK_OK(td_hypervolume(n, d, pts, ref, &hv));
            double rel = fabs(hv - want) / fmax(fabs(want), 1e-300);
            worst = fmax(worst, rel);
            TD_CHECK(close_rel(hv, want, 1e-9), "%s (%d points, %d-D): hv %.17g, pymoo %.17g", name,
                     n, d, hv, want);
            sets++;
        }
    }
    fclose(fp);
    free(pts);
    TD_CHECK(sets >= 15, "only %d hypervolume sets in the fixture", sets);
    printf("hypervolume: %d pymoo point sets (2-D to 5-D), worst relative difference %.2e\n", sets,
           worst);
}

static double hv_of(int n, int d, const double *p, const double *ref)
{
    double v = -1;
    TD_CHECK_OK(td_hypervolume(n, d, p, ref, &v));
    return v;
}

static void test_hv_hand(void)
{
    const double a[] = {1, 0, 1, 0, 1, 0}, r3[] = {2, 2, 2};
    TD_CHECK(hv_of(2, 3, a, r3) == 5.0, "{(1,0,1),(0,1,0)} ref 2: %g", hv_of(2, 3, a, r3));
    const double one[] = {3, 1, 2, 4}, r1[] = {4};
    TD_CHECK(hv_of(4, 1, one, r1) == 3.0, "1-D: %g", hv_of(4, 1, one, r1));
    const double b[] = {0, 0}, r2[] = {1, 2};
    TD_CHECK(hv_of(1, 2, b, r2) == 2.0, "one 2-D box");
    /* two 4-D boxes by inclusion-exclusion: 8 + 2 - 1 */
    const double c[] = {0, 0, 0, 1, 1, 1, 1, 0}, r4[] = {2, 2, 2, 2};
    TD_CHECK(hv_of(2, 4, c, r4) == 9.0, "two 4-D boxes: %g", hv_of(2, 4, c, r4));
    const double box[] = {0, 0, 0, 0}, rb[] = {1, 2, 3, 4};
    TD_CHECK(hv_of(1, 4, box, rb) == 24.0, "one 4-D box");
    /* on the reference boundary, beyond it, or +inf: no volume */
    const double edge[] = {1, 0.5, 0.5, 7, INFINITY, 0}, re[] = {1, 1};
    TD_CHECK(hv_of(3, 2, edge, re) == 0.0, "boundary points: %g", hv_of(3, 2, edge, re));
    TD_CHECK(hv_of(0, 3, NULL, r3) == 0.0, "no points");
}

/* Properties on random sets: a dummy objective at 0 with ref 1 leaves the volume unchanged
 * (which checks the d > 3 slicing against the 3-D sweep, and the 3-D sweep against 2-D), the
 * order of the points does not matter, and dominated points add nothing. */
static void test_hv_properties(void)
{
    td_rng rng = {42};
    enum { N = 60 };
    for (int d = 2; d <= 4; d++) {
        double p[N * 5], q[2 * N * 5], ref[5];
        for (int i = 0; i < N * d; i++) /* coarse values: many ties */
            p[i] = floor((td_rng_uniform(&rng) + 1) * 8) / 16;
        for (int k = 0; k < d; k++)
            ref[k] = 1;
        double base = hv_of(N, d, p, ref);
        for (int i = 0; i < N; i++) {
            memcpy(q + (size_t)i * (d + 1), p + (size_t)i * d, (size_t)d * sizeof *q);
            q[(size_t)i * (d + 1) + d] = 0;
        }
        ref[d] = 1;
        double lifted = hv_of(N, d + 1, q, ref);
        TD_CHECK(close_rel(lifted, base, 1e-12), "%d-D %.17g vs lifted to %d-D %.17g", d, base,
                 d + 1, lifted);
        for (int i = 0; i < N; i++) /* reversed order, with a dominated copy of each point */
            for (int k = 0; k < d; k++) {
                q[(size_t)i * d + k] = p[(size_t)(N - 1 - i) * d + k];
                q[(size_t)(N + i) * d + k] = p[(size_t)i * d + k] + 0.01;
            }
        double perm = hv_of(2 * N, d, q, ref);
        TD_CHECK(close_rel(perm, base, 1e-12), "%d-D reversed + dominated %.17g vs %.17g", d, perm,
                 base);
    }
    double big[2 * N * 5];
    for (int i = 0; i < N * 3; i++)
        big[i] = (td_rng_uniform(&rng) + 1) / 2;
    for (int i = 0; i < N * 3; i++)
        big[N * 3 + i] = big[i] + 0.001;
    double r3[] = {1.2, 1.2, 1.2};
    TD_CHECK(close_rel(hv_of(N, 3, big, r3), hv_of(2 * N, 3, big, r3), 1e-12),
             "dominated points add volume");
}

static void test_hv_errors(void)
{
    double p[] = {0, 0}, r[] = {1, 1}, out;
    TD_CHECK_ERROR(td_hypervolume(1, 0, p, r, &out), TD_CODE_INVALID_ARGUMENT, "objectives");
    TD_CHECK_ERROR(td_hypervolume(-1, 2, p, r, &out), TD_CODE_INVALID_ARGUMENT, "negative");
    TD_CHECK_ERROR(td_hypervolume(1, 2, NULL, r, &out), TD_CODE_INVALID_ARGUMENT, "points");
    TD_CHECK_ERROR(td_hypervolume(1, 2, p, r, NULL), TD_CODE_INVALID_ARGUMENT, "out");
    double nan_p[] = {0, NAN}, ninf[] = {-INFINITY, 0}, nan_r[] = {1, NAN}, inf_r[] = {1, INFINITY};
    TD_CHECK_ERROR(td_hypervolume(1, 2, nan_p, r, &out), TD_CODE_BAD_DATA, "point 0 objective 1");
    TD_CHECK_ERROR(td_hypervolume(1, 2, ninf, r, &out), TD_CODE_BAD_DATA, "-inf");
    TD_CHECK_ERROR(td_hypervolume(1, 2, p, nan_r, &out), TD_CODE_BAD_DATA, "reference");
    TD_CHECK_ERROR(td_hypervolume(1, 2, p, inf_r, &out), TD_CODE_BAD_DATA, "finite");
}

/* ---- Pareto fronts and constraint domination ---- */

static void test_dominates(void)
{
    double a[] = {1, 2}, b[] = {1, 3}, c[] = {0, 4};
    TD_CHECK(td_dominates(2, a, b) && !td_dominates(2, b, a), "a dominates b");
    TD_CHECK(!td_dominates(2, a, a), "nothing dominates itself");
    TD_CHECK(!td_dominates(2, a, c) && !td_dominates(2, c, a), "a and c are incomparable");
}

static void test_pareto_front(void)
{
    const double f[] = {1, 5, 2, 2, 1, 5, 3, 1, 2, 3, 5, 1, 0.5, 9, 2, 2, 1, 4, NAN, 0};
    const double viol[] = {0, 0, 0, 0.5, 0, 0, 0, 0, 0, 0};
    int idx[10];
    /* row 2 duplicates 0 and row 7 duplicates 1 (the first is kept), row 3 is infeasible,
     * row 4 is dominated by 1, row 8 dominates row 0 (and its duplicate), row 9 has a NaN */
    int n = td_pareto_front(10, 2, f, viol, idx);
    const int want[] = {1, 5, 6, 8};
    TD_CHECK(n == 4 && !memcmp(idx, want, sizeof want), "front: %d rows [%d %d %d %d]", n, idx[0],
             idx[1], idx[2], idx[3]);
    n = td_pareto_front(10, 2, f, NULL, idx);
    const int want_all[] = {1, 3, 6, 8}; /* with row 3 feasible it dominates row 5 */
    TD_CHECK(n == 4 && !memcmp(idx, want_all, sizeof want_all), "front without violations: %d", n);
    TD_CHECK(td_pareto_front(0, 2, f, NULL, idx) == 0, "empty");

    /* against the definition, on random small-integer sets full of ties, for the sort-based
     * path (d = 1, 2, 3 have their own sweeps, 4 and 5 the generic scan) and the fallback */
    td_rng rng = {7};
    for (int trial = 0; trial < 500; trial++) {
        int d = 1 + trial % 5, m = 1 + trial % 40;
        double g[40 * 5], v[40];
        for (int i = 0; i < m * d; i++)
            g[i] = (double)(td_rng_next(&rng) % 5);
        for (int i = 0; i < m; i++)
            v[i] = td_rng_next(&rng) % 5 == 0 ? 1.0 : 0.0;
        int got[40], k = td_pareto_front(m, d, g, v, got), want_k = 0, w[40];
        for (int i = 0; i < m; i++) {
            bool in = v[i] == 0;
            for (int j = 0; j < m && in; j++) {
                if (v[j] != 0)
                    continue;
                if (td_dominates(d, g + j * d, g + i * d))
                    in = false;
                if (j < i && !memcmp(g + j * d, g + i * d, (size_t)d * sizeof *g))
                    in = false;
            }
            if (in)
                w[want_k++] = i;
        }
        TD_CHECK(k == want_k && !memcmp(got, w, (size_t)k * sizeof *w),
                 "trial %d: front of %d rows (%d-D) has %d rows, want %d", trial, m, d, k, want_k);
        k = td_moo_front_incremental(m, d, g, v, got);
        TD_CHECK(k == want_k && !memcmp(got, w, (size_t)k * sizeof *w),
                 "trial %d: incremental front has %d rows, want %d", trial, k, want_k);
    }
}

static void test_nd_sort_and_crowding(void)
{
    /* feasible: (0,3) (3,0) (1,2) front 0, (2,2) front 1, (3,3) front 2;
     * infeasible by violation: 0.5 and 0.5 share a front, then 2 */
    const double f[] = {0, 3, 2, 2, 3, 0, 3, 3, 1, 2, 0, 0, 0, 0, 5, 5};
    const double v[] = {0, 0, 0, 0, 0, 0.5, 2, 0.5};
    int rank[8];
    int fronts = td_moo_nd_sort(8, 2, f, v, rank);
    const int want[] = {0, 1, 0, 2, 0, 3, 4, 3};
    TD_CHECK(fronts == 5 && !memcmp(rank, want, sizeof want),
             "constraint domination ranks: %d fronts [%d %d %d %d %d %d %d %d]", fronts, rank[0],
             rank[1], rank[2], rank[3], rank[4], rank[5], rank[6], rank[7]);

    /* against peeling by the definition of constraint domination, on sets full of ties */
    td_rng rng = {99};
    for (int trial = 0; trial < 300; trial++) {
        int d = 1 + trial % 4, n = 1 + trial % 60, got[60], want_rank[60];
        double h[60 * 4], hv[60];
        for (int i = 0; i < n * d; i++)
            h[i] = (double)(td_rng_next(&rng) % 4);
        for (int i = 0; i < n; i++)
            hv[i] = td_rng_next(&rng) % 4 == 0 ? (double)(td_rng_next(&rng) % 3 + 1) : 0.0;
        int nf = td_moo_nd_sort(n, d, h, hv, got), done = 0, level = 0;
        bool assigned[60] = {false};
        while (done < n) {
            bool take[60] = {false};
            for (int i = 0; i < n; i++) {
                if (assigned[i])
                    continue;
                take[i] = true;
                for (int j = 0; j < n && take[i]; j++) {
                    if (assigned[j] || j == i)
                        continue;
                    bool j_wins = hv[i] > 0 ? hv[j] < hv[i]
                                            : hv[j] == 0 && td_dominates(d, h + j * d, h + i * d);
                    take[i] = !j_wins;
                }
            }
            for (int i = 0; i < n; i++)
                if (take[i])
                    assigned[i] = true, want_rank[i] = level, done++;
            level++;
        }
        TD_CHECK(nf == level && !memcmp(got, want_rank, (size_t)n * sizeof *got),
                 "trial %d (%d rows, %d-D): %d fronts, want %d", trial, n, d, nf, level);
    }

    const double g[] = {0, 3, 1, 2, 2, 1, 3, 0, 1.5, 1.5};
    int mem[] = {0, 1, 2, 3, 4}, tmp[10];
    double crowd[5];
    td_moo_crowding(5, mem, 2, g, crowd, tmp);
    /* by f0: rows 0, 1, 4, 2, 3 (by f1 the reverse); row 1: (1.5 - 0)/3 + (3 - 1.5)/3 = 1,
     * row 4: (2 - 1)/3 + (2 - 1)/3 = 2/3 */
    TD_CHECK(isinf(crowd[0]) && isinf(crowd[3]), "boundaries are infinite");
    TD_CHECK(close_rel(crowd[1], 1.0, 1e-15) && close_rel(crowd[4], 2.0 / 3, 1e-15) &&
                 close_rel(crowd[2], 1.0, 1e-15),
             "crowding %g %g %g", crowd[1], crowd[2], crowd[4]);
}

/* ---- optimizers ---- */

typedef struct run_log {
    int64_t n;
    double *x, *f;
} run_log;

static td_status eval_problem(td_moo_problem *p, int n, const double *x, double *f)
{
    return p->eval(p, n, x, f, NULL);
}

/* Runs an ask/tell loop on a problem with asks of at most `cap` rows. */
static td_moo *run(td_moo_problem *p, const td_moo_options *o, int cap)
{
    td_moo *m = NULL;
    TD_CHECK_OK(td_moo_new(&p->space, o, &m));
    if (!m)
        return NULL;
    double *x = malloc((size_t)cap * p->space.n_var * sizeof *x);
    double *f = malloc((size_t)cap * p->space.n_obj * sizeof *f);
    for (int n; (n = td_moo_ask(m, x, cap)) > 0;) {
        TD_CHECK_OK(eval_problem(p, n, x, f));
        td_status st = td_moo_tell(m, n, x, f, NULL);
        TD_CHECK(st == NULL, "tell: %s", td_status_message(st));
        if (st) {
            td_status_free(st);
            break;
        }
    }
    free(x), free(f);
    return m;
}

static bool same_archive(const td_moo *a, const td_moo *b, int nv, int no)
{
    const double *xa, *fa, *va, *xb, *fb, *vb;
    int64_t na = td_moo_archive(a, &xa, &fa, &va), nb = td_moo_archive(b, &xb, &fb, &vb);
    return na == nb && !memcmp(xa, xb, (size_t)na * nv * sizeof *xa) &&
           !memcmp(fa, fb, (size_t)na * no * sizeof *fa) &&
           !memcmp(va, vb, (size_t)na * sizeof *va);
}

static void test_determinism(void)
{
    td_moo_problem p;
    TD_CHECK_OK(td_moo_problem_get("zdt1", 0, &p));
    td_moo_options o;
    td_moo_options_default(&o);
    o.max_evals = 1050; /* ends inside a generation */
    o.seed = 12345;
    for (int algo = 0; algo < 2; algo++) {
        o.algo = algo == 0 ? TD_MOO_NSGA2 : TD_MOO_RANDOM;
        td_moo *a = run(&p, &o, 100), *b = run(&p, &o, 100), *c = run(&p, &o, 7);
        o.seed = 54321;
        td_moo *d = run(&p, &o, 100);
        o.seed = 12345;
        if (a && b && c && d) {
            TD_CHECK(td_moo_archive(a, NULL, NULL, NULL) == 1050, "budget: %lld designs",
                     (long long)td_moo_archive(a, NULL, NULL, NULL));
            TD_CHECK(same_archive(a, b, 30, 2), "algo %d: same seed, different archives", algo);
            TD_CHECK(same_archive(a, c, 30, 2), "algo %d: asks of 7 rows change the designs", algo);
            TD_CHECK(!same_archive(a, d, 30, 2), "algo %d: different seeds, same archive", algo);
        }
        td_moo_free(a), td_moo_free(b), td_moo_free(c), td_moo_free(d);
    }

    /* resume: a second optimizer told the first one's archive asks what the first asks next;
     * an ask withdrawn before its tell is asked again unchanged */
    o.algo = TD_MOO_NSGA2;
    o.max_evals = 450;
    td_moo *a = run(&p, &o, 100), *b = NULL;
    o.max_evals = 100000;
    TD_CHECK_OK(td_moo_new(&p.space, &o, &b));
    if (a && b) {
        const double *ax, *af;
        int64_t n = td_moo_archive(a, &ax, &af, NULL);
        double x[100 * 30], y[100 * 30], f[100 * 2];
        for (int64_t i = 0; i < n;) {
            int k = td_moo_ask(b, x, n - i < 100 ? (int)(n - i) : 100);
            TD_CHECK(k > 0 && !memcmp(x, ax + i * 30, (size_t)k * 30 * sizeof *x),
                     "replay: ask at %lld differs", (long long)i);
            TD_CHECK_OK(td_moo_tell(b, k, NULL, af + i * 2, NULL));
            i += k;
        }
        int k = td_moo_ask(b, x, 40), k2 = td_moo_ask(b, y, 100);
        TD_CHECK(k == 40 && k2 == 50 && !memcmp(x, y, 40 * 30 * sizeof *x),
                 "re-ask: %d then %d rows", k, k2);
        TD_CHECK_OK(eval_problem(&p, k2, y, f));
        TD_CHECK_OK(td_moo_tell(b, k2, y, f, NULL));
        /* the continued run equals a run that was never interrupted */
        o.max_evals = 600;
        td_moo *full = run(&p, &o, 100);
        for (int n2; (n2 = td_moo_ask(b, x, 100)) > 0 && td_moo_archive(b, 0, 0, 0) < 600;) {
            TD_CHECK_OK(eval_problem(&p, n2, x, f));
            TD_CHECK_OK(td_moo_tell(b, n2, x, f, NULL));
        }
        TD_CHECK(full && same_archive(full, b, 30, 2), "resumed run differs from a straight one");
        td_moo_free(full);
    }
    td_moo_free(a), td_moo_free(b);
}

static void test_exhaustive(void)
{
    double lo[] = {0, -1, 5}, hi[] = {2, 1, 5};
    bool in[] = {true, true, true};
    td_moo_space s = {3, 1, 0, lo, hi, in};
    td_moo_options o;
    td_moo_options_default(&o);
    o.algo = TD_MOO_EXHAUSTIVE;
    o.batch = 4;
    td_moo *m = NULL;
    TD_CHECK_OK(td_moo_new(&s, &o, &m));
    double x[4 * 3], seen[9 * 3], f[4] = {0, 0, 0, 0};
    int total = 0, counts[4] = {0}, asks = 0;
    for (int n; m && (n = td_moo_ask(m, x, 100)) > 0; asks++) {
        if (asks < 4)
            counts[asks] = n;
        for (int i = 0; i < n && total < 9; i++)
            memcpy(seen + 3 * total++, x + 3 * i, 3 * sizeof *x);
        TD_CHECK_OK(td_moo_tell(m, n, x, f, NULL));
    }
    TD_CHECK(total == 9 && counts[0] == 4 && counts[1] == 4 && counts[2] == 1 && asks == 3,
             "exhaustive: %d points in %d asks", total, asks);
    for (int i = 0; i < total; i++) { /* lexicographic: x0 slowest, x2 fixed at 5 */
        double want[3] = {(double)(i / 3), (double)(i % 3 - 1), 5};
        TD_CHECK(!memcmp(seen + 3 * i, want, sizeof want), "point %d: (%g, %g, %g)", i, seen[3 * i],
                 seen[3 * i + 1], seen[3 * i + 2]);
    }
    td_moo_free(m);

    /* a bigger space: the product of the ranges, no duplicates, and the budget stops it */
    double lo2[] = {-3, 0, 10, 1}, hi2[] = {3, 4, 12, 5};
    bool in2[] = {true, true, true, true};
    td_moo_space s2 = {4, 2, 0, lo2, hi2, in2};
    o.batch = 0;
    TD_CHECK_OK(td_moo_new(&s2, &o, &m));
    double xb[100 * 4], fb[100 * 2] = {0};
    for (int n; m && (n = td_moo_ask(m, xb, 100)) > 0;)
        TD_CHECK_OK(td_moo_tell(m, n, xb, fb, NULL));
    const double *ax;
    int64_t n = m ? td_moo_archive(m, &ax, NULL, NULL) : 0;
    bool grid[7][5][3][5] = {{{{false}}}};
    int dups = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *r = ax + 4 * i;
        bool *cell = &grid[(int)r[0] + 3][(int)r[1]][(int)r[2] - 10][(int)r[3] - 1];
        dups += *cell;
        *cell = true;
    }
    TD_CHECK(n == 7 * 5 * 3 * 5 && dups == 0, "exhaustive: %lld points, %d duplicates",
             (long long)n, dups);
    td_moo_free(m);
    o.max_evals = 130;
    TD_CHECK_OK(td_moo_new(&s2, &o, &m));
    int64_t k = 0;
    for (int got; m && (got = td_moo_ask(m, xb, 100)) > 0; k += got)
        TD_CHECK_OK(td_moo_tell(m, got, xb, fb, NULL));
    TD_CHECK(k == 130, "exhaustive with max_evals 130 asked %lld", (long long)k);
    td_moo_free(m);

    bool mixed[] = {true, false, true};
    s.integer = mixed;
    TD_CHECK_ERROR(td_moo_new(&s, &o, &m), TD_CODE_INVALID_ARGUMENT, "variable 1 is real");
    double lo3[] = {0, 0, 0, 0, 0}, hi3[] = {99, 99, 99, 99, 99};
    bool in3[] = {true, true, true, true, true};
    td_moo_space s3 = {5, 1, 0, lo3, hi3, in3};
    TD_CHECK_ERROR(td_moo_new(&s3, &o, &m), TD_CODE_INVALID_ARGUMENT, "1e+10 points");
}

static void test_random_search(void)
{
    double lo[] = {-2, 0.5, 3, -1e6}, hi[] = {2, 0.75, 3, 1e6};
    bool in[] = {true, false, true, false};
    td_moo_space s = {4, 2, 0, lo, hi, in};
    td_moo_options o;
    td_moo_options_default(&o);
    o.algo = TD_MOO_RANDOM;
    o.batch = 64;
    o.max_evals = 5000;
    td_moo *m = NULL;
    TD_CHECK_OK(td_moo_new(&s, &o, &m));
    TD_CHECK(m && td_moo_batch_capacity(m) == 64, "batch capacity");
    double x[64 * 4], f[64 * 2];
    int hist[5] = {0}, bad = 0, total = 0;
    for (int n; m && (n = td_moo_ask(m, x, 64)) > 0; total += n) {
        for (int i = 0; i < n; i++) {
            const double *r = x + 4 * i;
            for (int v = 0; v < 4; v++)
                bad += !(r[v] >= lo[v] && r[v] <= hi[v]) || (in[v] && r[v] != floor(r[v]));
            hist[(int)r[0] + 2]++;
            f[2 * i] = r[1], f[2 * i + 1] = -r[1];
        }
        TD_CHECK_OK(td_moo_tell(m, n, x, f, NULL));
    }
    TD_CHECK(total == 5000 && bad == 0, "random: %d designs, %d out of bounds or fractional", total,
             bad);
    for (int i = 0; i < 5; i++) /* 1000 expected per value, sd ~28 */
        TD_CHECK(hist[i] > 850 && hist[i] < 1150, "integer value %d drawn %d times", i - 2,
                 hist[i]);
    /* objectives (x1, -x1): every design is on the front; the archive front equals the
     * definition over the archive */
    const double *af;
    int64_t n = td_moo_archive(m, NULL, &af, NULL);
    int *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    int na = td_moo_front(m, a, (int)n), nb = td_pareto_front((int)n, 2, af, NULL, b);
    TD_CHECK(na == nb && na > 4000 && !memcmp(a, b, (size_t)na * sizeof *a),
             "archive front %d rows, td_pareto_front %d", na, nb);
    free(a), free(b);
    td_moo_free(m);
}

static void test_option_errors(void)
{
    double lo[] = {0, 0}, hi[] = {1, 1};
    td_moo_space s = {2, 2, 0, lo, hi, NULL};
    td_moo_options o;
    td_moo *m = (td_moo *)&o;
#define BAD_OPTION(field, value, needle)                                                           \
    do {                                                                                           \
        td_moo_options_default(&o);                                                                \
        o.field = value;                                                                           \
        TD_CHECK_ERROR(td_moo_new(&s, &o, &m), TD_CODE_INVALID_ARGUMENT, needle);                  \
        TD_CHECK(m == NULL, "out not cleared on error");                                           \
    } while (0)
    BAD_OPTION(pop_size, 1, "pop_size");
    BAD_OPTION(pop_size, 10001, "pop_size");
    BAD_OPTION(max_evals, 0, "max_evals");
    BAD_OPTION(max_evals, -5, "max_evals");
    BAD_OPTION(p_c, 1.5, "p_c");
    BAD_OPTION(p_m, -0.1, "p_m");
    BAD_OPTION(eta_c, NAN, "eta_c");
    BAD_OPTION(eta_m, -1, "eta_m");
    BAD_OPTION(batch, -1, "batch");
    BAD_OPTION(algo, (td_moo_algo)7, "algo");
#undef BAD_OPTION
    td_moo_options_default(&o);
    TD_CHECK(o.algo == TD_MOO_NSGA2 && o.seed == 1 && o.pop_size == 100 && o.eta_c == 15 &&
                 o.p_c == 0.9 && o.eta_m == 20 && o.p_m == 0 && o.batch == 0 &&
                 o.max_evals == 10000,
             "defaults");
    double lo_bad[] = {0, 2}, nan_hi[] = {1, NAN}, frac[] = {0, 2.5};
    bool in[] = {false, true};
    td_moo_space t = {2, 2, 0, lo_bad, hi, NULL};
    TD_CHECK_ERROR(td_moo_new(&t, &o, &m), TD_CODE_INVALID_ARGUMENT, "variable 1 has lo 2 > hi 1");
    t.lo = lo, t.hi = nan_hi;
    TD_CHECK_ERROR(td_moo_new(&t, &o, &m), TD_CODE_INVALID_ARGUMENT, "not finite");
    t.hi = frac, t.integer = in;
    TD_CHECK_ERROR(td_moo_new(&t, &o, &m), TD_CODE_INVALID_ARGUMENT, "non-integral");
    t.hi = hi, t.n_obj = 0;
    TD_CHECK_ERROR(td_moo_new(&t, &o, &m), TD_CODE_INVALID_ARGUMENT, "n_obj");
    t.n_obj = 2, t.lo = NULL;
    TD_CHECK_ERROR(td_moo_new(&t, &o, &m), TD_CODE_INVALID_ARGUMENT, "NULL");

    /* the tell contract */
    TD_CHECK_OK(td_moo_new(&s, &o, &m));
    double x[100 * 2], f[100 * 2] = {0};
    TD_CHECK_ERROR(td_moo_tell(m, 1, x, f, NULL), TD_CODE_INVALID_ARGUMENT, "no ask");
    int n = td_moo_ask(m, x, 100);
    TD_CHECK(n == 100, "first ask: %d", n);
    TD_CHECK_ERROR(td_moo_tell(m, 99, x, f, NULL), TD_CODE_INVALID_ARGUMENT, "the last ask gave");
    x[2 * 17 + 1] += 1e-12;
    TD_CHECK_ERROR(td_moo_tell(m, n, x, f, NULL), TD_CODE_INVALID_ARGUMENT, "design 17 differs");
    x[2 * 17 + 1] -= 1e-12;
    f[2 * 5] = NAN;
    TD_CHECK_ERROR(td_moo_tell(m, n, x, f, NULL), TD_CODE_BAD_DATA, "design 5 objective 0");
    f[2 * 5] = 0;
    TD_CHECK(td_moo_archive(m, NULL, NULL, NULL) == 0, "failed tells changed the archive");
    TD_CHECK_OK(td_moo_tell(m, n, NULL, f, NULL));
    td_moo_free(m);
}

/* minimize (x0, x1) subject to x0 + x1 >= 1 and x0 <= 0.8, with an integer third variable that
 * only moves the objectives up: the final population must be feasible, on x0 + x1 = 1 and
 * use x2 = 0 */
static td_status constrained(void *user, int n, const double *x, double *f, double *g)
{
    (void)user;
    for (int i = 0; i < n; i++) {
        const double *r = x + 3 * i;
        f[2 * i] = r[0] + 0.1 * r[2];
        f[2 * i + 1] = r[1] + 0.1 * r[2];
        g[2 * i] = 1 - r[0] - r[1];
        g[2 * i + 1] = r[0] - 0.8;
    }
    return TD_OK;
}

static td_status failing(void *user, int n, const double *x, double *f, double *g)
{
    (void)x, (void)f, (void)g, (void)n;
    int *calls = user;
    if (++*calls == 3)
        return td_error_new(TD_CODE_IO, "evaluator failed on purpose");
    for (int i = 0; i < n * 2; i++)
        f[i] = i;
    return TD_OK;
}

static void test_constrained_nsga2(void)
{
    double lo[] = {0, 0, 0}, hi[] = {1, 1, 5};
    bool in[] = {false, false, true};
    td_moo_space s = {3, 2, 2, lo, hi, in};
    td_moo_options o;
    td_moo_options_default(&o);
    o.pop_size = 41; /* odd */
    o.max_evals = 41 * 60;
    td_moo *m = NULL;
    TD_CHECK_OK(td_moo_minimize(&s, &o, constrained, NULL, &m));
    if (!m)
        return;
    const double *ax, *af, *av;
    int64_t n = td_moo_archive(m, &ax, &af, &av);
    int pop[41], np = td_moo_population(m, pop, 41), infeasible = 0, off = 0, frac = 0;
    for (int64_t i = 0; i < n; i++)
        frac += ax[3 * i + 2] != floor(ax[3 * i + 2]) || ax[3 * i + 2] < 0 || ax[3 * i + 2] > 5;
    double pf[41 * 2], ref[] = {1.1, 1.1}, hv = 0;
    for (int i = 0; i < np; i++) {
        const double *r = ax + 3 * pop[i];
        infeasible += av[pop[i]] > 0;
        off += fabs(r[0] + r[1] - 1) > 0.05 || r[2] != 0;
        memcpy(pf + 2 * i, af + 2 * pop[i], 2 * sizeof *pf);
    }
    TD_CHECK_OK(td_hypervolume(np, 2, pf, ref, &hv));
    TD_CHECK(n == 41 * 60 && np == 41 && frac == 0, "%lld designs, population %d, %d bad ints",
             (long long)n, np, frac);
    /* the front is f1 = 1 - f0 for f0 in [0, 0.8]: hypervolume 0.08 + 0.32 + 0.3 * 0.9 = 0.67
     * for the whole segment, 0.662 for 41 evenly spread points */
    TD_CHECK(infeasible == 0 && off <= 4 && hv > 0.94 * 0.67 && hv <= 0.67,
             "final population: %d infeasible, %d off the front, hv %.4f of 0.67", infeasible, off,
             hv);
    int front[41 * 60], nf = td_moo_front(m, front, 41 * 60);
    for (int i = 0; i < nf; i++)
        TD_CHECK(av[front[i]] == 0 && ax[3 * front[i]] <= 0.8 + 1e-12, "front row infeasible");
    td_moo_free(m);

    int calls = 0;
    m = (td_moo *)&calls;
    td_moo_space s2 = {3, 2, 0, lo, hi, NULL};
    TD_CHECK_ERROR(td_moo_minimize(&s2, &o, failing, &calls, &m), TD_CODE_IO, "on purpose");
    TD_CHECK(m == NULL && calls == 3, "minimize after a failed evaluation: %d calls", calls);
}

static void test_problems(void)
{
    FILE *fp = open_fixture("problems.txt");
    if (!fp)
        return;
    static char line[1 << 14];
    char name[16];
    int nv = 0, no = 0, checked = 0;
    double x[64], f[4], want[4];
    td_moo_problem p;
    while (fgets(line, sizeof line, fp)) {
        if (sscanf(line, "eval %15s %d %d", name, &nv, &no) == 3) {
            TD_CHECK_OK(td_moo_problem_get(name, nv, &p));
        } else if (!strncmp(line, "x ", 2)) {
            TD_CHECK(parse_doubles(line + 2, x, 64) == nv, "x line");
        } else if (!strncmp(line, "f ", 2)) {
            TD_CHECK(parse_doubles(line + 2, want, 4) == no && p.space.n_obj == no, "f line");
            TD_CHECK_OK(p.eval(&p, 1, x, f, NULL));
            for (int k = 0; k < no; k++)
                TD_CHECK(close_rel(f[k], want[k], 1e-12) || fabs(f[k] - want[k]) < 1e-15,
                         "%s n_var %d: f%d %.17g, pymoo %.17g", name, nv, k, f[k], want[k]);
            checked++;
        }
    }
    fclose(fp);
    TD_CHECK(checked >= 20, "only %d problem evaluations checked", checked);
    TD_CHECK_OK(td_moo_problem_get("dtlz2", 0, &p));
    TD_CHECK(p.space.n_var == 10 && p.space.n_obj == 3, "dtlz2 default: %d vars, %d objectives",
             p.space.n_var, p.space.n_obj);
    TD_CHECK_OK(td_moo_problem_get("zdt3", 0, &p));
    TD_CHECK(p.space.n_var == 30 && p.space.n_obj == 2 && p.space.lo[29] == 0 &&
                 p.space.hi[29] == 1,
             "zdt3 default");
    TD_CHECK_ERROR(td_moo_problem_get("zdt4", 0, &p), TD_CODE_INVALID_ARGUMENT, "unknown");
    TD_CHECK_ERROR(td_moo_problem_get("zdt1", 65, &p), TD_CODE_INVALID_ARGUMENT, "n_var 65");
    TD_CHECK_ERROR(td_moo_problem_get("dtlz2", 2, &p), TD_CODE_INVALID_ARGUMENT, "n_var 2");
    TD_CHECK_OK(td_moo_problem_get("zdt1", 2, &p));
    double out[] = {0.5, 1.5};
    TD_CHECK_ERROR(p.eval(&p, 1, out, f, NULL), TD_CODE_INVALID_ARGUMENT, "variable 1 is 1.5");
}

/* ---- NSGA-II against pymoo ---- */

typedef struct pymoo_run {
    char name[16];
    int n_var, n_obj, pop, seeds;
    int64_t evals;
    double ref[3], median;
} pymoo_run;

static int read_pymoo_runs(pymoo_run *r, int cap)
{
    FILE *fp = open_fixture("nsga2.txt");
    if (!fp)
        return 0;
    char line[4096];
    int n = 0;
    long long ev;
    while (fgets(line, sizeof line, fp) && n < cap) {
        pymoo_run *c = &r[n];
        if (sscanf(line, "problem %15s", c->name) == 1)
            continue;
        sscanf(line, "n_var %d", &c->n_var);
        sscanf(line, "n_obj %d", &c->n_obj);
        sscanf(line, "pop %d", &c->pop);
        sscanf(line, "seeds %d", &c->seeds);
        if (sscanf(line, "evals %lld", &ev) == 1)
            c->evals = ev;
        if (!strncmp(line, "ref ", 4))
            parse_doubles(line + 4, c->ref, 3);
        sscanf(line, "median %lf", &c->median);
        if (!strncmp(line, "end", 3))
            n++;
    }
    fclose(fp);
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Hypervolume of the non-dominated feasible designs of the final population (pymoo's res.F) and
 * of the whole archive. */
static void final_hv(const td_moo *m, int no, const double *ref, double *hv_pop, double *hv_arch)
{
    const double *af, *av;
    int64_t n = td_moo_archive(m, NULL, &af, &av);
    int np = td_moo_population(m, NULL, 0);
    int *pop = malloc((size_t)np * sizeof *pop), *nd = malloc((size_t)np * sizeof *nd);
    double *pf = malloc((size_t)np * no * sizeof *pf), *vf = malloc((size_t)np * sizeof *vf);
    td_moo_population(m, pop, np);
    for (int i = 0; i < np; i++) {
        memcpy(pf + (size_t)i * no, af + (size_t)pop[i] * no, (size_t)no * sizeof *pf);
        vf[i] = av[pop[i]];
    }
    int k = td_pareto_front(np, no, pf, vf, nd);
    for (int i = 0; i < k; i++)
        memmove(pf + (size_t)i * no, pf + (size_t)nd[i] * no, (size_t)no * sizeof *pf);
    TD_CHECK_OK(td_hypervolume(k, no, pf, ref, hv_pop));
    int *fr = malloc((size_t)n * sizeof *fr), nf = td_moo_front(m, fr, (int)n);
    double *ff = malloc((size_t)nf * no * sizeof *ff + 1);
    for (int i = 0; i < nf; i++)
        memcpy(ff + (size_t)i * no, af + (size_t)fr[i] * no, (size_t)no * sizeof *ff);
    TD_CHECK_OK(td_hypervolume(nf, no, ff, ref, hv_arch));
    free(pop), free(nd), free(pf), free(vf), free(fr), free(ff);
}

static void test_nsga2_vs_pymoo(void)
{
    pymoo_run runs[4];
    memset(runs, 0, sizeof runs);
    int nr = read_pymoo_runs(runs, 4);
    TD_CHECK(nr == 3, "nsga2.txt has %d runs, want 3", nr);
    enum { SEEDS = 11 };
    for (int r = 0; r < nr; r++) {
        pymoo_run *c = &runs[r];
        td_moo_problem p;
        TD_CHECK_OK(td_moo_problem_get(c->name, c->n_var, &p));
        td_moo_options o;
        td_moo_options_default(&o);
        o.pop_size = c->pop;
        o.max_evals = c->evals;
        double hv[SEEDS], hva[SEEDS];
        double t0 = td_seconds();
        for (int s = 0; s < SEEDS; s++) {
            o.seed = (uint64_t)s + 1;
            td_moo *m = run(&p, &o, o.pop_size);
            hv[s] = hva[s] = 0;
            if (m)
                final_hv(m, c->n_obj, c->ref, &hv[s], &hva[s]);
            td_moo_free(m);
        }
        double secs = td_seconds() - t0, mp = median(hv, SEEDS), ma = median(hva, SEEDS);
        printf("nsga2 %-6s %lld evals x %d seeds: median hv %.6f (archive front %.6f), pymoo "
               "%.6f, ratio %.4f (%.2f s)\n",
               c->name, (long long)c->evals, SEEDS, mp, ma, c->median, mp / c->median, secs);
        TD_CHECK(mp >= 0.98 * c->median, "%s: hypervolume %.6f < 0.98 x pymoo's %.6f", c->name, mp,
                 c->median);
    }
}

int main(void)
{
    test_hv_fixtures();
    test_hv_hand();
    test_hv_properties();
    test_hv_errors();
    test_dominates();
    test_pareto_front();
    test_nd_sort_and_crowding();
    test_determinism();
    test_exhaustive();
    test_random_search();
    test_option_errors();
    test_constrained_nsga2();
    test_problems();
    test_nsga2_vs_pymoo();
    return td_test_finish("test_moo");
}
