/* Float weight formats (bf16, f16, fp8 E4M3 / E5M2) and their kernels with f32
 * activations.
 *
 * 1. Quantize -> dequantize error stays within what the format's rounding allows, for
 *    every scale granularity, and the fp8 scales sit where the layout contract says.
 * 2. Every kernel (scalar reference, AVX2, AVX-512: each ISA up to this CPU's best,
 *    forced through td_ctx) matches a double-precision product of the dequantized
 *    matrix, on edge shapes (K not a multiple of the group or the vector width, one
 *    row, one token) and one large case, with 1 and 2 threads; and every code of
 *    every format goes through every kernel bit-exactly.
 * 3. Bad input: NaN/Inf and overflowing weights, malformed specs. */
#include <float.h>

#include "formats/qmatrix_internal.h"
#include "td_test.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TD_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TD_UNDER_ASAN 1
#endif

#define U (1.0 / 16777216.0) /* 2^-24, the unit roundoff of f32 */

static td_qspec spec_of(const char *text)
{
    td_qspec s;
    td_status st = td_qspec_parse(text, &s);
    TD_CHECK(st == NULL, "spec '%s': %s", text, td_status_message(st));
    td_status_free(st);
    return s;
}

/* Weights whose magnitude varies by row and column (so scale blocks differ) with a
 * few large entries. */
static void fill_weights(float *w, int64_t rows, int64_t cols, uint64_t seed)
{
    td_rng rng = {seed};
    for (int64_t r = 0; r < rows; r++) {
        float row_mag = ldexpf(1.0f, (int)(r % 7) - 3);
        for (int64_t k = 0; k < cols; k++) {
            float v = td_rng_uniform(&rng) * row_mag * (1.0f + (float)(k % 5));
            if (td_rng_next(&rng) % 97 == 0)
                v *= 8.0f;
            w[r * cols + k] = v;
        }
    }
}

static void fill_uniform(float *x, int64_t n, uint64_t seed)
{
    td_rng rng = {seed};
    for (int64_t i = 0; i < n; i++)
        x[i] = td_rng_uniform(&rng);
}

/* ---- 1. quantization error ---- */

/* Rounding to nearest with p significant bits errs by at most 2^-p relative for
 * normal results; below the smallest normal the error is at most half the subnormal
 * spacing, absolute (in units of the scale for fp8). */
typedef struct {
    td_format fmt;
    double rel;      /* 2^-p */
    double sub_abs;  /* half the subnormal spacing */
    double max_norm; /* largest finite value */
} format_bound;

static format_bound bound_of(td_format fmt)
{
    switch (fmt) {
    case TD_BF16:
        return (format_bound){fmt, 0x1p-8, 0x1p-134, 3.3895313892515355e38};
    case TD_F16:
        return (format_bound){fmt, 0x1p-11, 0x1p-25, 65504.0};
    case TD_FP8_E4M3:
        return (format_bound){fmt, 0x1p-4, 0x1p-10, 448.0};
    default:
        return (format_bound){fmt, 0x1p-3, 0x1p-17, 57344.0};
    }
}

/* Checks |dequantized - w| against the format's bound for every element and returns
 * the largest observed relative error (to show the bound is close to tight). */
static double check_roundtrip(const char *text, const td_qmatrix *q, const float *w, const float *d)
{
    format_bound fb = bound_of(q->spec.format);
    double worst = 0.0;
    int bad = 0;
    for (int64_t r = 0; r < q->rows; r++) {
        for (int64_t k = 0; k < q->cols; k++) {
            double v = w[r * q->cols + k], got = d[r * q->cols + k];
            double scale = td_q_scale(q, r, k / q->gsize);
            /* + a few f32 roundings: w / scale and scale * value */
            double tol = fb.rel * fabs(v) + fb.sub_abs * scale + 4 * U * fabs(v);
            double err = fabs(got - v);
            if (!(err <= tol) && bad++ < 5)
                fprintf(stderr, "%s: (%lld, %lld) %.9g -> %.9g, error %.3g > %.3g\n", text,
                        (long long)r, (long long)k, v, got, err, tol);
            if (fabs(v) > 64 * fb.sub_abs * scale / fb.rel) /* well inside the normals */
                worst = fmax(worst, err / fabs(v));
        }
    }
    TD_CHECK(bad == 0, "%s: %d elements outside the rounding bound", text, bad);
    return worst;
}

