/* int6 weights: quantization (round-to-nearest and MSE clipping, symmetric only), the
 * 4-bit + 2-bit plane layout, bits per weight, and the W6A8 / W6A6 / W6-f32 kernels of
 * every ISA against the scalar reference (integer activations bit for bit, f32
 * activations within a stated rounding bound), plus bad input. */
#include <float.h>

#include "kernel_check.h"

static td_qmatrix *quantize(int group, bool asym, td_clip clip, int tile_rows, const float *w,
                            int64_t rows, int64_t cols)
{
    return kc_quantize(TD_INT6, group, asym, clip, tile_rows, w, rows, cols);
}

/* ---- quantization ---- */

/* Round-to-nearest clips nothing, so every weight is within half a step of its value,
 * and codes stay in [-31, 31] (scale = max|w| / 31). */
static void rtn_error_is_at_most_half_a_step(void)
{
    td_rng rng = {1};
    const int64_t rows = 7, cols = 300;
    float *w = random_matrix(&rng, rows, cols, 0.05f);
    w[5] = 3.0f; /* one outlier */
    int groups[] = {32, 64, 96, 128, 0};
    for (int gi = 0; gi < 5; gi++) {
        td_qmatrix *q = quantize(groups[gi], false, TD_CLIP_ABSMAX, 1, w, rows, cols);
        if (!q)
            continue;
        float *d = malloc((size_t)(rows * cols) * sizeof(float));
        TD_CHECK_OK(td_qmatrix_dequantize(q, d));
        int bad = 0, badcode = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < cols; k++) {
                float s = td_q_scale(q, r, k / q->gsize);
                float e = fabsf(w[r * cols + k] - d[r * cols + k]);
                bad += !(e <= 0.5f * s * (1.0f + 1e-5f));
                long code = lrintf(d[r * cols + k] / s);
                badcode += code < -31 || code > 31;
            }
        TD_CHECK(bad == 0, "group %d: %d weights off by more than scale/2", groups[gi], bad);
        TD_CHECK(badcode == 0, "group %d: %d codes out of range", groups[gi], badcode);
        free(d);
        td_qmatrix_free(q);
    }
    free(w);
}

/* The clipping search includes the absmax scale, so no group gets worse; on weights
 * with outliers it must find something strictly better overall. */
static void mse_clipping_never_loses_to_absmax(void)
{
    td_rng rng = {2};
    const int64_t rows = 16, cols = 512;
    /* Laplace-distributed weights: at 6 bits the rare large ones are worth clipping. */
    float *w = malloc(sizeof(float) * rows * cols);
    for (int64_t i = 0; i < rows * cols; i++) {
        float u = 0.5f * (td_rng_uniform(&rng) + 1.0f);
        w[i] = -logf(u + 1e-7f) * (td_rng_uniform(&rng) < 0.0f ? -1.0f : 1.0f);
    }
    float *da = malloc(sizeof(float) * rows * cols), *dm = malloc(sizeof(float) * rows * cols);
    int groups[] = {32, 128, 0};
    for (int gi = 0; gi < 3; gi++) {
        td_qmatrix *qa = quantize(groups[gi], false, TD_CLIP_ABSMAX, 1, w, rows, cols);
        td_qmatrix *qm = quantize(groups[gi], false, TD_CLIP_MSE, 1, w, rows, cols);
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
        TD_CHECK(worse == 0, "group %d: MSE search worse than absmax in %d groups", groups[gi],
                 worse);
        /* Six bits leave little to gain (3-4% on these weights), but it must be some. */
        TD_CHECK(tm < 0.99 * ta, "group %d: MSE search gained nothing (%g vs %g)", groups[gi], tm,
                 ta);
        td_qmatrix_free(qa);
        td_qmatrix_free(qm);
    }
    free(da);
    free(dm);
    free(w);
}

/* ---- layout ---- */

/* Biased code u = q + 32 of element k of a group, read the way the layout contract
 * describes it (written independently of the packer). */
static int contract_code(const uint8_t *grp, int64_t gs, int64_t k)
{
    int64_t h = gs / 2, qtr = gs / 4;
    int nib = k < h ? grp[k] & 0x0F : grp[k - h] >> 4;
    int two = (grp[h + k % qtr] >> (2 * (k / qtr))) & 3;
    return nib | two << 4;
}

/* Weights 2k - 31 (k = 0..31) have max |w| = 31, so the scale is exactly 1 and
 * u = 2k + 1. Nibble byte j holds u[j] & 15 and u[j + 16] & 15, which are equal here;
 * two-bit byte j holds bits 4..5 of u[j], u[j+8], u[j+16], u[j+24] = 0, 1, 2, 3. */
