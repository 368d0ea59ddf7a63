/* SCALE-Sim compatibility: every layer of tests/fixtures/scalesim/expected.csv (written by
 * tools/gen_scalesim_fixtures.py from the scalesim 3.0.0 package) must come out of Tandem's
 * closed-form model with the same cycle and access counts; malformed files must fail with the
 * file, line and field named. */
#include <time.h>

#include "td_test.h"
#include "tandem/scalesim.h"

#define FIX TD_FIXTURE_DIR "/scalesim/"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SS_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SS_SANITIZED 1
#endif

typedef struct {
    char topo[64], cfg[64], layer[TD_SCALESIM_NAME_MAX];
    unsigned long long total, stall;
    double overall, mapping, compute;
    unsigned long long ifmap_sram, filter_sram, ofmap_sram, ifmap_dram, filter_dram, ofmap_dram;
} expected_row;

static int parse_expected(char *line, expected_row *e)
{
    char *f[16];
    int n = 0;
    for (char *tok = strtok(line, ",\n"); tok && n < 16; tok = strtok(NULL, ",\n"))
        f[n++] = tok;
    if (n != 14)
        return 0;
    snprintf(e->topo, sizeof e->topo, "%s", f[0]);
    snprintf(e->cfg, sizeof e->cfg, "%s", f[1]);
    snprintf(e->layer, sizeof e->layer, "%s", f[2]);
    e->total = strtoull(f[3], NULL, 10);
    e->stall = strtoull(f[4], NULL, 10);
    e->overall = strtod(f[5], NULL);
    e->mapping = strtod(f[6], NULL);
    e->compute = strtod(f[7], NULL);
    e->ifmap_sram = strtoull(f[8], NULL, 10);
    e->filter_sram = strtoull(f[9], NULL, 10);
    e->ofmap_sram = strtoull(f[10], NULL, 10);
    e->ifmap_dram = strtoull(f[11], NULL, 10);
    e->filter_dram = strtoull(f[12], NULL, 10);
    e->ofmap_dram = strtoull(f[13], NULL, 10);
    return 1;
}

static int close_pct(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (fabs(b) + 1.0);
}

