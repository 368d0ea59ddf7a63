/* oneDNN as a peer for the W8A8 GEMM benchmark (never needed to build or run Tandem
 * itself). Compiled only where the build defines TD_HAVE_DNNL and links -ldnnl. */
#ifndef TANDEM_PEER_DNNL_H
#define TANDEM_PEER_DNNL_H

#include <stdint.h>

#include "tandem/status.h"

/* Times oneDNN's int8 matmul Y (M x N, f32) = X (M x K, u8) * W^T with W N x K (s8)
 * and a per-output-channel f32 output scale: the same work as Tandem's W8A8 product
 * for M tokens and N weight rows. oneDNN picks its preferred (packed) weight layout
 * and the weights are reordered into it once, outside the timing, as an inference
 * engine would at load time. Runs `threads` OpenMP threads, one warm-up then `reps`
 * timed executions; *seconds_median receives the median time of one execution.
 * Without TD_HAVE_DNNL it returns TD_CODE_UNSUPPORTED. */
td_status td_peer_dnnl_s8_gemm(int64_t M, int64_t N, int64_t K, int threads, int reps,
                               double *seconds_median);

#endif
