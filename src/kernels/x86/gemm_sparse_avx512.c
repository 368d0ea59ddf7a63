/* AVX-512 (+VNNI, VBMI) kernels for sparse weights: N:M int8 and group-sparse int4,
 * with f32 or int8/int6 activations.
 *
 * N:M, int8 activations. A step takes up to 64 kept values of a row:
 *   1. their packed positions become 64 bytes: vpermb hands each qword the bytes
 *      holding its 8 fields (or, for 1- and 2-bit fields, two qword broadcasts,
 *      which are plain loads), vpmultishiftqb pulls each byte's field into place,
 *      and one AND + ADD (a single ternary OR when M is a power of two) adds the
 *      lane's block base (lane / N) * M: positions inside the step's window;
 *   2. the activation window (at most 256 bytes) is gathered with vpermb /
 *      vpermt2b; 256-byte windows use two merge-masked vpermi2b over two 128-byte
 *      halves when the step splits into whole blocks (else two vpermt2b + blend);
 *   3. vpdpbusd multiplies. It wants unsigned * signed bytes, so the activations
 *      carry +128 (XOR 0x80; for a GEMV once per call into a stack copy) and
 *      128 * (sum of the group's weight codes, q->wsum) is taken back off:
 *      sum (x + 128) w - 128 sum w = sum x w, exact in wrapping int32.
 *   Two accumulators alternate between steps; full steps load without masks.
 * N:M, f32 activations: 64 positions decoded as above feed four 16-lane
 * sub-steps (a vpermb spreads position bytes into dword indices; vpermps /
 * vpermt2ps gather from a window of at most 64 floats; codes to f32; FMA) when
 * 16 % N == 0 and M <= 4N; other N:M decode 16 positions at a time.
 * Group-sparse int4: each kept group is gsize/2 bytes of nibble pairs; low nibbles
 * are elements 0 .. gsize/2-1, high nibbles the rest, so both halves meet
 * contiguous activations. The biased codes u = q + 8 are already unsigned, the
 * form vpdpbusd wants: acc = sum u x - (8 + zero) * gsum (activation group sums).
 * Every row keeps the same number of groups, so GEMV runs 16 rows in lockstep with
 * lane j = row j: the 16 partial-sum vectors are transposed-and-added into one,
 * and correction, conversion and scale FMA run on 16 rows at once.
 *
 * Integer activations follow the exact semantics of gemm_ref_sparse.c: int32 per
 * scale group, y = fmaf((float)acc, scale, y) group by group in ascending order,
 * then y * act_scale; the int32 sums are exact and each lane (or scalar) performs
 * that sequence, so results match the reference bit for bit. f32 activations
 * accumulate in float per lane, then fold each group in with its scale.
 *
 * Speed (this 2-core Zen 5): the N:M steps are bound by vector-instruction
 * throughput (about 4 instructions per 64 kept values for 2:4, 6 for 2:8), so they
 * beat the dense int8 GEMV by the byte ratio only where the dense one is
 * bandwidth-bound; see the sparse section of docs/ARCHITECTURE.md for figures. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels_internal.h"
#include "sparse/sparse_kernels.h"

/* ---------------------------------------------------------------------------
 * N:M step plan */

typedef struct nm_plan {
    int n, m, ib;
    int chunk;  /* kept values per step: <= lanes, a multiple of n */
    int wregs;  /* vector registers in the activation window: 1, 2 or 4 */
    int phases; /* distinct (step start % n) values that occur */
} nm_plan;

/* A step starting at kept value j covers blocks j / n .. (j + chunk - 1) / n. Steps
 * start at group starts plus multiples of chunk; when gsize % n != 0 a group starts
 * mid-block ("phase" j % n), which widens the window by one block. The widest
 * window must fit in wmax elements (256 bytes for vpermt2b pairs, 64 floats). */
static void nm_plan_init(nm_plan *p, const td_qmatrix *w, int lanes, int wmax, int elem_per_reg)
{
    p->n = w->spec.nm_n;
    p->m = w->spec.nm_m;
    p->ib = w->idx_bits;
    p->phases = w->gsize % p->n == 0 ? 1 : p->n;
    int maxphase = p->phases - 1;
    p->chunk = p->n;
    for (int c = lanes / p->n * p->n; c >= p->n; c -= p->n) {
        if (((maxphase + c - 1) / p->n + 1) * p->m <= wmax) {
            p->chunk = c;
            break;
        }
    }
    int span = ((maxphase + p->chunk - 1) / p->n + 1) * p->m;
    p->wregs = span <= elem_per_reg ? 1 : span <= 2 * elem_per_reg ? 2 : 4;
}

/* Decoder constants for fields of ib bits: qword q of the vpermb result holds
 * source bytes q*ib .. q*ib+7 (fields 8q .. 8q+7 start at bit 8q*ib = byte q*ib),
 * and byte i of each qword shifts by i*ib (+ the step's bit offset). */
