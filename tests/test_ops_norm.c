/* Normalization and reduction operators through their table entries, against values computed
 * by hand or in double precision here. */

#include "ops_case.h"

static bool close_to(const td_view *v, const double *want, int64_t n, double tol)
{
    if (v->dtype != TD_DT_F32 || td_view_numel(v) != n)
        return false;
    for (int64_t i = 0; i < n; i++) {
        double y = ((const float *)v->data)[i];
        if (!(fabs(y - want[i]) <= tol * (1 + fabs(want[i]))))
            return false;
    }
    return true;
}

static const char *X[] = {"x"}, *XA[] = {"x", "a"}, *Y[] = {"y"};
static const float F24[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                            12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};

/* Reference softmax of x (2x3x4 = F24 scaled) along `axis` (rank-3) into want. */
static void ref_softmax(const float *x, int axis, bool coerce, bool lg, double *want)
{
    int64_t sh[3] = {2, 3, 4};
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < 3; d++) {
        if (d < axis)
            outer *= sh[d];
        else if (d == axis || coerce)
            len *= sh[d];
        else
            inner *= sh[d];
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double mx = -INFINITY, s = 0;
            for (int64_t k = 0; k < len; k++)
                mx = fmax(mx, x[(o * len + k) * inner + i]);
            for (int64_t k = 0; k < len; k++)
                s += exp(x[(o * len + k) * inner + i] - mx);
            for (int64_t k = 0; k < len; k++) {
                double e = x[(o * len + k) * inner + i] - mx;
                want[(o * len + k) * inner + i] = lg ? e - log(s) : exp(e) / s;
            }
        }
}

static void test_softmax(void)
{
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = 0.37f * (float)((i * 7) % 11) - 1.5f + (i == 5 ? 1000.0f : 0);
    int64_t xs[3] = {2, 3, 4};
    double want[24];
    for (int lg = 0; lg < 2; lg++)
        for (int opset = 11; opset <= 13; opset += 2)
            for (int axis = -3; axis < 3; axis++) {
                case_t c;
                case_begin(&c, opset);
                cst(&c, "x", TD_DT_F32, 3, xs, x);
                td_node_set_int(node(&c, lg ? "LogSoftmax" : "Softmax", 1, X, 1, Y), "axis", axis);
                TD_CHECK_OK(run_last(&c));
                ref_softmax(x, axis < 0 ? axis + 3 : axis, opset < 13, lg, want);
                TD_CHECK(close_to(&c.out[0], want, 24, 1e-6), "%s opset %d axis %d",
                         lg ? "LogSoftmax" : "Softmax", opset, axis);
                case_end(&c);
            }
    /* default axis: -1 from opset 13, 1 (2-D coercion) before */
    for (int opset = 11; opset <= 13; opset += 2) {
        case_t c;
        case_begin(&c, opset);
        cst(&c, "x", TD_DT_F32, 3, xs, x);
        node(&c, "Softmax", 1, X, 1, Y);
        TD_CHECK_OK(run_last(&c));
        ref_softmax(x, opset < 13 ? 1 : 2, opset < 13, false, want);
        TD_CHECK(close_to(&c.out[0], want, 24, 1e-6), "default axis, opset %d", opset);
        case_end(&c);
    }
    case_t c;
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 3, xs, x);
    td_node_set_int(node(&c, "Softmax", 1, X, 1, Y), "axis", 3);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT,
                   "node 'n0' (Softmax): axis 3 out of range for rank 3");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_I64, 1, (int64_t[]){2}, (int64_t[]){1, 2});
    node(&c, "Softmax", 1, X, 1, Y);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_UNSUPPORTED, "node 'n0' (Softmax)");
    case_end(&c);
}

