/* nn operators: Conv against the scalar reference on odd shapes (1x1, strides, dilation,
 * padding, auto_pad, groups, depthwise, 1-D, pixel-block tails), compressed-weight paths
 * against the dequantized weight, Gemm/MatMul semantics, pools, BatchNormalization, costs,
 * and bad attributes that must name the node. */
#include "kernels/ref/conv_ref.h"
#include "ops/ops_common.h"
#include "ops_harness.h"

static float *rand_buf(int64_t n, uint64_t seed)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    td_rng r = {seed};
    for (int64_t i = 0; i < n; i++)
        p[i] = td_rng_uniform(&r);
    return p;
}

static double max_rel_err(const float *a, const float *b, int64_t n)
{
    double m = 0, scale = 1e-6;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(b[i]));
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]) / scale);
    return m;
}

typedef struct conv_case {
    int64_t n, c, h, w, m, group, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
    const char *auto_pad; /* NULL: explicit pads */
    bool bias, one_d;
} conv_case;

/* Builds and runs one Conv; fills the reference geometry. qspec: compress the weight. */
static td_status run_conv(const conv_case *cc, const float *x, const float *w, const float *b,
                          const char *qspec, td_act_type act, td_graph **gout, td_conv_shape *s)
{
    td_graph *g;
    TD_TRY(td_graph_new("t", &g));
    *gout = g;
    int64_t cg = cc->c / cc->group;
    int64_t xs[4] = {cc->n, cc->c, cc->h, cc->w}, ws[4] = {cc->m, cg, cc->kh, cc->kw};
    if (cc->one_d) {
        xs[2] = cc->w;
        ws[2] = cc->kw;
    }
    int rank = cc->one_d ? 3 : 4;
    oh_input(g, "x", TD_DT_F32, rank, xs, (void *)x);
    oh_const(g, "w", TD_DT_F32, rank, ws, (void *)w);
    oh_const(g, "b", TD_DT_F32, 1, &cc->m, (void *)b);
    const char *ins[3] = {"x", "w", "b"};
    td_node *n = oh_node(g, "conv", "Conv", cc->bias ? 3 : 2, ins, "y");
    if (!n)
        return td_error_new(TD_CODE_INTERNAL, "no node");
    if (cc->one_d) {
        TD_TRY(td_node_set_ints(n, "strides", &cc->sw, 1));
        TD_TRY(td_node_set_ints(n, "dilations", &cc->dw, 1));
        int64_t pads[2] = {cc->pl, cc->pr};
        TD_TRY(td_node_set_ints(n, "pads", pads, 2));
    } else {
        int64_t st[2] = {cc->sh, cc->sw}, dl[2] = {cc->dh, cc->dw};
        int64_t pads[4] = {cc->pt, cc->pl, cc->pb, cc->pr};
        TD_TRY(td_node_set_ints(n, "strides", st, 2));
        TD_TRY(td_node_set_ints(n, "dilations", dl, 2));
        if (cc->auto_pad)
            TD_TRY(td_node_set_string(n, "auto_pad", cc->auto_pad));
        else
            TD_TRY(td_node_set_ints(n, "pads", pads, 4));
    }
    TD_TRY(td_node_set_int(n, "group", cc->group));
    if (qspec) {
        td_qspec spec;
        TD_TRY(td_qspec_parse(qspec, &spec));
        TD_TRY(td_qmatrix_quantize(&spec, w, cc->m, cg * cc->kh * cc->kw, cg * cc->kh * cc->kw,
                                   &n->qweight));
        n->act = act;
    }
    TD_TRY(oh_exec(g, 2));
    const td_value *y = oh_val(g, "y");
    *s = (td_conv_shape){cc->n,
                         cc->c,
                         cc->one_d ? 1 : cc->h,
                         cc->w,
                         cc->m,
                         cc->group,
                         cc->one_d ? 1 : cc->kh,
                         cc->kw,
                         cc->one_d ? 1 : cc->sh,
                         cc->sw,
                         cc->one_d ? 1 : cc->dh,
                         cc->dw,
                         cc->one_d ? 0 : cc->pt,
                         cc->pl,
                         cc->one_d ? 1 : y->shape[2],
                         y->shape[rank - 1]};
    if (cc->auto_pad && strncmp(cc->auto_pad, "SAME", 4) == 0) {
        int64_t in[2] = {cc->h, cc->w}, k[2] = {cc->kh, cc->kw}, sd[2] = {cc->sh, cc->sw};
        int64_t d[2] = {cc->dh, cc->dw}, beg[2];
        for (int i = 0; i < 2; i++) {
            int64_t o = (in[i] + sd[i] - 1) / sd[i];
            int64_t tot = (o - 1) * sd[i] + (k[i] - 1) * d[i] + 1 - in[i];
            tot = tot < 0 ? 0 : tot;
            beg[i] = strcmp(cc->auto_pad, "SAME_UPPER") == 0 ? tot / 2 : tot - tot / 2;
        }
        s->pt = beg[0];
        s->pl = beg[1];
    } else if (cc->auto_pad) {
        s->pt = s->pl = 0;
    }
    return TD_OK;
}

