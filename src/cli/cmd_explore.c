/* tandem explore: search a design space (compression x hardware) for the Pareto designs that
 * meet its spec; journal every evaluation, print the front, write the HTML report. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/explore_mpi.h"
#include "tandem/explore.h"

#ifndef TD_GIT_COMMIT
#define TD_GIT_COMMIT "unknown"
#endif

#define DEFAULT_SPACE "examples/spaces/cnn_systolic.yaml"

void td_usage_explore(void)
{
    printf(
        "usage: tandem explore [SPACE.yaml] [options]\n"
        "       tandem explore ask SPACE.yaml --journal RUN.jsonl -o POINTS.jsonl\n"
        "       tandem explore eval SPACE.yaml POINTS.jsonl [--index I] -o RESULTS.jsonl\n"
        "       tandem explore tell SPACE.yaml --journal RUN.jsonl RESULTS.jsonl...\n\n"
        "Searches the space's compression and hardware knobs together and prints the Pareto\n"
        "designs that meet its spec (default space: " DEFAULT_SPACE ").\n"
        "  --algo nsga2|random|exhaustive   search (default: the space's, else nsga2)\n"
        "  --budget N          evaluations (default: the space's)\n"
        "  --seed N            random seed (default: the space's, else 1)\n"
        "  --population N      NSGA-II population (even, >= 4)\n"
        "  --journal FILE      JSON-lines record (default runs/<space>-<time>.jsonl)\n"
        "  --resume            continue the journal's run (same space and search settings)\n"
        "  --report FILE       HTML report (default: the journal's name with .html; 'none': skip)\n"
        "  --threads N         threads for accuracy measurements and cost models\n"
        "  --check-proxy N     also report the rank correlation of the proxy accuracy with\n"
        "                      measured accuracy over N random compression choices\n"
        "  --quiet             no progress bar\n"
        "Under mpirun (when built with Open MPI), rank 0 runs the search and the other ranks\n"
        "evaluate designs; the front is the same as one process gives for the same seed.\n"
        "ask/eval/tell evaluate a search's next batch outside this process (e.g. Slurm job\n"
        "arrays): ask writes the designs the search needs next, eval evaluates some of them,\n"
        "tell appends the results to the journal; then ask again. Space files: docs/EXPLORE.md.\n");
}

typedef struct xopts {
    const char *space, *journal, *report;
    const char *algo;
    long long budget, seed, population;
    int threads, check_proxy;
    bool resume, quiet;
} xopts;

static bool parse_ll(const char *opt, const char *v, long long lo, long long hi, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || end == v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "tandem explore: %s takes an integer in [%lld, %lld], not '%s'\n", opt, lo,
                hi, v ? v : "(nothing)");
        return false;
    }
    *out = x;
    return true;
}

static bool parse_xopts(int argc, char **argv, xopts *o)
{
    memset(o, 0, sizeof *o);
    o->budget = o->seed = o->population = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long x;
        if (!strcmp(a, "--resume")) {
            o->resume = true;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = true;
        } else if (!strcmp(a, "--journal") && v) {
            o->journal = v, i++;
        } else if (!strcmp(a, "--report") && v) {
            o->report = v, i++;
        } else if (!strcmp(a, "--algo") && v) {
            o->algo = v, i++;
            if (strcmp(v, "nsga2") && strcmp(v, "random") && strcmp(v, "exhaustive")) {
                fprintf(stderr, "tandem explore: --algo is nsga2, random or exhaustive\n");
                return false;
            }
        } else if (!strcmp(a, "--budget")) {
            if (!parse_ll(a, v, 1, 1000000000, &o->budget))
                return false;
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (!parse_ll(a, v, 0, 1000000000000000LL, &o->seed))
                return false;
            i++;
        } else if (!strcmp(a, "--population")) {
            if (!parse_ll(a, v, 4, 100000, &o->population) || o->population % 2) {
                fprintf(stderr, "tandem explore: --population must be even\n");
                return false;
            }
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (!parse_ll(a, v, 1, 1024, &x))
                return false;
            o->threads = (int)x, i++;
        } else if (!strcmp(a, "--check-proxy")) {
            if (!parse_ll(a, v, 3, 100000, &x))
                return false;
            o->check_proxy = (int)x, i++;
        } else if (a[0] != '-' && !o->space) {
            o->space = a;
        } else {
            fprintf(stderr, "tandem explore: bad option '%s' (see tandem explore --help)\n", a);
            return false;
        }
    }
    if (!o->space)
        o->space = DEFAULT_SPACE;
    if (o->resume && !o->journal) {
        fprintf(stderr, "tandem explore: --resume needs the --journal to continue\n");
        return false;
    }
    return true;
}

static void apply_search(const xopts *x, const td_space *s, td_moo_options *o)
{
    td_space_search_defaults(s, o);
    if (x->algo)
        o->algo = !strcmp(x->algo, "random")       ? TD_MOO_RANDOM
                  : !strcmp(x->algo, "exhaustive") ? TD_MOO_EXHAUSTIVE
                                                   : TD_MOO_NSGA2;
    if (x->budget > 0)
        o->max_evals = x->budget;
    if (x->seed >= 0)
        o->seed = (uint64_t)x->seed;
    if (x->population > 0)
        o->pop_size = o->batch = (int)x->population;
}

static void default_paths(const td_space *s, xopts *o, char *journal, char *report, size_t cap)
{
    if (!o->journal) {
        time_t now = time(NULL);
        struct tm tm;
        char stamp[32];
        localtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H-%M-%S", &tm);
        mkdir("runs", 0777);
        snprintf(journal, cap, "runs/%s-%s.jsonl", td_space_name(s), stamp);
        o->journal = journal;
    }
    if (!o->report) {
        size_t n = strlen(o->journal);
        const char *dot =
            n > 6 && !strcmp(o->journal + n - 6, ".jsonl") ? o->journal + n - 6 : NULL;
        snprintf(report, cap, "%.*s.html", (int)(dot ? (size_t)(dot - o->journal) : n), o->journal);
        o->report = report;
    }
}

/* ---- printing the front ---- */

