/* Shared plumbing of the nn family (nn.c, conv.c, gemm.c, pool.c). */
#ifndef TD_OPS_NN_INTERNAL_H
#define TD_OPS_NN_INTERNAL_H

#include "ops/ops_common.h"

#define TD_MAX_SPATIAL 2 /* 1-D and 2-D windows */

/* A sliding window over nsp spatial dimensions (Conv and the pools). */
typedef struct td_window {
    int nsp;
    int64_t in[TD_MAX_SPATIAL], k[TD_MAX_SPATIAL], s[TD_MAX_SPATIAL], d[TD_MAX_SPATIAL];
    int64_t pb[TD_MAX_SPATIAL], pe[TD_MAX_SPATIAL], out[TD_MAX_SPATIAL];
} td_window;

/* Parses strides, dilations (unless !allow_dilations), pads and auto_pad for a window of
 * kernel k over spatial input sizes in, and computes the output sizes (ceil_mode rounds up,
 * dropping a last window that would start in the end padding). Errors name the node. */
td_status td_window_parse(const td_node *n, int nsp, const int64_t *in, const int64_t *k,
                          bool ceil_mode, bool allow_dilations, td_window *w);
/* The window as 2-D (1-D windows get a leading dimension of size 1). */
void td_window_as_2d(const td_window *w, td_window *w2);

extern const td_op_def td_op_conv, td_op_gemm, td_op_matmul, td_op_maxpool, td_op_avgpool,
    td_op_global_avgpool, td_op_global_maxpool, td_op_batchnorm;

#endif