static void test_conv_vs_ref(void)
{
    const conv_case cases[] = {
        /* n  c  h  w   m  g  kh kw sh sw dh dw pt pl pb pr */
        {1, 3, 8, 8, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, true, false},
        {2, 4, 7, 9, 6, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, NULL, true, false},  /* 1x1 direct */
        {1, 4, 7, 9, 6, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, NULL, false, false}, /* 1x1 strided */
        {1, 5, 11, 13, 7, 1, 3, 2, 2, 3, 1, 1, 0, 1, 2, 0, NULL, true, false},
        {1, 3, 12, 10, 4, 1, 3, 3, 1, 1, 2, 3, 2, 3, 2, 3, NULL, true, false}, /* dilation */
        {2, 6, 9, 9, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, true, false},   /* groups */
        {1, 8, 10, 10, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, NULL, true, false}, /* depthwise */
        {1, 4, 9, 7, 8, 4, 3, 3, 1, 1, 2, 1, 1, 0, 0, 1, NULL, false, false},  /* dw x2 */
        {1, 3, 9, 10, 5, 1, 3, 4, 2, 3, 1, 1, 0, 0, 0, 0, "SAME_UPPER", true, false},
        {1, 3, 9, 10, 5, 1, 4, 3, 3, 2, 1, 1, 0, 0, 0, 0, "SAME_LOWER", true, false},
        {1, 3, 9, 10, 5, 1, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, "VALID", false, false},
        {3, 4, 1, 50, 6, 2, 1, 5, 1, 2, 1, 2, 0, 3, 0, 1, NULL, true, true}, /* 1-D */
        /* enough pixels for threads and pixel blocks with a tail */
        {1, 16, 61, 67, 24, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, true, false},
        {1, 16, 61, 67, 24, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, true, false},
        {2, 32, 40, 41, 32, 32, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, NULL, true, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *cc = &cases[i];
        int64_t cg = cc->c / cc->group;
        float *x = rand_buf(cc->n * cc->c * cc->h * cc->w, 11 + i);
        float *w = rand_buf(cc->m * cg * cc->kh * cc->kw, 23 + i);
        float *b = rand_buf(cc->m, 31 + i);
        td_graph *g = NULL;
        td_conv_shape s;
        td_status st = run_conv(cc, x, w, b, NULL, TD_ACT_F32, &g, &s);
        TD_CHECK(st == NULL, "case %zu: %s", i, td_status_message(st));
        if (!st) {
            int64_t ny = s.n * s.m * s.oh * s.ow;
            float *ref = malloc((size_t)ny * sizeof *ref);
            td_conv2d_ref(&s, x, w, cc->bias ? b : NULL, ref);
            double e = max_rel_err(oh_f32(g, "y"), ref, ny);
            TD_CHECK(e < 1e-5, "case %zu: max relative error %g", i, e);
            const td_node *n = &g->nodes[0];
            int64_t macs = s.n * s.m * s.oh * s.ow * cg * s.kh * s.kw;
            TD_CHECK(n->cost.macs == macs, "case %zu: macs %lld != %lld", i,
                     (long long)n->cost.macs, (long long)macs);
            int64_t params = s.m * cg * s.kh * s.kw + (cc->bias ? s.m : 0);
            TD_CHECK(n->cost.params == params, "case %zu: params %lld != %lld", i,
                     (long long)n->cost.params, (long long)params);
            free(ref);
        }
        td_status_free(st);
        td_graph_free(g);
        free(x);
        free(w);
        free(b);
    }
    /* SAME_UPPER keeps ceil(in / stride). */
    const conv_case same = {1, 3, 9, 10, 5, 1, 3, 4, 2, 3, 1, 1, 0, 0, 0, 0, "SAME_UPPER", 0, 0};
    float *x = rand_buf(270, 1), *w = rand_buf(180, 2), *b = rand_buf(5, 3);
    td_graph *g = NULL;
    td_conv_shape s;
    TD_CHECK_OK(run_conv(&same, x, w, b, NULL, TD_ACT_F32, &g, &s));
    const td_value *y = oh_val(g, "y");
    TD_CHECK(y && y->shape[2] == 5 && y->shape[3] == 4, "SAME_UPPER output 5x4");
    td_graph_free(g);
    free(x);
    free(w);
    free(b);
}

static void test_conv_hand(void)
{
    /* 3x3 input 1..9, 2x2 kernel of ones, bias 0.5: sums of each 2x2 window. */
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 1, 1, 1}, b[1] = {0.5f};
    const conv_case cc = {1, 1, 3, 3, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, NULL, true, false};
    td_graph *g = NULL;
    td_conv_shape s;
    TD_CHECK_OK(run_conv(&cc, x, w, b, NULL, TD_ACT_F32, &g, &s));
    const float *y = oh_f32(g, "y");
    TD_CHECK(y && y[0] == 12.5f && y[1] == 16.5f && y[2] == 24.5f && y[3] == 28.5f,
             "hand conv: %g %g %g %g", y[0], y[1], y[2], y[3]);
    td_graph_free(g);
}

