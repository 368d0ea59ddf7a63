/* Elementwise operators: numpy broadcasting (edge cases, zero-size dims), integer arithmetic
 * semantics, every unary op against its libm formula, Where and comparisons, in-place runs
 * and errors that name the node. */
#include "ops_harness.h"

/* Output element o of shape (nd, shape) read from an input of (ni, ishape): numpy rules. */
static int64_t bcast_index(int nd, const int64_t *shape, int64_t o, int ni, const int64_t *ishape)
{
    int64_t idx = 0, stride = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t c = o % shape[d];
        o /= shape[d];
        int di = d - (nd - ni);
        if (di >= 0) {
            if (ishape[di] != 1)
                idx += c * stride;
            stride *= ishape[di];
        }
    }
    return idx;
}

static void fill(float *x, int64_t n, uint64_t seed)
{
    td_rng r = {seed};
    for (int64_t i = 0; i < n; i++)
        x[i] = td_rng_uniform(&r) * 4.0f;
}

static float ref_bin(const char *op, float a, float b)
{
    if (!strcmp(op, "Add"))
        return a + b;
    if (!strcmp(op, "Sub"))
        return a - b;
    if (!strcmp(op, "Mul"))
        return a * b;
    if (!strcmp(op, "Div"))
        return a / b;
    return powf(a, b);
}

/* One binary op over two shapes, checked element by element against bcast_index. */
static void check_binary(const char *op, int na, const int64_t *sa, int nb, const int64_t *sb,
                         int threads)
{
    int64_t ca = td_shape_numel(na, sa), cb = td_shape_numel(nb, sb);
    float *a = malloc((size_t)(ca + 1) * 4), *b = malloc((size_t)(cb + 1) * 4);
    fill(a, ca, 1);
    fill(b, cb, 2);
    if (!strcmp(op, "Pow"))
        for (int64_t i = 0; i < ca; i++)
            a[i] = fabsf(a[i]) + 0.1f;
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "a", TD_DT_F32, na, sa, a);
    oh_input(g, "b", TD_DT_F32, nb, sb, b);
    const char *ins[2] = {"a", "b"};
    oh_node(g, "bin", op, 2, ins, "y");
    td_status st = oh_exec(g, threads);
    TD_CHECK(st == NULL, "%s: %s", op, td_status_message(st));
    td_status_free(st);
    td_value *y = oh_val(g, "y");
    if (!st && y) {
        int64_t cy = td_shape_numel(y->ndim, y->shape);
        int bad = 0;
        for (int64_t o = 0; o < cy; o++) {
            float e = ref_bin(op, a[bcast_index(y->ndim, y->shape, o, na, sa)],
                              b[bcast_index(y->ndim, y->shape, o, nb, sb)]);
            bad += ((float *)y->data)[o] != e;
        }
        TD_CHECK(bad == 0, "%s rank %d x rank %d: %d of %lld wrong", op, na, nb, bad,
                 (long long)cy);
        TD_CHECK(g->nodes[0].cost.flops_other == cy, "flops_other %lld != %lld",
                 (long long)g->nodes[0].cost.flops_other, (long long)cy);
    }
    td_graph_free(g);
    free(a);
    free(b);
}

static void test_broadcasting(void)
{
    const int64_t s234[] = {2, 3, 4}, s31[] = {3, 1}, s4[] = {4}, s1[] = {1}, s5[] = {5};
    const int64_t s214[] = {2, 1, 4}, s131[] = {1, 3, 1}, sbig[] = {3, 70001};
    const int64_t s1big[] = {1, 70001}, s3x1[] = {3, 1}, s41[] = {4, 1}, s15[] = {1, 5};
    const char *ops[] = {"Add", "Sub", "Mul", "Div", "Pow"};
    for (int i = 0; i < 5; i++) {
        check_binary(ops[i], 3, s234, 3, s234, 2);
        check_binary(ops[i], 3, s234, 2, s31, 2);
        check_binary(ops[i], 1, s4, 3, s234, 2);
        check_binary(ops[i], 0, NULL, 3, s234, 2); /* scalar */
        check_binary(ops[i], 3, s234, 0, NULL, 2);
        check_binary(ops[i], 1, s1, 1, s5, 2);
        check_binary(ops[i], 3, s214, 3, s131, 2);
        check_binary(ops[i], 2, s41, 2, s15, 2); /* outer product */
    }
    /* Large: the threaded chunked path, with a row vector and a column broadcast. */
    check_binary("Add", 2, sbig, 2, sbig, 2);
    check_binary("Mul", 2, sbig, 2, s1big, 2);
    check_binary("Sub", 2, sbig, 2, s3x1, 2);
    check_binary("Div", 2, sbig, 0, NULL, 2);
}