static void nm_decoder(int ib, __m512i *perm, __m512i *shift)
{
    uint8_t pb[64], sb[64];
    for (int q = 0; q < 8; q++) {
        for (int i = 0; i < 8; i++) {
            pb[8 * q + i] = (uint8_t)(q * ib + i);
            sb[8 * q + i] = (uint8_t)(i * ib);
        }
    }
    *perm = _mm512_loadu_si512(pb);
    *shift = _mm512_loadu_si512(sb);
}

static inline __mmask64 low_mask64(int64_t n)
{
    return n >= 64 ? ~(__mmask64)0 : n <= 0 ? 0 : (((__mmask64)1 << n) - 1);
}

/* ---------------------------------------------------------------------------
 * N:M int8 weights, int8/int6 activations */

typedef struct nm8_consts {
    nm_plan p;
    __m512i perm, fmask, bias, ones;
    __mmask64 kfull;       /* lanes of a full step */
    __mmask8 khalf;        /* broadcast decode: qwords fed from the second index qword */
    bool pow2;             /* M is a power of two: block bases have clear index bits */
    bool bcast;            /* idx_bits <= 2: a full step's fields fit in two qwords */
    int64_t wstep;         /* window advance per full step (elements) */
    int64_t bstep;         /* index bits per full step */
    const uint8_t *base;   /* phases x 64 bytes: block base of each lane */
    const uint8_t *shift;  /* 8 x 64 bytes: vpmultishiftqb controls for bit offsets 0..7 */
    const uint8_t *bshift; /* 64 bytes: vpmultishiftqb controls of the broadcast decode */
    bool split;            /* 256-byte window as two 128-byte halves (see nm8_gather) */
    __mmask64 klow;        /* split: lanes indexing the first half */
    int64_t split_off;     /* split: where the second half starts */
} nm8_consts;

#define TD_AI static inline __attribute__((always_inline))

/* Byte positions of a step's fields. The generic decode arranges the bytes with
 * vpermb; when a full step's fields fit in 16 bytes (idx_bits <= 2, byte-aligned),
 * two qword broadcasts (loads, no shuffle) put them where vpmultishiftqb can reach
 * them, saving the permute. */
TD_AI __m512i nm8_positions(const nm8_consts *c, const uint8_t *ip, int sh, int len, __m512i base,
                            const bool FULL)
{
    __m512i t;
    if (FULL && c->bcast && sh == 0) {
        int64_t q0, q1;
        memcpy(&q0, ip, 8);
        memcpy(&q1, ip + 8, 8);
        t = _mm512_mask_set1_epi64(_mm512_set1_epi64(q0), c->khalf, q1);
        t = _mm512_multishift_epi64_epi8(_mm512_load_si512(c->bshift), t);
    } else {
        __m512i raw = FULL ? _mm512_loadu_si512(ip)
                           : _mm512_maskz_loadu_epi8(low_mask64((sh + len * c->p.ib + 7) >> 3), ip);
        t = _mm512_permutexvar_epi8(c->perm, raw);
        t = _mm512_multishift_epi64_epi8(_mm512_load_si512(c->shift + 64 * sh), t);
    }
    /* (t & fmask) + base; a single ternary-logic OR when the bases' low bits are 0 */
    if (c->pow2)
        return _mm512_ternarylogic_epi32(t, c->fmask, base, 0xEA);
    return _mm512_add_epi8(_mm512_and_si512(t, c->fmask), base);
}

/* Gathers the activation bytes at pos from the window at xr; FULL: all loads in
 * bounds, else rem valid bytes. 256-byte windows (WREGS 4) come in two forms:
 *   whole: positions 0..255, bit 7 picks the upper 128 bytes (hi);
 *   split (c->split): the lower half of the lanes indexes the first 128 bytes and
 *   the upper half the 128 bytes from c->split_off, so two merge-masked vpermi2b
 *   (the second one indexing through the first one's untouched lanes) need no
 *   blend and no mask extraction. */
TD_AI __m512i nm8_gather(const nm8_consts *c, const int8_t *xr, int64_t rem, __m512i pos,
                         __mmask64 hi, const int WREGS, const bool FULL)
{
    __m512i x[4];
    const int8_t *x2 = WREGS == 4 && c->split ? xr + c->split_off : xr + 128;
    int64_t rem2 = WREGS == 4 && c->split ? rem - c->split_off : rem - 128;
    for (int i = 0; i < WREGS; i++) {
        const int8_t *p = i < 2 ? xr + 64 * i : x2 + 64 * (i - 2);
        int64_t rm = i < 2 ? rem - 64 * i : rem2 - 64 * (i - 2);
        x[i] = FULL ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(low_mask64(rm), p);
    }
    if (WREGS == 1)
        return _mm512_permutexvar_epi8(pos, x[0]);
    if (WREGS == 2)
        return _mm512_permutex2var_epi8(x[0], pos, x[1]);
    if (c->split) {
        __m512i t = _mm512_mask2_permutex2var_epi8(x[2], pos, ~c->klow, x[3]);
        return _mm512_mask2_permutex2var_epi8(x[0], t, c->klow, x[1]);
    }
    __m512i lo = _mm512_permutex2var_epi8(x[0], pos, x[1]);
    return _mm512_mask_blend_epi8(hi, lo, _mm512_permutex2var_epi8(x[2], pos, x[3]));
}

