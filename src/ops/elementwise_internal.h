/* Shared plumbing of the elementwise family (elementwise*.c). */
#ifndef TD_OPS_ELEMENTWISE_INTERNAL_H
#define TD_OPS_ELEMENTWISE_INTERNAL_H

#include "ops/ops_common.h"

/* Processes `len` output elements: input i starts at src[i] and advances by step[i]
 * elements (0 or 1); ctx is the op's parameter block. */
typedef void (*td_ew_kernel)(const void *const *src, const int64_t *step, void *dst, int64_t len,
                             const void *ctx);

/* Output 0 = broadcast of inputs [first, first+count) with dtype out_dt. */
td_status td_ew_prepare_common(td_graph *g, td_node *n, int first, int count, td_dtype out_dt);
/* Runs fn over the broadcast of ins into out, split over threads. */
td_status td_ew_for_each(td_op_run *rc, const td_node *n, int nin, const td_view *const *ins,
                         const td_view *out, const size_t *esize, size_t out_esize, td_ew_kernel fn,
                         const void *ctx);
void td_ew_cost(const td_graph *g, td_node *n);

extern const td_op_def td_op_add, td_op_sub, td_op_mul, td_op_div, td_op_pow, td_op_equal,
    td_op_less, td_op_greater, td_op_less_or_equal, td_op_greater_or_equal, td_op_and, td_op_or,
    td_op_xor;
extern const td_op_def td_op_relu, td_op_leaky_relu, td_op_gelu, td_op_sigmoid, td_op_tanh,
    td_op_erf, td_op_sqrt, td_op_exp, td_op_log, td_op_neg, td_op_abs, td_op_reciprocal, td_op_clip,
    td_op_hard_sigmoid, td_op_hard_swish, td_op_softplus, td_op_elu, td_op_selu, td_op_softsign,
    td_op_floor, td_op_ceil, td_op_round, td_op_sign, td_op_sin, td_op_cos, td_op_not;
extern const td_op_def td_op_tan, td_op_sinh, td_op_cosh, td_op_asin, td_op_acos, td_op_atan,
    td_op_asinh, td_op_acosh, td_op_atanh, td_op_celu, td_op_thresholded_relu, td_op_shrink,
    td_op_isnan, td_op_isinf, td_op_prelu, td_op_mod, td_op_max, td_op_min, td_op_sum, td_op_mean;

#endif