static void test_conv_qweight(void)
{
    const conv_case cases[] = {
        {2, 8, 9, 11, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, true, false},
        {1, 8, 7, 7, 12, 2, 3, 3, 2, 2, 1, 1, 1, 0, 1, 0, NULL, true, false},
        {1, 64, 5, 6, 16, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, NULL, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *cc = &cases[i];
        int64_t cg = cc->c / cc->group, kk = cg * cc->kh * cc->kw;
        float *x = rand_buf(cc->n * cc->c * cc->h * cc->w, 5 + i);
        float *w = rand_buf(cc->m * kk, 6 + i), *b = rand_buf(cc->m, 7 + i);
        float *wd = malloc((size_t)(cc->m * kk) * sizeof *wd);
        const char *specs[2] = {"int8", "int4:g32"};
        for (int q = 0; q < 2; q++)
            for (int a = 0; a < 2; a++) {
                td_graph *g = NULL;
                td_conv_shape s;
                td_act_type act = a ? TD_ACT_INT8 : TD_ACT_F32;
                td_status st = run_conv(cc, x, w, b, specs[q], act, &g, &s);
                TD_CHECK(st == NULL, "qconv %zu %s: %s", i, specs[q], td_status_message(st));
                if (!st) {
                    TD_CHECK_OK(td_qmatrix_dequantize(g->nodes[0].qweight, wd));
                    int64_t ny = s.n * s.m * s.oh * s.ow;
                    float *ref = malloc((size_t)ny * sizeof *ref);
                    td_conv2d_ref(&s, x, wd, cc->bias ? b : NULL, ref);
                    double e = max_rel_err(oh_f32(g, "y"), ref, ny);
                    /* f32 activations: only rounding; int8 activations: 1/127 per token. */
                    double tol = a ? 2e-2 : 1e-5;
                    TD_CHECK(e < tol, "qconv %zu %s act %d: error %g", i, specs[q], a, e);
                    free(ref);
                }
                td_status_free(st);
                td_graph_free(g);
            }
        free(x);
        free(w);
        free(b);
        free(wd);
    }
}

static void test_conv_errors(void)
{
    struct {
        conv_case cc;
        int64_t wc; /* weight channels per group override (0: right) */
        const char *needle;
    } bad[] = {
        {{1, 3, 8, 8, 4, 1, 3, 3, -1, 1, 1, 1, 0, 0, 0, 0, NULL, 0, 0}, 0, "strides"},
        {{1, 3, 4, 4, 4, 1, 7, 7, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 0, 0}, 0, "larger than"},
        {{1, 3, 8, 8, 4, 2, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, NULL, 0, 0}, 0, "group"},
        {{1, 4, 8, 8, 4, 1, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, NULL, 0, 0}, 3, "weight shape"},
        {{1, 4, 8, 8, 4, 1, 3, 3, 1, 1, 0, 1, 0, 0, 0, 0, NULL, 0, 0}, 0, "dilations"},
        {{1, 4, 8, 8, 4, 1, 3, 3, 1, 1, 1, 1, -1, 0, 0, 0, NULL, 0, 0}, 0, "pads"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const conv_case *cc = &bad[i].cc;
        int64_t cg = bad[i].wc ? bad[i].wc : cc->c / cc->group;
        if (cc->group == 2)
            cg = 1;
        td_graph *g;
        TD_CHECK_OK(td_graph_new("t", &g));
        int64_t xs[4] = {cc->n, cc->c, cc->h, cc->w}, ws[4] = {cc->m, cg, cc->kh, cc->kw};
        float *x = rand_buf(cc->n * cc->c * cc->h * cc->w, 1);
        float *w = rand_buf(cc->m * cg * cc->kh * cc->kw, 2);
        oh_input(g, "x", TD_DT_F32, 4, xs, x);
        oh_const(g, "w", TD_DT_F32, 4, ws, w);
        const char *ins[2] = {"x", "w"};
        td_node *n = oh_node(g, "bad_conv", "Conv", 2, ins, "y");
        int64_t st[2] = {cc->sh, cc->sw}, dl[2] = {cc->dh, cc->dw};
        int64_t pads[4] = {cc->pt, cc->pl, cc->pb, cc->pr};
        TD_CHECK_OK(td_node_set_ints(n, "strides", st, 2));
        TD_CHECK_OK(td_node_set_ints(n, "dilations", dl, 2));
        TD_CHECK_OK(td_node_set_ints(n, "pads", pads, 4));
        TD_CHECK_OK(td_node_set_int(n, "group", cc->group));
        td_status s = oh_exec(g, 1);
        TD_CHECK(s != NULL && strstr(td_status_message(s), "bad_conv") &&
                     strstr(td_status_message(s), bad[i].needle),
                 "bad conv %zu: '%s' should name the node and '%s'", i, td_status_message(s),
                 bad[i].needle);
        td_status_free(s);
        td_graph_free(g);
        free(x);
        free(w);
    }
}

/* Naive Gemm: Y = alpha op(A) op(B) + beta C (C broadcast from cs). */
static void gemm_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *a,
                     const float *b, float beta, const float *c, int cnd, const int64_t *cs,
                     float *y)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc +=
                    (double)(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
            double cv = 0;
            if (c) {
                int64_t ci = cnd == 0   ? 0
                             : cnd == 1 ? (cs[0] == 1 ? 0 : j)
                                        : (cs[0] == 1 ? 0 : i) * cs[1] + (cs[1] == 1 ? 0 : j);
                cv = c[ci];
            }
            y[i * N + j] = (float)(alpha * acc + beta * cv);
        }
}

