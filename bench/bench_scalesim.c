/* tandem bench scalesim: Tandem's closed-form SCALE-Sim model against SCALE-Sim itself (the
 * `scalesim` Python package, run through tools/run_scalesim.py) on the same config and
 * topology. Prints both times, the speed ratio, and whether every layer's cycles agree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli/cli.h"
#include "tandem/scalesim.h"

void td_bench_scalesim_usage(void)
{
    printf("usage: tandem bench scalesim [--config CFG] [--topology CSV] [--python PY]\n"
           "                             [--reps N] [--no-peer]\n"
           "  Times `tandem estimate --scalesim` on a whole topology (parse + every layer,\n"
           "  best of N repetitions, default 1000) against SCALE-Sim's own simulation time\n"
           "  reported by tools/run_scalesim.py (run with PY, default python3; SCALE-Sim 3.0.0\n"
           "  needs numpy < 2). Defaults: tests/fixtures/scalesim/a8x8_ws.cfg and\n"
           "  alexnet_small.csv, relative to the current directory (the repository root).\n");
}

typedef struct {
    const char *cfg, *topo, *python;
    int reps, peer;
} ss_opts;

static int parse_opts(int argc, char **argv, ss_opts *o)
{
    o->cfg = "tests/fixtures/scalesim/a8x8_ws.cfg";
    o->topo = "tests/fixtures/scalesim/alexnet_small.csv";
    o->python = "python3";
    o->reps = 1000;
    o->peer = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-peer") == 0) {
            o->peer = 0;
            continue;
        }
        if (!v) {
            fprintf(stderr, "tandem bench scalesim: unknown or incomplete option '%s'\n", a);
            return 0;
        }
        if (strcmp(a, "--config") == 0)
            o->cfg = v;
        else if (strcmp(a, "--topology") == 0)
            o->topo = v;
        else if (strcmp(a, "--python") == 0)
            o->python = v;
        else if (strcmp(a, "--reps") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 100000000) {
                fprintf(stderr, "tandem bench scalesim: --reps: expected 1..100000000\n");
                return 0;
            }
            o->reps = (int)n;
        } else {
            fprintf(stderr, "tandem bench scalesim: unknown option '%s'\n", a);
            return 0;
        }
        i++;
    }
    return 1;
}

/* One whole-topology estimate, files already in memory: what a design search repeats. */
static td_status estimate_all(const char *cfg_buf, size_t cfg_len, const char *topo_buf,
                              size_t topo_len, uint64_t *cycles, size_t *n_out, uint64_t *per_layer,
                              size_t cap)
{
    td_scalesim_config cfg;
    TD_TRY(td_scalesim_parse_config(cfg_buf, cfg_len, "config", &cfg));
    td_scalesim_layer *layers;
    size_t n;
    TD_TRY(td_scalesim_parse_topology(topo_buf, topo_len, "topology", TD_SCALESIM_TOPO_AUTO,
                                      &layers, &n));
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        td_scalesim_result r;
        td_status st = td_scalesim_layer_estimate(&cfg, &layers[i], &r);
        if (st) {
            free(layers);
            return st;
        }
        total += r.total_cycles;
        if (per_layer && i < cap)
            per_layer[i] = r.total_cycles;
    }
    free(layers);
    *cycles = total;
    *n_out = n;
    return TD_OK;
}

/* Runs SCALE-Sim; returns its simulation seconds (< 0 on failure) and fills its per-layer
 * total cycles from the JSON that tools/run_scalesim.py prints. */
static double run_peer(const ss_opts *o, int gemm, uint64_t *cycles, size_t cap, size_t *n)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' tools/run_scalesim.py '%s' '%s'%s", o->python, o->cfg, o->topo,
             gemm ? " --gemm" : "");
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t len = 0, cap_b = 1 << 16;
    char *out = malloc(cap_b);
    while (out) {
        size_t got = fread(out + len, 1, cap_b - len - 1, p);
        len += got;
        if (got == 0)
            break;
        if (len + 1 == cap_b) {
            char *nb = realloc(out, cap_b * 2);
            if (!nb) {
                free(out);
                out = NULL;
                break;
            }
            out = nb;
            cap_b *= 2;
        }
    }
    int rc = pclose(p);
    if (!out || rc != 0) {
        free(out);
        return -1;
    }
    out[len] = '\0';
    const char *s = strstr(out, "\"seconds\":");
    double secs = s ? strtod(s + 10, NULL) : -1;
    *n = 0;
    for (const char *q = out; (q = strstr(q, "\"total_cycles\":")) != NULL; q += 15)
        if (*n < cap)
            cycles[(*n)++] = strtoull(q + 15, NULL, 10);
    free(out);
    return secs;
}

int td_bench_scalesim(int argc, char **argv)
{
    ss_opts o;
    if (!parse_opts(argc, argv, &o)) {
        td_bench_scalesim_usage();
        return 2;
    }
    size_t cfg_len, topo_len;
    char *cfg_buf = NULL, *topo_buf = NULL;
    td_status rd = td_file_read(o.cfg, (size_t)64 << 20, &cfg_buf, &cfg_len);
    if (!rd)
        rd = td_file_read(o.topo, (size_t)64 << 20, &topo_buf, &topo_len);
    if (rd) {
        free(cfg_buf);
        return td_cli_fail(rd);
    }
    enum { CAP = 4096 };
    static uint64_t mine[CAP], theirs[CAP];
    uint64_t total = 0;
    size_t n = 0;
    td_status st = estimate_all(cfg_buf, cfg_len, topo_buf, topo_len, &total, &n, mine, CAP);
    double best = 1e30;
    for (int r = 0; r < o.reps && !st; r++) {
        double t0 = td_bench_now();
        st = estimate_all(cfg_buf, cfg_len, topo_buf, topo_len, &total, &n, NULL, 0);
        double dt = td_bench_now() - t0;
        best = dt < best ? dt : best;
    }
    free(cfg_buf);
    free(topo_buf);
    if (st) {
        fprintf(stderr, "tandem bench scalesim: %s\n", td_status_message(st));
        td_status_free(st);
        return 1;
    }
    printf("scalesim  %s on %s: %zu layers, %llu cycles\n", o.topo, o.cfg, n,
           (unsigned long long)total);
    printf("tandem    %.3f us per whole topology (parse + estimate, best of %d)\n", best * 1e6,
           o.reps);
    if (!o.peer)
        return 0;
    int gemm = strstr(o.topo, "gemm") != NULL;
    size_t n_peer = 0;
    double peer = run_peer(&o, gemm, theirs, CAP, &n_peer);
    if (peer < 0) {
        fprintf(stderr,
                "tandem bench scalesim: running SCALE-Sim (%s tools/run_scalesim.py) "
                "failed; is the scalesim package installed with numpy < 2?\n",
                o.python);
        return 1;
    }
    size_t same = 0;
    for (size_t i = 0; i < n && i < n_peer; i++)
        same += mine[i] == theirs[i];
    printf("SCALE-Sim %.3f s simulation time\n", peer);
    printf("ratio     %.0fx faster; cycles equal on %zu of %zu layers\n", peer / best, same, n);
    return same == n && n_peer == n ? 0 : 1;
}