static void quantize_roundtrip_within_format_bounds(void)
{
    const char *specs[] = {"bf16",          "f16",          "fp8_e4m3:tensor", "fp8_e4m3",
                           "fp8_e4m3:g32",  "fp8_e4m3:g7",  "fp8_e4m3:tile64", "fp8_e5m2:tensor",
                           "fp8_e5m2",      "fp8_e5m2:g32", "fp8_e5m2:tile64", "fp8_e4m3:sat",
                           "fp8_e4m3:g100", "fp8_e5m2:g130"};
    int64_t rows = 131, cols = 333;
    float *w = malloc((size_t)(rows * cols) * sizeof(float));
    float *d = malloc((size_t)(rows * cols) * sizeof(float));
    fill_weights(w, rows, cols, 11);
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        td_qspec s = spec_of(specs[i]);
        td_qmatrix *q = NULL;
        TD_CHECK_OK(td_qmatrix_quantize(&s, w, rows, cols, cols, &q));
        if (!q)
            continue;
        TD_CHECK_OK(td_qmatrix_dequantize(q, d));
        double worst = check_roundtrip(specs[i], q, w, d);
        double rel = bound_of(s.format).rel;
        TD_CHECK(worst > rel / 2, "%s: largest relative error %.3g, expected near %.3g", specs[i],
                 worst, rel);
        td_qmatrix_free(q);
    }
    free(w);
    free(d);
}

/* Subnormal-sized weights (f32 subnormals) still quantize without NaN/inf: the fp8
 * scale is kept at FLT_MIN and the error stays within half a subnormal step of it. */
static void tiny_weights_quantize_cleanly(void)
{
    float w[64];
    for (int i = 0; i < 64; i++)
        w[i] = (float)(i - 32) * 1e-42f;
    const char *specs[] = {"fp8_e4m3", "fp8_e5m2", "bf16", "f16"};
    for (int i = 0; i < 4; i++) {
        td_qspec s = spec_of(specs[i]);
        td_qmatrix *q = NULL;
        float d[64];
        TD_CHECK_OK(td_qmatrix_quantize(&s, w, 1, 64, 64, &q));
        if (!q)
            continue;
        TD_CHECK_OK(td_qmatrix_dequantize(q, d));
        check_roundtrip(specs[i], q, w, d);
        for (int k = 0; k < 64; k++)
            TD_CHECK(isfinite(d[k]), "%s: element %d is %g", specs[i], k, d[k]);
        td_qmatrix_free(q);
    }
}

/* Per-tile scales: the grid is ceil(rows / tile) x ceil(K / group); each entry is the
 * amax of its block over max normal, and weight (r, k) uses entry
 * (r / tile_rows, k / gsize). Blocks get distinct magnitudes so a misplaced scale shows. */
static void fp8_scale_grid_layout(void)
{
    struct {
        const char *text;
        td_qspec spec;
        int64_t want_rows, want_groups;
    } cases[] = {
        {"fp8_e4m3:tile64", spec_of("fp8_e4m3:tile64"), 3, 4},
        {"fp8_e5m2:tensor", spec_of("fp8_e5m2:tensor"), 1, 1},
        {"fp8_e4m3 (per channel)", spec_of("fp8_e4m3"), 150, 1},
        {"fp8_e4m3:g48", spec_of("fp8_e4m3:g48"), 150, 5},
        {"fp8_e5m2 group 24 x 3 rows", spec_of("fp8_e5m2:g24"), 50, 9},
    };
    cases[4].spec.tile_rows = 3;
    int64_t rows = 150, cols = 200;
    float *w = malloc((size_t)(rows * cols) * sizeof(float));
    td_rng rng = {5};
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < cols; k++)
            w[r * cols + k] = td_rng_uniform(&rng) * (float)(1 + (r * 7 + k * 3) % 13) *
                              ldexpf(1.0f, (int)((r / 8 + k / 16) % 9) - 4);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        td_qmatrix *q = NULL;
        TD_CHECK_OK(td_qmatrix_quantize(&cases[c].spec, w, rows, cols, cols, &q));
        if (!q)
            continue;
        TD_CHECK(q->scale_rows == cases[c].want_rows && q->ngroups == cases[c].want_groups,
                 "%s: scale grid %lld x %lld, want %lld x %lld", cases[c].text,
                 (long long)q->scale_rows, (long long)q->ngroups, (long long)cases[c].want_rows,
                 (long long)cases[c].want_groups);
        float maxn = (float)bound_of(q->spec.format).max_norm;
        int bad = 0;
        for (int64_t ti = 0; ti < q->scale_rows; ti++) {
            for (int64_t g = 0; g < q->ngroups; g++) {
                float amax = 0.0f;
                for (int64_t r = ti * q->tile_rows; r < (ti + 1) * q->tile_rows && r < rows; r++)
                    for (int64_t k = g * q->gsize; k < (g + 1) * q->gsize && k < cols; k++)
                        amax = fmaxf(amax, fabsf(w[r * cols + k]));
                bad += q->scales[ti * q->ngroups + g] != amax / maxn;
            }
        }
        TD_CHECK(bad == 0, "%s: %d scales differ from block amax / %g", cases[c].text, bad,
                 (double)maxn);
        /* every code's block holds it: the largest |code value| of a block is max normal */
        int fullscale = 0;
        for (int64_t r = 0; r < rows; r++) {
            const uint8_t *row = q->codes + r * q->row_bytes;
            for (int64_t k = 0; k < cols; k++) {
                float v = q->spec.format == TD_FP8_E4M3 ? td_fp8_e4m3_to_f32(row[k])
                                                        : td_fp8_e5m2_to_f32(row[k]);
                fullscale += fabsf(v) == maxn;
                TD_CHECK(fabsf(v) <= maxn, "%s: code %02x out of range", cases[c].text, row[k]);
            }
            for (int64_t k = cols; k < q->kpad; k++)
                TD_CHECK(row[k] == 0, "%s: padding (%lld, %lld) not +0", cases[c].text,
                         (long long)r, (long long)k);
        }
        TD_CHECK(fullscale >= q->scale_rows * q->ngroups,
                 "%s: %d codes at max normal for %lld "
                 "blocks",
                 cases[c].text, fullscale, (long long)(q->scale_rows * q->ngroups));
        td_qmatrix_free(q);
    }
    free(w);
}

