/* tandem bench moo: Tandem's NSGA-II against pymoo's at the same budget (hypervolume of the final
 * front, median over seeds, pymoo's values from tests/fixtures/pymoo/nsga2.txt), and the
 * optimizer's own cost per design (ask + tell, evaluation excluded), which bounds how fast a
 * design-space search can go when evaluations are cheap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli/cli.h"
#include "tandem/moo.h"

void td_bench_moo_usage(void)
{
    printf("usage: tandem bench moo [--seeds N] [--fixtures DIR]\n"
           "  NSGA-II (pymoo's default settings, pop 100) on ZDT1, ZDT2 (10,000 evaluations) and\n"
           "  DTLZ2 (20,000): median over seeds 1..N (default 11) of the hypervolume of the final\n"
           "  population's non-dominated designs, against pymoo's median from DIR/nsga2.txt\n"
           "  (default tests/fixtures/pymoo, relative to the current directory: run from the\n"
           "  repository root; made by tools/gen_pymoo_fixtures.py). Target: ratio >= 0.98.\n"
           "  Then the optimizer's overhead: designs asked + told per second with the evaluation\n"
           "  excluded (target: far above 100,000/s, i.e. well under 10 us per design).\n");
}

typedef struct {
    int seeds;
    const char *fixtures;
} moo_opts;

static int parse_opts(int argc, char **argv, moo_opts *o)
{
    o->seeds = 11;
    o->fixtures = "tests/fixtures/pymoo";
    for (int i = 1; i < argc; i += 2) { /* options come in --name value pairs */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "tandem bench moo: unknown or incomplete option '%s'\n", a);
            return 0;
        }
        if (strcmp(a, "--fixtures") == 0) {
            o->fixtures = v;
        } else if (strcmp(a, "--seeds") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 1000) {
                fprintf(stderr, "tandem bench moo: --seeds: expected 1..1000, got '%s'\n", v);
                return 0;
            }
            o->seeds = (int)n;
        } else {
            fprintf(stderr, "tandem bench moo: unknown option '%s'\n", a);
            return 0;
        }
    }
    return 1;
}

/* ---- pymoo's runs ---- */

typedef struct {
    char name[16];
    int n_var, n_obj, pop;
    long long evals;
    double ref[3], median;
} pymoo_run;

static td_status read_runs(const char *dir, pymoo_run *r, int cap, int *n_out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/nsga2.txt", dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return td_error_new(TD_CODE_IO,
                            "bench moo: cannot open %s (run from the repository root or pass "
                            "--fixtures DIR)",
                            path);
    char line[4096];
    int n = 0;
    memset(r, 0, (size_t)cap * sizeof *r);
    while (n < cap && fgets(line, sizeof line, fp)) {
        pymoo_run *c = &r[n];
        sscanf(line, "problem %15s", c->name);
        sscanf(line, "n_var %d", &c->n_var);
        sscanf(line, "n_obj %d", &c->n_obj);
        sscanf(line, "pop %d", &c->pop);
        sscanf(line, "evals %lld", &c->evals);
        sscanf(line, "ref %lf %lf %lf", &c->ref[0], &c->ref[1], &c->ref[2]);
        sscanf(line, "median %lf", &c->median);
        if (strncmp(line, "end", 3) == 0) {
            if (!c->name[0] || c->n_obj < 2 || c->n_obj > 3 || c->pop < 2 || c->evals < 1 ||
                !(c->median > 0)) {
                fclose(fp);
                return td_error_new(TD_CODE_BAD_DATA, "bench moo: %s: run %d is incomplete", path,
                                    n + 1);
            }
            n++;
        }
    }
    fclose(fp);
    if (n == 0)
        return td_error_new(TD_CODE_BAD_DATA, "bench moo: %s holds no runs", path);
    *n_out = n;
    return TD_OK;
}

/* ---- one search ---- */

