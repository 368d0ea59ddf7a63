/* int8 weights: the shared integer quantizer, the int8 format (symmetric and
 * asymmetric; per-tensor, per-channel, per-group and per-tile scales) and its kernels
 * (W8A8, W8A6 and W8 with f32 activations) on every ISA this CPU has. */
#include <float.h>

#include "td_test.h"

#include "formats/qmatrix_internal.h"
#include "formats/quant_common.h"
#include "kernels/int8_kernels.h"

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

static const int8_t *row_codes(const td_qmatrix *q, int64_t r)
{
    return (const int8_t *)(q->codes + (size_t)r * q->row_bytes);
}

static td_qspec int8_spec(int group, int tile_rows, bool asym, td_clip clip)
{
    td_qspec s = td_qspec_default(TD_INT8);
    s.group = group;
    s.tile_rows = tile_rows;
    s.asym = asym;
    s.clip = clip;
    return s;
}

/* ---------------------------------------------------------------- quantizer */

static void choose_scale_basics(void)
{
    float scale;
    int zero;
    float zeros[5] = {0};
    TD_CHECK_OK(td_quant_choose_scale(zeros, 5, -127, 127, false, TD_CLIP_ABSMAX, &scale, &zero));
    TD_CHECK(scale == 1.0f && zero == 0, "all-zero group: scale %g zero %d", scale, zero);
    TD_CHECK_OK(td_quant_choose_scale(zeros, 5, -127, 127, true, TD_CLIP_MSE, &scale, &zero));
    TD_CHECK(scale == 1.0f && zero == 0, "all-zero group, asym mse: scale %g zero %d", scale, zero);

    float v[4] = {0.5f, -2.54f, 1.0f, 0.0f};
    TD_CHECK_OK(td_quant_choose_scale(v, 4, -127, 127, false, TD_CLIP_ABSMAX, &scale, &zero));
    TD_CHECK(scale == 2.54f / 127.0f && zero == 0, "symmetric absmax: scale %g", scale);

    /* Asymmetric: [min, max] = [-1, 3.1] spans the 254 steps of [-127, 127]. */
    float u[3] = {-1.0f, 3.1f, 0.25f};
    TD_CHECK_OK(td_quant_choose_scale(u, 3, -127, 127, true, TD_CLIP_ABSMAX, &scale, &zero));
    TD_CHECK(fabsf(scale - 4.1f / 254.0f) < 1e-7f, "asym scale %g", scale);
    TD_CHECK(zero == (int)nearbyintf(-127.0f + 1.0f / scale), "asym zero %d", zero);
    TD_CHECK(td_quant_round(3.1f, 1.0f / scale, zero, -127, 127) == 127, "max maps to qmax");
    TD_CHECK(td_quant_round(-1.0f, 1.0f / scale, zero, -127, 127) == -127, "min maps to qmin");
    /* An all-positive group still keeps 0 exactly representable. */
    float p[3] = {2.0f, 3.0f, 4.0f};
    TD_CHECK_OK(td_quant_choose_scale(p, 3, -127, 127, true, TD_CLIP_ABSMAX, &scale, &zero));
    TD_CHECK(zero == -127, "all-positive group: zero %d is the lowest code", zero);
    TD_CHECK(td_quant_round(0.0f, 1.0f / scale, zero, -127, 127) == zero, "0 maps to zero");

    /* Tiny values must not produce an infinite 1/scale. */
    float tiny[2] = {1e-40f, -3e-41f};
    TD_CHECK_OK(td_quant_choose_scale(tiny, 2, -127, 127, false, TD_CLIP_MSE, &scale, &zero));
    TD_CHECK(isfinite(1.0f / scale), "denormal group: scale %g has a finite inverse", scale);

    TD_CHECK_ERROR(td_quant_choose_scale(v, 0, -127, 127, false, TD_CLIP_ABSMAX, &scale, &zero),
                   TD_CODE_INVALID_ARGUMENT, "empty");
    TD_CHECK_ERROR(td_quant_choose_scale(v, 4, 5, 3, false, TD_CLIP_ABSMAX, &scale, &zero),
                   TD_CODE_INVALID_ARGUMENT, "code range");
}

