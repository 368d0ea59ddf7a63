/* AVX-512 GEMV/GEMM for float weights (bf16, f16, fp8 E4M3/E5M2) with f32 activations.
 *
 * Decoding 16 weights to f32, exact in every case:
 *   bf16  zero-extend each code to 32 bits and shift left 16.
 *   f16   vcvtph2ps.
 *   E5M2  an E5M2 code is the top byte of an f16: code << 8, then vcvtph2ps.
 *   E4M3  (code << 7) with the sign moved up to bit 15 is the f16 bit pattern of
 *         value * 2^-8 for every non-NaN code, subnormals included (same fields, bias 15
 *         instead of 7); the 2^8 is folded into the group's scale. Quantized matrices
 *         never hold the NaN code (weights are finite and scaled into range). The sign
 *         move is done by sign-extending the byte: (int16)(int8)code << 7 has the sign in
 *         bits 14 and 15, and the mask 0xbfff clears bit 14.
 * AVX-512 BF16 instructions (vdpbf16ps) would need bf16 activations; with f32 ones the
 * shift is the decode.
 *
 * Accumulation: within one scale group f32 vector accumulators collect value * x; at the
 * group's end they are folded into running totals with one FMA by the group's scale
 * (times 2^8 for E4M3), so per-group and per-tile scales cost one FMA per group. Totals
 * are summed horizontally once per K block and added to y.
 *
 * Blocking: for batch > 1 a register tile is 4 rows x NT = 1..4 tokens. Each decoded
 * weight vector feeds NT FMAs and each activation vector 4 of them, so at batch >= 4 a
 * tile does 16 FMAs per 4 weight decodes and GEMM is bound by FMA throughput, not by
 * decoding. K is cut into blocks (td_float_kblock) so that the activations of all tokens
 * over one block stay in L2 while the tiles sweep the rows.
 * At batch 1 (GEMV) a tile streams 8 rows start to end (8 independent FMA chains, one
 * activation load per 8 weight vectors) and prefetches each row's stream ahead; the
 * weights are the only traffic that misses the caches.
 *
 * Groups that are not a multiple of 16 end with a masked step (masked-off lanes load
 * nothing and contribute 0), so any group size works and nothing reads past a row. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/float_kernels.h"

#define TD_INLINE static inline __attribute__((always_inline))

enum { W_BF16, W_F16, W_E4M3, W_E5M2 };

/* Register tiles: RB_GEMM rows x up to TBMAX tokens for batch > 1; RB_GEMV rows x 1
 * token at batch 1, where more rows mean more weight streams in flight and fewer
 * activation loads per weight. */
enum { RB_GEMM = 4, RB_GEMV = 8, RBMAX = 8, TBMAX = 4 };

/* Software prefetch distance along each row's weight stream (at most one row). A tile
 * reads its rows as rb parallel streams that restart at every row (every page, for
 * 4096-byte rows), which the hardware prefetcher keeps losing. Near a row's end the
 * prefetch moves on to the same offset of the row that the next row block reads in
 * this position. */
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

TD_INLINE __m512 e4m3_to_ps(__m128i c)
{
    __m256i h = _mm256_cvtepi8_epi16(c);
    h = _mm256_and_si256(_mm256_slli_epi16(h, 7), _mm256_set1_epi16((short)0xbfff));
    return _mm512_cvtph_ps(h);
}

TD_INLINE __m512 e5m2_to_ps(__m128i c)
{
    return _mm512_cvtph_ps(_mm256_slli_epi16(_mm256_cvtepu8_epi16(c), 8));
}

