/* AVX2 + FMA + F16C GEMV/GEMM for float weights (bf16, f16, fp8 E4M3/E5M2) with f32
 * activations. Same scheme as gemm_float_avx512.c (see there for the decodes, the
 * accumulation order, the K blocking and the prefetch), with 8 lanes:
 *   bf16  zero-extend to 32 bits, shift left 16;  f16  vcvtph2ps;
 *   E5M2  code << 8 is an f16;  E4M3  sign-extended code << 7, masked with 0xbfff, is
 *         the f16 of value * 2^-8 (the 2^8 goes into the scale).
 * Register tiles: 4 rows x 1..2 tokens for batch > 1 (8 accumulators of the 16 ymm
 * registers), 8 rows x 1 token at batch 1.
 * AVX2 has no byte-masked loads, so the last < 8 weights of a group that is not a
 * multiple of 8 are decoded with the scalar conversions into a zeroed 8-lane buffer,
 * and the activations with vmaskmovps (which does not touch masked-off memory). */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/float_kernels.h"

#define TD_INLINE static inline __attribute__((always_inline))

enum { W_BF16, W_F16, W_E4M3, W_E5M2 };
enum { RB_GEMM = 4, RB_GEMV = 8, RBMAX = 8, TBMAX = 2 };

/* Prefetch distance along each row's weight stream: see gemm_float_avx512.c. */
enum { PREFETCH_BYTES = 4096 };

/* Offset from a row's current read position to where its prefetch goes: PREFETCH_BYTES
 * ahead (at most one row), moved on by rb - 1 rows once that passes the row's end, so
 * that it lands on the row the next block of rb rows reads in this position. The
 * same for every row of a tile. Prefetches never fault, so the tail of the matrix
 * needs no check. */
TD_INLINE int64_t prefetch_delta(const td_qmatrix *w, int64_t off, int rb)
{
    int64_t row = (int64_t)w->row_bytes;
    int64_t dist = PREFETCH_BYTES < row ? PREFETCH_BYTES : row;
    return off + dist >= row ? dist + (rb - 1) * row : dist;
}

TD_INLINE void prefetch(const uint8_t *p, int64_t delta)
{
    _mm_prefetch((const char *)((uintptr_t)p + (uintptr_t)delta), _MM_HINT_T0);
}

TD_INLINE int64_t elem_bytes(int fmt)
{
    return fmt == W_BF16 || fmt == W_F16 ? 2 : 1;
}

/* 8 weights starting at p. */
TD_INLINE __m256 load8(const uint8_t *p, int fmt)
{
    switch (fmt) {
    case W_BF16: {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    }
    case W_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    case W_E4M3: {
        __m128i h = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)p));
        h = _mm_and_si128(_mm_slli_epi16(h, 7), _mm_set1_epi16((short)0xbfff));
        return _mm256_cvtph_ps(h);
    }
    default: {
        __m128i h = _mm_slli_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)p)), 8);
        return _mm256_cvtph_ps(h);
    }
    }
}

/* The first n (< 8) weights at p, the other lanes 0, in the same scaling as load8. */
TD_INLINE __m256 load8_tail(const uint8_t *p, int n, int fmt)
{
    float v[8] = {0};
    for (int t = 0; t < n; t++) {
        uint16_t h;
        switch (fmt) {
        case W_BF16:
            memcpy(&h, p + 2 * t, sizeof h);
            v[t] = td_bf16_to_f32(h);
            break;
        case W_F16:
            memcpy(&h, p + 2 * t, sizeof h);
            v[t] = td_f16_to_f32(h);
            break;
        case W_E4M3:
            v[t] = td_fp8_e4m3_to_f32(p[t]) * 0x1p-8f; /* exact: a power of two */
            break;
        default:
            v[t] = td_fp8_e5m2_to_f32(p[t]);
            break;
        }
    }
    return _mm256_loadu_ps(v);
}

TD_INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Adds to y the products of rows [r, r + rb) with tokens [b, b + nt) over K range
 * [k0, k1); rb and nt are constants at every call site. */