/* An all-zero block gets scale 1 and zero codes. */
static void fp8_zero_block_has_unit_scale(void)
{
    float w[2 * 64] = {0};
    for (int k = 32; k < 64; k++)
        w[64 + k] = (float)k; /* row 1, group 1 non-zero */
    td_qspec s = spec_of("fp8_e4m3:g32");
    td_qmatrix *q = NULL;
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 2, 64, 64, &q));
    if (!q)
        return;
    TD_CHECK(q->scales[0] == 1.0f && q->scales[1] == 1.0f && q->scales[2] == 1.0f,
             "zero blocks: scales %g %g %g", q->scales[0], q->scales[1], q->scales[2]);
    TD_CHECK(q->scales[3] == 63.0f / 448.0f, "non-zero block scale %g", q->scales[3]);
    td_qmatrix_free(q);
}

/* The MSE clipping search never does worse than absmax, clips a block with an outlier
 * (scale below amax / max normal) and, since clipping needs it, saturates instead of
 * producing NaN codes. */
static void fp8_mse_clipping(void)
{
    int64_t rows = 8, cols = 256;
    float *w = malloc((size_t)(rows * cols) * sizeof(float));
    float *d0 = malloc((size_t)(rows * cols) * sizeof(float));
    float *d1 = malloc((size_t)(rows * cols) * sizeof(float));
    td_rng rng = {3};
    for (int64_t i = 0; i < rows * cols; i++)
        w[i] = td_rng_normal(&rng);
    w[5] = 3000.0f; /* outlier in row 0: the E5M2 grid is coarse at the top */
    const char *fmts[] = {"fp8_e4m3", "fp8_e5m2"};
    for (int f = 0; f < 2; f++) {
        char text[64];
        td_qspec s0 = spec_of(fmts[f]);
        snprintf(text, sizeof text, "%s:mse", fmts[f]);
        td_qspec s1 = spec_of(text);
        td_qmatrix *q0 = NULL, *q1 = NULL;
        TD_CHECK_OK(td_qmatrix_quantize(&s0, w, rows, cols, cols, &q0));
        TD_CHECK_OK(td_qmatrix_quantize(&s1, w, rows, cols, cols, &q1));
        if (!q0 || !q1)
            break;
        TD_CHECK_OK(td_qmatrix_dequantize(q0, d0));
        TD_CHECK_OK(td_qmatrix_dequantize(q1, d1));
        int clipped = 0;
        for (int64_t r = 0; r < rows; r++) {
            double e0 = 0, e1 = 0;
            for (int64_t k = 0; k < cols; k++) {
                double a = d0[r * cols + k] - w[r * cols + k],
                       b = d1[r * cols + k] - w[r * cols + k];
                e0 += a * a;
                e1 += b * b;
                TD_CHECK(isfinite(d1[r * cols + k]), "%s: NaN/inf after clipping", text);
            }
            TD_CHECK(e1 <= e0, "%s row %lld: MSE error %g > absmax error %g", text, (long long)r,
                     e1, e0);
            clipped += q1->scales[r] < q0->scales[r];
        }
        TD_CHECK(clipped > 0, "%s: no block was clipped", text);
        td_qmatrix_free(q0);
        td_qmatrix_free(q1);
    }
    free(w);
    free(d0);
    free(d1);
}