static void test_zero_size_and_errors(void)
{
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    const int64_t s03[] = {0, 3}, s3[] = {3}, s23[] = {2, 3}, s4[] = {4};
    float b[3] = {1, 2, 3};
    oh_input(g, "a", TD_DT_F32, 2, s03, NULL);
    oh_input(g, "b", TD_DT_F32, 1, s3, b);
    const char *ins[2] = {"a", "b"};
    oh_node(g, "zadd", "Add", 2, ins, "y");
    TD_CHECK_OK(oh_exec(g, 2));
    td_value *y = oh_val(g, "y");
    TD_CHECK(y->ndim == 2 && y->shape[0] == 0 && y->shape[1] == 3, "zero-size shape");
    td_graph_free(g);

    TD_CHECK_OK(td_graph_new("t", &g));
    float a[6] = {0}, c[4] = {0};
    oh_input(g, "a", TD_DT_F32, 2, s23, a);
    oh_input(g, "b", TD_DT_F32, 1, s4, c);
    oh_node(g, "bad_add", "Add", 2, ins, "y");
    TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_INVALID_ARGUMENT, "bad_add");
    td_graph_free(g);

    /* Mixed types are not silently converted. */
    TD_CHECK_OK(td_graph_new("t", &g));
    int64_t ia[3] = {0};
    oh_input(g, "a", TD_DT_I64, 1, s3, ia);
    oh_input(g, "b", TD_DT_F32, 1, s3, b);
    oh_node(g, "mixed", "Mul", 2, ins, "y");
    TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_UNSUPPORTED, "mixed");
    td_graph_free(g);
}

static void test_integer_arith(void)
{
    int64_t a[6] = {-7, 7, -7, 7, 5, INT64_MIN}, b[6] = {2, -2, -2, 2, 0, -1};
    const int64_t s6[] = {6};
    const char *ops[4] = {"Div", "Add", "Sub", "Mul"};
    int64_t expect[4][6] = {{-3, -3, 3, 3, 0, INT64_MIN},
                            {-5, 5, -9, 9, 5, INT64_MAX},
                            {-9, 9, -5, 5, 5, INT64_MIN + 1},
                            {-14, -14, 14, 14, 0, INT64_MIN}};
    for (int k = 0; k < 4; k++) {
        td_graph *g;
        TD_CHECK_OK(td_graph_new("t", &g));
        oh_input(g, "a", TD_DT_I64, 1, s6, a);
        oh_input(g, "b", TD_DT_I64, 1, s6, b);
        const char *ins[2] = {"a", "b"};
        oh_node(g, "int", ops[k], 2, ins, "y");
        TD_CHECK_OK(oh_exec(g, 1));
        const int64_t *y = oh_val(g, "y")->data;
        TD_CHECK(oh_val(g, "y")->dtype == TD_DT_I64, "int64 output");
        for (int i = 0; i < 6 && y; i++)
            TD_CHECK(y[i] == expect[k][i], "int64 %s [%d]: %lld != %lld", ops[k], i,
                     (long long)y[i], (long long)expect[k][i]);
        td_graph_free(g);
    }
    /* int32 with a scalar broadcast: truncating division. */
    int32_t a32[4] = {-7, 7, 9, -1}, b32 = 2;
    const int64_t s4[] = {4};
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "a", TD_DT_I32, 1, s4, a32);
    oh_input(g, "b", TD_DT_I32, 0, NULL, &b32);
    const char *ins[2] = {"a", "b"};
    oh_node(g, "div32", "Div", 2, ins, "y");
    TD_CHECK_OK(oh_exec(g, 1));
    const int32_t *y = oh_val(g, "y")->data;
    int32_t e32[4] = {-3, 3, 4, 0};
    for (int i = 0; i < 4 && y; i++)
        TD_CHECK(y[i] == e32[i], "int32 div [%d]: %d", i, y[i]);
    td_graph_free(g);

    /* Pow with an integer exponent tensor. */
    float base[3] = {2.0f, -3.0f, 0.5f};
    int64_t ex[3] = {3, 2, -1};
    const int64_t s3[] = {3};
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "a", TD_DT_F32, 1, s3, base);
    oh_input(g, "b", TD_DT_I64, 1, s3, ex);
    oh_node(g, "powi", "Pow", 2, ins, "y");
    TD_CHECK_OK(oh_exec(g, 1));
    const float *yf = oh_f32(g, "y");
    TD_CHECK(yf && yf[0] == 8.0f && yf[1] == 9.0f && yf[2] == 2.0f, "Pow int exponent");
    td_graph_free(g);
}

