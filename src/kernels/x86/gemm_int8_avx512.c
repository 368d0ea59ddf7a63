/* int8-weight kernels for AVX-512 with VNNI.
 *
 * Two formulations over the row-major codes of the layout contract:
 *  - dot products along K (GEMV and small batches, and groups that are not whole
 *    4-byte quads): a tile of NR weight rows x NT_INT tokens keeps NR * NT_INT
 *    accumulators, loads 64 bytes of K from each row and token per step, and sums
 *    lanes only at the end of a scale group (per-channel: once per row and token);
 *  - broadcast (batches of BCAST_MIN tokens and more): the weights are repacked per
 *    K chunk into 16-row panels and each token's 4 activation bytes are broadcast,
 *    so a register accumulates 16 rows of one token and no lane sums are needed.
 *
 * Integer activations: vpdpbusd multiplies unsigned by signed bytes, so the weights
 * enter biased, w + 128 (an xor with 0x80), against the signed activations:
 *   sum (w + 128) x = sum w x + 128 * gsum   ->   acc = dot - (128 + zero) * gsum
 * with gsum the activations' per-group sum (td_act). Every step is exact in int32
 * (groups are at most TD_INT8_MAX_GROUP long), and the float steps follow the order
 * in int8_kernels.h, so results equal the scalar reference bit for bit. Between
 * groups the running float sum of each output lives in y itself (a float stored and
 * reloaded exactly), which keeps registers free for the accumulators; the GEMV tile,
 * with few accumulators, keeps it in a register.
 *
 * f32 activations: codes widen to f32 (minus the zero point, exact in int32) and
 * FMA against x into per-lane sums; at the end of each group the lanes are added and
 * the sum, times the group's scale, is added to the output's running sum.
 *
 * GCC 12 needs help to keep 20-24 accumulators in registers: vpdpbusd goes through
 * inline asm (see dpbusd), the main tiles use one variable per accumulator, and each
 * tile shape is its own function. */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/int8_kernels.h"

#define NR 4     /* weight rows per tile */
#define NT_INT 5 /* tokens per integer tile: 20 accumulators + 9 loaded vectors */
#define NT_F32 3 /* tokens per f32 tile: 12 group sums */
#define L2_ACT_BYTES (512 * 1024)
#define BP 3         /* broadcast kernel: 16-row panels per row block */
#define BT 8         /* broadcast kernel: tokens per tile */
#define BKC 512      /* broadcast kernel: K chunk in bytes (a multiple of 64) */
#define BTB 128      /* broadcast kernel: tokens per block (sizes the sum buffer) */
#define BCAST_MIN 32 /* fewest tokens for which the broadcast kernel's packing pays */

#define ALWAYS_INLINE inline __attribute__((always_inline))
#define NOINLINE __attribute__((noinline))

/* Tokens per block so that the block's activations (tokens x kpad x elem bytes) stay
 * in L2; at least one tile's worth. */
static int64_t token_block(int64_t kpad, int64_t elem, int64_t nt, int64_t batch)
{
    int64_t tb = L2_ACT_BYTES / (kpad * elem) / nt * nt;
    if (tb < nt)
        tb = nt;
    return tb < batch ? tb : batch;
}

/* acc += dot products of 4 unsigned bytes of u with 4 signed bytes of s, per lane.
 * GCC 12 copies the accumulator around every vpdpbusd intrinsic (and then spills
 * the copies), which halves the throughput of the tile; the asm form ties the
 * accumulator to its register. */
static ALWAYS_INLINE __m512i dpbusd(__m512i acc, __m512i u, __m512i s)
{
#if defined(__GNUC__) && !defined(__clang__)
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "vm"(s));
    return acc;
#else
    return _mm512_dpbusd_epi32(acc, u, s);
#endif
}

static ALWAYS_INLINE __mmask64 tail_mask64(int64_t n)
{
    return _cvtu64_mask64(~0ull >> (64 - n));
}

/* ---- integer activations ---- */

