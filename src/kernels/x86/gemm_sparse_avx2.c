/* AVX2 + FMA kernels for sparse weights: N:M int8 and group-sparse int4, with f32
 * or int8/int6 activations.
 *
 * N:M: a step takes up to 8 kept values. Their packed positions (at most 32 bits)
 * are read as one scalar word, broadcast and split with vpsrlvd; adding the lane's
 * block base ((lane / N) * M) gives positions inside the step's activation window.
 *   f32 activations: vpermps from a window of up to 32 floats (4 registers, picked
 *   with blends on bits 3 and 4 of the position), codes widened to f32, FMA.
 *   int8 activations: AVX2 has no byte permute across lanes, so the window (up to
 *   64 bytes) is read as dwords: vpermd fetches the dword holding each byte, a
 *   variable left shift and an arithmetic right shift by 24 extract the signed
 *   byte, and vpmulld multiplies it with the sign-extended code, exact in int32.
 * Group-sparse int4: each kept group's nibble pairs meet two contiguous runs of
 * activations (low nibbles: elements 0 .. gsize/2-1, high nibbles the rest);
 * vpmaddubsw takes the unsigned biased codes u = q + 8 times the signed activations
 * (|pair sum| <= 2 * 15 * 127, no saturation), and acc - (8 + zero) * gsum undoes
 * the bias.
 *
 * Integer activations follow the exact semantics of gemm_ref_sparse.c (int32 per
 * scale group, y = fmaf((float)acc, scale, y) in ascending group order, then
 * y * act_scale), so they match the reference bit for bit. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels_internal.h"
#include "sparse/sparse_kernels.h"

typedef struct nm_plan {
    int n, m, ib;
    int chunk;  /* kept values per step: <= 8, a multiple of n where possible */
    int wregs;  /* registers in the activation window: 1, 2 or 4 */
    int phases; /* distinct (step start % n) values that occur */
} nm_plan;

/* Same planning as the AVX-512 file: the widest window a step can touch (a group
 * that starts mid-block adds one block) must fit in wmax elements. Steps of whole
 * blocks start at a block boundary unless the group does; N > 8 cannot fit whole
 * blocks in 8 lanes, and then steps start at any phase. */
static void nm_plan_init(nm_plan *p, const td_qmatrix *w, int lanes, int wmax, int elem_per_reg)
{
    p->n = w->spec.nm_n;
    p->m = w->spec.nm_m;
    p->ib = w->idx_bits;
    p->phases = w->gsize % p->n == 0 && p->n <= lanes ? 1 : p->n;
    int maxphase = p->phases - 1;
    int step = p->n <= lanes ? p->n : 1;
    p->chunk = step;
    for (int c = lanes / step * step; c >= step; c -= step) {
        if (((maxphase + c - 1) / p->n + 1) * p->m <= wmax) {
            p->chunk = c;
            break;
        }
    }
    int span = ((maxphase + p->chunk - 1) / p->n + 1) * p->m;
    p->wregs = span <= elem_per_reg ? 1 : span <= 2 * elem_per_reg ? 2 : 4;
}

/* Bits [bit, bit + 32) of a packed index row (row_bytes long), without reading past
 * the row. */
static inline uint32_t read_bits32(const uint8_t *row, size_t row_bytes, int64_t bit)
{
    size_t byte = (size_t)(bit >> 3);
    uint64_t v = 0;
    if (byte + 8 <= row_bytes)
        memcpy(&v, row + byte, 8);
    else
        memcpy(&v, row + byte, row_bytes - byte);
    return (uint32_t)(v >> (bit & 7));
}

/* Positions (relative to the window) of kept values j .. j+7 of the row. */
static inline __m256i nm_positions(const uint8_t *irow, size_t row_bytes, int64_t j, int ib,
                                   __m256i shifts, __m256i fmask, const int32_t *base)
{
    uint32_t bits = read_bits32(irow, row_bytes, j * ib);
    __m256i f = _mm256_srlv_epi32(_mm256_set1_epi32((int)bits), shifts);
    return _mm256_add_epi32(_mm256_and_si256(f, fmask), _mm256_loadu_si256((const __m256i *)base));
}

