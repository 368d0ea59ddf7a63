/* int6 kernels for AVX-512 (F/BW/VL + VNNI). Semantics: kernels/lowbit_kernels.h.
 *
 * A code is u = nibble | (two-bit << 4). The nibble plane unpacks like int4; the
 * two-bit plane keeps the four quarters of a group in the four bit pairs of each
 * byte, so the bits of a run of elements are one load, one rotate that moves bit pair
 * i to bits 4..5, and a mask. A ternary-logic select merges both parts, then vpdpbusd
 * multiplies u by the signed activations exactly as for int4 (u <= 63).
 *
 * GEMV (integer activations, small batch): 16 rows, per-row int32 vector
 * accumulators, one transposed reduction per group, as in gemm_int4_avx512.c. Groups
 * that are multiples of 128 (the default, and per-channel rows of such lengths) unpack
 * in registers; other sizes are decoded to a stack buffer first. Larger batches use
 * the shared token-panel GEMM, f32 activations the shared f32 path; both get their
 * codes from int6_decode. */
#include <immintrin.h>

#include "kernels/lowbit_kernels.h"

#define TD_AI static inline __attribute__((always_inline))

enum { GEMV_MAX_BATCH = 5, GCH = 128 }; /* batch limit: measured crossover with the panels */

TD_AI __mmask64 mask_bytes(int64_t n)
{
    return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}

TD_AI int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Rotating each dword left by this many bits moves bit pair qi of every byte to bits
 * 4..5 of the same byte (pair 3 moves right by 2, i.e. left by 30). */
TD_AI int pair_rotation(int64_t qi)
{
    return (int)((4 - 2 * qi) & 31);
}

/* (nibble & 0x0F) | (two & 0x30): select between a and b under mask 0x0F, where b
 * has already been masked to bits 4..5. */
TD_AI __m512i merge6(__m512i nib, __m512i two30)
{
    return _mm512_ternarylogic_epi32(nib, two30, _mm512_set1_epi8(0x0F), 0xE4);
}

/* The reduction and staging helpers are the same as int4's (see that file). */
TD_AI void reduce16_lanes(const __m512i p[16], __m512i v[4])
{
    __m512i q[8], u[4];
    for (int i = 0; i < 8; i++)
        q[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(p[2 * i], p[2 * i + 1]),
                                _mm512_unpackhi_epi32(p[2 * i], p[2 * i + 1]));
    for (int i = 0; i < 4; i++)
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(q[2 * i], q[2 * i + 1]),
                                _mm512_unpackhi_epi64(q[2 * i], q[2 * i + 1]));
    __m512i t0 = _mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(1, 0, 1, 0));
    __m512i t1 = _mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(3, 2, 3, 2));
    __m512i t2 = _mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(1, 0, 1, 0));
    __m512i t3 = _mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(3, 2, 3, 2));
    v[0] = _mm512_shuffle_i32x4(t0, t2, _MM_SHUFFLE(2, 0, 2, 0));
    v[1] = _mm512_shuffle_i32x4(t0, t2, _MM_SHUFFLE(3, 1, 3, 1));
    v[2] = _mm512_shuffle_i32x4(t1, t3, _MM_SHUFFLE(2, 0, 2, 0));
    v[3] = _mm512_shuffle_i32x4(t1, t3, _MM_SHUFFLE(3, 1, 3, 1));
}

/* Sequential prefetch of the next-but-one 16-row block into L2, spread over the steps
 * of this block (see gemm_int4_avx512.c): a step consumes 16 rows x 96 code bytes, so
 * it requests 24 lines of codes and 4 of scales. */
typedef struct prefetcher {
    const char *code, *scale; /* bases; offsets below stay integers, never wild pointers */
    int64_t p, end, sp, send;
} prefetcher;