/* Lane sums of four accumulators: {sum a, sum b, sum c, sum d}. */
static ALWAYS_INLINE __m128i reduce4(__m512i a, __m512i b, __m512i c, __m512i d)
{
    __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
    __m512i v = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
    __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* Where a tile's rows and tokens are.
 * Only nb <= NT_INT tokens are real; x[] repeats the last one for the others, whose
 * results are not stored, so that a few tile shapes serve every batch. */
typedef struct tile {
    const int8_t *w[NR];
    const int8_t *next; /* the next tile row's first row (this one's if none): the GEMV
                           prefetches it as it goes */
    const int8_t *x[NT_INT];
    int64_t tok[NT_INT];
    int64_t srow[NR]; /* scale-grid row offsets */
    int64_t r, b;
    int nr, nb;
} tile;

/* Group constants of 4 rows, one lane each: scales and 128 + zero point. */
static ALWAYS_INLINE void consts4(const td_qmatrix *w, const tile *t, int64_t g, __m128 *s4,
                                  __m128i *zb4)
{
    const int64_t *sr = t->srow;
    *s4 = _mm_setr_ps(w->scales[sr[0] + g], w->scales[sr[1] + g], w->scales[sr[2] + g],
                      w->scales[sr[3] + g]);
    *zb4 = _mm_set1_epi32(128);
    if (w->zeros)
        *zb4 = _mm_add_epi32(*zb4, _mm_setr_epi32(w->zeros[sr[0] + g], w->zeros[sr[1] + g],
                                                  w->zeros[sr[2] + g], w->zeros[sr[3] + g]));
}

/* End of group g for token j of a 4-row tile: integer sums to float, folded into y,
 * which holds the running sum between groups (exact: a float stored and reloaded).
 * The first group overwrites y, the last applies the token scale. */
static ALWAYS_INLINE void finish4(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  const tile *t, int64_t g, int j, __m128 s4, __m128i zb4,
                                  __m512i c0, __m512i c1, __m512i c2, __m512i c3)
{
    if (j >= t->nb)
        return;
    /* sum (w - zero) x = sum (w + 128) x - (128 + zero) * gsum, in wrapping int32
     * lanes: exact, because the final value fits. */
    __m128i dot = reduce4(c0, c1, c2, c3);
    __m128i gs = _mm_set1_epi32(a->gsum[t->tok[j] * a->ngroups + g]);
    __m128i v = _mm_sub_epi32(dot, _mm_mullo_epi32(zb4, gs));
    float *yo = y + (t->b + j) * ldy + t->r;
    __m128 prev = g > 0 ? _mm_loadu_ps(yo) : _mm_setzero_ps();
    __m128 yv = _mm_fmadd_ps(_mm_cvtepi32_ps(v), s4, prev);
    if (g == w->ngroups - 1)
        yv = _mm_mul_ps(yv, _mm_set1_ps(a->scale[t->b + j]));
    _mm_storeu_ps(yo, yv);
}

/* The main tile, 4 rows x 5 tokens, over every group; groups are whole 64-byte
 * steps. One variable per accumulator: GCC keeps an array of 20 vectors in
 * registers only sometimes and spills it otherwise. */
static NOINLINE void int_tile_4x5(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  const tile *t)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const int8_t *w0 = t->w[0], *w1 = t->w[1], *w2 = t->w[2], *w3 = t->w[3];
    const int8_t *x0 = t->x[0], *x1 = t->x[1], *x2 = t->x[2], *x3 = t->x[3], *x4 = t->x[4];
    for (int64_t g = 0; g < w->ngroups; g++) {
        __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00, a04 = a00;
        __m512i a10 = a00, a11 = a00, a12 = a00, a13 = a00, a14 = a00;
        __m512i a20 = a00, a21 = a00, a22 = a00, a23 = a00, a24 = a00;
        __m512i a30 = a00, a31 = a00, a32 = a00, a33 = a00, a34 = a00;
        int64_t k1 = (g + 1) * w->gsize;
        for (int64_t k = g * w->gsize; k < k1; k += 64) {
            __m512i v0 = _mm512_xor_si512(_mm512_loadu_si512(w0 + k), bias);
            __m512i v1 = _mm512_xor_si512(_mm512_loadu_si512(w1 + k), bias);
            __m512i v2 = _mm512_xor_si512(_mm512_loadu_si512(w2 + k), bias);
            __m512i v3 = _mm512_xor_si512(_mm512_loadu_si512(w3 + k), bias);
            __m512i x = _mm512_loadu_si512(x0 + k);
            a00 = dpbusd(a00, v0, x);
            a10 = dpbusd(a10, v1, x);
            a20 = dpbusd(a20, v2, x);
            a30 = dpbusd(a30, v3, x);
            x = _mm512_loadu_si512(x1 + k);
            a01 = dpbusd(a01, v0, x);
            a11 = dpbusd(a11, v1, x);
            a21 = dpbusd(a21, v2, x);
            a31 = dpbusd(a31, v3, x);
            x = _mm512_loadu_si512(x2 + k);
            a02 = dpbusd(a02, v0, x);
            a12 = dpbusd(a12, v1, x);
            a22 = dpbusd(a22, v2, x);
            a32 = dpbusd(a32, v3, x);
            x = _mm512_loadu_si512(x3 + k);
            a03 = dpbusd(a03, v0, x);
            a13 = dpbusd(a13, v1, x);
            a23 = dpbusd(a23, v2, x);
            a33 = dpbusd(a33, v3, x);
            x = _mm512_loadu_si512(x4 + k);
            a04 = dpbusd(a04, v0, x);
            a14 = dpbusd(a14, v1, x);
            a24 = dpbusd(a24, v2, x);
            a34 = dpbusd(a34, v3, x);
        }
        __m128 s4;
        __m128i zb4;
        consts4(w, t, g, &s4, &zb4);
        finish4(w, a, y, ldy, t, g, 0, s4, zb4, a00, a10, a20, a30);
        finish4(w, a, y, ldy, t, g, 1, s4, zb4, a01, a11, a21, a31);
        finish4(w, a, y, ldy, t, g, 2, s4, zb4, a02, a12, a22, a32);
        finish4(w, a, y, ldy, t, g, 3, s4, zb4, a03, a13, a23, a33);
        finish4(w, a, y, ldy, t, g, 4, s4, zb4, a04, a14, a24, a34);
    }
}

