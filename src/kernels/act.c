/* Activation preparation: pad to the weight's K and quantize per token.
 *
 * The scalar loops below are the reference (TANDEM_ISA=scalar runs them); the
 * AVX2 / AVX-512 loops in x86/act_*.c produce the same bits, one token at a time
 * with the token still in L1, and tokens are split over threads when there are many. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "formats/qmatrix_internal.h"
#include "formats/quant_common.h"

const char *td_act_name(td_act_type act)
{
    switch (act) {
    case TD_ACT_F32:
        return "f32";
    case TD_ACT_INT8:
        return "a8";
    case TD_ACT_INT6:
        return "a6";
    default:
        return "?";
    }
}

td_status td_act_parse(const char *name, td_act_type *out)
{
    if (name && (!strcmp(name, "f32") || !strcmp(name, "a32")))
        *out = TD_ACT_F32;
    else if (name && (!strcmp(name, "a8") || !strcmp(name, "int8")))
        *out = TD_ACT_INT8;
    else if (name && (!strcmp(name, "a6") || !strcmp(name, "int6")))
        *out = TD_ACT_INT6;
    else
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "unknown activation type '%s' (expected f32, a8 or a6)",
                            name ? name : "(null)");
    return TD_OK;
}

td_status td_act_new(td_act **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "cannot allocate activation buffer");
    return TD_OK;
}

void td_act_free(td_act *a)
{
    if (!a)
        return;
    td_free(a->x);
    td_free(a->q);
    td_free(a->scale);
    td_free(a->gsum);
    free(a);
}

/* Grows *p to at least `bytes`, keeping its capacity in *cap. */
static td_status ensure(void **p, size_t *cap, size_t bytes)
{
    if (*cap >= bytes && *p)
        return TD_OK;
    td_free(*p);
    *p = NULL;
    *cap = 0;
    TD_TRY(td_alloc(bytes, p));
    *cap = bytes;
    return TD_OK;
}

/* ---- scalar reference ---- */

static void quantize_token(const float *x, int64_t kpad, int qmax, int8_t *q, float *scale)
{
    float amax = 0.0f;
    for (int64_t k = 0; k < kpad; k++) {
        float v = fabsf(x[k]);
        amax = v > amax ? v : amax;
    }
    float s = amax > 0.0f ? amax / (float)qmax : 1.0f;
    float inv = 1.0f / s;
    if (!(inv <= FLT_MAX)) {
        /* amax below about 3.7e-37: 1 / s overflows. x * inf would be +-inf (clamped
         * to +-qmax) for x != 0 and NaN for x == 0, whose conversion to int is
         * undefined; code 0 there is what x86 produced before this case was split out. */
        for (int64_t k = 0; k < kpad; k++)
            q[k] = (int8_t)(x[k] > 0.0f ? qmax : x[k] < 0.0f ? -qmax : 0);
    } else {
        /* The weight quantizer's rounding (round half to even, clamped), vectorizable. */
        for (int64_t k = 0; k < kpad; k++)
            q[k] = (int8_t)td_quant_round(x[k], inv, 0, -qmax, qmax);
    }
    *scale = s;
}

/* Copies one token, zero-pads it to kpad and reports whether every value is finite. */
static bool copy_token(const float *src, int64_t k, int64_t kpad, float *dst)
{
    bool finite = true;
    for (int64_t i = 0; i < k; i++) {
        finite &= fabsf(src[i]) <= FLT_MAX;
        dst[i] = src[i];
    }
    memset(dst + k, 0, (size_t)(kpad - k) * sizeof(float));
    return finite;
}

static void group_sums(const int8_t *q, int64_t ngroups, int64_t gsize, int32_t *gsum)
{
    for (int64_t g = 0; g < ngroups; g++) {
        int32_t s = 0;
        for (int64_t k = 0; k < gsize; k++)
            s += q[g * gsize + k];
        gsum[g] = s;
    }
}

/* ---- per-ISA loops (x86/act_avx2.c, x86/act_avx512.c) ---- */

