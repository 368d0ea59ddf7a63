/* Max, Min, Sum, Mean: variadic elementwise ops with numpy broadcasting over all inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise_internal.h"

enum { V_MAX, V_MIN, V_SUM, V_MEAN };

typedef struct var_params {
    int op;
    int nin;
} var_params;

/* dst = src0, then folded with each further input; each pass is a plain loop. */
#define DEF_VAR(SUF, T)                                                                            \
    static void var_##SUF(const void *const *src, const int64_t *step, void *dst, int64_t n,       \
                          const void *ctx)                                                         \
    {                                                                                              \
        const var_params *p = ctx;                                                                 \
        T *y = dst;                                                                                \
        const T *x0 = src[0];                                                                      \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i] = x0[i * step[0]];                                                                \
        for (int k = 1; k < p->nin; k++) {                                                         \
            const T *x = src[k];                                                                   \
            int64_t s = step[k];                                                                   \
            if (p->op == V_MAX)                                                                    \
                for (int64_t i = 0; i < n; i++)                                                    \
                    y[i] = x[i * s] > y[i] ? x[i * s] : y[i];                                      \
            else if (p->op == V_MIN)                                                               \
                for (int64_t i = 0; i < n; i++)                                                    \
                    y[i] = x[i * s] < y[i] ? x[i * s] : y[i];                                      \
            else                                                                                   \
                for (int64_t i = 0; i < n; i++)                                                    \
                    y[i] = (T)(y[i] + x[i * s]);                                                   \
        }                                                                                          \
        if (p->op == V_MEAN)                                                                       \
            for (int64_t i = 0; i < n; i++)                                                        \
                y[i] = (T)(y[i] / (T)p->nin);                                                      \
    }
DEF_VAR(f32, float)
DEF_VAR(f64, double)
DEF_VAR(i64, int64_t)
DEF_VAR(i32, int32_t)
DEF_VAR(i8, int8_t)
DEF_VAR(u8, uint8_t)

static td_ew_kernel pick(int op, td_dtype dt)
{
    if (op == V_SUM || op == V_MEAN)
        return dt == TD_DT_F32 ? var_f32 : dt == TD_DT_F64 ? var_f64 : NULL;
    switch (dt) {
    case TD_DT_F32:
        return var_f32;
    case TD_DT_F64:
        return var_f64;
    case TD_DT_I64:
        return var_i64;
    case TD_DT_I32:
        return var_i32;
    case TD_DT_I8:
        return var_i8;
    case TD_DT_U8:
        return var_u8;
    default:
        return NULL;
    }
}

static td_status var_prepare(td_graph *g, td_node *n)
{
    static const char *const names[] = {"Max", "Min", "Sum", "Mean"};
    const char *name = n->def ? n->def->name : n->op_type;
    int op = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(names[i], name) == 0)
            op = i;
    if (op < 0)
        return td_node_error(n, TD_CODE_INTERNAL, "not a variadic elementwise op");
    if (n->n_inputs < 1 || n->n_inputs > TD_BCAST_MAX_IN)
        return td_node_error(n, TD_CODE_UNSUPPORTED, "%d inputs; 1 to %d are supported",
                             n->n_inputs, TD_BCAST_MAX_IN);
    const td_value *x = td_node_in(g, n, 0);
    if (!x)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input 0 is missing");
    for (int i = 1; i < n->n_inputs; i++) {
        const td_value *v = td_node_in(g, n, i);
        if (!v || v->dtype != x->dtype)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "input %d is missing or not of type %s", i,
                                 td_dtype_name(x->dtype));
    }
    if (!pick(op, x->dtype))
        return td_node_error(n, TD_CODE_UNSUPPORTED, "input type %s is not supported",
                             td_dtype_name(x->dtype));
    TD_TRY(td_ew_prepare_common(g, n, 0, n->n_inputs, x->dtype));
    var_params *p = malloc(sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    p->op = op;
    p->nin = n->n_inputs;
    td_ops_set_params(n, p);
    return TD_OK;
}

static td_status var_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const var_params *p = n->params;
    if (!p)
        return td_node_error(n, TD_CODE_INTERNAL, "run before prepare");
    td_ew_kernel k = pick(p->op, in[0].dtype);
    if (!k)
        return td_node_error(n, TD_CODE_UNSUPPORTED, "input type %s is not supported",
                             td_dtype_name(in[0].dtype));
    const td_view *ins[TD_BCAST_MAX_IN];
    size_t es[TD_BCAST_MAX_IN];
    for (int i = 0; i < p->nin; i++) {
        ins[i] = &in[i];
        es[i] = td_dtype_size(in[i].dtype);
    }
    return td_ew_for_each(rc, n, p->nin, ins, &out[0], es, es[0], k, p);
}

/* Not in place: with broadcasting the output may be larger than input 0, and the kernel
 * overwrites its output before reading the later inputs. */
#define VAR_DEF(VAR, NAME)                                                                         \
    const td_op_def VAR = {NAME, TD_OPC_ELEMENTWISE, 1,       TD_BCAST_MAX_IN, 1,   1,             \
                           0,    var_prepare,        var_run, td_ew_cost,      NULL};
VAR_DEF(td_op_max, "Max")
VAR_DEF(td_op_min, "Min")
VAR_DEF(td_op_sum, "Sum")
VAR_DEF(td_op_mean, "Mean")
