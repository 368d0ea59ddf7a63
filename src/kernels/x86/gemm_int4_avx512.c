/* int4 kernels for AVX-512 (F/BW/VL + VNNI), and the two drivers the int6 kernels share
 * (token panels for GEMM with integer activations, and the f32-activation path).
 *
 * Semantics are those of kernels/lowbit_kernels.h, lane for lane: every vector lane
 * holds one (row, token) result and sees exactly the reference's sequence of
 * operations (exact int32 group sum, one FMA with the group scale per group in
 * ascending order, a final multiply by the token scale), so integer-activation
 * results match the scalar reference bit for bit.
 *
 * GEMV (integer activations, small batch): 16 rows at a time. Each row keeps a zmm of
 * int32 partial sums of u * x (vpdpbusd: unsigned codes times signed activations,
 * exact here since u <= 63 and |x| <= 127). At the end of a group the 16 partial
 * vectors are transposed-and-added into one vector whose lane j is row j's group sum;
 * that costs about 3 instructions per row and group instead of a full horizontal sum.
 * The group correction (B + z) * gsum, the conversion and the scale FMA then run on
 * 16 rows at once. Groups of 32 and 64 codes fill only part of a 64-byte load, so
 * four (two) groups share one load; the activations are permuted once per chunk to
 * match, and the transpose keeps the 128-bit lanes (one 32-element unit each) apart.
 *
 * While it computes, the GEMV asks for the block two blocks ahead in address order
 * (codes and scales are each one contiguous range per block): sixteen interleaved row
 * streams otherwise read DRAM at about half the speed of one sequential stream.
 *
 * GEMM (batch above GEMV_MAX_BATCH): tokens in lanes. Activations are packed so that a
 * zmm holds 4 consecutive K values of 16 tokens; a weight dword (4 decoded codes) is
 * broadcast and one vpdpbusd does 64 multiply-adds with no horizontal work at all.
 *
 * f32 activations: rows are decoded a chunk at a time (one chunk ahead, into a second
 * buffer), codes become exact floats, FMA with x per group, scale FMA at the group end,
 * one horizontal sum per row and token at the end. */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/lowbit_kernels.h"

#define TD_AI static inline __attribute__((always_inline))

enum {
    GEMV_MAX_BATCH = 7, /* above this the token-panel kernel is faster (measured) */
    GCH = 128,          /* groups whose scales are staged (transposed) at a time */
    PT = 32,            /* tokens per panel pass: two zmm of int32 lanes */
    PKC = 1024,         /* K elements per packed activation chunk */
    PRB = 128,          /* rows whose partial results stay on the stack between chunks */
    FR = 4,             /* f32 path: rows per block */
    FT = 8,             /* f32 path: tokens per pass */
    FKC = 1024,         /* f32 path: K elements decoded at a time */
    PF_AHEAD = 32,      /* GEMV prefetches the block this many rows ahead (2 blocks) */
};

TD_AI __mmask64 mask_bytes(int64_t n)
{
    return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}

TD_AI int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* End of the K chunk starting at k0: whole groups when a group fits in `cap`
 * elements (k0 is then group-aligned), otherwise at most cap elements inside the
 * group. cap is a multiple of 32. */
TD_AI int64_t chunk_end(int64_t k0, int64_t gs, int64_t cap, int64_t kpad)
{
    int64_t e = gs <= cap ? k0 + cap / gs * gs : min64(k0 + cap, (k0 / gs + 1) * gs);
    return min64(e, kpad);
}

/* Masked stores are slow on some cores (Zen 4): store whole vectors plainly. */
TD_AI void store_bytes(uint8_t *p, int64_t n, __m512i v)
{
    if (n >= 64)
        _mm512_storeu_si512(p, v);
    else
        _mm512_mask_storeu_epi8(p, mask_bytes(n), v);
}

/* ---- GEMV with integer activations ---- */

/* p[0..15]: per-row int32 partial sums. Returns v[l], whose lane j is the sum of the
 * four dwords in 128-bit lane l of p[j]. */
TD_AI void reduce16_lanes(const __m512i p[16], __m512i v[4])
{
    __m512i q[8], u[4];
    for (int i = 0; i < 8; i++)
        q[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(p[2 * i], p[2 * i + 1]),
                                _mm512_unpackhi_epi32(p[2 * i], p[2 * i + 1]));
    /* q[i], 128-bit lane l: partial sums of rows 2i, 2i+1 (two each) */
    for (int i = 0; i < 4; i++)
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(q[2 * i], q[2 * i + 1]),
                                _mm512_unpackhi_epi64(q[2 * i], q[2 * i + 1]));
    /* u[i], 128-bit lane l: lane-l sums of rows 4i .. 4i+3; transpose the 128-bit
     * blocks so that v[l] gathers lane l of u[0..3]. */
    __m512i t0 = _mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(1, 0, 1, 0));
    __m512i t1 = _mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(3, 2, 3, 2));
    __m512i t2 = _mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(1, 0, 1, 0));
    __m512i t3 = _mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(3, 2, 3, 2));
    v[0] = _mm512_shuffle_i32x4(t0, t2, _MM_SHUFFLE(2, 0, 2, 0));
    v[1] = _mm512_shuffle_i32x4(t0, t2, _MM_SHUFFLE(3, 1, 3, 1));
    v[2] = _mm512_shuffle_i32x4(t1, t3, _MM_SHUFFLE(2, 0, 2, 0));
    v[3] = _mm512_shuffle_i32x4(t1, t3, _MM_SHUFFLE(3, 1, 3, 1));
}

