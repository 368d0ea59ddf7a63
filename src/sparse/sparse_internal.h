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

#endif
