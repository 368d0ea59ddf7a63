/* The graph core: building, preparation (BN folding, constant folding, costs), the memory
 * planner and the executor, and the compressed-model file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan_check.h"
#include "td_test.h"
#include "tandem/compress.h"
#include "tandem/graph.h"
#include "tandem/model.h"

/* A check whose message is the condition itself. */
#define CHECK(cond) TD_CHECK(cond, "%s", #cond)

static float *rand_floats(td_rng *r, int64_t n, float scale)
{
    float *p;
    if (td_alloc((size_t)n * sizeof(float), (void **)&p))
        abort();
    for (int64_t i = 0; i < n; i++)
        p[i] = scale * td_rng_uniform(r);
    return p;
}

static int add_f32(td_graph *g, const char *name, int ndim, const int64_t *shape, td_rng *r,
                   float scale)
{
    int idx;
    float *d = rand_floats(r, td_shape_numel(ndim, shape), scale);
    TD_CHECK_OK(td_graph_add_const(g, name, TD_DT_F32, ndim, shape, d, true, &idx));
    return idx;
}

static td_node *add_node(td_graph *g, const char *op, const char *name, int ni,
                         const char *const *in)
{
    int idx;
    const char *out[1] = {name};
    TD_CHECK_OK(td_graph_add_node(g, name, op, ni, in, 1, out, &idx));
    return &g->nodes[idx];
}

/* x[N,3,8,8] -> Conv(4, 3x3, pad 1) -> BN -> Relu -> Conv(4, 1x1) -> Add(relu) -> Flatten
 * -> Gemm(10) */
static td_graph *small_cnn(td_rng *r, int64_t batch)
{
    td_graph *g;
    TD_CHECK_OK(td_graph_new("small_cnn", &g));
    int64_t xs[4] = {-1, 3, 8, 8};
    TD_CHECK_OK(td_graph_add_input(g, "x", TD_DT_F32, 4, xs, NULL));
    int64_t w1[4] = {4, 3, 3, 3}, b1[1] = {4}, w2[4] = {4, 4, 1, 1}, wf[2] = {10, 256};
    add_f32(g, "w1", 4, w1, r, 0.5f);
    add_f32(g, "b1", 1, b1, r, 0.1f);
    add_f32(g, "gamma", 1, b1, r, 1.0f);
    add_f32(g, "beta", 1, b1, r, 0.2f);
    add_f32(g, "mean", 1, b1, r, 0.2f);
    int var = add_f32(g, "var", 1, b1, r, 0.5f);
    for (int i = 0; i < 4; i++)
        ((float *)g->values[var].data)[i] = fabsf(((float *)g->values[var].data)[i]) + 0.5f;
    add_f32(g, "w2", 4, w2, r, 0.5f);
    add_f32(g, "wf", 2, wf, r, 0.1f);
    add_f32(g, "bf", 1, (int64_t[]){10}, r, 0.1f);
    const char *c1[3] = {"x", "w1", "b1"};
    td_node *n = add_node(g, "Conv", "conv1", 3, c1);
    TD_CHECK_OK(td_node_set_ints(n, "pads", (int64_t[]){1, 1, 1, 1}, 4));
    const char *bn[5] = {"conv1", "gamma", "beta", "mean", "var"};
    add_node(g, "BatchNormalization", "bn1", 5, bn);
    add_node(g, "Relu", "relu1", 1, (const char *[]){"bn1"});
    add_node(g, "Conv", "conv2", 2, (const char *[]){"relu1", "w2"});
    add_node(g, "Add", "res", 2, (const char *[]){"conv2", "relu1"});
    add_node(g, "Flatten", "flat", 1, (const char *[]){"res"});
    n = add_node(g, "Gemm", "fc", 3, (const char *[]){"flat", "wf", "bf"});
    TD_CHECK_OK(td_node_set_int(n, "transB", 1));
    TD_CHECK_OK(td_graph_mark_output(g, "fc"));
    int64_t fixed[4] = {batch, 3, 8, 8};
    TD_CHECK_OK(td_graph_set_input_shape(g, "x", 4, fixed));
    return g;
}

static void run_graph(td_graph *g, const float *x, int64_t batch, float *y, int64_t ny)
{
    td_session *s;
    TD_CHECK_OK(td_session_new(g, NULL, &s));
    td_view in = {TD_DT_F32, 4, {batch, 3, 8, 8}, (void *)x};
    TD_CHECK_OK(td_session_set_input(s, "x", &in));
    TD_CHECK_OK(td_session_run(s));
    td_view out;
    TD_CHECK_OK(td_session_get(s, "fc", &out));
    CHECK(td_view_numel(&out) == ny);
    memcpy(y, out.data, (size_t)ny * sizeof(float));
    td_session_free(s);
}