static double ref_unary(const char *op, double x)
{
    if (!strcmp(op, "Relu"))
        return x < 0 ? 0 : x;
    if (!strcmp(op, "Sigmoid"))
        return 1 / (1 + exp(-x));
    if (!strcmp(op, "Tanh"))
        return tanh(x);
    if (!strcmp(op, "Erf"))
        return erf(x);
    if (!strcmp(op, "Sqrt"))
        return sqrt(fabs(x));
    if (!strcmp(op, "Exp"))
        return exp(x);
    if (!strcmp(op, "Log"))
        return log(fabs(x));
    if (!strcmp(op, "Neg"))
        return -x;
    if (!strcmp(op, "Abs"))
        return fabs(x);
    if (!strcmp(op, "Reciprocal"))
        return 1 / x;
    if (!strcmp(op, "HardSwish"))
        return x * fmax(0, fmin(1, x / 6 + 0.5));
    if (!strcmp(op, "Softplus"))
        return log1p(exp(x));
    if (!strcmp(op, "Softsign"))
        return x / (1 + fabs(x));
    if (!strcmp(op, "Floor"))
        return floor(x);
    if (!strcmp(op, "Ceil"))
        return ceil(x);
    if (!strcmp(op, "Sign"))
        return x > 0 ? 1 : x < 0 ? -1 : 0;
    if (!strcmp(op, "Sin"))
        return sin(x);
    if (!strcmp(op, "Cos"))
        return cos(x);
    if (!strcmp(op, "Elu"))
        return x < 0 ? exp(x) - 1 : x;
    if (!strcmp(op, "Gelu"))
        return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    if (!strcmp(op, "LeakyRelu"))
        return x < 0 ? 0.01 * x : x;
    if (!strcmp(op, "HardSigmoid"))
        return fmax(0, fmin(1, 0.2 * x + 0.5));
    if (!strcmp(op, "Selu"))
        return 1.0507009873554805 * (x <= 0 ? 1.6732632423543772 * (exp(x) - 1) : x);
    return NAN;
}

static void run_unary(const char *op, const float *x, int64_t n, float *y, const char *attr,
                      const char *sval, float fval, int threads)
{
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "x", TD_DT_F32, 1, &n, (void *)x);
    const char *ins[1] = {"x"};
    td_node *nd = oh_node(g, "un", op, 1, ins, "y");
    if (nd && attr && sval)
        TD_CHECK_OK(td_node_set_string(nd, attr, sval));
    else if (nd && attr)
        TD_CHECK_OK(td_node_set_float(nd, attr, fval));
    TD_CHECK_OK(oh_exec(g, threads));
    const float *r = oh_f32(g, "y");
    if (r)
        memcpy(y, r, (size_t)n * sizeof *y);
    td_graph_free(g);
}