/* One step: len kept values from kept index j (index bits from `bit`), activation
 * window at ws, for NT tokens. FULL steps have len == chunk and every load in
 * bounds, so they need no masks. BIASED: the activations already carry the +128. */
TD_AI void nm8_step(const nm8_consts *c, const int8_t *codes, const uint8_t *irow, int64_t j,
                    int64_t bit, int len, int64_t ws, const int8_t *const *xq, int64_t kpad,
                    __m512i base, __m512i *acc, __m512i *accx, const int WREGS, const int NT,
                    const bool ASYM, const bool BIASED, const bool FULL)
{
    __mmask64 km = FULL ? c->kfull : low_mask64(len);
    __m512i wc = _mm512_maskz_loadu_epi8(km, codes + j);
    __m512i pos = nm8_positions(c, irow + (bit >> 3), (int)(bit & 7), len, base, FULL);
    __mmask64 hi = WREGS == 4 && !c->split ? _mm512_movepi8_mask(pos) : 0;
    for (int u = 0; u < NT; u++) {
        __m512i xg = nm8_gather(c, xq[u] + ws, kpad - ws, pos, hi, WREGS, FULL);
        if (!BIASED)
            xg = _mm512_xor_si512(xg, c->bias);
        acc[u] = _mm512_dpbusd_epi32(acc[u], xg, wc);
        if (ASYM)
            accx[u] = _mm512_dpbusd_epi32(accx[u], xg, _mm512_maskz_mov_epi8(km, c->ones));
    }
}

/* Row r for tokens b0 .. b0+NT-1 (NT, WREGS, ASYM, BIASED compile-time constants);
 * xq[u] is token u's activation row. */
TD_AI void nm8_a8_row(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r,
                      int64_t b0, const int8_t *const *xq, const nm8_consts *c, const int NT,
                      const int WREGS, const bool ASYM, const bool BIASED)
{
    const int n = c->p.n, m = c->p.m, ib = c->p.ib, chunk = c->p.chunk;
    const int8_t *codes = (const int8_t *)(w->codes + (size_t)r * w->row_bytes);
    const uint8_t *irow = w->idx + (size_t)r * w->idx_row_bytes;
    /* Bytes from irow to the end of the index buffer: full steps load 64 of them. */
    int64_t idx_avail = (int64_t)((size_t)(w->rows - r) * w->idx_row_bytes);
    float yv[4];
    for (int u = 0; u < NT; u++)
        yv[u] = 0.0f;
    for (int64_t g = 0; g < w->ngroups; g++) {
        /* Two accumulator sets alternate between steps so that consecutive vpdpbusd
         * do not wait on each other. */
        __m512i acc[2][4], accx[2][4];
        for (int u = 0; u < NT; u++)
            acc[0][u] = acc[1][u] = accx[0][u] = accx[1][u] = _mm512_setzero_si512();
        /* chunk is a multiple of n, so every step of the group has the group's
         * phase, and the window advances by chunk / n blocks per step. */
        int64_t j = g * w->gsize, jend = j + w->gsize, ws = j / n * m, bit = j * ib;
        const __m512i base = _mm512_load_si512(c->base + 64 * (j % n));
        int64_t nfast = (jend - j) / chunk;
        int64_t span = WREGS == 4 && c->split ? c->split_off + 128 : 64 * WREGS;
        int64_t room_x = a->kpad - span - ws;
        int64_t room_i = (idx_avail - 64) * 8 + 7 - bit;
        if (room_x < 0 || room_i < 0) {
            nfast = 0;
        } else {
            nfast = nfast < room_x / c->wstep + 1 ? nfast : room_x / c->wstep + 1;
            nfast = nfast < room_i / c->bstep + 1 ? nfast : room_i / c->bstep + 1;
        }
        int64_t s = 0;
        for (; s + 2 <= nfast; s += 2) {
            nm8_step(c, codes, irow, j, bit, chunk, ws, xq, a->kpad, base, acc[0], accx[0], WREGS,
                     NT, ASYM, BIASED, true);
            nm8_step(c, codes, irow, j + chunk, bit + c->bstep, chunk, ws + c->wstep, xq, a->kpad,
                     base, acc[1], accx[1], WREGS, NT, ASYM, BIASED, true);
            j += 2 * chunk;
            ws += 2 * c->wstep;
            bit += 2 * c->bstep;
        }
        for (; j < jend; j += chunk, ws += c->wstep, bit += c->bstep) {
            int len = jend - j < chunk ? (int)(jend - j) : chunk;
            nm8_step(c, codes, irow, j, bit, len, ws, xq, a->kpad, base, acc[0], accx[0], WREGS, NT,
                     ASYM, BIASED, false);
        }
        uint32_t wsum = (uint32_t)w->wsum[r * w->ngroups + g];
        float sc = td_q_scale(w, r, g);
        uint32_t z = (uint32_t)td_q_zero(w, r, g);
        for (int u = 0; u < NT; u++) {
            uint32_t v = (uint32_t)_mm512_reduce_add_epi32(_mm512_add_epi32(acc[0][u], acc[1][u])) -
                         128u * wsum;
            if (ASYM) {
                __m512i sx = _mm512_add_epi32(accx[0][u], accx[1][u]);
                v -= z * ((uint32_t)_mm512_reduce_add_epi32(sx) - 128u * (uint32_t)w->gsize);
            }
            yv[u] = fmaf((float)(int32_t)v, sc, yv[u]);
        }
    }
    for (int u = 0; u < NT; u++)
        y[(b0 + u) * ldy + r] = yv[u] * a->scale[b0 + u];
}