static void test_layernorm(void)
{
    int64_t xs[3] = {2, 3, 4};
    float x[24], w[24], b[24];
    for (int i = 0; i < 24; i++)
        x[i] = 1000.0f + 0.25f * (float)((i * 5) % 7); /* large offset: naive var would cancel */
    for (int i = 0; i < 24; i++) {
        w[i] = 0.5f + 0.1f * (float)i;
        b[i] = -0.2f * (float)i;
    }
    for (int axis = -3; axis < 3; axis++) {
        int ax = axis < 0 ? axis + 3 : axis;
        int64_t len = 1, rows = 1;
        for (int d = 0; d < 3; d++)
            *(d < ax ? &rows : &len) *= xs[d];
        case_t c;
        case_begin(&c, 17);
        cst(&c, "x", TD_DT_F32, 3, xs, x);
        cst(&c, "w", TD_DT_F32, 3 - ax, xs + ax, w);
        cst(&c, "b", TD_DT_F32, 3 - ax, xs + ax, b);
        static const char *in[] = {"x", "w", "b"}, *out[] = {"y", "mean", "inv"};
        td_node *n = node(&c, "LayerNormalization", 3, in, 3, out);
        td_node_set_int(n, "axis", axis);
        td_node_set_float(n, "epsilon", 1e-3f);
        TD_CHECK_OK(run_last(&c));
        double want[24], wm[24], wi[24];
        for (int64_t r = 0; r < rows; r++) {
            double m = 0, v = 0;
            for (int64_t k = 0; k < len; k++)
                m += x[r * len + k];
            m /= (double)len;
            for (int64_t k = 0; k < len; k++)
                v += (x[r * len + k] - m) * (x[r * len + k] - m);
            double inv = 1 / sqrt(v / (double)len + 1e-3);
            wm[r] = m;
            wi[r] = inv;
            for (int64_t k = 0; k < len; k++)
                want[r * len + k] = (x[r * len + k] - m) * inv * w[k] + b[k];
        }
        TD_CHECK(close_to(&c.out[0], want, 24, 1e-5), "layernorm axis %d", axis);
        TD_CHECK(close_to(&c.out[1], wm, rows, 1e-6) && close_to(&c.out[2], wi, rows, 1e-5),
                 "mean / inv std axis %d", axis);
        TD_CHECK(c.out[1].ndim == 3 && c.out[1].shape[2] == 1 && c.out[1].shape[0] == (ax ? 2 : 1),
                 "stat shape keeps rank with 1s from axis %d", axis);
        case_end(&c);
    }
    /* no bias, one output */
    case_t c;
    case_begin(&c, 17);
    cst(&c, "x", TD_DT_F32, 2, (int64_t[]){1, 2}, (float[]){1, 3});
    cst(&c, "w", TD_DT_F32, 1, (int64_t[]){2}, (float[]){1, 2});
    static const char *XW[] = {"x", "w"};
    td_node_set_float(node(&c, "LayerNormalization", 2, XW, 1, Y), "epsilon", 0);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(close_to(&c.out[0], (double[]){-1, 2}, 2, 1e-7), "no bias");
    case_end(&c);
    case_begin(&c, 17);
    cst(&c, "x", TD_DT_F32, 2, (int64_t[]){1, 2}, (float[]){1, 3});
    cst(&c, "w", TD_DT_F32, 1, (int64_t[]){3}, (float[]){1, 2, 3});
    node(&c, "LayerNormalization", 2, XW, 1, Y);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "input 'w' has 3 elements, expected 2");
    case_end(&c);
    /* InstanceNormalization: x [1,2,2] per channel */
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 3, (int64_t[]){1, 2, 2}, (float[]){1, 3, 5, 7});
    cst(&c, "w", TD_DT_F32, 1, (int64_t[]){2}, (float[]){2, 1});
    cst(&c, "b", TD_DT_F32, 1, (int64_t[]){2}, (float[]){0, 7});
    static const char *XWB[] = {"x", "w", "b"};
    td_node_set_float(node(&c, "InstanceNormalization", 3, XWB, 1, Y), "epsilon", 0);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(close_to(&c.out[0], (double[]){-2, 2, 6, 8}, 4, 1e-7), "instance norm");
    case_end(&c);
}

/* Reduce of x = F24 as [2,3,4]; axes NULL = none given; via input when opset >= 18. */
static td_status reduce(case_t *c, const char *op, int opset, int na, const int64_t *axes, int keep,
                        int noop)
{
    case_begin(c, opset);
    cst(c, "x", TD_DT_F32, 3, (int64_t[]){2, 3, 4}, F24);
    bool as_input = axes && (opset >= 18 || (opset >= 13 && strcmp(op, "ReduceSum") == 0));
    if (as_input)
        cst(c, "a", TD_DT_I64, 1, (int64_t[]){na}, axes);
    td_node *n = node(c, op, as_input ? 2 : 1, XA, 1, Y);
    if (axes && !as_input)
        td_node_set_ints(n, "axes", axes, na);
    if (keep >= 0)
        td_node_set_int(n, "keepdims", keep);
    if (noop >= 0)
        td_node_set_int(n, "noop_with_empty_axes", noop);
    return run_last(c);
}

