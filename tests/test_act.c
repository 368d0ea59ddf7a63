/* td_act_prepare: the AVX2 and AVX-512 loops (1 and 2 threads) must reproduce the
 * scalar reference (ctx ISA scalar) bit for bit: the padded f32 copy, the codes, the
 * per-token scales and the group sums. Inputs cover random tokens, zero tokens,
 * denormal and tiny tokens (whose 1 / scale overflows), huge values, exact rounding
 * ties, negative zeros, odd K, K not a multiple of the group, groups that are not a
 * multiple of the vector width, leading dimensions above K, batch 1 and a batch
 * large enough to split over threads. Non-finite activations must be rejected
 * with the same message, naming the first bad token, on every path. */
#include <float.h>

#include "td_test.h"

#include "formats/qmatrix_internal.h"

enum { FILL_RANDOM, FILL_EDGES, FILL_COUNT };

/* Token b of an edge batch: each token exercises one corner of the quantizer. */
static void fill_edge_token(float *t, int64_t k, int64_t b, td_rng *rng)
{
    for (int64_t i = 0; i < k; i++) {
        float u = td_rng_uniform(rng);
        switch (b % 8) {
        case 0: /* all zeros (scale 1), negative zeros included */
            t[i] = i % 2 ? -0.0f : 0.0f;
            break;
        case 1: /* denormals only: 1 / scale overflows to inf */
            t[i] = u * 1e-39f;
            break;
        case 2: /* tiny normals: scale denormal */
            t[i] = u * 1e-37f;
            break;
        case 3: /* huge: amax near FLT_MAX */
            t[i] = u * FLT_MAX;
            break;
        case 4: /* amax 127 (scale 1 under A8) and halves: exact ties to even */
            t[i] = i == 0 ? 127.0f : (float)((int)(u * 60.0f)) + 0.5f;
            break;
        case 5: /* amax 31 (scale 1 under A6): ties, values past the A6 range */
            t[i] = i == 0 ? -31.0f : (float)((int)(u * 40.0f)) - 0.5f;
            break;
        case 6: /* one spike, the rest small: most codes 0 */
            t[i] = i == k / 2 ? 1000.0f : u * 1e-3f;
            break;
        default: /* wide dynamic range, denormals and zeros mixed in */
            t[i] = i % 5 == 0 ? 0.0f : u * (i % 3 ? 1e-40f : 7.0f);
            break;
        }
    }
}

static void fill(float *x, int64_t batch, int64_t k, int64_t ldx, int kind, td_rng *rng)
{
    for (int64_t b = 0; b < batch; b++) {
        float *t = x + b * ldx;
        if (kind == FILL_EDGES)
            fill_edge_token(t, k, b, rng);
        else
            for (int64_t i = 0; i < k; i++)
                t[i] = td_rng_normal(rng) * 3.0f;
        for (int64_t i = k; i < ldx; i++)
            t[i] = NAN; /* past K: must never be read */
    }
}

static bool same_bytes(const void *p, const void *q, size_t n)
{
    return n == 0 || (p && q && !memcmp(p, q, n));
}

static void check_equal(const td_act *ref, const td_act *got, const char *what)
{
    TD_CHECK(ref->batch == got->batch && ref->kpad == got->kpad && ref->k == got->k &&
                 ref->ngroups == got->ngroups && ref->gsize == got->gsize,
             "%s: header differs", what);
    size_t n = (size_t)(ref->batch * ref->kpad);
    TD_CHECK(same_bytes(ref->x, got->x, n * sizeof(float)), "%s: padded f32 copy differs", what);
    if (ref->type == TD_ACT_F32)
        return;
    TD_CHECK(same_bytes(ref->q, got->q, n), "%s: codes differ", what);
    TD_CHECK(same_bytes(ref->scale, got->scale, (size_t)ref->batch * sizeof(float)),
             "%s: scales differ", what);
    TD_CHECK(
        same_bytes(ref->gsum, got->gsum, (size_t)(ref->batch * ref->ngroups) * sizeof(int32_t)),
        "%s: group sums differ", what);
}