uint32_t td_act_copy_avx2(const float *src, int64_t k, int64_t kpad, float *dst);
void td_act_quantize_avx2(const float *x, int64_t kpad, float inv, int qmax, int8_t *q);
void td_act_gsums_avx2(const int8_t *q, int64_t ngroups, int64_t gsize, int32_t *gsum);
uint32_t td_act_copy_avx512(const float *src, int64_t k, int64_t kpad, float *dst);
void td_act_quantize_avx512(const float *x, int64_t kpad, float inv, int qmax, int8_t *q);
void td_act_gsums_avx512(const int8_t *q, int64_t ngroups, int64_t gsize, int32_t *gsum);

typedef struct act_loops {
    /* copies and zero-pads a token; returns max |x| as float bits (> FLT_MAX's: non-finite) */
    uint32_t (*copy)(const float *src, int64_t k, int64_t kpad, float *dst);
    void (*quantize)(const float *x, int64_t kpad, float inv, int qmax, int8_t *q);
    void (*gsums)(const int8_t *q, int64_t ngroups, int64_t gsize, int32_t *gsum);
} act_loops;

static const act_loops loops_avx2 = {td_act_copy_avx2, td_act_quantize_avx2, td_act_gsums_avx2};
static const act_loops loops_avx512 = {td_act_copy_avx512, td_act_quantize_avx512,
                                       td_act_gsums_avx512};

/* Highest ISA these loops may use, with td_cpu_detect's rule. __builtin_cpu_supports
 * reads what libgcc detected at startup: no CPUID per call (slow under a hypervisor). */
static td_isa cpu_best(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return TD_ISA_SCALAR;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512vnni"))
        return TD_ISA_AVX512;
    return TD_ISA_AVX2;
}

/* The ISA td_ctx_default would pick, TANDEM_ISA included (an unusable request keeps
 * the best ISA, as there). */
static td_isa default_isa(void)
{
    td_cpu_info cpu = {.best = cpu_best()};
    td_isa isa = cpu.best;
    const char *env = getenv("TANDEM_ISA");
    if (env && *env) {
        td_isa want;
        td_status st = td_isa_parse(env, &cpu, &want);
        if (!st)
            isa = want;
        td_status_free(st);
    }
    return isa;
}

/* ---- driver ---- */

/* Grows the buffers for batch tokens of w's padded K; sets the header fields. */
static td_status reserve(td_act *a, const td_qmatrix *w, td_act_type type, int64_t batch)
{
    size_t n, bytes;
    TD_TRY(td_elem_count(batch, w->kpad, "activations", &n));
    TD_TRY(td_size_mul(n, sizeof(float), &bytes));
    TD_TRY(ensure((void **)&a->x, &a->cap_x, bytes));
    a->type = type;
    a->batch = batch;
    a->k = w->cols;
    a->kpad = w->kpad;
    a->ngroups = 0;
    a->gsize = 0;
    if (type == TD_ACT_F32)
        return TD_OK;
    TD_TRY(ensure((void **)&a->q, &a->cap_q, n));
    TD_TRY(ensure((void **)&a->scale, &a->cap_s, (size_t)batch * sizeof(float)));
    if (w->spec.sparsity == TD_SPARSE_NM)
        return TD_OK; /* N:M kernels gather x themselves; group sums do not apply */
    int64_t ngroups = w->kpad / w->gsize;
    TD_TRY(td_size_mul((size_t)batch, (size_t)ngroups, &n));
    TD_TRY(td_size_mul(n, sizeof(int32_t), &bytes));
    TD_TRY(ensure((void **)&a->gsum, &a->cap_g, bytes));
    a->gsize = w->gsize;
    a->ngroups = ngroups;
    return TD_OK;
}

static td_status non_finite(const float *src, int64_t b, int64_t k)
{
    for (int64_t i = 0; i < k; i++) /* find and name the culprit */
        if (!isfinite(src[i]))
            return td_error_new(TD_CODE_BAD_DATA, "activation (%lld, %lld) is %s", (long long)b,
                                (long long)i, isnan(src[i]) ? "NaN" : "infinite");
    return td_error_new(TD_CODE_BAD_DATA, "activation row %lld is not finite", (long long)b);
}

static td_status prepare_reference(td_act *a, const float *x, int64_t ldx)
{
    for (int64_t b = 0; b < a->batch; b++) {
        const float *src = x + b * ldx;
        if (!copy_token(src, a->k, a->kpad, a->x + b * a->kpad))
            return non_finite(src, b, a->k);
    }
    if (a->type == TD_ACT_F32)
        return TD_OK;
    int qmax = a->type == TD_ACT_INT8 ? 127 : 31;
    for (int64_t b = 0; b < a->batch; b++)
        quantize_token(a->x + b * a->kpad, a->kpad, qmax, a->q + b * a->kpad, &a->scale[b]);
    for (int64_t b = 0; a->ngroups && b < a->batch; b++)
        group_sums(a->q + b * a->kpad, a->ngroups, a->gsize, a->gsum + b * a->ngroups);
    return TD_OK;
}

