/* The norm family: Softmax, LogSoftmax, LayerNormalization, InstanceNormalization and the
 * reductions ReduceMean, ReduceSum, ReduceMax. f32 data; sums and variances in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/op.h"
#include "kernels/vmath.h"
#include "ops/ops_common.h"

static td_status alloc_params(td_node *n, size_t bytes, void **out)
{
    void *p = calloc(1, bytes);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    td_ops_set_params(n, p);
    *out = p;
    return TD_OK;
}

static td_status f32_input(td_graph *g, const td_node *n, int i, td_value **v)
{
    TD_TRY(td_ops_require_f32(g, n, i));
    *v = td_node_in(g, n, i);
    return TD_OK;
}

/* ---- Softmax / LogSoftmax ----
 * Opset >= 13 normalizes along one axis; earlier opsets flatten to 2-D at `axis` and
 * normalize each row of the product of the trailing dims. */

typedef struct {
    int axis;
    bool coerce_2d;
    bool log;
} softmax_params;

static td_status softmax_prepare_common(td_graph *g, td_node *n, bool log)
{
    td_value *x;
    TD_TRY(f32_input(g, n, 0, &x));
    bool old = g->opset > 0 && g->opset < 13;
    int64_t a;
    TD_TRY(td_attr_int(n, "axis", old ? 1 : -1, &a));
    softmax_params *p = NULL;
    TD_TRY(alloc_params(n, sizeof *p, (void **)&p));
    p->coerce_2d = old;
    p->log = log;
    if (x->ndim == 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input must have rank >= 1");
    if (old && a == x->ndim) /* the 2-D coercion allows axis = rank (rows of 1) */
        p->axis = x->ndim;
    else
        TD_TRY(td_norm_axis(n, a, x->ndim, false, &p->axis));
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, x->ndim, x->shape);
    return TD_OK;
}

static td_status softmax_prepare(td_graph *g, td_node *n)
{
    return softmax_prepare_common(g, n, false);
}

static td_status logsoftmax_prepare(td_graph *g, td_node *n)
{
    return softmax_prepare_common(g, n, true);
}

/* Softmax of a contiguous row (the attention case), exponentials and sum vectorized for the
 * ISA. Safe when y == x. */
static void softmax_row(td_isa isa, const float *x, float *y, int64_t len)
{
    float mx = -INFINITY;
    for (int64_t k = 0; k < len; k++)
        mx = x[k] > mx ? x[k] : mx;
    if (mx == -INFINITY || isnan(mx))
        mx = 0;
    float inv = (float)(1.0 / td_vexp_sum(isa, x, y, len, mx));
    for (int64_t k = 0; k < len; k++)
        y[k] *= inv;
}

/* One softmax over len elements x[k * stride]; safe when y == x. */
static void softmax_line(td_isa isa, const float *x, float *y, int64_t len, int64_t stride,
                         bool use_log)
{
    if (stride == 1 && !use_log) {
        softmax_row(isa, x, y, len);
        return;
    }
    float mx = -INFINITY;
    for (int64_t k = 0; k < len; k++)
        mx = x[k * stride] > mx ? x[k * stride] : mx;
    if (mx == -INFINITY || isnan(mx)) /* all -inf: exp(x - max) would be NaN anyway */
        mx = 0;
    double sum = 0;
    for (int64_t k = 0; k < len; k++)
        sum += expf(x[k * stride] - mx);
    if (use_log) {
        float ls = (float)log(sum);
        for (int64_t k = 0; k < len; k++)
            y[k * stride] = x[k * stride] - mx - ls;
    } else {
        float inv = (float)(1.0 / sum);
        for (int64_t k = 0; k < len; k++)
            y[k * stride] = expf(x[k * stride] - mx) * inv;
    }
}

static td_status softmax_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const softmax_params *p = n->params;
    const td_view *x = &in[0];
    int64_t outer = td_shape_numel(p->axis, x->shape), len, inner;
    if (p->coerce_2d) {
        len = td_shape_numel(x->ndim - p->axis, x->shape + p->axis);
        inner = 1;
    } else {
        len = x->shape[p->axis];
        inner = td_shape_numel(x->ndim - p->axis - 1, x->shape + p->axis + 1);
    }
    const float *xs = x->data;
    float *ys = out[0].data;
    int threads = td_ops_threads(rc, td_view_numel(x) * 8);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < outer * inner; t++) {
        int64_t o = t / inner, i = t % inner;
        size_t base = (size_t)(o * len * inner + i);
        softmax_line(rc->ctx->isa, xs + base, ys + base, len, inner, p->log);
    }
    return TD_OK;
}

