#include <cblas.h>

#include "kernels/blas.h"

void td_blas_set_threads(int threads)
{
    openblas_set_num_threads(threads);
}

void td_gemm_f32_blas(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1)
{
    const float *wr = (const float *)(w->codes + r0 * w->row_bytes);
    if (a->batch == 1) {
        /* OpenBLAS's sgemm with one token is several times slower than its sgemv. */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)(r1 - r0), (blasint)w->kpad, 1.0f, wr,
                    (blasint)w->kpad, a->x, 1, 0.0f, y + r0, 1);
        return;
    }
    /* Y[b, r] = sum_k X[b, k] W[r, k]: X (batch x kpad) times W^T. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)a->batch, (blasint)(r1 - r0),
                (blasint)w->kpad, 1.0f, a->x, (blasint)a->kpad, wr, (blasint)w->kpad, 0.0f, y + r0,
                (blasint)ldy);
}