static void test_gemm(void)
{
    const int64_t M = 37, N = 29, K = 45;
    float *a = rand_buf(M * K, 1), *b = rand_buf(K * N, 2), *c = rand_buf(M * N, 3);
    float *ref = malloc((size_t)(M * N) * sizeof *ref);
    struct {
        int cnd;
        int64_t cs[2];
    } cshapes[] = {{-1, {0, 0}}, {0, {0, 0}}, {1, {N, 0}}, {2, {M, 1}}, {2, {M, N}}, {2, {1, N}}};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t ci = 0; ci < sizeof cshapes / sizeof cshapes[0]; ci++) {
                td_graph *g;
                TD_CHECK_OK(td_graph_new("t", &g));
                int64_t as[2] = {ta ? K : M, ta ? M : K}, bs[2] = {tb ? N : K, tb ? K : N};
                oh_input(g, "a", TD_DT_F32, 2, as, a);
                oh_const(g, "b", TD_DT_F32, 2, bs, b);
                int cnd = cshapes[ci].cnd;
                if (cnd >= 0)
                    oh_const(g, "c", TD_DT_F32, cnd, cshapes[ci].cs, c);
                const char *ins[3] = {"a", "b", "c"};
                td_node *n = oh_node(g, "gemm", "Gemm", cnd >= 0 ? 3 : 2, ins, "y");
                TD_CHECK_OK(td_node_set_int(n, "transA", ta));
                TD_CHECK_OK(td_node_set_int(n, "transB", tb));
                TD_CHECK_OK(td_node_set_float(n, "alpha", 0.75f));
                TD_CHECK_OK(td_node_set_float(n, "beta", -1.5f));
                TD_CHECK_OK(oh_exec(g, 2));
                gemm_ref(ta, tb, M, N, K, 0.75f, a, b, -1.5f, cnd >= 0 ? c : NULL, cnd,
                         cshapes[ci].cs, ref);
                const float *y = oh_f32(g, "y");
                double e = y ? max_rel_err(y, ref, M * N) : 1;
                TD_CHECK(e < 1e-5, "Gemm ta %d tb %d c %zu: error %g", ta, tb, ci, e);
                TD_CHECK(n->cost.macs == M * N * K, "Gemm macs");
                /* The compressor's view of the weight: rows = N, cols = K. */
                float *wm;
                int64_t r, cl;
                TD_CHECK_OK(td_node_weight_matrix(g, &g->nodes[0], &wm, &r, &cl));
                TD_CHECK(r == N && cl == K, "weight matrix %lld x %lld", (long long)r,
                         (long long)cl);
                TD_CHECK(wm && wm[1 * K + 2] == (tb ? b[1 * K + 2] : b[2 * N + 1]),
                         "weight matrix orientation");
                free(wm);
                td_graph_free(g);
            }
    /* Compressed B vs the dequantized weight. */
    for (int tb = 0; tb < 2; tb++) {
        td_graph *g;
        TD_CHECK_OK(td_graph_new("t", &g));
        int64_t as[2] = {K, M}, bs[2] = {tb ? N : K, tb ? K : N}, cs[1] = {N};
        oh_input(g, "a", TD_DT_F32, 2, as, a);
        oh_const(g, "b", TD_DT_F32, 2, bs, b);
        oh_const(g, "c", TD_DT_F32, 1, cs, c);
        const char *ins[3] = {"a", "b", "c"};
        td_node *n = oh_node(g, "qgemm", "Gemm", 3, ins, "y");
        TD_CHECK_OK(td_node_set_int(n, "transA", 1));
        TD_CHECK_OK(td_node_set_int(n, "transB", tb));
        TD_CHECK_OK(td_node_set_float(n, "alpha", 2.0f));
        float *wm;
        int64_t r, cl;
        TD_CHECK_OK(td_node_weight_matrix(g, n, &wm, &r, &cl));
        td_qspec spec;
        TD_CHECK_OK(td_qspec_parse("int8", &spec));
        TD_CHECK_OK(td_qmatrix_quantize(&spec, wm, r, cl, cl, &n->qweight));
        TD_CHECK_OK(td_qmatrix_dequantize(n->qweight, wm));
        TD_CHECK_OK(oh_exec(g, 2));
        gemm_ref(true, true, M, N, K, 2.0f, a, wm, 1.0f, c, 1, cs, ref);
        const float *y = oh_f32(g, "y");
        double e = y ? max_rel_err(y, ref, M * N) : 1;
        TD_CHECK(e < 1e-5, "qGemm tb %d: error %g", tb, e);
        free(wm);
        td_graph_free(g);
    }
    /* K mismatch names the node. */
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    int64_t as[2] = {M, K}, bs[2] = {K + 1, N};
    oh_input(g, "a", TD_DT_F32, 2, as, a);
    oh_const(g, "b", TD_DT_F32, 2, bs, b);
    oh_node(g, "gemm_k", "Gemm", 2, (const char *const[]){"a", "b"}, "y");
    TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_INVALID_ARGUMENT, "gemm_k");
    td_graph_free(g);
    free(a);
    free(b);
    free(c);
    free(ref);
}

