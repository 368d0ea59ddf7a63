/* Shared integer quantizer: block scale choice (absmax or MSE clipping search) and
 * the walk over a matrix's scale grid. See quant_common.h. */
#include "formats/quant_common.h"

#include <float.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Squared round-trip error of one row segment under (scale, zero), accumulated in
 * double. The dequantized value is computed exactly as the dequantizers do,
 * scale * (float)(q - zero), so the search ranks candidates by the real error.
 * Clamping t to [qmin - zero, qmax - zero] before rounding equals clamping the code
 * afterwards because both bounds are integers. */
static double segment_error(const float *v, int64_t n, float scale, float inv, float lo, float hi)
{
    double acc[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        for (int j = 0; j < 8; j++) {
            float t = v[k + j] * inv;
            t = t < lo ? lo : t;
            t = t > hi ? hi : t;
            t = (t + TD_ROUND_MAGIC) - TD_ROUND_MAGIC;
            float d = v[k + j] - scale * t;
            acc[j] += (double)d * (double)d;
        }
    }
    for (; k < n; k++) {
        float t = v[k] * inv;
        t = t < lo ? lo : t;
        t = t > hi ? hi : t;
        t = (t + TD_ROUND_MAGIC) - TD_ROUND_MAGIC;
        float d = v[k] - scale * t;
        acc[0] += (double)d * (double)d;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Scale and zero for the range [alpha * lo, alpha * hi] (lo <= 0 <= hi for asym). */
static void candidate(float alpha, float lo, float hi, float amax, int qmin, int qmax, bool asym,
                      float *scale, int *zero)
{
    float s;
    int z = 0;
    if (asym) {
        /* Two divisions instead of (hi - lo) / span: hi - lo may overflow near FLT_MAX. */
        float span = (float)(qmax - qmin);
        s = (alpha * hi) / span - (alpha * lo) / span;
        if (s < FLT_MIN)
            s = FLT_MIN;
        float zf = nearbyintf((float)qmin - (alpha * lo) / s);
        zf = fminf(fmaxf(zf, (float)qmin), (float)qmax);
        z = (int)zf;
    } else {
        s = (alpha * amax) / (float)qmax;
        if (s < FLT_MIN)
            s = FLT_MIN;
    }
    *scale = s;
    *zero = z;
}

td_status td_quant_choose_scale_2d(const float *v, int64_t rows, int64_t cols, int64_t ld, int qmin,
                                   int qmax, bool asym, td_clip clip, float *scale, int *zero)
{
    if (rows < 1 || cols < 1 || ld < cols)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "quantizer block %lld x %lld (ld %lld) is empty or malformed",
                            (long long)rows, (long long)cols, (long long)ld);
    if (qmin >= qmax || qmax <= 0 || qmin > 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "quantizer code range [%d, %d] must contain 0 and be non-empty", qmin,
                            qmax);
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < rows; i++) {
        const float *p = v + i * ld;
        for (int64_t k = 0; k < cols; k++) {
            lo = p[k] < lo ? p[k] : lo;
            hi = p[k] > hi ? p[k] : hi;
        }
    }
    float amax = fmaxf(-lo, hi);
    *scale = 1.0f;
    *zero = 0;
    if (amax == 0.0f)
        return TD_OK;
    candidate(1.0f, lo, hi, amax, qmin, qmax, asym, scale, zero);
    if (clip != TD_CLIP_MSE)
        return TD_OK;

    double best = -1.0;
    for (int step = 100; step >= 50; step--) {
        float alpha = (float)step / 100.0f;
        float s;
        int z;
        candidate(alpha, lo, hi, amax, qmin, qmax, asym, &s, &z);
        float inv = 1.0f / s;
        float tlo = (float)(qmin - z), thi = (float)(qmax - z);
        double err = 0.0;
        for (int64_t i = 0; i < rows && (best < 0.0 || err < best); i++)
            err += segment_error(v + i * ld, cols, s, inv, tlo, thi);
        if (best < 0.0 || err < best) { /* strict: ties keep the wider range */
            best = err;
            *scale = s;
            *zero = z;
        }
    }
    return TD_OK;
}

td_status td_quant_choose_scale(const float *v, int64_t n, int qmin, int qmax, bool asym,
                                td_clip clip, float *scale, int *zero)
{
    return td_quant_choose_scale_2d(v, 1, n, n, qmin, qmax, asym, clip, scale, zero);
}

/* One block of the grid: tile ti (rows r0 .. r0+nr-1), group g. */
static void quantize_block(td_qmatrix *q, const float *w, int64_t ld, int64_t nvals, int qmin,
                           int qmax, td_quant_store_fn store, int64_t ti, int64_t g, int8_t *codes)
{
    int64_t r0 = ti * q->tile_rows;
    int64_t nr = q->rows - r0 < q->tile_rows ? q->rows - r0 : q->tile_rows;
    int64_t c0 = g * q->gsize;
    int64_t nc = nvals - c0 < q->gsize ? nvals - c0 : q->gsize;
    float scale;
    int zero;
    /* Arguments were validated by the caller, so this cannot fail. */
    td_status st = td_quant_choose_scale_2d(w + r0 * ld + c0, nr, nc, ld, qmin, qmax, q->spec.asym,
                                            q->spec.clip, &scale, &zero);
    td_status_free(st);
    q->scales[ti * q->ngroups + g] = scale;
    if (q->zeros)
        q->zeros[ti * q->ngroups + g] = (int8_t)zero;
    float inv = 1.0f / scale;
    for (int64_t r = r0; r < r0 + nr; r++) {
        const float *p = w + r * ld + c0;
        int32_t sum = 0;
        for (int64_t k = 0; k < nc; k++) {
            codes[k] = (int8_t)td_quant_round(p[k], inv, zero, qmin, qmax);
            sum += codes[k];
        }
        /* Padding holds the code of 0, so it adds nothing to scale * (q - zero). */
        for (int64_t k = nc; k < q->gsize; k++)
            codes[k] = (int8_t)zero;
        sum += (int32_t)(q->gsize - nc) * zero;
        if (q->wsum)
            q->wsum[r * q->ngroups + g] = sum;
        store(q, r, g, codes);
    }
}

td_status td_quant_grid(td_qmatrix *q, const float *w, int64_t ld, int qmin, int qmax,
                        td_quant_store_fn store)
{
    int64_t nvals = q->spec.sparsity == TD_SPARSE_NM ? q->kc : q->cols;
    if (qmin >= qmax || qmax <= 0 || qmin > 0 || qmin < -128 || qmax > 127)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "quantizer code range [%d, %d] must contain 0 and fit int8", qmin,
                            qmax);
    if (!q->scales || q->gsize < 1 || q->tile_rows < 1 || nvals < 1 || ld < nvals ||
        q->ngroups * q->gsize < nvals)
        return td_error_new(TD_CODE_INTERNAL, "quantizer: matrix layout is not set up");
    int nth = 1;
#ifdef _OPENMP
    nth = omp_get_max_threads();
#endif
    int8_t *codes;
    size_t bytes;
    TD_TRY(td_size_mul((size_t)q->gsize, (size_t)nth, &bytes));
    TD_TRY(td_alloc(bytes, (void **)&codes));
    int64_t nblocks = q->scale_rows * q->ngroups;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
#endif
    for (int64_t i = 0; i < nblocks; i++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        quantize_block(q, w, ld, nvals, qmin, qmax, store, i / q->ngroups, i % q->ngroups,
                       codes + (size_t)tid * (size_t)q->gsize);
    }
    td_free(codes);
    return TD_OK;
}
