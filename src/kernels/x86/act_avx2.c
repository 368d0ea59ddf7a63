/* Per-token activation loops of td_act_prepare compiled for AVX2 (8 lanes); the
 * same contract as act_avx512.c: bit-identical to the scalar reference in act.c. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "formats/quant_common.h"

/* Declared again in act.c, which has no header of its own to share them from. */
uint32_t td_act_copy_avx2(const float *src, int64_t k, int64_t kpad, float *dst);
void td_act_quantize_avx2(const float *x, int64_t kpad, float inv, int qmax, int8_t *q);
void td_act_gsums_avx2(const int8_t *q, int64_t ngroups, int64_t gsize, int32_t *gsum);

/* Copies k floats, zero-fills up to kpad and returns the largest |x| as bits (see
 * act_avx512.c: bits above FLT_MAX's mean a non-finite value). */
uint32_t td_act_copy_avx2(const float *src, int64_t k, int64_t kpad, float *dst)
{
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff);
    __m256i m0 = _mm256_setzero_si256(), m1 = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        __m256i v0 = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(src + i + 8));
        _mm256_storeu_si256((__m256i *)(dst + i), v0);
        _mm256_storeu_si256((__m256i *)(dst + i + 8), v1);
        m0 = _mm256_max_epu32(m0, _mm256_and_si256(v0, absmask));
        m1 = _mm256_max_epu32(m1, _mm256_and_si256(v1, absmask));
    }
    m0 = _mm256_max_epu32(m0, m1);
    __m128i m = _mm_max_epu32(_mm256_castsi256_si128(m0), _mm256_extracti128_si256(m0, 1));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4e));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xb1));
    uint32_t amax = (uint32_t)_mm_cvtsi128_si32(m);
    for (; i < k; i++) {
        uint32_t b;
        memcpy(&b, src + i, sizeof b);
        b &= 0x7fffffffu;
        amax = b > amax ? b : amax;
        dst[i] = src[i];
    }
    memset(dst + k, 0, (size_t)(kpad - k) * sizeof(float));
    return amax;
}

static inline __m256i quant8(const float *x, __m256 inv, __m256 lo, __m256 hi, __m256 magic)
{
    __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x), inv);
    t = _mm256_max_ps(t, lo); /* x and inv are finite: no NaN to order around */
    t = _mm256_min_ps(t, hi);
    t = _mm256_sub_ps(_mm256_add_ps(t, magic), magic);
    return _mm256_cvttps_epi32(t);
}

void td_act_quantize_avx2(const float *x, int64_t kpad, float inv, int qmax, int8_t *q)
{
    const __m256 vinv = _mm256_set1_ps(inv), magic = _mm256_set1_ps(TD_ROUND_MAGIC);
    const __m256 lo = _mm256_set1_ps((float)-qmax), hi = _mm256_set1_ps((float)qmax);
    /* packs interleave 128-bit lanes: 32-bit groups come out as 0 2 4 6 1 3 5 7 */
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    int64_t i = 0;
    for (; i + 32 <= kpad; i += 32) { /* codes are within +-127: the saturating packs are exact */
        __m256i a = quant8(x + i, vinv, lo, hi, magic), b = quant8(x + i + 8, vinv, lo, hi, magic);
        __m256i c = quant8(x + i + 16, vinv, lo, hi, magic);
        __m256i d = quant8(x + i + 24, vinv, lo, hi, magic);
        __m256i v = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(v, order));
    }
    for (; i < kpad; i++)
        q[i] = (int8_t)td_quant_round(x[i], inv, 0, -qmax, qmax);
}

void td_act_gsums_avx2(const int8_t *q, int64_t ngroups, int64_t gsize, int32_t *gsum)
{
    const __m256i bias = _mm256_set1_epi8((char)0x80), zero = _mm256_setzero_si256();
    for (int64_t g = 0; g < ngroups; g++) {
        const int8_t *p = q + g * gsize;
        __m256i acc = _mm256_setzero_si256();
        int64_t i = 0;
        for (; i + 32 <= gsize; i += 32) { /* (q ^ 0x80) = q + 128 as an unsigned byte */
            __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + i)), bias);
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(v, zero));
        }
        __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        int64_t sum = _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1) - 128 * i;
        for (; i < gsize; i++)
            sum += p[i];
        gsum[g] = (int32_t)sum;
    }
}
