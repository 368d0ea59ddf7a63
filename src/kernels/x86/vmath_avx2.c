/* td_vgelu / td_vexp_sum compiled for AVX2 + FMA (8 lanes); see kernels/vmath_loops.h. */
#include "kernels/vmath_loops.h"

void td_gelu_avx2(const float *x, float *y, int64_t n)
{
    td_gelu_loop(x, y, n);
}

double td_exp_sum_avx2(const float *x, float *y, int64_t n, float shift)
{
    return td_exp_sum_loop(x, y, n, shift);
}

void td_layernorm_avx2(const float *x, float *y, int64_t n, float eps, const float *g,
                       const float *b, float *mean_out, float *inv_out)
{
    td_layernorm_loop(x, y, n, eps, g, b, mean_out, inv_out);
}