/* ---- 2. kernels against a double-precision product ---- */

typedef struct {
    double *ref;   /* batch x rows: sum_k deq(w)[r][k] * x[b][k] in double */
    double *absum; /* batch x rows: sum_k |deq(w)[r][k] * x[b][k]| */
} oracle;

static oracle make_oracle(const float *d, const float *x, int64_t rows, int64_t cols, int64_t batch)
{
    oracle o;
    o.ref = malloc((size_t)(rows * batch) * sizeof(double));
    o.absum = malloc((size_t)(rows * batch) * sizeof(double));
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t r = 0; r < rows; r++) {
            /* two partial sums: in double the order is irrelevant at f32 precision */
            double s0 = 0, s1 = 0, a0 = 0, a1 = 0;
            const float *wr = d + r * cols, *xb = x + b * cols;
            int64_t k = 0;
            for (; k + 2 <= cols; k += 2) {
                double p0 = (double)wr[k] * xb[k], p1 = (double)wr[k + 1] * xb[k + 1];
                s0 += p0;
                s1 += p1;
                a0 += fabs(p0);
                a1 += fabs(p1);
            }
            if (k < cols) {
                s0 += (double)wr[k] * xb[k];
                a0 += fabs((double)wr[k] * xb[k]);
            }
            o.ref[b * rows + r] = s0 + s1;
            o.absum[b * rows + r] = a0 + a1;
        }
    }
    return o;
}

/* Rounding bound of each ISA, as a multiple of U * sum |w x|.
 *   scalar: accumulates in double and rounds once; the oracle multiplies the
 *     dequantized matrix, whose f32 rounding of scale * value is 1 U per term: 4.
 *   vector: a product passes through at most ceil(gsize / lanes) FMAs in its lane's
 *     group accumulator, ngroups FMAs by the scale into the lane total, a 3-4 level
 *     horizontal sum and one add into y per K block (K blocks >= 256), plus the
 *     oracle's dequantization rounding. lanes = 8 bounds both AVX2 and AVX-512. */
static double ulps_allowed(const td_qmatrix *q, td_isa isa)
{
    if (isa == TD_ISA_SCALAR)
        return 4.0;
    int64_t g = q->gsize < q->kpad ? q->gsize : q->kpad;
    return (double)((g + 7) / 8 + q->ngroups + q->kpad / 256 + 8);
}

static td_isa best_isa(void)
{
    static int best = -1; /* CPUID is slow under virtualization: ask once */
    if (best < 0) {
        td_cpu_info cpu;
        td_cpu_detect(&cpu);
        best = (int)cpu.best;
    }
    return (td_isa)best;
}

typedef struct {
    int runs, fails; /* kernel runs (ISA x threads x shape) and how many broke the bound */
} tally;

/* Runs every ISA and thread count on one quantized matrix and batch. */
static void check_kernels(const char *text, const td_qmatrix *q, const float *x, int64_t batch,
                          const oracle *o, float *y, tally *tl)
{
    const td_format_traits *t = td_format_traits_get(q->spec.format);
    for (int isa = TD_ISA_SCALAR; isa <= (int)best_isa(); isa++) {
        TD_CHECK(t->kernels[TD_DENSE][isa][TD_ACT_F32] != NULL, "%s: no %s kernel registered", text,
                 td_isa_name((td_isa)isa));
        for (int threads = 1; threads <= 2; threads++) {
            td_ctx ctx = {.threads = threads, .isa = (td_isa)isa};
            TD_CHECK(td_gemm_isa(&ctx, q, TD_ACT_F32) == (td_isa)isa, "%s: dispatch picked %s",
                     text, td_isa_name(td_gemm_isa(&ctx, q, TD_ACT_F32)));
            for (int64_t i = 0; i < q->rows * batch; i++)
                y[i] = NAN;
            TD_CHECK_OK(td_gemm(&ctx, q, TD_ACT_F32, x, batch, y));
            double ulps = ulps_allowed(q, (td_isa)isa);
            int bad = 0;
            for (int64_t i = 0; i < q->rows * batch; i++) {
                double tol = ulps * U * o->absum[i] + 1e-30;
                double err = fabs((double)y[i] - o->ref[i]);
                if (!(err <= tol) && bad++ < 3)
                    fprintf(stderr,
                            "%s %lldx%lld batch %lld %s/%dt: y[%lld] = %.9g, ref %.9g, "
                            "error %.3g > %.3g\n",
                            text, (long long)q->rows, (long long)q->cols, (long long)batch,
                            td_isa_name((td_isa)isa), threads, (long long)i, y[i], o->ref[i], err,
                            tol);
            }
            tl->fails += bad > 0;
            tl->runs++;
        }
    }
}

