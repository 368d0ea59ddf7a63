/* Tiled attention (include/tandem/attention.h): every ISA and precision against the scalar
 * reference and the float64 oracle on random and edge shapes, torch and onnxruntime fixtures
 * (tools/gen_attention_fixtures.py), the block-sparse predictor on inputs whose answer is known,
 * the schedule hook, the graph operator, bad input, and an accuracy table of precision x
 * density. */
#include <inttypes.h>

#include "td_test.h"

#include "graph/op.h"
#include "kernels/attention/attention_internal.h"
#include "ops_harness.h"
#include "tandem/attention.h"
#include "tandem/graph.h"

static td_cpu_info cpu;

/* ---- data ---- */

typedef struct att_case {
    td_attn_shape s;
    float *q, *k, *v;
    size_t nq, nk, nv, no; /* element counts (contiguous [B, H, S, D]) */
} att_case;

static void case_free(att_case *c)
{
    free(c->q);
    free(c->k);
    free(c->v);
}

/* Random Q, K, V; K gets a per-channel offset so that its mean matters (smoothing). */
static att_case case_random(td_rng *r, int64_t b, int64_t hq, int64_t hkv, int64_t sq, int64_t skv,
                            int64_t d, int64_t dv, float amp)
{
    att_case c;
    memset(&c, 0, sizeof c);
    td_attn_shape s = {b, hq, hkv, sq, skv, d, dv};
    c.s = s;
    c.nq = (size_t)(b * hq * sq * d);
    c.nk = (size_t)(b * hkv * skv * d);
    c.nv = (size_t)(b * hkv * skv * dv);
    c.no = (size_t)(b * hq * sq * dv);
    c.q = malloc(c.nq * sizeof(float));
    c.k = malloc(c.nk * sizeof(float));
    c.v = malloc(c.nv * sizeof(float));
    for (size_t i = 0; i < c.nq; i++)
        c.q[i] = amp * td_rng_normal(r);
    float off[4096];
    for (int64_t i = 0; i < d && i < 4096; i++)
        off[i] = 1.5f * td_rng_normal(r);
    for (size_t i = 0; i < c.nk; i++)
        c.k[i] = amp * td_rng_normal(r) + off[(int64_t)i % d % 4096];
    for (size_t i = 0; i < c.nv; i++)
        c.v[i] = td_rng_normal(r);
    return c;
}

/* Tokens in runs of similar content (as neighbouring image patches or words are): Q and K
 * rows are a run's centroid plus noise, so attention concentrates on a few key tiles and block
 * sparsity has something to find. */
static att_case case_clustered(td_rng *r, int64_t h, int64_t s, int64_t d, int64_t run,
                               float spread, float noise)
{
    att_case c = case_random(r, 1, h, h, s, s, d, d, 0.0f);
    int64_t nruns = (s + run - 1) / run;
    float *cent = malloc((size_t)(h * nruns * d) * sizeof(float));
    for (int64_t i = 0; i < h * nruns * d; i++)
        cent[i] = spread * td_rng_normal(r);
    for (int64_t hh = 0; hh < h; hh++)
        for (int64_t t = 0; t < s; t++)
            for (int64_t x = 0; x < d; x++) {
                float ce = cent[(hh * nruns + t / run) * d + x];
                c.q[(hh * s + t) * d + x] = ce + noise * td_rng_normal(r);
                c.k[(hh * s + t) * d + x] += ce + noise * td_rng_normal(r);
            }
    free(cent);
    return c;
}

static td_attn_args args_of(const att_case *c, float *out)
{
    td_attn_args a;
    memset(&a, 0, sizeof a);
    a.shape = c->s;
    a.q = c->q;
    a.k = c->k;
    a.v = c->v;
    a.out = out;
    return a;
}

static int bits_equal(const float *a, const float *b, size_t n, size_t *at)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            *at = i;
            return 0;
        }
    return 1;
}

static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i]));
    return m;
}

/* ---- building blocks: E4M3 rounding and exp2 ---- */

static float formats_e4m3(float x)
{
    return td_fp8_e4m3_to_f32(td_f32_to_fp8_e4m3(x, true));
}

static void test_e4m3_rounding(void)
{
    /* Every 7th float bit pattern of magnitude up to 500 (160 million), both signs; plus every
     * midpoint between E4M3 neighbours and the floats next to it (the ties). */
    int64_t bad = 0, checked = 0;
    uint32_t top;
    float lim = 500.0f;
    memcpy(&top, &lim, 4);
    for (uint32_t u = 0; u <= top; u += 7) {
        float x;
        memcpy(&x, &u, 4);
        float want = formats_e4m3(x), got = att_e4m3_round(x), gotn = att_e4m3_round(-x);
        bad += memcmp(&want, &got, 4) != 0 || formats_e4m3(-x) != gotn;
        if (x <= 448.0f) {
            float gp = att_e4m3_round_pos(x);
            bad += memcmp(&want, &gp, 4) != 0;
        }
        checked++;
    }
    for (int code = 0; code < 0x7e; code++) {
        float a = td_fp8_e4m3_to_f32((uint8_t)code), b = td_fp8_e4m3_to_f32((uint8_t)(code + 1));
        float mid = (a + b) / 2; /* exact: both have few bits */
        float pts[3] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, 1e9f)};
        for (int i = 0; i < 3; i++) {
            bad += formats_e4m3(pts[i]) != att_e4m3_round(pts[i]);
            bad += formats_e4m3(pts[i]) != att_e4m3_round_pos(pts[i]);
            checked++;
        }
    }
    TD_CHECK(bad == 0, "att_e4m3_round differs from the formats module on %lld of %lld floats",
             (long long)bad, (long long)checked);
    printf("e4m3 rounding: %lld floats, all equal to td_f32_to_fp8_e4m3\n", (long long)checked);
}

static void test_exp2(void)
{
    double worst = 0;
    for (int i = 0; i <= 2000000; i++) {
        float x = -126.0f * (float)i / 2000000.0f;
        double want = exp2((double)x), got = att_exp2(x);
        worst = fmax(worst, fabs(got - want) / want);
    }
    TD_CHECK(worst < 2.5e-7, "att_exp2 relative error %g", worst);
    TD_CHECK(att_exp2(-INFINITY) == 0.0f && att_exp2(-127.5f) == 0.0f && att_exp2(-1000.0f) == 0.0f,
             "masked scores must weigh exactly 0");
    TD_CHECK(att_exp2(0.0f) == 1.0f, "2^0 = %g", (double)att_exp2(0.0f));
    printf("exp2: max relative error %.3g on [-126, 0]\n", worst);
}

/* ---- fast paths against the reference ---- */

typedef struct shape_case {
    int64_t b, hq, hkv, sq, skv, d, dv;
    bool causal;
    int64_t offset;
    int bq, bk;
    int bias;   /* 0 none, 1 per-query-key, 2 per-key broadcast over heads and queries */
    int layout; /* 0 [B,H,S,D], 1 [B,S,H*D] */
    int blocks; /* 0 dense, 1 a random block mask */
} shape_case;