/* The same for any nr x nt (up to NR x NT_INT) with in-place rows, over [k0, k1) of
 * any length: the last step masks its loads. Masked-off activation bytes are 0, so
 * the biased weights there add nothing. */
static ALWAYS_INLINE void dots_any(const tile *t, int64_t k0, int64_t k1, __m512i *acc,
                                   const int nr, const int nt)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    __m512i c[NR][NT_INT];
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nt; j++)
            c[i][j] = acc[i * NT_INT + j];
    for (int64_t k = k0; k < k1; k += 64) {
        __mmask64 m = k1 - k >= 64 ? _cvtu64_mask64(~0ull) : tail_mask64(k1 - k);
        __m512i v[NR];
        for (int i = 0; i < nr; i++)
            v[i] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, t->w[i] + k), bias);
        for (int j = 0; j < nt; j++) {
            __m512i x = _mm512_maskz_loadu_epi8(m, t->x[j] + k);
            for (int i = 0; i < nr; i++)
                c[i][j] = dpbusd(c[i][j], v[i], x);
        }
    }
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nt; j++)
            acc[i * NT_INT + j] = c[i][j];
}

/* End of group g: turns the tile's integer sums into float and folds them into y,
 * which holds the running sum between groups (exact: a float stored and reloaded).
 * The first group overwrites y, the last applies the token scale. */
static void finish_group(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, const tile *t,
                         int64_t g, const __m512i *acc)
{
    float sv[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int32_t zb[4] = {128, 128, 128, 128};
    for (int i = 0; i < t->nr; i++) {
        sv[i] = w->scales[t->srow[i] + g];
        zb[i] = 128 + (w->zeros ? w->zeros[t->srow[i] + g] : 0);
    }
    __m128 s4 = _mm_loadu_ps(sv);
    __m128i zb4 = _mm_loadu_si128((const __m128i *)zb);
    for (int j = 0; j < t->nb; j++) {
        __m128i dot;
        if (t->nr == 4) {
            dot = reduce4(acc[j], acc[NT_INT + j], acc[2 * NT_INT + j], acc[3 * NT_INT + j]);
        } else {
            int32_t d[4] = {0, 0, 0, 0};
            for (int i = 0; i < t->nr; i++)
                d[i] = _mm512_reduce_add_epi32(acc[i * NT_INT + j]);
            dot = _mm_loadu_si128((const __m128i *)d);
        }
        /* sum (w - zero) x = sum (w + 128) x - (128 + zero) * gsum, in wrapping int32
         * lanes: exact, because the final value fits. */
        __m128i gs = _mm_set1_epi32(a->gsum[t->tok[j] * a->ngroups + g]);
        __m128i v = _mm_sub_epi32(dot, _mm_mullo_epi32(zb4, gs));
        float *yo = y + (t->b + j) * ldy + t->r;
        float prev[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (g > 0)
            for (int i = 0; i < t->nr; i++)
                prev[i] = yo[i];
        __m128 yv = _mm_fmadd_ps(_mm_cvtepi32_ps(v), s4, _mm_loadu_ps(prev));
        if (g == w->ngroups - 1)
            yv = _mm_mul_ps(yv, _mm_set1_ps(a->scale[t->b + j]));
        float out[4];
        _mm_storeu_ps(out, yv);
        for (int i = 0; i < t->nr; i++)
            yo[i] = out[i];
    }
}

/* Any nr x nt tile (the GEMV's 4 x 1 and row tails) through dots_any and
 * finish_group, whose accumulators pass through memory once per group. */
static ALWAYS_INLINE void tile_any(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                   const tile *t, const int nr, const int nt)
{
    __m512i acc[NR * NT_INT];
    for (int64_t g = 0; g < w->ngroups; g++) {
        for (int i = 0; i < NR * NT_INT; i++)
            acc[i] = _mm512_setzero_si512();
        dots_any(t, g * w->gsize, (g + 1) * w->gsize, acc, nr, nt);
        finish_group(w, a, y, ldy, t, g, acc);
    }
}

/* The tile shapes, each compiled on its own so that register allocation sees one
 * loop nest at a time. */
/* The GEMV's tile, 4 rows x 1 token, written out so that only the codes go through
 * memory even with short groups: the running sum stays in a register (passing it
 * through y would chain a store-to-load per group). */
static NOINLINE void int_tile_4x1(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  const tile *t)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const int8_t *w0 = t->w[0], *w1 = t->w[1], *w2 = t->w[2], *w3 = t->w[3], *x0 = t->x[0];
    const int8_t *nx = t->next;
    const size_t rb = w->row_bytes;
    const int32_t *gsum = a->gsum + t->tok[0] * a->ngroups;
    __m128 yv = _mm_setzero_ps();
    for (int64_t g = 0; g < w->ngroups; g++) {
        __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0;
        int64_t k1 = (g + 1) * w->gsize;
        for (int64_t k = g * w->gsize; k < k1; k += 64) {
            /* A last partial step masks its loads: masked-off activation bytes are 0,
             * so the biased weights there add nothing. */
            __mmask64 m = k1 - k >= 64 ? _cvtu64_mask64(~0ull) : tail_mask64(k1 - k);
            /* The next 4 rows, at the same offset, into L2: a steady stream one tile
             * ahead. Rows of 4 kB are one page each, and left alone the hardware
             * prefetchers restart with every tile (single-thread GEMV from DRAM:
             * 0.6 of the read bandwidth without this, 0.9 with it). */
            _mm_prefetch((const char *)(nx + k), _MM_HINT_T1);
            _mm_prefetch((const char *)(nx + rb + k), _MM_HINT_T1);
            _mm_prefetch((const char *)(nx + 2 * rb + k), _MM_HINT_T1);
            _mm_prefetch((const char *)(nx + 3 * rb + k), _MM_HINT_T1);
            __m512i x = _mm512_maskz_loadu_epi8(m, x0 + k);
            c0 = dpbusd(c0, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, w0 + k), bias), x);
            c1 = dpbusd(c1, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, w1 + k), bias), x);
            c2 = dpbusd(c2, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, w2 + k), bias), x);
            c3 = dpbusd(c3, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, w3 + k), bias), x);
        }
        __m128 s4;
        __m128i zb4;
        consts4(w, t, g, &s4, &zb4);
        /* As finish4: exact integer correction, then one fused multiply-add. */
        __m128i v =
            _mm_sub_epi32(reduce4(c0, c1, c2, c3), _mm_mullo_epi32(zb4, _mm_set1_epi32(gsum[g])));
        yv = _mm_fmadd_ps(_mm_cvtepi32_ps(v), s4, yv);
    }
    _mm_storeu_ps(y + t->b * ldy + t->r, _mm_mul_ps(yv, _mm_set1_ps(a->scale[t->b])));
}