static void test_unary(void)
{
    enum { N = 100003 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    fill(x, N, 7);
    x[0] = 0, x[1] = -0.5f, x[2] = 1.5f, x[3] = 2.5f, x[4] = -30.0f, x[5] = 30.0f;
    const char *ops[] = {"Relu",       "Sigmoid",     "Tanh",     "Erf",       "Neg",      "Abs",
                         "Reciprocal", "Exp",         "Softplus", "HardSwish", "Softsign", "Floor",
                         "Ceil",       "Sign",        "Sin",      "Cos",       "Elu",      "Gelu",
                         "LeakyRelu",  "HardSigmoid", "Selu"};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        memset(y, 0, N * sizeof *y);
        run_unary(ops[k], x, N, y, NULL, NULL, 0, 2);
        int bad = 0;
        for (int64_t i = 0; i < N; i++) {
            double e = ref_unary(ops[k], x[i]);
            if (!((double)y[i] == e || fabs(y[i] - e) <= 2e-6 * fmax(1.0, fabs(e))))
                bad++;
        }
        TD_CHECK(bad == 0, "%s: %d values off", ops[k], bad);
    }
    /* Sqrt and Log on positive inputs. */
    for (int64_t i = 0; i < N; i++)
        x[i] = fabsf(x[i]) + 1e-3f;
    const char *pos[] = {"Sqrt", "Log"};
    for (int k = 0; k < 2; k++) {
        run_unary(pos[k], x, N, y, NULL, NULL, 0, 2);
        int bad = 0;
        for (int64_t i = 0; i < N; i++)
            bad += !(fabs(y[i] - ref_unary(pos[k], x[i])) <= 2e-6 * fmax(1, fabs(y[i])));
        TD_CHECK(bad == 0, "%s: %d values off", pos[k], bad);
    }
    free(x);
    free(y);

    float v[6] = {-2.0f, -0.5f, 0.0f, 0.5f, 2.5f, -2.5f}, r[6];
    run_unary("Gelu", v, 6, r, "approximate", "tanh", 0, 1);
    for (int i = 0; i < 6; i++) {
        double xv = v[i];
        double e = 0.5 * xv * (1 + tanh(sqrt(2 / M_PI) * (xv + 0.044715 * xv * xv * xv)));
        TD_CHECK(fabs(r[i] - e) < 1e-6, "Gelu tanh(%g) = %g, expected %g", xv, r[i], e);
    }
    run_unary("LeakyRelu", v, 6, r, "alpha", NULL, 0.5f, 1);
    TD_CHECK(r[0] == -1.0f && r[4] == 2.5f, "LeakyRelu alpha 0.5");
    run_unary("Round", v, 6, r, NULL, NULL, 0, 1);
    TD_CHECK(r[1] == -0.0f && r[3] == 0.0f && r[4] == 2.0f && r[5] == -2.0f,
             "Round halves to even: %g %g %g %g", r[1], r[3], r[4], r[5]);
    run_unary("HardSigmoid", v, 6, r, "alpha", NULL, 0.5f, 1);
    TD_CHECK(r[0] == 0.0f && r[3] == 0.75f && r[4] == 1.0f, "HardSigmoid alpha 0.5");
    /* Softplus stays finite far out. */
    float big[2] = {100.0f, -100.0f};
    run_unary("Softplus", big, 2, r, NULL, NULL, 0, 1);
    TD_CHECK(r[0] == 100.0f && r[1] >= 0 && r[1] < 1e-30f, "Softplus extremes %g %g", r[0], r[1]);

    /* Bad attribute names the node. */
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    int64_t n6 = 6;
    oh_input(g, "x", TD_DT_F32, 1, &n6, v);
    const char *ins[1] = {"x"};
    td_node *nd = oh_node(g, "gelu_bad", "Gelu", 1, ins, "y");
    TD_CHECK_OK(td_node_set_string(nd, "approximate", "fast"));
    TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_INVALID_ARGUMENT, "gelu_bad");
    td_graph_free(g);
}