static void layouts_for(const shape_case *sc, td_attn_args *a)
{
    if (sc->layout == 1) {
        a->lq = td_attn_layout_bshd(sc->hq, sc->sq, sc->d);
        a->lk = td_attn_layout_bshd(sc->hkv, sc->skv, sc->d);
        a->lv = td_attn_layout_bshd(sc->hkv, sc->skv, sc->dv);
        a->lo = td_attn_layout_bshd(sc->hq, sc->sq, sc->dv);
    }
}

/* Error of the scalar reference against the oracle, allowed per precision. f32: rounding of
 * sums of D products and of the softmax (relative to the output scale). The quantized ones are
 * far looser: what they must show is the quantization error, not a wrong index. */
static double ref_tolerance(td_attn_qk qk, td_attn_pv pv)
{
    if (qk == TD_ATTN_QK_F32 && pv == TD_ATTN_PV_F32)
        return 2e-5;
    return qk == TD_ATTN_QK_FP8 || pv == TD_ATTN_PV_FP8 ? 0.25 : 0.06;
}

static int fast_must_be_identical(int isa, td_attn_qk qk, td_attn_pv pv)
{
    if (isa < TD_ISA_AVX512)
        return 1; /* AVX2 runs the reference's operations in the same order */
    if (qk == TD_ATTN_QK_FP8 && cpu.avx512bf16)
        return 0; /* vdpbf16ps sums channel pairs in its own order */
    if (pv == TD_ATTN_PV_FP8 && cpu.avx512bf16)
        return 0;
    return 1; /* f32 and VNNI int8 (exact integer sums) */
}

static void check_shape(td_rng *r, const shape_case *sc)
{
    char name[160];
    snprintf(name, sizeof name,
             "B%lld Hq%lld Hkv%lld Sq%lld Skv%lld D%lld Dv%lld causal%d off%lld tiles%dx%d "
             "bias%d layout%d blocks%d",
             (long long)sc->b, (long long)sc->hq, (long long)sc->hkv, (long long)sc->sq,
             (long long)sc->skv, (long long)sc->d, (long long)sc->dv, sc->causal,
             (long long)sc->offset, sc->bq, sc->bk, sc->bias, sc->layout, sc->blocks);
    att_case c = case_random(r, sc->b, sc->hq, sc->hkv, sc->sq, sc->skv, sc->d, sc->dv, 1.0f);
    float *oracle = malloc(c.no * sizeof(float)), *ref = malloc(c.no * sizeof(float));
    float *out = malloc(c.no * sizeof(float));
    td_attn_args a = args_of(&c, oracle);
    layouts_for(sc, &a);
    td_attn_opts o = td_attn_opts_default();
    o.causal = sc->causal;
    o.causal_offset = sc->offset;
    o.block_q = sc->bq;
    o.block_k = sc->bk;
    float *bias = NULL;
    if (sc->bias) {
        size_t n = (size_t)(sc->b * sc->hq * sc->sq * sc->skv);
        bias = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            bias[i] = td_rng_uniform(r) < -0.8f ? -INFINITY : td_rng_uniform(r);
        o.bias = bias;
        if (sc->bias == 1) {
            int64_t st[4] = {sc->hq * sc->sq * sc->skv, sc->sq * sc->skv, sc->skv, 1};
            memcpy(o.bias_stride, st, sizeof st);
        } else {
            int64_t st[4] = {sc->skv, 0, 0, 1};
            memcpy(o.bias_stride, st, sizeof st);
        }
    }
    uint8_t *blocks = NULL;
    if (sc->blocks) {
        int64_t nq, nk;
        TD_CHECK_OK(td_attn_tiles(&c.s, &o, &nq, &nk));
        size_t n = (size_t)(sc->b * sc->hq * nq * nk);
        blocks = malloc(n);
        for (size_t i = 0; i < n; i++)
            blocks[i] = td_rng_uniform(r) > -0.3f;
        o.block_mask = blocks;
    }
    TD_CHECK_OK(td_attention_ref_f64(&a, &o));
    double scale = fmax(max_abs(oracle, c.no), 1e-30);
    for (int qk = 0; qk < TD_ATTN_QK_COUNT; qk++)
        for (int pv = 0; pv < TD_ATTN_PV_COUNT; pv++) {
            o.qk = (td_attn_qk)qk;
            o.pv = (td_attn_pv)pv;
            td_ctx ctx = {1, TD_ISA_SCALAR};
            a.out = ref;
            TD_CHECK_OK(td_attention(&ctx, &a, &o));
            double err = 0;
            for (size_t i = 0; i < c.no; i++)
                err = fmax(err, fabs((double)ref[i] - oracle[i]));
            TD_CHECK(err <= ref_tolerance(o.qk, o.pv) * scale,
                     "%s qk %s pv %s: reference off the oracle by %g (output scale %g)", name,
                     td_attn_qk_name(o.qk), td_attn_pv_name(o.pv), err, scale);
            for (int isa = TD_ISA_AVX2; isa <= (int)cpu.best; isa++)
                for (int threads = 1; threads <= 2; threads++) {
                    ctx.isa = (td_isa)isa;
                    ctx.threads = threads;
                    for (size_t i = 0; i < c.no; i++)
                        out[i] = NAN; /* every output must be written */
                    a.out = out;
                    TD_CHECK_OK(td_attention(&ctx, &a, &o));
                    if (fast_must_be_identical(isa, o.qk, o.pv)) {
                        size_t at = 0;
                        TD_CHECK(bits_equal(out, ref, c.no, &at),
                                 "%s qk %s pv %s isa %s threads %d: element %zu is %.9g, "
                                 "reference %.9g",
                                 name, td_attn_qk_name(o.qk), td_attn_pv_name(o.pv),
                                 td_isa_name(ctx.isa), threads, at, (double)out[at],
                                 (double)ref[at]);
                    } else {
                        /* Different summation order can move a score across an E4M3 rounding
                         * boundary; the outputs stay within a fraction of the quantization
                         * error. */
                        td_attn_quality qq;
                        td_attn_quality_of(out, ref, (int64_t)c.no, &qq);
                        TD_CHECK(qq.max_abs <= 0.03 * scale && qq.cosine >= 0.9999,
                                 "%s qk %s pv %s isa %s: max diff %g, cosine %.7f vs reference",
                                 name, td_attn_qk_name(o.qk), td_attn_pv_name(o.pv),
                                 td_isa_name(ctx.isa), qq.max_abs, qq.cosine);
                    }
                }
        }
    free(bias);
    free(blocks);
    free(oracle);
    free(ref);
    free(out);
    case_free(&c);
}

