/* Kernel-test harness shared by the low-bit weight formats (int4, int6): random data,
 * the integer-activation oracle, the f32 rounding bound, and the check that runs every
 * ISA at 1 and 2 threads over a grid of shapes against the format's scalar reference.
 * Each test file supplies only what differs: the reference kernel, how a kernel case is
 * quantized, and its list of configurations. Kept in one place so the formats are held
 * to the same bounds and the same shapes. */
#ifndef TD_KERNEL_CHECK_H
#define TD_KERNEL_CHECK_H

#include <stdbool.h>

#include "td_test.h"
#include "formats/qmatrix_internal.h"
#include "kernels/lowbit_kernels.h"

/* The large case shrinks under ASan, which would otherwise take minutes. */
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

static td_qmatrix *kc_quantize(td_format format, int group, bool asym, td_clip clip, int tile_rows,
                               const float *w, int64_t rows, int64_t cols)
{
    td_qspec spec = td_qspec_default(format);
    spec.group = group;
    spec.asym = asym;
    spec.clip = clip;
    spec.tile_rows = tile_rows;
    td_qmatrix *q = NULL;
    TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, cols, cols, &q));
    return q;
}

static double group_sq_error(const float *w, const float *d, int64_t n)
{
    double e = 0.0;
    for (int64_t i = 0; i < n; i++)
        e += ((double)w[i] - d[i]) * ((double)w[i] - d[i]);
    return e;
}

/* Tiny and all-zero groups keep finite scales and give back exact zeros. */
static void kc_degenerate_groups(td_format format)
{
    float w[64] = {0};
    w[40] = 1e-39f; /* subnormal */
    td_qmatrix *q = kc_quantize(format, 32, false, TD_CLIP_MSE, 1, w, 1, 64);
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

/* The bad-input checks every low-bit format shares, from per-channel onwards. `spec` is
 * the format's default spec; w holds 2 x 64 finite weights, and w[70] is left at 0. */
static void kc_common_bad_input(td_qspec spec, float *w)
{
    td_qmatrix *q = NULL;
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

/* Whether an f32-activation result for row r, token b lies within `chain` roundings of
 * the exact product of the dequantized weights with x (computed in double). */
static bool kc_f32_within_bound(float got, const float *deq, const float *x, int64_t cols,
                                int64_t r, int64_t b, double chain)
{
    double exact = 0, mag = 0;
    for (int64_t k = 0; k < cols; k++) {
        exact += (double)deq[r * cols + k] * x[b * cols + k];
        mag += fabs((double)deq[r * cols + k] * x[b * cols + k]);
    }
    return fabs(got - exact) <= chain * 0x1p-24 * mag + 1e-30;
}

typedef struct kcase {
    int group, tile_rows;
    bool asym;
    td_act_type act;
} kcase;

/* What a format's kernel test supplies: its scalar reference, how one case's weights are
 * quantized (formats differ in which clipping and zero points they support), and the
 * configurations the shape grid rotates through. */
typedef struct kc_format {
    td_gemm_kernel ref;
    td_qmatrix *(*quantize_case)(kcase c, const float *w, int64_t rows, int64_t cols);
    const kcase *configs;
    int nconfig;
} kc_format;

static int isa_best(void)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    return (int)cpu.best;
}

/* Runs every ISA (scalar .. best) at 1 and 2 threads and compares with the reference:
 * bit for bit for integer activations, within the f32 bound otherwise. */
static void check_shape(const kc_format *f, td_rng *rng, int64_t rows, int64_t cols, int64_t batch,
                        kcase c, bool check_oracle)
{
    float *w = random_matrix(rng, rows, cols, 0.1f);
    float *x = random_matrix(rng, batch, cols, 1.0f);
    if (cols > 3)
        x[2] = 0.0f;
    td_qmatrix *q = f->quantize_case(c, w, rows, cols);
    td_act *a;
    TD_CHECK_OK(td_act_new(&a));
    TD_CHECK_OK(td_act_prepare(a, q, c.act, x, batch, cols));
    float *ref = malloc(sizeof(float) * (size_t)(rows * batch));
    float *y = malloc(sizeof(float) * (size_t)(rows * batch));
    f->ref(q, a, ref, rows, 0, rows);
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
                if (c.act != TD_ACT_F32)
                    bad += memcmp(&o[b * rows + r], &ref[b * rows + r], sizeof(float)) != 0;
                else
                    bad += !kc_f32_within_bound(ref[b * rows + r], deq, x, cols, r, b, chain);
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
                if (c.act != TD_ACT_F32)
                    bad += memcmp(&y[i], &ref[i], sizeof(float)) != 0;
                else
                    bad += !kc_f32_within_bound(y[i], deq, x, cols, i % rows, i / rows, chain);
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

/* Every shape of the grid, each with a configuration taken in rotation so that all of
 * them meet all kinds of shapes; every configuration also runs on one mid shape. */
static void kernels_match_reference_on_all_shapes(const kc_format *f)
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
                check_shape(f, &rng, rows_list[ri], k_list[ki], b_list[bi],
                            f->configs[n % f->nconfig], n % 7 == 0);
            }
    for (int i = 0; i < f->nconfig; i++)
        for (int bi = 0; bi < 6; bi++)
            check_shape(f, &rng, 37, 520, b_list[bi], f->configs[i], true);
}

/* Full-size layers: a batched integer case, a single-token integer case, and f32. */
static void large_case(const kc_format *f, kcase batched, kcase single, kcase f32)
{
    td_rng rng = {5};
#ifdef TD_UNDER_ASAN
    const int64_t rows = 256, batch = 17;
#else
    const int64_t rows = 1024, batch = 64;
#endif
    check_shape(f, &rng, rows, 4096, batch, batched, false);
    check_shape(f, &rng, rows, 4096, 1, single, false);
    check_shape(f, &rng, rows, 4096, 3, f32, false);
}

#endif