static NOINLINE void int_tile_4x5_any(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                      const tile *t)
{
    tile_any(w, a, y, ldy, t, 4, 5);
}

static NOINLINE void int_tile_1x5(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  const tile *t)
{
    tile_any(w, a, y, ldy, t, 1, 5);
}

static NOINLINE void int_tile_1x1(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  const tile *t)
{
    tile_any(w, a, y, ldy, t, 1, 1);
}

static void int_tile(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, tile *t)
{
    for (int j = 0; j < NT_INT; j++) {
        t->tok[j] = t->b + (j < t->nb ? j : t->nb - 1);
        t->x[j] = a->q + t->tok[j] * a->kpad;
    }
    if (t->nr == NR && t->nb == 1)
        int_tile_4x1(w, a, y, ldy, t);
    else if (t->nr == NR && w->gsize % 64 == 0)
        int_tile_4x5(w, a, y, ldy, t);
    else if (t->nr == NR)
        int_tile_4x5_any(w, a, y, ldy, t); /* groups with a partial last step */
    else if (t->nb == 1)
        int_tile_1x1(w, a, y, ldy, t);
    else
        int_tile_1x5(w, a, y, ldy, t);
}

/* ---- integer activations, large batches: broadcast formulation ----
 *
 * For many tokens the weights are repacked per K chunk into 16-row panels, 4 bytes
 * of K per row and step ([quad][panel][16 rows][4 bytes], biased +128), and each
 * vpdpbusd multiplies a panel register by one token's 4 activation bytes broadcast
 * from memory: a lane accumulates one row, a register one token x 16 rows. There are
 * no horizontal sums, the activations are read 4 bytes at a time from L1, and the
 * panel chunk stays in L1 while every token tile of the block passes over it. Tile:
 * BP panels (48 rows) x BT tokens = 24 accumulators. Sums of unfinished groups wait
 * in an int32 buffer between chunks (exact); finished groups go to y as in the
 * other kernels. A tile row or token tile past the end computes on padding (biased
 * zero rows, repeated tokens) and is not stored. */

/* acc += u (unsigned bytes) . 4 signed bytes at p broadcast to every lane. */
static ALWAYS_INLINE __m512i dpbusd_b(__m512i acc, __m512i u, const int8_t *p)
{
#if defined(__GNUC__) && !defined(__clang__)
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u), "m"(*(const int32_t *)p));
    return acc;
#else
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_dpbusd_epi32(acc, u, _mm512_set1_epi32(v));
#endif
}

