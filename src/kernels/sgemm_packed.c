/* Packing and the threaded driver of the packed f32 GEMM (kernels/sgemm_packed.h). */
#include "kernels/sgemm_packed.h"

#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { NR = TD_SGEMM_NR };

/* Row-block granularity of an M split: a multiple of every kernel's MR (12, 6, 1), so a
 * split never creates more short tail tiles than the unsplit product. */
enum { M_SPLIT = 12 };

/* a * b * c without overflow; the error names `what` and the shape. */
static td_status checked_bytes(const char *fn, const char *what, int64_t a, int64_t b, size_t c,
                               size_t *out)
{
    size_t ab = 0;
    td_status st = td_size_mul((size_t)a, (size_t)b, &ab);
    if (st || (ab && c > SIZE_MAX / ab)) {
        td_status_free(st); /* replaced by a message that names the operand */
        return td_error_new(TD_CODE_OVERFLOW, "%s: %s of %lld x %lld floats overflows size_t", fn,
                            what, (long long)a, (long long)b);
    }
    *out = ab * c;
    return TD_OK;
}

/* Allocates the zeroed panels for n x k; the zero fill is the padding past n. */
static td_status pack_alloc(const float *w, int64_t n, int64_t k, const char *fn,
                            td_sgemm_packed *out)
{
    if (!out)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: output is NULL", fn);
    memset(out, 0, sizeof *out);
    if (n < 0 || k < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: negative shape n=%lld k=%lld", fn,
                            (long long)n, (long long)k);
    if (!w && n > 0 && k > 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: weight is NULL", fn);
    size_t bytes = 0;
    int64_t npanels = (n + NR - 1) / NR;
    TD_TRY(checked_bytes(fn, "packed weight", npanels, k, NR * sizeof(float), &bytes));
    void *data;
    TD_TRY(td_alloc(bytes ? bytes : sizeof(float), &data));
    out->n = n;
    out->k = k;
    out->npanels = npanels;
    out->data = data;
    return TD_OK;
}

td_status td_sgemm_pack(const float *w, int64_t n, int64_t k, td_sgemm_packed *out)
{
    TD_TRY(pack_alloc(w, n, k, "td_sgemm_pack", out));
    for (int64_t j = 0; j < n && k > 0; j++) {
        float *dst = out->data + (j / NR) * k * NR + j % NR;
        const float *src = w + j * k;
        for (int64_t kk = 0; kk < k; kk++)
            dst[kk * NR] = src[kk];
    }
    return TD_OK;
}

td_status td_sgemm_pack_kn(const float *w, int64_t k, int64_t n, td_sgemm_packed *out)
{
    TD_TRY(pack_alloc(w, n, k, "td_sgemm_pack_kn", out));
    for (int64_t p = 0; p < out->npanels; p++) {
        int64_t cols = n - p * NR < NR ? n - p * NR : NR;
        for (int64_t kk = 0; kk < k; kk++)
            memcpy(out->data + (p * k + kk) * NR, w + kk * n + p * NR,
                   (size_t)cols * sizeof(float));
    }
    return TD_OK;
}

void td_sgemm_packed_free(td_sgemm_packed *p)
{
    if (!p)
        return;
    td_free(p->data);
    memset(p, 0, sizeof *p);
}

static td_sgemm_block_fn pick_kernel(td_isa isa)
{
    if (isa >= TD_ISA_AVX512)
        return td_sgemm_block_avx512;
    if (isa >= TD_ISA_AVX2)
        return td_sgemm_block_avx2;
    return td_sgemm_block_ref;
}

static td_status check_run(const td_ctx *ctx, const float *x, int64_t m, const td_sgemm_packed *w,
                           float *y)
{
    if (!ctx || !w)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_sgemm_packed_run: %s is NULL",
                            !ctx ? "context" : "packed weight");
    if (m < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_sgemm_packed_run: negative m=%lld",
                            (long long)m);
    if (w->n < 0 || w->k < 0 || w->npanels != (w->n + NR - 1) / NR || (!w->data && w->n > 0))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "td_sgemm_packed_run: packed weight is not from td_sgemm_pack");
    size_t xe = 0, ye = 0;
    /* Zero sizes are valid (a no-op, or y = bias for k = 0), so not td_elem_count. */
    TD_TRY(checked_bytes("td_sgemm_packed_run", "input", m, w->k, sizeof(float), &xe));
    TD_TRY(checked_bytes("td_sgemm_packed_run", "output", m, w->n, sizeof(float), &ye));
    if ((!x && xe > 0) || (!y && ye > 0))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_sgemm_packed_run: %s is NULL",
                            !y ? "output" : "input");
    return TD_OK;
}

/* Splits the threads into tn panel ranges x tm row ranges: panels first, since each panel
 * range is a disjoint slice of the weights; rows only when there are too few panels. */
static void split_threads(int threads, int64_t m, int64_t npanels, int *tn, int *tm)
{
    int64_t mblocks = (m + M_SPLIT - 1) / M_SPLIT;
    int64_t n_ = npanels < threads ? npanels : threads;
    if (n_ < 1)
        n_ = 1;
    int64_t m_ = threads / n_;
    if (m_ > mblocks)
        m_ = mblocks;
    if (m_ < 1)
        m_ = 1;
    *tn = (int)n_;
    *tm = (int)m_;
}

td_status td_sgemm_packed_run(const td_ctx *ctx, const float *x, int64_t m,
                              const td_sgemm_packed *w, const float *bias, float *y)
{
    TD_TRY(check_run(ctx, x, m, w, y));
    if (m == 0 || w->n == 0)
        return TD_OK;
    /* With k = 0, x may be NULL, and the kernels must not even offset it (UB). */
    static const float no_input = 0;
    if (!x)
        x = &no_input;
    td_sgemm_block_fn kern = pick_kernel(ctx->isa);
    int threads = ctx->threads > 1 ? ctx->threads : 1;
    /* Below about a million multiply-adds, waking a second thread costs more than it saves. */
    if ((double)m * (double)w->n * (double)w->k < (double)(1 << 20))
        threads = 1;
    int tn, tm;
    split_threads(threads, m, w->npanels, &tn, &tm);
    int64_t mblocks = (m + M_SPLIT - 1) / M_SPLIT;
    int tasks = tn * tm;
#ifdef _OPENMP
#pragma omp parallel num_threads(tasks) if (tasks > 1)
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
#else
    {
        int tid = 0, nth = 1;
#endif
        /* A team smaller than asked for (nested regions, thread limits) takes several tasks. */
        for (int t = tid; t < tasks; t += nth) {
            int ti = t % tn, tj = t / tn;
            int64_t p0 = w->npanels * ti / tn, p1 = w->npanels * (ti + 1) / tn;
            int64_t r0 = mblocks * tj / tm * M_SPLIT, r1 = mblocks * (tj + 1) / tm * M_SPLIT;
            if (r1 > m)
                r1 = m;
            if (p0 < p1 && r0 < r1)
                kern(w, x + r0 * w->k, r1 - r0, p0, p1, bias, y + r0 * w->n);
        }
    }
    return TD_OK;
}
