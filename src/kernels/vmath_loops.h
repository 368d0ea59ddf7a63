/* The loops behind td_vgelu / td_vexp_sum, written once and compiled by each per-ISA file
 * (vmath.c for the baseline, x86/vmath_avx2.c, x86/vmath_avx512.c) under its own flags: the
 * compiler vectorizes them to that ISA's width. */
#ifndef TD_VMATH_LOOPS_H
#define TD_VMATH_LOOPS_H

#include <math.h>

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

/* Layer normalization of one contiguous row with per-element scale g and optional bias b.
 * Corrected two-pass in float lanes: the mean from 16 lane sums, then the deviations
 * d = x - mean, whose own mean c (the first pass's rounding error) corrects both the variance
 * (sum d^2 / n - c^2) and the centring. With a large mean and small spread x - mean is exact
 * (the operands are close) and c restores what rounding the mean lost. */
static inline void td_layernorm_loop(const float *x, float *y, int64_t n, float eps, const float *g,
                                     const float *b, float *mean_out, float *inv_out)
{
    float lane[16] = {0}, dl[16] = {0}, ql[16] = {0};
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int j = 0; j < 16; j++)
            lane[j] += x[k + j];
    double sum = 0;
    for (int j = 0; j < 16; j++)
        sum += lane[j];
    for (; k < n; k++)
        sum += x[k];
    float mean = (float)(sum / (double)n);
    for (k = 0; k + 16 <= n; k += 16)
        for (int j = 0; j < 16; j++) {
            float d = x[k + j] - mean;
            dl[j] += d;
            ql[j] += d * d;
        }
    double ds = 0, qs = 0;
    for (int j = 0; j < 16; j++) {
        ds += dl[j];
        qs += ql[j];
    }
    for (; k < n; k++) {
        double d = (double)(x[k] - mean);
        ds += d;
        qs += d * d;
    }
    double c = ds / (double)n;
    double var = qs / (double)n - c * c;
    var = var > 0 ? var : 0;
    float inv = (float)(1.0 / sqrt(var + eps));
    float cf = (float)c;
    if (b)
        for (k = 0; k < n; k++)
            y[k] = ((x[k] - mean) - cf) * inv * g[k] + b[k];
    else
        for (k = 0; k < n; k++)
            y[k] = ((x[k] - mean) - cf) * inv * g[k];
    if (mean_out)
        *mean_out = (float)((double)mean + c);
    if (inv_out)
        *inv_out = inv;
}

#endif
