/* AVX-512 row kernels of the rotary embedding; same operations as kernels/ref/rope_ref.c. */
#include <immintrin.h>
#include <math.h>

#include "kernels/rope/rope_kernels.h"

/* Sixteen pairs per step, as in the AVX2 kernel with twice the lanes. */
void td_rope_row_interleaved_avx512(const float *x, float *y, const float *c, const float *s,
                                    int64_t pairs)
{
    const __m512i lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i hi =
        _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    int64_t k = 0;
    for (; k + 16 <= pairs; k += 16) {
        __m512 c16 = _mm512_loadu_ps(c + k), s16 = _mm512_loadu_ps(s + k);
        __m512 v0 = _mm512_loadu_ps(x + 2 * k), v1 = _mm512_loadu_ps(x + 2 * k + 16);
        __m512 t0 = _mm512_mul_ps(_mm512_permute_ps(v0, 0xB1), _mm512_permutexvar_ps(lo, s16));
        __m512 t1 = _mm512_mul_ps(_mm512_permute_ps(v1, 0xB1), _mm512_permutexvar_ps(hi, s16));
        __m512 r0 = _mm512_fmaddsub_ps(v0, _mm512_permutexvar_ps(lo, c16), t0);
        __m512 r1 = _mm512_fmaddsub_ps(v1, _mm512_permutexvar_ps(hi, c16), t1);
        _mm512_storeu_ps(y + 2 * k, r0);
        _mm512_storeu_ps(y + 2 * k + 16, r1);
    }
    /* Head dims are usually 64-128: finish whole rows of 8 pairs with the AVX2 kernel. */
    td_rope_row_interleaved_avx2(x + 2 * k, y + 2 * k, c + k, s + k, pairs - k);
}

void td_rope_row_halves_avx512(const float *x, float *y, const float *c, const float *s,
                               int64_t pairs)
{
    int64_t k = 0;
    for (; k + 16 <= pairs; k += 16) {
        __m512 cv = _mm512_loadu_ps(c + k), sv = _mm512_loadu_ps(s + k);
        __m512 a = _mm512_loadu_ps(x + k), b = _mm512_loadu_ps(x + k + pairs);
        __m512 ya = _mm512_fmsub_ps(a, cv, _mm512_mul_ps(b, sv));
        __m512 yb = _mm512_fmadd_ps(b, cv, _mm512_mul_ps(a, sv));
        _mm512_storeu_ps(y + k, ya);
        _mm512_storeu_ps(y + k + pairs, yb);
    }
    for (; k < pairs; k++) {
        float a = x[k], b = x[k + pairs];
        y[k] = fmaf(a, c[k], -(b * s[k]));
        y[k + pairs] = fmaf(b, c[k], a * s[k]);
    }
}