static void test_clip(void)
{
    float x[5] = {-3, -1, 0, 1, 3}, lo = -1.5f, hi = 0.5f;
    const int64_t s5[] = {5};
    /* Both bounds, only max (min omitted), then neither. */
    const char *variants[3][3] = {{"x", "lo", "hi"}, {"x", "", "hi"}, {"x", NULL, NULL}};
    const float expect[3][5] = {
        {-1.5f, -1, 0, 0.5f, 0.5f}, {-3, -1, 0, 0.5f, 0.5f}, {-3, -1, 0, 1, 3}};
    for (int k = 0; k < 3; k++) {
        td_graph *g;
        TD_CHECK_OK(td_graph_new("t", &g));
        oh_input(g, "x", TD_DT_F32, 1, s5, x);
        oh_const(g, "lo", TD_DT_F32, 0, NULL, &lo);
        oh_const(g, "hi", TD_DT_F32, 0, NULL, &hi);
        oh_node(g, "clip", "Clip", k == 2 ? 1 : 3, variants[k], "y");
        TD_CHECK_OK(oh_exec(g, 1));
        const float *y = oh_f32(g, "y");
        for (int i = 0; i < 5 && y; i++)
            TD_CHECK(y[i] == expect[k][i], "Clip variant %d [%d] = %g", k, i, y[i]);
        td_graph_free(g);
    }
    /* Opset < 11: bounds as attributes. */
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "x", TD_DT_F32, 1, s5, x);
    const char *ins[1] = {"x"};
    td_node *n = oh_node(g, "clip6", "Clip", 1, ins, "y");
    TD_CHECK_OK(td_node_set_float(n, "min", 0.0f));
    TD_CHECK_OK(td_node_set_float(n, "max", 2.0f));
    TD_CHECK_OK(oh_exec(g, 1));
    const float *y = oh_f32(g, "y");
    TD_CHECK(y && y[0] == 0 && y[3] == 1 && y[4] == 2, "Clip attributes");
    td_graph_free(g);
}

static void test_where_compare(void)
{
    /* cond [2,1] broadcasts against int64 X [1,3] and scalar Y. */
    uint8_t cond[2] = {1, 0};
    int64_t xv[3] = {10, 20, 30}, yv = -1;
    const int64_t s21[] = {2, 1}, s13[] = {1, 3};
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "c", TD_DT_BOOL, 2, s21, cond);
    oh_input(g, "x", TD_DT_I64, 2, s13, xv);
    oh_input(g, "y", TD_DT_I64, 0, NULL, &yv);
    const char *ins[3] = {"c", "x", "y"};
    oh_node(g, "where", "Where", 3, ins, "o");
    TD_CHECK_OK(oh_exec(g, 2));
    td_value *o = oh_val(g, "o");
    TD_CHECK(o->dtype == TD_DT_I64 && o->ndim == 2 && o->shape[0] == 2 && o->shape[1] == 3,
             "Where shape");
    const int64_t *od = o->data;
    const int64_t expect[6] = {10, 20, 30, -1, -1, -1};
    for (int i = 0; i < 6 && od; i++)
        TD_CHECK(od[i] == expect[i], "Where [%d] = %lld", i, (long long)od[i]);
    td_graph_free(g);

    /* Non-bool condition is an error naming the node. */
    TD_CHECK_OK(td_graph_new("t", &g));
    float fc[2] = {1, 0};
    oh_input(g, "c", TD_DT_F32, 2, s21, fc);
    oh_input(g, "x", TD_DT_I64, 2, s13, xv);
    oh_input(g, "y", TD_DT_I64, 0, NULL, &yv);
    oh_node(g, "where_f", "Where", 3, ins, "o");
    TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_UNSUPPORTED, "where_f");
    td_graph_free(g);

    /* Comparisons give bool; a [3] row against a [2,1] column. */
    float a[3] = {1, 2, 3}, b[2] = {2, 1};
    const int64_t s3[] = {3}, s2x1[] = {2, 1};
    const char *cmp[3] = {"Equal", "Less", "Greater"};
    const uint8_t ce[3][6] = {{0, 1, 0, 1, 0, 0}, {1, 0, 0, 0, 0, 0}, {0, 0, 1, 0, 1, 1}};
    for (int k = 0; k < 3; k++) {
        TD_CHECK_OK(td_graph_new("t", &g));
        oh_input(g, "a", TD_DT_F32, 1, s3, a);
        oh_input(g, "b", TD_DT_F32, 2, s2x1, b);
        const char *bi[2] = {"a", "b"};
        oh_node(g, "cmp", cmp[k], 2, bi, "o");
        TD_CHECK_OK(oh_exec(g, 1));
        o = oh_val(g, "o");
        TD_CHECK(o->dtype == TD_DT_BOOL, "%s gives bool", cmp[k]);
        const uint8_t *r = o->data;
        for (int i = 0; i < 6 && r; i++)
            TD_CHECK(r[i] == ce[k][i], "%s [%d] = %d", cmp[k], i, r[i]);
        td_graph_free(g);
    }
}