static void rounding_is_nearest_even(void)
{
    TD_CHECK(td_quant_round(2.5f, 1.0f, 0, -127, 127) == 2, "2.5 -> 2");
    TD_CHECK(td_quant_round(3.5f, 1.0f, 0, -127, 127) == 4, "3.5 -> 4");
    TD_CHECK(td_quant_round(-2.5f, 1.0f, 0, -127, 127) == -2, "-2.5 -> -2");
    TD_CHECK(td_quant_round(1000.0f, 1.0f, 0, -127, 127) == 127, "clamps high");
    TD_CHECK(td_quant_round(-1000.0f, 1.0f, 5, -127, 127) == -127, "clamps low, never -128");
    TD_CHECK(td_quant_round(1.0f, 1.0f, 5, -127, 127) == 6, "adds the zero point");
    /* Same codes as the plain definition, ties and huge values included. */
    td_rng rng = {11};
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        float v = td_rng_uniform(&rng) * (i % 3 ? 300.0f : 3e30f);
        if (i % 5 == 0)
            v = nearbyintf(v * 2.0f) * 0.5f; /* exact halves */
        float inv = i % 7 ? 1.0f : 0.37f;
        int zero = (int)(td_rng_next(&rng) % 255) - 127;
        float want = fminf(fmaxf(nearbyintf(v * inv) + (float)zero, -127.0f), 127.0f);
        bad += td_quant_round(v, inv, zero, -127, 127) != (int)want;
    }
    TD_CHECK(bad == 0, "%d values rounded differently from nearbyintf", bad);
}

/* Specs covering every scale granularity, symmetric and asymmetric. */
typedef struct {
    const char *name;
    int group, tile_rows;
    bool asym;
} granularity;

static const granularity grans[] = {
    {"per-tensor", 0, 0, false},   {"per-tensor asym", 0, 0, true},
    {"per-channel", 0, 1, false},  {"per-channel asym", 0, 1, true},
    {"group 32", 32, 1, false},    {"group 128 asym", 128, 1, true},
    {"group 7", 7, 1, false},      {"group 100 asym", 100, 1, true},
    {"tile 16x64", 64, 16, false}, {"tile 16x64 asym", 64, 16, true},
};
#define NGRANS ((int)(sizeof grans / sizeof grans[0]))

/* Absmax quantization never clips, so every weight comes back within half a step. */
static void quantize_dequantize_error_bound(void)
{
    td_rng rng = {1};
    const int64_t rows = 37, cols = 300;
    float *w = random_matrix(&rng, rows, cols, 0.3f);
    w[5] = 4.0f; /* an outlier */
    w[cols + 9] = -3.0f;
    float *deq = malloc((size_t)(rows * cols) * sizeof(float));
    for (int gi = 0; gi < NGRANS; gi++) {
        const granularity *gr = &grans[gi];
        td_qspec spec = int8_spec(gr->group, gr->tile_rows, gr->asym, TD_CLIP_ABSMAX);
        td_qmatrix *q;
        TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, cols, cols, &q));
        if (!q)
            continue;
        TD_CHECK_OK(td_qmatrix_dequantize(q, deq));
        int64_t want_g = gr->group ? gr->group : (cols + 63) / 64 * 64;
        TD_CHECK(q->gsize == want_g, "%s: group size %lld, want %lld", gr->name,
                 (long long)q->gsize, (long long)want_g);
        int64_t want_tile = gr->tile_rows ? gr->tile_rows : rows;
        TD_CHECK(q->tile_rows == want_tile, "%s: tile rows %lld", gr->name,
                 (long long)q->tile_rows);
        TD_CHECK((q->zeros != NULL) == gr->asym, "%s: zero points iff asymmetric", gr->name);
        int bad = 0, neg128 = 0, badpad = 0;
        for (int64_t r = 0; r < rows; r++) {
            const int8_t *c = row_codes(q, r);
            for (int64_t k = 0; k < q->kpad; k++) {
                int64_t g = k / q->gsize;
                neg128 += c[k] == -128;
                if (k >= cols) {
                    badpad += c[k] != td_q_zero(q, r, g);
                    continue;
                }
                float s = td_q_scale(q, r, g);
                float err = fabsf(w[r * cols + k] - deq[r * cols + k]);
                /* Half a step, plus float rounding in w / scale. */
                if (!(err <= 0.5001f * s))
                    bad++;
            }
        }
        TD_CHECK(bad == 0, "%s: %d weights off by more than scale/2", gr->name, bad);
        TD_CHECK(neg128 == 0, "%s: %d codes are -128", gr->name, neg128);
        TD_CHECK(badpad == 0, "%s: %d padding codes are not the code of 0", gr->name, badpad);
        TD_CHECK(td_qmatrix_bytes(q) ==
                     (size_t)(rows * q->kpad) + (size_t)(q->scale_rows * q->ngroups) *
                                                    (sizeof(float) + (gr->asym ? 1 : 0)),
                 "%s: byte count %zu", gr->name, td_qmatrix_bytes(q));
        td_qmatrix_free(q);
    }
    free(w);
    free(deq);
}

