/* The loops behind td_vgelu / td_vexp_sum, written once and compiled by each per-ISA file
 * (vmath.c for the baseline, x86/vmath_avx2.c, x86/vmath_avx512.c) under its own flags: the
 * compiler vectorizes them to that ISA's width. */
#ifndef TD_VMATH_LOOPS_H
#define TD_VMATH_LOOPS_H

#include "kernels/vmath.h"

/* y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); y may equal x. */
static inline void td_gelu_loop(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = 0.5f * x[i] * (1.0f + td_verff(x[i] * 0.70710678118654752f));
}

/* y = exp(x - shift), returns the sum of y (16 float lanes, then double). */
static inline double td_exp_sum_loop(const float *x, float *y, int64_t n, float shift)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = td_vexpf(x[i] - shift);
    float lane[16] = {0};
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int j = 0; j < 16; j++)
            lane[j] += y[k + j];
    double sum = 0;
    for (int j = 0; j < 16; j++)
        sum += lane[j];
    for (; k < n; k++)
        sum += y[k];
    return sum;
}

#endif
