/* Structured sparsity (N:M and group sparsity): compression, pruning and the
 * kernels' view of the sparse layouts described in formats/qmatrix_internal.h. */
#ifndef TANDEM_SPARSE_INTERNAL_H
#define TANDEM_SPARSE_INTERNAL_H

#include "formats/qmatrix_internal.h"

/* Lays out and fills q (header already holds spec, rows, cols) from f32 weights w. */
td_status td_sparse_quantize(td_qmatrix *q, const td_qspec *spec, const float *w, int64_t ld);
/* Dense rows x cols f32 matrix with pruned weights as 0. */
td_status td_sparse_dequantize(const td_qmatrix *q, float *out);

/* From formats/qmatrix.c: dense layout for rows x ncols values; group sizes are also
 * forced to a multiple of kalign. */
td_status td_qmatrix_layout_dense(td_qmatrix *q, int64_t rows, int64_t ncols, int64_t kalign);

/* ---- pruning (prune.c) ---- */

/* Fails unless every importance[k], k < cols, is finite and >= 0 (NULL is fine). */
td_status td_sparse_check_importance(const float *importance, int64_t cols);

/* One M-block: keep[i] = 1 for the n entries of score[0..m) with the largest score,
 * ties to the lower index; kept entries come out in ascending position order. */
void td_nm_select(const double *score, int m, int n, uint8_t *keep);

/* Score of weight k of a row: |w| or |w| * importance[k] (exact in double). */
static inline double td_sparse_score(float w, const float *importance, int64_t k)
{
    double s = w < 0.0f ? -(double)w : (double)w;
    return importance ? s * (double)importance[k] : s;
}

/* ---- N:M (nm.c) and group sparsity (group_sparse.c) ---- */

/* (Re)computes q->wsum, the sum of the signed codes of each group of the dense layout of
 * stored values, for integer formats (NULL for float formats). Model files never store it. */
td_status td_qmatrix_code_sums(td_qmatrix *q);

td_status td_nm_quantize(td_qmatrix *q, const float *w, int64_t ld, const float *importance);
td_status td_nm_dequantize(const td_qmatrix *q, float *out);
td_status td_gs_quantize(td_qmatrix *q, const float *w, int64_t ld, const float *importance);
td_status td_gs_dequantize(const td_qmatrix *q, float *out);

/* The value formats only know the dense layout. An N:M matrix's kept values are a
 * dense rows x kc matrix in that layout; this fills *v with a dense header over the
 * same storage (cols = kpad = kc), through which the format's quantize and
 * dequantize_row work unchanged. v borrows q's pointers: never free it. */
void td_nm_dense_view(const td_qmatrix *q, td_qmatrix *v);

/* Position (0..M-1) within its M-block of kept value j of row r. */
static inline int td_nm_index(const td_qmatrix *q, int64_t r, int64_t j)
{
    const uint8_t *p = q->idx + (size_t)r * q->idx_row_bytes;
    int64_t bit = j * q->idx_bits;
    /* idx_bits <= 4, so one value spans at most two bytes (only 3-bit values do). */
    unsigned v = p[bit >> 3];
    if ((bit & 7) + q->idx_bits > 8)
        v |= (unsigned)p[(bit >> 3) + 1] << 8;
    return (int)((v >> (bit & 7)) & ((1u << q->idx_bits) - 1u));
}

#endif