static void matmul_case(int na, const int64_t *sa, int nb, const int64_t *sb, int ne,
                        const int64_t *se, const char *qspec)
{
    int64_t ca = td_shape_numel(na, sa), cb = td_shape_numel(nb, sb);
    float *a = rand_buf(ca, 4), *b = rand_buf(cb, 5);
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "a", TD_DT_F32, na, sa, a);
    oh_const(g, "b", TD_DT_F32, nb, sb, b);
    td_node *n = oh_node(g, "mm", "MatMul", 2, (const char *const[]){"a", "b"}, "y");
    float *wq = NULL;
    if (qspec) {
        int64_t r, cl;
        td_qspec spec;
        TD_CHECK_OK(td_node_weight_matrix(g, n, &wq, &r, &cl));
        TD_CHECK_OK(td_qspec_parse(qspec, &spec));
        TD_CHECK_OK(td_qmatrix_quantize(&spec, wq, r, cl, cl, &n->qweight));
        TD_CHECK_OK(td_qmatrix_dequantize(n->qweight, wq));
        for (int64_t i = 0; i < r; i++) /* back to B = W^T for the reference */
            for (int64_t k = 0; k < cl; k++)
                b[k * r + i] = wq[i * cl + k];
    }
    td_status st = oh_exec(g, 2);
    TD_CHECK(st == NULL, "MatMul: %s", td_status_message(st));
    td_status_free(st);
    td_value *y = oh_val(g, "y");
    bool shape_ok = y->ndim == ne;
    for (int i = 0; i < ne && shape_ok; i++)
        shape_ok = y->shape[i] == se[i];
    TD_CHECK(shape_ok, "MatMul rank %d x %d: output shape", na, nb);
    if (shape_ok && y->data) {
        /* Reference: promote 1-D, broadcast batch dims. */
        int64_t M = na >= 2 ? sa[na - 2] : 1, K = sa[na - 1], N = nb >= 2 ? sb[nb - 1] : 1;
        int nba = na >= 2 ? na - 2 : 0, nbb = nb >= 2 ? nb - 2 : 0;
        int nbo = nba > nbb ? nba : nbb;
        int64_t bo[TD_MAX_DIMS], batch = 1;
        for (int d = 0; d < nbo; d++) {
            int64_t da = d - (nbo - nba) >= 0 ? sa[d - (nbo - nba)] : 1;
            int64_t db = d - (nbo - nbb) >= 0 ? sb[d - (nbo - nbb)] : 1;
            bo[d] = da > db ? da : db;
            batch *= bo[d];
        }
        int bad = 0;
        const float *yd = y->data;
        for (int64_t bi = 0; bi < batch; bi++) {
            int64_t ia = 0, ib = 0, sta = 1, stb = 1, rem = bi;
            for (int d = nbo - 1; d >= 0; d--) {
                int64_t cidx = rem % bo[d];
                rem /= bo[d];
                int da = d - (nbo - nba), db = d - (nbo - nbb);
                if (da >= 0) {
                    ia += (sa[da] == 1 ? 0 : cidx) * sta;
                    sta *= sa[da];
                }
                if (db >= 0) {
                    ib += (sb[db] == 1 ? 0 : cidx) * stb;
                    stb *= sb[db];
                }
            }
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double acc = 0;
                    for (int64_t k = 0; k < K; k++)
                        acc += (double)a[(ia * M + i) * K + k] * b[(ib * K + k) * N + j];
                    float got = yd[(bi * M + i) * N + j];
                    bad += !(fabs(got - acc) <= 1e-4 * fmax(1, fabs(acc)));
                }
        }
        TD_CHECK(bad == 0, "MatMul rank %d x %d%s: %d wrong", na, nb, qspec ? " (q)" : "", bad);
        TD_CHECK(g->nodes[0].cost.macs == batch * M * N * K, "MatMul macs");
    }
    td_graph_free(g);
    free(a);
    free(b);
    free(wq);
}