/* Scales (and B + zero) of 16 rows for groups [g0, g1), transposed so that one
 * aligned load gives a group's values for all 16 rows. */
typedef struct stage16 {
    float sc[GCH][16];
    int32_t zb[GCH][16];
} stage16;

/* out[c] lane j = in[j] lane c, for 16 x 16 floats. */
TD_AI void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* t[2i], 128-bit lane l: rows 2i, 2i+1 of columns 4l, 4l+1; t[2i+1]: 4l+2, 4l+3 */
    __m512 x[16]; /* x[4j + e], lane l: rows 4j..4j+3 of column 4l + e */
    for (int j = 0; j < 4; j++) {
        __m512d a = _mm512_castps_pd(t[4 * j]), b = _mm512_castps_pd(t[4 * j + 2]);
        __m512d c = _mm512_castps_pd(t[4 * j + 1]), d = _mm512_castps_pd(t[4 * j + 3]);
        x[4 * j + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        x[4 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        x[4 * j + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        x[4 * j + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    for (int e = 0; e < 4; e++) {
        __m512 u0 = _mm512_shuffle_f32x4(x[e], x[4 + e], _MM_SHUFFLE(1, 0, 1, 0));
        __m512 u1 = _mm512_shuffle_f32x4(x[e], x[4 + e], _MM_SHUFFLE(3, 2, 3, 2));
        __m512 u2 = _mm512_shuffle_f32x4(x[8 + e], x[12 + e], _MM_SHUFFLE(1, 0, 1, 0));
        __m512 u3 = _mm512_shuffle_f32x4(x[8 + e], x[12 + e], _MM_SHUFFLE(3, 2, 3, 2));
        r[e] = _mm512_shuffle_f32x4(u0, u2, _MM_SHUFFLE(2, 0, 2, 0));
        r[4 + e] = _mm512_shuffle_f32x4(u0, u2, _MM_SHUFFLE(3, 1, 3, 1));
        r[8 + e] = _mm512_shuffle_f32x4(u1, u3, _MM_SHUFFLE(2, 0, 2, 0));
        r[12 + e] = _mm512_shuffle_f32x4(u1, u3, _MM_SHUFFLE(3, 1, 3, 1));
    }
}

/* Stages scales (and B + zero) of rows ridx[] for groups [g0, g1): 16 groups of 16
 * rows per in-register transpose, since scalar copies cost as much as the products
 * for groups of 32. */
static void stage_rows(const td_qmatrix *w, const int64_t ridx[16], int64_t g0, int64_t g1,
                       int bias, stage16 *st)
{
    const float *s[16];
    for (int i = 0; i < 16; i++)
        s[i] = w->scales + (ridx[i] / w->tile_rows) * w->ngroups;
    for (int64_t g = g0; g < g1; g += 16) {
        int n = (int)min64(16, g1 - g);
        __mmask16 m = (__mmask16)((1u << n) - 1);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = _mm512_maskz_loadu_ps(m, s[i] + g);
        transpose16(r);
        for (int c = 0; c < n; c++)
            _mm512_store_ps(st->sc[g - g0 + c], r[c]);
    }
    if (!w->zeros)
        return;
    const int8_t *z[16];
    for (int i = 0; i < 16; i++)
        z[i] = w->zeros + (ridx[i] / w->tile_rows) * w->ngroups;
    const __m512i vb = _mm512_set1_epi32(bias);
    for (int64_t g = g0; g < g1; g += 16) {
        int n = (int)min64(16, g1 - g);
        __mmask16 m = (__mmask16)((1u << n) - 1);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = _mm512_castsi512_ps(
                _mm512_add_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, z[i] + g)), vb));
        transpose16(r);
        for (int c = 0; c < n; c++)
            _mm512_store_si512(st->zb[g - g0 + c], _mm512_castps_si512(r[c]));
    }
}

/* One group's result for 16 rows: t holds sum(u * x) per row. */
TD_AI __m512 finish16(__m512 yv, __m512i t, const stage16 *st, int64_t gl, int32_t gsum, int bias,
                      int asym)
{
    __m512i corr = asym ? _mm512_mullo_epi32(_mm512_load_si512(st->zb[gl]), _mm512_set1_epi32(gsum))
                        : _mm512_set1_epi32(bias * gsum);
    t = _mm512_sub_epi32(t, corr);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_load_ps(st->sc[gl]), yv);
}