static void test_reduce(void)
{
    case_t c;
    /* sum over axis 1 (middle: outer x reduced x inner) */
    TD_CHECK_OK(reduce(&c, "ReduceSum", 13, 1, (int64_t[]){1}, -1, -1));
    const double s1[] = {12, 15, 18, 21, 48, 51, 54, 57};
    TD_CHECK(c.out[0].ndim == 3 && c.out[0].shape[1] == 1 && close_to(&c.out[0], s1, 8, 0),
             "ReduceSum axes input [1], keepdims");
    case_end(&c);
    TD_CHECK_OK(reduce(&c, "ReduceSum", 11, 2, (int64_t[]){-1, 0}, 0, -1));
    const double s2[] = {60, 92, 124};
    TD_CHECK(c.out[0].ndim == 1 && close_to(&c.out[0], s2, 3, 0),
             "ReduceSum attribute axes [-1, 0] (not one block), keepdims 0");
    case_end(&c);
    TD_CHECK_OK(reduce(&c, "ReduceMean", 13, 1, (int64_t[]){2}, 0, -1));
    const double m2[] = {1.5, 5.5, 9.5, 13.5, 17.5, 21.5};
    TD_CHECK(c.out[0].ndim == 2 && close_to(&c.out[0], m2, 6, 0), "ReduceMean attribute axis 2");
    case_end(&c);
    TD_CHECK_OK(reduce(&c, "ReduceMean", 18, 1, (int64_t[]){2}, 0, -1));
    TD_CHECK(close_to(&c.out[0], m2, 6, 0), "ReduceMean input axis (opset 18)");
    case_end(&c);
    TD_CHECK_OK(reduce(&c, "ReduceMax", 13, 2, (int64_t[]){0, 1}, 1, -1));
    const double x2[] = {20, 21, 22, 23};
    TD_CHECK(c.out[0].ndim == 3 && close_to(&c.out[0], x2, 4, 0), "ReduceMax axes [0,1]");
    case_end(&c);
    TD_CHECK_OK(reduce(&c, "ReduceMax", 13, 0, NULL, 0, -1));
    TD_CHECK(c.out[0].ndim == 0 && close_to(&c.out[0], (double[]){23}, 1, 0),
             "no axes: reduce all");
    case_end(&c);
    TD_CHECK_OK(reduce(&c, "ReduceSum", 13, 0, NULL, 1, 1));
    TD_CHECK(c.out[0].ndim == 3 && c.out[0].shape[2] == 4 && ((float *)c.out[0].data)[23] == 23,
             "noop_with_empty_axes copies");
    case_end(&c);
    TD_CHECK_ERROR(reduce(&c, "ReduceSum", 13, 1, (int64_t[]){3}, 1, -1), TD_CODE_INVALID_ARGUMENT,
                   "node 'n0' (ReduceSum): axis 3 out of range");
    case_end(&c);
    TD_CHECK_ERROR(reduce(&c, "ReduceMean", 13, 2, (int64_t[]){1, -2}, 1, -1),
                   TD_CODE_INVALID_ARGUMENT, "axis 1 given twice");
    case_end(&c);
    /* NaN propagates through max; a zero-size reduction gives sum 0, mean NaN */
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 1, (int64_t[]){3}, (float[]){1, NAN, 2});
    node(&c, "ReduceMax", 1, X, 1, Y);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(isnan(((float *)c.out[0].data)[0]), "max propagates NaN");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, (int64_t[]){2, 0}, F24);
    td_node_set_ints(node(&c, "ReduceMean", 1, X, 1, Y), "axes", (int64_t[]){1}, 1);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(c.out[0].shape[0] == 2 && isnan(((float *)c.out[0].data)[1]), "mean of nothing");
    case_end(&c);
}

int main(void)
{
    test_softmax();
    test_layernorm();
    test_reduce();
    return td_test_finish("test_ops_norm");
}