static void test_matmul(void)
{
    matmul_case(2, (int64_t[]){7, 5}, 2, (int64_t[]){5, 3}, 2, (int64_t[]){7, 3}, NULL);
    matmul_case(1, (int64_t[]){5}, 2, (int64_t[]){5, 3}, 1, (int64_t[]){3}, NULL);
    matmul_case(2, (int64_t[]){4, 5}, 1, (int64_t[]){5}, 1, (int64_t[]){4}, NULL);
    matmul_case(1, (int64_t[]){5}, 1, (int64_t[]){5}, 0, NULL, NULL);
    matmul_case(4, (int64_t[]){2, 1, 3, 4}, 3, (int64_t[]){5, 4, 6}, 4, (int64_t[]){2, 5, 3, 6},
                NULL);
    matmul_case(3, (int64_t[]){3, 1, 4}, 3, (int64_t[]){1, 4, 2}, 3, (int64_t[]){3, 1, 2}, NULL);
    matmul_case(3, (int64_t[]){2, 300, 70}, 2, (int64_t[]){70, 90}, 3, (int64_t[]){2, 300, 90},
                NULL);
    matmul_case(2, (int64_t[]){0, 5}, 2, (int64_t[]){5, 3}, 2, (int64_t[]){0, 3}, NULL);
    matmul_case(3, (int64_t[]){2, 9, 64}, 2, (int64_t[]){64, 33}, 3, (int64_t[]){2, 9, 33}, "int8");
    matmul_case(1, (int64_t[]){64}, 2, (int64_t[]){64, 33}, 1, (int64_t[]){33}, "int4:g32");
    /* Incompatible batch dims name the node. */
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    float a[24] = {0};
    oh_input(g, "a", TD_DT_F32, 3, (int64_t[]){2, 3, 4}, a);
    oh_input(g, "b", TD_DT_F32, 3, (int64_t[]){3, 4, 2}, a);
    oh_node(g, "mm_bad", "MatMul", 2, (const char *const[]){"a", "b"}, "y");
    TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_INVALID_ARGUMENT, "mm_bad");
    td_graph_free(g);
}