/* Sequential prefetch of the next 16-row block. Sixteen interleaved row streams read
 * from DRAM at about half the speed of one sequential stream here, while the block's
 * codes are one contiguous range of memory (and its scales another): so each step,
 * which consumes about 16 cache lines of codes of this block, asks for the next 16
 * lines of codes and 4 lines of scales (at most a quarter as many bytes) of the next
 * block, in address order, into L2. */
typedef struct prefetcher {
    const char *code, *scale; /* bases; offsets below stay integers, never wild pointers */
    int64_t p, end, sp, send;
} prefetcher;

TD_AI prefetcher next_block(const td_qmatrix *w, int64_t rb, int64_t r1, bool on)
{
    prefetcher pf = {(const char *)w->codes, (const char *)w->scales, 0, 0, 0, 0};
    if (on && rb + PF_AHEAD < r1) {
        int64_t n0 = rb + PF_AHEAD, n1 = min64(r1, rb + PF_AHEAD + 16);
        pf.p = n0 * (int64_t)w->row_bytes;
        pf.end = n1 * (int64_t)w->row_bytes;
        pf.sp = n0 / w->tile_rows * w->ngroups * (int64_t)sizeof(float);
        pf.send = ((n1 - 1) / w->tile_rows + 1) * w->ngroups * (int64_t)sizeof(float);
    }
    return pf;
}

/* Line i of this step (0 <= i < 16), issued between the rows' loads so that the
 * requests trickle out instead of filling the miss queue in one burst. */
TD_AI void prefetch_line(const prefetcher *pf, int i)
{
    if (pf->p + 64 * i < pf->end)
        _mm_prefetch(pf->code + pf->p + 64 * i, _MM_HINT_T1);
    if (i < 4 && pf->sp + 64 * i < pf->send)
        _mm_prefetch(pf->scale + pf->sp + 64 * i, _MM_HINT_T1);
}

TD_AI void prefetch_advance(prefetcher *pf)
{
    pf->p += 16 * 64;
    pf->sp += 4 * 64;
}

/* Groups [g0, g1) of any size (multiple of 32), one group at a time, 64 code bytes
 * per step (masked at the group's end). */
TD_AI __m512 int4_groups_any(const uint8_t *const row[16], const int8_t *x, const int32_t *gsum,
                             int64_t gs, int64_t g0, int64_t g1, const stage16 *st, int asym,
                             prefetcher *pf, __m512 yv)
{
    const int64_t h = gs / 2;
    const __m512i m0f = _mm512_set1_epi8(0x0F);
    for (int64_t g = g0; g < g1; g++) {
        __m512i p[16];
        for (int i = 0; i < 16; i++)
            p[i] = _mm512_setzero_si512();
        const int8_t *xg = x + g * gs;
        for (int64_t c = 0; c < h; c += 64) {
            __mmask64 m = mask_bytes(h - c);
            __m512i xa = _mm512_maskz_loadu_epi8(m, xg + c);
            __m512i xb = _mm512_maskz_loadu_epi8(m, xg + h + c);
            for (int i = 0; i < 16; i++) {
                prefetch_line(pf, i);
                __m512i v = _mm512_maskz_loadu_epi8(m, row[i] + g * h + c);
                p[i] = _mm512_dpbusd_epi32(p[i], _mm512_and_si512(v, m0f), xa);
                p[i] =
                    _mm512_dpbusd_epi32(p[i], _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f), xb);
            }
            prefetch_advance(pf);
        }
        __m512i v4[4];
        reduce16_lanes(p, v4);
        __m512i t =
            _mm512_add_epi32(_mm512_add_epi32(v4[0], v4[1]), _mm512_add_epi32(v4[2], v4[3]));
        yv = finish16(yv, t, st, g - g0, gsum[g], 8, asym);
    }
    return yv;
}

/* Groups of 32 (ng4 = 4) or 64 (ng4 = 2) codes: ng4 groups per 64-byte load. Group
 * l of a load occupies 128-bit lanes [l * 4/ng4, (l+1) * 4/ng4). */