/* Decoder constants for c->p (plan already set); tables (9 x 64 bytes) holds the
 * vpmultishiftqb controls: bit offsets 0..7, then the broadcast decode's. */
static void nm8_decode_init(nm8_consts *c, uint8_t *tables)
{
    int ib = c->p.ib;
    __m512i shift;
    nm_decoder(ib, &c->perm, &shift);
    c->fmask = _mm512_set1_epi8((char)((1 << ib) - 1));
    c->bias = _mm512_set1_epi8((char)0x80);
    c->ones = _mm512_set1_epi8(1);
    c->kfull = low_mask64(c->p.chunk);
    c->wstep = c->p.chunk / c->p.n * c->p.m;
    c->bstep = (int64_t)c->p.chunk * ib;
    c->pow2 = (c->p.m & (c->p.m - 1)) == 0;
    c->bcast = ib <= 2;
    c->khalf = ib == 2 ? 0xF0 : 0x00;
    for (int sh = 0; sh < 8; sh++)
        _mm512_store_si512(tables + 64 * sh, _mm512_add_epi8(shift, _mm512_set1_epi8((char)sh)));
    /* Broadcast decode: output qword q holds fields 8q .. 8q+7, which sit in index
     * qword (8q * ib) / 64 at bit (8q * ib) % 64. */
    for (int q = 0; q < 8; q++)
        for (int i = 0; i < 8; i++)
            tables[8 * 64 + 8 * q + i] = (uint8_t)((8 * q * ib) % 64 + i * ib);
    c->shift = tables;
    c->bshift = tables + 8 * 64;
}

/* Largest activation row the GEMV path copies, with its +128, onto the stack. */
enum { NM8_XBUF = 16384 };

TD_AI void nm8_a8_rows(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                       int64_t r1, const nm8_consts *c, const int WREGS, const bool ASYM)
{
    if (a->batch == 1 && a->kpad <= NM8_XBUF) {
        /* GEMV: bias the activations once instead of once per row and step. */
        _Alignas(64) int8_t xb[NM8_XBUF];
        for (int64_t k = 0; k < a->kpad; k += 64) {
            __mmask64 km = low_mask64(a->kpad - k);
            _mm512_mask_storeu_epi8(
                xb + k, km, _mm512_xor_si512(_mm512_maskz_loadu_epi8(km, a->q + k), c->bias));
        }
        const int8_t *xq[1] = {xb};
        for (int64_t r = r0; r < r1; r++)
            nm8_a8_row(w, a, y, ldy, r, 0, xq, c, 1, WREGS, ASYM, true);
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = 0;
        for (; b + 4 <= a->batch; b += 4) {
            const int8_t *xq[4];
            for (int u = 0; u < 4; u++)
                xq[u] = a->q + (b + u) * a->kpad;
            nm8_a8_row(w, a, y, ldy, r, b, xq, c, 4, WREGS, ASYM, false);
        }
        for (; b < a->batch; b++) {
            const int8_t *xq[1] = {a->q + b * a->kpad};
            nm8_a8_row(w, a, y, ldy, r, b, xq, c, 1, WREGS, ASYM, false);
        }
    }
}

void td_gemm_nm_int8_a8_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                               int64_t r0, int64_t r1)
{
    nm8_consts c;
    nm_plan_init(&c.p, w, 64, 256, 64);
    _Alignas(64) uint8_t base[16 * 64];
    _Alignas(64) uint8_t shifts[9 * 64];
    nm8_decode_init(&c, shifts);
    /* Split 256-byte windows need steps on block boundaries whose halves are whole
     * blocks too. */
    int half = c.p.chunk / 2;
    c.split = c.p.wregs == 4 && c.p.phases == 1 && half % c.p.n == 0;
    c.klow = low_mask64(half);
    c.split_off = half / c.p.n * c.p.m;
    for (int ph = 0; ph < c.p.phases; ph++)
        for (int l = 0; l < 64; l++)
            base[64 * ph + l] = (uint8_t)(c.split && l >= half ? (l - half) / c.p.n * c.p.m
                                                               : (ph + l) / c.p.n * c.p.m);
    c.base = base;
    bool asym = w->zeros != NULL;
    switch (c.p.wregs * 2 + asym) {
    case 2:
        nm8_a8_rows(w, a, y, ldy, r0, r1, &c, 1, false);
        break;
    case 3:
        nm8_a8_rows(w, a, y, ldy, r0, r1, &c, 1, true);
        break;
    case 4:
        nm8_a8_rows(w, a, y, ldy, r0, r1, &c, 2, false);
        break;
    case 5:
        nm8_a8_rows(w, a, y, ldy, r0, r1, &c, 2, true);
        break;
    case 8:
        nm8_a8_rows(w, a, y, ldy, r0, r1, &c, 4, false);
        break;
    default:
        nm8_a8_rows(w, a, y, ldy, r0, r1, &c, 4, true);
        break;
    }
}