static void elementwise_cost(const td_graph *g, td_node *n, int64_t per_element)
{
    n->cost.flops_other = td_ops_out_numel(g, n, 0) * per_element;
}

static void softmax_cost(const td_graph *g, td_node *n)
{
    elementwise_cost(g, n, 5); /* max, subtract, exp, sum, scale */
}

const td_op_def td_op_softmax = {
    "Softmax",   TD_OPC_NORM,  1,   1, 1, 1, TD_OPF_INPLACE, softmax_prepare,
    softmax_run, softmax_cost, NULL};
const td_op_def td_op_logsoftmax = {
    "LogSoftmax", TD_OPC_NORM,  1,   1, 1, 1, TD_OPF_INPLACE, logsoftmax_prepare,
    softmax_run,  softmax_cost, NULL};

/* ---- LayerNormalization / InstanceNormalization ---- */

typedef struct {
    int axis; /* LayerNorm: first normalized axis */
    float eps;
} lnorm_params;

static td_status check_affine(td_graph *g, const td_node *n, int i, int64_t want, bool required)
{
    td_value *v = td_node_in(g, n, i);
    if (!v) {
        if (required)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d is missing", i);
        return TD_OK;
    }
    TD_TRY(td_ops_require_f32(g, n, i));
    int64_t cnt = td_shape_numel(v->ndim, v->shape);
    if (cnt != want && cnt != 1)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "input '%s' has %lld elements, expected %lld (or 1)", v->name,
                             (long long)cnt, (long long)want);
    return TD_OK;
}

static td_status layernorm_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(f32_input(g, n, 0, &x));
    int64_t a, stash;
    lnorm_params *p = NULL;
    TD_TRY(alloc_params(n, sizeof *p, (void **)&p));
    TD_TRY(td_attr_int(n, "axis", -1, &a));
    TD_TRY(td_attr_float(n, "epsilon", 1e-5f, &p->eps));
    TD_TRY(td_attr_int(n, "stash_type", 1, &stash));
    if (stash != 1)
        return td_node_error(n, TD_CODE_UNSUPPORTED, "stash_type %lld (only 1, float)",
                             (long long)stash);
    TD_TRY(td_norm_axis(n, a, x->ndim, false, &p->axis));
    int64_t norm = td_shape_numel(x->ndim - p->axis, x->shape + p->axis);
    TD_TRY(check_affine(g, n, 1, norm, true));
    TD_TRY(check_affine(g, n, 2, norm, false));
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, x->ndim, x->shape);
    int64_t stat[TD_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        stat[d] = d < p->axis ? x->shape[d] : 1;
    for (int o = 1; o < n->n_outputs; o++)
        td_value_set_shape(td_node_out(g, n, o), TD_DT_F32, x->ndim, stat);
    return TD_OK;
}

/* Normalizes one row of len elements: y = (x - mean) * inv * scale + bias, where scale and
 * bias advance by their steps (0: one value for the row). Safe when y == x. */
static void norm_row(const float *x, float *y, int64_t len, float eps, const float *scale,
                     int64_t sstep, const float *bias, int64_t bstep, float *mean_out,
                     float *inv_out)
{
    double sum = 0;
    for (int64_t k = 0; k < len; k++)
        sum += x[k];
    double mean = len ? sum / (double)len : 0, var = 0;
    for (int64_t k = 0; k < len; k++) {
        double d = x[k] - mean;
        var += d * d;
    }
    var = len ? var / (double)len : 0;
    double inv = 1.0 / sqrt(var + eps);
    float m = (float)mean;
    for (int64_t k = 0; k < len; k++) {
        /* centred in double: with a large mean, x - (float)mean loses the deviation's bits */
        float v = (float)((x[k] - mean) * inv) * scale[k * sstep];
        y[k] = bias ? v + bias[k * bstep] : v;
    }
    if (mean_out)
        *mean_out = m;
    if (inv_out)
        *inv_out = (float)inv;
}

static int64_t step_of(const td_view *v)
{
    return v->data && td_view_numel(v) > 1 ? 1 : 0;
}

