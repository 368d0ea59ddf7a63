/* int4 weights: quantization (round-to-nearest and MSE clipping, symmetric and with zero
 * points), the nibble layout, bits per weight, and the W4A8 / W4A6 / W4-f32 kernels of
 * every ISA against the scalar reference (integer activations bit for bit, f32
 * activations within a stated rounding bound), plus bad input. */
#include <float.h>

#include "td_test.h"
#include "formats/qmatrix_internal.h"
#include "kernels/lowbit_kernels.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TD_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TD_UNDER_ASAN 1
#endif

static float *random_matrix(td_rng *rng, int64_t rows, int64_t cols, float amp)
{
    float *w = malloc((size_t)(rows * cols) * sizeof(float));
    for (int64_t i = 0; i < rows * cols; i++)
        w[i] = amp * td_rng_normal(rng);
    return w;
}

static td_qmatrix *quantize(int group, bool asym, td_clip clip, int tile_rows, const float *w,
                            int64_t rows, int64_t cols)
{
    td_qspec spec = td_qspec_default(TD_INT4);
    spec.group = group;
    spec.asym = asym;
    spec.clip = clip;
    spec.tile_rows = tile_rows;
    td_qmatrix *q = NULL;
    TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, cols, cols, &q));
    return q;
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

static double group_sq_error(const float *w, const float *d, int64_t n)
{
    double e = 0.0;
    for (int64_t i = 0; i < n; i++)
        e += ((double)w[i] - d[i]) * ((double)w[i] - d[i]);
    return e;
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

/* Independent model of the integer-activation semantics (lowbit_kernels.h), built from
 * the dequantized weights rather than the packed codes: (q - zero) = deq / scale. */
static void oracle_int(const td_qmatrix *q, const float *deq, const td_act *a, float *y)
{
    for (int64_t r = 0; r < q->rows; r++)
        for (int64_t b = 0; b < a->batch; b++) {
            float acc = 0.0f;
            for (int64_t g = 0; g < q->ngroups; g++) {
                float s = td_q_scale(q, r, g);
                int32_t d = 0;
                for (int64_t k = g * q->gsize; k < (g + 1) * q->gsize && k < q->cols; k++)
                    d += (int32_t)lrintf(deq[r * q->cols + k] / s) * a->q[b * a->kpad + k];
                acc = fmaf((float)d, s, acc);
            }
            y[b * q->rows + r] = acc * a->scale[b];
        }
}

typedef struct kcase {
    int group, tile_rows;
    bool asym;
    td_act_type act;
} kcase;

static int isa_best(void)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    return (int)cpu.best;
}

/* Runs every ISA (scalar .. best) at 1 and 2 threads and compares with the reference:
 * bit for bit for integer activations, within the f32 bound otherwise. */