/* The layer index within its topology is the position among rows of the same topo and cfg. */
static void test_fixtures(void)
{
    FILE *f = fopen(FIX "expected.csv", "r");
    TD_CHECK(f != NULL, "cannot open %s", FIX "expected.csv");
    if (!f)
        return;
    char line[1024], cur_key[160] = "";
    td_scalesim_layer *layers = NULL;
    size_t n_layers = 0, idx = 0;
    td_scalesim_config cfg;
    int rows = 0, cycles_exact = 0, counts_exact = 0, have = 0;
    TD_CHECK(fgets(line, sizeof line, f) != NULL, "empty fixture");
    while (fgets(line, sizeof line, f)) {
        expected_row e;
        if (!parse_expected(line, &e)) {
            TD_CHECK(0, "bad fixture row");
            continue;
        }
        char key[160];
        snprintf(key, sizeof key, "%s|%s", e.topo, e.cfg);
        if (strcmp(key, cur_key) != 0) {
            snprintf(cur_key, sizeof cur_key, "%s", key);
            free(layers);
            layers = NULL;
            idx = 0;
            char path[512];
            snprintf(path, sizeof path, FIX "%s.cfg", e.cfg);
            td_status st = td_scalesim_load_config(path, &cfg);
            snprintf(path, sizeof path, FIX "%s", e.topo);
            if (!st)
                st = td_scalesim_load_topology(path, TD_SCALESIM_TOPO_AUTO, &layers, &n_layers);
            have = st == NULL;
            TD_CHECK(have, "%s: %s", key, td_status_message(st));
            td_status_free(st);
        }
        if (!have)
            continue;
        rows++;
        TD_CHECK(idx < n_layers, "%s: more fixture rows than layers", key);
        if (idx >= n_layers)
            continue;
        const td_scalesim_layer *l = &layers[idx++];
        TD_CHECK(strcmp(l->name, e.layer) == 0, "%s: layer %s vs %s", key, l->name, e.layer);
        td_scalesim_result r;
        TD_CHECK_OK(td_scalesim_layer_estimate(&cfg, l, &r));
        int cyc = r.total_cycles == e.total && r.stall_cycles == e.stall;
        int cnt = r.ifmap_sram_reads == e.ifmap_sram && r.filter_sram_reads == e.filter_sram &&
                  r.ofmap_sram_writes == e.ofmap_sram && r.ifmap_dram_reads == e.ifmap_dram &&
                  r.filter_dram_reads == e.filter_dram && r.ofmap_dram_writes == e.ofmap_dram;
        cycles_exact += cyc;
        counts_exact += cnt;
        TD_CHECK(cyc, "%s %s: cycles %llu/%llu stall %llu/%llu", key, e.layer,
                 (unsigned long long)r.total_cycles, e.total, (unsigned long long)r.stall_cycles,
                 e.stall);
        TD_CHECK(cnt,
                 "%s %s: sram %llu/%llu %llu/%llu %llu/%llu dram %llu/%llu %llu/%llu %llu/%llu",
                 key, e.layer, (unsigned long long)r.ifmap_sram_reads, e.ifmap_sram,
                 (unsigned long long)r.filter_sram_reads, e.filter_sram,
                 (unsigned long long)r.ofmap_sram_writes, e.ofmap_sram,
                 (unsigned long long)r.ifmap_dram_reads, e.ifmap_dram,
                 (unsigned long long)r.filter_dram_reads, e.filter_dram,
                 (unsigned long long)r.ofmap_dram_writes, e.ofmap_dram);
        TD_CHECK(close_pct(r.overall_util, e.overall) && close_pct(r.mapping_eff, e.mapping) &&
                     close_pct(r.compute_util, e.compute),
                 "%s %s: util %.15g/%.15g map %.15g/%.15g compute %.15g/%.15g", key, e.layer,
                 r.overall_util, e.overall, r.mapping_eff, e.mapping, r.compute_util, e.compute);
    }
    free(layers);
    fclose(f);
    TD_CHECK(rows >= 200, "only %d fixture rows", rows);
    printf("scalesim fixtures: %d layers, cycles exact %d, access counts exact %d\n", rows,
           cycles_exact, counts_exact);
}

static const char good_cfg[] = "[general]\nrun_name = t\n[architecture_presets]\n"
                               "ArrayHeight: 4\nArrayWidth : 8\nIfmapSramSzkB: 64\n"
                               "FilterSramSzkB: 64\nOfmapSramSzkB: 32\nDataflow : os\n";

