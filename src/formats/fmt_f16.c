/* f16 (IEEE binary16) weights, rounded to nearest even. No scales. */
#include "formats/qmatrix_internal.h"
#include "kernels/float_kernels.h"

#define F16_INF 0x7c00u
#define F16_MAX 0x7bffu /* 65504 */

/* Values the kernels read per row: K (or the kept values of an N:M matrix) padded to
 * whole groups; the padding holds +0. */
static int64_t stored_values(const td_qmatrix *q)
{
    return q->spec.sparsity == TD_SPARSE_NM ? q->kc : q->cols;
}

static td_status f16_quantize(td_qmatrix *q, const float *w, int64_t ld)
{
    int64_t n = stored_values(q), padded = q->ngroups * q->gsize;
    for (int64_t r = 0; r < q->rows; r++) {
        uint16_t *dst = (uint16_t *)(q->codes + (size_t)r * q->row_bytes);
        for (int64_t k = 0; k < n; k++) {
            uint16_t c = td_f32_to_f16(w[r * ld + k]);
            /* Values from 65520 up round to infinity. */
            if ((c & 0x7fffu) == F16_INF) {
                if (!q->spec.saturate)
                    return td_error_new(TD_CODE_BAD_DATA,
                                        "f16: weight (%lld, %lld) = %g overflows f16 (max "
                                        "65504); the saturate option clamps it",
                                        (long long)r, (long long)k, (double)w[r * ld + k]);
                c = (uint16_t)((c & 0x8000u) | F16_MAX);
            }
            dst[k] = c;
        }
        for (int64_t k = n; k < padded; k++)
            dst[k] = 0;
    }
    return TD_OK;
}

static void f16_dequantize_row(const td_qmatrix *q, int64_t r, float *out)
{
    const uint16_t *src = (const uint16_t *)(q->codes + (size_t)r * q->row_bytes);
    int64_t padded = q->ngroups * q->gsize;
    for (int64_t k = 0; k < padded; k++)
        out[k] = td_f16_to_f32(src[k]);
}

const td_format_traits td_traits_f16 = {
    .info = {.name = "f16",
             .code_bits = 16,
             .group_multiple = 1,
             .has_scale = false,
             .allows_asym = false,
             .is_float = true},
    .quantize = f16_quantize,
    .dequantize_row = f16_dequantize_row,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_F32] = td_gemm_f16_ref,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_F32] = td_gemm_f16_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_F32] = td_gemm_f16_avx512,
};