static td_graph *pool_graph(const char *op, int rank, const int64_t *xs, float *x, int nk,
                            const int64_t *k)
{
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "x", TD_DT_F32, rank, xs, x);
    td_node *n = oh_node(g, "pool", op, 1, (const char *const[]){"x"}, "y");
    if (nk)
        TD_CHECK_OK(td_node_set_ints(n, "kernel_shape", k, nk));
    return g;
}

static void check_out(td_graph *g, const char *what, int n, const float *e)
{
    td_status st = oh_exec(g, 2);
    TD_CHECK(st == NULL, "%s: %s", what, td_status_message(st));
    td_status_free(st);
    const float *y = oh_f32(g, "y");
    td_value *v = oh_val(g, "y");
    TD_CHECK(y && td_shape_numel(v->ndim, v->shape) == n, "%s: output size", what);
    for (int i = 0; y && i < n; i++)
        TD_CHECK(fabsf(y[i] - e[i]) < 1e-6f, "%s [%d] = %g, expected %g", what, i, y[i], e[i]);
}

static void test_pools(void)
{
    float x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    const int64_t xs[4] = {1, 1, 4, 4}, k2[2] = {2, 2}, k3[2] = {3, 3}, s2[2] = {2, 2};
    td_graph *g = pool_graph("MaxPool", 4, xs, x, 2, k2);
    TD_CHECK_OK(td_node_set_ints(&g->nodes[0], "strides", s2, 2));
    check_out(g, "MaxPool 2x2/2", 4, (const float[]){6, 8, 14, 16});
    td_graph_free(g);

    /* ceil_mode: a 3x3 window with stride 2 over 4x4 gives 2x2 (partial last windows). */
    g = pool_graph("AveragePool", 4, xs, x, 2, k3);
    TD_CHECK_OK(td_node_set_ints(&g->nodes[0], "strides", s2, 2));
    TD_CHECK_OK(td_node_set_int(&g->nodes[0], "ceil_mode", 1));
    check_out(g, "AveragePool ceil", 4, (const float[]){6, 7.5f, 12, 13.5f});
    td_graph_free(g);

    /* Pads with and without count_include_pad. */
    const int64_t pads[4] = {1, 1, 1, 1};
    for (int cip = 0; cip < 2; cip++) {
        g = pool_graph("AveragePool", 4, xs, x, 2, k3);
        TD_CHECK_OK(td_node_set_ints(&g->nodes[0], "strides", s2, 2));
        TD_CHECK_OK(td_node_set_ints(&g->nodes[0], "pads", pads, 4));
        TD_CHECK_OK(td_node_set_int(&g->nodes[0], "count_include_pad", cip));
        /* windows rows/cols {-1..1},{1..3}: top-left sums 1+2+5+6 = 14 over 4 or 9 */
        if (cip)
            check_out(g, "AveragePool pad incl", 4,
                      (const float[]){14.0f / 9, 30.0f / 9, 57.0f / 9, 99.0f / 9});
        else
            check_out(g, "AveragePool pad excl", 4,
                      (const float[]){14.0f / 4, 30.0f / 6, 57.0f / 6, 99.0f / 9});
        td_graph_free(g);
    }

    /* MaxPool dilation 2 with Indices output. */
    td_graph_new("t", &g);
    oh_input(g, "x", TD_DT_F32, 4, xs, x);
    int idx = -1;
    TD_CHECK_OK(td_graph_add_node(g, "mp", "MaxPool", 1, (const char *const[]){"x"}, 2,
                                  (const char *const[]){"y", "i"}, &idx));
    TD_CHECK_OK(td_node_set_ints(&g->nodes[0], "kernel_shape", k2, 2));
    TD_CHECK_OK(td_node_set_ints(&g->nodes[0], "dilations", s2, 2));
    check_out(g, "MaxPool dilated", 4, (const float[]){11, 12, 15, 16});
    const int64_t *ind = oh_val(g, "i")->data;
    TD_CHECK(ind && ind[0] == 10 && ind[3] == 15, "MaxPool indices");
    td_graph_free(g);

    /* 1-D, SAME_UPPER. */
    const int64_t xs1[3] = {1, 1, 5}, k1[1] = {2};
    g = pool_graph("MaxPool", 3, xs1, x, 1, k1);
    TD_CHECK_OK(td_node_set_string(&g->nodes[0], "auto_pad", "SAME_UPPER"));
    check_out(g, "MaxPool 1-D SAME_UPPER", 5, (const float[]){2, 3, 4, 5, 5});
    td_graph_free(g);

    /* Global pools over 2x2x2 spatial (rank 5 is fine for them). */
    const int64_t xs5[5] = {1, 2, 2, 2, 2};
    g = pool_graph("GlobalAveragePool", 5, xs5, x, 0, NULL);
    check_out(g, "GlobalAveragePool", 2, (const float[]){4.5f, 12.5f});
    td_graph_free(g);
    g = pool_graph("GlobalMaxPool", 5, xs5, x, 0, NULL);
    check_out(g, "GlobalMaxPool", 2, (const float[]){8, 16});
    td_graph_free(g);

    /* Kernel larger than the padded input names the node. */
    const int64_t k5[2] = {5, 5};
    g = pool_graph("MaxPool", 4, xs, x, 2, k5);
    TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_INVALID_ARGUMENT, "'pool'");
    td_graph_free(g);
}

