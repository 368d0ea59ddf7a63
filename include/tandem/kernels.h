/* Matrix products with compressed weights: Y = X * W^T.
 *
 * X holds `batch` activation vectors of length K (row-major, batch x K) and Y
 * receives batch x rows (row-major). batch 1 is the memory-bound GEMV of decoding;
 * batch 2..512 is GEMM. Activations are either f32 or quantized on the fly per
 * token (dynamic, symmetric) to int8 (A8) or int6 (A6, stored in int8 with range
 * [-31, 31]). Threads split the output rows. */
#ifndef TANDEM_KERNELS_H
#define TANDEM_KERNELS_H

#include "tandem/core.h"
#include "tandem/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_act_type { TD_ACT_F32 = 0, TD_ACT_INT8, TD_ACT_INT6, TD_ACT_COUNT } td_act_type;

const char *td_act_name(td_act_type act);
td_status td_act_parse(const char *name, td_act_type *out); /* "f32", "a8"/"int8", "a6"/"int6" */

/* Activations prepared for the kernels: padded to the weight's padded K, quantized
 * when requested. Reused across calls to avoid reallocation. */
typedef struct td_act td_act;

td_status td_act_new(td_act **out);
void td_act_free(td_act *a);
/* Prepares X (batch x K, leading dimension ldx) for products with W. */
td_status td_act_prepare(td_act *a, const td_qmatrix *w, td_act_type type, const float *x,
                         int64_t batch, int64_t ldx);

/* The same with the ISA and threads of ctx (ctx->isa SCALAR runs the reference loops);
 * td_act_prepare picks them like td_ctx_default. */
td_status td_act_prepare_ctx(const td_ctx *ctx, td_act *a, const td_qmatrix *w, td_act_type type,
                             const float *x, int64_t batch, int64_t ldx);

/* Y (batch x rows, leading dimension ldy) = prepared X * W^T. */
td_status td_gemm_prepared(const td_ctx *ctx, const td_qmatrix *w, const td_act *a, float *y,
                           int64_t ldy);

/* Convenience: prepare + product in one call (allocates a scratch td_act). */
td_status td_gemm(const td_ctx *ctx, const td_qmatrix *w, td_act_type act, const float *x,
                  int64_t batch, float *y);

/* Which ISA the dispatcher will use for this weight and activation type under ctx
 * (the highest available <= ctx->isa). */
td_isa td_gemm_isa(const td_ctx *ctx, const td_qmatrix *w, td_act_type act);

#ifdef __cplusplus
}
#endif
#endif