/* One token through the ISA loops; false when it holds inf or NaN. */
static bool prepare_token(const act_loops *fn, td_act *a, const float *src, int64_t b)
{
    float *x = a->x + b * a->kpad;
    uint32_t bits = fn->copy(src, a->k, a->kpad, x);
    if (bits > 0x7f7fffffu) /* FLT_MAX's bits */
        return false;
    if (a->type == TD_ACT_F32)
        return true;
    int qmax = a->type == TD_ACT_INT8 ? 127 : 31;
    int8_t *q = a->q + b * a->kpad;
    float amax;
    memcpy(&amax, &bits, sizeof amax);
    float s = amax > 0.0f ? amax / (float)qmax : 1.0f;
    float inv = 1.0f / s;
    if (inv <= FLT_MAX) {
        fn->quantize(x, a->kpad, inv, qmax, q);
        a->scale[b] = s;
    } else { /* rare: the reference's special case for tiny tokens */
        quantize_token(x, a->kpad, qmax, q, &a->scale[b]);
    }
    if (a->ngroups)
        fn->gsums(q, a->ngroups, a->gsize, a->gsum + b * a->ngroups);
    return true;
}

/* Below this many values a second thread costs more to wake than it saves: one
 * thread prepares about 4.5 values per ns, and waking a sleeping OpenMP worker
 * (OMP_WAIT_POLICY=passive, 2-core VM) cost tens of microseconds; 128 x 1536 was
 * slower on 2 threads (0.07 ms vs 0.045), 256 x 1536 broke even, 512 x 1536 gained 25%. */
#define PARALLEL_MIN_VALUES 524288

static td_status prepare_fast(const act_loops *fn, td_act *a, const float *x, int64_t ldx,
                              int threads)
{
    int64_t batch = a->batch, first_bad = batch;
    if ((double)batch * (double)a->kpad < PARALLEL_MIN_VALUES)
        threads = 1;
    if (threads > batch)
        threads = (int)batch;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : first_bad)
    for (int64_t b = 0; b < batch; b++)
        if (!prepare_token(fn, a, x + b * ldx, b) && b < first_bad)
            first_bad = b;
    if (first_bad < batch)
        return non_finite(x + first_bad * ldx, first_bad, a->k);
    return TD_OK;
}

/* td_act_prepare under an explicit context: ctx->isa picks the loops (scalar: the
 * reference), ctx->threads bounds the threads. */
td_status td_act_prepare_ctx(const td_ctx *ctx, td_act *a, const td_qmatrix *w, td_act_type type,
                             const float *x, int64_t batch, int64_t ldx)
{
    if (!ctx || !a || !w || !x)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_act_prepare: NULL argument");
    if ((int)type < 0 || type >= TD_ACT_COUNT)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "unknown activation type %d", (int)type);
    if (batch < 1 || batch > (1 << 24))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "batch %lld outside 1..%d", (long long)batch,
                            1 << 24);
    if (ldx < w->cols)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "activations: leading dimension %lld < K = %lld", (long long)ldx,
                            (long long)w->cols);
    TD_TRY(reserve(a, w, type, batch));
    td_isa isa = ctx->isa;
    td_isa best = cpu_best();
    if (isa > best) /* a hand-made ctx may ask for more than this CPU has */
        isa = best;
    if (isa == TD_ISA_SCALAR)
        return prepare_reference(a, x, ldx);
    return prepare_fast(isa == TD_ISA_AVX512 ? &loops_avx512 : &loops_avx2, a, x, ldx,
                        ctx->threads > 0 ? ctx->threads : 1);
}

td_status td_act_prepare(td_act *a, const td_qmatrix *w, td_act_type type, const float *x,
                         int64_t batch, int64_t ldx)
{
    td_ctx ctx = {.threads = td_max_threads(), .isa = default_isa()};
    return td_act_prepare_ctx(&ctx, a, w, type, x, batch, ldx);
}