typedef struct {
    double ask_tell_s, eval_s;
    int64_t designs;
} timing;

static td_status search(td_moo_problem *p, const td_moo_options *o, td_moo **out, timing *t)
{
    td_moo *m;
    TD_TRY(td_moo_new(&p->space, o, &m));
    int cap = td_moo_batch_capacity(m);
    double *x = malloc((size_t)cap * p->space.n_var * sizeof *x);
    double *f = malloc((size_t)cap * p->space.n_obj * sizeof *f);
    td_status st = x && f ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "bench moo: no memory");
    memset(t, 0, sizeof *t);
    while (!st) {
        double t0 = td_bench_now();
        int n = td_moo_ask(m, x, cap);
        double t1 = td_bench_now();
        t->ask_tell_s += t1 - t0;
        if (n == 0)
            break;
        st = p->eval(p, n, x, f, NULL);
        double t2 = td_bench_now();
        t->eval_s += t2 - t1;
        if (!st)
            st = td_moo_tell(m, n, x, f, NULL);
        t->ask_tell_s += td_bench_now() - t2;
        t->designs += n;
    }
    free(x), free(f);
    if (st) {
        td_moo_free(m);
        return st;
    }
    *out = m;
    return TD_OK;
}

/* Hypervolume of the final population's non-dominated feasible designs (pymoo's res.F), and of
 * the whole archive's. */
static td_status front_hv(const td_moo *m, int no, const double *ref, double *hv_pop,
                          double *hv_arch)
{
    const double *af, *av;
    int64_t n = td_moo_archive(m, NULL, &af, &av);
    int np = td_moo_population(m, NULL, 0);
    int *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
    int *nd = malloc((size_t)(np > 0 ? np : 1) * sizeof *nd);
    double *pf = malloc((size_t)(n > 0 ? n : 1) * no * sizeof *pf);
    double *pv = malloc((size_t)(np > 0 ? np : 1) * sizeof *pv);
    td_status st = TD_OK;
    if (!idx || !nd || !pf || !pv)
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "bench moo: no memory");
    if (!st) {
        td_moo_population(m, idx, np);
        for (int i = 0; i < np; i++) {
            memcpy(pf + (size_t)i * no, af + (size_t)idx[i] * no, (size_t)no * sizeof *pf);
            pv[i] = av[idx[i]];
        }
        int k = td_pareto_front(np, no, pf, pv, nd);
        for (int i = 0; i < k; i++)
            memmove(pf + (size_t)i * no, pf + (size_t)nd[i] * no, (size_t)no * sizeof *pf);
        st = td_hypervolume(k, no, pf, ref, hv_pop);
    }
    if (!st) {
        int nf = td_moo_front(m, idx, (int)n);
        for (int i = 0; i < nf; i++)
            memcpy(pf + (size_t)i * no, af + (size_t)idx[i] * no, (size_t)no * sizeof *pf);
        st = td_hypervolume(nf, no, pf, ref, hv_arch);
    }
    free(idx), free(nd), free(pf), free(pv);
    return st;
}

static td_status quality(const pymoo_run *r, int seeds, double *out_ratio)
{
    td_moo_problem p;
    TD_TRY(td_moo_problem_get(r->name, r->n_var, &p));
    td_moo_options o;
    td_moo_options_default(&o);
    o.pop_size = r->pop;
    o.max_evals = r->evals;
    double *hv = malloc(2 * (size_t)seeds * sizeof *hv), *hva = hv + seeds;
    if (!hv)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "bench moo: no memory");
    double t0 = td_bench_now();
    td_status st = TD_OK;
    for (int s = 0; s < seeds && !st; s++) {
        td_bench_progress("moo: %s seed %d/%d", r->name, s + 1, seeds);
        o.seed = (uint64_t)s + 1;
        td_moo *m = NULL;
        timing t;
        st = search(&p, &o, &m, &t);
        if (!st)
            st = front_hv(m, r->n_obj, r->ref, &hv[s], &hva[s]);
        td_moo_free(m);
    }
    td_bench_progress_clear();
    if (!st) {
        double secs = (td_bench_now() - t0) / seeds;
        double mp = td_bench_median(hv, seeds), ma = td_bench_median(hva, seeds);
        *out_ratio = mp / r->median;
        printf("%-6s %7lld %5d %12.6f %12.6f %8.4f %14.6f %9.3f\n", r->name, r->evals, seeds, mp,
               r->median, *out_ratio, ma, secs * 1e3);
    }
    free(hv);
    return st;
}

