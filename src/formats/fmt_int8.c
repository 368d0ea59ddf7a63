/* int8 weights: codes in [-127, 127] with an f32 scale per tensor, channel, group or
 * tile, and optionally an int8 zero point (asymmetric). -128 is never produced, which
 * keeps AVX2's sign trick (maddubs(|w|, sign(x, w))) exact.
 *
 * Kernels accumulate each scale group in int32, so a group may hold at most
 * TD_INT8_MAX_GROUP values: |q_w - zero| <= 254 and |q_x| <= 127 (and the VNNI
 * kernels' +128 bias, 255 * 127) keep every partial sum below 2^31. */
#include <string.h>

#include "formats/quant_common.h"
#include "kernels/int8_kernels.h"

static void int8_store(td_qmatrix *q, int64_t r, int64_t g, const int8_t *codes)
{
    memcpy(q->codes + (size_t)r * q->row_bytes + (size_t)(g * q->gsize), codes, (size_t)q->gsize);
}

static td_status int8_quantize(td_qmatrix *q, const float *w, int64_t ld)
{
    if (q->gsize > TD_INT8_MAX_GROUP)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "int8: a scale group of %lld values could overflow the kernels' "
                            "32-bit accumulators (at most %d; use a group size such as g4096)",
                            (long long)q->gsize, TD_INT8_MAX_GROUP);
    size_t n;
    TD_TRY(td_elem_count(q->rows, q->ngroups, "int8 group sums", &n));
    TD_TRY(td_alloc(n * sizeof(int32_t), (void **)&q->wsum));
    /* wsum is not added to q->bytes: the int8 kernels bias the weights (not the
     * activations) and correct with the activations' group sums instead. */
    return td_quant_grid(q, w, ld, -127, 127, int8_store);
}

static void int8_dequantize_row(const td_qmatrix *q, int64_t r, float *out)
{
    const int8_t *c = (const int8_t *)(q->codes + (size_t)r * q->row_bytes);
    for (int64_t g = 0; g < q->ngroups; g++) {
        float s = td_q_scale(q, r, g);
        int z = td_q_zero(q, r, g);
        for (int64_t k = g * q->gsize; k < (g + 1) * q->gsize; k++)
            out[k] = s * (float)(c[k] - z);
    }
}

const td_format_traits td_traits_int8 = {
    .info = {.name = "int8",
             .code_bits = 8,
             .group_multiple = 1,
             .has_scale = true,
             .allows_asym = true,
             .is_float = false},
    .quantize = int8_quantize,
    .dequantize_row = int8_dequantize_row,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_F32] = td_gemm_int8_f32_ref,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_INT8] = td_gemm_int8_ref,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_INT6] = td_gemm_int8_ref,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_F32] = td_gemm_int8_f32_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_INT8] = td_gemm_int8_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_INT6] = td_gemm_int8_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_F32] = td_gemm_int8_f32_avx512,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_INT8] = td_gemm_int8_avx512,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_INT6] = td_gemm_int8_avx512,
};