static void nm_constants(const nm_plan *p, __m256i *shifts, __m256i *fmask, int32_t *base)
{
    *shifts = _mm256_setr_epi32(0, p->ib, 2 * p->ib, 3 * p->ib, 4 * p->ib, 5 * p->ib, 6 * p->ib,
                                7 * p->ib);
    *fmask = _mm256_set1_epi32((1 << p->ib) - 1);
    for (int ph = 0; ph < p->phases; ph++)
        for (int l = 0; l < 8; l++)
            base[8 * ph + l] = (ph + l) / p->n * p->m;
}

/* The first len (< 8) codes at src, zero-extended into 8 bytes. */
static inline __m128i load_codes_partial(const int8_t *src, int len)
{
    int8_t tmp[16] = {0};
    memcpy(tmp, src, (size_t)len);
    return _mm_loadu_si128((const __m128i *)tmp);
}

static inline __m128i load_codes8(const int8_t *src, int len)
{
    return len == 8 ? _mm_loadl_epi64((const __m128i *)src) : load_codes_partial(src, len);
}

/* Lanes >= len are cleared (weights of a partial step). */
static inline __m256i lane_mask(int len)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(len), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* ---------------------------------------------------------------------------
 * N:M int8 weights, int8/int6 activations */

static inline __m256i nm8_gather(const int8_t *xr, int64_t rem, __m256i pos, int wregs)
{
    __m256i x0, x1;
    if (rem >= 32 * wregs) {
        x0 = _mm256_loadu_si256((const __m256i *)xr);
        x1 = wregs > 1 ? _mm256_loadu_si256((const __m256i *)(xr + 32)) : x0;
    } else {
        int8_t tmp[64] = {0};
        memcpy(tmp, xr, (size_t)(rem < 64 ? rem : 64));
        x0 = _mm256_loadu_si256((const __m256i *)tmp);
        x1 = _mm256_loadu_si256((const __m256i *)(tmp + 32));
    }
    __m256i d = _mm256_srli_epi32(pos, 2);
    __m256i v = _mm256_permutevar8x32_epi32(x0, d);
    if (wregs > 1) {
        __m256i v1 = _mm256_permutevar8x32_epi32(x1, d);
        /* bit 3 of the dword index (bit 5 of pos) picks the second register */
        v = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(v), _mm256_castsi256_ps(v1),
                                                 _mm256_castsi256_ps(_mm256_slli_epi32(pos, 26))));
    }
    /* byte (pos & 3) of the dword to the top, then sign-extend down */
    __m256i sh = _mm256_slli_epi32(_mm256_andnot_si256(pos, _mm256_set1_epi32(3)), 3);
    return _mm256_srai_epi32(_mm256_sllv_epi32(v, sh), 24);
}

static inline int32_t hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

typedef struct nm_consts {
    nm_plan p;
    __m256i shifts, fmask;
    const int32_t *base;
} nm_consts;

#define TD_AI static inline __attribute__((always_inline))

/* One step of len kept values from j (window at ws, lane bases at base). Lanes
 * past len have code 0, so only the activation sum (ASYM) needs them cleared. */
TD_AI void nm8_step(const nm_consts *c, const int8_t *codes, const uint8_t *irow,
                    size_t idx_row_bytes, int64_t j, int len, int64_t ws, const int32_t *base,
                    const int8_t *const *xq, int64_t kpad, __m256i *acc, __m256i *accx,
                    const int NT, const bool ASYM)
{
    __m256i wi = _mm256_cvtepi8_epi32(load_codes8(codes + j, len));
    __m256i pos = nm_positions(irow, idx_row_bytes, j, c->p.ib, c->shifts, c->fmask, base);
    for (int t = 0; t < NT; t++) {
        __m256i x = nm8_gather(xq[t] + ws, kpad - ws, pos, c->p.wregs);
        acc[t] = _mm256_add_epi32(acc[t], _mm256_mullo_epi32(wi, x));
        if (ASYM)
            accx[t] = _mm256_add_epi32(accx[t], len < 8 ? _mm256_and_si256(x, lane_mask(len)) : x);
    }
}