static void test_shapes(void)
{
    td_rng r = {0xa77e};
    static const shape_case cases[] = {
        /* b hq hkv sq skv d dv causal offset bq bk bias layout blocks */
        {1, 1, 1, 1, 1, 1, 1, false, 0, 0, 0, 0, 0, 0},         /* one query, one key */
        {1, 2, 2, 37, 37, 20, 20, false, 0, 0, 0, 0, 0, 0},     /* odd lengths, D % 16 != 0 */
        {2, 4, 2, 65, 130, 64, 64, true, 0, 0, 0, 0, 0, 0},     /* GQA, causal, tile tails */
        {1, 6, 1, 50, 131, 72, 40, true, 81, 32, 48, 0, 0, 0},  /* MQA, bottom-right, Dv != D */
        {1, 2, 1, 100, 40, 9, 33, true, 0, 16, 16, 0, 0, 0},    /* Sq > Skv, tiny tiles */
        {1, 2, 2, 70, 70, 16, 16, true, -20, 64, 64, 0, 0, 0},  /* leading rows see no key */
        {2, 2, 2, 33, 47, 24, 24, false, 0, 0, 0, 1, 0, 0},     /* float bias with -inf */
        {1, 4, 2, 40, 90, 32, 32, false, 0, 16, 32, 2, 1, 0},   /* broadcast bias, 3-D layout */
        {1, 2, 2, 100, 200, 48, 48, false, 0, 32, 64, 0, 0, 1}, /* random block mask */
        {1, 3, 3, 129, 129, 128, 128, true, 0, 0, 0, 0, 1, 1},  /* causal + blocks, D 128 */
        {1, 1, 1, 17, 300, 200, 8, false, 0, 0, 80, 0, 0, 0},   /* long head, thin V */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_shape(&r, &cases[i]);
    printf("shapes: %zu cases x 6 precisions x %d ISAs x 1-2 threads against the reference\n",
           sizeof cases / sizeof cases[0], (int)cpu.best + 1);
}

/* A mask of all ones is the dense computation, bit for bit; the predictor at density 1 or
 * mass share 1 keeps every visible tile. */
static void test_full_density(void)
{
    td_rng r = {77};
    att_case c = case_random(&r, 1, 4, 2, 150, 150, 64, 64, 1.0f);
    float *dense = malloc(c.no * sizeof(float)), *masked = malloc(c.no * sizeof(float));
    td_attn_args a = args_of(&c, dense);
    td_ctx ctx = td_ctx_default();
    ctx.threads = 2;
    for (int causal = 0; causal <= 1; causal++)
        for (int qk = 0; qk < TD_ATTN_QK_COUNT; qk++) {
            td_attn_opts o = td_attn_opts_default();
            o.causal = causal;
            o.qk = (td_attn_qk)qk;
            o.pv = qk ? TD_ATTN_PV_FP8 : TD_ATTN_PV_F32;
            a.out = dense;
            TD_CHECK_OK(td_attention(&ctx, &a, &o));
            int64_t nq, nk;
            TD_CHECK_OK(td_attn_tiles(&c.s, &o, &nq, &nk));
            uint8_t *mask = malloc((size_t)(4 * nq * nk));
            for (int mode = 0; mode < 3; mode++) {
                td_attn_sparsity sp = {1.0f, mode == 1 ? 1.0f : 0.0f, 0.0f};
                td_attn_mask_stats st;
                if (mode == 2)
                    memset(mask, 1, (size_t)(4 * nq * nk));
                else
                    TD_CHECK_OK(td_attn_predict(&ctx, &a, &o, &sp, mask, &st));
                TD_CHECK_OK(td_attn_mask_stats_of(&c.s, &o, mask, &st));
                TD_CHECK(st.density == 1.0 && st.kept == st.visible,
                         "causal %d mode %d: density %g (%lld of %lld)", causal, mode, st.density,
                         (long long)st.kept, (long long)st.visible);
                o.block_mask = mask;
                a.out = masked;
                TD_CHECK_OK(td_attention(&ctx, &a, &o));
                o.block_mask = NULL;
                size_t at = 0;
                TD_CHECK(bits_equal(dense, masked, c.no, &at),
                         "causal %d qk %d mode %d: density 1 differs from dense at %zu", causal, qk,
                         mode, at);
            }
            free(mask);
        }
    free(dense);
    free(masked);
    case_free(&c);
}

/* ---- the predictor on inputs whose pooled attention is known ---- */

/* One query tile (16 identical queries) and four key tiles of 16 identical keys: the pooled
 * scores are the true scores, so tile j carries mass w_j exactly; w is chosen and permuted. */
static void test_predictor_known(void)
{
    const int64_t d = 16, sq = 16, skv = 64;
    const double w[4] = {0.15, 0.5, 0.05, 0.3}; /* mass of key tiles 0..3 */
    float q[16 * 16], k[64 * 16], v[64 * 16];
    for (int64_t i = 0; i < sq * d; i++)
        q[i] = (i % d) == 0 ? 4.0f : 0.0f; /* q = 4 e0, scale 1/4 gives score = k[0] */
    for (int64_t j = 0; j < skv; j++)
        for (int64_t x = 0; x < d; x++) {
            k[j * d + x] = x == 0 ? (float)log(w[j / 16]) : 0.0f;
            v[j * d + x] = (float)(j / 16 == x);
        }
    td_attn_args a;
    memset(&a, 0, sizeof a);
    td_attn_shape s = {1, 1, 1, sq, skv, d, d};
    a.shape = s;
    a.q = q;
    a.k = k;
    a.v = v;
    td_attn_opts o = td_attn_opts_default();
    o.block_q = 16;
    o.block_k = 16;
    o.scale = 0.25f;
    td_ctx ctx = td_ctx_default();
    struct {
        float share, density;
        uint8_t want[4];
    } cases[] = {
        {0.45f, 0, {0, 1, 0, 0}},   /* the 0.5 tile alone */
        {0.75f, 0, {0, 1, 0, 1}},   /* 0.5 + 0.3 */
        {0.85f, 0, {1, 1, 0, 1}},   /* + 0.15 */
        {0.97f, 0, {1, 1, 1, 1}},   /* everything */
        {1.0f, 0.5f, {0, 1, 0, 1}}, /* density: the top two */
        {1.0f, 0.25f, {0, 1, 0, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t mask[4];
        td_attn_sparsity sp = {cases[i].share, cases[i].density, 0.0f};
        td_attn_mask_stats st;
        TD_CHECK_OK(td_attn_predict(&ctx, &a, &o, &sp, mask, &st));
        TD_CHECK(!memcmp(mask, cases[i].want, 4),
                 "share %.2f density %.2f: kept %d%d%d%d, expected %d%d%d%d", (double)sp.mass_share,
                 (double)sp.density, mask[0], mask[1], mask[2], mask[3], cases[i].want[0],
                 cases[i].want[1], cases[i].want[2], cases[i].want[3]);
        /* The true attention mass on the kept keys: run the oracle with V = one-hot tiles,
         * so output channel j is the mass of key tile j. */
        float out[16 * 16];
        a.out = out;
        TD_CHECK_OK(td_attention_ref_f64(&a, &o));
        double kept = 0;
        for (int j = 0; j < 4; j++)
            kept += mask[j] ? out[j] : 0.0;
        if (cases[i].density == 0)
            TD_CHECK(kept >= cases[i].share - 1e-6, "share %.2f: kept mass %.4f",
                     (double)cases[i].share, kept);
        TD_CHECK(fabs(out[1] - 0.5) < 1e-6, "tile 1 mass %.6f", (double)out[1]);
    }
    /* Causal: the tile on the diagonal stays even when its pooled mass is the smallest. */
    o.causal = true;
    o.causal_offset = 48; /* the 16 queries are the last 16 positions: all tiles visible */
    uint8_t mask[4];
    td_attn_sparsity sp = {0.45f, 0.0f, 0.0f};
    TD_CHECK_OK(td_attn_predict(&ctx, &a, &o, &sp, mask, NULL));
    TD_CHECK(mask[3] == 1 && mask[1] == 1 && mask[0] == 0 && mask[2] == 0,
             "causal: kept %d%d%d%d, expected 0101", mask[0], mask[1], mask[2], mask[3]);
    o.causal_offset = 17; /* queries 0..15 see keys up to 32: tiles 0, 1, 2 (2 is diagonal) */
    TD_CHECK_OK(td_attn_predict(&ctx, &a, &o, &sp, mask, NULL));
    TD_CHECK(mask[3] == 0 && mask[2] == 1 && mask[1] == 1,
             "causal frontier: kept %d%d%d%d, expected x110", mask[0], mask[1], mask[2], mask[3]);
    printf("predictor: known pooled masses give the expected tiles\n");
}

/* On clustered data the predicted mask keeps most of the true mass. */
static void test_predictor_mass(void)
{
    td_rng r = {4242};
    att_case c = case_clustered(&r, 2, 512, 32, 96, 0.8f, 0.8f);
    td_attn_args a = args_of(&c, NULL);
    td_attn_opts o = td_attn_opts_default();
    td_ctx ctx = td_ctx_default();
    int64_t nq, nk;
    TD_CHECK_OK(td_attn_tiles(&c.s, &o, &nq, &nk));
    uint8_t *mask = malloc((size_t)(2 * nq * nk));
    td_attn_sparsity sp = {0.9f, 0.0f, 0.3f};
    td_attn_mask_stats st;
    TD_CHECK_OK(td_attn_predict(&ctx, &a, &o, &sp, mask, &st));
    /* True mass of the kept keys per query row, in double. */
    double worst = 1, mean = 0;
    for (int64_t h = 0; h < 2; h++)
        for (int64_t i = 0; i < 512; i++) {
            const float *qi = c.q + (h * 512 + i) * 32;
            double sc[512], mx = -INFINITY, tot = 0, kept = 0;
            for (int64_t j = 0; j < 512; j++) {
                double dot = 0;
                for (int x = 0; x < 32; x++)
                    dot += (double)qi[x] * c.k[(h * 512 + j) * 32 + x];
                sc[j] = dot / sqrt(32.0);
                mx = fmax(mx, sc[j]);
            }
            for (int64_t j = 0; j < 512; j++) {
                double p = exp(sc[j] - mx);
                tot += p;
                kept += mask[(h * nq + i / 64) * nk + j / 64] ? p : 0;
            }
            worst = fmin(worst, kept / tot);
            mean += kept / tot / 1024;
        }
    TD_CHECK(mean >= 0.9 && worst >= 0.5 && st.density < 0.8,
             "mass share 0.9: true kept mass %.3f (worst row %.3f) at density %.3f", mean, worst,
             st.density);
    printf("predictor: share 0.9 on clustered data keeps %.3f of the mass (worst row %.3f) at "
           "density %.3f\n",
           mean, worst, st.density);
    free(mask);
    case_free(&c);
}

/* ---- accuracy against the oracle: precision x density ---- */

static void test_accuracy_table(void)
{
    td_rng r = {9001};
    att_case c = case_clustered(&r, 4, 512, 64, 96, 0.8f, 0.8f);
    float *oracle = malloc(c.no * sizeof(float)), *out = malloc(c.no * sizeof(float));
    td_attn_args a = args_of(&c, oracle);
    td_attn_opts o = td_attn_opts_default();
    TD_CHECK_OK(td_attention_ref_f64(&a, &o));
    td_ctx ctx = td_ctx_default();
    ctx.threads = 2;
    int64_t nq, nk;
    TD_CHECK_OK(td_attn_tiles(&c.s, &o, &nq, &nk));
    uint8_t *mask = malloc((size_t)(4 * nq * nk));
    static const float dens[] = {1.0f, 0.75f, 0.5f, 0.25f};
    static const struct {
        td_attn_qk qk;
        td_attn_pv pv;
        double min_cos[4]; /* per density */
    } prec[] = {
        {TD_ATTN_QK_F32, TD_ATTN_PV_F32, {0.9999999, 0.9995, 0.998, 0.9}},
        {TD_ATTN_QK_INT8, TD_ATTN_PV_F32, {0.9999, 0.9993, 0.998, 0.9}},
        {TD_ATTN_QK_INT8, TD_ATTN_PV_FP8, {0.999, 0.9985, 0.997, 0.9}},
        {TD_ATTN_QK_FP8, TD_ATTN_PV_F32, {0.998, 0.998, 0.996, 0.9}},
        {TD_ATTN_QK_FP8, TD_ATTN_PV_FP8, {0.997, 0.997, 0.995, 0.9}},
    };
    printf("accuracy vs the float64 oracle (clustered tokens, B1 H4 S512 D64; predicted block "
           "masks):\n  %-9s %-9s",
           "Q.K", "P.V");
    for (int di = 0; di < 4; di++)
        printf("  density %.2f: cos / relL1", (double)dens[di]);
    printf("\n");
    for (size_t pi = 0; pi < sizeof prec / sizeof prec[0]; pi++) {
        printf("  %-9s %-9s", td_attn_qk_name(prec[pi].qk), td_attn_pv_name(prec[pi].pv));
        for (int di = 0; di < 4; di++) {
            td_attn_opts so = o;
            so.qk = prec[pi].qk;
            so.pv = prec[pi].pv;
            if (dens[di] < 1.0f) {
                td_attn_sparsity sp = {1.0f, dens[di], 0.0f};
                TD_CHECK_OK(td_attn_predict(&ctx, &a, &o, &sp, mask, NULL));
                so.block_mask = mask;
            }
            a.out = out;
            TD_CHECK_OK(td_attention(&ctx, &a, &so));
            td_attn_quality qq;
            td_attn_quality_of(out, oracle, (int64_t)c.no, &qq);
            printf("        %.7f / %.2e", qq.cosine, qq.rel_l1);
            TD_CHECK(qq.cosine >= prec[pi].min_cos[di], "qk %s pv %s density %.2f: cosine %.7f",
                     td_attn_qk_name(prec[pi].qk), td_attn_pv_name(prec[pi].pv), (double)dens[di],
                     qq.cosine);
        }
        printf("\n");
    }
    free(mask);
    free(oracle);
    free(out);
    case_free(&c);
}

/* ---- schedules ---- */

typedef struct sched_log {
    int calls;
    int layer[16], step[16];
} sched_log;

static td_status logging_schedule(void *user, int layer, int step, td_attn_plan *plan)
{
    sched_log *l = user;
    if (l->calls < 16) {
        l->layer[l->calls] = layer;
        l->step[l->calls] = step;
    }
    l->calls++;
    if (step == 99)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "no plan for step 99");
    plan->qk = step % 2 ? TD_ATTN_QK_INT8 : TD_ATTN_QK_F32;
    plan->pv = TD_ATTN_PV_F32;
    plan->mass_share = 1.0f;
    plan->density = 0.0f;
    return TD_OK;
}

static void test_schedule(void)
{
    td_rng r = {31337};
    att_case c = case_clustered(&r, 2, 256, 32, 64, 0.8f, 0.8f);
    float *got = malloc(c.no * sizeof(float)), *want = malloc(c.no * sizeof(float));
    td_attn_args a = args_of(&c, got);
    td_attn_opts base = td_attn_opts_default();
    td_ctx ctx = td_ctx_default();
    /* Denoising steps 0-3 exact, 4-7 int8 Q.K at half density, later ones fp8 throughout with
     * the mass-share predictor; layer 0 always exact. */
    td_attn_schedule_rule rules[] = {
        {0, 0, -1, -1, {TD_ATTN_QK_F32, TD_ATTN_PV_F32, 1.0f, 0.0f, 0.0f}},
        {-1, -1, 0, 3, {TD_ATTN_QK_F32, TD_ATTN_PV_F32, 1.0f, 0.0f, 0.0f}},
        {-1, -1, 4, 7, {TD_ATTN_QK_INT8, TD_ATTN_PV_FP8, 1.0f, 0.5f, 0.0f}},
    };
    td_attn_schedule_table table = {rules, 3, {TD_ATTN_QK_FP8, TD_ATTN_PV_FP8, 0.9f, 0.0f, 0.5f}};
    for (int layer = 0; layer < 2; layer++)
        for (int step = 0; step < 10; step++) {
            td_attn_step_report rep;
            a.out = got;
            TD_CHECK_OK(td_attention_scheduled(&ctx, td_attn_schedule_table_pick, &table, layer,
                                               step, &a, &base, &rep));
            const td_attn_plan *want_plan = layer == 0  ? &rules[0].plan
                                            : step <= 3 ? &rules[1].plan
                                            : step <= 7 ? &rules[2].plan
                                                        : &table.fallback;
            TD_CHECK(rep.plan.qk == want_plan->qk && rep.plan.pv == want_plan->pv &&
                         rep.plan.density == want_plan->density &&
                         rep.plan.mass_share == want_plan->mass_share,
                     "layer %d step %d: schedule picked qk %s pv %s density %g share %g", layer,
                     step, td_attn_qk_name(rep.plan.qk), td_attn_pv_name(rep.plan.pv),
                     (double)rep.plan.density, (double)rep.plan.mass_share);
            bool dense = want_plan->density == 0.0f && want_plan->mass_share >= 1.0f;
            TD_CHECK(dense ? rep.mask.density == 1.0 : rep.mask.density < 1.0,
                     "layer %d step %d: density %g", layer, step, rep.mask.density);
            /* The same run by hand. */
            td_attn_opts o = base;
            o.qk = want_plan->qk;
            o.pv = want_plan->pv;
            uint8_t mask[64];
            if (!dense) {
                td_attn_sparsity sp = {want_plan->mass_share, want_plan->density,
                                       want_plan->min_similarity};
                TD_CHECK_OK(td_attn_predict(&ctx, &a, &o, &sp, mask, NULL));
                o.block_mask = mask;
            }
            a.out = want;
            TD_CHECK_OK(td_attention(&ctx, &a, &o));
            size_t at = 0;
            TD_CHECK(bits_equal(got, want, c.no, &at),
                     "layer %d step %d: scheduled run differs from the plan run by hand at %zu",
                     layer, step, at);
        }
    /* A callback schedule sees every (layer, step) and its errors abort the call. */
    sched_log log;
    memset(&log, 0, sizeof log);
    a.out = got;
    for (int step = 0; step < 3; step++)
        TD_CHECK_OK(td_attention_scheduled(&ctx, logging_schedule, &log, 5, step, &a, &base, NULL));
    TD_CHECK(log.calls == 3 && log.layer[2] == 5 && log.step[2] == 2, "hook calls %d", log.calls);
    TD_CHECK_ERROR(td_attention_scheduled(&ctx, logging_schedule, &log, 5, 99, &a, &base, NULL),
                   TD_CODE_INVALID_ARGUMENT, "step 99");
    td_attn_schedule_rule bad_rule = {-1, -1, -1, -1, {TD_ATTN_QK_F32, TD_ATTN_PV_F32, 1, 1.5f, 0}};
    td_attn_schedule_table bad = {&bad_rule, 1, {TD_ATTN_QK_F32, TD_ATTN_PV_F32, 1, 0, 0}};
    TD_CHECK_ERROR(
        td_attention_scheduled(&ctx, td_attn_schedule_table_pick, &bad, 2, 3, &a, &base, NULL),
        TD_CODE_INVALID_ARGUMENT, "layer 2, step 3");
    printf("schedule: table and callback plans per layer and step\n");
    free(got);
    free(want);
    case_free(&c);
}

/* ---- outside oracles ---- */

typedef struct fixture {
    char name[64];
    int64_t dims[7];
    int causal;
    float scale;
    char layout[8];
    char mask_kind[8];
    int mask_ndim;
    int64_t mask_shape[4];
    float *m, *q, *k, *v;
    double *y;
    size_t nm, nq, nk, nv, ny;
} fixture;

static float *read_hex(char **p, size_t n)
{
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)strtoul(*p, p, 16);
        memcpy(&x[i], &u, 4);
    }
    return x;
}