/* Transposes 16 rows of 16 dwords: out[q] holds dword q of every row. */
static void transpose16(__m512i r[16])
{
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* u[4m + d] holds dwords d, d+4, d+8, d+12 (one per 128-bit lane) of rows 4m..4m+3. */
    for (int d = 0; d < 4; d++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[d], u[4 + d], 0x88);
        __m512i v1 = _mm512_shuffle_i32x4(u[d], u[4 + d], 0xDD);
        __m512i w0 = _mm512_shuffle_i32x4(u[8 + d], u[12 + d], 0x88);
        __m512i w1 = _mm512_shuffle_i32x4(u[8 + d], u[12 + d], 0xDD);
        r[d] = _mm512_shuffle_i32x4(v0, w0, 0x88);
        r[d + 8] = _mm512_shuffle_i32x4(v0, w0, 0xDD);
        r[d + 4] = _mm512_shuffle_i32x4(v1, w1, 0x88);
        r[d + 12] = _mm512_shuffle_i32x4(v1, w1, 0xDD);
    }
}

/* Packs rows [rb, rb + nrows) (nrows <= 16 * BP; missing rows are zero), K bytes
 * [k0, k0 + kc) (kc a multiple of 4) into pan, biased. */
static void pack_bpanel(const td_qmatrix *w, int64_t rb, int nrows, int64_t k0, int64_t kc,
                        uint8_t *pan)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (int p = 0; p < BP; p++)
        for (int64_t s = 0; s < kc; s += 64) {
            __mmask64 m = kc - s >= 64 ? _cvtu64_mask64(~0ull) : tail_mask64(kc - s);
            __m512i r[16];
            for (int l = 0; l < 16; l++) {
                int row = 16 * p + l;
                r[l] = row < nrows ? _mm512_maskz_loadu_epi8(
                                         m, w->codes + (size_t)(rb + row) * w->row_bytes + k0 + s)
                                   : _mm512_setzero_si512();
            }
            transpose16(r);
            int64_t nq = kc - s >= 64 ? 16 : (kc - s) / 4;
            for (int64_t q = 0; q < nq; q++)
                _mm512_store_si512(pan + ((s / 4 + q) * BP + p) * 64, _mm512_xor_si512(r[q], bias));
        }
}

/* The 24 accumulators over nq quads: acc[p * BT + j] for panel p, token j. */
static NOINLINE void bcast_dots(const uint8_t *pan, const int8_t *const *x, int64_t nq,
                                __m512i *acc)
{
    const int8_t *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
    const int8_t *x4 = x[4], *x5 = x[5], *x6 = x[6], *x7 = x[7];
    __m512i c00 = acc[0], c01 = acc[1], c02 = acc[2], c03 = acc[3];
    __m512i c04 = acc[4], c05 = acc[5], c06 = acc[6], c07 = acc[7];
    __m512i c10 = acc[8], c11 = acc[9], c12 = acc[10], c13 = acc[11];
    __m512i c14 = acc[12], c15 = acc[13], c16 = acc[14], c17 = acc[15];
    __m512i c20 = acc[16], c21 = acc[17], c22 = acc[18], c23 = acc[19];
    __m512i c24 = acc[20], c25 = acc[21], c26 = acc[22], c27 = acc[23];
    for (int64_t q = 0; q < nq; q++) {
        const uint8_t *pq = pan + q * BP * 64;
        __m512i w0 = _mm512_load_si512(pq), w1 = _mm512_load_si512(pq + 64);
        __m512i w2 = _mm512_load_si512(pq + 128);
        int64_t k = 4 * q;
        c00 = dpbusd_b(c00, w0, x0 + k);
        c10 = dpbusd_b(c10, w1, x0 + k);
        c20 = dpbusd_b(c20, w2, x0 + k);
        c01 = dpbusd_b(c01, w0, x1 + k);
        c11 = dpbusd_b(c11, w1, x1 + k);
        c21 = dpbusd_b(c21, w2, x1 + k);
        c02 = dpbusd_b(c02, w0, x2 + k);
        c12 = dpbusd_b(c12, w1, x2 + k);
        c22 = dpbusd_b(c22, w2, x2 + k);
        c03 = dpbusd_b(c03, w0, x3 + k);
        c13 = dpbusd_b(c13, w1, x3 + k);
        c23 = dpbusd_b(c23, w2, x3 + k);
        c04 = dpbusd_b(c04, w0, x4 + k);
        c14 = dpbusd_b(c14, w1, x4 + k);
        c24 = dpbusd_b(c24, w2, x4 + k);
        c05 = dpbusd_b(c05, w0, x5 + k);
        c15 = dpbusd_b(c15, w1, x5 + k);
        c25 = dpbusd_b(c25, w2, x5 + k);
        c06 = dpbusd_b(c06, w0, x6 + k);
        c16 = dpbusd_b(c16, w1, x6 + k);
        c26 = dpbusd_b(c26, w2, x6 + k);
        c07 = dpbusd_b(c07, w0, x7 + k);
        c17 = dpbusd_b(c17, w1, x7 + k);
        c27 = dpbusd_b(c27, w2, x7 + k);
    }
    acc[0] = c00, acc[1] = c01, acc[2] = c02, acc[3] = c03;
    acc[4] = c04, acc[5] = c05, acc[6] = c06, acc[7] = c07;
    acc[8] = c10, acc[9] = c11, acc[10] = c12, acc[11] = c13;
    acc[12] = c14, acc[13] = c15, acc[14] = c16, acc[15] = c17;
    acc[16] = c20, acc[17] = c21, acc[18] = c22, acc[19] = c23;
    acc[20] = c24, acc[21] = c25, acc[22] = c26, acc[23] = c27;
}