static void check_case(const char *spec_text, int64_t k, int64_t batch, int64_t ldx, int kind,
                       td_isa best, td_rng *rng)
{
    td_qspec spec;
    TD_CHECK_OK(td_qspec_parse(spec_text, &spec));
    int64_t rows = 16;
    float *w = malloc((size_t)(rows * k) * sizeof(float));
    float *x = malloc((size_t)(batch * ldx) * sizeof(float));
    for (int64_t i = 0; i < rows * k; i++)
        w[i] = td_rng_normal(rng);
    fill(x, batch, k, ldx, kind, rng);
    td_qmatrix *q = NULL;
    TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, k, k, &q));
    for (int act = 0; q && act < TD_ACT_COUNT; act++) {
        td_act *ref = NULL, *got = NULL;
        TD_CHECK_OK(td_act_new(&ref));
        TD_CHECK_OK(td_act_new(&got));
        td_ctx ctx = {.threads = 1, .isa = TD_ISA_SCALAR};
        TD_CHECK_OK(td_act_prepare_ctx(&ctx, ref, q, (td_act_type)act, x, batch, ldx));
        char what[160];
        for (int isa = TD_ISA_AVX2; isa <= (int)best; isa++)
            for (int threads = 1; threads <= 2; threads++) {
                ctx = (td_ctx){.threads = threads, .isa = (td_isa)isa};
                snprintf(what, sizeof what, "%s K=%lld batch=%lld ldx=%lld %s %s %s threads=%d",
                         spec_text, (long long)k, (long long)batch, (long long)ldx,
                         kind == FILL_EDGES ? "edges" : "random", td_act_name((td_act_type)act),
                         td_isa_name((td_isa)isa), threads);
                TD_CHECK_OK(td_act_prepare_ctx(&ctx, got, q, (td_act_type)act, x, batch, ldx));
                check_equal(ref, got, what);
            }
        /* the ctx-free entry point (best ISA, TANDEM_ISA honoured) agrees too */
        TD_CHECK_OK(td_act_prepare(got, q, (td_act_type)act, x, batch, ldx));
        check_equal(ref, got, "td_act_prepare");
        td_act_free(ref);
        td_act_free(got);
    }
    td_qmatrix_free(q);
    free(w);
    free(x);
}

/* inf or NaN at token bad, column col: every path names the same first culprit. */
static void check_non_finite(td_isa best, float poison, int64_t bad, int64_t col)
{
    td_qspec spec;
    TD_CHECK_OK(td_qspec_parse("int8", &spec));
    int64_t rows = 16, k = 300, batch = 256;
    float *w = calloc((size_t)(rows * k), sizeof(float));
    float *x = calloc((size_t)(batch * k), sizeof(float));
    td_qmatrix *q = NULL;
    TD_CHECK_OK(td_qmatrix_quantize(&spec, w, rows, k, k, &q));
    x[bad * k + col] = poison;
    x[(batch - 1) * k + 3] = poison; /* a later bad token must not be the one named */
    char want[96];
    snprintf(want, sizeof want, "activation (%lld, %lld) is %s", (long long)bad, (long long)col,
             isnan(poison) ? "NaN" : "infinite");
    td_act *a = NULL;
    TD_CHECK_OK(td_act_new(&a));
    for (int isa = 0; q && isa <= (int)best; isa++)
        for (int threads = 1; threads <= 2; threads++) {
            td_ctx ctx = {.threads = threads, .isa = (td_isa)isa};
            for (int act = 0; act < TD_ACT_COUNT; act++)
                TD_CHECK_ERROR(td_act_prepare_ctx(&ctx, a, q, (td_act_type)act, x, batch, k),
                               TD_CODE_BAD_DATA, want);
        }
    td_act_free(a);
    td_qmatrix_free(q);
    free(w);
    free(x);
}

int main(void)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    td_rng rng = {42};
    const char *specs[] = {"int8",     "int8:g5",  "int8:g20:asym", "int6",
                           "int6:g32", "int4:g32", "int4:g96",      "int4:asym",
                           "int8:2:4", "int4:2:4", "int6:g32:3:8",  "f32"};
    const int64_t ks[] = {1, 7, 33, 47, 100, 255, 384, 1000, 1536};
    const int64_t batches[] = {1, 3, 37};
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
            for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++)
                for (int kind = 0; kind < FILL_COUNT; kind++)
                    check_case(specs[s], ks[ki], batches[bi], ks[ki] + (int64_t)(bi % 2) * 5, kind,
                               cpu.best, &rng);
    /* large enough (>= 64k values) to run on two threads */
    check_case("int8", 384, 300, 384, FILL_RANDOM, cpu.best, &rng);
    check_case("int4", 1536, 128, 1537, FILL_EDGES, cpu.best, &rng);
    check_case("int8:2:4", 1536, 64, 1536, FILL_RANDOM, cpu.best, &rng);
    check_non_finite(cpu.best, INFINITY, 100, 299);
    check_non_finite(cpu.best, -INFINITY, 0, 0);
    check_non_finite(cpu.best, NAN, 201, 17);
    return td_test_finish("test_act");
}
