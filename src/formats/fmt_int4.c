/* int4 weights, group-wise: symmetric (value = scale * q) or asymmetric
 * (value = scale * (q - zero)), q in [-8, 7], stored as biased nibbles u = q + 8 in
 * the layout of qmatrix_internal.h (byte j of a group: element j low nibble, element
 * j + gsize/2 high nibble).
 *
 * Scale choice (formats/quant_common.c): symmetric scale = max|w| / 7, so
 * round-to-nearest codes stay in [-7, 7] and the grid is symmetric around 0; the
 * MSE clipping search shrinks that range and may then use -8 (codes are clamped to
 * [-8, 7]). Asymmetric maps [min(w, 0), max(w, 0)] onto [-8, 7]. */
#include "formats/quant_common.h"
#include "kernels/lowbit_kernels.h"

void td_int4_pack_group(const int8_t *q, int64_t gsize, uint8_t *dst)
{
    int64_t h = gsize / 2;
    for (int64_t j = 0; j < h; j++)
        dst[j] = (uint8_t)((q[j] + 8) | ((q[j + h] + 8) << 4));
}

static void int4_store(td_qmatrix *q, int64_t r, int64_t g, const int8_t *codes)
{
    td_int4_pack_group(codes, q->gsize, q->codes + r * q->row_bytes + g * (q->gsize / 2));
}

static td_status int4_quantize(td_qmatrix *q, const float *w, int64_t ld)
{
    if (q->gsize > TD_LOWBIT_MAX_GROUP)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "int4: scale group of %lld weights is longer than %lld, the most "
                            "the integer kernels accumulate exactly in int32 (use a group size)",
                            (long long)q->gsize, (long long)TD_LOWBIT_MAX_GROUP);
    return td_quant_grid(q, w, ld, -8, 7, int4_store);
}

/* Writes the ngroups * gsize values of row r (kpad, or kc for N:M) as
 * scale * (float)(q - zero), the same expression the quantizer's error search uses. */
static void int4_dequantize_row(const td_qmatrix *q, int64_t r, float *out)
{
    const uint8_t *row = q->codes + r * q->row_bytes;
    int64_t h = q->gsize / 2;
    for (int64_t g = 0; g < q->ngroups; g++) {
        float s = td_q_scale(q, r, g);
        int zb = 8 + td_q_zero(q, r, g); /* u - zb = q - zero */
        const uint8_t *src = row + g * h;
        float *dst = out + g * q->gsize;
        for (int64_t j = 0; j < h; j++) {
            dst[j] = s * (float)((src[j] & 0x0F) - zb);
            dst[j + h] = s * (float)((src[j] >> 4) - zb);
        }
    }
}

const td_format_traits td_traits_int4 = {
    .info = {.name = "int4",
             .code_bits = 4,
             .group_multiple = 32,
             .has_scale = true,
             .allows_asym = true,
             .is_float = false},
    .quantize = int4_quantize,
    .dequantize_row = int4_dequantize_row,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_F32] = td_gemm_int4_ref,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_INT8] = td_gemm_int4_ref,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_INT6] = td_gemm_int4_ref,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_F32] = td_gemm_int4_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_INT8] = td_gemm_int4_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_INT6] = td_gemm_int4_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_F32] = td_gemm_int4_avx512,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_INT8] = td_gemm_int4_avx512,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_INT6] = td_gemm_int4_avx512,
};