/* ---------------------------------------------------------------------------
 * N:M int8 weights, f32 activations */

typedef struct nmf_consts {
    nm_plan p;
    __m128i perm, shift, fmask;
    int64_t wstep;
    const int32_t *base; /* phases x 16 */
    /* Wide steps: 64 kept values decoded at once as bytes, then used as four
     * 16-lane sub-steps. Possible when 16 % N == 0 (sub-steps start on block
     * boundaries) and 16 / N blocks fit in 64 floats (M <= 4N). */
    bool wide;
    int wregs;         /* window registers of a sub-step */
    int64_t sub_wstep; /* window advance per sub-step */
    nm8_consts d;      /* byte decoder for the wide steps (chunk 64) */
    const uint8_t *dbase;
    const uint8_t *spread; /* 4 x 64 bytes: vpermb controls, position byte -> dword */
} nmf_consts;

TD_AI __m512 nmf_gather(const float *xr, int64_t rem, __m512i pos, const int WREGS, const bool FULL)
{
    __m512 x[4];
    for (int i = 0; i < WREGS; i++)
        x[i] = FULL ? _mm512_loadu_ps(xr + 16 * i)
                    : _mm512_maskz_loadu_ps((__mmask16)low_mask64(rem - 16 * i), xr + 16 * i);
    if (WREGS == 1)
        return _mm512_permutexvar_ps(pos, x[0]);
    __m512 lo = _mm512_permutex2var_ps(x[0], pos, x[1]);
    if (WREGS == 2)
        return lo;
    __m512 hi = _mm512_permutex2var_ps(x[2], pos, x[3]);
    return _mm512_mask_blend_ps(_mm512_test_epi32_mask(pos, _mm512_set1_epi32(32)), lo, hi);
}

/* Generic step: up to 16 kept values, decoded on their own. */
TD_AI void nmf_step(const nmf_consts *c, const int8_t *codes, const uint8_t *irow, int64_t j,
                    int len, int64_t ws, __m512i base, __m512i zv, const float *const *xr,
                    int64_t kpad, __m512 *acc, const int NT)
{
    const int ib = c->p.ib;
    __mmask16 km = (__mmask16)low_mask64(len);
    __m512i wi = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(km, codes + j));
    __m512 wf = _mm512_cvtepi32_ps(_mm512_maskz_sub_epi32(km, wi, zv));
    int64_t bit = j * ib;
    int sh = (int)(bit & 7);
    int nb = (sh + len * ib + 7) >> 3;
    __m128i raw = _mm_maskz_loadu_epi8((__mmask16)low_mask64(nb), irow + (bit >> 3));
    __m128i t8 = _mm_permutexvar_epi8(c->perm, raw);
    t8 = _mm_multishift_epi64_epi8(_mm_add_epi8(c->shift, _mm_set1_epi8((char)sh)), t8);
    t8 = _mm_and_si128(t8, c->fmask);
    __m512i pos = _mm512_add_epi32(_mm512_cvtepu8_epi32(t8), base);
    for (int u = 0; u < NT; u++) {
        __m512 xg;
        if (c->p.wregs == 1)
            xg = nmf_gather(xr[u] + ws, kpad - ws, pos, 1, false);
        else if (c->p.wregs == 2)
            xg = nmf_gather(xr[u] + ws, kpad - ws, pos, 2, false);
        else
            xg = nmf_gather(xr[u] + ws, kpad - ws, pos, 4, false);
        acc[u] = _mm512_fmadd_ps(wf, xg, acc[u]);
    }
}

/* Wide step: 64 kept values (all loads in bounds). */
TD_AI void nmf_wide_step(const nmf_consts *c, const int8_t *codes, const uint8_t *irow, int64_t j,
                         int64_t ws, __m512i dbase, __m512i zv, const float *const *xr, __m512 *acc,
                         const int NT, const int WREGS)
{
    int64_t bit = j * c->p.ib;
    __m512i pos8 = nm8_positions(&c->d, irow + (bit >> 3), (int)(bit & 7), 64, dbase, true);
    for (int s = 0; s < 4; s++) {
        /* vpermps / vpermt2ps read only an index's low bits, so a vpermb that puts
         * position byte 16s + l at the bottom of dword l replaces extract + zero
         * extension; the bytes above it are don't-cares. */
        __m512i pos = _mm512_permutexvar_epi8(_mm512_load_si512(c->spread + 64 * s), pos8);
        __m512i wi = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(codes + j + 16 * s)));
        __m512 wf = _mm512_cvtepi32_ps(_mm512_sub_epi32(wi, zv));
        int64_t wss = ws + s * c->sub_wstep;
        for (int u = 0; u < NT; u++)
            acc[u] = _mm512_fmadd_ps(wf, nmf_gather(xr[u] + wss, 0, pos, WREGS, true), acc[u]);
    }
}

