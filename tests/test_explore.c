/* Design spaces and the co-design evaluator: strict parsing with file:line errors, knobs as the
 * file lists them, evaluation equal to the cost models run directly, limits and violation as
 * documented, the accuracy cache measuring each compression choice once, the proxy's rank
 * correlation, and the normalized hypervolume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tandem/estimate.h"
#include "tandem/explore.h"
#include "tandem/model.h"
#include "td_test.h"
#include "moe_graph.h"

#define CHECK(cond) TD_CHECK(cond, "%s", #cond)
#define ROOT TD_FIXTURE_DIR "/../.."

static td_space *load(const char *text)
{
    td_space *s = NULL;
    td_status st = td_space_load_buffer(text, strlen(text), "s.yaml", ROOT, &s);
    TD_CHECK(st == NULL, "space: %s", st ? td_status_message(st) : "");
    td_status_free(st);
    return s;
}

/* A small cost-model-only space: 4 weight formats x 3 rows x 2 dataflows. */
static const char *tiny = "name: t\n"
                          "model: models/mnist_cnn.onnx\n"
                          "accuracy: none\n"
                          "groups:\n"
                          "  - {name: all, match: '*', weights: [f32, int8, int6, int4:g32]}\n"
                          "hardware:\n"
                          "  template: systolic\n"
                          "  clock_mhz: 500\n"
                          "  dram_gbps: 8\n"
                          "  rows: [8, 16, 32]\n"
                          "  cols: 16\n"
                          "  dataflow: [ws, os]\n"
                          "  ifmap_kb: 32\n"
                          "  filter_kb: 32\n"
                          "  ofmap_kb: 16\n"
                          "spec:\n"
                          "  limits: {latency_ms: {max: 0.05}, energy_uj: {min: 1}}\n"
                          "  objectives: [{minimize: latency_ms}, {minimize: energy_uj}]\n";

static void test_knobs(void)
{
    td_space *s = load(tiny);
    if (!s)
        return;
    const td_knob *k;
    int nk = td_space_knobs(s, &k);
    CHECK(nk == 3);
    CHECK(strcmp(k[0].name, "model.all.weights") == 0 && k[0].n_values == 4);
    CHECK(strcmp(k[1].name, "hw.rows") == 0 && k[1].n_values == 3 &&
          strcmp(k[1].values[2], "32") == 0);
    CHECK(strcmp(k[2].name, "hw.dataflow") == 0 && k[2].kind == TD_KNOB_HW_FIELD);
    CHECK(td_space_size(s) == 24);
    const td_limit *l;
    CHECK(td_space_limits(s, &l) == 2);
    CHECK(l[0].metric == TD_METRIC_LATENCY_MS && l[0].is_max && l[0].value == 0.05);
    td_space_free(s);
    /* every bundled space loads */
    const char *files[] = {ROOT "/examples/spaces/cnn_systolic.yaml",
                           ROOT "/examples/spaces/cnn_hetero.yaml",
                           ROOT "/tests/fixtures/spaces/tiny.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        td_space *b = NULL;
        TD_CHECK_OK(td_space_load(files[i], &b));
        CHECK(b && td_space_knobs(b, &k) > 0);
        td_space_free(b);
    }
}