static double *read_dec(char **p, size_t n)
{
    double *x = malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++)
        x[i] = strtod(*p, p);
    return x;
}

static void fixture_free(fixture *f)
{
    free(f->m);
    free(f->q);
    free(f->k);
    free(f->v);
    free(f->y);
    memset(f, 0, sizeof *f);
}

/* Reads the next case at *p; returns 0 at the end of the file. */
static int fixture_next(char **p, fixture *f)
{
    memset(f, 0, sizeof *f);
    char *s = *p;
    while (*s) {
        char *eol = strchr(s, '\n');
        char *next = eol ? eol + 1 : s + strlen(s);
        if (eol)
            *eol = '\0';
        char key[16] = {0};
        int used = 0;
        if (s[0] == '#' || sscanf(s, "%15s%n", key, &used) != 1) {
            s = next;
            continue;
        }
        char *rest = s + used;
        int64_t *dm = f->dims;
        if (!strcmp(key, "case"))
            sscanf(rest, "%63s", f->name);
        else if (!strcmp(key, "dims"))
            sscanf(rest,
                   "%" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64
                   " %" SCNd64,
                   &dm[0], &dm[1], &dm[2], &dm[3], &dm[4], &dm[5], &dm[6]);
        else if (!strcmp(key, "causal"))
            f->causal = atoi(rest);
        else if (!strcmp(key, "scale"))
            f->scale = strtof(rest, NULL);
        else if (!strcmp(key, "layout"))
            sscanf(rest, "%7s", f->layout);
        else if (!strcmp(key, "mask")) {
            int k = 0;
            sscanf(rest, "%7s %d%n", f->mask_kind, &f->mask_ndim, &k);
            f->nm = f->mask_ndim ? 1 : 0;
            char *q = rest + k;
            for (int i = 0; i < f->mask_ndim && i < 4; i++) {
                f->mask_shape[i] = strtol(q, &q, 10);
                f->nm *= (size_t)f->mask_shape[i];
            }
        } else if (!strcmp(key, "m")) {
            double *m = read_dec(&rest, f->nm);
            f->m = malloc((f->nm ? f->nm : 1) * sizeof(float));
            for (size_t i = 0; i < f->nm; i++)
                f->m[i] = (float)m[i];
            free(m);
        } else if (!strcmp(key, "q")) {
            f->nq = (size_t)(dm[0] * dm[1] * dm[3] * dm[5]);
            f->q = read_hex(&rest, f->nq);
        } else if (!strcmp(key, "k")) {
            f->nk = (size_t)(dm[0] * dm[2] * dm[4] * dm[5]);
            f->k = read_hex(&rest, f->nk);
        } else if (!strcmp(key, "v")) {
            f->nv = (size_t)(dm[0] * dm[2] * dm[4] * dm[6]);
            f->v = read_hex(&rest, f->nv);
        } else if (!strcmp(key, "y")) {
            f->ny = (size_t)(dm[0] * dm[1] * dm[3] * dm[6]);
            f->y = read_dec(&rest, f->ny);
        } else if (!strcmp(key, "end")) {
            *p = next;
            return 1;
        }
        s = next;
    }
    *p = s;
    return 0;
}