TD_AI void nmf_row(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r,
                   int64_t b0, const nmf_consts *c, const int NT, const int WREGS)
{
    const int n = c->p.n, m = c->p.m, chunk = c->p.chunk;
    const int8_t *codes = (const int8_t *)(w->codes + (size_t)r * w->row_bytes);
    const uint8_t *irow = w->idx + (size_t)r * w->idx_row_bytes;
    int64_t idx_avail = (int64_t)((size_t)(w->rows - r) * w->idx_row_bytes);
    const float *xr[4];
    __m512 yv[4];
    for (int u = 0; u < NT; u++) {
        xr[u] = a->x + (b0 + u) * a->kpad;
        yv[u] = _mm512_setzero_ps();
    }
    for (int64_t g = 0; g < w->ngroups; g++) {
        __m512 acc[4];
        for (int u = 0; u < NT; u++)
            acc[u] = _mm512_setzero_ps();
        __m512i zv = _mm512_set1_epi32(td_q_zero(w, r, g));
        int64_t j = g * w->gsize, jend = j + w->gsize, ws = j / n * m;
        if (c->wide && j % n == 0) {
            const __m512i dbase = _mm512_load_si512(c->dbase);
            int64_t nfast = (jend - j) / 64;
            /* the last sub-step reads WREGS registers from ws + 3 * sub_wstep */
            int64_t room_x = a->kpad - (3 * c->sub_wstep + 16 * WREGS) - ws;
            int64_t room_i = (idx_avail - 64) * 8 + 7 - j * c->p.ib;
            if (room_x < 0 || room_i < 0) {
                nfast = 0;
            } else {
                nfast = nfast < room_x / c->d.wstep + 1 ? nfast : room_x / c->d.wstep + 1;
                nfast = nfast < room_i / c->d.bstep + 1 ? nfast : room_i / c->d.bstep + 1;
            }
            for (int64_t s = 0; s < nfast; s++, j += 64, ws += c->d.wstep)
                nmf_wide_step(c, codes, irow, j, ws, dbase, zv, xr, acc, NT, WREGS);
        }
        /* whole steps keep the group's phase */
        const __m512i base = _mm512_load_si512(c->base + 16 * (j % n));
        for (; j < jend; j += chunk, ws += c->wstep) {
            int len = jend - j < chunk ? (int)(jend - j) : chunk;
            nmf_step(c, codes, irow, j, len, ws, base, zv, xr, a->kpad, acc, NT);
        }
        __m512 sc = _mm512_set1_ps(td_q_scale(w, r, g));
        for (int u = 0; u < NT; u++)
            yv[u] = _mm512_fmadd_ps(acc[u], sc, yv[u]);
    }
    for (int u = 0; u < NT; u++)
        y[(b0 + u) * ldy + r] = _mm512_reduce_add_ps(yv[u]);
}

TD_AI void nmf_rows(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                    int64_t r1, const nmf_consts *c, const int WREGS)
{
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = 0;
        for (; b + 4 <= a->batch; b += 4)
            nmf_row(w, a, y, ldy, r, b, c, 4, WREGS);
        for (; b < a->batch; b++)
            nmf_row(w, a, y, ldy, r, b, c, 1, WREGS);
    }
}

void td_gemm_nm_int8_f32_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                int64_t r0, int64_t r1)
{
    nmf_consts c;
    nm_plan_init(&c.p, w, 16, 64, 16);
    __m512i perm, shift;
    nm_decoder(c.p.ib, &perm, &shift);
    c.perm = _mm512_castsi512_si128(perm);
    c.shift = _mm512_castsi512_si128(shift);
    c.fmask = _mm_set1_epi8((char)((1 << c.p.ib) - 1));
    c.wstep = c.p.chunk / c.p.n * c.p.m;
    _Alignas(64) int32_t base[16 * 16];
    for (int ph = 0; ph < c.p.phases; ph++)
        for (int l = 0; l < 16; l++)
            base[16 * ph + l] = (ph + l) / c.p.n * c.p.m;
    c.base = base;

    int n = c.p.n, m = c.p.m;
    c.wide = 16 % n == 0 && m <= 4 * n;
    c.sub_wstep = 16 / n * m;
    c.wregs = c.sub_wstep <= 16 ? 1 : c.sub_wstep <= 32 ? 2 : 4;
    _Alignas(64) uint8_t tables[9 * 64];
    _Alignas(64) uint8_t dbase[64];
    c.d.p = c.p;
    c.d.p.chunk = 64;
    nm8_decode_init(&c.d, tables);
    c.d.split = false;
    /* sub-step s of a wide step reads lanes 16s .. 16s+15 from its own window */
    for (int l = 0; l < 64; l++)
        dbase[l] = (uint8_t)((l % 16) / n * m);
    c.dbase = dbase;
    _Alignas(64) uint8_t spread[4 * 64];
    for (int sub = 0; sub < 4; sub++)
        for (int l = 0; l < 64; l++)
            spread[64 * sub + l] = (uint8_t)(16 * sub + l / 4);
    c.spread = spread;
    if (!c.wide)
        nmf_rows(w, a, y, ldy, r0, r1, &c, 1);
    else if (c.wregs == 1)
        nmf_rows(w, a, y, ldy, r0, r1, &c, 1);
    else if (c.wregs == 2)
        nmf_rows(w, a, y, ldy, r0, r1, &c, 2);
    else
        nmf_rows(w, a, y, ldy, r0, r1, &c, 4);
}