/* Quantizes one rows x cols matrix and checks every kernel on it for each batch size
 * in `batches` (count nb). */
static void run_matrix(const td_qspec *spec, const char *text, int64_t rows, int64_t cols,
                       const int64_t *batches, int nb, uint64_t seed, tally *tl)
{
    int64_t maxb = 0;
    for (int i = 0; i < nb; i++)
        maxb = batches[i] > maxb ? batches[i] : maxb;
    float *w = malloc((size_t)(rows * cols) * sizeof(float));
    float *d = malloc((size_t)(rows * cols) * sizeof(float));
    float *x = malloc((size_t)(maxb * cols) * sizeof(float));
    float *y = malloc((size_t)(maxb * rows) * sizeof(float));
    fill_weights(w, rows, cols, seed);
    td_qmatrix *q = NULL;
    TD_CHECK_OK(td_qmatrix_quantize(spec, w, rows, cols, cols, &q));
    if (q) {
        TD_CHECK_OK(td_qmatrix_dequantize(q, d));
        for (int i = 0; i < nb; i++) {
            fill_uniform(x, batches[i] * cols, seed + (uint64_t)i + 1);
            oracle o = make_oracle(d, x, rows, cols, batches[i]);
            check_kernels(text, q, x, batches[i], &o, y, tl);
            free(o.ref);
            free(o.absum);
        }
        td_qmatrix_free(q);
    }
    free(w);
    free(d);
    free(x);
    free(y);
}

static const int64_t ROWS[] = {1, 3, 16, 17, 100, 257};
static const int64_t KS[] = {1, 7, 31, 32, 33, 100, 127, 128, 129, 500, 4096};
static const int64_t BATCHES[] = {1, 2, 3, 7, 16, 33};
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Every shape in ROWS x KS x BATCHES (full) or a diagonal subset of it in which every
 * entry of each list still appears, with varying partners. */
static void kernels_match_reference(const char *text, td_qspec spec, bool full)
{
    tally tl = {0, 0};
    for (int ri = 0; ri < COUNT(ROWS); ri++) {
        for (int ki = 0; ki < COUNT(KS); ki++) {
            int64_t batches[COUNT(BATCHES)];
            int nb = 0;
            for (int bi = 0; bi < COUNT(BATCHES); bi++)
                if (full || (ri + ki + bi) % 5 == 0)
                    batches[nb++] = BATCHES[bi];
            if (nb > 0)
                run_matrix(&spec, text, ROWS[ri], KS[ki], batches, nb, (uint64_t)(ri * 100 + ki),
                           &tl);
        }
    }
    TD_CHECK(tl.fails == 0 && tl.runs > 0, "%s: %d of %d shape/ISA/thread runs outside the bound",
             text, tl.fails, tl.runs);
}

static void all_kernels_match_reference(void)
{
    /* every format over the whole shape grid, fp8 once per-channel, once per-tile */
    const char *full[] = {"bf16", "f16", "fp8_e4m3", "fp8_e5m2:tile64"};
    for (int i = 0; i < COUNT(full); i++)
        kernels_match_reference(full[i], spec_of(full[i]), true);
    const char *some[] = {"fp8_e4m3:tensor", "fp8_e4m3:tile64", "fp8_e4m3:g7",
                          "fp8_e4m3:g32",    "fp8_e5m2",        "fp8_e5m2:g32",
                          "fp8_e5m2:tensor", "fp8_e4m3:g100",   "fp8_e4m3:mse"};
    for (int i = 0; i < COUNT(some); i++)
        kernels_match_reference(some[i], spec_of(some[i]), false);
    td_qspec odd = spec_of("fp8_e5m2:g24");
    odd.tile_rows = 3; /* tiles that do not line up with the kernels' row blocks */
    kernels_match_reference("fp8_e5m2 group 24 x 3 rows", odd, false);
}