static void test_inplace_identity(void)
{
    /* TD_OPF_INPLACE: running with out == in gives the same result. */
    float x[1000], y[1000], b[10];
    fill(x, 1000, 3);
    fill(b, 10, 4);
    const int64_t s[] = {100, 10}, sb[] = {10};
    const char *names[2] = {"Sigmoid", "Add"};
    for (int k = 0; k < 2; k++) {
        td_graph *g;
        TD_CHECK_OK(td_graph_new("t", &g));
        oh_input(g, "x", TD_DT_F32, 2, s, x);
        oh_input(g, "b", TD_DT_F32, 1, sb, b);
        const char *ins[2] = {"x", "b"};
        td_node *n = oh_node(g, "ip", names[k], k + 1, ins, "y");
        TD_CHECK(n && (n->def->flags & TD_OPF_INPLACE), "%s is in-place", names[k]);
        TD_CHECK_OK(oh_exec(g, 1));
        memcpy(y, oh_f32(g, "y"), sizeof y);
        float z[1000];
        memcpy(z, x, sizeof z);
        td_view in[2] = {{TD_DT_F32, 2, {100, 10}, z}, {TD_DT_F32, 1, {10}, b}};
        td_view out[1] = {{TD_DT_F32, 2, {100, 10}, z}};
        td_ctx ctx = td_ctx_default();
        td_op_run rc = {&ctx, NULL, 0, NULL};
        TD_CHECK_OK(n->def->run(&rc, n, in, out));
        td_op_run_release(&rc);
        TD_CHECK(memcmp(y, z, sizeof z) == 0, "%s in place differs", names[k]);
        td_graph_free(g);
    }
    /* Identity is a view op and copies any dtype. */
    int64_t iv[4] = {1, -2, 3, -4};
    const int64_t s4[] = {4};
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "x", TD_DT_I64, 1, s4, iv);
    const char *ins[1] = {"x"};
    td_node *n = oh_node(g, "id", "Identity", 1, ins, "y");
    TD_CHECK(n && (n->def->flags & TD_OPF_VIEW), "Identity is a view");
    oh_node(g, "neg", "Neg", 1, (const char *const[]){"y"}, "z");
    TD_CHECK_OK(oh_exec(g, 1));
    const int64_t *z = oh_val(g, "z")->data;
    TD_CHECK(z && z[0] == -1 && z[1] == 2 && z[3] == 4, "Identity then int64 Neg");
    td_graph_free(g);
}