/* Group g finished for the tile at (rb, b): folds the sums into y. sv/zv: per-row
 * scale and 128 + zero of the group, 16 rows per vector. */
static void bcast_finish(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t rb,
                         int nrows, int64_t b, int nb, int64_t g, const __m512 *sv,
                         const __m512i *zv, const __m512i *acc)
{
    for (int j = 0; j < nb; j++) {
        __m512i gs = _mm512_set1_epi32(a->gsum[(b + j) * a->ngroups + g]);
        __m512 ts = _mm512_set1_ps(a->scale[b + j]);
        float *yo = y + (b + j) * ldy + rb;
        for (int p = 0; p < BP && 16 * p < nrows; p++) {
            int left = nrows - 16 * p;
            __mmask16 m = _cvtu32_mask16(left >= 16 ? 0xffffu : (1u << left) - 1u);
            /* sum (w - zero) x = sum (w + 128) x - (128 + zero) * gsum: exact. */
            __m512i v = _mm512_sub_epi32(acc[p * BT + j], _mm512_mullo_epi32(zv[p], gs));
            __m512 prev = g > 0 ? _mm512_maskz_loadu_ps(m, yo + 16 * p) : _mm512_setzero_ps();
            __m512 yv = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), sv[p], prev);
            if (g == w->ngroups - 1)
                yv = _mm512_mul_ps(yv, ts);
            _mm512_mask_storeu_ps(yo + 16 * p, m, yv);
        }
    }
}

static void bcast_gemm(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                       int64_t r1)
{
    uint8_t pan[BKC / 4 * BP * 64] __attribute__((aligned(64)));
    __m512i cbuf[BTB / BT][BP * BT];
    for (int64_t b0 = 0; b0 < a->batch; b0 += BTB) {
        int64_t b1 = b0 + BTB < a->batch ? b0 + BTB : a->batch;
        for (int64_t rb = r0; rb < r1; rb += 16 * BP) {
            int nrows = r1 - rb < 16 * BP ? (int)(r1 - rb) : 16 * BP;
            for (int64_t g = 0; g < w->ngroups; g++) {
                float sf[16 * BP];
                int32_t zf[16 * BP];
                for (int i = 0; i < 16 * BP; i++) {
                    int64_t row = rb + (i < nrows ? i : nrows - 1);
                    int64_t idx = row / w->tile_rows * w->ngroups + g;
                    sf[i] = w->scales[idx];
                    zf[i] = 128 + (w->zeros ? w->zeros[idx] : 0);
                }
                __m512 sv[BP];
                __m512i zv[BP];
                for (int p = 0; p < BP; p++) {
                    sv[p] = _mm512_loadu_ps(sf + 16 * p);
                    zv[p] = _mm512_loadu_si512(zf + 16 * p);
                }
                int64_t gend = (g + 1) * w->gsize;
                for (int64_t c = g * w->gsize; c < gend; c += BKC) {
                    int64_t kc = gend - c < BKC ? gend - c : BKC;
                    bool first = c == g * w->gsize, last = c + kc == gend;
                    pack_bpanel(w, rb, nrows, c, kc, pan);
                    /* While the token tiles run, fetch the next chunk to be packed
                     * into L2: the next K chunk of these rows, or the next rows. */
                    int64_t nrb = c + kc < w->kpad ? rb : (rb + 16 * BP < r1 ? rb + 16 * BP : r0);
                    int64_t nk = c + kc < w->kpad ? c + kc : 0;
                    int64_t nrr = r1 - nrb < 16 * BP ? r1 - nrb : 16 * BP;
                    int64_t nseg = ((w->kpad - nk < BKC ? w->kpad - nk : BKC) + 63) / 64;
                    int64_t lines = nrr * nseg, ntile = (b1 - b0 + BT - 1) / BT;
                    int64_t per = (lines + ntile - 1) / ntile, line = 0;
                    for (int64_t b = b0; b < b1; b += BT) {
                        for (int64_t e = line + per < lines ? line + per : lines; line < e; line++)
                            _mm_prefetch((const char *)(w->codes +
                                                        (size_t)(nrb + line / nseg) * w->row_bytes +
                                                        nk + line % nseg * 64),
                                         _MM_HINT_T1);
                        int nb = b1 - b < BT ? (int)(b1 - b) : BT;
                        const int8_t *x[BT];
                        for (int j = 0; j < BT; j++)
                            x[j] = a->q + (b + (j < nb ? j : nb - 1)) * a->kpad + c;
                        __m512i *acc = cbuf[(b - b0) / BT];
                        if (first)
                            for (int i = 0; i < BP * BT; i++)
                                acc[i] = _mm512_setzero_si512();
                        bcast_dots(pan, x, kc / 4, acc);
                        if (last)
                            bcast_finish(w, a, y, ldy, rb, nrows, b, nb, g, sv, zv, acc);
                    }
                }
            }
        }
    }
}

