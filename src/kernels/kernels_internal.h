/* Kernel-side helpers shared by the reference and per-ISA kernels. */
#ifndef TANDEM_KERNELS_INTERNAL_H
#define TANDEM_KERNELS_INTERNAL_H

#include "formats/qmatrix_internal.h"

/* Generic reference for any dense format: dequantizes each row to f32 and takes
 * dot products in double with the f32 activations (or, for quantized activations,
 * with q * scale). It is the oracle of last resort and the fallback when a format
 * has no kernel for a combination. */
void td_gemm_ref_generic(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                         int64_t r1);

#endif