/* wsum holds each row-group's sum of signed codes, padding included. */
static void group_sums_match_codes(void)
{
    td_rng rng = {2};
    const int64_t rows = 19, cols = 77;
    float *w = random_matrix(&rng, rows, cols, 1.0f);
    for (int gi = 0; gi < NGRANS; gi++) {
        td_qspec spec =
            int8_spec(grans[gi].group, grans[gi].tile_rows, grans[gi].asym, TD_CLIP_ABSMAX);
        td_qmatrix *q;
        TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, cols, cols, &q));
        if (!q)
            continue;
        int bad = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t g = 0; g < q->ngroups; g++) {
                int32_t s = 0;
                for (int64_t k = g * q->gsize; k < (g + 1) * q->gsize; k++)
                    s += row_codes(q, r)[k];
                bad += s != q->wsum[r * q->ngroups + g];
            }
        TD_CHECK(bad == 0, "%s: %d wrong group sums", grans[gi].name, bad);
        td_qmatrix_free(q);
    }
    free(w);
}

static double block_sq_error(const float *w, const float *deq, const td_qmatrix *q, int64_t cols,
                             int64_t tr, int64_t g)
{
    double e = 0.0;
    int64_t r1 = (tr + 1) * q->tile_rows < q->rows ? (tr + 1) * q->tile_rows : q->rows;
    int64_t k1 = (g + 1) * q->gsize < cols ? (g + 1) * q->gsize : cols;
    for (int64_t r = tr * q->tile_rows; r < r1; r++)
        for (int64_t k = g * q->gsize; k < k1; k++) {
            double d = (double)w[r * cols + k] - (double)deq[r * cols + k];
            e += d * d;
        }
    return e;
}

/* The MSE clipping search includes the absmax scale among its candidates, so it is
 * never worse, block by block; on heavy-tailed weights it is clearly better. */
static void mse_clipping_never_worse_than_absmax(void)
{
    td_rng rng = {3};
    const int64_t rows = 24, cols = 256;
    float *w = random_matrix(&rng, rows, cols, 0.1f);
    for (int64_t i = 0; i < rows * cols; i += 61)
        w[i] *= 12.0f; /* sparse outliers make clipping worthwhile */
    float *d_abs = malloc((size_t)(rows * cols) * sizeof(float));
    float *d_mse = malloc((size_t)(rows * cols) * sizeof(float));
    for (int gi = 0; gi < NGRANS; gi++) {
        const granularity *gr = &grans[gi];
        td_qspec sa = int8_spec(gr->group, gr->tile_rows, gr->asym, TD_CLIP_ABSMAX);
        td_qspec sm = int8_spec(gr->group, gr->tile_rows, gr->asym, TD_CLIP_MSE);
        td_qmatrix *qa, *qm;
        TD_CHECK_OK(td_qmatrix_quantize(&sa, w, rows, cols, cols, &qa));
        TD_CHECK_OK(td_qmatrix_quantize(&sm, w, rows, cols, cols, &qm));
        if (!qa || !qm) {
            td_qmatrix_free(qa);
            td_qmatrix_free(qm);
            continue;
        }
        TD_CHECK_OK(td_qmatrix_dequantize(qa, d_abs));
        TD_CHECK_OK(td_qmatrix_dequantize(qm, d_mse));
        double ta = 0.0, tm = 0.0;
        int worse = 0;
        for (int64_t tr = 0; tr < qa->scale_rows; tr++)
            for (int64_t g = 0; g < qa->ngroups; g++) {
                double ea = block_sq_error(w, d_abs, qa, cols, tr, g);
                double em = block_sq_error(w, d_mse, qm, cols, tr, g);
                /* Only summation order differs between this sum and the search's. */
                worse += em > ea * (1.0 + 1e-9) + 1e-30;
                ta += ea;
                tm += em;
            }
        TD_CHECK(worse == 0, "%s: mse worse than absmax in %d blocks", gr->name, worse);
        TD_CHECK(tm <= ta, "%s: total mse error %g above absmax %g", gr->name, tm, ta);
        td_qmatrix_free(qa);
        td_qmatrix_free(qm);
    }
    free(w);
    free(d_abs);
    free(d_mse);
}