TD_AI __m512 int4_groups_small(const uint8_t *const row[16], const int8_t *x, const int32_t *gsum,
                               int ng4, int64_t g0, int64_t g1, const stage16 *st, int asym,
                               prefetcher *pf, __m512 yv)
{
    const int64_t gs = 128 / ng4, h = gs / 2;
    const __m512i m0f = _mm512_set1_epi8(0x0F);
    /* Activation qwords matching the low / high nibbles of each 128-bit lane. */
    const __m512i ia = ng4 == 4 ? _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13)
                                : _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11);
    const __m512i ib = ng4 == 4 ? _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15)
                                : _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
    for (int64_t gc = g0; gc < g1; gc += ng4) {
        int nv = (int)min64(ng4, g1 - gc);
        int64_t nx = nv * gs; /* activation bytes of the valid groups */
        __m512i a0 = _mm512_maskz_loadu_epi8(mask_bytes(nx), x + gc * gs);
        __m512i a1 = nx > 64 ? _mm512_maskz_loadu_epi8(mask_bytes(nx - 64), x + gc * gs + 64)
                             : _mm512_setzero_si512();
        __m512i xa = _mm512_permutex2var_epi64(a0, ia, a1);
        __m512i xb = _mm512_permutex2var_epi64(a0, ib, a1);
        __mmask64 m = mask_bytes(nv * h);
        __m512i p[16];
        for (int i = 0; i < 16; i++) {
            prefetch_line(pf, i);
            __m512i v = _mm512_maskz_loadu_epi8(m, row[i] + gc * h);
            p[i] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(v, m0f), xa);
            p[i] = _mm512_dpbusd_epi32(p[i], _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f), xb);
        }
        prefetch_advance(pf);
        __m512i v4[4];
        reduce16_lanes(p, v4);
        if (ng4 == 4) {
            for (int l = 0; l < nv; l++)
                yv = finish16(yv, v4[l], st, gc + l - g0, gsum[gc + l], 8, asym);
        } else {
            yv = finish16(yv, _mm512_add_epi32(v4[0], v4[1]), st, gc - g0, gsum[gc], 8, asym);
            if (nv > 1)
                yv = finish16(yv, _mm512_add_epi32(v4[2], v4[3]), st, gc + 1 - g0, gsum[gc + 1], 8,
                              asym);
        }
    }
    return yv;
}

static void int4_gemv(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1)
{
    const int64_t gs = w->gsize, ng = w->ngroups;
    const int asym = w->zeros != NULL;
    stage16 st __attribute__((aligned(64)));
    for (int64_t rb = r0; rb < r1; rb += 16) {
        int nr = (int)min64(16, r1 - rb);
        /* Missing tail rows repeat the last row; their lanes are never stored. */
        int64_t ridx[16];
        const uint8_t *row[16];
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
                stage_rows(w, ridx, g0, g1, 8, &st);
                if (gs == 32)
                    yv = int4_groups_small(row, x, gsum, 4, g0, g1, &st, asym, &pf, yv);
                else if (gs == 64)
                    yv = int4_groups_small(row, x, gsum, 2, g0, g1, &st, asym, &pf, yv);
                else
                    yv = int4_groups_any(row, x, gsum, gs, g0, g1, &st, asym, &pf, yv);
            }
            _mm512_mask_storeu_ps(y + b * ldy + rb, rmask,
                                  _mm512_mul_ps(yv, _mm512_set1_ps(a->scale[b])));
        }
    }
}

/* ---- GEMM with integer activations: token panels ---- */

/* Packs tokens [t0, t0 + nt) x elements [k0, k1) so that xp[k4 * PT + t] holds
 * x_t[k0 + 4 k4 .. + 3]; missing tokens are zero. Sixteen tokens' 64-byte rows are
 * loaded and transposed as 16 x 16 dwords in registers. */
static void pack_panel(const td_act *a, int64_t t0, int nt, int64_t k0, int64_t k1, int32_t *xp)
{
    int64_t nk4 = (k1 - k0) / 4;
    for (int p = 0; p * 16 < nt; p++) {
        for (int64_t j = 0; j < nk4; j += 16) {
            int n = (int)min64(16, nk4 - j);
            __mmask16 m = (__mmask16)((1u << n) - 1);
            __m512 r[16];
            for (int t = 0; t < 16; t++) {
                int64_t tok = 16 * p + t;
                r[t] = tok < nt ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi32(
                                      m, a->q + (t0 + tok) * a->kpad + k0 + 4 * j))
                                : _mm512_setzero_ps();
            }
            transpose16(r);
            for (int c = 0; c < n; c++)
                _mm512_store_ps((float *)(xp + (j + c) * PT + 16 * p), r[c]);
        }
    }
}

/* 4 rows x (16 * np) tokens over one segment of one group. */
TD_AI void panel_segment(const uint8_t *const u[4], const int32_t *xp, int64_t nk4, int np,
                         __m512i acc[4][2])
{
    for (int64_t k = 0; k < nk4; k++) {
        __m512i x0 = _mm512_load_si512(xp + k * PT);
        __m512i x1 = np == 2 ? _mm512_load_si512(xp + k * PT + 16) : x0;
        for (int i = 0; i < 4; i++) {
            int32_t wd;
            memcpy(&wd, u[i] + 4 * k, 4);
            __m512i wb = _mm512_set1_epi32(wd);
            acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], wb, x0);
            if (np == 2)
                acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], wb, x1);
        }
    }
}