static char *read_fixture_file(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/attention/%s", TD_FIXTURE_DIR, name);
    char *buf = NULL;
    size_t len;
    TD_CHECK_OK(td_file_read(path, (size_t)16 << 20, &buf, &len));
    return buf;
}

static void test_torch_fixtures(void)
{
    char *buf = read_fixture_file("torch_cases.txt");
    if (!buf)
        return;
    char *p = buf;
    fixture f;
    int cases = 0;
    double worst = 0;
    while (fixture_next(&p, &f)) {
        cases++;
        td_attn_args a;
        memset(&a, 0, sizeof a);
        td_attn_shape s = {f.dims[0], f.dims[1], f.dims[2], f.dims[3],
                           f.dims[4], f.dims[5], f.dims[6]};
        a.shape = s;
        a.q = f.q;
        a.k = f.k;
        a.v = f.v;
        float *out = malloc(f.ny * sizeof(float));
        a.out = out;
        td_attn_opts o = td_attn_opts_default();
        o.causal = f.causal;
        o.scale = f.scale;
        double scale = 0;
        for (size_t i = 0; i < f.ny; i++)
            scale = fmax(scale, fabs(f.y[i]));
        TD_CHECK_OK(td_attention_ref_f64(&a, &o));
        for (size_t i = 0; i < f.ny; i++)
            TD_CHECK(fabs(out[i] - f.y[i]) <= 1e-7 * scale + 1e-9,
                     "%s: oracle [%zu] %.9g torch %.9g", f.name, i, (double)out[i], f.y[i]);
        for (int isa = 0; isa <= (int)cpu.best; isa++) {
            td_ctx ctx = {2, (td_isa)isa};
            TD_CHECK_OK(td_attention(&ctx, &a, &o));
            double err = 0;
            for (size_t i = 0; i < f.ny; i++)
                err = fmax(err, fabs(out[i] - f.y[i]));
            worst = fmax(worst, err / scale);
            TD_CHECK(err <= 1e-5 * scale, "%s isa %s: off torch by %g (scale %g)", f.name,
                     td_isa_name(ctx.isa), err, scale);
        }
        free(out);
        fixture_free(&f);
    }
    TD_CHECK(cases == 4, "torch fixtures: %d cases", cases);
    printf("torch fixtures: %d cases, every ISA within %.2g of torch (relative to the output)\n",
           cases, worst);
    free(buf);
}

