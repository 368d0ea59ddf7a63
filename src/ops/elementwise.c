/* Elementwise operators: numpy-broadcasting binary arithmetic and comparisons, unary math and
 * activations, Clip, Where, Identity. Compute is f32; Add/Sub/Mul/Div also take int64 and
 * int32 (shape arithmetic), comparisons any numeric type, Where any type. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/data_internal.h"
#include "ops/elementwise_internal.h"

/* Chunk of a broadcast run handed to one thread: long enough to amortize the offset
 * computation, short enough to spread a single huge run over the threads. */
#define EW_CHUNK 16384

td_status td_ew_prepare_common(td_graph *g, td_node *n, int first, int count, td_dtype out_dt)
{
    int nd;
    int64_t shape[TD_MAX_DIMS];
    for (int i = first; i < first + count; i++) {
        const td_value *v = td_node_in(g, n, i);
        if (!v)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d is missing", i);
        if (v->ndim < 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d ('%s') has no known shape",
                                 i, v->name);
    }
    TD_TRY(td_ops_broadcast_inputs(g, n, first, count, &nd, shape));
    td_value_set_shape(td_node_out(g, n, 0), out_dt, nd, shape);
    return TD_OK;
}

td_status td_ew_for_each(td_op_run *rc, const td_node *n, int nin, const td_view *const *ins,
                         const td_view *out, const size_t *esize, size_t out_esize, td_ew_kernel fn,
                         const void *ctx)
{
    td_bcast b;
    td_status st = td_bcast_init(&b, nin, ins, out);
    if (st) {
        td_status e = td_node_error(n, TD_CODE_INVALID_ARGUMENT, "%s", td_status_message(st));
        td_status_free(st);
        return e;
    }
    if (b.total == 0)
        return TD_OK;
    int64_t chunks = (b.inner + EW_CHUNK - 1) / EW_CHUNK;
    int64_t items = b.outer * chunks;
    int threads = td_ops_threads(rc, b.total);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t run = it / chunks, c0 = (it - run * chunks) * EW_CHUNK;
        int64_t len = b.inner - c0 < EW_CHUNK ? b.inner - c0 : EW_CHUNK;
        int64_t off[TD_BCAST_MAX_IN];
        const void *src[TD_BCAST_MAX_IN];
        td_bcast_run_offsets(&b, run, off);
        for (int i = 0; i < nin; i++)
            src[i] =
                (const char *)ins[i]->data + (size_t)(off[i] + c0 * b.inner_step[i]) * esize[i];
        void *dst = (char *)out->data + (size_t)(run * b.inner + c0) * out_esize;
        fn(src, b.inner_step, dst, len, ctx);
    }
    return TD_OK;
}

void td_ew_cost(const td_graph *g, td_node *n)
{
    n->cost.params = td_ops_const_params(g, n);
    n->cost.macs = 0;
    n->cost.flops_other = td_ops_out_numel(g, n, 0);
}

/* ---- Identity ---- */

static td_status identity_prepare(td_graph *g, td_node *n)
{
    const td_value *x = td_node_in(g, n, 0);
    if (!x || x->ndim < 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input 0 is missing or has no shape");
    td_value_set_shape(td_node_out(g, n, 0), x->dtype, x->ndim, x->shape);
    return TD_OK;
}

const td_op_def td_op_identity = {"Identity",       TD_OPC_DATA,      1,    1,   1, 1, TD_OPF_VIEW,
                                  identity_prepare, td_data_view_run, NULL, NULL};

/* ---- Where ---- */

#define WHERE_KERNEL(NAME, T)                                                                      \
    static void NAME(const void *const *src, const int64_t *step, void *dst, int64_t len,          \
                     const void *ctx)                                                              \
    {                                                                                              \
        (void)ctx;                                                                                 \
        const uint8_t *c = src[0];                                                                 \
        const T *x = src[1], *y = src[2];                                                          \
        T *o = dst;                                                                                \
        int64_t sc = step[0], sx = step[1], sy = step[2];                                          \
        for (int64_t i = 0; i < len; i++)                                                          \
            o[i] = c[i * sc] ? x[i * sx] : y[i * sy];                                              \
    }
WHERE_KERNEL(where1, uint8_t)
WHERE_KERNEL(where2, uint16_t)
WHERE_KERNEL(where4, uint32_t)
WHERE_KERNEL(where8, uint64_t)

static td_status where_prepare(td_graph *g, td_node *n)
{
    TD_TRY(td_ops_require(g, n, 0, TD_DT_BOOL));
    const td_value *x = td_node_in(g, n, 1), *y = td_node_in(g, n, 2);
    if (!x || !y)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "inputs X and Y are required");
    if (x->dtype != y->dtype)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "X is %s but Y is %s",
                             td_dtype_name(x->dtype), td_dtype_name(y->dtype));
    return td_ew_prepare_common(g, n, 0, 3, x->dtype);
}

static td_status where_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const td_view *ins[3] = {&in[0], &in[1], &in[2]};
    size_t es = td_dtype_size(in[1].dtype);
    size_t esize[3] = {1, es, es};
    td_ew_kernel k = es == 1 ? where1 : es == 2 ? where2 : es == 4 ? where4 : es == 8 ? where8 : 0;
    if (!k)
        return td_node_error(n, TD_CODE_UNSUPPORTED, "dtype %s", td_dtype_name(in[1].dtype));
    return td_ew_for_each(rc, n, 3, ins, &out[0], esize, es, k, NULL);
}

const td_op_def td_op_where = {"Where", TD_OPC_ELEMENTWISE, 3,         3,          1,   1,
                               0,       where_prepare,      where_run, td_ew_cost, NULL};

const td_op_def *const td_ops_elementwise[] = {
    /* binary (elementwise_binary.c) */
    &td_op_add, &td_op_sub, &td_op_mul, &td_op_div, &td_op_pow, &td_op_equal, &td_op_less,
    &td_op_greater, &td_op_less_or_equal, &td_op_greater_or_equal, &td_op_and, &td_op_or,
    &td_op_xor, &td_op_prelu, &td_op_mod,
    /* variadic (elementwise_variadic.c) */
    &td_op_max, &td_op_min, &td_op_sum, &td_op_mean,
    /* unary (elementwise_unary.c) */
    &td_op_relu, &td_op_leaky_relu, &td_op_gelu, &td_op_sigmoid, &td_op_tanh, &td_op_erf,
    &td_op_sqrt, &td_op_exp, &td_op_log, &td_op_neg, &td_op_abs, &td_op_reciprocal, &td_op_clip,
    &td_op_hard_sigmoid, &td_op_hard_swish, &td_op_softplus, &td_op_elu, &td_op_selu,
    &td_op_softsign, &td_op_floor, &td_op_ceil, &td_op_round, &td_op_sign, &td_op_sin, &td_op_cos,
    &td_op_not, &td_op_tan, &td_op_sinh, &td_op_cosh, &td_op_asin, &td_op_acos, &td_op_atan,
    &td_op_asinh, &td_op_acosh, &td_op_atanh, &td_op_celu, &td_op_thresholded_relu, &td_op_shrink,
    &td_op_isnan, &td_op_isinf,
    /* here */
    &td_op_identity, &td_op_where, NULL};
