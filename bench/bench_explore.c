/* tandem bench explore: the bundled co-design problem. (1) NSGA-II against random search at the
 * same budget, hypervolume median over seeds (the same reference box for all runs); (2) the
 * hardware-only part of an evaluation - scheme lookup in the accuracy cache, accelerator
 * construction and per-layer cost estimates - in evaluations per second. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli/cli.h"
#include "tandem/explore.h"

typedef struct eopts {
    const char *space, *json;
    int seeds, budget, threads;
} eopts;

void td_bench_explore_usage(void)
{
    printf("usage: tandem bench explore [--space FILE] [--seeds N] [--budget N] [--threads N]\n"
           "                            [--json FILE]\n\n"
           "NSGA-II vs random search on a design space (default "
           "examples/spaces/cnn_systolic.yaml)\n"
           "at the same budget (default: the space's), hypervolume median over seeds (default "
           "5),\n"
           "and the hardware-only evaluations per second (accuracy from the cache).\n");
}

static int parse_eopts(int argc, char **argv, eopts *o)
{
    *o = (eopts){"examples/spaces/cnn_systolic.yaml", NULL, 5, 0, 0};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *num = !strcmp(a, "--seeds")     ? &o->seeds
                   : !strcmp(a, "--budget")  ? &o->budget
                   : !strcmp(a, "--threads") ? &o->threads
                                             : NULL;
        if (v && !strcmp(a, "--space")) {
            o->space = v;
        } else if (v && !strcmp(a, "--json")) {
            o->json = v;
        } else if (v && num) {
            char *end;
            long x = strtol(v, &end, 10);
            if (*end || x < 1 || x > 100000000) {
                fprintf(stderr, "tandem bench explore: %s takes a positive integer\n", a);
                return 0;
            }
            *num = (int)x;
        } else {
            fprintf(stderr, "tandem bench explore: bad option '%s'\n", a);
            return 0;
        }
    }
    return 1;
}

typedef struct record {
    const char *space;
    double hv_nsga2, hv_random, hw_rate, nsga2_seconds;
} record;

static void write_json(FILE *f, void *arg)
{
    const record *r = arg;
    td_json j;
    td_json_init(&j, f);
    td_json_begin_object(&j, NULL);
    td_json_str(&j, "bench", "explore");
    td_json_str(&j, "space", r->space);
    td_json_num(&j, "hv_median_nsga2", r->hv_nsga2);
    td_json_num(&j, "hv_median_random", r->hv_random);
    td_json_num(&j, "hw_evals_per_s", r->hw_rate);
    td_json_num(&j, "nsga2_seconds_mean", r->nsga2_seconds);
    td_json_end_object(&j);
    fputc('\n', f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One search; returns its journal's evaluations through the result (the hypervolume is
 * recomputed by the caller in a shared reference box). */
static td_status one_search(const td_space *s, td_explorer *e, td_moo_algo algo, int seed,
                            int budget, const char *dir, td_explore_result *r, double *seconds)
{
    td_explore_options eo;
    memset(&eo, 0, sizeof eo);
    td_space_search_defaults(s, &eo.search);
    eo.search.algo = algo;
    eo.search.seed = (uint64_t)seed;
    if (budget > 0)
        eo.search.max_evals = budget;
    char journal[512];
    snprintf(journal, sizeof journal, "%s/%s-%d.jsonl", dir,
             algo == TD_MOO_NSGA2 ? "nsga2" : "random", seed);
    remove(journal);
    eo.journal = journal;
    double t0 = td_bench_now();
    td_status st = td_explore_run(s, e, &eo, r);
    *seconds = td_bench_now() - t0;
    remove(journal);
    return st;
}

/* Hardware-only throughput: designs whose compression choices are all in the cache. */
static td_status hw_rate(const td_space *s, td_explorer *e, double *per_s)
{
    const td_knob *k;
    int nk = td_space_knobs(s, &k), n = 4096;
    int *x = malloc(sizeof(int) * (size_t)(n * nk));
    td_design_eval *ev = malloc(sizeof *ev * (size_t)n);
    if (!x || !ev) {
        free(x);
        free(ev);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "bench explore: out of memory");
    }
    uint64_t r = 12345;
    for (int i = 0; i < n * nk; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (int)((r >> 33) % (uint64_t)k[i % nk].n_values);
    }
    td_status st = td_explorer_eval(e, n, x, ev); /* warm: measures what is not cached */
    double best = 0;
    for (int rep = 0; !st && rep < 5; rep++) {
        double t0 = td_bench_now();
        st = td_explorer_eval(e, n, x, ev);
        double rate = n / (td_bench_now() - t0);
        best = rate > best ? rate : best;
    }
    free(x);
    free(ev);
    *per_s = best;
    return st;
}

