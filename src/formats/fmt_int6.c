/* int6 weights, group-wise symmetric (value = scale * q, q in [-31, 31], scale =
 * max|w| / 31 or the MSE-clipped one), stored as biased codes u = q + 32 split into a
 * 4-bit plane (gsize/2 bytes, nibble layout as int4) and a 2-bit plane (gsize/4
 * bytes: byte j holds bits 4..5 of elements j, j + gsize/4, j + gsize/2,
 * j + 3*gsize/4 in bit pairs 0-1, 2-3, 4-5, 6-7). Each plane unpacks with shifts and
 * masks, so a kernel gets int8-ready codes from 0.75 byte per weight.
 * No asymmetric form: the trait says so and the generic driver rejects it. */
#include "formats/quant_common.h"
#include "kernels/lowbit_kernels.h"

void td_int6_pack_group(const int8_t *q, int64_t gsize, uint8_t *dst)
{
    int64_t h = gsize / 2, qtr = gsize / 4;
    for (int64_t j = 0; j < h; j++)
        dst[j] = (uint8_t)(((q[j] + 32) & 0x0F) | (((q[j + h] + 32) & 0x0F) << 4));
    for (int64_t j = 0; j < qtr; j++) {
        uint8_t b = 0;
        for (int i = 0; i < 4; i++)
            b |= (uint8_t)((((q[j + i * qtr] + 32) >> 4) & 3) << (2 * i));
        dst[h + j] = b;
    }
}

static void int6_store(td_qmatrix *q, int64_t r, int64_t g, const int8_t *codes)
{
    td_int6_pack_group(codes, q->gsize, q->codes + r * q->row_bytes + g * (q->gsize / 4 * 3));
}

static td_status int6_quantize(td_qmatrix *q, const float *w, int64_t ld)
{
    if (q->gsize > TD_LOWBIT_MAX_GROUP)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "int6: scale group of %lld weights is longer than %lld, the most "
                            "the integer kernels accumulate exactly in int32 (use a group size)",
                            (long long)q->gsize, (long long)TD_LOWBIT_MAX_GROUP);
    if (q->spec.asym) /* the driver checks allows_asym; this guards direct callers */
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "int6 has no asymmetric (zero-point) form");
    return td_quant_grid(q, w, ld, -31, 31, int6_store);
}

/* Writes the ngroups * gsize values of row r as scale * (float)q. */
static void int6_dequantize_row(const td_qmatrix *q, int64_t r, float *out)
{
    const uint8_t *row = q->codes + r * q->row_bytes;
    int64_t h = q->gsize / 2, qtr = q->gsize / 4;
    for (int64_t g = 0; g < q->ngroups; g++) {
        float s = td_q_scale(q, r, g);
        const uint8_t *lo = row + g * (3 * qtr);
        const uint8_t *hi = lo + h;
        float *dst = out + g * q->gsize;
        for (int64_t k = 0; k < q->gsize; k++) {
            int nib = k < h ? (lo[k] & 0x0F) : (lo[k - h] >> 4);
            int two = (hi[k % qtr] >> (2 * (k / qtr))) & 3;
            dst[k] = s * (float)((nib | (two << 4)) - 32);
        }
    }
}

const td_format_traits td_traits_int6 = {
    .info = {.name = "int6",
             .code_bits = 6,
             .group_multiple = 32,
             .has_scale = true,
             .allows_asym = false,
             .is_float = false},
    .quantize = int6_quantize,
    .dequantize_row = int6_dequantize_row,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_F32] = td_gemm_int6_ref,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_INT8] = td_gemm_int6_ref,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_INT6] = td_gemm_int6_ref,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_F32] = td_gemm_int6_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_INT8] = td_gemm_int6_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_INT6] = td_gemm_int6_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_F32] = td_gemm_int6_avx512,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_INT8] = td_gemm_int6_avx512,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_INT6] = td_gemm_int6_avx512,
};