static int find_op(const td_graph *g, const char *op)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].op_type, op))
            return i;
    return -1;
}

/* Conv -> BN becomes one Conv, and the output does not change beyond rounding. */
static void test_bn_folding(void)
{
    td_rng r = {1};
    td_graph *g = small_cnn(&r, 2);
    float *x = rand_floats(&r, 2 * 3 * 64, 1.0f);
    /* Reference: the BN evaluated by its own operator (conv1 is also an output, so the BN
     * cannot be folded). */
    td_graph *ref = small_cnn(&(td_rng){1}, 2);
    TD_CHECK_OK(td_graph_mark_output(ref, "conv1"));
    float y[20], yr[20];
    run_graph(g, x, 2, y, 20);
    run_graph(ref, x, 2, yr, 20);
    CHECK(find_op(g, "BatchNormalization") < 0);
    CHECK(find_op(ref, "BatchNormalization") >= 0);
    for (int i = 0; i < 20; i++)
        CHECK(fabsf(y[i] - yr[i]) <= 1e-4f * (1.0f + fabsf(yr[i])));
    td_free(x);
    td_graph_free(g);
    td_graph_free(ref);
}

/* Per-node figures: Conv MACs = N*Cout*H*W*Cin*kh*kw; Gemm MACs = N*out*in. */
static void test_costs(void)
{
    td_rng r = {2};
    td_graph *g = small_cnn(&r, 2);
    TD_CHECK_OK(td_graph_prepare(g));
    const td_node *c1 = &g->nodes[find_op(g, "Conv")];
    CHECK(c1->cost.macs == 2LL * 4 * 8 * 8 * 3 * 3 * 3);
    CHECK(c1->cost.params == 4 * 3 * 3 * 3 + 4);
    CHECK(c1->cost.weight_bytes == (4 * 27 + 4) * 4);
    const td_node *fc = &g->nodes[find_op(g, "Gemm")];
    CHECK(fc->cost.macs == 2LL * 10 * 256);
    CHECK(fc->cost.out_bytes == 2 * 10 * 4);
    td_graph_totals t;
    td_graph_totals_compute(g, &t);
    CHECK(t.params == (4 * 27 + 4) + 16 + 2560 + 10);
    td_graph_free(g);
}

/* Constant subgraphs are evaluated once at prepare and leave the node list. */
static void test_constant_folding(void)
{
    td_graph *g;
    TD_CHECK_OK(td_graph_new("fold", &g));
    int64_t s[1] = {4};
    TD_CHECK_OK(td_graph_add_input(g, "x", TD_DT_F32, 1, s, NULL));
    float *a, *b;
    TD_CHECK_OK(td_alloc(16, (void **)&a));
    TD_CHECK_OK(td_alloc(16, (void **)&b));
    for (int i = 0; i < 4; i++) {
        a[i] = (float)i;
        b[i] = 10.0f;
    }
    TD_CHECK_OK(td_graph_add_const(g, "a", TD_DT_F32, 1, s, a, true, NULL));
    TD_CHECK_OK(td_graph_add_const(g, "b", TD_DT_F32, 1, s, b, true, NULL));
    add_node(g, "Mul", "ab", 2, (const char *[]){"a", "b"});
    add_node(g, "Add", "y", 2, (const char *[]){"x", "ab"});
    TD_CHECK_OK(td_graph_mark_output(g, "y"));
    TD_CHECK_OK(td_graph_prepare(g));
    CHECK(g->n_nodes == 1);
    CHECK(!strcmp(g->nodes[0].op_type, "Add"));
    td_session *s2;
    TD_CHECK_OK(td_session_new(g, NULL, &s2));
    float x[4] = {1, 1, 1, 1};
    td_view in = {TD_DT_F32, 1, {4}, x};
    TD_CHECK_OK(td_session_set_input(s2, "x", &in));
    TD_CHECK_OK(td_session_run(s2));
    td_view out;
    TD_CHECK_OK(td_session_get(s2, "y", &out));
    for (int i = 0; i < 4; i++)
        CHECK(((float *)out.data)[i] == 1.0f + 10.0f * (float)i);
    td_session_free(s2);
    td_graph_free(g);
}

/* The plan never overlaps two values alive at the same step, its peak is >= the lower
 * bound, and a chain of in-place ops needs only two buffers. */