TD_INLINE void tile(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r,
                    int64_t b, int rb, int nt, int64_t k0, int64_t k1, int fmt)
{
    const int64_t eb = elem_bytes(fmt);
    const bool scaled = fmt == W_E4M3 || fmt == W_E5M2;
    const float factor = fmt == W_E4M3 ? 256.0f : 1.0f;
    const uint8_t *wr[RBMAX];
    const float *sr[RBMAX];
    for (int i = 0; i < rb; i++) {
        wr[i] = w->codes + (size_t)(r + i) * w->row_bytes;
        sr[i] = scaled ? w->scales + ((r + i) / w->tile_rows) * w->ngroups : NULL;
    }
    const float *xr[TBMAX];
    for (int j = 0; j < nt; j++)
        xr[j] = a->x + (b + j) * a->kpad;

    __m256 tot[RBMAX][TBMAX];
    for (int i = 0; i < rb; i++)
        for (int j = 0; j < nt; j++)
            tot[i][j] = _mm256_setzero_ps();
    for (int64_t s0 = k0; s0 < k1;) {
        int64_t g = s0 / w->gsize;
        int64_t s1 = (g + 1) * w->gsize < k1 ? (g + 1) * w->gsize : k1;
        __m256 acc[RBMAX][TBMAX];
        for (int i = 0; i < rb; i++)
            for (int j = 0; j < nt; j++)
                acc[i][j] = _mm256_setzero_ps();
        int64_t k = s0;
        for (; k + 8 <= s1; k += 8) {
            if (((k * eb) & 63) == 0) { /* once per cache line of each row */
                int64_t d = prefetch_delta(w, k * eb, rb);
                for (int i = 0; i < rb; i++)
                    prefetch(wr[i] + k * eb, d);
            }
            __m256 xv[TBMAX];
            for (int j = 0; j < nt; j++)
                xv[j] = _mm256_loadu_ps(xr[j] + k);
            for (int i = 0; i < rb; i++) {
                __m256 wv = load8(wr[i] + k * eb, fmt);
                for (int j = 0; j < nt; j++)
                    acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
            }
        }
        if (k < s1) {
            int n = (int)(s1 - k);
            __m256i m =
                _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            __m256 xv[TBMAX];
            for (int j = 0; j < nt; j++)
                xv[j] = _mm256_maskload_ps(xr[j] + k, m);
            for (int i = 0; i < rb; i++) {
                __m256 wv = load8_tail(wr[i] + k * eb, n, fmt);
                for (int j = 0; j < nt; j++)
                    acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
            }
        }
        for (int i = 0; i < rb; i++) {
            if (scaled) {
                __m256 sv = _mm256_set1_ps(sr[i][g] * factor);
                for (int j = 0; j < nt; j++)
                    tot[i][j] = _mm256_fmadd_ps(acc[i][j], sv, tot[i][j]);
            } else {
                for (int j = 0; j < nt; j++)
                    tot[i][j] = _mm256_add_ps(acc[i][j], tot[i][j]);
            }
        }
        s0 = s1;
    }
    for (int i = 0; i < rb; i++)
        for (int j = 0; j < nt; j++)
            y[(b + j) * ldy + r + i] += hsum8(tot[i][j]);
}

/* Rows [r, r + rb) against every token, 2 tokens per tile. */
TD_INLINE void tokens(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r,
                      int rb, int64_t k0, int64_t k1, int fmt)
{
    int64_t b = 0;
    for (; b + 2 <= a->batch; b += 2)
        tile(w, a, y, ldy, r, b, rb, 2, k0, k1, fmt);
    if (b < a->batch)
        tile(w, a, y, ldy, r, b, rb, 1, k0, k1, fmt);
}

TD_INLINE void gemm_float(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                          int64_t r1, int fmt)
{
    for (int64_t b = 0; b < a->batch; b++)
        for (int64_t r = r0; r < r1; r++)
            y[b * ldy + r] = 0.0f;
    int64_t kb = td_float_kblock(a->batch, w->kpad);
    if (w->gsize < kb)
        kb = kb / w->gsize * w->gsize; /* K blocks end on group boundaries */
    for (int64_t k0 = 0; k0 < w->kpad; k0 += kb) {
        int64_t k1 = k0 + kb < w->kpad ? k0 + kb : w->kpad;
        if (a->batch == 1) {
            int64_t r = r0;
            for (; r + RB_GEMV <= r1; r += RB_GEMV)
                tile(w, a, y, ldy, r, 0, RB_GEMV, 1, k0, k1, fmt);
            for (; r + RB_GEMM <= r1; r += RB_GEMM)
                tile(w, a, y, ldy, r, 0, RB_GEMM, 1, k0, k1, fmt);
            for (; r < r1; r++)
                tile(w, a, y, ldy, r, 0, 1, 1, k0, k1, fmt);
            continue;
        }
        for (int64_t r = r0; r < r1;) {
            /* 4-row tiles, then single rows for the last r1 - r < 4 */
            if (r + RB_GEMM <= r1) {
                tokens(w, a, y, ldy, r, RB_GEMM, k0, k1, fmt);
                r += RB_GEMM;
            } else {
                tokens(w, a, y, ldy, r, 1, k0, k1, fmt);
                r++;
            }
        }
    }
}

void td_gemm_bf16_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                       int64_t r1)
{
    gemm_float(w, a, y, ldy, r0, r1, W_BF16);
}

void td_gemm_f16_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1)
{
    gemm_float(w, a, y, ldy, r0, r1, W_F16);
}

void td_gemm_fp8_e4m3_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                           int64_t r1)
{
    gemm_float(w, a, y, ldy, r0, r1, W_E4M3);
}

void td_gemm_fp8_e5m2_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                           int64_t r1)
{
    gemm_float(w, a, y, ldy, r0, r1, W_E5M2);
}