static void large_case(void)
{
#ifdef TD_UNDER_ASAN
    int64_t rows = 256, cols = 4096, batch[] = {64};
#else
    int64_t rows = 1024, cols = 4096, batch[] = {64};
#endif
    const char *specs[] = {"bf16", "f16", "fp8_e4m3", "fp8_e5m2:tile64"};
    for (int i = 0; i < COUNT(specs); i++) {
        tally tl = {0, 0};
        td_qspec spec = spec_of(specs[i]);
        run_matrix(&spec, specs[i], rows, cols, batch, 1, 99, &tl);
        TD_CHECK(tl.fails == 0 && tl.runs > 0, "%s large case %lldx%lld batch %lld: %d failures",
                 specs[i], (long long)rows, (long long)cols, (long long)batch[0], tl.fails);
    }
}

/* Every code of each format (NaN and inf excepted: they cannot be quantized) through
 * every kernel, bit-exactly: W holds each code's value once, scale 1 (the row's amax
 * is max normal), and the tokens are one-hot vectors, so y[b][r] must be exactly
 * W[r][b]. This pins down the vector decodes (E4M3's f16 trick with the 2^8 in the
 * scale, E5M2 << 8, bf16 << 16, vcvtph2ps) for subnormals, -0 and the extremes. */
static void every_code_through_every_kernel(void)
{
    struct {
        const char *spec;
        int rows, cols;
    } cases[] = {{"fp8_e4m3", 1, 256}, {"fp8_e5m2", 1, 256}, {"bf16", 256, 256}, {"f16", 256, 256}};
    for (int c = 0; c < COUNT(cases); c++) {
        int rows = cases[c].rows, cols = cases[c].cols;
        td_qspec spec = spec_of(cases[c].spec);
        float *w = malloc((size_t)rows * cols * sizeof(float));
        float *x = calloc((size_t)cols * cols, sizeof(float));
        float *y = malloc((size_t)cols * rows * sizeof(float));
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < cols; k++) {
                uint32_t code = (uint32_t)(r << 8 | k);
                float v;
                switch (spec.format) {
                case TD_FP8_E4M3:
                    v = td_fp8_e4m3_to_f32((uint8_t)code);
                    break;
                case TD_FP8_E5M2:
                    v = td_fp8_e5m2_to_f32((uint8_t)code);
                    break;
                case TD_BF16:
                    v = td_bf16_to_f32((uint16_t)code);
                    break;
                default:
                    v = td_f16_to_f32((uint16_t)code);
                    break;
                }
                w[r * cols + k] = isfinite(v) ? v : 0.0f;
            }
        }
        for (int b = 0; b < cols; b++)
            x[b * cols + b] = 1.0f;
        td_qmatrix *q = NULL;
        TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, cols, cols, &q));
        if (q && q->scales)
            TD_CHECK(q->scales[0] == 1.0f, "%s: scale %g, want 1", cases[c].spec, q->scales[0]);
        for (int isa = TD_ISA_SCALAR; q && isa <= (int)best_isa(); isa++) {
            td_ctx ctx = {.threads = 2, .isa = (td_isa)isa};
            TD_CHECK_OK(td_gemm(&ctx, q, TD_ACT_F32, x, cols, y));
            int bad = 0;
            for (int b = 0; b < cols; b++) {
                for (int r = 0; r < rows; r++) {
                    float want = w[r * cols + b], got = y[b * rows + r];
                    if (got != want && bad++ < 3)
                        fprintf(stderr, "%s %s: code %04x gives %.9g, want %.9g\n", cases[c].spec,
                                td_isa_name((td_isa)isa), r << 8 | b, got, want);
                }
            }
            TD_CHECK(bad == 0, "%s %s: %d codes decoded wrongly", cases[c].spec,
                     td_isa_name((td_isa)isa), bad);
        }
        td_qmatrix_free(q);
        free(w);
        free(x);
        free(y);
    }
}