static void print_value(td_metric m, double v)
{
    switch (m) {
    case TD_METRIC_ACCURACY:
        printf("  %7.2f%%", 100 * v);
        break;
    case TD_METRIC_LATENCY_MS:
        printf("  %9.4f ms", v);
        break;
    case TD_METRIC_ENERGY_UJ:
        printf("  %9.3f uJ", v);
        break;
    case TD_METRIC_AREA_MM2:
        printf("  %7.3f mm2", v);
        break;
    default:
        printf("  %8.1f kB", v);
    }
}

static void print_design(const td_space *s, const int *x, const td_design_eval *d, long long n)
{
    const td_knob *k;
    int nk = td_space_knobs(s, &k);
    printf("  %5lld", n);
    for (int m = 0; m < TD_METRIC_COUNT; m++)
        if (isfinite(d->metrics[m]))
            print_value((td_metric)m, d->metrics[m]);
    printf("\n        ");
    for (int i = 0; i < nk; i++)
        printf("%s=%s%s", k[i].name, k[i].values[x[i]], i + 1 < nk ? " " : "");
    printf("\n");
}

static void print_limits(const td_space *s)
{
    const td_limit *l;
    int nl = td_space_limits(s, &l);
    for (int i = 0; i < nl; i++)
        printf("%s%s %s %g", i ? ", " : "", td_metric_name(l[i].metric),
               l[i].is_max ? "<=" : ">=", l[i].value);
    printf(nl ? ":\n" : "(no limits):\n");
}

