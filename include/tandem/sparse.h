/* Structured sparsity helpers: N:M pruning without compression.
 *
 * td_qmatrix_quantize() with spec.sparsity = TD_SPARSE_NM prunes and compresses in
 * one step; these functions expose the pruning alone, for sparse training (the mask
 * is re-applied after each optimizer step) and for inspecting what a spec keeps.
 *
 * Rule (the same one the compressor uses): along each row, every block of M
 * consecutive weights keeps the N with the largest score, score = |w| or, with an
 * importance vector (one non-negative value per input channel k, e.g. the norm of
 * the k-th activation channel over calibration data), |w| * importance[k]. Equal
 * scores keep the lower index, so the result is deterministic. When cols is not a
 * multiple of M the last block is short; it is treated as padded with zeros, so it
 * keeps min(N, its length) real weights. */
#ifndef TANDEM_SPARSE_H
#define TANDEM_SPARSE_H

#include <stdint.h>

#include "tandem/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bits of one in-block position in the compressed N:M encoding: ceil(log2 M),
 * i.e. 1 for M = 2, 2 for M <= 4, 3 for M <= 8, 4 for M <= 16; 0 if M is outside 2..16. */
int td_nm_index_bits(int m);

/* Writes the pruned matrix (rows x cols, leading dimension cols) to out: kept weights
 * unchanged, the others 0. importance may be NULL (plain magnitude). Rejects
 * N:M outside 1 <= N < M <= 16, NaN/Inf weights, and negative or non-finite
 * importance. out may not alias w. */
td_status td_nm_prune(const float *w, int64_t rows, int64_t cols, int64_t ld, int n, int m,
                      const float *importance, float *out);

/* Same selection, written as a mask (1 = kept, 0 = pruned), rows x cols. */
td_status td_nm_mask(const float *w, int64_t rows, int64_t cols, int64_t ld, int n, int m,
                     const float *importance, uint8_t *mask);

#ifdef __cplusplus
}
#endif
#endif