static void plane_layout_matches_the_contract(void)
{
    float w[32];
    for (int k = 0; k < 32; k++)
        w[k] = (float)(2 * k - 31);
    td_qmatrix *q = quantize(32, false, TD_CLIP_ABSMAX, 1, w, 1, 32);
    static const uint8_t expect[24] = {0x11, 0x33, 0x55, 0x77, 0x99, 0xBB, 0xDD, 0xFF,
                                       0x11, 0x33, 0x55, 0x77, 0x99, 0xBB, 0xDD, 0xFF,
                                       0xE4, 0xE4, 0xE4, 0xE4, 0xE4, 0xE4, 0xE4, 0xE4};
    TD_CHECK(q->scales[0] == 1.0f, "scale %g", q->scales[0]);
    TD_CHECK(q->row_bytes == 24, "row bytes %zu (0.75 byte per weight)", q->row_bytes);
    TD_CHECK(memcmp(q->codes, expect, 24) == 0, "plane bytes differ: %02x .. %02x, %02x",
             q->codes[0], q->codes[15], q->codes[16]);
    td_qmatrix_free(q);

    /* Random weights, group 128, K = 300 (padded to 384): every code read back through
     * the contract equals round(w / scale) + 32, padding equals 32 (the value 0). */
    td_rng rng = {9};
    float *wr = random_matrix(&rng, 3, 300, 1.0f);
    q = quantize(128, false, TD_CLIP_ABSMAX, 1, wr, 3, 300);
    int bad = 0;
    for (int64_t r = 0; r < 3; r++)
        for (int64_t k = 0; k < q->kpad; k++) {
            const uint8_t *grp = q->codes + r * q->row_bytes + (k / 128) * 96;
            int want = 32;
            if (k < 300)
                want += (int)nearbyintf(wr[r * 300 + k] * (1.0f / td_q_scale(q, r, k / 128)));
            bad += contract_code(grp, 128, k % 128) != want;
        }
    TD_CHECK(bad == 0, "group 128: %d codes differ from the contract layout", bad);
    td_qmatrix_free(q);
    free(wr);
}

static void bits_per_weight(void)
{
    td_rng rng = {3};
    float *w = random_matrix(&rng, 64, 4096, 1.0f);
    struct {
        int group;
        double bits;
    } cases[] = {{128, 6.25}, {32, 7.0}, {64, 6.5}, {256, 6.125}};
    for (int i = 0; i < 4; i++) {
        td_qmatrix *q = quantize(cases[i].group, false, TD_CLIP_ABSMAX, 1, w, 64, 4096);
        double b = td_qmatrix_bits_per_weight(q);
        TD_CHECK(fabs(b - cases[i].bits) < 1e-9, "g%d: %.4f bits, expected %.4f", cases[i].group, b,
                 cases[i].bits);
        td_qmatrix_free(q);
    }
    free(w);
}

/* ---- kernels ---- */

/* int6 is symmetric only, so the MSE clipping search is exercised on per-channel cases. */
static td_qmatrix *quantize_case(kcase c, const float *w, int64_t rows, int64_t cols)
{
    return quantize(c.group, false, c.group == 0 ? TD_CLIP_MSE : TD_CLIP_ABSMAX, c.tile_rows, w,
                    rows, cols);
}

/* Groups that are multiples of 128 take the direct GEMV at small batches; 32, 64, 96
 * and odd per-channel lengths go through the decoded token-panel path. */
static const kcase configs[] = {
    {128, 1, false, TD_ACT_INT8}, {32, 1, false, TD_ACT_INT8},  {64, 1, false, TD_ACT_INT6},
    {0, 1, false, TD_ACT_INT6},   {96, 1, false, TD_ACT_INT8},  {256, 1, false, TD_ACT_INT8},
    {128, 1, false, TD_ACT_F32},  {32, 1, false, TD_ACT_F32},   {0, 0, false, TD_ACT_INT8},
    {128, 4, false, TD_ACT_INT8}, {128, 1, false, TD_ACT_INT6}, {160, 1, false, TD_ACT_F32},
};

static const kc_format int6_format = {td_gemm_int6_ref, quantize_case, configs,
                                      (int)(sizeof configs / sizeof configs[0])};

/* ---- bad input ---- */

static void bad_input_is_rejected_by_name(void)
{
    float w[64 * 2];
    for (int i = 0; i < 128; i++)
        w[i] = (float)i / 100.0f;
    td_qspec spec = td_qspec_default(TD_INT6);
    td_qmatrix *q = NULL;
    spec.group = 20;
    TD_CHECK_ERROR(td_qmatrix_quantize(&spec, w, 2, 64, 64, &q), TD_CODE_INVALID_ARGUMENT,
                   "group size 20");
    TD_CHECK(q == NULL, "no matrix on error");
    spec.group = 128;
    spec.asym = true;
    TD_CHECK_ERROR(td_qmatrix_quantize(&spec, w, 2, 64, 64, &q), TD_CODE_INVALID_ARGUMENT,
                   "int6 has no asymmetric");
    TD_CHECK_ERROR(td_qspec_parse("int6:asym", &spec), TD_CODE_INVALID_ARGUMENT, "asymmetric");
    spec = td_qspec_default(TD_INT6);
    spec.group = -32;
    TD_CHECK_ERROR(td_qmatrix_quantize(&spec, w, 2, 64, 64, &q), TD_CODE_INVALID_ARGUMENT,
                   "negative");

    kc_common_bad_input(spec, w);

    TD_CHECK_ERROR(td_qspec_parse("int6:g48", &spec), TD_CODE_INVALID_ARGUMENT, "group size 48");
    TD_CHECK_OK(td_qspec_parse("int6:g64:mse", &spec));
    TD_CHECK(spec.group == 64 && !spec.asym && spec.clip == TD_CLIP_MSE, "parsed spec");
}

int main(void)
{
    rtn_error_is_at_most_half_a_step();
    mse_clipping_never_loses_to_absmax();
    plane_layout_matches_the_contract();
    bits_per_weight();
    kc_degenerate_groups(TD_INT6);
    bad_input_is_rejected_by_name();
    kernels_match_reference_on_all_shapes(&int6_format);
    large_case(&int6_format, (kcase){128, 1, false, TD_ACT_INT8},
               (kcase){128, 1, false, TD_ACT_INT6}, (kcase){128, 1, false, TD_ACT_F32});
    return td_test_finish("test_kernels_int6");
}