static td_status layernorm_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const lnorm_params *p = n->params;
    const td_view *x = &in[0];
    int64_t rows = td_shape_numel(p->axis, x->shape);
    int64_t len = td_shape_numel(x->ndim - p->axis, x->shape + p->axis);
    const float *bias = n->n_inputs > 2 ? in[2].data : NULL;
    int64_t sstep = step_of(&in[1]), bstep = bias ? step_of(&in[2]) : 0;
    float *mean = n->n_outputs > 1 ? out[1].data : NULL;
    float *inv = n->n_outputs > 2 ? out[2].data : NULL;
    int threads = td_ops_threads(rc, td_view_numel(x) * 6);
    /* Per-element scale and bias (the usual case): the vectorized row. */
    bool fast = len > 0 && sstep == 1 && (!bias || bstep == 1);
    td_isa isa = rc->ctx->isa;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = (const float *)x->data + r * len;
        float *yr = (float *)out[0].data + r * len;
        if (fast)
            td_vlayernorm(isa, xr, yr, len, p->eps, in[1].data, bias, mean ? mean + r : NULL,
                          inv ? inv + r : NULL);
        else
            norm_row(xr, yr, len, p->eps, in[1].data, sstep, bias, bstep, mean ? mean + r : NULL,
                     inv ? inv + r : NULL);
    }
    return TD_OK;
}

static void norm_cost(const td_graph *g, td_node *n)
{
    elementwise_cost(g, n, 6); /* sum, centre, square-sum, scale, affine */
    n->cost.params = td_ops_const_params(g, n);
}

const td_op_def td_op_layernorm = {
    "LayerNormalization", TD_OPC_NORM,   2,         3,   1, 3, TD_OPF_INPLACE,
    layernorm_prepare,    layernorm_run, norm_cost, NULL};

static td_status instnorm_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(f32_input(g, n, 0, &x));
    lnorm_params *p = NULL;
    TD_TRY(alloc_params(n, sizeof *p, (void **)&p));
    TD_TRY(td_attr_float(n, "epsilon", 1e-5f, &p->eps));
    if (x->ndim < 3)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input must be N x C x D1...; rank %d",
                             x->ndim);
    for (int i = 1; i <= 2; i++) {
        td_value *v;
        TD_TRY(f32_input(g, n, i, &v));
        if (td_shape_numel(v->ndim, v->shape) != x->shape[1])
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "input '%s' must have C = %lld elements", v->name,
                                 (long long)x->shape[1]);
    }
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, x->ndim, x->shape);
    return TD_OK;
}

static td_status instnorm_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const lnorm_params *p = n->params;
    const td_view *x = &in[0];
    int64_t c = x->shape[1], rows = x->shape[0] * c;
    int64_t len = td_shape_numel(x->ndim - 2, x->shape + 2);
    int threads = td_ops_threads(rc, td_view_numel(x) * 6);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        norm_row((const float *)x->data + r * len, (float *)out[0].data + r * len, len, p->eps,
                 (const float *)in[1].data + r % c, 0, (const float *)in[2].data + r % c, 0, NULL,
                 NULL);
    return TD_OK;
}

const td_op_def td_op_instnorm = {
    "InstanceNormalization", TD_OPC_NORM,  3,         3,   1, 1, TD_OPF_INPLACE,
    instnorm_prepare,        instnorm_run, norm_cost, NULL};

/* ---- ReduceMean / ReduceSum / ReduceMax ---- */

enum { RED_SUM, RED_MEAN, RED_MAX };

typedef struct {
    int kind;
    bool noop;
    bool reduce[TD_MAX_DIMS];
} reduce_params;

static td_status reduce_prepare(td_graph *g, td_node *n, int kind)
{
    td_value *x;
    TD_TRY(f32_input(g, n, 0, &x));
    reduce_params *p = NULL;
    TD_TRY(alloc_params(n, sizeof *p, (void **)&p));
    p->kind = kind;
    int64_t keep, noop, axes[TD_MAX_DIMS];
    int cnt;
    TD_TRY(td_attr_int(n, "keepdims", 1, &keep));
    TD_TRY(td_attr_int(n, "noop_with_empty_axes", 0, &noop));
    /* axes: an attribute before opset 13 (ReduceSum) / 18 (the others), then input 1 */
    if (td_node_in(g, n, 1))
        TD_TRY(td_const_ints(g, n, 1, axes, TD_MAX_DIMS, &cnt));
    else
        TD_TRY(td_attr_ints(n, "axes", axes, TD_MAX_DIMS, &cnt));
    if (cnt == 0 && noop) {
        p->noop = true;
    } else {
        for (int i = 0; i < cnt; i++) {
            int ax;
            TD_TRY(td_norm_axis(n, axes[i], x->ndim, false, &ax));
            if (p->reduce[ax])
                return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "axis %d given twice", ax);
            p->reduce[ax] = true;
        }
        for (int d = 0; d < x->ndim && cnt == 0; d++)
            p->reduce[d] = true;
    }
    int64_t shape[TD_MAX_DIMS];
    int r = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!p->reduce[d])
            shape[r++] = x->shape[d];
        else if (keep)
            shape[r++] = 1;
    }
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, r, shape);
    return TD_OK;
}