/* With few levels clipping pays off clearly: 4-bit codes on Gaussian groups. (With
 * int8's 255 levels the optimum stays near absmax, so the gain there is small.) */
static void mse_clipping_helps_at_low_bits(void)
{
    td_rng rng = {7};
    double ea = 0.0, em = 0.0;
    for (int rep = 0; rep < 50; rep++) {
        float v[128];
        for (int i = 0; i < 128; i++)
            v[i] = td_rng_normal(&rng);
        for (int asym = 0; asym <= 1; asym++) {
            float sa, sm;
            int za, zm;
            TD_CHECK_OK(td_quant_choose_scale(v, 128, -7, 7, asym, TD_CLIP_ABSMAX, &sa, &za));
            TD_CHECK_OK(td_quant_choose_scale(v, 128, -7, 7, asym, TD_CLIP_MSE, &sm, &zm));
            TD_CHECK(sm <= sa, "clipping never widens the range: %g > %g", sm, sa);
            for (int i = 0; i < 128; i++) {
                float qa = sa * (float)(td_quant_round(v[i], 1.0f / sa, za, -7, 7) - za);
                float qm = sm * (float)(td_quant_round(v[i], 1.0f / sm, zm, -7, 7) - zm);
                ea += (double)(v[i] - qa) * (v[i] - qa);
                em += (double)(v[i] - qm) * (v[i] - qm);
            }
        }
    }
    TD_CHECK(em < 0.9 * ea, "4-bit mse clipping error %g vs absmax %g", em, ea);
}

static void bad_input_is_rejected(void)
{
    float w[12] = {0};
    td_qmatrix *q = NULL;
    td_qspec s = td_qspec_default(TD_INT8);
    w[7] = NAN;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 3, 4, 4, &q), TD_CODE_BAD_DATA, "NaN");
    w[7] = -INFINITY;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 3, 4, 4, &q), TD_CODE_BAD_DATA, "infinite");
    w[7] = 0.0f;
    TD_CHECK(q == NULL, "no matrix on failure");

    s.group = -4;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 3, 4, 4, &q), TD_CODE_INVALID_ARGUMENT, "negative");
    s = td_qspec_default(TD_INT8);
    s.tile_rows = -1;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 3, 4, 4, &q), TD_CODE_INVALID_ARGUMENT, "tile_rows");
    s = td_qspec_default(TD_INT8);
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 0, 4, 4, &q), TD_CODE_INVALID_ARGUMENT, "positive");
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 3, 4, 2, &q), TD_CODE_INVALID_ARGUMENT,
                   "leading dimension");
    TD_CHECK_ERROR(
        td_qmatrix_quantize(&s, w, (int64_t)1 << 40, (int64_t)1 << 30, (int64_t)1 << 30, &q),
        TD_CODE_OVERFLOW, "overflow");

    /* A scale group longer than the int32 accumulators can hold. */
    int64_t big = TD_INT8_MAX_GROUP + 1;
    float *wb = calloc((size_t)big, sizeof(float));
    s.group = (int)big;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, wb, 1, big, big, &q), TD_CODE_INVALID_ARGUMENT,
                   "overflow the kernels' 32-bit accumulators");
    s.group = TD_INT8_MAX_GROUP;
    TD_CHECK_OK(td_qmatrix_quantize(&s, wb, 1, big, big, &q));
    td_qmatrix_free(q);
    free(wb);

    /* group 0 is per-channel, not an error; any group length works since K is padded. */
    s = td_qspec_default(TD_INT8);
    s.group = 0;
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 3, 4, 4, &q));
    TD_CHECK(q && q->ngroups == 1 && q->gsize == 64, "group 0 -> one group per row");
    td_qmatrix_free(q);
    s.group = 3;
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 3, 4, 4, &q));
    TD_CHECK(q && q->ngroups == 2 && q->kpad == 6, "group 3 on K 4 pads to 6");
    td_qmatrix_free(q);
}