static void test_config_errors(void)
{
    td_scalesim_config cfg;
    TD_CHECK_OK(td_scalesim_parse_config(good_cfg, strlen(good_cfg), "g.cfg", &cfg));
    TD_CHECK(cfg.array_rows == 4 && cfg.array_cols == 8 && cfg.dataflow == TD_SCALESIM_OS,
             "parsed %llu x %llu df %d", (unsigned long long)cfg.array_rows,
             (unsigned long long)cfg.array_cols, (int)cfg.dataflow);
    const char *bad_df = "ArrayHeight: 4\nArrayWidth: 4\nDataflow: rs\n";
    TD_CHECK_ERROR(td_scalesim_parse_config(bad_df, strlen(bad_df), "a.cfg", &cfg),
                   TD_CODE_INVALID_ARGUMENT, "a.cfg:3: field Dataflow");
    const char *zero = "ArrayHeight: 0\n";
    TD_CHECK_ERROR(td_scalesim_parse_config(zero, strlen(zero), "z.cfg", &cfg),
                   TD_CODE_INVALID_ARGUMENT, "z.cfg:1: field ArrayHeight");
    const char *huge = "[a]\nArrayWidth: 1000000000\n";
    TD_CHECK_ERROR(td_scalesim_parse_config(huge, strlen(huge), "h.cfg", &cfg),
                   TD_CODE_INVALID_ARGUMENT, "h.cfg:2: field ArrayWidth");
    const char *neg = "ArrayWidth: -4\n";
    TD_CHECK_ERROR(td_scalesim_parse_config(neg, strlen(neg), "n.cfg", &cfg),
                   TD_CODE_INVALID_ARGUMENT, "n.cfg:1: field ArrayWidth");
    const char *unknown = "ArrayHeight: 4\nArrayHieght: 4\n";
    TD_CHECK_ERROR(td_scalesim_parse_config(unknown, strlen(unknown), "u.cfg", &cfg),
                   TD_CODE_INVALID_ARGUMENT, "u.cfg:2: unknown field 'ArrayHieght'");
    const char *missing = "ArrayHeight: 4\nArrayWidth: 4\nDataflow: ws\n";
    TD_CHECK_ERROR(td_scalesim_parse_config(missing, strlen(missing), "m.cfg", &cfg),
                   TD_CODE_INVALID_ARGUMENT, "missing field IfmapSramSzkB");
    const char *noeq = "ArrayHeight 4\n";
    TD_CHECK_ERROR(td_scalesim_parse_config(noeq, strlen(noeq), "e.cfg", &cfg),
                   TD_CODE_INVALID_ARGUMENT, "e.cfg:1:");
    const char *sparse = "SparsitySupport : true\n";
    TD_CHECK_ERROR(td_scalesim_parse_config(sparse, strlen(sparse), "s.cfg", &cfg),
                   TD_CODE_UNSUPPORTED, "s.cfg:1: field SparsitySupport");
    TD_CHECK_ERROR(td_scalesim_load_config("/nonexistent/x.cfg", &cfg), TD_CODE_IO,
                   "/nonexistent/x.cfg");
}

static void test_topology_errors(void)
{
    td_scalesim_layer *l = NULL;
    size_t n = 0;
    const char *ok = "Layer, H, W, FH, FW, C, NF, S,\nc, 8, 8, 3, 3, 2, 4, 1,\n"
                     "x_DP, 8, 8, 3, 3, 3, 1, 1,\n";
    TD_CHECK_OK(td_scalesim_parse_topology(ok, strlen(ok), "t.csv", TD_SCALESIM_TOPO_AUTO, &l, &n));
    TD_CHECK(n == 4 && l && strcmp(l[3].name, "x_DPChannel_2") == 0 && l[3].channels == 1,
             "depthwise expansion: n=%zu", n);
    free(l);
    const char *gemm = "Layer, M, N, K,\ng, 5, 6, 7,\n";
    TD_CHECK_OK(
        td_scalesim_parse_topology(gemm, strlen(gemm), "g.csv", TD_SCALESIM_TOPO_AUTO, &l, &n));
    TD_CHECK(n == 1 && l[0].ifmap_h == 5 && l[0].filter_w == 7 && l[0].num_filters == 6,
             "GEMM as SCALE-Sim maps it");
    free(l);
    const char *bad = "h,\nc, 8, 8, 3, x, 2, 4, 1,\n";
    TD_CHECK_ERROR(
        td_scalesim_parse_topology(bad, strlen(bad), "b.csv", TD_SCALESIM_TOPO_AUTO, &l, &n),
        TD_CODE_INVALID_ARGUMENT, "b.csv:2: field Filter width");
    const char *zero = "h,\nc, 8, 8, 3, 3, 2, 0, 1,\n";
    TD_CHECK_ERROR(
        td_scalesim_parse_topology(zero, strlen(zero), "z.csv", TD_SCALESIM_TOPO_AUTO, &l, &n),
        TD_CODE_INVALID_ARGUMENT, "z.csv:2: field Num filter");
    const char *big = "h,\nc, 8, 8, 9, 3, 2, 4, 1,\n";
    TD_CHECK_ERROR(
        td_scalesim_parse_topology(big, strlen(big), "f.csv", TD_SCALESIM_TOPO_AUTO, &l, &n),
        TD_CODE_INVALID_ARGUMENT, "f.csv:2: field Filter height");
    const char *few = "h,\nc, 8, 8, 3,\n";
    TD_CHECK_ERROR(
        td_scalesim_parse_topology(few, strlen(few), "w.csv", TD_SCALESIM_TOPO_AUTO, &l, &n),
        TD_CODE_INVALID_ARGUMENT, "w.csv:2: expected 8 fields");
    const char *gbad = "Layer, M, N, K,\ng, 5, 0, 7,\n";
    TD_CHECK_ERROR(
        td_scalesim_parse_topology(gbad, strlen(gbad), "gb.csv", TD_SCALESIM_TOPO_AUTO, &l, &n),
        TD_CODE_INVALID_ARGUMENT, "gb.csv:2: field N");
    const char *empty = "Layer, M, N, K,\n\n";
    TD_CHECK_ERROR(
        td_scalesim_parse_topology(empty, strlen(empty), "e.csv", TD_SCALESIM_TOPO_AUTO, &l, &n),
        TD_CODE_INVALID_ARGUMENT, "e.csv: no layers");
}