/* ---------------------------------------------------------------------------
 * Group-sparse int4 */

/* int32 sum of u * x over one kept group (u = biased nibble codes). */
TD_AI __m512i gs4_group_dot(const uint8_t *c, const int8_t *x, int64_t gsize, __m512i acc)
{
    const __m512i lo4 = _mm512_set1_epi8(0x0F);
    int64_t h = gsize / 2, i = 0;
    for (; i + 64 <= h; i += 64) {
        __m512i u = _mm512_loadu_si512(c + i);
        __m512i ulo = _mm512_and_si512(u, lo4);
        __m512i uhi = _mm512_and_si512(_mm512_srli_epi16(u, 4), lo4);
        acc = _mm512_dpbusd_epi32(acc, ulo, _mm512_loadu_si512(x + i));
        acc = _mm512_dpbusd_epi32(acc, uhi, _mm512_loadu_si512(x + h + i));
    }
    for (; i < h; i += 64) {
        __mmask64 km = low_mask64(h - i);
        __m512i u = _mm512_maskz_loadu_epi8(km, c + i);
        __m512i ulo = _mm512_and_si512(u, lo4);
        __m512i uhi = _mm512_and_si512(_mm512_srli_epi16(u, 4), lo4);
        acc = _mm512_dpbusd_epi32(acc, ulo, _mm512_maskz_loadu_epi8(km, x + i));
        acc = _mm512_dpbusd_epi32(acc, uhi, _mm512_maskz_loadu_epi8(km, x + h + i));
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
            __m512i acc = gs4_group_dot(c, x, w->gsize, _mm512_setzero_si512());
            uint32_t v = (uint32_t)_mm512_reduce_add_epi32(acc) -
                         zb * (uint32_t)a->gsum[(b0 + t) * a->ngroups + g];
            yv[t] = fmaf((float)(int32_t)v, s, yv[t]);
        }
    }
    for (int t = 0; t < NT; t++)
        y[(b0 + t) * ldy + r] = yv[t] * a->scale[b0 + t];
}

/* v[j] holds row j's int32 partial sums; returns lane j = the exact sum of v[j].
 * Pairwise unpacks and adds transpose as they reduce: about 3 instructions per row
 * instead of a full horizontal sum each. */