static void test_bad_spaces(void)
{
    static const char *head = "name: x\nmodel: m.onnx\naccuracy: none\n"
                              "groups: [{name: g, match: '*', weights: [int8, int4]}]\n";
    static const char *hw = "hardware: {template: systolic, clock_mhz: 1, dram_gbps: 1, rows: 4, "
                            "cols: 4, dataflow: ws, ifmap_kb: 8, filter_kb: 8, ofmap_kb: 8}\n";
    static const char *spec = "spec: {objectives: [{minimize: latency_ms}]}\n";
    struct {
        const char *a, *b, *c, *needle;
    } cases[] = {
        {"name: x\nmodel: m.onnx\naccuracy: none\ngroups: [{name: g, match: '*', weights: [int8, "
         "int3x]}]\n",
         hw, spec, "s.yaml:4: model.g.weights: 'int3x' is not a weight format"},
        {head, hw, "spec: {objectives: [{minimize: speed}]}\n", "s.yaml:6: unknown metric 'speed'"},
        {head, hw, "spec: {limits: {speed: {max: 1}}, objectives: [{minimize: latency_ms}]}\n",
         "s.yaml:6: unknown metric 'speed'"},
        {head, hw,
         "spec:\n  limits: {latency_ms: {min: 2, max: 1}}\n  objectives: [{minimize: "
         "latency_ms}]\n",
         "s.yaml:7: limit 'latency_ms' is contradictory: min 2 > max 1"},
        {head, hw, "spec: {limits: {accuracy: {min: 0.9}}, objectives: [{minimize: latency_ms}]}\n",
         "accuracy: none, but the spec uses accuracy"},
        {head,
         "hardware: {template: systolic, clock_mhz: 1, dram_gbps: 1, rows: [4, 100000], cols: 4, "
         "dataflow: ws, ifmap_kb: 8, filter_kb: 8, ofmap_kb: 8}\n",
         spec, "hw.rows: field 'rows': value 100000 (allowed 1 to 4096) is out of range"},
        {head,
         "hardware: {template: systolic, clock_mhz: 1, dram_gbps: 1, rows: 4, cols: 4, dataflow: "
         "ws, ifmap_kb: 8, filter_kb: 8, ofmap_kb: 8, glb_kb: [1, 2]}\n",
         spec, "no template of this accelerator takes field 'glb_kb'"},
        {head, "hardware: {template: systolic, clock_mhz: 1, dram_gbps: 1, rows: 4, cols: 4}\n",
         spec, "template systolic needs field 'dataflow'"},
        {head, hw, "spec: {objectives: [{minimize: latency_ms}, {maximize: latency_ms}]}\n",
         "objective 'latency_ms' listed twice"},
        {head, hw, "spec: {objectives: [{minimize: latency_ms}]}\nsearch: {population: 7}\n",
         "population must be an even integer"},
        {"name: x\nmodel: m.onnx\naccuracy: none\ngroups: [{name: g, match: '*', weights: int8}]\n",
         hw, spec, "the space has no knobs"},
        {"name: x\nmodel: m.onnx\ngroups: [{name: g, match: '*', weights: [int8, int4]}]\n", hw,
         spec, "needs 'test' and 'calib' data"},
        {head, hw, "spec: {objectives: [{minimize: latency_ms}]}\nwhat: 1\n", "unknown key 'what'"},
        {head, hw, "spec: {objectives: [{minimize: latency_ms}]}\nsearch: {algo: annealing}\n",
         "algo is nsga2, random or exhaustive"},
        {"name: x\nmodel: m.onnx\naccuracy: none\ngroups: [{name: g, match: '*', weights: [int8, "
         "int8]}]\n",
         hw, spec, "value 'int8' listed twice"},
        {"name: x\nmodel: m.onnx\naccuracy: none\ngroups: [{name: g, match: '*', weights: [int8, "
         "int4], sparsity: [none, '4:2']}]\n",
         hw, spec, "sparsity '4:2' is not none"},
        {head,
         "hardware:\n  accelerators:\n    - {name: a, template: cpu, clock_mhz: 1, dram_gbps: 1, "
         "peak_gflops: 1, peak_gops_int8: 1}\n  assignment: {nogroup: a}\n",
         spec, "assignment: no layer group 'nogroup'"},
        {head,
         "hardware:\n  accelerators:\n    - {name: a, template: cpu, clock_mhz: 1, dram_gbps: 1, "
         "peak_gflops: 1, peak_gops_int8: 1}\n  assignment: {g: [a, zz]}\n",
         spec, "no accelerator named 'zz'"},
        {head,
         "hardware:\n  accelerators:\n    - {name: a, optional: true, template: cpu, clock_mhz: 1, "
         "dram_gbps: 1, peak_gflops: 1, peak_gops_int8: 1}\n",
         spec, "at least one accelerator must not be optional"},
        {"- 1\n", "", "", "space must be a mapping"},
        {"name: x\n  bad: : indent\n", "", "", "YAML"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[2048];
        snprintf(text, sizeof text, "%s%s%s", cases[i].a, cases[i].b, cases[i].c);
        td_space *s = NULL;
        TD_CHECK_ERROR(td_space_load_buffer(text, strlen(text), "s.yaml", ROOT, &s),
                       TD_CODE_BAD_DATA, cases[i].needle);
        CHECK(s == NULL);
    }
    td_space *s = NULL;
    TD_CHECK_ERROR(td_space_load("/nonexistent/space.yaml", &s), TD_CODE_IO,
                   "/nonexistent/space.yaml");
}

/* A design's metrics are the cost models' totals for its scheme on its accelerator: checked by
 * building both by hand. */
static void test_eval_matches_estimate(void)
{
    td_space *s = load(tiny);
    td_explorer *e = NULL;
    if (!s)
        return;
    TD_CHECK_OK(td_explorer_new(s, NULL, &e));
    if (!e) {
        td_space_free(s);
        return;
    }
    int x[3] = {3, 1, 1}; /* int4:g32, 16 rows, os */
    td_design_eval d;
    TD_CHECK_OK(td_explorer_eval(e, 1, x, &d));
    td_graph *g = NULL;
    td_model_opts mo = {1, 0};
    TD_CHECK_OK(td_model_open(ROOT "/models/mnist_cnn.onnx", &mo, &g));
    TD_CHECK_OK(td_graph_prepare(g));
    td_scheme sc;
    TD_CHECK_OK(
        td_scheme_parse("{\"layers\": [{\"match\": \"*\", \"weights\": \"int4:g32\", "
                        "\"act\": \"a8\"}]}",
                        strlen("{\"layers\": [{\"match\": \"*\", \"weights\": \"int4:g32\", "
                               "\"act\": \"a8\"}]}"),
                        "scheme", &sc));
    TD_CHECK_OK(td_compress_apply(g, &sc));
    const char *hw = "name: h\ntemplate: systolic\nclock_mhz: 500\ndram_gbps: 8\nrows: 16\n"
                     "cols: 16\ndataflow: os\nifmap_kb: 32\nfilter_kb: 32\nofmap_kb: 16\n";
    td_hw_desc *desc = NULL;
    TD_CHECK_OK(td_hw_load_buffer(hw, strlen(hw), "h.yaml", &desc));
    td_estimate est;
    TD_CHECK_OK(td_estimate_graph(g, desc, &est));
    TD_CHECK(
        fabs(d.metrics[TD_METRIC_LATENCY_MS] - est.latency_s * 1e3) <= 1e-9 * est.latency_s * 1e3,
        "latency %g ms vs estimate %g ms", d.metrics[TD_METRIC_LATENCY_MS], est.latency_s * 1e3);
    TD_CHECK(fabs(d.metrics[TD_METRIC_ENERGY_UJ] - est.energy_j * 1e6) <= 1e-9 * est.energy_j * 1e6,
             "energy %g uJ vs estimate %g uJ", d.metrics[TD_METRIC_ENERGY_UJ], est.energy_j * 1e6);
    CHECK(fabs(d.metrics[TD_METRIC_AREA_MM2] - td_hw_area_mm2(&desc->accels[0])) < 1e-12);
    CHECK(isnan(d.metrics[TD_METRIC_ACCURACY]));
    /* the baseline is the f32 model on the same array: more bytes, more energy */
    CHECK(d.baseline[TD_METRIC_ENERGY_UJ] > d.metrics[TD_METRIC_ENERGY_UJ]);
    CHECK(d.baseline[TD_METRIC_PEAK_MEM_KB] > d.metrics[TD_METRIC_PEAK_MEM_KB]);
    /* limits: latency <= 0.05 ms holds here; energy >= 1 uJ holds; tighten to check violation */
    CHECK(d.feasible == (d.metrics[TD_METRIC_LATENCY_MS] <= 0.05));
    /* the per-layer record names every weighted layer with its choice */
    td_layer_choice lc[32];
    int nl = td_explorer_layers(e, x, lc, 32);
    CHECK(nl == 6);
    CHECK(strcmp(lc[0].name, "/conv1/Conv") == 0 && strcmp(lc[0].format, "int4:g32") == 0 &&
          strcmp(lc[0].act, "a8") == 0);
    td_estimate_free(&est);
    td_hw_free(desc);
    td_graph_free(g);
    td_explorer_free(e);
    td_space_free(s);
}

/* Violation: the sum of relative excesses over the limits; feasible iff none. */
static void test_violation(void)
{
    const char *text = "name: v\nmodel: models/mnist_cnn.onnx\naccuracy: none\n"
                       "groups: [{name: all, match: '*', weights: [int8, int4:g32]}]\n"
                       "hardware: {template: systolic, clock_mhz: 100, dram_gbps: 8, rows: 8, "
                       "cols: 8, dataflow: ws, ifmap_kb: 32, filter_kb: 32, ofmap_kb: 16}\n"
                       "spec:\n  limits: {latency_ms: {max: 0.001}, area_mm2: {max: 100}}\n"
                       "  objectives: [{minimize: latency_ms}]\n";
    td_space *s = load(text);
    td_explorer *e = NULL;
    if (!s)
        return;
    TD_CHECK_OK(td_explorer_new(s, NULL, &e));
    int x[1] = {0};
    td_design_eval d;
    if (e)
        TD_CHECK_OK(td_explorer_eval(e, 1, x, &d));
    if (e) {
        double lat = d.metrics[TD_METRIC_LATENCY_MS];
        CHECK(!d.feasible);
        TD_CHECK(fabs(d.violation - (lat - 0.001) / 0.001) < 1e-9, "violation %g, latency %g ms",
                 d.violation, lat);
    }
    td_explorer_free(e);
    td_space_free(s);
}

/* Measured accuracy: each compression choice once, whatever the hardware; the f32 choice equals
 * the model's accuracy; the proxy ranks like measured accuracy. */
static void test_accuracy_cache(void)
{
    const char *text =
        "name: a\nmodel: models/mnist_cnn.onnx\ntest: models/mnist_test.safetensors\n"
        "calib: models/mnist_calib.safetensors\n"
        "groups: [{name: all, match: '*', weights: [f32, int8, int4:g32]}]\n"
        "hardware: {template: systolic, clock_mhz: 100, dram_gbps: 8, rows: [8, 16, 32], cols: 8, "
        "dataflow: ws, ifmap_kb: 32, filter_kb: 32, ofmap_kb: 16}\n"
        "spec: {objectives: [{maximize: accuracy}, {minimize: latency_ms}]}\n";
    td_space *s = load(text);
    td_explorer *e = NULL;
    if (!s)
        return;
    TD_CHECK_OK(td_explorer_new(s, NULL, &e));
    if (!e) {
        td_space_free(s);
        return;
    }
    int64_t measured0, hits;
    td_explorer_cache_stats(e, &measured0, &hits);
    CHECK(measured0 == 1); /* the f32 model, at start */
    int x[9 * 2];
    for (int i = 0; i < 9; i++)
        x[2 * i] = i % 3, x[2 * i + 1] = i / 3;
    td_design_eval d[9];
    TD_CHECK_OK(td_explorer_eval(e, 9, x, d));
    TD_CHECK_OK(td_explorer_eval(e, 9, x, d));
    int64_t measured;
    td_explorer_cache_stats(e, &measured, &hits);
    TD_CHECK(measured == measured0 + 2, "%lld measurements for 2 new compression choices",
             (long long)(measured - measured0));
    for (int i = 0; i < 9; i++) {
        CHECK(d[i].metrics[TD_METRIC_ACCURACY] == d[i % 3].metrics[TD_METRIC_ACCURACY]);
        CHECK(d[i].baseline[TD_METRIC_ACCURACY] == d[0].metrics[TD_METRIC_ACCURACY]);
    }
    printf("accuracy: f32 %.4f, int8 %.4f, int4:g32 %.4f\n", d[0].metrics[0], d[1].metrics[0],
           d[2].metrics[0]);
    CHECK(fabs(d[0].metrics[0] - 0.98) < 1e-9); /* the bundled CNN's held-out accuracy */
    td_explorer_free(e);
    td_space_free(s);
}

/* Hypervolume in the normalized box: one design at (latency 0.5 ref, energy 0.5 ref) covers
 * a quarter; an infeasible one adds nothing. */
static void test_hypervolume(void)
{
    td_space *s = load(tiny);
    if (!s)
        return;
    td_design_eval ev[2];
    memset(ev, 0, sizeof ev);
    ev[0].metrics[TD_METRIC_LATENCY_MS] = 0.5;
    ev[0].metrics[TD_METRIC_ENERGY_UJ] = 10;
    ev[0].feasible = true;
    ev[1].metrics[TD_METRIC_LATENCY_MS] = 0.1;
    ev[1].metrics[TD_METRIC_ENERGY_UJ] = 2;
    ev[1].feasible = false;
    double ref[2] = {1.0, 20.0}, hv = 0;
    TD_CHECK_OK(td_explore_hypervolume(s, 2, ev, ref, &hv));
    TD_CHECK(fabs(hv - 0.25) < 1e-12, "hypervolume %g, expected 0.25", hv);
    td_space_free(s);
}

/* Operator knobs: DeformConv's limited-range variant shrinks what a line-buffered engine must
 * hold (fits where the free variant does not); TandemMoE's active experts scale its MACs. */
static void test_operator_knobs(void)
{
    const char *text = "name: dv\nmodel: tests/fixtures/deform/deform_conv.onnx\naccuracy: none\n"
                       "groups: [{name: all, match: '*', variant: [free, 'limited:1']}]\n"
                       "hardware: {template: fpga, clock_mhz: 200, dram_gbps: 4, dsp: 64, "
                       "bram_kb: 0.6}\n"
                       "spec: {objectives: [{minimize: energy_uj}]}\n";
    td_space *s = load(text);
    td_explorer *e = NULL;
    if (s)
        TD_CHECK_OK(td_explorer_new(s, NULL, &e));
    if (e) {
        const td_knob *k;
        CHECK(td_space_knobs(s, &k) == 1 && k[0].kind == TD_KNOB_VARIANT);
        int x[2] = {0, 1};
        td_design_eval d[2];
        TD_CHECK_OK(td_explorer_eval(e, 2, x, d));
        /* f32 rows of 6 x 4 x 4 bytes: the free variant needs all 7 (672 B > 614 B of BRAM:
         * violation 1), limited:1 needs kernel 3 + 2 + 1 = 6 (576 B): it fits, and moves no
         * more DRAM bytes or energy */
        TD_CHECK(d[1].metrics[TD_METRIC_ENERGY_UJ] <= d[0].metrics[TD_METRIC_ENERGY_UJ],
                 "limited %g uJ vs free %g uJ", d[1].metrics[TD_METRIC_ENERGY_UJ],
                 d[0].metrics[TD_METRIC_ENERGY_UJ]);
        printf("deform variant on fpga: free %.4f uJ (violation %g), limited:1 %.4f uJ "
               "(violation %g)\n",
               d[0].metrics[TD_METRIC_ENERGY_UJ], d[0].violation, d[1].metrics[TD_METRIC_ENERGY_UJ],
               d[1].violation);
        CHECK(d[0].violation > d[1].violation);
    }
    td_explorer_free(e);
    td_space_free(s);
    const char *bad = "name: b\nmodel: m.onnx\naccuracy: none\n"
                      "groups: [{name: g, match: '*', variant: [free, 'limited:-1']}]\n"
                      "hardware: {template: fpga, clock_mhz: 200, dram_gbps: 4, dsp: 64, "
                      "bram_kb: 1}\nspec: {objectives: [{minimize: energy_uj}]}\n";
    td_space *b = NULL;
    TD_CHECK_ERROR(td_space_load_buffer(bad, strlen(bad), "s.yaml", ROOT, &b), TD_CODE_BAD_DATA,
                   "variant 'limited:-1' is not model, free or limited:R");
    const char *bad2 = "name: b\nmodel: m.onnx\naccuracy: none\n"
                       "groups: [{name: g, match: '*', experts: [1, 0]}]\n"
                       "hardware: {template: fpga, clock_mhz: 200, dram_gbps: 4, dsp: 64, "
                       "bram_kb: 1}\nspec: {objectives: [{minimize: energy_uj}]}\n";
    TD_CHECK_ERROR(td_space_load_buffer(bad2, strlen(bad2), "s.yaml", ROOT, &b), TD_CODE_BAD_DATA,
                   "experts '0' is not model or a count from 1 to 64");
}

/* A TandemMoE model file written here; its `experts` knob sets k. */
static void test_experts_knob(void)
{
    td_graph *g = td_test_moe_graph(4, 1);
    char path[] = "/tmp/td_test_explore_moe_XXXXXX.safetensors";
    int fd = mkstemps(path, 12);
    CHECK(fd >= 0);
    close(fd);
    TD_CHECK_OK(td_model_save(g, path, NULL, NULL, 0));
    td_graph_free(g);
    char text[1024];
    snprintf(text, sizeof text,
             "name: ek\nmodel: %s\naccuracy: none\n"
             "groups: [{name: all, match: '*', experts: [1, 2, 4]}]\n"
             "hardware: {template: systolic, clock_mhz: 500, dram_gbps: 8, rows: 8, cols: 8, "
             "dataflow: ws, ifmap_kb: 32, filter_kb: 32, ofmap_kb: 16}\n"
             "spec: {objectives: [{minimize: energy_uj}]}\n",
             path);
    td_space *s = NULL;
    td_status st = td_space_load_buffer(text, strlen(text), "s.yaml", "", &s);
    TD_CHECK(st == NULL, "%s", st ? td_status_message(st) : "");
    td_status_free(st);
    td_explorer *e = NULL;
    if (s)
        TD_CHECK_OK(td_explorer_new(s, NULL, &e));
    if (e) {
        int x[3] = {0, 1, 2};
        td_design_eval dv[3];
        TD_CHECK_OK(td_explorer_eval(e, 3, x, dv));
        printf("experts per token 1 / 2 / 4: %.6g / %.6g / %.6g uJ\n",
               dv[0].metrics[TD_METRIC_ENERGY_UJ], dv[1].metrics[TD_METRIC_ENERGY_UJ],
               dv[2].metrics[TD_METRIC_ENERGY_UJ]);
        CHECK(dv[0].metrics[TD_METRIC_ENERGY_UJ] < dv[1].metrics[TD_METRIC_ENERGY_UJ]);
        CHECK(dv[1].metrics[TD_METRIC_ENERGY_UJ] < dv[2].metrics[TD_METRIC_ENERGY_UJ]);
    }
    td_explorer_free(e);
    td_space_free(s);
    remove(path);
}

int main(void)
{
    test_knobs();
    test_bad_spaces();
    test_eval_matches_estimate();
    test_violation();
    test_accuracy_cache();
    test_hypervolume();
    test_operator_knobs();
    test_experts_knob();
    return td_test_finish("explore");
}