static void test_plan_chain(void)
{
    td_graph *g;
    TD_CHECK_OK(td_graph_new("chain", &g));
    int64_t s[1] = {1000};
    TD_CHECK_OK(td_graph_add_input(g, "x", TD_DT_F32, 1, s, NULL));
    add_node(g, "Exp", "e", 1, (const char *[]){"x"});
    add_node(g, "Relu", "r1", 1, (const char *[]){"e"});
    add_node(g, "Sigmoid", "r2", 1, (const char *[]){"r1"});
    add_node(g, "Neg", "r3", 1, (const char *[]){"r2"});
    TD_CHECK_OK(td_graph_mark_output(g, "r3"));
    TD_CHECK_OK(td_graph_prepare(g));
    td_mem_plan p;
    TD_CHECK_OK(td_mem_plan_build(g, &p));
    /* x (an input, never overwritten) + one buffer the chain reuses. */
    CHECK(p.lower_bound_bytes == 8000);
    CHECK(p.arena_bytes == 2 * 4032); /* two blocks, each rounded up to 64 bytes */
    CHECK(p.alias_of[td_graph_find_value(g, "r3")] == td_graph_find_value(g, "e"));
    td_mem_plan_free(&p);
    td_graph_free(g);
}

static void test_plan_cnn(void)
{
    td_rng r = {3};
    td_graph *g = small_cnn(&r, 4);
    TD_CHECK_OK(td_graph_prepare(g));
    td_mem_plan p;
    TD_CHECK_OK(td_mem_plan_build(g, &p));
    CHECK(plan_check(g, &p) == 0);
    CHECK((double)p.arena_bytes <= 1.1 * (double)p.lower_bound_bytes);
    td_mem_plan_free(&p);
    td_graph_free(g);
}

/* Bad graphs: errors name what is wrong. */
static void test_bad_graphs(void)
{
    td_graph *g;
    TD_CHECK_OK(td_graph_new("bad", &g));
    int64_t s[1] = {4};
    TD_CHECK_OK(td_graph_add_input(g, "x", TD_DT_F32, 1, s, NULL));
    int idx;
    const char *in[1] = {"x"}, *out[1] = {"y"};
    TD_CHECK_ERROR(td_graph_add_node(g, "n1", "NoSuchOp", 1, in, 1, out, &idx), TD_CODE_UNSUPPORTED,
                   "NoSuchOp");
    const char *missing[1] = {"nowhere"};
    TD_CHECK_ERROR(td_graph_add_node(g, "n2", "Relu", 1, missing, 1, out, &idx),
                   TD_CODE_INVALID_ARGUMENT, "nowhere");
    TD_CHECK_ERROR(td_graph_add_input(g, "x", TD_DT_F32, 1, s, NULL), TD_CODE_INVALID_ARGUMENT,
                   "twice");
    TD_CHECK_ERROR(td_graph_mark_output(g, "zz"), TD_CODE_INVALID_ARGUMENT, "zz");
    TD_CHECK_ERROR(td_graph_prepare(g), TD_CODE_INVALID_ARGUMENT, "no outputs");
    int64_t dyn[1] = {-1};
    TD_CHECK_OK(td_graph_add_input(g, "d", TD_DT_F32, 1, dyn, NULL));
    add_node(g, "Relu", "rd", 1, (const char *[]){"d"});
    TD_CHECK_OK(td_graph_mark_output(g, "rd"));
    TD_CHECK_ERROR(td_graph_prepare(g), TD_CODE_INVALID_ARGUMENT, "'d'");
    td_graph_free(g);
}

/* Compress, save, load: the loaded model computes what the compressed one computed. */
static void test_model_file_roundtrip(void)
{
    td_rng r = {4};
    td_graph *g = small_cnn(&r, 8);
    TD_CHECK_OK(td_graph_prepare(g));
    float *x = rand_floats(&r, 8 * 3 * 64, 1.0f);
    td_scheme sc;
    TD_CHECK_OK(td_scheme_preset("w4a8", &sc));
    const char *names[1] = {"x"};
    td_view xv = {TD_DT_F32, 4, {8, 3, 8, 8}, x};
    td_calib cal = {1, names, &xv, NULL};
    td_compress_report rep;
    TD_CHECK_OK(td_compress(g, &sc, &cal, NULL, NULL, NULL, &rep));
    CHECK(rep.n_layers == 3);
    CHECK(rep.bytes < rep.bytes_f32);
    CHECK(rep.out_rel_l2 > 0 && rep.out_rel_l2 < 0.5);
    float y1[80], y2[80];
    run_graph(g, x, 8, y1, 80);
    char path[] = "/tmp/td_graph_test_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    TD_CHECK_OK(td_model_save(g, path, NULL, NULL, 0));
    td_graph *h;
    TD_CHECK_OK(td_model_load(path, &h));
    int64_t fixed[4] = {8, 3, 8, 8};
    TD_CHECK_OK(td_graph_set_input_shape(h, "x", 4, fixed));
    run_graph(h, x, 8, y2, 80);
    for (int i = 0; i < 80; i++)
        CHECK(y1[i] == y2[i]);
    int conv = find_op(h, "Conv");
    CHECK(conv >= 0 && h->nodes[conv].qweight != NULL);
    td_compress_report_free(&rep);
    unlink(path);
    td_free(x);
    td_graph_free(g);
    td_graph_free(h);
}

