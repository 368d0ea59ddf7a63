/* The dense f32 path: OpenBLAS sgemm. */
#ifndef TANDEM_BLAS_H
#define TANDEM_BLAS_H

#include "formats/qmatrix_internal.h"

void td_gemm_f32_blas(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1);
/* OpenBLAS keeps its own thread pool; the driver sets it to 1 thread before calling the
 * f32 kernel from its OpenMP threads. */
void td_blas_set_threads(int threads);

#endif
