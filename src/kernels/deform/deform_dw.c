/* The depthwise variant: a 1x1 convolution (cin -> mid channels, one sgemm per image and column
 * block) into a workspace tensor, then the deformable depthwise convolution of
 * td_deform_forward (one input channel per group: direct sampling, no GEMM). The offset
 * tables are shared by the mid/offset_group channels of each offset group, so the sampling
 * work is that of a plain depthwise convolution plus one table per group. */
#include <cblas.h>

#include "kernels/blas.h"
#include "kernels/deform/deform_internal.h"

static td_status dw_check(const td_deform_shape *s, int64_t cin)
{
    if (s->c != s->m || s->group != s->c)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable depthwise: expected C = M = group for the depthwise part, "
                            "got C %lld, M %lld, group %lld",
                            (long long)s->c, (long long)s->m, (long long)s->group);
    if (cin < 1 || cin > ((int64_t)1 << 20))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable depthwise: %lld pointwise input channels, expected "
                            "1..2^20",
                            (long long)cin);
    double e = (double)s->n * (double)cin * (double)s->h * (double)s->w;
    if (e > (double)((int64_t)1 << 40))
        return td_error_new(TD_CODE_OVERFLOW, "deformable depthwise: input too large");
    return TD_OK;
}

static td_status dw_sizes(const td_ctx *ctx, const td_deform_shape *s, size_t *mid_bytes,
                          size_t *fwd_bytes)
{
    size_t e;
    TD_TRY(td_size_mul((size_t)(s->n * s->c), (size_t)(s->h * s->w), &e));
    TD_TRY(td_size_mul(e, sizeof(float), mid_bytes));
    *mid_bytes = (*mid_bytes + 63) / 64 * 64;
    return td_deform_forward_workspace(ctx, s, fwd_bytes);
}

td_status td_deform_depthwise_workspace(const td_ctx *ctx, const td_deform_shape *s, int64_t cin,
                                        size_t *bytes)
{
    td_deform_shape sc = *s;
    TD_TRY(td_deform_shape_check(&sc));
    TD_TRY(dw_check(&sc, cin));
    size_t a, b;
    TD_TRY(dw_sizes(ctx, &sc, &a, &b));
    return td_size_add(a, b, bytes);
}

/* mid[n] = pw * x[n] + pw_b, columns split into blocks over threads. */
static void pointwise(const td_ctx *ctx, const td_deform_shape *s, int64_t cin, const float *x,
                      const float *pw, const float *pw_b, float *mid)
{
    int64_t hw = s->h * s->w, mc = s->c;
    int threads = ctx && ctx->threads > 0 ? ctx->threads : 1;
    if (s->n * mc * cin * hw < ((int64_t)1 << 20))
        threads = 1;
    int64_t blk = (hw + threads - 1) / threads;
    blk = blk < 256 ? 256 : blk;
    int64_t nblk = (hw + blk - 1) / blk, items = s->n * nblk;
    td_blas_set_threads(1);
#pragma omp parallel for num_threads(threads) schedule(dynamic) if (threads > 1 && items > 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t n = it / nblk, j0 = (it % nblk) * blk, len = hw - j0 < blk ? hw - j0 : blk;
        float *dst = mid + n * mc * hw + j0;
        for (int64_t m = 0; m < mc; m++)
            for (int64_t j = 0; j < len; j++)
                dst[m * hw + j] = pw_b ? pw_b[m] : 0.0f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)mc, (blasint)len,
                    (blasint)cin, 1.0f, pw, (blasint)cin, x + n * cin * hw + j0, (blasint)hw, 1.0f,
                    dst, (blasint)hw);
    }
}

td_status td_deform_depthwise_forward(const td_ctx *ctx, const td_deform_shape *s, int64_t cin,
                                      const float *x, const float *pw, const float *pw_b,
                                      const float *offset, const float *mask, const float *dw,
                                      const float *dw_b, float *y, void *work, size_t work_bytes)
{
    td_deform_shape sc = *s;
    TD_TRY(td_deform_shape_check(&sc));
    TD_TRY(dw_check(&sc, cin));
    TD_TRY(td_deform_check_inputs(&sc, x, offset, dw, y));
    if (!pw)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable depthwise: the pointwise weight must not be NULL");
    size_t mid_bytes, fwd_bytes, need;
    TD_TRY(dw_sizes(ctx, &sc, &mid_bytes, &fwd_bytes));
    TD_TRY(td_size_add(mid_bytes, fwd_bytes, &need));
    void *own = NULL;
    if (!work) {
        TD_TRY(td_alloc(need, &own));
        work = own;
    } else if (work_bytes < need) {
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable depthwise: workspace of %zu bytes, need %zu", work_bytes,
                            need);
    }
    float *mid = work;
    pointwise(ctx, &sc, cin, x, pw, pw_b, mid);
    td_status st = td_deform_forward(ctx, &sc, mid, offset, mask, dw, dw_b, y,
                                     (char *)work + mid_bytes, fwd_bytes);
    td_free(own);
    return st;
}