/* Loop order for the dot-product tiles: token block (activations in L2) > tile row
 * (NR weight rows, in L1) > token tile over the whole K; while one tile row is in
 * use the next is fetched into L2, a slice per token tile. Batches of BCAST_MIN
 * tokens or more (with groups in whole 4-byte quads) take the broadcast kernel. */
void td_gemm_int8_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                         int64_t r1)
{
    if (a->batch >= BCAST_MIN && w->gsize % 4 == 0) {
        bcast_gemm(w, a, y, ldy, r0, r1);
        return;
    }
    int64_t tb = token_block(a->kpad, 1, NT_INT, a->batch);
    for (int64_t b0 = 0; b0 < a->batch; b0 += tb) {
        int64_t b1 = b0 + tb < a->batch ? b0 + tb : a->batch;
        for (int64_t r = r0; r < r1;) {
            tile t;
            t.r = r;
            t.nr = r1 - r >= NR ? NR : 1;
            for (int i = 0; i < t.nr; i++) {
                t.w[i] = (const int8_t *)(w->codes + (size_t)(r + i) * w->row_bytes);
                t.srow[i] = (r + i) / w->tile_rows * w->ngroups;
            }
            int64_t nxt = r + t.nr + NR <= r1 ? NR : 0;
            t.next = nxt ? t.w[0] + NR * w->row_bytes : t.w[0];
            int64_t lines = nxt * (w->kpad / 64), ntiles = (b1 - b0 + NT_INT - 1) / NT_INT;
            int64_t per = (lines + ntiles - 1) / ntiles, line = 0;
            for (int64_t b = b0; b < b1; b += NT_INT) {
                for (int64_t e = line + per < lines ? line + per : lines; line < e; line++)
                    _mm_prefetch((const char *)(w->codes +
                                                (size_t)(r + t.nr + line % NR) * w->row_bytes +
                                                line / NR * 64),
                                 _MM_HINT_T1);
                t.b = b;
                t.nb = b1 - b >= NT_INT ? NT_INT : (int)(b1 - b);
                int_tile(w, a, y, ldy, &t);
            }
            r += t.nr;
        }
    }
}

/* ---- f32 activations ---- */

/* Lane sums of four vectors: {sum a, sum b, sum c, sum d}. */
static ALWAYS_INLINE __m128 reduce4_ps(__m512 a, __m512 b, __m512 c, __m512 d)
{
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512 v = _mm512_add_ps(
        _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))),
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))));
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

static ALWAYS_INLINE __m512 widen16(const int8_t *p, __m512i zero)
{
    __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(v, zero));
}

static ALWAYS_INLINE __m512 widen16_masked(const int8_t *p, __mmask16 m, __m512i zero)
{
    /* Masked-off codes read as 0 and x as 0, so (0 - zero) * 0 adds nothing. */
    __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p));
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(v, zero));
}

/* nr rows x nt tokens over all of K; only nb <= nt tokens are real (the others
 * repeat the last one and are not stored). Each group's lane sums are reduced and
 * scaled into y, which holds the running sum between groups. */