/* Parts of a compressed matrix: the same layout rebuilds it; tampered parts are rejected. */
static void test_qparts(void)
{
    td_rng r = {5};
    const char *specs[] = {"int8",     "int4:g32:asym",  "int6:g32",       "int8:2:4",
                           "int4:2:8", "int4:g32:gs0.5", "fp8_e4m3:tile64"};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        td_qspec spec;
        TD_CHECK_OK(td_qspec_parse(specs[s], &spec));
        float *w = rand_floats(&r, 40 * 96, 1.0f);
        td_qmatrix *q, *q2;
        TD_CHECK_OK(td_qmatrix_quantize(&spec, w, 40, 96, 96, &q));
        td_qpart parts[TD_QMATRIX_MAX_PARTS];
        int n = td_qmatrix_parts(q, parts);
        TD_CHECK_OK(td_qmatrix_from_parts(&spec, 40, 96, parts, n, "w", &q2));
        float *a = rand_floats(&r, 40 * 96, 0), *b = rand_floats(&r, 40 * 96, 0);
        TD_CHECK_OK(td_qmatrix_dequantize(q, a));
        TD_CHECK_OK(td_qmatrix_dequantize(q2, b));
        CHECK(memcmp(a, b, 40 * 96 * sizeof(float)) == 0);
        /* Products agree too: derived data (the int weight sums the VNNI kernels use) is
         * rebuilt from the codes. */
        float *x = rand_floats(&r, 5 * 96, 1.0f), y1[5 * 40], y2[5 * 40];
        td_ctx ctx = td_ctx_default();
        TD_CHECK_OK(td_gemm(&ctx, q, TD_ACT_INT8, x, 5, y1));
        TD_CHECK_OK(td_gemm(&ctx, q2, TD_ACT_INT8, x, 5, y2));
        CHECK(memcmp(y1, y2, sizeof y1) == 0);
        td_free(x);
        td_qmatrix_free(q2);
        /* A part one byte short, and a missing part. */
        parts[0].bytes--;
        TD_CHECK_ERROR(td_qmatrix_from_parts(&spec, 40, 96, parts, n, "w", &q2), TD_CODE_BAD_DATA,
                       "codes");
        parts[0].bytes++;
        TD_CHECK_ERROR(td_qmatrix_from_parts(&spec, 40, 96, parts + 1, n - 1, "w", &q2),
                       TD_CODE_BAD_DATA, "missing");
        td_free(w);
        td_free(a);
        td_free(b);
        td_qmatrix_free(q);
    }
    /* N:M positions out of range would steer the kernel outside its block. */
    td_qspec spec;
    TD_CHECK_OK(td_qspec_parse("int8:2:4", &spec));
    float *w = rand_floats(&r, 16 * 64, 1.0f);
    td_qmatrix *q, *q2;
    TD_CHECK_OK(td_qmatrix_quantize(&spec, w, 16, 64, 64, &q));
    td_qpart parts[TD_QMATRIX_MAX_PARTS];
    int n = td_qmatrix_parts(q, parts);
    for (int i = 0; i < n; i++)
        if (!strcmp(parts[i].name, "idx"))
            ((uint8_t *)parts[i].data)[0] = 0xFF; /* positions 3, 3: not increasing */
    TD_CHECK_ERROR(td_qmatrix_from_parts(&spec, 16, 64, parts, n, "w", &q2), TD_CODE_BAD_DATA,
                   "N:M position");
    td_qmatrix_free(q);
    td_free(w);
}

int main(void)
{
    test_bn_folding();
    test_costs();
    test_constant_folding();
    test_plan_chain();
    test_plan_cnn();
    test_bad_graphs();
    test_model_file_roundtrip();
    test_qparts();
    return td_test_finish("graph");
}