static void print_result(const td_space *s, const td_explore_result *r, const xopts *o,
                         td_explorer *e)
{
    int64_t measured = 0, hits = 0;
    td_explorer_cache_stats(e, &measured, &hits);
    printf("%lld evaluations (%lld from the journal), %lld feasible, %.1f s; accuracy measured "
           "for %lld compression choices\n",
           (long long)r->evals, (long long)r->resumed, (long long)r->feasible, r->seconds,
           (long long)measured);
    const td_knob *k;
    int nk = td_space_knobs(s, &k);
    if (r->n_front == 0) {
        printf("no design meets ");
        print_limits(s);
        printf("closest designs (smallest relative excess over the limits):\n");
        for (int i = 0; i < r->n_closest; i++) {
            printf("  violation %.4g:", r->closest_eval[i].violation);
            print_design(s, r->closest_x + i * nk, &r->closest_eval[i], (long long)r->closest[i]);
        }
    } else {
        printf("hypervolume %.4f; %d Pareto designs meeting ", r->hypervolume, r->n_front);
        print_limits(s);
        printf("      #");
        for (int m = 0; m < TD_METRIC_COUNT; m++)
            if (isfinite(r->front_eval[0].metrics[m]))
                printf("  %11s", td_metric_name((td_metric)m));
        printf("\n");
        for (int i = 0; i < r->n_front; i++)
            print_design(s, r->front_x + i * nk, &r->front_eval[i], (long long)r->front[i]);
    }
    printf("journal: %s", o->journal);
    if (strcmp(o->report, "none"))
        printf("   report: %s", o->report);
    printf("\n");
}

static void machine_text(char *buf, size_t cap)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    snprintf(buf, cap, "%s, %ld cores (%s)", cpu.model, sysconf(_SC_NPROCESSORS_ONLN), host);
}

static int explore_main(xopts *o)
{
    td_space *s = NULL;
    td_explorer *e = NULL;
    td_status st = td_space_load(o->space, &s);
    char journal[512], report[512], machine[256];
    td_explore_options eo;
    memset(&eo, 0, sizeof eo);
    if (!st) {
        apply_search(o, s, &eo.search);
        default_paths(s, o, journal, report, sizeof journal);
        td_explorer_options xo = {o->threads};
        if (!o->quiet)
            fprintf(stderr, "loading %s and measuring its f32 accuracy...\n", o->space);
        st = td_explorer_new(s, &xo, &e);
    }
    if (!st && o->check_proxy > 0) {
        double rho = 0;
        st = td_explorer_proxy_check(e, o->check_proxy, eo.search.seed, &rho);
        if (!st)
            printf("proxy accuracy vs measured accuracy over %d random compression choices: "
                   "Spearman rank correlation %.3f\n",
                   o->check_proxy, rho);
    }
    td_explore_result r;
    memset(&r, 0, sizeof r);
    if (!st) {
        machine_text(machine, sizeof machine);
        eo.journal = o->journal;
        eo.resume = o->resume;
        eo.progress = !o->quiet;
        eo.version = TD_VERSION_STRING;
        eo.commit = TD_GIT_COMMIT;
        eo.machine = machine;
        td_explore_mpi_hook(s, e, &eo);
        st = td_explore_run(s, e, &eo, &r);
    }
    if (!st && strcmp(o->report, "none"))
        st = td_report_write(o->journal, o->report);
    if (!st)
        print_result(s, &r, o, e);
    td_explore_result_free(&r);
    td_explorer_free(e);
    td_space_free(s);
    return st ? td_cli_fail(st) : TD_EXIT_OK;
}

int td_cmd_explore(int argc, char **argv)
{
    if (argc > 1 && td_cli_is_help(argv[1])) {
        td_usage_explore();
        return TD_EXIT_OK;
    }
    if (argc > 1 &&
        (!strcmp(argv[1], "ask") || !strcmp(argv[1], "eval") || !strcmp(argv[1], "tell")))
        return td_explore_batch_cmd(argc - 1, argv + 1);
    xopts o;
    if (!parse_xopts(argc, argv, &o))
        return TD_EXIT_USAGE;
    int worker = td_explore_mpi_worker(o.space, o.threads);
    if (worker >= 0)
        return worker; /* an MPI worker rank: it evaluated designs until rank 0 was done */
    int rc = explore_main(&o);
    td_explore_mpi_finish();
    return rc;
}
