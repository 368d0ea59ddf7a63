/* Activation preparation: pad to the weight's K and quantize per token. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <stdlib.h>

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

static void quantize_token(const float *x, int64_t kpad, int qmax, int8_t *q, float *scale)
{
    float amax = 0.0f;
    for (int64_t k = 0; k < kpad; k++) {
        float v = fabsf(x[k]);
        amax = v > amax ? v : amax;
    }
    float s = amax > 0.0f ? amax / (float)qmax : 1.0f;
    float inv = 1.0f / s;
    /* The weight quantizer's rounding (round half to even, clamped), vectorizable. */
    for (int64_t k = 0; k < kpad; k++)
        q[k] = (int8_t)td_quant_round(x[k], inv, 0, -qmax, qmax);
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

td_status td_act_prepare(td_act *a, const td_qmatrix *w, td_act_type type, const float *x,
                         int64_t batch, int64_t ldx)
{
    if (!a || !w || !x)
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
    size_t n, bytes;
    TD_TRY(td_elem_count(batch, w->kpad, "activations", &n));
    TD_TRY(td_size_mul(n, sizeof(float), &bytes));
    TD_TRY(ensure((void **)&a->x, &a->cap_x, bytes));
    a->type = type;
    a->batch = batch;
    a->k = w->cols;
    a->kpad = w->kpad;
    for (int64_t b = 0; b < batch; b++) {
        const float *src = x + b * ldx;
        if (copy_token(src, w->cols, a->kpad, a->x + b * a->kpad))
            continue;
        for (int64_t k = 0; k < w->cols; k++) /* find and name the culprit */
            if (!isfinite(src[k]))
                return td_error_new(TD_CODE_BAD_DATA, "activation (%lld, %lld) is %s", (long long)b,
                                    (long long)k, isnan(src[k]) ? "NaN" : "infinite");
    }
    a->ngroups = 0;
    a->gsize = 0;
    if (type == TD_ACT_F32)
        return TD_OK;

    int qmax = type == TD_ACT_INT8 ? 127 : 31;
    TD_TRY(ensure((void **)&a->q, &a->cap_q, n));
    TD_TRY(ensure((void **)&a->scale, &a->cap_s, (size_t)batch * sizeof(float)));
    for (int64_t b = 0; b < batch; b++)
        quantize_token(a->x + b * a->kpad, a->kpad, qmax, a->q + b * a->kpad, &a->scale[b]);
    if (w->spec.sparsity == TD_SPARSE_NM)
        return TD_OK; /* N:M kernels gather x themselves; group sums do not apply */
    a->gsize = w->gsize;
    a->ngroups = a->kpad / a->gsize;
    TD_TRY(ensure((void **)&a->gsum, &a->cap_g, (size_t)batch * a->ngroups * sizeof(int32_t)));
    for (int64_t b = 0; b < batch; b++) {
        const int8_t *q = a->q + b * a->kpad;
        for (int64_t g = 0; g < a->ngroups; g++) {
            int32_t s = 0;
            for (int64_t k = 0; k < a->gsize; k++)
                s += q[g * a->gsize + k];
            a->gsum[b * a->ngroups + g] = s;
        }
    }
    return TD_OK;
}