TD_AI void nm8_a8_row(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r,
                      int64_t b0, const int NT, const bool ASYM, const nm_consts *c)
{
    const int n = c->p.n, m = c->p.m, chunk = c->p.chunk;
    const int8_t *codes = (const int8_t *)(w->codes + (size_t)r * w->row_bytes);
    const uint8_t *irow = w->idx + (size_t)r * w->idx_row_bytes;
    const int8_t *xq[4];
    float yv[4];
    for (int t = 0; t < NT; t++) {
        xq[t] = a->q + (b0 + t) * a->kpad;
        yv[t] = 0.0f;
    }
    /* Steps of whole blocks keep the group's phase and advance the window by a
     * constant; otherwise (N > 8) each step finds its own. */
    const bool whole = chunk % n == 0;
    const int64_t wstep = chunk / n * m;
    for (int64_t g = 0; g < w->ngroups; g++) {
        __m256i acc[4], accx[4];
        for (int t = 0; t < NT; t++)
            acc[t] = accx[t] = _mm256_setzero_si256();
        int64_t j = g * w->gsize, jend = j + w->gsize, ws = j / n * m;
        const int32_t *gbase = c->base + 8 * (j % n);
        if (whole) {
            for (; j + chunk <= jend; j += chunk, ws += wstep)
                nm8_step(c, codes, irow, w->idx_row_bytes, j, chunk, ws, gbase, xq, a->kpad, acc,
                         accx, NT, ASYM);
        }
        for (; j < jend; j += chunk) {
            int len = jend - j < chunk ? (int)(jend - j) : chunk;
            nm8_step(c, codes, irow, w->idx_row_bytes, j, len, j / n * m, c->base + 8 * (j % n), xq,
                     a->kpad, acc, accx, NT, ASYM);
        }
        float s = td_q_scale(w, r, g);
        uint32_t z = (uint32_t)td_q_zero(w, r, g);
        for (int t = 0; t < NT; t++) {
            uint32_t v = (uint32_t)hsum_epi32(acc[t]);
            if (ASYM)
                v -= z * (uint32_t)hsum_epi32(accx[t]);
            yv[t] = fmaf((float)(int32_t)v, s, yv[t]);
        }
    }
    for (int t = 0; t < NT; t++)
        y[(b0 + t) * ldy + r] = yv[t] * a->scale[b0 + t];
}

TD_AI void nm8_a8_rows(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                       int64_t r1, const nm_consts *c, const bool ASYM)
{
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = 0;
        for (; b + 4 <= a->batch; b += 4)
            nm8_a8_row(w, a, y, ldy, r, b, 4, ASYM, c);
        for (; b < a->batch; b++)
            nm8_a8_row(w, a, y, ldy, r, b, 1, ASYM, c);
    }
}

void td_gemm_nm_int8_a8_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1)
{
    nm_consts c;
    nm_plan_init(&c.p, w, 8, 64, 32);
    int32_t base[16 * 8];
    nm_constants(&c.p, &c.shifts, &c.fmask, base);
    c.base = base;
    if (w->zeros)
        nm8_a8_rows(w, a, y, ldy, r0, r1, &c, true);
    else
        nm8_a8_rows(w, a, y, ldy, r0, r1, &c, false);
}

/* ---------------------------------------------------------------------------
 * N:M int8 weights, f32 activations */

static inline __m256 blend_bit(__m256 a, __m256 b, __m256i pos, int bit)
{
    return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_slli_epi32(pos, 31 - bit)));
}

static inline __m256 nmf_gather(const float *xr, int64_t rem, __m256i pos, int wregs)
{
    __m256 x[4];
    if (rem >= 8 * wregs) {
        x[0] = _mm256_loadu_ps(xr);
        x[1] = wregs > 1 ? _mm256_loadu_ps(xr + 8) : x[0];
        x[2] = wregs > 2 ? _mm256_loadu_ps(xr + 16) : x[0];
        x[3] = wregs > 2 ? _mm256_loadu_ps(xr + 24) : x[0];
    } else {
        float tmp[32] = {0};
        memcpy(tmp, xr, (size_t)(rem < 32 ? rem : 32) * sizeof(float));
        for (int i = 0; i < 4; i++)
            x[i] = _mm256_loadu_ps(tmp + 8 * i);
    }
    __m256 v = _mm256_permutevar8x32_ps(x[0], pos);
    if (wregs == 1)
        return v;
    v = blend_bit(v, _mm256_permutevar8x32_ps(x[1], pos), pos, 3);
    if (wregs == 2)
        return v;
    __m256 v2 =
        blend_bit(_mm256_permutevar8x32_ps(x[2], pos), _mm256_permutevar8x32_ps(x[3], pos), pos, 3);
    return blend_bit(v, v2, pos, 4);
}