/* ---------------------------------------------------------------- kernels */

typedef struct {
    int isas[TD_ISA_COUNT];
    int nisa;
} isa_list;

static isa_list fast_isas(void)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    isa_list l = {{0}, 0};
    for (int i = TD_ISA_AVX2; i <= (int)cpu.best; i++)
        l.isas[l.nisa++] = i;
    return l;
}

/* Independent restatement of the integer semantics, in double: the scalar reference
 * must agree with it to float rounding, which checks the reference itself. */
static void check_ref_semantics(const td_qmatrix *q, const td_act *a, const float *y,
                                const char *what)
{
    int bad = 0;
    for (int64_t r = 0; r < q->rows; r++)
        for (int64_t b = 0; b < a->batch; b++) {
            double want = 0.0, mag = 0.0;
            for (int64_t g = 0; g < q->ngroups; g++) {
                int64_t acc = 0;
                for (int64_t k = g * q->gsize; k < (g + 1) * q->gsize; k++)
                    acc +=
                        ((int64_t)row_codes(q, r)[k] - td_q_zero(q, r, g)) * a->q[b * a->kpad + k];
                want += (double)acc * td_q_scale(q, r, g);
                mag += fabs((double)acc * td_q_scale(q, r, g));
            }
            want *= a->scale[b];
            mag *= a->scale[b];
            double got = y[b * q->rows + r];
            bad += !(fabs(got - want) <= 4.0 * (q->ngroups + 2) * FLT_EPSILON * mag + 1e-30);
        }
    TD_CHECK(bad == 0, "%s: scalar reference disagrees with the semantics at %d outputs", what,
             bad);
}

/* The f32-activation oracle: for every output, the product of the dequantized
 * weights and x in double (want) and sum |w x| (mag). */
static void f32_oracle(const td_qmatrix *q, const float *x, int64_t batch, double *want,
                       double *mag)
{
    int64_t K = q->cols;
    float *deq = malloc((size_t)(q->rows * K) * sizeof(float));
    if (td_qmatrix_dequantize(q, deq) != TD_OK)
        abort();
    for (int64_t r = 0; r < q->rows; r++)
        for (int64_t b = 0; b < batch; b++) {
            double s = 0.0, m = 0.0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)deq[r * K + k] * x[b * K + k];
                s += p;
                m += fabs(p);
            }
            want[b * q->rows + r] = s;
            mag[b * q->rows + r] = m;
        }
    free(deq);
}

/* The f32-activation bound: any summation order of the K products, plus the rounding
 * of the dequantized weight, stays within (K + 64) units of 2^-24 of sum |w x|.
 * Every fast path groups the sum in lanes (depth ~K/16 + log 16 + groups), far
 * below that; a wrong or missing term shows up as O(|w x|), typically far above. */
static void check_f32_bound(const td_qmatrix *q, int64_t batch, const double *want,
                            const double *mag, const float *y, const char *what)
{
    int bad = 0;
    double worst = 0.0;
    for (int64_t i = 0; i < q->rows * batch; i++) {
        double err = fabs(y[i] - want[i]);
        double bound = (double)(q->cols + 64) * 0x1p-24 * mag[i] + 1e-30;
        if (!(err <= bound))
            bad++;
        if (mag[i] > 0 && err / mag[i] > worst)
            worst = err / mag[i];
    }
    TD_CHECK(bad == 0, "%s: %d outputs outside the f32 bound (worst relative %g)", what, bad,
             worst);
}

static int count_mismatch(const float *a, const float *b, int64_t n)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return bad;
}