static void test_batchnorm(void)
{
    const int64_t xs[4] = {2, 3, 2, 2}, cs[1] = {3};
    float *x = rand_buf(24, 9);
    float sc[3] = {1, 2, -1}, bb[3] = {0, 0.5f, 1}, mean[3] = {0.1f, -0.2f, 0.3f},
          var[3] = {1, 0.25f, 4};
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "x", TD_DT_F32, 4, xs, x);
    oh_const(g, "s", TD_DT_F32, 1, cs, sc);
    oh_const(g, "b", TD_DT_F32, 1, cs, bb);
    oh_const(g, "m", TD_DT_F32, 1, cs, mean);
    oh_const(g, "v", TD_DT_F32, 1, cs, var);
    const char *ins[5] = {"x", "s", "b", "m", "v"};
    td_node *n = oh_node(g, "bn", "BatchNormalization", 5, ins, "y");
    TD_CHECK_OK(td_node_set_float(n, "epsilon", 1e-3f));
    TD_CHECK_OK(oh_exec(g, 1));
    const float *y = oh_f32(g, "y");
    for (int i = 0; y && i < 24; i++) {
        int c = (i / 4) % 3;
        double e = (x[i] - mean[c]) / sqrt(var[c] + 1e-3) * sc[c] + bb[c];
        TD_CHECK(fabs(y[i] - e) < 1e-5, "BN [%d] = %g, expected %g", i, y[i], e);
    }
    TD_CHECK(n->cost.params == 12, "BN params");
    td_graph_free(g);

    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "x", TD_DT_F32, 4, xs, x);
    oh_const(g, "s", TD_DT_F32, 1, cs, sc);
    oh_const(g, "b", TD_DT_F32, 1, cs, bb);
    oh_const(g, "m", TD_DT_F32, 1, cs, mean);
    oh_const(g, "v", TD_DT_F32, 1, cs, var);
    n = oh_node(g, "bn_train", "BatchNormalization", 5, ins, "y");
    TD_CHECK_OK(td_node_set_int(n, "training_mode", 1));
    TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_UNSUPPORTED, "bn_train");
    td_graph_free(g);
    free(x);
}

static void test_weight_matrix(void)
{
    /* Conv: rows = Cout, cols = Cin/group * kh * kw, the weight as stored. */
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    float *w = rand_buf(6 * 2 * 3 * 3, 1), *x = rand_buf(4 * 25, 2);
    oh_input(g, "x", TD_DT_F32, 4, (int64_t[]){1, 4, 5, 5}, x);
    oh_const(g, "w", TD_DT_F32, 4, (int64_t[]){6, 2, 3, 3}, w);
    td_node *n = oh_node(g, "c", "Conv", 2, (const char *const[]){"x", "w"}, "y");
    TD_CHECK_OK(td_node_set_int(n, "group", 2));
    float *m;
    int64_t r, c;
    TD_CHECK_OK(td_node_weight_matrix(g, n, &m, &r, &c));
    TD_CHECK(r == 6 && c == 18 && m && memcmp(m, w, 108 * sizeof *w) == 0, "conv weight matrix");
    free(m);
    /* Not a weighted op. */
    oh_node(g, "r", "Relu", 1, (const char *const[]){"y"}, "z");
    TD_CHECK_ERROR(td_node_weight_matrix(g, &g->nodes[1], &m, &r, &c), TD_CODE_INVALID_ARGUMENT,
                   "'r'");
    td_graph_free(g);
    free(w);
    free(x);
}

int main(void)
{
    test_conv_hand();
    test_conv_vs_ref();
    test_conv_qweight();
    test_conv_errors();
    test_gemm();
    test_matmul();
    test_pools();
    test_batchnorm();
    test_weight_matrix();
    return td_test_finish("test_ops_nn");
}