TD_AI __m512i reduce16_epi32(const __m512i v[16])
{
    __m512i t[8], u[4];
    for (int i = 0; i < 8; i++) /* per 128-bit lane: rows 2i, 2i+1, two partials each */
        t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                                _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++) /* per 128-bit lane: rows 4i .. 4i+3 */
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                                _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
    /* add the four 128-bit lanes, keeping row blocks apart */
    __m512i v01 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512i v23 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(v01, v23, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(v01, v23, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* 16 rows in lockstep for token b: every row keeps the same number of groups
 * (per-row pruning), so step i takes each row's i-th kept group and lane j of the
 * result vectors is row rb + j, running exactly the reference's per-row sequence.
 * GS (the group size) and ASYM are compile-time constants at each call. */
TD_AI void gs4_a8_block16(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t rb,
                          int64_t b, const int64_t GS, const bool ASYM)
{
    int64_t gi0 = w->gs_row_ptr[rb];
    int64_t kept = w->gs_row_ptr[rb + 1] - gi0; /* the same for all 16 rows */
    const int8_t *xb = a->q + b * a->kpad;
    const int32_t *gsum = a->gsum + b * a->ngroups;
    const size_t gb = (size_t)GS / 2;
    /* The 16 rows' codes are one contiguous run (16 * kept groups) read in 16
     * interleaved strands, which hardware prefetchers follow poorly: each step
     * prefetches 16 groups' worth of the next block, so it arrives in time. */
    const uint8_t *next = w->codes + (size_t)(gi0 + 16 * kept) * gb;
    const uint8_t *end = w->codes + (size_t)w->gs_kept * gb;
    __m512 y16 = _mm512_setzero_ps();
    for (int64_t i = 0; i < kept; i++) {
        for (size_t o = (size_t)i * 16 * gb; o < (size_t)(i + 1) * 16 * gb; o += 64)
            if (next + o < end)
                _mm_prefetch((const char *)(next + o), _MM_HINT_T1);
        __m512i acc[16];
        _Alignas(64) uint32_t corr[16];
        _Alignas(64) float sc[16];
#pragma GCC unroll 16
        for (int l = 0; l < 16; l++) {
            int64_t gi = gi0 + l * kept + i;
            int64_t g = w->gs_group[gi];
            acc[l] =
                gs4_group_dot(w->codes + (size_t)gi * gb, xb + g * GS, GS, _mm512_setzero_si512());
            uint32_t zb = 8u + (uint32_t)(ASYM ? w->zeros[gi] : 0);
            corr[l] = zb * (uint32_t)gsum[g];
            sc[l] = w->scales[gi];
        }
        __m512i v = _mm512_sub_epi32(reduce16_epi32(acc), _mm512_load_si512(corr));
        y16 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_load_ps(sc), y16);
    }
    _mm512_storeu_ps(y + b * ldy + rb, _mm512_mul_ps(y16, _mm512_set1_ps(a->scale[b])));
}

static void gs4_a8_block16_any(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                               int64_t rb, int64_t b)
{
    bool asym = w->zeros != NULL;
    if (w->gsize == 128 && !asym)
        gs4_a8_block16(w, a, y, ldy, rb, b, 128, false);
    else if (w->gsize == 128)
        gs4_a8_block16(w, a, y, ldy, rb, b, 128, true);
    else if (w->gsize == 64)
        gs4_a8_block16(w, a, y, ldy, rb, b, 64, asym);
    else if (w->gsize == 32)
        gs4_a8_block16(w, a, y, ldy, rb, b, 32, asym);
    else
        gs4_a8_block16(w, a, y, ldy, rb, b, w->gsize, asym);
}

/* Rows rb .. rb+15 all keep the same number of groups. */
static bool gs_uniform16(const td_qmatrix *w, int64_t rb)
{
    const int64_t *rp = w->gs_row_ptr + rb;
    for (int l = 1; l <= 16; l++)
        if (rp[l] - rp[0] != l * (rp[1] - rp[0]))
            return false;
    return true;
}

void td_gemm_gs_int4_a8_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                               int64_t r0, int64_t r1)
{
    int64_t r = r0;
    for (; r + 16 <= r1 && a->batch < 4; r += 16) {
        if (!gs_uniform16(w, r))
            break;
        for (int64_t b = 0; b < a->batch; b++)
            gs4_a8_block16_any(w, a, y, ldy, r, b);
    }
    for (; r < r1; r++) {
        int64_t b = 0;
        for (; b + 4 <= a->batch; b += 4)
            gs4_a8_row(w, a, y, ldy, r, b, 4);
        for (; b < a->batch; b++)
            gs4_a8_row(w, a, y, ldy, r, b, 1);
    }
}

/* f32 activations: (u - 8 - zero) as f32 times x, per 16 codes. */
static inline __attribute__((always_inline)) void gs4_f32_row(const td_qmatrix *w, const td_act *a,
                                                              float *y, int64_t ldy, int64_t r,
                                                              int64_t b0, const int NT)
{
    const __m512i lo4 = _mm512_set1_epi32(0x0F);
    __m512 yv[8];
    for (int t = 0; t < NT; t++)
        yv[t] = _mm512_setzero_ps();
    int64_t h = w->gsize / 2;
    for (int64_t i = w->gs_row_ptr[r]; i < w->gs_row_ptr[r + 1]; i++) {
        const uint8_t *c = w->codes + (size_t)i * w->group_bytes;
        int64_t k0 = (int64_t)w->gs_group[i] * w->gsize;
        __m512i zb = _mm512_set1_epi32(8 + (w->zeros ? w->zeros[i] : 0));
        __m512 acc[8];
        for (int t = 0; t < NT; t++)
            acc[t] = _mm512_setzero_ps();
        for (int64_t e = 0; e < h; e += 16) { /* gsize % 32 == 0: h % 16 == 0 */
            __m512i u = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + e)));
            __m512 wlo = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_and_si512(u, lo4), zb));
            __m512 whi = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(u, 4), zb));
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) {
                const float *x = a->x + (b0 + t) * a->kpad + k0 + e;
                acc[t] = _mm512_fmadd_ps(wlo, _mm512_loadu_ps(x), acc[t]);
                acc[t] = _mm512_fmadd_ps(whi, _mm512_loadu_ps(x + h), acc[t]);
            }
        }
        __m512 s = _mm512_set1_ps(w->scales[i]);
        for (int t = 0; t < NT; t++)
            yv[t] = _mm512_fmadd_ps(acc[t], s, yv[t]);
    }
    for (int t = 0; t < NT; t++)
        y[(b0 + t) * ldy + r] = _mm512_reduce_add_ps(yv[t]);
}

void td_gemm_gs_int4_f32_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
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
