/* AVX2 row kernels of the rotary embedding; same operations as kernels/ref/rope_ref.c. */
#include <immintrin.h>
#include <math.h>

#include "kernels/rope/rope_kernels.h"

/* Eight pairs per step: cos/sin duplicated to the lanes of their pair, the pairs' members
 * swapped, and fmaddsub gives a*c - b*s in even lanes and b*c + a*s in odd lanes. */
void td_rope_row_interleaved_avx2(const float *x, float *y, const float *c, const float *s,
                                  int64_t pairs)
{
    const __m256i lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    const __m256i hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
    int64_t k = 0;
    for (; k + 8 <= pairs; k += 8) {
        __m256 c8 = _mm256_loadu_ps(c + k), s8 = _mm256_loadu_ps(s + k);
        __m256 v0 = _mm256_loadu_ps(x + 2 * k), v1 = _mm256_loadu_ps(x + 2 * k + 8);
        __m256 t0 = _mm256_mul_ps(_mm256_permute_ps(v0, 0xB1), _mm256_permutevar8x32_ps(s8, lo));
        __m256 t1 = _mm256_mul_ps(_mm256_permute_ps(v1, 0xB1), _mm256_permutevar8x32_ps(s8, hi));
        __m256 r0 = _mm256_fmaddsub_ps(v0, _mm256_permutevar8x32_ps(c8, lo), t0);
        __m256 r1 = _mm256_fmaddsub_ps(v1, _mm256_permutevar8x32_ps(c8, hi), t1);
        _mm256_storeu_ps(y + 2 * k, r0);
        _mm256_storeu_ps(y + 2 * k + 8, r1);
    }
    for (; k < pairs; k++) {
        float a = x[2 * k], b = x[2 * k + 1];
        y[2 * k] = fmaf(a, c[k], -(b * s[k]));
        y[2 * k + 1] = fmaf(b, c[k], a * s[k]);
    }
}

void td_rope_row_halves_avx2(const float *x, float *y, const float *c, const float *s,
                             int64_t pairs)
{
    int64_t k = 0;
    for (; k + 8 <= pairs; k += 8) {
        __m256 cv = _mm256_loadu_ps(c + k), sv = _mm256_loadu_ps(s + k);
        __m256 a = _mm256_loadu_ps(x + k), b = _mm256_loadu_ps(x + k + pairs);
        __m256 ya = _mm256_fmsub_ps(a, cv, _mm256_mul_ps(b, sv));
        __m256 yb = _mm256_fmadd_ps(b, cv, _mm256_mul_ps(a, sv));
        _mm256_storeu_ps(y + k, ya);
        _mm256_storeu_ps(y + k + pairs, yb);
    }
    for (; k < pairs; k++) {
        float a = x[k], b = x[k + pairs];
        y[k] = fmaf(a, c[k], -(b * s[k]));
        y[k + pairs] = fmaf(b, c[k], a * s[k]);
    }
}
