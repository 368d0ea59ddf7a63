/* OCP FP8 weights (E4M3 and E5M2) with f32 scales.
 *
 * Scale granularity follows the dense layout's grid (qmatrix_internal.h): per tensor
 * (group 0, tile_rows 0), per channel (group 0, tile_rows 1), per group (group g,
 * tile_rows 1) or per tile (e.g. group 64, tile_rows 64). Each block of the grid gets
 * scale = amax / max_normal (448 for E4M3, 57344 for E5M2), so its largest weight
 * lands on the format's largest normal and nothing overflows; an all-zero block gets
 * scale 1. A weight w is stored as code = fp8(w / scale), rounded to nearest even, and
 * stands for scale * fp8_value(code).
 *
 * spec.saturate selects the saturating conversion. With the absmax scale w / scale
 * never rounds past max normal, so it only matters for TD_CLIP_MSE: that search tries
 * scales alpha * amax / max_normal for alpha = 1.00, 0.99, ..., 0.50 and keeps the one
 * with the smallest squared error; a clipping scale (alpha < 1) must saturate the
 * values beyond it (the non-saturating conversion would turn them into NaN or inf),
 * so a clipped block is always encoded saturating. */
#include <float.h>
#include <math.h>

#include "formats/qmatrix_internal.h"
#include "kernels/float_kernels.h"

typedef struct fp8_codec {
    uint8_t (*encode)(float, bool);
    float (*decode)(uint8_t);
    float max_normal;
} fp8_codec;

static const fp8_codec codec_e4m3 = {td_f32_to_fp8_e4m3, td_fp8_e4m3_to_f32, 448.0f};
static const fp8_codec codec_e5m2 = {td_f32_to_fp8_e5m2, td_fp8_e5m2_to_f32, 57344.0f};

static const fp8_codec *codec_of(const td_qmatrix *q)
{
    return q->spec.format == TD_FP8_E4M3 ? &codec_e4m3 : &codec_e5m2;
}

/* Scale that maps alpha * amax onto max normal. Kept >= FLT_MIN so that w / scale is
 * never a division by a subnormal (whose relative precision is poor): for blocks
 * that tiny the codes simply use fewer bits. */
static float block_scale(float amax, float alpha, float max_normal)
{
    if (amax == 0.0f)
        return 1.0f;
    float s = (alpha * amax) / max_normal;
    return s < FLT_MIN ? FLT_MIN : s;
}

typedef struct block {
    const float *w; /* first weight of the block */
    int64_t ld, nr, nc;
} block;

/* Squared round-trip error of the block under `scale`, saturating conversion. Stops
 * early once it reaches `stop` (the best error so far): the candidate has lost. */
static double block_error(const fp8_codec *c, block b, float scale, double stop)
{
    double err = 0.0;
    for (int64_t i = 0; i < b.nr && err < stop; i++) {
        const float *p = b.w + i * b.ld;
        for (int64_t k = 0; k < b.nc; k++) {
            double d = (double)p[k] - (double)(scale * c->decode(c->encode(p[k] / scale, true)));
            err += d * d;
        }
    }
    return err;
}

/* Quantizes block (tile ti, group g): chooses its scale and writes its codes. */
static void quantize_block(td_qmatrix *q, const float *w, int64_t ld, int64_t nvals, int64_t ti,
                           int64_t g)
{
    const fp8_codec *c = codec_of(q);
    int64_t r0 = ti * q->tile_rows, c0 = g * q->gsize;
    block b = {w + r0 * ld + c0, ld, q->rows - r0 < q->tile_rows ? q->rows - r0 : q->tile_rows,
               nvals - c0 < q->gsize ? nvals - c0 : q->gsize};
    float amax = 0.0f;
    for (int64_t i = 0; i < b.nr; i++)
        for (int64_t k = 0; k < b.nc; k++)
            amax = fmaxf(amax, fabsf(b.w[i * ld + k]));
    float scale = block_scale(amax, 1.0f, c->max_normal);
    bool saturate = q->spec.saturate;
    if (q->spec.clip == TD_CLIP_MSE && amax > 0.0f) {
        double best = block_error(c, b, scale, INFINITY);
        for (int step = 99; step >= 50; step--) {
            float s = block_scale(amax, (float)step / 100.0f, c->max_normal);
            double err = block_error(c, b, s, best);
            if (err < best) { /* strict: ties keep the wider range */
                best = err;
                scale = s;
                saturate = true;
            }
        }
    }
    q->scales[ti * q->ngroups + g] = scale;
    for (int64_t i = 0; i < b.nr; i++) {
        uint8_t *dst = q->codes + (size_t)(r0 + i) * q->row_bytes + c0;
        for (int64_t k = 0; k < b.nc; k++)
            dst[k] = c->encode(b.w[i * ld + k] / scale, saturate);
    }
}

static td_status fp8_quantize(td_qmatrix *q, const float *w, int64_t ld)
{
    int64_t nvals = q->spec.sparsity == TD_SPARSE_NM ? q->kc : q->cols;
    int64_t padded = q->ngroups * q->gsize;
    if (!q->scales || q->gsize < 1 || q->tile_rows < 1 || padded < nvals)
        return td_error_new(TD_CODE_INTERNAL, "fp8 quantizer: matrix layout is not set up");
    int64_t nblocks = q->scale_rows * q->ngroups;
    /* Threads only pay off for matrices of some size. */
    bool big = q->rows * nvals >= ((int64_t)1 << 16);
    (void)big;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (big)
#endif
    for (int64_t i = 0; i < nblocks; i++)
        quantize_block(q, w, ld, nvals, i / q->ngroups, i % q->ngroups);
    /* K padding: code 0x00 is +0 in both formats. */
    for (int64_t r = 0; r < q->rows; r++)
        for (int64_t k = nvals; k < padded; k++)
            q->codes[(size_t)r * q->row_bytes + k] = 0;
    return TD_OK;
}

static void fp8_dequantize_row(const td_qmatrix *q, int64_t r, float *out)
{
    const fp8_codec *c = codec_of(q);
    const uint8_t *src = q->codes + (size_t)r * q->row_bytes;
    for (int64_t g = 0; g < q->ngroups; g++) {
        float s = td_q_scale(q, r, g);
        for (int64_t k = g * q->gsize; k < (g + 1) * q->gsize; k++)
            out[k] = s * c->decode(src[k]);
    }
}

const td_format_traits td_traits_fp8_e4m3 = {
    .info = {.name = "fp8_e4m3",
             .code_bits = 8,
             .group_multiple = 1,
             .has_scale = true,
             .allows_asym = false,
             .is_float = true},
    .quantize = fp8_quantize,
    .dequantize_row = fp8_dequantize_row,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_F32] = td_gemm_fp8_e4m3_ref,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_F32] = td_gemm_fp8_e4m3_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_F32] = td_gemm_fp8_e4m3_avx512,
};

const td_format_traits td_traits_fp8_e5m2 = {
    .info = {.name = "fp8_e5m2",
             .code_bits = 8,
             .group_multiple = 1,
             .has_scale = true,
             .allows_asym = false,
             .is_float = true},
    .quantize = fp8_quantize,
    .dequantize_row = fp8_dequantize_row,
    .kernels[TD_DENSE][TD_ISA_SCALAR][TD_ACT_F32] = td_gemm_fp8_e5m2_ref,
    .kernels[TD_DENSE][TD_ISA_AVX2][TD_ACT_F32] = td_gemm_fp8_e5m2_avx2,
    .kernels[TD_DENSE][TD_ISA_AVX512][TD_ACT_F32] = td_gemm_fp8_e5m2_avx512,
};