typedef struct panel_state {
    int32_t xp[PKC / 4 * PT];
    int32_t gsp[PKC / 32 * PT]; /* gsum of the chunk's groups, [group][token] */
    uint8_t ub[4][PKC];
    float ys[PRB][PT];     /* y so far, between chunks */
    int32_t accs[PRB][PT]; /* unfinished group sums, between chunks (groups > PKC) */
    float tsc[PT];
} panel_state;

/* Rows ridx[0..3] (block row offset lr within the PRB block) over chunk [k0, k1). */
TD_AI void panel_rows(const td_qmatrix *w, panel_state *ps, const int64_t ridx[4], int64_t lr,
                      int64_t k0, int64_t k1, int np, int bias, td_lowbit_decode_fn decode,
                      int64_t nextrow)
{
    const int64_t gs = w->gsize;
    /* Scale and zero rows (an integer division each: hoisted out of the group loop). */
    const float *srow[4];
    const int8_t *zrow[4];
    for (int i = 0; i < 4; i++) {
        srow[i] = w->scales + ridx[i] / w->tile_rows * w->ngroups;
        zrow[i] = w->zeros ? w->zeros + ridx[i] / w->tile_rows * w->ngroups : NULL;
        decode(w, ridx[i], k0, k1 - k0, ps->ub[i]);
    }
    /* The next four rows' codes for this chunk, while these rows compute. */
    if (nextrow >= 0) {
        int64_t bits = (int64_t)w->row_bytes * 8 / w->kpad;
        int64_t off = k0 * bits / 8, len = (k1 - k0) * bits / 8;
        for (int64_t r = nextrow; r < nextrow + 4 && r < w->rows; r++)
            for (int64_t j = 0; j < len; j += 64)
                _mm_prefetch((const char *)(w->codes + r * w->row_bytes + off + j), _MM_HINT_T1);
    }
    __m512 yv[4][2];
    for (int i = 0; i < 4; i++)
        for (int p = 0; p < np; p++)
            yv[i][p] = k0 == 0 ? _mm512_setzero_ps() : _mm512_load_ps(&ps->ys[lr + i][16 * p]);
    const int64_t gfirst = k0 / gs;
    for (int64_t ka = k0, g = gfirst; ka < k1; g++) {
        int64_t kb = min64(k1, (g + 1) * gs);
        __m512i acc[4][2];
        for (int i = 0; i < 4; i++)
            for (int p = 0; p < np; p++)
                acc[i][p] = ka == g * gs ? _mm512_setzero_si512()
                                         : _mm512_load_si512(&ps->accs[lr + i][16 * p]);
        const uint8_t *u[4];
        for (int i = 0; i < 4; i++)
            u[i] = ps->ub[i] + (ka - k0);
        panel_segment(u, ps->xp + (ka - k0) / 4 * PT, (kb - ka) / 4, np, acc);
        if (kb == (g + 1) * gs) {
            const int32_t *gsp = ps->gsp + (g - gfirst) * PT;
            for (int i = 0; i < 4; i++) {
                float s = srow[i][g];
                int zb = bias + (zrow[i] ? zrow[i][g] : 0);
                for (int p = 0; p < np; p++) {
                    __m512i corr =
                        _mm512_mullo_epi32(_mm512_set1_epi32(zb), _mm512_load_si512(gsp + 16 * p));
                    __m512i t = _mm512_sub_epi32(acc[i][p], corr);
                    yv[i][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_set1_ps(s), yv[i][p]);
                }
            }
        } else {
            for (int i = 0; i < 4; i++)
                for (int p = 0; p < np; p++)
                    _mm512_store_si512(&ps->accs[lr + i][16 * p], acc[i][p]);
        }
        ka = kb;
    }
    for (int i = 0; i < 4; i++)
        for (int p = 0; p < np; p++)
            _mm512_store_ps(&ps->ys[lr + i][16 * p], yv[i][p]);
}

void td_lowbit_panels_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1, td_lowbit_decode_fn decode, int bias)
{
    const int64_t gs = w->gsize, ng = w->ngroups, kpad = w->kpad;
    panel_state ps __attribute__((aligned(64)));
    for (int64_t t0 = 0; t0 < a->batch; t0 += PT) {
        int nt = (int)min64(PT, a->batch - t0);
        int np = nt > 16 ? 2 : 1;
        for (int t = 0; t < PT; t++)
            ps.tsc[t] = t < nt ? a->scale[t0 + t] : 0.0f;
        for (int64_t rr = r0; rr < r1; rr += PRB) {
            int64_t rend = min64(r1, rr + PRB);
            for (int64_t k0 = 0; k0 < kpad;) {
                int64_t k1 = chunk_end(k0, gs, PKC, kpad);
                pack_panel(a, t0, nt, k0, k1, ps.xp);
                for (int64_t g = k0 / gs; g <= (k1 - 1) / gs; g++)
                    for (int t = 0; t < PT; t++)
                        ps.gsp[(g - k0 / gs) * PT + t] = t < nt ? a->gsum[(t0 + t) * ng + g] : 0;
                for (int64_t rb = rr; rb < rend; rb += 4) {
                    int64_t ridx[4];
                    for (int i = 0; i < 4; i++)
                        ridx[i] = min64(rb + i, rend - 1);
                    int64_t next = rb + 4 < rend ? rb + 4 : -1;
                    if (np == 2)
                        panel_rows(w, &ps, ridx, rb - rr, k0, k1, 2, bias, decode, next);
                    else
                        panel_rows(w, &ps, ridx, rb - rr, k0, k1, 1, bias, decode, next);
                }
                k0 = k1;
            }
            /* Token scales, then the transposed store into y (token-major). */
            for (int64_t r = rr; r < rend; r++)
                for (int t = 0; t < nt; t++)
                    y[(t0 + t) * ldy + r] = ps.ys[r - rr][t] * ps.tsc[t];
        }
    }
}

