/* Vectorized Gelu and softmax exponentials, dispatched on the context's ISA. */
#include "kernels/vmath_loops.h"

void td_gelu_avx2(const float *x, float *y, int64_t n);
void td_gelu_avx512(const float *x, float *y, int64_t n);
double td_exp_sum_avx2(const float *x, float *y, int64_t n, float shift);
double td_exp_sum_avx512(const float *x, float *y, int64_t n, float shift);

void td_layernorm_avx2(const float *x, float *y, int64_t n, float eps, const float *g,
                       const float *b, float *mean_out, float *inv_out);
void td_layernorm_avx512(const float *x, float *y, int64_t n, float eps, const float *g,
                         const float *b, float *mean_out, float *inv_out);

void td_vlayernorm(td_isa isa, const float *x, float *y, int64_t n, float eps, const float *g,
                   const float *b, float *mean_out, float *inv_out)
{
    if (isa >= TD_ISA_AVX512)
        td_layernorm_avx512(x, y, n, eps, g, b, mean_out, inv_out);
    else if (isa >= TD_ISA_AVX2)
        td_layernorm_avx2(x, y, n, eps, g, b, mean_out, inv_out);
    else
        td_layernorm_loop(x, y, n, eps, g, b, mean_out, inv_out);
}

void td_vgelu(td_isa isa, const float *x, float *y, int64_t n)
{
    if (isa >= TD_ISA_AVX512)
        td_gelu_avx512(x, y, n);
    else if (isa >= TD_ISA_AVX2)
        td_gelu_avx2(x, y, n);
    else
        td_gelu_loop(x, y, n);
}

double td_vexp_sum(td_isa isa, const float *x, float *y, int64_t n, float shift)
{
    if (isa >= TD_ISA_AVX512)
        return td_exp_sum_avx512(x, y, n, shift);
    if (isa >= TD_ISA_AVX2)
        return td_exp_sum_avx2(x, y, n, shift);
    return td_exp_sum_loop(x, y, n, shift);
}
