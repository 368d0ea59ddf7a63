/* int4 weights: quantization (round-to-nearest and MSE clipping, symmetric and with zero
 * points), the nibble layout, bits per weight, and the W4A8 / W4A6 / W4-f32 kernels of
 * every ISA against the scalar reference (integer activations bit for bit, f32
 * activations within a stated rounding bound), plus bad input. */
#include <float.h>

#include "kernel_check.h"

static td_qmatrix *quantize(int group, bool asym, td_clip clip, int tile_rows, const float *w,
                            int64_t rows, int64_t cols)
{
    return kc_quantize(TD_INT4, group, asym, clip, tile_rows, w, rows, cols);
}

/* ---- quantization ---- */

/* Round-to-nearest clips nothing, so every weight is within half a step of its value;
 * symmetric codes stay in [-7, 7] (scale = max|w| / 7), asymmetric zero points in
 * [-8, 7]. */
static void rtn_error_is_at_most_half_a_step(void)
{
    td_rng rng = {1};
    const int64_t rows = 7, cols = 300;
    float *w = random_matrix(&rng, rows, cols, 0.05f);
    w[5] = 3.0f; /* one outlier */
    int groups[] = {32, 64, 96, 128, 0};
    for (int gi = 0; gi < 5; gi++) {
        for (int asym = 0; asym < 2; asym++) {
            td_qmatrix *q = quantize(groups[gi], asym, TD_CLIP_ABSMAX, 1, w, rows, cols);
            if (!q)
                continue;
            float *d = malloc((size_t)(rows * cols) * sizeof(float));
            TD_CHECK_OK(td_qmatrix_dequantize(q, d));
            int bad = 0, badcode = 0;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t k = 0; k < cols; k++) {
                    float s = td_q_scale(q, r, k / q->gsize);
                    int z = td_q_zero(q, r, k / q->gsize);
                    float e = fabsf(w[r * cols + k] - d[r * cols + k]);
                    bad += !(e <= 0.5f * s * (1.0f + 1e-5f));
                    long code = lrintf(d[r * cols + k] / s) + z;
                    badcode +=
                        asym ? (code < -8 || code > 7 || z < -8 || z > 7) : (code < -7 || code > 7);
                }
            TD_CHECK(bad == 0, "group %d asym %d: %d weights off by more than scale/2", groups[gi],
                     asym, bad);
            TD_CHECK(badcode == 0, "group %d asym %d: %d codes out of range", groups[gi], asym,
                     badcode);
            free(d);
            td_qmatrix_free(q);
        }
    }
    free(w);
}

/* The clipping search includes the absmax scale, so no group gets worse; on weights
 * with outliers it must find something strictly better overall. */
static void mse_clipping_never_loses_to_absmax(void)
{
    td_rng rng = {2};
    const int64_t rows = 16, cols = 512;
    float *w = random_matrix(&rng, rows, cols, 1.0f);
    for (int64_t i = 0; i < rows * cols; i += 61)
        w[i] *= 6.0f; /* heavy tail */
    float *da = malloc(sizeof(float) * rows * cols), *dm = malloc(sizeof(float) * rows * cols);
    int groups[] = {32, 128, 0};
    for (int gi = 0; gi < 3; gi++) {
        for (int asym = 0; asym < 2; asym++) {
            td_qmatrix *qa = quantize(groups[gi], asym, TD_CLIP_ABSMAX, 1, w, rows, cols);
            td_qmatrix *qm = quantize(groups[gi], asym, TD_CLIP_MSE, 1, w, rows, cols);
            TD_CHECK_OK(td_qmatrix_dequantize(qa, da));
            TD_CHECK_OK(td_qmatrix_dequantize(qm, dm));
            int64_t gs = qa->gsize < cols ? qa->gsize : cols;
            double ta = 0, tm = 0;
            int worse = 0;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t k = 0; k < cols; k += gs) {
                    double ea = group_sq_error(w + r * cols + k, da + r * cols + k, gs);
                    double em = group_sq_error(w + r * cols + k, dm + r * cols + k, gs);
                    worse += em > ea * (1 + 1e-12);
                    ta += ea;
                    tm += em;
                }
            TD_CHECK(worse == 0, "group %d asym %d: MSE search worse than absmax in %d groups",
                     groups[gi], asym, worse);
            TD_CHECK(tm < 0.95 * ta, "group %d asym %d: MSE search gained nothing (%g vs %g)",
                     groups[gi], asym, tm, ta);
            td_qmatrix_free(qa);
            td_qmatrix_free(qm);
        }
    }
    free(da);
    free(dm);
    free(w);
}

/* ---- layout ---- */

/* Weights k % 15 - 7 have max |w| = 7, so the scale is exactly 1 and the biased codes
 * are u = k % 15 + 1. Byte j of the 32-weight group holds u[j] low, u[j + 16] high. */