/* ---- f32 activations ---- */

/* Asks for the codes of rows [r, r + FR) x elements [k0, k1): into L2 for the next
 * row block (visited one block later), into L1 for this block's chunk after next;
 * decoding would otherwise wait on memory, since the long product loops between two
 * decodes keep the out-of-order window from running ahead. */
static void prefetch_rows(const td_qmatrix *w, int64_t r, int64_t r1, int64_t k0, int64_t k1,
                          bool l1)
{
    int64_t bits = (int64_t)w->row_bytes * 8 / w->kpad;
    int64_t off = k0 * bits / 8, len = (k1 - k0) * bits / 8;
    for (int64_t i = r; i < r + FR && i < r1; i++)
        for (int64_t j = 0; j < len; j += 64) {
            const char *p = (const char *)(w->codes + i * w->row_bytes + off + j);
            if (l1)
                _mm_prefetch(p, _MM_HINT_T0);
            else
                _mm_prefetch(p, _MM_HINT_T1);
        }
}

/* Decodes rows ridx[] x elements [k0, k1). Without zero points the bias B is taken off
 * here, once for all tokens, leaving the signed codes q; the pass reads back exactly
 * the 64-byte vectors the decoder stored, so the loads forward from the stores. */
static void decode_rows(const td_qmatrix *w, const int64_t ridx[FR], int64_t k0, int64_t k1,
                        int bias, td_lowbit_decode_fn decode, uint8_t (*qb)[FKC])
{
    for (int i = 0; i < FR; i++) {
        decode(w, ridx[i], k0, k1 - k0, qb[i]);
        if (w->zeros)
            continue;
        const __m512i vb = _mm512_set1_epi8((char)bias);
        for (int64_t k = 0; k < k1 - k0; k += 64) {
            __mmask64 m = mask_bytes(k1 - k0 - k);
            __m512i v = _mm512_sub_epi8(_mm512_maskz_loadu_epi8(m, qb[i] + k), vb);
            store_bytes(qb[i] + k, k1 - k0 - k, v);
        }
    }
}

/* One token's product with the decoded chunk [k0, k1) of FR rows, group by group:
 * acc = sum of (q - zero) * x in f32, then y += scale * acc. asym: qb holds u and the
 * zero point comes off in int32 (exact) before the conversion; otherwise qb already
 * holds the signed q. */
TD_AI void f32_chunk(uint8_t (*qb)[FKC], const float *x, const float *const srow[FR],
                     const int8_t *const zrow[FR], int64_t k0, int64_t k1, int64_t gs, int bias,
                     bool asym, __m512 yv[FR])
{
    for (int64_t ka = k0, g = k0 / gs; ka < k1; g++) {
        int64_t kb = min64(k1, (g + 1) * gs);
        __m512i zb[FR];
        __m512 acc[FR];
        for (int i = 0; i < FR; i++) {
            zb[i] = _mm512_set1_epi32(asym ? bias + zrow[i][g] : 0);
            acc[i] = _mm512_setzero_ps();
        }
        for (int64_t k = ka; k < kb; k += 16) {
            __m512 xv = _mm512_loadu_ps(x + k);
            for (int i = 0; i < FR; i++) {
                __m128i c8 = _mm_loadu_si128((const __m128i *)(qb[i] + (k - k0)));
                __m512i q = asym ? _mm512_sub_epi32(_mm512_cvtepu8_epi32(c8), zb[i])
                                 : _mm512_cvtepi8_epi32(c8);
                acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(q), xv, acc[i]);
            }
        }
        for (int i = 0; i < FR; i++)
            yv[i] = _mm512_fmadd_ps(acc[i], _mm512_set1_ps(srow[i][g]), yv[i]);
        ka = kb;
    }
}

/* Several tokens: the chunk's codes become floats (q - zero, exact) once, and each
 * token's product is one FMA per 16 weights. Same operations per lane as f32_chunk,
 * so results do not depend on the batch size. */