static inline __attribute__((always_inline)) void nmf_row(const td_qmatrix *w, const td_act *a,
                                                          float *y, int64_t ldy, int64_t r,
                                                          int64_t b0, const int NT,
                                                          const nm_consts *c)
{
    const int n = c->p.n, m = c->p.m, ib = c->p.ib, chunk = c->p.chunk, wregs = c->p.wregs;
    const int8_t *codes = (const int8_t *)(w->codes + (size_t)r * w->row_bytes);
    const uint8_t *irow = w->idx + (size_t)r * w->idx_row_bytes;
    const float *xr[8];
    __m256 yv[8];
    for (int t = 0; t < NT; t++) {
        xr[t] = a->x + (b0 + t) * a->kpad;
        yv[t] = _mm256_setzero_ps();
    }
    const bool whole = chunk % n == 0;
    const int64_t wstep = chunk / n * m;
    for (int64_t g = 0; g < w->ngroups; g++) {
        __m256 acc[8];
        for (int t = 0; t < NT; t++)
            acc[t] = _mm256_setzero_ps();
        __m256i zv = _mm256_set1_epi32(td_q_zero(w, r, g));
        int64_t j = g * w->gsize, jend = j + w->gsize, ws = j / n * m;
        const int32_t *gbase = c->base + 8 * (j % n);
        for (; j < jend; j += chunk, ws += wstep) {
            int len = jend - j < chunk ? (int)(jend - j) : chunk;
            __m256i wi = _mm256_cvtepi8_epi32(load_codes8(codes + j, len));
            wi = _mm256_sub_epi32(wi, zv);
            if (len < chunk || len < 8) /* clear lanes past the step */
                wi = _mm256_and_si256(wi, lane_mask(len));
            __m256 wf = _mm256_cvtepi32_ps(wi);
            if (!whole) { /* N > 8: every step has its own phase */
                ws = j / n * m;
                gbase = c->base + 8 * (j % n);
            }
            __m256i pos = nm_positions(irow, w->idx_row_bytes, j, ib, c->shifts, c->fmask, gbase);
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++)
                acc[t] =
                    _mm256_fmadd_ps(wf, nmf_gather(xr[t] + ws, a->kpad - ws, pos, wregs), acc[t]);
        }
        __m256 s = _mm256_set1_ps(td_q_scale(w, r, g));
        for (int t = 0; t < NT; t++)
            yv[t] = _mm256_fmadd_ps(acc[t], s, yv[t]);
    }
    for (int t = 0; t < NT; t++)
        y[(b0 + t) * ldy + r] = hsum_ps(yv[t]);
}

void td_gemm_nm_int8_f32_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                              int64_t r0, int64_t r1)
{
    nm_consts c;
    nm_plan_init(&c.p, w, 8, 32, 8);
    int32_t base[16 * 8];
    nm_constants(&c.p, &c.shifts, &c.fmask, base);
    c.base = base;
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = 0;
        for (; b + 4 <= a->batch; b += 4)
            nmf_row(w, a, y, ldy, r, b, 4, &c);
        for (; b < a->batch; b++)
            nmf_row(w, a, y, ldy, r, b, 1, &c);
    }
}

/* ---------------------------------------------------------------------------
 * Group-sparse int4 */

/* int32 sum of u * x over one kept group (u = biased nibble codes). */
static inline __m256i gs4_group_dot(const uint8_t *c, const int8_t *x, int64_t gsize)
{
    const __m256i lo4 = _mm256_set1_epi8(0x0F);
    const __m256i ones = _mm256_set1_epi16(1);
    int64_t h = gsize / 2, i = 0;
    __m256i acc = _mm256_setzero_si256();
    for (; i + 32 <= h; i += 32) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(c + i));
        __m256i ulo = _mm256_and_si256(u, lo4);
        __m256i uhi = _mm256_and_si256(_mm256_srli_epi16(u, 4), lo4);
        __m256i p0 = _mm256_maddubs_epi16(ulo, _mm256_loadu_si256((const __m256i *)(x + i)));
        __m256i p1 = _mm256_maddubs_epi16(uhi, _mm256_loadu_si256((const __m256i *)(x + h + i)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_add_epi16(p0, p1), ones));
    }
    if (i < h) { /* h % 32 == 16: one half-width step, both halves in one register */
        __m128i u = _mm_loadu_si128((const __m128i *)(c + i));
        __m128i l4 = _mm_set1_epi8(0x0F);
        __m256i uu =
            _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(u, 4), l4), _mm_and_si128(u, l4));
        __m256i xx = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(x + h + i)),
                                      _mm_loadu_si128((const __m128i *)(x + i)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(uu, xx), ones));
    }
    return acc;
}