/* Runs one shape: reference and every fast ISA at 1 and 2 threads, for A8, A6 and f32. */
static void check_shape(td_rng *rng, int64_t rows, int64_t K, int64_t batch, const granularity *gr,
                        bool semantics)
{
    float *w = random_matrix(rng, rows, K, 0.05f);
    float *x = random_matrix(rng, batch, K, 1.0f);
    char what[160];
    td_qspec spec = int8_spec(gr->group, gr->tile_rows, gr->asym, TD_CLIP_ABSMAX);
    td_qmatrix *q;
    TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, K, K, &q));
    if (!q)
        goto out;
    size_t ny = (size_t)(rows * batch);
    float *yref = malloc(ny * sizeof(float)), *yfast = malloc(ny * sizeof(float));
    double *want = malloc(ny * sizeof(double)), *mag = malloc(ny * sizeof(double));
    f32_oracle(q, x, batch, want, mag);
    isa_list isas = fast_isas();
    const td_act_type acts[3] = {TD_ACT_INT8, TD_ACT_INT6, TD_ACT_F32};
    for (int ai = 0; ai < 3; ai++) {
        td_act_type act = acts[ai];
        snprintf(what, sizeof what, "%lldx%lld batch %lld %s %s", (long long)rows, (long long)K,
                 (long long)batch, gr->name, td_act_name(act));
        td_act *a;
        TD_CHECK_OK(td_act_new(&a));
        TD_CHECK_OK(td_act_prepare(a, q, act, x, batch, K));
        td_ctx ctx = {.threads = 1, .isa = TD_ISA_SCALAR};
        TD_CHECK(td_gemm_isa(&ctx, q, act) == TD_ISA_SCALAR, "%s: scalar isa", what);
        TD_CHECK_OK(td_gemm_prepared(&ctx, q, a, yref, rows));
        if (act == TD_ACT_F32)
            check_f32_bound(q, batch, want, mag, yref, what);
        else if (semantics)
            check_ref_semantics(q, a, yref, what);
        for (int ii = 0; ii < isas.nisa; ii++)
            for (int threads = 1; threads <= 2; threads++) {
                ctx.isa = (td_isa)isas.isas[ii];
                ctx.threads = threads;
                TD_CHECK(td_gemm_isa(&ctx, q, act) == ctx.isa, "%s: %s kernel not registered", what,
                         td_isa_name(ctx.isa));
                for (size_t i = 0; i < ny; i++)
                    yfast[i] = NAN;
                TD_CHECK_OK(td_gemm_prepared(&ctx, q, a, yfast, rows));
                if (act == TD_ACT_F32) {
                    char w2[200];
                    snprintf(w2, sizeof w2, "%s %s %d threads", what, td_isa_name(ctx.isa),
                             threads);
                    check_f32_bound(q, batch, want, mag, yfast, w2);
                } else {
                    int bad = count_mismatch(yref, yfast, (int64_t)ny);
                    TD_CHECK(bad == 0, "%s %s %d threads: %d outputs differ from the reference",
                             what, td_isa_name(ctx.isa), threads, bad);
                }
            }
        td_act_free(a);
    }
    free(yref);
    free(yfast);
    free(want);
    free(mag);
    td_qmatrix_free(q);
out:
    free(w);
    free(x);
}

static void kernels_match_reference_on_all_shapes(void)
{
    static const int64_t rows_list[] = {1, 3, 16, 17, 100, 257};
    static const int64_t k_list[] = {1, 7, 31, 32, 33, 100, 127, 128, 129, 500, 4096};
    static const int64_t batch_list[] = {1, 2, 3, 7, 16, 33};
    td_rng rng = {4};
    int n = 0;
    for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++)
        for (size_t ki = 0; ki < sizeof k_list / sizeof k_list[0]; ki++)
            for (size_t bi = 0; bi < sizeof batch_list / sizeof batch_list[0]; bi++) {
                /* Cycle the granularities so every one meets every kind of shape. */
                const granularity *gr = &grans[n % NGRANS];
                check_shape(&rng, rows_list[ri], k_list[ki], batch_list[bi], gr,
                            rows_list[ri] * k_list[ki] <= 100 * 500);
                n++;
            }
}

static void kernels_large_and_blocked_cases(void)
{
    td_rng rng = {5};
#ifdef TD_UNDER_ASAN
    check_shape(&rng, 256, 4096, 16, &grans[2], false);
#else
    check_shape(&rng, 1024, 4096, 64, &grans[2], false);
#endif
    /* More tokens than one L2 token block holds (dot-product kernels: 64 at K 8192;
     * broadcast kernel: 128). */
    check_shape(&rng, 33, 8192, 70, &grans[3], false);
    check_shape(&rng, 20, 8192, 70, &grans[5], false);
    check_shape(&rng, 50, 300, 130, &grans[1], true);
    /* A group longer than the broadcast kernel's K chunk (512) and not a multiple of
     * 64, symmetric and asymmetric. */
    const granularity g700 = {"group 700", 700, 1, false}, g700a = {"group 700 asym", 700, 1, true};
    check_shape(&rng, 50, 1500, 40, &g700, true);
    check_shape(&rng, 50, 1500, 40, &g700a, true);
}