static void codes_to_float(uint8_t (*qb)[FKC], const int8_t *const zrow[FR], int64_t k0, int64_t k1,
                           int64_t gs, int bias, float (*fq)[FKC + 16])
{
    for (int i = 0; i < FR; i++)
        for (int64_t ka = k0, g = k0 / gs; ka < k1; g++) {
            int64_t kb = min64(k1, (g + 1) * gs);
            __m512i zb = _mm512_set1_epi32(zrow[i] ? bias + zrow[i][g] : 0);
            for (int64_t k = ka; k < kb; k += 16) {
                __m128i c8 = _mm_loadu_si128((const __m128i *)(qb[i] + (k - k0)));
                __m512i q = zrow[i] ? _mm512_sub_epi32(_mm512_cvtepu8_epi32(c8), zb)
                                    : _mm512_cvtepi8_epi32(c8);
                _mm512_store_ps(fq[i] + (k - k0), _mm512_cvtepi32_ps(q));
            }
            ka = kb;
        }
}

/* Two tokens at once: eight independent accumulators, so the FMA latency is hidden,
 * and each weight load serves both tokens. */
TD_AI void f32_chunk_floats2(float (*fq)[FKC + 16], const float *x0, const float *x1,
                             const float *const srow[FR], int64_t k0, int64_t k1, int64_t gs,
                             __m512 y0[FR], __m512 y1[FR])
{
    for (int64_t ka = k0, g = k0 / gs; ka < k1; g++) {
        int64_t kb = min64(k1, (g + 1) * gs);
        __m512 a0[FR], a1[FR];
        for (int i = 0; i < FR; i++)
            a0[i] = a1[i] = _mm512_setzero_ps();
        for (int64_t k = ka; k < kb; k += 16) {
            __m512 xv0 = _mm512_loadu_ps(x0 + k), xv1 = _mm512_loadu_ps(x1 + k);
            for (int i = 0; i < FR; i++) {
                __m512 wv = _mm512_load_ps(fq[i] + (k - k0));
                a0[i] = _mm512_fmadd_ps(wv, xv0, a0[i]);
                a1[i] = _mm512_fmadd_ps(wv, xv1, a1[i]);
            }
        }
        for (int i = 0; i < FR; i++) {
            __m512 sv = _mm512_set1_ps(srow[i][g]);
            y0[i] = _mm512_fmadd_ps(a0[i], sv, y0[i]);
            y1[i] = _mm512_fmadd_ps(a1[i], sv, y1[i]);
        }
        ka = kb;
    }
}

void td_lowbit_f32_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                          int64_t r1, td_lowbit_decode_fn decode, int bias)
{
    const int64_t gs = w->gsize, kpad = w->kpad;
    /* Two chunk buffers: chunk c + 1 is decoded before chunk c is used, so the
     * conversions never read bytes still sitting in the store buffer. */
    uint8_t qbuf[2][FR][FKC] __attribute__((aligned(64)));
    float fq[FR][FKC + 16] __attribute__((aligned(64))); /* +16: rows not 4 KiB apart */
    __m512 yacc[FT][FR];
    for (int64_t rb = r0; rb < r1; rb += FR) {
        int nr = (int)min64(FR, r1 - rb);
        int64_t ridx[FR];
        const float *srow[FR];
        const int8_t *zrow[FR];
        for (int i = 0; i < FR; i++) {
            ridx[i] = rb + (i < nr ? i : nr - 1);
            srow[i] = w->scales + ridx[i] / w->tile_rows * w->ngroups;
            zrow[i] = w->zeros ? w->zeros + ridx[i] / w->tile_rows * w->ngroups : NULL;
        }
        for (int64_t t0 = 0; t0 < a->batch; t0 += FT) {
            int nt = (int)min64(FT, a->batch - t0);
            for (int t = 0; t < nt; t++)
                for (int i = 0; i < FR; i++)
                    yacc[t][i] = _mm512_setzero_ps();
            int cur = 0;
            int64_t k1 = chunk_end(0, gs, FKC, kpad);
            decode_rows(w, ridx, 0, k1, bias, decode, qbuf[0]);
            for (int64_t k0 = 0; k0 < kpad;) {
                int64_t k2 = k1 < kpad ? chunk_end(k1, gs, FKC, kpad) : kpad;
                if (k1 < kpad)
                    decode_rows(w, ridx, k1, k2, bias, decode, qbuf[cur ^ 1]);
                prefetch_rows(w, rb + FR, r1, k0, k1, false);
                if (k2 < kpad)
                    prefetch_rows(w, rb, rb + nr, k2, chunk_end(k2, gs, FKC, kpad), true);
                uint8_t(*qb)[FKC] = qbuf[cur];
                if (nt > 1)
                    codes_to_float(qb, zrow, k0, k1, gs, bias, fq);
                for (int t = 0; t < nt;) {
                    const float *x = a->x + (t0 + t) * kpad;
                    if (nt > 1) { /* pairs of tokens; an odd last one pairs with itself */
                        int t1 = t + 1 < nt ? t + 1 : t;
                        __m512 y0[FR], y1[FR];
                        for (int i = 0; i < FR; i++) {
                            y0[i] = yacc[t][i];
                            y1[i] = yacc[t1][i];
                        }
                        f32_chunk_floats2(fq, x, a->x + (t0 + t1) * kpad, srow, k0, k1, gs, y0, y1);
                        for (int i = 0; i < FR; i++) {
                            yacc[t][i] = y0[i];
                            yacc[t1][i] = y1[i];
                        }
                        t = t1 + 1;
                        continue;
                    }
                    __m512 yv[FR];
                    for (int i = 0; i < FR; i++)
                        yv[i] = yacc[t][i];
                    if (w->zeros)
                        f32_chunk(qb, x, srow, zrow, k0, k1, gs, bias, true, yv);
                    else
                        f32_chunk(qb, x, srow, zrow, k0, k1, gs, bias, false, yv);
                    for (int i = 0; i < FR; i++)
                        yacc[t][i] = yv[i];
                    t++;
                }
                k0 = k1;
                k1 = k2;
                cur ^= 1;
            }
            for (int t = 0; t < nt; t++)
                for (int i = 0; i < nr; i++)
                    y[(t0 + t) * ldy + rb + i] = _mm512_reduce_add_ps(yacc[t][i]);
        }
    }
}