static ALWAYS_INLINE void f32_tile(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                   int64_t r, int64_t b, int nb, const int8_t *nx, const int nr,
                                   const int nt, const int asym)
{
    const int8_t *wp[NR];
    const float *xp[NT_F32];
    int64_t srow[NR];
    for (int i = 0; i < nr; i++) {
        wp[i] = (const int8_t *)(w->codes + (size_t)(r + i) * w->row_bytes);
        srow[i] = (r + i) / w->tile_rows * w->ngroups;
    }
    for (int j = 0; j < nt; j++)
        xp[j] = a->x + (b + (j < nb ? j : nb - 1)) * a->kpad;
    __m128 ys[NT_F32];
    for (int j = 0; j < nt; j++)
        ys[j] = _mm_setzero_ps();
    for (int64_t g = 0; g < w->ngroups; g++) {
        __m512 acc[NR][NT_F32];
        __m512i zv[NR];
        for (int i = 0; i < nr; i++) {
            zv[i] = _mm512_set1_epi32(w->zeros ? w->zeros[srow[i] + g] : 0);
            for (int j = 0; j < nt; j++)
                acc[i][j] = _mm512_setzero_ps();
        }
        int64_t k = g * w->gsize, k1 = k + w->gsize;
        if (nt == 1) {
            /* The GEMV: two sets of sums halve the FMA dependency chains. */
            __m512 acc2[NR];
            for (int i = 0; i < nr; i++)
                acc2[i] = _mm512_setzero_ps();
            for (; k + 32 <= k1; k += 32) {
                /* The next tile row into L2, as in int_tile_4x1. */
                for (int i = 0; i < nr; i++)
                    _mm_prefetch((const char *)(nx + i * w->row_bytes + k), _MM_HINT_T1);
                __m512 x0 = _mm512_loadu_ps(xp[0] + k), x1 = _mm512_loadu_ps(xp[0] + k + 16);
                for (int i = 0; i < nr; i++) {
                    __m512 w0 = asym ? widen16(wp[i] + k, zv[i])
                                     : _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                           _mm_loadu_si128((const __m128i *)(wp[i] + k))));
                    __m512 w1 = asym ? widen16(wp[i] + k + 16, zv[i])
                                     : _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                           _mm_loadu_si128((const __m128i *)(wp[i] + k + 16))));
                    acc[i][0] = _mm512_fmadd_ps(w0, x0, acc[i][0]);
                    acc2[i] = _mm512_fmadd_ps(w1, x1, acc2[i]);
                }
            }
            for (int i = 0; i < nr; i++)
                acc[i][0] = _mm512_add_ps(acc[i][0], acc2[i]);
        }
        for (; k + 16 <= k1; k += 16) {
            __m512 wv[NR];
            for (int i = 0; i < nr; i++)
                wv[i] = asym ? widen16(wp[i] + k, zv[i])
                             : _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                   _mm_loadu_si128((const __m128i *)(wp[i] + k))));
            for (int j = 0; j < nt; j++) {
                __m512 xv = _mm512_loadu_ps(xp[j] + k);
                for (int i = 0; i < nr; i++)
                    acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
            }
        }
        if (k < k1) {
            __mmask16 m = _cvtu32_mask16((1u << (k1 - k)) - 1u);
            __m512 wv[NR];
            for (int i = 0; i < nr; i++)
                wv[i] = widen16_masked(wp[i] + k, m, zv[i]);
            for (int j = 0; j < nt; j++) {
                __m512 xv = _mm512_maskz_loadu_ps(m, xp[j] + k);
                for (int i = 0; i < nr; i++)
                    acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
            }
        }
        if (nr == 4) {
            /* Four rows at once, their running sums in registers across groups. */
            __m128 s4 = _mm_setr_ps(w->scales[srow[0] + g], w->scales[srow[1] + g],
                                    w->scales[srow[2] + g], w->scales[srow[3] + g]);
            for (int j = 0; j < nt; j++)
                ys[j] =
                    _mm_fmadd_ps(reduce4_ps(acc[0][j], acc[1][j], acc[2][j], acc[3][j]), s4, ys[j]);
            continue;
        }
        for (int j = 0; j < nt && j < nb; j++)
            for (int i = 0; i < nr; i++) {
                float *yo = y + (b + j) * ldy + r + i;
                float sum = _mm512_reduce_add_ps(acc[i][j]) * w->scales[srow[i] + g];
                *yo = g > 0 ? *yo + sum : sum;
            }
    }
    if (nr == 4)
        for (int j = 0; j < nt && j < nb; j++)
            _mm_storeu_ps(y + (b + j) * ldy + r, ys[j]);
}

/* The tile shapes, each compiled on its own so that register allocation sees one
 * loop nest at a time; the GEMV's has a symmetric variant that skips the zero point
 * (one op in four of its inner loop, which must keep up with DRAM). */
static NOINLINE void f32_tile_4x3(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb, const int8_t *nx)
{
    f32_tile(w, a, y, ldy, r, b, nb, nx, 4, 3, 1);
}

static NOINLINE void f32_tile_4x1(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb, const int8_t *nx)
{
    if (w->zeros)
        f32_tile(w, a, y, ldy, r, b, nb, nx, 4, 1, 1);
    else
        f32_tile(w, a, y, ldy, r, b, nb, nx, 4, 1, 0);
}

static NOINLINE void f32_tile_1x3(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb, const int8_t *nx)
{
    f32_tile(w, a, y, ldy, r, b, nb, nx, 1, 3, 1);
}

static NOINLINE void f32_tile_1x1(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb, const int8_t *nx)
{
    f32_tile(w, a, y, ldy, r, b, nb, nx, 1, 1, 1);
}

void td_gemm_int8_f32_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1)
{
    int64_t tb = token_block(a->kpad, 4, NT_F32, a->batch);
    for (int64_t b0 = 0; b0 < a->batch; b0 += tb) {
        int64_t b1 = b0 + tb < a->batch ? b0 + tb : a->batch;
        for (int64_t r = r0; r < r1;) {
            int nr = r1 - r >= NR ? NR : 1;
            /* The next tile row's first row (this one's if none), for prefetching. */
            const int8_t *nx =
                (const int8_t *)(w->codes +
                                 (size_t)(r + (r + nr + NR <= r1 ? nr : 0)) * w->row_bytes);
            for (int64_t b = b0; b < b1; b += NT_F32) {
                int nb = b1 - b >= NT_F32 ? NT_F32 : (int)(b1 - b);
                if (nr == NR)
                    (nb == 1 ? f32_tile_4x1 : f32_tile_4x3)(w, a, y, ldy, r, b, nb, nx);
                else
                    (nb == 1 ? f32_tile_1x1 : f32_tile_1x3)(w, a, y, ldy, r, b, nb, nx);
            }
            r += nr;
        }
    }
}