TD_INLINE __m512 bf16_to_ps(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 16 weights starting at p. */
TD_INLINE __m512 load16(const uint8_t *p, int fmt)
{
    switch (fmt) {
    case W_BF16:
        return bf16_to_ps(_mm256_loadu_si256((const __m256i *)p));
    case W_F16:
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    case W_E4M3:
        return e4m3_to_ps(_mm_loadu_si128((const __m128i *)p));
    default:
        return e5m2_to_ps(_mm_loadu_si128((const __m128i *)p));
    }
}

/* The lanes of m only; the others are 0 and their memory is not touched. */
TD_INLINE __m512 load16_mask(const uint8_t *p, __mmask16 m, int fmt)
{
    switch (fmt) {
    case W_BF16:
        return bf16_to_ps(_mm256_maskz_loadu_epi16(m, p));
    case W_F16:
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
    case W_E4M3:
        return e4m3_to_ps(_mm_maskz_loadu_epi8(m, p));
    default:
        return e5m2_to_ps(_mm_maskz_loadu_epi8(m, p));
    }
}

/* Adds to y the products of rows [r, r + rb) with tokens [b, b + nt) over K range
 * [k0, k1). rb and nt are constants at every call site, so the loops over i and j
 * unroll and acc stays in registers. */
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

    __m512 tot[RBMAX][TBMAX];
    for (int i = 0; i < rb; i++)
        for (int j = 0; j < nt; j++)
            tot[i][j] = _mm512_setzero_ps();
    for (int64_t s0 = k0; s0 < k1;) {
        /* one scale group's part of the K block: [s0, s1) */
        int64_t g = s0 / w->gsize;
        int64_t s1 = (g + 1) * w->gsize < k1 ? (g + 1) * w->gsize : k1;
        __m512 acc[RBMAX][TBMAX];
        for (int i = 0; i < rb; i++)
            for (int j = 0; j < nt; j++)
                acc[i][j] = _mm512_setzero_ps();
        int64_t k = s0;
        for (; k + 16 <= s1; k += 16) {
            if (((k * eb) & 63) == 0) { /* once per cache line of each row */
                int64_t d = prefetch_delta(w, k * eb, rb);
                for (int i = 0; i < rb; i++)
                    prefetch(wr[i] + k * eb, d);
            }
            __m512 xv[TBMAX];
            for (int j = 0; j < nt; j++)
                xv[j] = _mm512_loadu_ps(xr[j] + k);
            for (int i = 0; i < rb; i++) {
                __m512 wv = load16(wr[i] + k * eb, fmt);
                for (int j = 0; j < nt; j++)
                    acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
            }
        }
        if (k < s1) {
            __mmask16 m = (__mmask16)((1u << (s1 - k)) - 1);
            __m512 xv[TBMAX];
            for (int j = 0; j < nt; j++)
                xv[j] = _mm512_maskz_loadu_ps(m, xr[j] + k);
            for (int i = 0; i < rb; i++) {
                __m512 wv = load16_mask(wr[i] + k * eb, m, fmt);
                for (int j = 0; j < nt; j++)
                    acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
            }
        }
        for (int i = 0; i < rb; i++) {
            if (scaled) {
                __m512 sv = _mm512_set1_ps(sr[i][g] * factor);
                for (int j = 0; j < nt; j++)
                    tot[i][j] = _mm512_fmadd_ps(acc[i][j], sv, tot[i][j]);
            } else {
                for (int j = 0; j < nt; j++)
                    tot[i][j] = _mm512_add_ps(acc[i][j], tot[i][j]);
            }
        }
        s0 = s1;
    }
    for (int i = 0; i < rb; i++)
        for (int j = 0; j < nt; j++)
            y[(b + j) * ldy + r + i] += _mm512_reduce_add_ps(tot[i][j]);
}

/* Rows [r, r + rb) against every token, 4 tokens per tile. */
TD_INLINE void tokens(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r,
                      int rb, int64_t k0, int64_t k1, int fmt)
{
    int64_t b = 0;
    for (; b + 4 <= a->batch; b += 4)
        tile(w, a, y, ldy, r, b, rb, 4, k0, k1, fmt);
    switch (a->batch - b) {
    case 3:
        tile(w, a, y, ldy, r, b, rb, 3, k0, k1, fmt);
        break;
    case 2:
        tile(w, a, y, ldy, r, b, rb, 2, k0, k1, fmt);
        break;
    case 1:
        tile(w, a, y, ldy, r, b, rb, 1, k0, k1, fmt);
        break;
    default:
        break;
    }
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

void td_gemm_bf16_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                         int64_t r1)
{
    gemm_float(w, a, y, ldy, r0, r1, W_BF16);
}

void td_gemm_f16_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                        int64_t r1)
{
    gemm_float(w, a, y, ldy, r0, r1, W_F16);
}

void td_gemm_fp8_e4m3_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1)
{
    gemm_float(w, a, y, ldy, r0, r1, W_E4M3);
}

void td_gemm_fp8_e5m2_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1)
{
    gemm_float(w, a, y, ldy, r0, r1, W_E5M2);
}