static void nibble_layout_matches_the_contract(void)
{
    float w[32];
    for (int k = 0; k < 32; k++)
        w[k] = (float)(k % 15 - 7);
    td_qmatrix *q = quantize(32, false, TD_CLIP_ABSMAX, 1, w, 1, 32);
    static const uint8_t expect[16] = {0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98,
                                       0xA9, 0xBA, 0xCB, 0xDC, 0xED, 0xFE, 0x1F, 0x21};
    TD_CHECK(q->scales[0] == 1.0f, "scale %g", q->scales[0]);
    TD_CHECK(q->row_bytes == 16, "row bytes %zu", q->row_bytes);
    TD_CHECK(memcmp(q->codes, expect, 16) == 0, "nibble bytes differ: %02x %02x ... %02x",
             q->codes[0], q->codes[1], q->codes[15]);
    td_qmatrix_free(q);

    /* Asymmetric: weights 0..15 span [0, 15], so scale 1 and zero -8; the biased code
     * u = q + 8 = w. K = 40 pads the group to 64 with the code of 0 (u = zero + 8 = 0). */
    float wa[40];
    for (int k = 0; k < 40; k++)
        wa[k] = (float)(k % 16);
    q = quantize(64, true, TD_CLIP_ABSMAX, 1, wa, 1, 40);
    TD_CHECK(q->scales[0] == 1.0f && q->zeros[0] == -8, "scale %g zero %d", q->scales[0],
             q->zeros[0]);
    int bad = 0;
    for (int j = 0; j < 32; j++) {
        int lo = j % 16, hi = j + 32 < 40 ? (j + 32) % 16 : 0;
        bad += q->codes[j] != (uint8_t)(lo | hi << 4);
    }
    TD_CHECK(bad == 0, "asymmetric nibble layout: %d bytes differ", bad);
    td_qmatrix_free(q);
}

static void bits_per_weight(void)
{
    td_rng rng = {3};
    float *w = random_matrix(&rng, 64, 4096, 1.0f);
    struct {
        int group;
        bool asym;
        double bits;
    } cases[] = {{128, false, 4.25}, {32, false, 5.0}, {64, false, 4.5}, {128, true, 4.3125}};
    for (int i = 0; i < 4; i++) {
        td_qmatrix *q = quantize(cases[i].group, cases[i].asym, TD_CLIP_ABSMAX, 1, w, 64, 4096);
        double b = td_qmatrix_bits_per_weight(q);
        TD_CHECK(fabs(b - cases[i].bits) < 1e-9, "g%d asym %d: %.4f bits, expected %.4f",
                 cases[i].group, cases[i].asym, b, cases[i].bits);
        td_qmatrix_free(q);
    }
    free(w);
}

/* ---- kernels ---- */

/* int4 supports zero points; asymmetric cases also exercise the MSE clipping search. */
static td_qmatrix *quantize_case(kcase c, const float *w, int64_t rows, int64_t cols)
{
    return quantize(c.group, c.asym, c.asym ? TD_CLIP_MSE : TD_CLIP_ABSMAX, c.tile_rows, w, rows,
                    cols);
}

static const kcase configs[] = {
    {128, 1, false, TD_ACT_INT8}, {32, 1, false, TD_ACT_INT8},  {64, 1, true, TD_ACT_INT8},
    {0, 1, false, TD_ACT_INT6},   {96, 1, true, TD_ACT_INT8},   {32, 1, true, TD_ACT_INT6},
    {128, 1, true, TD_ACT_F32},   {32, 1, false, TD_ACT_F32},   {0, 0, false, TD_ACT_INT8},
    {64, 4, false, TD_ACT_INT8},  {128, 1, false, TD_ACT_INT6}, {160, 1, false, TD_ACT_F32},
};

static const kc_format int4_format = {td_gemm_int4_ref, quantize_case, configs,
                                      (int)(sizeof configs / sizeof configs[0])};

/* ---- bad input ---- */

static void bad_input_is_rejected_by_name(void)
{
    float w[64 * 2];
    for (int i = 0; i < 128; i++)
        w[i] = (float)i / 100.0f;
    td_qspec spec = td_qspec_default(TD_INT4);
    td_qmatrix *q = NULL;
    spec.group = 20;
    TD_CHECK_ERROR(td_qmatrix_quantize(&spec, w, 2, 64, 64, &q), TD_CODE_INVALID_ARGUMENT,
                   "group size 20");
    TD_CHECK(q == NULL, "no matrix on error");
    spec.group = -32;
    TD_CHECK_ERROR(td_qmatrix_quantize(&spec, w, 2, 64, 64, &q), TD_CODE_INVALID_ARGUMENT,
                   "negative");

    kc_common_bad_input(spec, w);

    TD_CHECK_ERROR(td_qspec_parse("int4:g48", &spec), TD_CODE_INVALID_ARGUMENT, "group size 48");
    TD_CHECK_OK(td_qspec_parse("int4:g64:asym:mse", &spec));
    TD_CHECK(spec.group == 64 && spec.asym && spec.clip == TD_CLIP_MSE, "parsed spec");
}

int main(void)
{
    rtn_error_is_at_most_half_a_step();
    mse_clipping_never_loses_to_absmax();
    nibble_layout_matches_the_contract();
    bits_per_weight();
    kc_degenerate_groups(TD_INT4);
    bad_input_is_rejected_by_name();
    kernels_match_reference_on_all_shapes(&int4_format);
    large_case(&int4_format, (kcase){128, 1, false, TD_ACT_INT8}, (kcase){32, 1, true, TD_ACT_INT8},
               (kcase){128, 1, false, TD_ACT_F32});
    return td_test_finish("test_kernels_int4");
}