/* ---- the graph operator ---- */

static void test_op_fixtures(void)
{
    char *buf = read_fixture_file("onnx_cases.txt");
    if (!buf)
        return;
    char *p = buf;
    fixture f;
    int cases = 0;
    while (fixture_next(&p, &f)) {
        cases++;
        int three = !strcmp(f.layout, "bshd");
        int64_t *dm = f.dims;
        int64_t qs[4] = {dm[0], dm[1], dm[3], dm[5]}, ks[4] = {dm[0], dm[2], dm[4], dm[5]};
        int64_t vs[4] = {dm[0], dm[2], dm[4], dm[6]};
        if (three) {
            int64_t q3[3] = {dm[0], dm[3], dm[1] * dm[5]}, k3[3] = {dm[0], dm[4], dm[2] * dm[5]};
            int64_t v3[3] = {dm[0], dm[4], dm[2] * dm[6]};
            memcpy(qs, q3, sizeof q3);
            memcpy(ks, k3, sizeof k3);
            memcpy(vs, v3, sizeof v3);
        }
        int nd = three ? 3 : 4;
        td_graph *g = NULL;
        TD_CHECK_OK(td_graph_new("attn", &g));
        oh_input(g, "Q", TD_DT_F32, nd, qs, f.q);
        oh_input(g, "K", TD_DT_F32, nd, ks, f.k);
        oh_input(g, "V", TD_DT_F32, nd, vs, f.v);
        bool *bm = NULL;
        int nin = 3;
        if (strcmp(f.mask_kind, "none") != 0) {
            nin = 4;
            if (!strcmp(f.mask_kind, "bool")) {
                bm = malloc(f.nm);
                for (size_t i = 0; i < f.nm; i++)
                    bm[i] = f.m[i] != 0.0f;
                oh_input(g, "M", TD_DT_BOOL, f.mask_ndim, f.mask_shape, bm);
            } else {
                oh_input(g, "M", TD_DT_F32, f.mask_ndim, f.mask_shape, f.m);
            }
        }
        const char *ins[4] = {"Q", "K", "V", "M"};
        td_node *n = oh_node(g, "att", "Attention", nin, ins, "Y");
        if (n) {
            TD_CHECK_OK(td_node_set_int(n, "is_causal", f.causal));
            if (f.scale != 0.0f)
                TD_CHECK_OK(td_node_set_float(n, "scale", f.scale));
            if (three) {
                TD_CHECK_OK(td_node_set_int(n, "q_num_heads", dm[1]));
                TD_CHECK_OK(td_node_set_int(n, "kv_num_heads", dm[2]));
            }
        }
        TD_CHECK_OK(oh_exec(g, 2));
        const float *y = oh_f32(g, "Y");
        double err = 0;
        for (size_t i = 0; y && i < f.ny; i++)
            err = fmax(err, fabs(y[i] - f.y[i]));
        TD_CHECK(y && err <= 2e-6, "%s: off onnxruntime by %g", f.name, err);
        if (n) {
            double pairs = f.causal ? 0 : (double)(dm[3] * dm[4]);
            for (int64_t i = 0; f.causal && i < dm[3]; i++)
                pairs += (double)(i + 1 < dm[4] ? i + 1 : dm[4]);
            int64_t macs = (int64_t)(pairs * (double)(dm[0] * dm[1] * (dm[5] + dm[6])));
            TD_CHECK(n->cost.macs == macs, "%s: MACs %lld, expected %lld", f.name,
                     (long long)n->cost.macs, (long long)macs);
            TD_CHECK(n->def->cls == TD_OPC_MATMUL, "class");
        }
        td_graph_free(g);
        free(bm);
        fixture_free(&f);
    }
    TD_CHECK(cases == 3, "onnx fixtures: %d cases", cases);
    printf("operator: %d onnxruntime cases (4-D/3-D, GQA, bool/float masks, scale)\n", cases);
    free(buf);
}