TD_AI prefetcher next_block(const td_qmatrix *w, int64_t rb, int64_t r1, int on)
{
    prefetcher pf = {(const char *)w->codes, (const char *)w->scales, 0, 0, 0, 0};
    if (on && rb + 32 < r1) {
        int64_t n0 = rb + 32, n1 = min64(r1, rb + 48);
        pf.p = n0 * (int64_t)w->row_bytes;
        pf.end = n1 * (int64_t)w->row_bytes;
        pf.sp = n0 / w->tile_rows * w->ngroups * (int64_t)sizeof(float);
        pf.send = ((n1 - 1) / w->tile_rows + 1) * w->ngroups * (int64_t)sizeof(float);
    }
    return pf;
}

TD_AI void prefetch_lines(const prefetcher *pf, int i)
{
    if (pf->p + 64 * i < pf->end)
        _mm_prefetch(pf->code + pf->p + 64 * i, _MM_HINT_T1);
    if (i < 8 && pf->p + 64 * (16 + i) < pf->end)
        _mm_prefetch(pf->code + pf->p + 64 * (16 + i), _MM_HINT_T1);
    if (i < 4 && pf->sp + 64 * i < pf->send)
        _mm_prefetch(pf->scale + pf->sp + 64 * i, _MM_HINT_T1);
}

/* Two-bit parts of 64 consecutive elements of a group: two runs of 32, each inside one
 * quarter (groups are multiples of 128, so quarters are multiples of 32), merged into
 * one zmm and rotated into bits 4..5. A cursor walks the runs without dividing. */
typedef struct run_cursor {
    int64_t q, off; /* quarter, and offset of the run inside it (= byte offset in the plane) */
} run_cursor;

typedef struct run_pair {
    int64_t off0, off1; /* byte offsets into the group's two-bit plane */
    __m512i rot;        /* per-dword rotation: first 8 dwords run 0, last 8 run 1 */
} run_pair;

TD_AI void cursor_step(run_cursor *c, int64_t qtr)
{
    c->off += 32;
    if (c->off == qtr) {
        c->off = 0;
        c->q++;
    }
}

TD_AI run_pair next_pair(run_cursor *c, int64_t qtr)
{
    run_pair rp;
    int64_t q0 = c->q;
    rp.off0 = c->off;
    cursor_step(c, qtr);
    rp.off1 = c->off;
    rp.rot = _mm512_inserti64x4(_mm512_set1_epi32(pair_rotation(q0)),
                                _mm256_set1_epi32(pair_rotation(c->q)), 1);
    cursor_step(c, qtr);
    return rp;
}

TD_AI __m512i two_bits(const uint8_t *plane, const run_pair *rp)
{
    __m512i t = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(plane + rp->off0))),
        _mm256_loadu_si256((const __m256i *)(plane + rp->off1)), 1);
    return _mm512_and_si512(_mm512_rolv_epi32(t, rp->rot), _mm512_set1_epi8(0x30));
}

/* Biased codes of elements [k0, k0 + n) of row r, in pieces that lie inside one quarter
 * of one group (a quarter also lies inside one half). */
/* Groups of 32 or 64 codes (whole groups; ranges never split groups this small): 48
 * code bytes give 64 codes. A qword permute places in each 128-bit lane the nibble
 * bytes and the two-bit bytes its 16 codes need; lanes holding second-half codes take
 * the high nibbles; a per-word variable shift brings each code's bit pair down (the
 * pair index is constant over 8 codes, so over whole 16-bit words). */