/* y with a leading dimension larger than rows: the gaps are never written. */
static void output_leading_dimension(void)
{
    int64_t rows = 37, cols = 70, batch = 5, ldy = 41;
    float *w = malloc((size_t)(rows * cols) * sizeof(float));
    float *x = malloc((size_t)(batch * cols) * sizeof(float));
    float *y = malloc((size_t)(batch * ldy) * sizeof(float));
    float *y0 = malloc((size_t)(batch * rows) * sizeof(float));
    fill_weights(w, rows, cols, 1);
    fill_uniform(x, batch * cols, 2);
    const char *specs[] = {"bf16", "fp8_e4m3:g16"};
    for (int i = 0; i < 2; i++) {
        td_qspec spec = spec_of(specs[i]);
        td_qmatrix *q = NULL;
        td_act *a = NULL;
        TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, cols, cols, &q));
        TD_CHECK_OK(td_act_new(&a));
        if (!q || !a)
            break;
        TD_CHECK_OK(td_act_prepare(a, q, TD_ACT_F32, x, batch, cols));
        for (int isa = TD_ISA_SCALAR; isa <= (int)best_isa(); isa++) {
            td_ctx ctx = {.threads = 2, .isa = (td_isa)isa};
            for (int64_t j = 0; j < batch * ldy; j++)
                y[j] = -7.0f;
            TD_CHECK_OK(td_gemm_prepared(&ctx, q, a, y, ldy));
            TD_CHECK_OK(td_gemm(&ctx, q, TD_ACT_F32, x, batch, y0));
            for (int64_t b = 0; b < batch; b++) {
                for (int64_t r = rows; r < ldy; r++)
                    TD_CHECK(y[b * ldy + r] == -7.0f, "%s %s: gap (%lld, %lld) written", specs[i],
                             td_isa_name((td_isa)isa), (long long)b, (long long)r);
                for (int64_t r = 0; r < rows; r++)
                    TD_CHECK(y[b * ldy + r] == y0[b * rows + r], "%s: ldy changes the result",
                             specs[i]);
            }
        }
        td_act_free(a);
        td_qmatrix_free(q);
    }
    free(w);
    free(x);
    free(y);
    free(y0);
}

/* Integer activations with float weights have no dedicated kernel: the dispatcher
 * falls back to the generic reference, whose result is close to the f32 product. */
static void integer_activations_fall_back(void)
{
    int64_t rows = 20, cols = 96, batch = 3;
    float w[20 * 96], x[3 * 96], yf[3 * 20], yq[3 * 20];
    fill_weights(w, rows, cols, 4);
    fill_uniform(x, batch * cols, 5);
    td_qspec spec = spec_of("fp8_e4m3");
    td_qmatrix *q = NULL;
    TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, cols, cols, &q));
    if (!q)
        return;
    td_ctx ctx = td_ctx_default();
    TD_CHECK(td_gemm_isa(&ctx, q, TD_ACT_INT8) == TD_ISA_SCALAR, "a8 falls back to scalar");
    TD_CHECK_OK(td_gemm(&ctx, q, TD_ACT_F32, x, batch, yf));
    TD_CHECK_OK(td_gemm(&ctx, q, TD_ACT_INT8, x, batch, yq));
    for (int i = 0; i < rows * batch; i++) {
        double absum = 0;
        for (int k = 0; k < cols; k++)
            absum += fabs(w[(i % rows) * cols + k]);
        /* x quantized to 8 bits: each |x| errs by at most half a step of max|x| / 127 */
        TD_CHECK(fabs(yq[i] - yf[i]) <= absum * 0.5 / 127 + 1e-6, "a8: %g vs f32 %g", yq[i], yf[i]);
    }
    td_qmatrix_free(q);
}

/* ---- 3. bad input ---- */

static void bad_weights_are_rejected(void)
{
    const char *specs[] = {"bf16", "f16", "fp8_e4m3", "fp8_e5m2", "fp8_e4m3:sat"};
    float w[4 * 8];
    for (int i = 0; i < COUNT(specs); i++) {
        td_qspec s = spec_of(specs[i]);
        td_qmatrix *q = (td_qmatrix *)(void *)w; /* any non-NULL value: failure resets it */
        fill_uniform(w, 32, 1);
        w[13] = NAN;
        TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 4, 8, 8, &q), TD_CODE_BAD_DATA, "NaN");
        TD_CHECK(q == NULL, "%s: output not cleared", specs[i]);
        w[13] = -INFINITY;
        TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 4, 8, 8, &q), TD_CODE_BAD_DATA, "infinite");
        w[13] = 0.5f;
        TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 0, 8, 8, &q), TD_CODE_INVALID_ARGUMENT,
                       "weight matrix");
        TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 4, 8, 7, &q), TD_CODE_INVALID_ARGUMENT,
                       "leading dimension");
    }
}

/* Finite weights beyond f16's (or bf16's) range would become infinities: an error
 * naming the weight, unless the spec asks for saturation, which clamps to max. */