/* ---- int4 entry ---- */

/* Biased codes of elements [k0, k0 + n) of row r: each piece lies in one half of one
 * group, where codes are the low (first half) or high (second half) nibbles of
 * consecutive bytes. */
/* Groups of 32 or 64 codes (whole groups only): 64 code bytes hold 128 codes, low and
 * high nibbles are unpacked and their qwords interleaved back into element order. */
static void int4_decode_small(const uint8_t *src, int64_t gs, int64_t n, uint8_t *u)
{
    const __m512i m0f = _mm512_set1_epi8(0x0F);
    const __m512i i0 = gs == 32 ? _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11)
                                : _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11);
    const __m512i i1 = gs == 32 ? _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15)
                                : _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
    for (int64_t k = 0; k < n; k += 128) {
        int64_t left = n - k; /* a multiple of gs */
        __m512i v = _mm512_maskz_loadu_epi8(mask_bytes(left / 2), src + k / 2);
        __m512i lo = _mm512_and_si512(v, m0f);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f);
        store_bytes(u + k, left, _mm512_permutex2var_epi64(lo, i0, hi));
        if (left > 64)
            store_bytes(u + k + 64, left - 64, _mm512_permutex2var_epi64(lo, i1, hi));
    }
}

static void int4_decode(const td_qmatrix *w, int64_t r, int64_t k0, int64_t n, uint8_t *u)
{
    const int64_t gs = w->gsize, h = gs / 2;
    const __m512i m0f = _mm512_set1_epi8(0x0F);
    if (gs <= 64) { /* ranges are whole groups: chunks never split groups this small */
        int4_decode_small(w->codes + r * w->row_bytes + k0 / 2, gs, n, u);
        return;
    }
    if (k0 % gs == 0 && n % gs == 0 && h % 64 == 0) {
        /* Whole groups: each code byte is loaded once and gives both halves. */
        const uint8_t *src = w->codes + r * w->row_bytes + k0 / 2;
        for (int64_t g = 0; g < n; g += gs, src += h, u += gs)
            for (int64_t c = 0; c < h; c += 64) {
                __m512i v = _mm512_loadu_si512(src + c);
                _mm512_storeu_si512(u + c, _mm512_and_si512(v, m0f));
                _mm512_storeu_si512(u + h + c, _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f));
            }
        return;
    }
    const uint8_t *grp = w->codes + r * w->row_bytes + k0 / gs * h;
    int64_t o = k0 % gs; /* position inside the current group */
    for (int64_t done = 0; done < n;) {
        int high = o >= h;
        int64_t ob = high ? o - h : o;
        int64_t len = min64(h - ob, n - done);
        for (int64_t j = 0; j < len; j += 64) {
            __mmask64 m = mask_bytes(len - j);
            __m512i v = _mm512_maskz_loadu_epi8(m, grp + ob + j);
            v = high ? _mm512_srli_epi16(v, 4) : v;
            store_bytes(u + done + j, len - j, _mm512_and_si512(v, m0f));
        }
        done += len;
        o += len;
        if (o == gs) {
            o = 0;
            grp += h;
        }
    }
}

void td_gemm_int4_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                         int64_t r1)
{
    if (a->type == TD_ACT_F32)
        td_lowbit_f32_avx512(w, a, y, ldy, r0, r1, int4_decode, 8);
    else if (a->batch <= GEMV_MAX_BATCH)
        int4_gemv(w, a, y, ldy, r0, r1);
    else
        td_lowbit_panels_avx512(w, a, y, ldy, r0, r1, int4_decode, 8);
}