static void int6_decode_small(const uint8_t *src, int64_t gs, int64_t n, uint8_t *u)
{
    const bool g32 = gs == 32;
    const __m512i nidx =
        g32 ? _mm512_setr_epi64(0, 1, 0, 1, 3, 4, 3, 4) : _mm512_setr_epi64(0, 1, 2, 3, 0, 1, 2, 3);
    const __m512i tidx =
        g32 ? _mm512_setr_epi64(2, 2, 2, 2, 5, 5, 5, 5) : _mm512_setr_epi64(4, 5, 4, 5, 4, 5, 4, 5);
    /* lanes of high-nibble codes: 1 and 3 (g32), 2 and 3 (g64) */
    const __mmask64 hi = g32 ? 0xFFFF0000FFFF0000ull : 0xFFFFFFFF00000000ull;
    /* shift of each 16-bit word = 2 * bit-pair index of its codes */
    const __m512i cnt = g32 ? _mm512_set_epi16(6, 6, 6, 6, 4, 4, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, 6, 6,
                                               6, 6, 4, 4, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0)
                            : _mm512_set_epi16(6, 6, 6, 6, 6, 6, 6, 6, 4, 4, 4, 4, 4, 4, 4, 4, 2, 2,
                                               2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i m0f = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    for (int64_t k = 0; k < n; k += 64, src += 48) {
        /* 48 bytes, or 24 when a single group of 32 is left: never past the row */
        __m512i v = _mm512_maskz_loadu_epi8(mask_bytes(min64(48, (n - k) / 32 * 24)), src);
        __m512i nb = _mm512_permutexvar_epi64(nidx, v);
        nb = _mm512_and_si512(_mm512_mask_mov_epi8(nb, hi, _mm512_srli_epi16(nb, 4)), m0f);
        __m512i tb = _mm512_permutexvar_epi64(tidx, v);
        tb = _mm512_and_si512(_mm512_slli_epi16(_mm512_srlv_epi16(tb, cnt), 4), m30);
        __m512i c = _mm512_or_si512(nb, tb);
        if (n - k >= 64)
            _mm512_storeu_si512(u + k, c);
        else
            _mm512_mask_storeu_epi8(u + k, mask_bytes(n - k), c); /* one g32 group left */
    }
}

static void int6_decode(const td_qmatrix *w, int64_t r, int64_t k0, int64_t n, uint8_t *u)
{
    if (w->gsize <= 64) {
        int6_decode_small(w->codes + r * w->row_bytes + k0 / 4 * 3, w->gsize, n, u);
        return;
    }
    const int64_t gs = w->gsize, h = gs / 2, qtr = gs / 4, gb = qtr * 3;
    const uint8_t *grp = w->codes + r * w->row_bytes + k0 / gs * gb;
    const __m512i m30 = _mm512_set1_epi8(0x30);
    int64_t o = k0 % gs; /* position inside the current group */
    if (gs % 128 == 0 && o == 0 && n % gs == 0) {
        /* Whole groups: one load of 64 nibble bytes gives codes c.. and h + c.. */
        for (int64_t done = 0; done < n; done += gs, grp += gb) {
            run_cursor lo = {0, 0}, hi = {2, 0}; /* the halves start at quarters 0 and 2 */
            for (int64_t c = 0; c < h; c += 64) {
                run_pair ra = next_pair(&lo, qtr), rh = next_pair(&hi, qtr);
                __m512i v = _mm512_loadu_si512(grp + c);
                _mm512_storeu_si512(u + done + c, merge6(v, two_bits(grp + h, &ra)));
                _mm512_storeu_si512(u + done + h + c,
                                    merge6(_mm512_srli_epi16(v, 4), two_bits(grp + h, &rh)));
            }
        }
        return;
    }
    if (gs % 128 == 0) {
        /* Runs of 64 codes: nibbles from one half, two-bit pairs from two runs of 32
         * (each inside one quarter); k0 and n are multiples of 128 here. */
        run_cursor rc = {o / qtr, o % qtr};
        for (int64_t done = 0; done < n; done += 64) {
            int high = o >= h;
            __m512i v = _mm512_loadu_si512(grp + (high ? o - h : o));
            v = high ? _mm512_srli_epi16(v, 4) : v;
            run_pair rp = next_pair(&rc, qtr);
            _mm512_storeu_si512(u + done, merge6(v, two_bits(grp + h, &rp)));
            o += 64;
            if (o == gs) {
                o = 0;
                grp += gb;
                rc = (run_cursor){0, 0};
            }
        }
        return;
    }
    int64_t qi = o / qtr, qs = qi * qtr; /* quarter of o and its start */
    for (int64_t done = 0; done < n;) {
        int high = o >= h;
        int64_t len = min64(qtr - (o - qs), n - done);
        const uint8_t *nib = grp + (high ? o - h : o);
        const uint8_t *two = grp + h + (o - qs);
        __m512i rot = _mm512_set1_epi32(pair_rotation(qi));
        for (int64_t j = 0; j < len; j += 64) {
            __mmask64 m = mask_bytes(len - j);
            __m512i v = _mm512_maskz_loadu_epi8(m, nib + j);
            v = high ? _mm512_srli_epi16(v, 4) : v;
            __m512i t =
                _mm512_and_si512(_mm512_rolv_epi32(_mm512_maskz_loadu_epi8(m, two + j), rot), m30);
            if (len - j >= 64)
                _mm512_storeu_si512(u + done + j, merge6(v, t));
            else
                _mm512_mask_storeu_epi8(u + done + j, m, merge6(v, t));
        }
        done += len;
        o += len;
        if (o == qs + qtr) { /* next quarter */
            qi++;
            qs += qtr;
        }
        if (o == gs) {
            o = 0;
            grp += gb;
            qi = 0;
            qs = 0;
        }
    }
}

static void int6_gemv(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1)
{
    const int64_t gs = w->gsize, h = gs / 2, qtr = gs / 4, gb = 3 * qtr, ng = w->ngroups;
    float sc[GCH][16] __attribute__((aligned(64)));
    for (int64_t rb = r0; rb < r1; rb += 16) {
        int nr = (int)min64(16, r1 - rb);
        const uint8_t *row[16];
        int64_t ridx[16];
        for (int i = 0; i < 16; i++) {
            ridx[i] = rb + (i < nr ? i : nr - 1);
            row[i] = w->codes + ridx[i] * w->row_bytes;
        }
        __mmask16 rmask = (__mmask16)((1u << nr) - 1);
        for (int64_t b = 0; b < a->batch; b++) {
            const int8_t *x = a->q + b * a->kpad;
            const int32_t *gsum = a->gsum + b * ng;
            __m512 yv = _mm512_setzero_ps();
            prefetcher pf = next_block(w, rb, r1, b == 0);
            for (int64_t g0 = 0; g0 < ng; g0 += GCH) {
                int64_t g1 = min64(ng, g0 + GCH);
                for (int i = 0; i < 16; i++) {
                    const float *s = w->scales + (ridx[i] / w->tile_rows) * ng;
                    for (int64_t g = g0; g < g1; g++)
                        sc[g - g0][i] = s[g];
                }
                for (int64_t g = g0; g < g1; g++) {
                    __m512i p[16];
                    for (int i = 0; i < 16; i++)
                        p[i] = _mm512_setzero_si512();
                    const int8_t *xg = x + g * gs;
                    run_cursor clo = {0, 0}, chi = {2, 0};
                    for (int64_t c = 0; c < h; c += 64) {
                        /* low nibbles: elements c..c+63; high nibbles: h+c..h+c+63 */
                        run_pair ra = next_pair(&clo, qtr), rh = next_pair(&chi, qtr);
                        __m512i xa = _mm512_loadu_si512(xg + c);
                        __m512i xb = _mm512_loadu_si512(xg + h + c);
                        for (int i = 0; i < 16; i++) {
                            prefetch_lines(&pf, i);
                            const uint8_t *grp = row[i] + g * gb;
                            __m512i v = _mm512_loadu_si512(grp + c);
                            __m512i lo = merge6(v, two_bits(grp + h, &ra));
                            __m512i hi = merge6(_mm512_srli_epi16(v, 4), two_bits(grp + h, &rh));
                            p[i] = _mm512_dpbusd_epi32(p[i], lo, xa);
                            p[i] = _mm512_dpbusd_epi32(p[i], hi, xb);
                        }
                        pf.p += 24 * 64;
                        pf.sp += 4 * 64;
                    }
                    __m512i v4[4];
                    reduce16_lanes(p, v4);
                    __m512i t = _mm512_add_epi32(_mm512_add_epi32(v4[0], v4[1]),
                                                 _mm512_add_epi32(v4[2], v4[3]));
                    t = _mm512_sub_epi32(t, _mm512_set1_epi32(32 * gsum[g]));
                    yv = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_load_ps(sc[g - g0]), yv);
                }
            }
            _mm512_mask_storeu_ps(y + b * ldy + rb, rmask,
                                  _mm512_mul_ps(yv, _mm512_set1_ps(a->scale[b])));
        }
    }
}