/* Operator semantics the fixtures leave out: a fully masked row is zero (ONNX), the Tandem
 * attributes run the co-design kernels, unsupported inputs and attributes are refused. */
static void test_op_behaviour(void)
{
    td_rng r = {5};
    att_case c = case_random(&r, 1, 2, 2, 8, 12, 16, 16, 1.0f);
    int64_t qs[4] = {1, 2, 8, 16}, ks[4] = {1, 2, 12, 16}, ms[2] = {8, 12};
    bool mask[8 * 12];
    for (int i = 0; i < 96; i++)
        mask[i] = (i / 12) != 3; /* row 3 attends nothing */
    td_graph *g = NULL;
    TD_CHECK_OK(td_graph_new("attn", &g));
    oh_input(g, "Q", TD_DT_F32, 4, qs, c.q);
    oh_input(g, "K", TD_DT_F32, 4, ks, c.k);
    oh_input(g, "V", TD_DT_F32, 4, ks, c.v);
    oh_input(g, "M", TD_DT_BOOL, 2, ms, mask);
    const char *ins[4] = {"Q", "K", "V", "M"};
    td_node *n = oh_node(g, "att", "Attention", 4, ins, "Y");
    TD_CHECK_OK(oh_exec(g, 1));
    const float *y = oh_f32(g, "Y");
    int zero = 1, nonzero = 1;
    for (int h = 0; y && h < 2; h++)
        for (int i = 0; i < 8; i++)
            for (int x = 0; x < 16; x++) {
                float val = y[(h * 8 + i) * 16 + x];
                if (i == 3)
                    zero &= val == 0.0f;
                else
                    nonzero &= val != 0.0f;
            }
    TD_CHECK(y && zero && nonzero, "a fully masked row must be zero, the others not");
    td_graph_free(g);

    /* tandem attributes: int8/fp8 at half density, against the same kernel call */
    TD_CHECK_OK(td_graph_new("attn", &g));
    oh_input(g, "Q", TD_DT_F32, 4, qs, c.q);
    oh_input(g, "K", TD_DT_F32, 4, ks, c.k);
    oh_input(g, "V", TD_DT_F32, 4, ks, c.v);
    n = oh_node(g, "att", "Attention", 3, ins, "Y");
    if (n) {
        TD_CHECK_OK(td_node_set_string(n, "tandem_qk", "int8"));
        TD_CHECK_OK(td_node_set_string(n, "tandem_pv", "fp8"));
        TD_CHECK_OK(td_node_set_float(n, "tandem_density", 0.5f));
    }
    TD_CHECK_OK(oh_exec(g, 1));
    y = oh_f32(g, "Y");
    float want[2 * 8 * 16];
    td_attn_args a = args_of(&c, want);
    td_attn_opts o = td_attn_opts_default();
    o.qk = TD_ATTN_QK_INT8;
    o.pv = TD_ATTN_PV_FP8;
    uint8_t blocks[2];
    td_attn_sparsity sp = {1.0f, 0.5f, 0.0f};
    td_ctx ctx = td_ctx_default();
    ctx.threads = 1;
    TD_CHECK_OK(td_attn_predict(&ctx, &a, &o, &sp, blocks, NULL));
    o.block_mask = blocks;
    TD_CHECK_OK(td_attention(&ctx, &a, &o));
    size_t at = 0;
    TD_CHECK(y && bits_equal(y, want, c.no, &at), "tandem attributes: differ at %zu", at);
    TD_CHECK(n && n->cost.macs == 2 * 8 * 12 * 32 / 2, "MACs at density 0.5: %lld",
             n ? (long long)n->cost.macs : -1LL);
    td_graph_free(g);

    /* refusals, each naming what is wrong */
    struct {
        const char *attr;
        int kind; /* 0 int, 1 float, 2 string */
        double val;
        const char *sval;
        td_code code;
        const char *needle;
    } bad[] = {
        {"softcap", 1, 30.0, NULL, TD_CODE_UNSUPPORTED, "softcap"},
        {"scale", 1, 0.0, NULL, TD_CODE_INVALID_ARGUMENT, "scale"},
        {"is_causal", 0, 2, NULL, TD_CODE_INVALID_ARGUMENT, "is_causal"},
        {"q_num_heads", 0, 3, NULL, TD_CODE_INVALID_ARGUMENT, "contradict"},
        {"softmax_precision", 0, 11, NULL, TD_CODE_UNSUPPORTED, "softmax_precision"},
        {"left_window_size", 0, 3, NULL, TD_CODE_UNSUPPORTED, "left_window_size"},
        {"tandem_qk", 2, 0, "int4", TD_CODE_INVALID_ARGUMENT, "tandem_qk"},
        {"tandem_density", 1, 1.5, NULL, TD_CODE_INVALID_ARGUMENT, "tandem_density"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TD_CHECK_OK(td_graph_new("attn", &g));
        oh_input(g, "Q", TD_DT_F32, 4, qs, c.q);
        oh_input(g, "K", TD_DT_F32, 4, ks, c.k);
        oh_input(g, "V", TD_DT_F32, 4, ks, c.v);
        n = oh_node(g, "att", "Attention", 3, ins, "Y");
        if (n && bad[i].kind == 0)
            TD_CHECK_OK(td_node_set_int(n, bad[i].attr, (int64_t)bad[i].val));
        else if (n && bad[i].kind == 1)
            TD_CHECK_OK(td_node_set_float(n, bad[i].attr, (float)bad[i].val));
        else if (n)
            TD_CHECK_OK(td_node_set_string(n, bad[i].attr, bad[i].sval));
        TD_CHECK_ERROR(oh_exec(g, 1), bad[i].code, bad[i].needle);
        td_graph_free(g);
    }
    /* shapes: heads that do not divide, mismatched head sizes, a past_key, a bad mask */
    {
        int64_t q6[4] = {1, 3, 8, 16}, k2[4] = {1, 2, 12, 16}, kd[4] = {1, 2, 12, 8};
        int64_t mbad[2] = {5, 12};
        float *big = calloc(4096, sizeof(float));
        const char *cases[][2] = {{"heads", "not a multiple"},
                                  {"dim", "head size"},
                                  {"past", "past_key"},
                                  {"mask", "attn_mask"}};
        for (int i = 0; i < 4; i++) {
            TD_CHECK_OK(td_graph_new("attn", &g));
            oh_input(g, "Q", TD_DT_F32, 4, i == 0 ? q6 : qs, big);
            oh_input(g, "K", TD_DT_F32, 4, i == 1 ? kd : k2, big);
            oh_input(g, "V", TD_DT_F32, 4, k2, big);
            oh_input(g, "P", TD_DT_F32, 4, k2, big);
            oh_input(g, "M", TD_DT_BOOL, 2, mbad, big);
            const char *in5[5] = {"Q", "K", "V", i == 3 ? "M" : "", "P"};
            oh_node(g, "att", "Attention", i == 2 ? 5 : 4, in5, "Y");
            TD_CHECK_ERROR(oh_exec(g, 1), i == 2 ? TD_CODE_UNSUPPORTED : TD_CODE_INVALID_ARGUMENT,
                           cases[i][1]);
            td_graph_free(g);
        }
        free(big);
    }
    case_free(&c);
}

/* ---- bad input ---- */

static void test_bad_input(void)
{
    td_rng r = {11};
    att_case c = case_random(&r, 1, 4, 2, 10, 10, 8, 8, 1.0f);
    float out[4 * 10 * 8];
    td_attn_args a = args_of(&c, out);
    td_attn_opts o = td_attn_opts_default();
    td_ctx ctx = td_ctx_default();
    td_attn_args b = a;
    b.shape.kv_heads = 3;
    TD_CHECK_ERROR(td_attention(&ctx, &b, &o), TD_CODE_INVALID_ARGUMENT, "not a multiple");
    b = a;
    b.shape.q_len = 0;
    TD_CHECK_ERROR(td_attention(&ctx, &b, &o), TD_CODE_INVALID_ARGUMENT, "q_len is 0");
    b = a;
    b.shape.kv_len = 0;
    TD_CHECK_ERROR(td_attention(&ctx, &b, &o), TD_CODE_INVALID_ARGUMENT, "kv_len is 0");
    b = a;
    b.shape.head_dim = -3;
    TD_CHECK_ERROR(td_attention(&ctx, &b, &o), TD_CODE_INVALID_ARGUMENT, "head_dim = -3");
    b = a;
    b.shape.batch = (int64_t)1 << 40;
    b.shape.q_len = (int64_t)1 << 40;
    TD_CHECK_ERROR(td_attention(&ctx, &b, &o), TD_CODE_OVERFLOW, "");
    b = a;
    b.v = NULL;
    TD_CHECK_ERROR(td_attention(&ctx, &b, &o), TD_CODE_INVALID_ARGUMENT, "V is NULL");
    b = a;
    b.lk.row = 4; /* shorter than a row of 8 */
    b.lk.head = 40;
    b.lk.batch = 80;
    TD_CHECK_ERROR(td_attention(&ctx, &b, &o), TD_CODE_INVALID_ARGUMENT, "K row stride");
    td_attn_opts p = o;
    p.block_q = 24;
    TD_CHECK_ERROR(td_attention(&ctx, &a, &p), TD_CODE_INVALID_ARGUMENT, "block_q = 24");
    p = o;
    p.qk = (td_attn_qk)7;
    TD_CHECK_ERROR(td_attention(&ctx, &a, &p), TD_CODE_INVALID_ARGUMENT, "precision");
    p = o;
    p.scale = INFINITY;
    TD_CHECK_ERROR(td_attention(&ctx, &a, &p), TD_CODE_INVALID_ARGUMENT, "scale");
    /* NaN and infinity in the operands, named with their position */
    c.q[(2 * 10 + 3) * 8 + 5] = NAN;
    TD_CHECK_ERROR(td_attention(&ctx, &a, &o), TD_CODE_BAD_DATA, "Q[0, 2, 3, 5] is NaN");
    c.q[(2 * 10 + 3) * 8 + 5] = 0.5f;
    c.v[17] = -INFINITY;
    TD_CHECK_ERROR(td_attention(&ctx, &a, &o), TD_CODE_BAD_DATA, "V[0, 0, 2, 1] is infinite");
    c.v[17] = 0.5f;
    float bias[10 * 10];
    for (int i = 0; i < 100; i++)
        bias[i] = i == 42 ? NAN : 0.0f;
    p = o;
    p.bias = bias;
    int64_t st[4] = {0, 0, 10, 1};
    memcpy(p.bias_stride, st, sizeof st);
    TD_CHECK_ERROR(td_attention(&ctx, &a, &p), TD_CODE_BAD_DATA, "bias[0, 0, 4, 2] is NaN");
    bias[42] = INFINITY;
    TD_CHECK_ERROR(td_attention(&ctx, &a, &p), TD_CODE_BAD_DATA, "+inf");
    bias[42] = -INFINITY; /* masking is fine */
    TD_CHECK_OK(td_attention(&ctx, &a, &p));
    /* scores that overflow f32 are reported, not returned as NaN */
    for (size_t i = 0; i < c.nq; i++)
        c.q[i] = 3e37f;
    for (size_t i = 0; i < c.nk; i++)
        c.k[i] = 3e37f;
    TD_CHECK_ERROR(td_attention(&ctx, &a, &o), TD_CODE_BAD_DATA, "overflow");
    /* the predictor and the stats refuse what they cannot do */
    uint8_t mask[64];
    td_attn_sparsity sp = {0.0f, 0.0f, 0.0f};
    TD_CHECK_ERROR(td_attn_predict(&ctx, &a, &o, &sp, mask, NULL), TD_CODE_INVALID_ARGUMENT,
                   "mass_share 0");
    sp.density = -1;
    TD_CHECK_ERROR(td_attn_predict(&ctx, &a, &o, &sp, mask, NULL), TD_CODE_INVALID_ARGUMENT,
                   "density -1");
    td_attn_qk qk;
    TD_CHECK_ERROR(td_attn_qk_parse("int4", &qk), TD_CODE_INVALID_ARGUMENT, "'int4'");
    case_free(&c);
}

int main(void)
{
    td_cpu_detect(&cpu);
    test_e4m3_rounding();
    test_exp2();
    test_shapes();
    test_full_density();
    test_predictor_known();
    test_predictor_mass();
    test_accuracy_table();
    test_schedule();
    test_torch_fixtures();
    test_op_fixtures();
    test_op_behaviour();
    test_bad_input();
    return td_test_finish("test_attention");
}
