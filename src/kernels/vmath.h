/* Branch-free exp and erf for f32 loops the compiler can vectorize.
 *
 * libm's expf/erff are calls the compiler cannot vectorize (without -ffast-math), and in a
 * BERT forward pass they took more time than the attention products: Softmax and Gelu
 * evaluate a few million of them per sentence. These inline versions use only arithmetic,
 * selects and bit casts, so a plain loop over them becomes AVX-512/AVX2 code. Their error
 * against libm (tests/test_vmath.c): exp within 3 ulp over [-87, 88]; erf within 2.5e-7
 * absolute, everywhere. */
#ifndef TD_VMATH_H
#define TD_VMATH_H

#include <stdint.h>
#include <string.h>

#include "tandem/core.h"

/* Gelu (erf form) of n floats, y may equal x; vectorized for `isa` (kernels/vmath.c). */
void td_vgelu(td_isa isa, const float *x, float *y, int64_t n);
/* Layer normalization of one contiguous row (scale g, bias b or NULL); mean and 1/stddev
 * out when not NULL. */
void td_vlayernorm(td_isa isa, const float *x, float *y, int64_t n, float eps, const float *g,
                   const float *b, float *mean_out, float *inv_out);
/* y = exp(x - shift) for n floats; returns their sum. */
double td_vexp_sum(td_isa isa, const float *x, float *y, int64_t n, float shift);

/* e^x. Inputs below -87.3 give 0 (no denormals), above 88.7 give +inf; NaN stays NaN. */
static inline float td_vexpf(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    /* Written so that NaN clamps to -87.3 (every comparison with NaN is false): the integer
     * conversion below must never see a NaN. The NaN is restored at the end. */
    float xc = x > -87.3f ? x : -87.3f;
    xc = xc < 88.7f ? xc : 88.7f;
    /* n = round(x / ln 2) via the 1.5 * 2^23 trick (exact in round-to-nearest) */
    float n = (xc * log2e + 12582912.0f) - 12582912.0f;
    float r = xc - n * ln2_hi - n * ln2_lo; /* |r| <= ln2 / 2, ln 2 split for exactness */
    /* e^r: degree-6 Taylor polynomial (Horner); with the reduction, within 3 ulp */
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^n as two normal powers of two, so n = 128 (x near 88.7) and n = -126 stay exact */
    int32_t ni = (int32_t)n, h = ni / 2;
    int32_t b1 = (h + 127) << 23, b2 = (ni - h + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    float y = p * s1 * s2;
    y = x < -87.3f ? 0.0f : y;
    y = x > 88.7f ? __builtin_inff() : y;
    return x != x ? x : y;
}

/* erf(x). For |x| >= 1, Abramowitz & Stegun 7.1.26: 1 - t (a1 + t (a2 + ...)) e^(-x^2) with
 * t = 1 / (1 + p |x|), error below 2e-7. Below 1 that form loses digits to cancellation, so
 * the Maclaurin series 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)) to n = 9 is used (its
 * truncation error at |x| = 1 is 1.5e-8). Both are computed and one is selected, which keeps
 * the function branch-free. */
static inline float td_verff(float x)
{
    const float p = 0.3275911f;
    const float a1 = 0.254829592f, a2 = -0.284496736f, a3 = 1.421413741f;
    const float a4 = -1.453152027f, a5 = 1.061405429f;
    float ax = x < 0 ? -x : x;
    float t = 1.0f / (1.0f + p * ax);
    float poly = ((((a5 * t + a4) * t + a3) * t + a2) * t + a1) * t;
    float big = 1.0f - poly * td_vexpf(-ax * ax);
    big = x < 0 ? -big : big;
    float z = x * x;
    float s = -1.0f / 362880.0f / 19.0f; /* n = 9: (-1)^9 / (9! * 19) */
    s = s * z + 1.0f / 40320.0f / 17.0f; /* n = 8 */
    s = s * z - 1.0f / 5040.0f / 15.0f;
    s = s * z + 1.0f / 720.0f / 13.0f;
    s = s * z - 1.0f / 120.0f / 11.0f;
    s = s * z + 1.0f / 24.0f / 9.0f;
    s = s * z - 1.0f / 6.0f / 7.0f;
    s = s * z + 1.0f / 2.0f / 5.0f;
    s = s * z - 1.0f / 3.0f;
    s = s * z + 1.0f;
    float small = 1.12837916709551257f * x * s;
    float y = ax < 1.0f ? small : big;
    return x != x ? x : y;
}

#endif