/* Groups that are not multiples of 128 (32, 64, 96, odd per-channel lengths): 16 rows
 * are decoded to their codes u in element order, DKC codes at a time, then multiplied
 * with the activations in plain order, 64 codes per step (masked at a group's end).
 * Same per-row accumulators, reduction and per-group finish as int6_gemv. */
static void int6_gemv_decoded(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                              int64_t r0, int64_t r1)
{
    enum { DKC = 1024 };
    const int64_t gs = w->gsize, ng = w->ngroups, kpad = w->kpad;
    uint8_t ub[16][DKC] __attribute__((aligned(64)));
    float sc[DKC / 32][16] __attribute__((aligned(64)));
    for (int64_t rb = r0; rb < r1; rb += 16) {
        int nr = (int)min64(16, r1 - rb);
        int64_t ridx[16];
        const float *srow[16];
        for (int i = 0; i < 16; i++) {
            ridx[i] = rb + (i < nr ? i : nr - 1);
            srow[i] = w->scales + ridx[i] / w->tile_rows * ng;
        }
        __mmask16 rmask = (__mmask16)((1u << nr) - 1);
        for (int64_t b = 0; b < a->batch; b++) {
            const int8_t *x = a->q + b * a->kpad;
            const int32_t *gsum = a->gsum + b * ng;
            __m512 yv = _mm512_setzero_ps();
            __m512i p[16]; /* reset at each group's start; may span chunks */
            for (int i = 0; i < 16; i++)
                p[i] = _mm512_setzero_si512();
            for (int64_t k0 = 0, k1; k0 < kpad; k0 = k1) {
                k1 = gs <= DKC ? min64(kpad, k0 + DKC / gs * gs)
                               : min64(k0 + DKC, (k0 / gs + 1) * gs);
                for (int i = 0; i < 16; i++)
                    int6_decode(w, ridx[i], k0, k1 - k0, ub[i]);
                int64_t gfirst = k0 / gs;
                for (int i = 0; i < 16; i++)
                    for (int64_t g = gfirst; g * gs < k1; g++)
                        sc[g - gfirst][i] = srow[i][g];
                for (int64_t ka = k0, g = gfirst; ka < k1; g++) {
                    int64_t kb = min64(k1, (g + 1) * gs);
                    if (ka == g * gs)
                        for (int i = 0; i < 16; i++)
                            p[i] = _mm512_setzero_si512();
                    for (int64_t c = ka; c < kb; c += 64) {
                        __mmask64 m = mask_bytes(kb - c);
                        __m512i xv = _mm512_maskz_loadu_epi8(m, x + c);
                        for (int i = 0; i < 16; i++)
                            p[i] = _mm512_dpbusd_epi32(
                                p[i], _mm512_maskz_loadu_epi8(m, ub[i] + (c - k0)), xv);
                    }
                    if (kb == (g + 1) * gs) {
                        __m512i v4[4];
                        reduce16_lanes(p, v4);
                        __m512i t = _mm512_add_epi32(_mm512_add_epi32(v4[0], v4[1]),
                                                     _mm512_add_epi32(v4[2], v4[3]));
                        t = _mm512_sub_epi32(t, _mm512_set1_epi32(32 * gsum[g]));
                        yv = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_load_ps(sc[g - gfirst]),
                                             yv);
                    }
                    ka = kb;
                }
            }
            _mm512_mask_storeu_ps(y + b * ldy + rb, rmask,
                                  _mm512_mul_ps(yv, _mm512_set1_ps(a->scale[b])));
        }
    }
}

void td_gemm_int6_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                         int64_t r1)
{
    if (a->type == TD_ACT_F32)
        td_lowbit_f32_avx512(w, a, y, ldy, r0, r1, int6_decode, 32);
    else if (a->batch <= GEMV_MAX_BATCH && w->gsize % 128 == 0)
        int6_gemv(w, a, y, ldy, r0, r1);
    else if (a->batch <= GEMV_MAX_BATCH)
        int6_gemv_decoded(w, a, y, ldy, r0, r1);
    else
        td_lowbit_panels_avx512(w, a, y, ldy, r0, r1, int6_decode, 32);
}
