/* GEMM/GEMV driver: picks the kernel for (format, sparsity, ISA, activation type)
 * from the format's trait entry and splits the output rows across threads. */
#include <stdio.h>

#include "kernels/blas.h"
#include "kernels/kernels_internal.h"
#include "sparse/sparse_kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static td_gemm_kernel pick(const td_qmatrix *w, td_isa isa, td_act_type act, td_isa *chosen)
{
    const td_format_traits *t = td_format_traits_get(w->spec.format);
    for (int i = (int)isa; i >= 0; i--) {
        td_gemm_kernel k = t->kernels[w->spec.sparsity][i][act];
        /* Sparse kernels not (yet) in the format's entry come from the sparse table. */
        if (!k && w->spec.sparsity != TD_DENSE)
            k = td_sparse_kernel(w->spec.format, w->spec.sparsity, (td_isa)i, act);
        if (k) {
            *chosen = (td_isa)i;
            return k;
        }
    }
    *chosen = TD_ISA_SCALAR;
    return w->spec.sparsity == TD_DENSE ? td_gemm_ref_generic : NULL;
}

td_isa td_gemm_isa(const td_ctx *ctx, const td_qmatrix *w, td_act_type act)
{
    td_isa chosen;
    pick(w, ctx->isa, act, &chosen);
    return chosen;
}

td_status td_gemm_prepared(const td_ctx *ctx, const td_qmatrix *w, const td_act *a, float *y,
                           int64_t ldy)
{
    if (!ctx || !w || !a || !y)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_gemm_prepared: NULL argument");
    if (a->k != w->cols || a->kpad != w->kpad)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "activations prepared for K = %lld but the weight has K = %lld",
                            (long long)a->k, (long long)w->cols);
    if (ldy < w->rows)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "output leading dimension %lld < rows %lld",
                            (long long)ldy, (long long)w->rows);
    if (a->type != TD_ACT_F32 && !a->q)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "activations were not quantized");
    td_isa isa;
    td_gemm_kernel kern = pick(w, ctx->isa, a->type, &isa);
    if (!kern)
        return td_error_new(TD_CODE_UNSUPPORTED, "no kernel for %s weights with %s activations",
                            td_format_get(w->spec.format)->name, td_act_name(a->type));
    const td_format_traits *t = td_format_traits_get(w->spec.format);
    int threads = ctx->threads > 0 ? ctx->threads : 1;
    /* OpenBLAS runs single-threaded inside our OpenMP threads: one thread pool per
     * process. With two pools (OpenBLAS pthreads + OpenMP), libgomp's spinning workers
     * steal the cores from OpenBLAS's threads after every OpenMP region, which halved
     * the f32 GEMV and GEMM at 2 threads on the development machine. */
    if (t->uses_blas)
        td_blas_set_threads(1);
    /* Chunks of whole 16-row blocks, one contiguous range per thread: each thread
     * streams its own slice of W, which is what a memory-bound GEMV wants. */
    int64_t blocks = (w->rows + 15) / 16;
    if (blocks < threads)
        threads = (int)blocks;
    /* Below about a million multiply-adds the product takes microseconds, less than
     * waking a second thread (far less when another process holds that core). */
    if ((double)w->rows * (double)w->kpad * (double)a->batch < (double)(1 << 20))
        threads = 1;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    {
        int tid = omp_get_thread_num();
        int nth = omp_get_num_threads();
#else
    {
        int tid = 0, nth = 1;
#endif
        int64_t b0 = blocks * tid / nth, b1 = blocks * (tid + 1) / nth;
        int64_t r0 = b0 * 16, r1 = b1 * 16 < w->rows ? b1 * 16 : w->rows;
        if (r0 < r1)
            kern(w, a, y, ldy, r0, r1);
    }
    return TD_OK;
}

td_status td_gemm(const td_ctx *ctx, const td_qmatrix *w, td_act_type act, const float *x,
                  int64_t batch, float *y)
{
    td_act *a;
    TD_TRY(td_act_new(&a));
    td_status st = td_act_prepare_ctx(ctx, a, w, act, x, batch, w ? w->cols : 0);
    if (!st)
        st = td_gemm_prepared(ctx, w, a, y, w->rows);
    td_act_free(a);
    return st;
}