static void check_shape(td_rng *rng, int64_t rows, int64_t cols, int64_t batch, kcase c,
                        bool check_oracle)
{
    float *w = random_matrix(rng, rows, cols, 0.1f);
    float *x = random_matrix(rng, batch, cols, 1.0f);
    if (cols > 3)
        x[2] = 0.0f;
    td_qmatrix *q = quantize(c.group, c.asym, c.asym ? TD_CLIP_MSE : TD_CLIP_ABSMAX, c.tile_rows, w,
                             rows, cols);
    td_act *a;
    TD_CHECK_OK(td_act_new(&a));
    TD_CHECK_OK(td_act_prepare(a, q, c.act, x, batch, cols));
    float *ref = malloc(sizeof(float) * (size_t)(rows * batch));
    float *y = malloc(sizeof(float) * (size_t)(rows * batch));
    td_gemm_int4_ref(q, a, ref, rows, 0, rows);
    float *deq = malloc(sizeof(float) * (size_t)(rows * cols));
    TD_CHECK_OK(td_qmatrix_dequantize(q, deq));

    /* f32 bound: the longest sequential rounding chain of any kernel is the scalar
     * reference's (gsize products, then ngroups scale FMAs), plus a few. */
    double chain = (double)(q->gsize + q->ngroups + 8);
    if (c.act == TD_ACT_F32 || check_oracle) {
        int bad = 0;
        float *o = malloc(sizeof(float) * (size_t)(rows * batch));
        if (c.act != TD_ACT_F32)
            oracle_int(q, deq, a, o);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < batch; b++) {
                if (c.act != TD_ACT_F32) {
                    bad += memcmp(&o[b * rows + r], &ref[b * rows + r], sizeof(float)) != 0;
                    continue;
                }
                double exact = 0, mag = 0;
                for (int64_t k = 0; k < cols; k++) {
                    exact += (double)deq[r * cols + k] * x[b * cols + k];
                    mag += fabs((double)deq[r * cols + k] * x[b * cols + k]);
                }
                bad += !(fabs(ref[b * rows + r] - exact) <= chain * 0x1p-24 * mag + 1e-30);
            }
        TD_CHECK(bad == 0, "reference vs oracle: %d of %lld results wrong (%lldx%lld b%lld g%d)",
                 bad, (long long)(rows * batch), (long long)rows, (long long)cols, (long long)batch,
                 c.group);
        free(o);
    }

    for (int isa = TD_ISA_SCALAR; isa <= isa_best(); isa++)
        for (int threads = 1; threads <= 2; threads++) {
            td_ctx ctx = {.threads = threads, .isa = (td_isa)isa};
            TD_CHECK(td_gemm_isa(&ctx, q, c.act) == (td_isa)isa, "isa %s not registered",
                     td_isa_name((td_isa)isa));
            memset(y, 0xFF, sizeof(float) * (size_t)(rows * batch));
            TD_CHECK_OK(td_gemm_prepared(&ctx, q, a, y, rows));
            int bad = 0;
            for (int64_t i = 0; i < rows * batch; i++) {
                if (c.act != TD_ACT_F32) {
                    bad += memcmp(&y[i], &ref[i], sizeof(float)) != 0;
                } else {
                    int64_t r = i % rows, b = i / rows;
                    double exact = 0, mag = 0;
                    for (int64_t k = 0; k < cols; k++) {
                        exact += (double)deq[r * cols + k] * x[b * cols + k];
                        mag += fabs((double)deq[r * cols + k] * x[b * cols + k]);
                    }
                    bad += !(fabs(y[i] - exact) <= chain * 0x1p-24 * mag + 1e-30);
                }
            }
            TD_CHECK(bad == 0,
                     "%s x%d %s: %d of %lld differ (%lldx%lld batch %lld g%d tile %d asym %d)",
                     td_isa_name((td_isa)isa), threads, td_act_name(c.act), bad,
                     (long long)(rows * batch), (long long)rows, (long long)cols, (long long)batch,
                     c.group, c.tile_rows, c.asym);
        }
    free(deq);
    free(y);
    free(ref);
    td_act_free(a);
    td_qmatrix_free(q);
    free(x);
    free(w);
}

static const kcase configs[] = {
    {128, 1, false, TD_ACT_INT8}, {32, 1, false, TD_ACT_INT8},  {64, 1, true, TD_ACT_INT8},
    {0, 1, false, TD_ACT_INT6},   {96, 1, true, TD_ACT_INT8},   {32, 1, true, TD_ACT_INT6},
    {128, 1, true, TD_ACT_F32},   {32, 1, false, TD_ACT_F32},   {0, 0, false, TD_ACT_INT8},
    {64, 4, false, TD_ACT_INT8},  {128, 1, false, TD_ACT_INT6}, {160, 1, false, TD_ACT_F32},
};
enum { NCONFIG = sizeof configs / sizeof configs[0] };

/* Every shape of the grid, each with a configuration taken in rotation so that all of
 * them meet all kinds of shapes; every configuration also runs on one mid shape. */
static void kernels_match_reference_on_all_shapes(void)
{
    td_rng rng = {4};
    static const int64_t rows_list[] = {1, 3, 16, 17, 100, 257};
    static const int64_t k_list[] = {1, 7, 31, 32, 33, 100, 127, 128, 129, 500, 4096};
    static const int64_t b_list[] = {1, 2, 3, 7, 16, 33};
    int n = 0;
    for (int ri = 0; ri < 6; ri++)
        for (int ki = 0; ki < 11; ki++)
            for (int bi = 0; bi < 6; bi++, n++) {
                if (rows_list[ri] * k_list[ki] * b_list[bi] > 8000000)
                    continue; /* 257 x 4096 x 16+: the big case below covers it */
                check_shape(&rng, rows_list[ri], k_list[ki], b_list[bi], configs[n % NCONFIG],
                            n % 7 == 0);
            }
    for (int i = 0; i < NCONFIG; i++)
        for (int bi = 0; bi < 6; bi++)
            check_shape(&rng, 37, 520, b_list[bi], configs[i], true);
}