/* Properties the closed form must keep beyond the fixtures. */
static void test_properties(void)
{
    td_scalesim_config cfg;
    TD_CHECK_OK(td_scalesim_parse_config(good_cfg, strlen(good_cfg), "g.cfg", &cfg));
    td_scalesim_layer l = {"x", 30, 30, 3, 3, 16, 32, 1, 1};
    td_scalesim_result r;
    for (int df = 0; df < 3; df++) {
        cfg.dataflow = (td_scalesim_dataflow)df;
        uint64_t prev = UINT64_MAX;
        for (uint64_t side = 2; side <= 64; side *= 2) {
            cfg.array_rows = cfg.array_cols = side;
            TD_CHECK_OK(td_scalesim_layer_estimate(&cfg, &l, &r));
            TD_CHECK(r.total_cycles <= prev, "%s: more PEs took more cycles",
                     td_scalesim_dataflow_name(cfg.dataflow));
            TD_CHECK(r.overall_util > 0 && r.overall_util <= 100.0, "util %g", r.overall_util);
            prev = r.total_cycles;
        }
    }
    td_scalesim_layer zero = l;
    zero.channels = 0;
    TD_CHECK_ERROR(td_scalesim_layer_estimate(&cfg, &zero, &r), TD_CODE_INVALID_ARGUMENT, "'x'");
    cfg.array_rows = 0;
    TD_CHECK_ERROR(td_scalesim_layer_estimate(&cfg, &l, &r), TD_CODE_INVALID_ARGUMENT, "array");
}

/* The issue asks for at least a million layer estimates per second on one core. */
static void test_speed(void)
{
    td_scalesim_config cfg;
    TD_CHECK_OK(td_scalesim_parse_config(good_cfg, strlen(good_cfg), "g.cfg", &cfg));
    td_scalesim_layer l = {"x", 56, 56, 3, 3, 64, 64, 1, 1};
    td_scalesim_result r;
    const int n = 2000000;
    uint64_t sink = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        l.num_filters = 1 + (uint64_t)(i & 255);
        cfg.dataflow = (td_scalesim_dataflow)(i % 3);
        td_status st = td_scalesim_layer_estimate(&cfg, &l, &r);
        td_status_free(st);
        sink += r.total_cycles;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double rate = n / s;
    printf("scalesim estimate: %.1f M layer estimates/s (checksum %llu)\n", rate / 1e6,
           (unsigned long long)sink);
    /* Sanitizer builds run several times slower; the bar is for optimized builds. */
#ifndef SS_SANITIZED
    TD_CHECK(rate >= 1e6, "%.0f estimates/s", rate);
#endif
}

int main(void)
{
    test_fixtures();
    test_config_errors();
    test_topology_errors();
    test_properties();
    test_speed();
    return td_test_finish("test_scalesim");
}
