/* f32 weights: stored as-is; the product goes to OpenBLAS sgemm. */
#include <string.h>

#include "formats/qmatrix_internal.h"
#include "kernels/blas.h"

static td_status f32_quantize(td_qmatrix *q, const float *w, int64_t ld)
{
    for (int64_t r = 0; r < q->rows; r++)
        memcpy(q->codes + r * q->row_bytes, w + r * ld, (size_t)q->cols * sizeof(float));
    return TD_OK;
}

static void f32_dequantize_row(const td_qmatrix *q, int64_t r, float *out)
{
    memcpy(out, q->codes + r * q->row_bytes, (size_t)q->kpad * sizeof(float));
}

const td_format_traits td_traits_f32 = {
    .info = {.name = "f32", .code_bits = 32, .group_multiple = 1, .is_float = true},
    .quantize = f32_quantize,
    .dequantize_row = f32_dequantize_row,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_F32] = td_gemm_f32_blas,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_F32] = td_gemm_f32_blas,
    .uses_blas = true,
};