static td_status reducesum_prepare(td_graph *g, td_node *n)
{
    return reduce_prepare(g, n, RED_SUM);
}

static td_status reducemean_prepare(td_graph *g, td_node *n)
{
    return reduce_prepare(g, n, RED_MEAN);
}

static td_status reducemax_prepare(td_graph *g, td_node *n)
{
    return reduce_prepare(g, n, RED_MAX);
}

static inline double combine(int kind, double acc, float v)
{
    if (kind != RED_MAX)
        return acc + v;
    return (v > acc || isnan(v)) && !isnan(acc) ? v : acc;
}

static td_status reduce_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const reduce_params *p = n->params;
    const td_view *x = &in[0];
    int64_t total = td_view_numel(x), on = td_view_numel(&out[0]);
    if (p->noop) {
        if (out[0].data != x->data && total)
            memcpy(out[0].data, x->data, (size_t)total * sizeof(float));
        return TD_OK;
    }
    double *acc;
    size_t bytes;
    TD_TRY(td_size_mul((size_t)on, sizeof(double), &bytes));
    TD_TRY(td_op_scratch(rc, bytes ? bytes : 8, (void **)&acc));
    double init = p->kind == RED_MAX ? -INFINITY : 0;
    for (int64_t i = 0; i < on; i++)
        acc[i] = init;
    /* Reduced dims as one block [lo, hi)? Then out[o][i] = reduce_k x[o][k][i]. */
    int lo = -1, hi = 0;
    bool block = true, gap = false;
    for (int d = 0; d < x->ndim; d++) {
        if (x->shape[d] == 1)
            continue;
        if (p->reduce[d]) {
            block = block && !gap;
            lo = lo < 0 ? d : lo;
            hi = d + 1;
        } else if (lo >= 0) {
            gap = true;
        }
    }
    const float *xs = x->data;
    int64_t count = 1;
    for (int d = 0; d < x->ndim; d++)
        if (p->reduce[d])
            count *= x->shape[d];
    if (block && total) {
        if (lo < 0)
            lo = hi = 0;
        int64_t outer = td_shape_numel(lo, x->shape), red = td_shape_numel(hi - lo, x->shape + lo);
        int64_t inner = td_shape_numel(x->ndim - hi, x->shape + hi);
        int threads = td_ops_threads(rc, total);
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < red; k++)
                for (int64_t i = 0; i < inner; i++)
                    acc[o * inner + i] =
                        combine(p->kind, acc[o * inner + i], xs[(o * red + k) * inner + i]);
    } else if (total) {
        int64_t ostride[TD_MAX_DIMS], idx[TD_MAX_DIMS] = {0}, off = 0, s = 1;
        for (int d = x->ndim - 1; d >= 0; d--) {
            ostride[d] = p->reduce[d] ? 0 : s;
            s *= p->reduce[d] ? 1 : x->shape[d];
        }
        for (int64_t e = 0; e < total; e++) {
            acc[off] = combine(p->kind, acc[off], xs[e]);
            for (int d = x->ndim - 1; d >= 0; d--) {
                off += ostride[d];
                if (++idx[d] < x->shape[d])
                    break;
                off -= ostride[d] * x->shape[d];
                idx[d] = 0;
            }
        }
    }
    float *ys = out[0].data;
    for (int64_t i = 0; i < on; i++)
        ys[i] = (float)(p->kind == RED_MEAN ? acc[i] / (double)count : acc[i]);
    return TD_OK;
}

static void reduce_cost(const td_graph *g, td_node *n)
{
    const td_value *x = &g->values[n->inputs[0]];
    n->cost.flops_other = td_shape_numel(x->ndim, x->shape);
}

const td_op_def td_op_reducesum = {"ReduceSum", TD_OPC_REDUCE,     1,          2,           1,   1,
                                   0,           reducesum_prepare, reduce_run, reduce_cost, NULL};
const td_op_def td_op_reducemean = {"ReduceMean",       TD_OPC_REDUCE, 1,           2,   1, 1, 0,
                                    reducemean_prepare, reduce_run,    reduce_cost, NULL};
const td_op_def td_op_reducemax = {"ReduceMax", TD_OPC_REDUCE,     1,          2,           1,   1,
                                   0,           reducemax_prepare, reduce_run, reduce_cost, NULL};

const td_op_def *const td_ops_norm[] = {
    &td_op_softmax,   &td_op_logsoftmax, &td_op_layernorm, &td_op_instnorm,
    &td_op_reducesum, &td_op_reducemean, &td_op_reducemax, NULL};