static void large_case(void)
{
    td_rng rng = {5};
#ifdef TD_UNDER_ASAN
    const int64_t rows = 256, batch = 17;
#else
    const int64_t rows = 1024, batch = 64;
#endif
    kcase c8 = {128, 1, false, TD_ACT_INT8}, c32 = {32, 1, true, TD_ACT_INT8};
    kcase cf = {128, 1, false, TD_ACT_F32};
    check_shape(&rng, rows, 4096, batch, c8, false);
    check_shape(&rng, rows, 4096, 1, c32, false);
    check_shape(&rng, rows, 4096, 3, cf, false);
}

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

    spec.group = 0; /* per-channel: one scale per row */
    TD_CHECK_OK(td_qmatrix_quantize(&spec, w, 2, 64, 64, &q));
    TD_CHECK(q && q->ngroups == 1 && q->gsize >= 64, "per-channel layout");
    td_qmatrix_free(q);
    q = NULL;

    spec.group = 32;
    w[70] = NAN;
    TD_CHECK_ERROR(td_qmatrix_quantize(&spec, w, 2, 64, 64, &q), TD_CODE_BAD_DATA, "NaN");
    w[70] = INFINITY;
    TD_CHECK_ERROR(td_qmatrix_quantize(&spec, w, 2, 64, 64, &q), TD_CODE_BAD_DATA, "infinite");
    w[70] = 0.0f;
    TD_CHECK_ERROR(td_qmatrix_quantize(&spec, w, 0, 64, 64, &q), TD_CODE_INVALID_ARGUMENT,
                   "positive");
    TD_CHECK_ERROR(td_qmatrix_quantize(&spec, w, 2, 64, 10, &q), TD_CODE_INVALID_ARGUMENT,
                   "leading dimension");

    /* A per-channel row longer than the exact int32 accumulation allows. */
    int64_t longk = TD_LOWBIT_MAX_GROUP + 64;
    float *wl = calloc((size_t)longk, sizeof(float));
    spec.group = 0;
    TD_CHECK_ERROR(td_qmatrix_quantize(&spec, wl, 1, longk, longk, &q), TD_CODE_INVALID_ARGUMENT,
                   "int32");
    free(wl);

    TD_CHECK_ERROR(td_qspec_parse("int4:g48", &spec), TD_CODE_INVALID_ARGUMENT, "group size 48");
    TD_CHECK_OK(td_qspec_parse("int4:g64:asym:mse", &spec));
    TD_CHECK(spec.group == 64 && spec.asym && spec.clip == TD_CLIP_MSE, "parsed spec");
}

/* Tiny and all-zero groups keep finite scales and give back exact zeros. */
static void degenerate_groups(void)
{
    float w[64] = {0};
    w[40] = 1e-39f; /* subnormal */
    td_qmatrix *q = quantize(32, false, TD_CLIP_MSE, 1, w, 1, 64);
    float d[64];
    TD_CHECK_OK(td_qmatrix_dequantize(q, d));
    TD_CHECK(isfinite(q->scales[0]) && q->scales[0] > 0 && isfinite(q->scales[1]), "scales %g %g",
             q->scales[0], q->scales[1]);
    int bad = 0;
    for (int k = 0; k < 64; k++)
        bad += k == 40 ? !(fabsf(d[k] - w[k]) <= 1e-39f) : d[k] != 0.0f;
    TD_CHECK(bad == 0, "degenerate groups: %d values wrong", bad);
    td_qmatrix_free(q);
}

int main(void)
{
    rtn_error_is_at_most_half_a_step();
    mse_clipping_never_loses_to_absmax();
    nibble_layout_matches_the_contract();
    bits_per_weight();
    degenerate_groups();
    bad_input_is_rejected_by_name();
    kernels_match_reference_on_all_shapes();
    large_case();
    return td_test_finish("test_kernels_int4");
}