static void test_more_ops(void)
{
    /* Mod: Python sign (divisor's) by default, C sign with fmod=1. */
    int64_t a[4] = {-7, 7, -7, 7}, b[4] = {3, -3, -3, 3};
    const int64_t s4[] = {4};
    const int64_t py[4] = {2, -2, -1, 1}, c[4] = {-1, 1, -1, 1};
    for (int fm = 0; fm < 2; fm++) {
        td_graph *g;
        TD_CHECK_OK(td_graph_new("t", &g));
        oh_input(g, "a", TD_DT_I64, 1, s4, a);
        oh_input(g, "b", TD_DT_I64, 1, s4, b);
        td_node *n = oh_node(g, "mod", "Mod", 2, (const char *const[]){"a", "b"}, "y");
        TD_CHECK_OK(td_node_set_int(n, "fmod", fm));
        TD_CHECK_OK(oh_exec(g, 1));
        const int64_t *y = oh_val(g, "y")->data;
        for (int i = 0; y && i < 4; i++)
            TD_CHECK(y[i] == (fm ? c : py)[i], "Mod fmod=%d [%d] = %lld", fm, i, (long long)y[i]);
        td_graph_free(g);
    }
    /* Max/Min/Sum/Mean over three broadcast inputs: [2,1], [3], scalar. */
    float x0[2] = {1, 5}, x1[3] = {0, 3, 6}, x2 = 2;
    const int64_t s21[] = {2, 1}, s3[] = {3};
    const char *ops[4] = {"Max", "Min", "Sum", "Mean"};
    const float e[4][6] = {{2, 3, 6, 5, 5, 6},
                           {0, 1, 1, 0, 2, 2},
                           {3, 6, 9, 7, 10, 13},
                           {1, 2, 3, 7.0f / 3, 10.0f / 3, 13.0f / 3}};
    for (int k = 0; k < 4; k++) {
        td_graph *g;
        TD_CHECK_OK(td_graph_new("t", &g));
        oh_input(g, "a", TD_DT_F32, 2, s21, x0);
        oh_input(g, "b", TD_DT_F32, 1, s3, x1);
        oh_input(g, "c", TD_DT_F32, 0, NULL, &x2);
        oh_node(g, "var", ops[k], 3, (const char *const[]){"a", "b", "c"}, "y");
        TD_CHECK_OK(oh_exec(g, 1));
        const float *y = oh_f32(g, "y");
        for (int i = 0; y && i < 6; i++)
            TD_CHECK(fabsf(y[i] - e[k][i]) < 1e-6f, "%s [%d] = %g", ops[k], i, y[i]);
        td_graph_free(g);
    }
    /* PRelu with a per-channel slope [2,1] over [2,2]. */
    float px[4] = {-1, 2, -3, 4}, sl[2] = {0.5f, 2};
    const int64_t s22[] = {2, 2};
    td_graph *g;
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "x", TD_DT_F32, 2, s22, px);
    oh_const(g, "s", TD_DT_F32, 2, s21, sl);
    oh_node(g, "prelu", "PRelu", 2, (const char *const[]){"x", "s"}, "y");
    TD_CHECK_OK(oh_exec(g, 1));
    const float *y = oh_f32(g, "y");
    TD_CHECK(y && y[0] == -0.5f && y[1] == 2 && y[2] == -6 && y[3] == 4, "PRelu");
    TD_CHECK(g->nodes[0].cost.params == 2, "PRelu slope counts as parameters");
    td_graph_free(g);
    /* IsInf with detect_negative=0 gives bool. */
    float iv[4] = {INFINITY, -INFINITY, NAN, 1};
    TD_CHECK_OK(td_graph_new("t", &g));
    oh_input(g, "x", TD_DT_F32, 1, s4, iv);
    td_node *n = oh_node(g, "isinf", "IsInf", 1, (const char *const[]){"x"}, "y");
    TD_CHECK_OK(td_node_set_int(n, "detect_negative", 0));
    TD_CHECK_OK(oh_exec(g, 1));
    const uint8_t *bv = oh_val(g, "y")->data;
    TD_CHECK(oh_val(g, "y")->dtype == TD_DT_BOOL && bv && bv[0] == 1 && bv[1] == 0 && bv[2] == 0 &&
                 bv[3] == 0,
             "IsInf");
    td_graph_free(g);
}

int main(void)
{
    test_more_ops();
    test_broadcasting();
    test_zero_size_and_errors();
    test_integer_arith();
    test_unary();
    test_clip();
    test_where_compare();
    test_inplace_identity();
    return td_test_finish("test_ops_elementwise");
}