static inline __attribute__((always_inline)) void gs4_a8_row(const td_qmatrix *w, const td_act *a,
                                                             float *y, int64_t ldy, int64_t r,
                                                             int64_t b0, const int NT)
{
    float yv[8];
    for (int t = 0; t < NT; t++)
        yv[t] = 0.0f;
    for (int64_t i = w->gs_row_ptr[r]; i < w->gs_row_ptr[r + 1]; i++) {
        const uint8_t *c = w->codes + (size_t)i * w->group_bytes;
        int64_t g = w->gs_group[i];
        uint32_t zb = 8u + (uint32_t)(w->zeros ? w->zeros[i] : 0);
        float s = w->scales[i];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            const int8_t *x = a->q + (b0 + t) * a->kpad + g * w->gsize;
            uint32_t v = (uint32_t)hsum_epi32(gs4_group_dot(c, x, w->gsize)) -
                         zb * (uint32_t)a->gsum[(b0 + t) * a->ngroups + g];
            yv[t] = fmaf((float)(int32_t)v, s, yv[t]);
        }
    }
    for (int t = 0; t < NT; t++)
        y[(b0 + t) * ldy + r] = yv[t] * a->scale[b0 + t];
}

void td_gemm_gs_int4_a8_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = 0;
        for (; b + 4 <= a->batch; b += 4)
            gs4_a8_row(w, a, y, ldy, r, b, 4);
        for (; b < a->batch; b++)
            gs4_a8_row(w, a, y, ldy, r, b, 1);
    }
}

static inline __attribute__((always_inline)) void gs4_f32_row(const td_qmatrix *w, const td_act *a,
                                                              float *y, int64_t ldy, int64_t r,
                                                              int64_t b0, const int NT)
{
    const __m256i lo4 = _mm256_set1_epi32(0x0F);
    __m256 yv[8];
    for (int t = 0; t < NT; t++)
        yv[t] = _mm256_setzero_ps();
    int64_t h = w->gsize / 2;
    for (int64_t i = w->gs_row_ptr[r]; i < w->gs_row_ptr[r + 1]; i++) {
        const uint8_t *c = w->codes + (size_t)i * w->group_bytes;
        int64_t k0 = (int64_t)w->gs_group[i] * w->gsize;
        __m256i zb = _mm256_set1_epi32(8 + (w->zeros ? w->zeros[i] : 0));
        __m256 acc[8];
        for (int t = 0; t < NT; t++)
            acc[t] = _mm256_setzero_ps();
        for (int64_t e = 0; e < h; e += 8) { /* gsize % 32 == 0: h % 8 == 0 */
            __m256i u = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(c + e)));
            __m256 wlo = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(u, lo4), zb));
            __m256 whi = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(u, 4), zb));
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) {
                const float *x = a->x + (b0 + t) * a->kpad + k0 + e;
                acc[t] = _mm256_fmadd_ps(wlo, _mm256_loadu_ps(x), acc[t]);
                acc[t] = _mm256_fmadd_ps(whi, _mm256_loadu_ps(x + h), acc[t]);
            }
        }
        __m256 s = _mm256_set1_ps(w->scales[i]);
        for (int t = 0; t < NT; t++)
            yv[t] = _mm256_fmadd_ps(acc[t], s, yv[t]);
    }
    for (int t = 0; t < NT; t++)
        y[(b0 + t) * ldy + r] = hsum_ps(yv[t]);
}

void td_gemm_gs_int4_f32_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                              int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = 0;
        for (; b + 4 <= a->batch; b += 4)
            gs4_f32_row(w, a, y, ldy, r, b, 4);
        for (; b < a->batch; b++)
            gs4_f32_row(w, a, y, ldy, r, b, 1);
    }
}