/* Saturated codes and activations: the largest group sums the accumulators must hold
 * exactly, on every path (checks the +128 bias and int16 pair sums do not overflow). */
static void kernels_exact_at_extremes(void)
{
    const int64_t rows = 48, K = 4096, batch = 9;
    float *w = malloc((size_t)(rows * K) * sizeof(float));
    float *x = malloc((size_t)(batch * K) * sizeof(float));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < K; k++)
            w[r * K + k] = (r % 3 == 0) ? 1.0f : (r % 3 == 1 ? -1.0f : ((k & 1) ? 1.0f : -0.2f));
    for (int64_t b = 0; b < batch; b++)
        for (int64_t k = 0; k < K; k++)
            x[b * K + k] = (b % 2) ? -1.0f : 1.0f;
    for (int asym = 0; asym <= 1; asym++) {
        td_qspec spec = int8_spec(0, 1, asym, TD_CLIP_ABSMAX);
        td_qmatrix *q;
        TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, K, K, &q));
        td_act *a;
        TD_CHECK_OK(td_act_new(&a));
        TD_CHECK_OK(td_act_prepare(a, q, TD_ACT_INT8, x, batch, K));
        float yref[48 * 9], yfast[48 * 9];
        td_ctx ctx = {.threads = 1, .isa = TD_ISA_SCALAR};
        TD_CHECK_OK(td_gemm_prepared(&ctx, q, a, yref, rows));
        /* Row 0 is all 1, token 0 all 1: y = K exactly. */
        TD_CHECK(fabsf(yref[0] - (float)K) <= 1e-3f * K, "extreme dot %g, want %lld", yref[0],
                 (long long)K);
        isa_list isas = fast_isas();
        for (int ii = 0; ii < isas.nisa; ii++) {
            ctx.isa = (td_isa)isas.isas[ii];
            TD_CHECK_OK(td_gemm_prepared(&ctx, q, a, yfast, rows));
            TD_CHECK(count_mismatch(yref, yfast, rows * batch) == 0, "%s asym %d at extremes",
                     td_isa_name(ctx.isa), asym);
        }
        td_act_free(a);
        td_qmatrix_free(q);
    }
    free(w);
    free(x);
}

/* W8A8 end to end against the f32 product: quantization error only. */
static void w8a8_close_to_f32(void)
{
    td_rng rng = {6};
    const int64_t rows = 64, K = 512, batch = 4;
    float *w = random_matrix(&rng, rows, K, 0.05f);
    float *x = random_matrix(&rng, batch, K, 1.0f);
    td_qspec spec = td_qspec_default(TD_INT8);
    td_qmatrix *q;
    TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, K, K, &q));
    float y[64 * 4];
    td_ctx ctx = td_ctx_default();
    TD_CHECK_OK(td_gemm(&ctx, q, TD_ACT_INT8, x, batch, y));
    double num = 0.0, den = 0.0;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t r = 0; r < rows; r++) {
            double want = 0.0;
            for (int64_t k = 0; k < K; k++)
                want += (double)w[r * K + k] * x[b * K + k];
            num += (y[b * rows + r] - want) * (y[b * rows + r] - want);
            den += want * want;
        }
    TD_CHECK(sqrt(num / den) < 0.02, "W8A8 relative error %g", sqrt(num / den));
    td_qmatrix_free(q);
    free(w);
    free(x);
}

int main(void)
{
    choose_scale_basics();
    rounding_is_nearest_even();
    quantize_dequantize_error_bound();
    group_sums_match_codes();
    mse_clipping_never_worse_than_absmax();
    mse_clipping_helps_at_low_bits();
    bad_input_is_rejected();
    kernels_exact_at_extremes();
    w8a8_close_to_f32();
    kernels_large_and_blocked_cases();
    kernels_match_reference_on_all_shapes();
    return td_test_finish("test_kernels_int8");
}