/* ---- overhead ---- */

static td_status overhead(const char *problem, td_moo_algo algo, int pop, int64_t evals)
{
    td_moo_problem p;
    TD_TRY(td_moo_problem_get(problem, 0, &p));
    td_moo_options o;
    td_moo_options_default(&o);
    o.algo = algo;
    o.pop_size = pop;
    o.max_evals = evals;
    td_moo *m = NULL;
    timing t;
    TD_TRY(search(&p, &o, &m, &t));
    td_moo_free(m);
    printf("%-8s %-6s %5d %9lld %14.0f %10.3f %14.0f\n", algo == TD_MOO_NSGA2 ? "nsga2" : "random",
           problem, pop, (long long)t.designs, (double)t.designs / t.ask_tell_s,
           1e6 * t.ask_tell_s / (double)t.designs, (double)t.designs / (t.ask_tell_s + t.eval_s));
    return TD_OK;
}

int td_bench_moo(int argc, char **argv)
{
    moo_opts opt;
    if (!parse_opts(argc, argv, &opt))
        return TD_EXIT_USAGE;
    pymoo_run runs[8];
    int nr = 0;
    td_status st = read_runs(opt.fixtures, runs, 8, &nr);
    if (st)
        return td_cli_fail(st);
    printf(
        "NSGA-II vs pymoo 0.6.2 NSGA2 (same settings and budget); hv = hypervolume of the final\n"
        "population's non-dominated designs, median over seeds; archive = hv of every design\n"
        "evaluated (pymoo's res.F is the former); target ratio >= 0.98\n\n");
    printf("%-6s %7s %5s %12s %12s %8s %14s %9s\n", "problem", "evals", "seeds", "hv", "pymoo hv",
           "ratio", "archive hv", "ms/run");
    int below = 0;
    for (int i = 0; i < nr; i++) {
        double ratio = 0;
        st = quality(&runs[i], opt.seeds, &ratio);
        if (st)
            return td_cli_fail(st);
        below += ratio < 0.98;
    }
    printf("\noptimizer overhead: ask + tell only, evaluation excluded (designs/s incl. eval: the\n"
           "same run with the problem's own evaluation time added)\n\n");
    printf("%-8s %-6s %5s %9s %14s %10s %14s\n", "algo", "problem", "pop", "designs", "designs/s",
           "us/design", "incl. eval/s");
    const struct {
        const char *problem;
        td_moo_algo algo;
        int pop;
        int64_t evals;
    } cases[] = {
        {"zdt1", TD_MOO_NSGA2, 100, 200000},
        {"dtlz2", TD_MOO_NSGA2, 100, 200000},
        {"zdt1", TD_MOO_NSGA2, 500, 200000},
        {"zdt1", TD_MOO_RANDOM, 100, 200000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        td_bench_progress("moo: overhead %s %s", cases[i].problem,
                          cases[i].algo == TD_MOO_NSGA2 ? "nsga2" : "random");
        st = overhead(cases[i].problem, cases[i].algo, cases[i].pop, cases[i].evals);
        td_bench_progress_clear();
        if (st)
            return td_cli_fail(st);
    }
    if (below)
        printf("\n%d problem(s) below 0.98 of pymoo's median hypervolume\n", below);
    return TD_EXIT_OK;
}
