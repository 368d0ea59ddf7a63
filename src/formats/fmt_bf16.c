/* bf16 weights: the top 16 bits of each f32, rounded to nearest even. No scales. */
#include "formats/qmatrix_internal.h"
#include "kernels/float_kernels.h"

#define BF16_INF 0x7f80u
#define BF16_MAX 0x7f7fu /* 3.3895e38 */

/* Values the kernels read per row: K (or the kept values of an N:M matrix) padded to
 * whole groups; the padding holds +0. */
static int64_t stored_values(const td_qmatrix *q)
{
    return q->spec.sparsity == TD_SPARSE_NM ? q->kc : q->cols;
}

static td_status bf16_quantize(td_qmatrix *q, const float *w, int64_t ld)
{
    int64_t n = stored_values(q), padded = q->ngroups * q->gsize;
    for (int64_t r = 0; r < q->rows; r++) {
        uint16_t *dst = (uint16_t *)(q->codes + (size_t)r * q->row_bytes);
        for (int64_t k = 0; k < n; k++) {
            uint16_t c = td_f32_to_bf16(w[r * ld + k]);
            /* Finite inputs within half an ulp of FLT_MAX round to infinity. */
            if ((c & 0x7fffu) == BF16_INF) {
                if (!q->spec.saturate)
                    return td_error_new(TD_CODE_BAD_DATA,
                                        "bf16: weight (%lld, %lld) = %g overflows bf16 (max "
                                        "3.3895e38); the saturate option clamps it",
                                        (long long)r, (long long)k, (double)w[r * ld + k]);
                c = (uint16_t)((c & 0x8000u) | BF16_MAX);
            }
            dst[k] = c;
        }
        for (int64_t k = n; k < padded; k++)
            dst[k] = 0;
    }
    return TD_OK;
}

static void bf16_dequantize_row(const td_qmatrix *q, int64_t r, float *out)
{
    const uint16_t *src = (const uint16_t *)(q->codes + (size_t)r * q->row_bytes);
    int64_t padded = q->ngroups * q->gsize;
    for (int64_t k = 0; k < padded; k++)
        out[k] = td_bf16_to_f32(src[k]);
}

const td_format_traits td_traits_bf16 = {
    .info = {.name = "bf16",
             .code_bits = 16,
             .group_multiple = 1,
             .has_scale = false,
             .allows_asym = false,
             .is_float = true},
    .quantize = bf16_quantize,
    .dequantize_row = bf16_dequantize_row,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_F32] = td_gemm_bf16_ref,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_F32] = td_gemm_bf16_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_F32] = td_gemm_bf16_avx512,
};
