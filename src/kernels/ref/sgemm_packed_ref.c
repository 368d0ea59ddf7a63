/* Scalar reference of the packed f32 GEMM: the rounding every fast path reproduces
 * (kernels/sgemm_packed.h): fmaf over k ascending from 0, then + bias. */
#include <math.h>

#include "kernels/sgemm_packed.h"

enum { NR = TD_SGEMM_NR };

void td_sgemm_block_ref(const td_sgemm_packed *w, const float *x, int64_t m, int64_t p0, int64_t p1,
                        const float *bias, float *y)
{
    int64_t n = w->n, k = w->k;
    for (int64_t p = p0; p < p1; p++) {
        const float *panel = w->data + p * k * NR;
        int64_t cols = n - p * NR < NR ? n - p * NR : NR;
        for (int64_t i = 0; i < m; i++) {
            float acc[NR] = {0};
            const float *xr = x + i * k;
            for (int64_t kk = 0; kk < k; kk++)
                for (int64_t j = 0; j < NR; j++)
                    acc[j] = fmaf(xr[kk], panel[kk * NR + j], acc[j]);
            float *yr = y + i * n + p * NR;
            for (int64_t j = 0; j < cols; j++)
                yr[j] = bias ? acc[j] + bias[p * NR + j] : acc[j];
        }
    }
}