static void half_overflow(void)
{
    float w[8] = {1, 2, 3, 70000.0f, 5, 6, 7, 8};
    td_qspec s = spec_of("f16");
    td_qmatrix *q = NULL;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 1, 8, 8, &q), TD_CODE_BAD_DATA,
                   "weight (0, 3) = 70000 overflows f16");
    s.saturate = true;
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 1, 8, 8, &q));
    if (q) {
        float d[8];
        TD_CHECK_OK(td_qmatrix_dequantize(q, d));
        TD_CHECK(d[3] == 65504.0f && d[2] == 3.0f, "f16:sat clamps: %g", d[3]);
        td_qmatrix_free(q);
    }
    w[3] = -FLT_MAX;
    s = spec_of("bf16");
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 1, 8, 8, &q), TD_CODE_BAD_DATA, "overflows bf16");
    w[3] = 65519.0f; /* rounds down to 65504: fine */
    s = spec_of("f16");
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 1, 8, 8, &q));
    td_qmatrix_free(q);
}

static void bad_specs_are_rejected(void)
{
    float w[16] = {1};
    td_qmatrix *q = NULL;
    td_qspec s = spec_of("fp8_e4m3");
    s.asym = true;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 2, 8, 8, &q), TD_CODE_INVALID_ARGUMENT,
                   "no asymmetric");
    s = spec_of("fp8_e5m2");
    s.group = -4;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 2, 8, 8, &q), TD_CODE_INVALID_ARGUMENT, "negative");
    s = spec_of("fp8_e4m3");
    s.tile_rows = -1;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 2, 8, 8, &q), TD_CODE_INVALID_ARGUMENT, "tile_rows");
    s = spec_of("bf16");
    s.sparsity = TD_SPARSE_GROUP;
    s.group_prune = 0.5;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 2, 8, 8, &q), TD_CODE_UNSUPPORTED, "group sparsity");
    TD_CHECK_ERROR(td_qspec_parse("fp8_e4m3:asym", &s), TD_CODE_INVALID_ARGUMENT, "asymmetric");
    TD_CHECK_ERROR(td_qspec_parse("fp8_e4m3:g-3", &s), TD_CODE_INVALID_ARGUMENT, "group size");
    TD_CHECK_ERROR(td_qspec_parse("fp8_e4m4", &s), TD_CODE_INVALID_ARGUMENT, "fp8_e4m4");
    /* the formats report themselves as the trait table says */
    TD_CHECK(td_format_get(TD_FP8_E4M3)->has_scale && !td_format_get(TD_BF16)->has_scale,
             "has_scale");
    TD_CHECK(td_format_get(TD_F16)->code_bits == 16 && td_format_get(TD_FP8_E5M2)->code_bits == 8,
             "code bits");
}

/* Bytes the kernels read: codes plus the f32 scale grid. */
static void bits_per_weight(void)
{
    float *w = calloc(256 * 512, sizeof(float));
    w[0] = 1.0f;
    struct {
        const char *spec;
        double bits;
    } cases[] = {{"bf16", 16.0},
                 {"f16", 16.0},
                 {"fp8_e4m3:tensor", 8.0 + 32.0 / (256 * 512)},
                 {"fp8_e4m3", 8.0 + 32.0 / 512},
                 {"fp8_e5m2:tile64", 8.0 + 32.0 / (64 * 64)}};
    for (int i = 0; i < COUNT(cases); i++) {
        td_qspec s = spec_of(cases[i].spec);
        td_qmatrix *q = NULL;
        TD_CHECK_OK(td_qmatrix_quantize(&s, w, 256, 512, 512, &q));
        if (!q)
            continue;
        TD_CHECK(fabs(td_qmatrix_bits_per_weight(q) - cases[i].bits) < 1e-9,
                 "%s: %.6f bits per weight, want %.6f", cases[i].spec,
                 td_qmatrix_bits_per_weight(q), cases[i].bits);
        td_qmatrix_free(q);
    }
    free(w);
}

int main(void)
{
    quantize_roundtrip_within_format_bounds();
    tiny_weights_quantize_cleanly();
    fp8_scale_grid_layout();
    fp8_zero_block_has_unit_scale();
    fp8_mse_clipping();
    all_kernels_match_reference();
    large_case();
    every_code_through_every_kernel();
    output_leading_dimension();
    integer_activations_fall_back();
    bad_weights_are_rejected();
    half_overflow();
    bad_specs_are_rejected();
    bits_per_weight();
    return td_test_finish("test_kernels_float");
}