static td_status run_bench(const eopts *o)
{
    td_space *s;
    TD_TRY(td_space_load(o->space, &s));
    td_explorer *e = NULL;
    td_explorer_options xo = {o->threads};
    td_bench_progress("explore: loading %s", o->space);
    td_status st = td_explorer_new(s, &xo, &e);
    char dir[] = "/tmp/tandem-bench-explore-XXXXXX";
    if (!st && !mkdtemp(dir))
        st = td_error_new(TD_CODE_IO, "bench explore: cannot create a temporary folder");
    int ns = o->seeds;
    double hv[2][64], secs[2][64];
    td_explore_result res[2][64];
    memset(res, 0, sizeof res);
    for (int a = 0; !st && a < 2; a++)
        for (int i = 0; !st && i < ns && i < 64; i++) {
            td_bench_progress("explore: %s seed %d", a ? "random" : "nsga2", i + 1);
            st = one_search(s, e, a ? TD_MOO_RANDOM : TD_MOO_NSGA2, i + 1, o->budget, dir,
                            &res[a][i], &secs[a][i]);
        }
    /* one reference box for every run: per objective the widest of the runs' references */
    const td_objective *ob;
    int nobj = td_space_objectives(s, &ob);
    double ref[TD_METRIC_COUNT];
    for (int j = 0; !st && j < nobj; j++) {
        ref[j] = res[0][0].ref[j];
        for (int a = 0; a < 2; a++)
            for (int i = 0; i < ns; i++)
                ref[j] = ob[j].maximize ? fmin(ref[j], res[a][i].ref[j])
                                        : fmax(ref[j], res[a][i].ref[j]);
    }
    for (int a = 0; !st && a < 2; a++)
        for (int i = 0; !st && i < ns; i++)
            st = td_explore_hypervolume(s, res[a][i].n_front, res[a][i].front_eval, ref, &hv[a][i]);
    double rate = 0;
    if (!st)
        st = hw_rate(s, e, &rate);
    if (!st) {
        int64_t measured, hits;
        td_explorer_cache_stats(e, &measured, &hits);
        printf("%s: %lld designs, budget %lld per search, %d seeds, accuracy %s\n", o->space,
               (long long)td_space_size(s), (long long)res[0][0].evals, ns,
               td_space_proxy_accuracy(s) ? "proxy" : "measured");
        printf("%-8s %12s %12s %12s   per seed\n", "search", "median HV", "min", "max");
        double med[2];
        for (int a = 0; a < 2; a++) {
            double sorted[64];
            memcpy(sorted, hv[a], sizeof(double) * (size_t)ns);
            qsort(sorted, (size_t)ns, sizeof(double), cmp_double);
            med[a] = ns % 2 ? sorted[ns / 2] : 0.5 * (sorted[ns / 2 - 1] + sorted[ns / 2]);
            printf("%-8s %12.5f %12.5f %12.5f  ", a ? "random" : "nsga2", med[a], sorted[0],
                   sorted[ns - 1]);
            for (int i = 0; i < ns; i++)
                printf(" %.4f", hv[a][i]);
            printf("\n");
        }
        printf("NSGA-II / random median hypervolume: %.3f (NSGA-II larger: %s)\n",
               med[1] > 0 ? med[0] / med[1] : INFINITY, med[0] > med[1] ? "yes" : "no");
        double mean_s = 0;
        for (int i = 0; i < ns; i++)
            mean_s += secs[0][i] / ns;
        printf("one NSGA-II search: %.2f s mean (accuracy cache shared: %lld compression choices "
               "measured over all runs)\n",
               mean_s, (long long)measured);
        printf("hardware-only evaluations (cached accuracy, %d threads): %.0f per second "
               "(target >= 100000)\n",
               omp_get_max_threads(), rate);
        if (o->json) {
            record rec = {o->space, med[0], med[1], rate, mean_s};
            st = td_bench_write_file(o->json, write_json, &rec);
        }
    }
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < 64; i++)
            td_explore_result_free(&res[a][i]);
    rmdir(dir);
    td_explorer_free(e);
    td_space_free(s);
    return st;
}

int td_bench_explore(int argc, char **argv)
{
    eopts o;
    if (!parse_eopts(argc, argv, &o))
        return TD_EXIT_USAGE;
    if (o.seeds > 64) {
        fprintf(stderr, "tandem bench explore: at most 64 seeds\n");
        return TD_EXIT_USAGE;
    }
    td_status st = run_bench(&o);
    return st ? td_cli_fail(st) : TD_EXIT_OK;
}
