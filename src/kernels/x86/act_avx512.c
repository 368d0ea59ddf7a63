/* Per-token activation loops of td_act_prepare compiled for AVX-512 (16 lanes).
 * Every result is bit-identical to the scalar reference in kernels/act.c: the copy
 * and absmax are exact, the quantizer performs the same float operations in the
 * same order (multiply, clamp, magic-constant rounding), and sums are integers. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "formats/quant_common.h"

/* Declared again in act.c, which has no header of its own to share them from. */
uint32_t td_act_copy_avx512(const float *src, int64_t k, int64_t kpad, float *dst);
void td_act_quantize_avx512(const float *x, int64_t kpad, float inv, int qmax, int8_t *q);
void td_act_gsums_avx512(const int8_t *q, int64_t ngroups, int64_t gsize, int32_t *gsum);

/* Copies k floats, zero-fills up to kpad and returns the largest |x| as bits: on
 * non-negative floats integer order is float order, and any bits above FLT_MAX's
 * mean inf or NaN, so one unsigned max also answers "all finite?". */
uint32_t td_act_copy_avx512(const float *src, int64_t k, int64_t kpad, float *dst)
{
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff);
    __m512i m0 = _mm512_setzero_si512(), m1 = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        __m512i v0 = _mm512_loadu_si512(src + i), v1 = _mm512_loadu_si512(src + i + 16);
        _mm512_storeu_si512(dst + i, v0);
        _mm512_storeu_si512(dst + i + 16, v1);
        m0 = _mm512_max_epu32(m0, _mm512_and_si512(v0, absmask));
        m1 = _mm512_max_epu32(m1, _mm512_and_si512(v1, absmask));
    }
    for (; i < k; i += 16) {
        __mmask16 mk = k - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - i)) - 1);
        __m512i v = _mm512_maskz_loadu_epi32(mk, src + i);
        _mm512_mask_storeu_epi32(dst + i, mk, v);
        m0 = _mm512_max_epu32(m0, _mm512_and_si512(v, absmask));
    }
    i = k;
    if (i < kpad)
        memset(dst + i, 0, (size_t)(kpad - i) * sizeof(float));
    return (uint32_t)_mm512_reduce_max_epu32(_mm512_max_epu32(m0, m1));
}

static inline __m128i quant16(const float *x, __m512 inv, __m512 lo, __m512 hi, __m512 magic)
{
    __m512 t = _mm512_mul_ps(_mm512_loadu_ps(x), inv);
    t = _mm512_max_ps(t, lo); /* x and inv are finite: no NaN to order around */
    t = _mm512_min_ps(t, hi);
    t = _mm512_sub_ps(_mm512_add_ps(t, magic), magic);
    return _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(t));
}

/* kpad is a multiple of 64 or of the group size; a masked tail covers the rest. */
void td_act_quantize_avx512(const float *x, int64_t kpad, float inv, int qmax, int8_t *q)
{
    const __m512 vinv = _mm512_set1_ps(inv), magic = _mm512_set1_ps(TD_ROUND_MAGIC);
    const __m512 lo = _mm512_set1_ps((float)-qmax), hi = _mm512_set1_ps((float)qmax);
    int64_t i = 0;
    for (; i + 64 <= kpad; i += 64) {
        __m512i v = _mm512_inserti32x4(_mm512_castsi128_si512(quant16(x + i, vinv, lo, hi, magic)),
                                       quant16(x + i + 16, vinv, lo, hi, magic), 1);
        v = _mm512_inserti32x4(v, quant16(x + i + 32, vinv, lo, hi, magic), 2);
        v = _mm512_inserti32x4(v, quant16(x + i + 48, vinv, lo, hi, magic), 3);
        _mm512_storeu_si512(q + i, v);
    }
    for (; i < kpad; i += 16) {
        __mmask16 mk = kpad - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (kpad - i)) - 1);
        __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + i), vinv);
        t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
        t = _mm512_sub_ps(_mm512_add_ps(t, magic), magic);
        _mm512_mask_cvtepi32_storeu_epi8(q + i, mk, _mm512_cvttps_epi32(t));
    }
}

/* Signed byte sums through SAD: (q ^ 0x80) is q + 128 as an unsigned byte. */
void td_act_gsums_avx512(const int8_t *q, int64_t ngroups, int64_t gsize, int32_t *gsum)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    for (int64_t g = 0; g < ngroups; g++) {
        const int8_t *p = q + g * gsize;
        __m512i acc = _mm512_setzero_si512();
        int64_t i = 0;
        for (; i + 64 <= gsize; i += 64)
            acc = _mm512_add_epi64(
                acc, _mm512_sad_epu8(_mm512_xor_si512(_mm512_loadu_si512(p + i), bias), zero));
        if (i < gsize) { /* masked-off bytes load as 0, i.e. 0x80 after the xor: -128 each */
            __mmask64 mk = (__mmask64)((1ull << (gsize - i)) - 1); /* gsize - i < 64 */
            acc = _mm512_add_epi64(
                acc,
                _mm512_sad_epu8(_mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, p + i), bias), zero));
            i += 64;
        }
        gsum[g] = (int32_t)(_mm512_reduce_add_epi64(acc) - 128 * i);
    }
}
