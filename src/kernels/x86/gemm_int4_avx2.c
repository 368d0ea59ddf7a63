/* int4 kernels for AVX2 + FMA, and the AVX2 versions of the two drivers the int6
 * kernels share (token panels for GEMM with integer activations, f32 activations).
 * Structure as in gemm_int4_avx512.c, with 8 rows / 8 tokens per vector; semantics as
 * in kernels/lowbit_kernels.h, so integer results match the reference bit for bit.
 *
 * Products: maddubs(u, x) multiplies unsigned codes by signed activations into int16
 * pairs. It cannot saturate here: a pair is at most 2 * 63 * 127 = 16002, and two of
 * them added in int16 (32004) still fit, so each maddubs pair-sum is followed by one
 * madd with ones (to int32) for every two code vectors. */
#include <immintrin.h>
#include <string.h>

#include "kernels/lowbit_kernels.h"

#define TD_AI static inline __attribute__((always_inline))

enum {
    GEMV_MAX_BATCH = 11, /* above this the token panels are faster (measured) */
    GCH = 128,           /* groups whose scales are staged at a time */
    PT = 16,             /* tokens per panel pass: two ymm of int32 lanes */
    PKC = 1024,          /* the rest as in gemm_int4_avx512.c */
    PRB = 64,
    FR = 4,
    FT = 8,
    FKC = 1024,
};

TD_AI int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

TD_AI int64_t chunk_end(int64_t k0, int64_t gs, int64_t cap, int64_t kpad)
{
    int64_t e = gs <= cap ? k0 + cap / gs * gs : min64(k0 + cap, (k0 / gs + 1) * gs);
    return min64(e, kpad);
}

/* 32 bytes, or 16 bytes zero-extended when only 16 remain. */
TD_AI __m256i load_32_or_16(const void *p, int64_t n)
{
    return n >= 32 ? _mm256_loadu_si256((const __m256i *)p)
                   : _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)p));
}

/* ---- GEMV with integer activations ---- */

/* p[0..7]: per-row int32 partial sums; v[l] lane j = sum of the four dwords in
 * 128-bit lane l of p[j]. */
TD_AI void reduce8_lanes(const __m256i p[8], __m256i v[2])
{
    __m256i q[4], u[2];
    for (int i = 0; i < 4; i++)
        q[i] = _mm256_add_epi32(_mm256_unpacklo_epi32(p[2 * i], p[2 * i + 1]),
                                _mm256_unpackhi_epi32(p[2 * i], p[2 * i + 1]));
    for (int i = 0; i < 2; i++)
        u[i] = _mm256_add_epi32(_mm256_unpacklo_epi64(q[2 * i], q[2 * i + 1]),
                                _mm256_unpackhi_epi64(q[2 * i], q[2 * i + 1]));
    v[0] = _mm256_permute2x128_si256(u[0], u[1], 0x20);
    v[1] = _mm256_permute2x128_si256(u[0], u[1], 0x31);
}

typedef struct stage8 {
    float sc[GCH][8];
    int32_t zb[GCH][8];
} stage8;

static void stage_rows(const td_qmatrix *w, const int64_t ridx[8], int64_t g0, int64_t g1, int bias,
                       stage8 *st)
{
    for (int i = 0; i < 8; i++) {
        const float *s = w->scales + (ridx[i] / w->tile_rows) * w->ngroups;
        for (int64_t g = g0; g < g1; g++)
            st->sc[g - g0][i] = s[g];
        if (w->zeros) {
            const int8_t *z = w->zeros + (ridx[i] / w->tile_rows) * w->ngroups;
            for (int64_t g = g0; g < g1; g++)
                st->zb[g - g0][i] = bias + z[g];
        }
    }
}

TD_AI __m256 finish8(__m256 yv, __m256i t, const stage8 *st, int64_t gl, int32_t gsum, int bias,
                     int asym)
{
    __m256i corr = asym ? _mm256_mullo_epi32(_mm256_load_si256((const __m256i *)st->zb[gl]),
                                             _mm256_set1_epi32(gsum))
                        : _mm256_set1_epi32(bias * gsum);
    t = _mm256_sub_epi32(t, corr);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_load_ps(st->sc[gl]), yv);
}

/* u * x for two code vectors, summed to int32 pairs-of-pairs. */
TD_AI __m256i dot2(__m256i ua, __m256i xa, __m256i ub, __m256i xb)
{
    __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(ua, xa), _mm256_maddubs_epi16(ub, xb));
    return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}

/* Sequential L2 prefetch of the block after next (see gemm_int4_avx512.c): a step
 * consumes 8 rows x 32 code bytes, so it requests 4 lines of codes and 1 of scales,
 * spread over the row loads. */
typedef struct prefetcher {
    const char *code, *scale; /* bases; offsets below stay integers, never wild pointers */
    int64_t p, end, sp, send;
} prefetcher;

TD_AI prefetcher next_block(const td_qmatrix *w, int64_t rb, int64_t r1, int on)
{
    prefetcher pf = {(const char *)w->codes, (const char *)w->scales, 0, 0, 0, 0};
    if (on && rb + 16 < r1) {
        int64_t n0 = rb + 16, n1 = min64(r1, rb + 24);
        pf.p = n0 * (int64_t)w->row_bytes;
        pf.end = n1 * (int64_t)w->row_bytes;
        pf.sp = n0 / w->tile_rows * w->ngroups * (int64_t)sizeof(float);
        pf.send = ((n1 - 1) / w->tile_rows + 1) * w->ngroups * (int64_t)sizeof(float);
    }
    return pf;
}

TD_AI void prefetch_line(const prefetcher *pf, int i)
{
    if (i < 4 && pf->p + 64 * i < pf->end)
        _mm_prefetch(pf->code + pf->p + 64 * i, _MM_HINT_T1);
    if (i == 4 && pf->sp < pf->send)
        _mm_prefetch(pf->scale + pf->sp, _MM_HINT_T1);
}

TD_AI void prefetch_advance(prefetcher *pf)
{
    pf->p += 4 * 64;
    pf->sp += 64;
}

/* Groups of 64 or more codes: 32 code bytes per step, 16 at a group's odd end. */
TD_AI __m256 int4_groups_any(const uint8_t *const row[8], const int8_t *x, const int32_t *gsum,
                             int64_t gs, int64_t g0, int64_t g1, const stage8 *st, int asym,
                             prefetcher *pf, __m256 yv)
{
    const int64_t h = gs / 2;
    const __m256i m0f = _mm256_set1_epi8(0x0F);
    for (int64_t g = g0; g < g1; g++) {
        __m256i p[8];
        for (int i = 0; i < 8; i++)
            p[i] = _mm256_setzero_si256();
        const int8_t *xg = x + g * gs;
        for (int64_t c = 0; c < h; c += 32) {
            __m256i xa = load_32_or_16(xg + c, h - c);
            __m256i xb = load_32_or_16(xg + h + c, h - c);
            for (int i = 0; i < 8; i++) {
                prefetch_line(pf, i);
                __m256i v = load_32_or_16(row[i] + g * h + c, h - c);
                __m256i lo = _mm256_and_si256(v, m0f);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f);
                p[i] = _mm256_add_epi32(p[i], dot2(lo, xa, hi, xb));
            }
            prefetch_advance(pf);
        }
        __m256i v2[2];
        reduce8_lanes(p, v2);
        yv = finish8(yv, _mm256_add_epi32(v2[0], v2[1]), st, g - g0, gsum[g], 8, asym);
    }
    return yv;
}

/* Groups of 32 codes: two groups (16 bytes each) per 32-byte load. */
TD_AI __m256 int4_groups_32(const uint8_t *const row[8], const int8_t *x, const int32_t *gsum,
                            int64_t g0, int64_t g1, const stage8 *st, int asym, prefetcher *pf,
                            __m256 yv)
{
    const __m256i m0f = _mm256_set1_epi8(0x0F);
    for (int64_t gc = g0; gc < g1; gc += 2) {
        int nv = (int)min64(2, g1 - gc);
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(x + gc * 32));
        __m256i a1 = nv == 2 ? _mm256_loadu_si256((const __m256i *)(x + gc * 32 + 32))
                             : _mm256_setzero_si256();
        /* lane l of xa / xb: first / second 16 activations of group gc + l */
        __m256i xa = _mm256_permute2x128_si256(a0, a1, 0x20);
        __m256i xb = _mm256_permute2x128_si256(a0, a1, 0x31);
        __m256i p[8];
        for (int i = 0; i < 8; i++) {
            prefetch_line(pf, i);
            __m256i v = load_32_or_16(row[i] + gc * 16, 16 * nv);
            __m256i lo = _mm256_and_si256(v, m0f);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f);
            p[i] = dot2(lo, xa, hi, xb);
        }
        prefetch_advance(pf);
        __m256i v2[2];
        reduce8_lanes(p, v2);
        yv = finish8(yv, v2[0], st, gc - g0, gsum[gc], 8, asym);
        if (nv == 2)
            yv = finish8(yv, v2[1], st, gc + 1 - g0, gsum[gc + 1], 8, asym);
    }
    return yv;
}

/* Stores the first n lanes of v to y (n < 8 only at a tail block). */
TD_AI void store_rows(float *y, __m256 v, int n)
{
    if (n == 8) {
        _mm256_storeu_ps(y, v);
    } else {
        float tmp[8];
        _mm256_storeu_ps(tmp, v);
        memcpy(y, tmp, (size_t)n * sizeof(float));
    }
}

static void int4_gemv(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1)
{
    const int64_t gs = w->gsize, ng = w->ngroups;
    const int asym = w->zeros != NULL;
    stage8 st __attribute__((aligned(32)));
    for (int64_t rb = r0; rb < r1; rb += 8) {
        int nr = (int)min64(8, r1 - rb);
        int64_t ridx[8];
        const uint8_t *row[8];
        for (int i = 0; i < 8; i++) {
            ridx[i] = rb + (i < nr ? i : nr - 1);
            row[i] = w->codes + ridx[i] * w->row_bytes;
        }
        for (int64_t b = 0; b < a->batch; b++) {
            const int8_t *x = a->q + b * a->kpad;
            const int32_t *gsum = a->gsum + b * ng;
            __m256 yv = _mm256_setzero_ps();
            prefetcher pf = next_block(w, rb, r1, b == 0);
            for (int64_t g0 = 0; g0 < ng; g0 += GCH) {
                int64_t g1 = min64(ng, g0 + GCH);
                stage_rows(w, ridx, g0, g1, 8, &st);
                if (gs == 32)
                    yv = int4_groups_32(row, x, gsum, g0, g1, &st, asym, &pf, yv);
                else
                    yv = int4_groups_any(row, x, gsum, gs, g0, g1, &st, asym, &pf, yv);
            }
            store_rows(y + b * ldy + rb, _mm256_mul_ps(yv, _mm256_set1_ps(a->scale[b])), nr);
        }
    }
}

/* ---- GEMM with integer activations: token panels ---- */

static void pack_panel(const td_act *a, int64_t t0, int nt, int64_t k0, int64_t k1, int32_t *xp)
{
    const int8_t *base = a->q + t0 * a->kpad + k0;
    int64_t nk4 = (k1 - k0) / 4;
    for (int t = 0; t < PT; t++) {
        const int8_t *src = base + t * a->kpad;
        for (int64_t k = 0; k < nk4; k++) {
            int32_t v = 0;
            if (t < nt)
                memcpy(&v, src + 4 * k, 4);
            xp[k * PT + t] = v;
        }
    }
}

/* 4 rows x (8 * np) tokens over one segment (a multiple of 8 dwords) of one group. */
TD_AI void panel_segment(const uint8_t *const u[4], const int32_t *xp, int64_t nk4, int np,
                         __m256i acc[4][2])
{
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t k = 0; k < nk4; k += 2) {
        const __m256i *x0 = (const __m256i *)(xp + k * PT);
        const __m256i *x1 = (const __m256i *)(xp + (k + 1) * PT);
        for (int i = 0; i < 4; i++) {
            int32_t d0, d1;
            memcpy(&d0, u[i] + 4 * k, 4);
            memcpy(&d1, u[i] + 4 * k + 4, 4);
            __m256i w0 = _mm256_set1_epi32(d0), w1 = _mm256_set1_epi32(d1);
            for (int p = 0; p < np; p++) {
                __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(w0, _mm256_load_si256(x0 + p)),
                                             _mm256_maddubs_epi16(w1, _mm256_load_si256(x1 + p)));
                acc[i][p] = _mm256_add_epi32(acc[i][p], _mm256_madd_epi16(s, ones));
            }
        }
    }
}

typedef struct panel_state {
    int32_t xp[PKC / 4 * PT];
    int32_t gsp[PKC / 32 * PT];
    uint8_t ub[4][PKC];
    float ys[PRB][PT];
    int32_t accs[PRB][PT];
    float tsc[PT];
} panel_state;

TD_AI void panel_rows(const td_qmatrix *w, panel_state *ps, const int64_t ridx[4], int64_t lr,
                      int64_t k0, int64_t k1, int np, int bias, td_lowbit_decode_fn decode)
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
    const int64_t gfirst = k0 / gs;
    for (int64_t ka = k0, g = gfirst; ka < k1; g++) {
        int64_t kb = min64(k1, (g + 1) * gs);
        __m256i acc[4][2];
        for (int i = 0; i < 4; i++)
            for (int p = 0; p < np; p++)
                acc[i][p] = ka == g * gs
                                ? _mm256_setzero_si256()
                                : _mm256_load_si256((const __m256i *)&ps->accs[lr + i][8 * p]);
        const uint8_t *u[4];
        for (int i = 0; i < 4; i++)
            u[i] = ps->ub[i] + (ka - k0);
        panel_segment(u, ps->xp + (ka - k0) / 4 * PT, (kb - ka) / 4, np, acc);
        if (kb == (g + 1) * gs) {
            const int32_t *gsp = ps->gsp + (g - gfirst) * PT;
            for (int i = 0; i < 4; i++) {
                __m256 s = _mm256_set1_ps(srow[i][g]);
                __m256i zb = _mm256_set1_epi32(bias + (zrow[i] ? zrow[i][g] : 0));
                for (int p = 0; p < np; p++) {
                    __m256i corr =
                        _mm256_mullo_epi32(zb, _mm256_load_si256((const __m256i *)(gsp + 8 * p)));
                    __m256i t = _mm256_sub_epi32(acc[i][p], corr);
                    float *yp = &ps->ys[lr + i][8 * p];
                    __m256 yv = g == 0 ? _mm256_setzero_ps() : _mm256_load_ps(yp);
                    _mm256_store_ps(yp, _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), s, yv));
                }
            }
        } else {
            for (int i = 0; i < 4; i++)
                for (int p = 0; p < np; p++)
                    _mm256_store_si256((__m256i *)&ps->accs[lr + i][8 * p], acc[i][p]);
        }
        ka = kb;
    }
}

void td_lowbit_panels_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                           int64_t r1, td_lowbit_decode_fn decode, int bias)
{
    const int64_t gs = w->gsize, ng = w->ngroups, kpad = w->kpad;
    panel_state ps __attribute__((aligned(32)));
    for (int64_t t0 = 0; t0 < a->batch; t0 += PT) {
        int nt = (int)min64(PT, a->batch - t0);
        int np = nt > 8 ? 2 : 1;
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
                    if (np == 2)
                        panel_rows(w, &ps, ridx, rb - rr, k0, k1, 2, bias, decode);
                    else
                        panel_rows(w, &ps, ridx, rb - rr, k0, k1, 1, bias, decode);
                }
                k0 = k1;
            }
            for (int64_t r = rr; r < rend; r++)
                for (int t = 0; t < nt; t++)
                    y[(t0 + t) * ldy + r] = ps.ys[r - rr][t] * ps.tsc[t];
        }
    }
}

/* ---- f32 activations ---- */

/* Asks for the codes of rows [r, r + FR) x elements [k0, k1) into L2: the f32 path
 * visits them one row block later, and decoding would otherwise wait on memory. */
static void prefetch_rows(const td_qmatrix *w, int64_t r, int64_t r1, int64_t k0, int64_t k1)
{
    int64_t bits = (int64_t)w->row_bytes * 8 / w->kpad;
    int64_t off = k0 * bits / 8, len = (k1 - k0) * bits / 8;
    for (int64_t i = r; i < r + FR && i < r1; i++)
        for (int64_t j = 0; j < len; j += 64)
            _mm_prefetch((const char *)(w->codes + i * w->row_bytes + off + j), _MM_HINT_T1);
}

void td_lowbit_f32_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                        int64_t r1, td_lowbit_decode_fn decode, int bias)
{
    const int64_t gs = w->gsize, kpad = w->kpad;
    /* Two chunk buffers: chunk c + 1 is decoded before chunk c is used, so the
     * conversions never read bytes still sitting in the store buffer. */
    uint8_t qbuf[2][FR][FKC] __attribute__((aligned(32)));
    __m256 yacc[FT][FR];
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
                    yacc[t][i] = _mm256_setzero_ps();
            int cur = 0;
            int64_t k1 = chunk_end(0, gs, FKC, kpad);
            for (int i = 0; i < FR; i++)
                decode(w, ridx[i], 0, k1, qbuf[0][i]);
            for (int64_t k0 = 0; k0 < kpad;) {
                int64_t k2 = k1 < kpad ? chunk_end(k1, gs, FKC, kpad) : kpad;
                if (k1 < kpad)
                    for (int i = 0; i < FR; i++)
                        decode(w, ridx[i], k1, k2 - k1, qbuf[cur ^ 1][i]);
                prefetch_rows(w, rb + FR, r1, k0, k1);
                uint8_t(*qb)[FKC] = qbuf[cur];
                for (int t = 0; t < nt; t++) {
                    const float *x = a->x + (t0 + t) * kpad;
                    __m256 yv[FR];
                    for (int i = 0; i < FR; i++)
                        yv[i] = yacc[t][i];
                    for (int64_t ka = k0, g = k0 / gs; ka < k1; g++) {
                        int64_t kb = min64(k1, (g + 1) * gs);
                        /* q - zero = u - (B + zero), exact in int32 before the conversion */
                        __m256i zb[FR];
                        __m256 acc[FR];
                        for (int i = 0; i < FR; i++) {
                            zb[i] = _mm256_set1_epi32(bias + (zrow[i] ? zrow[i][g] : 0));
                            acc[i] = _mm256_setzero_ps();
                        }
                        for (int64_t k = ka; k < kb; k += 8) {
                            __m256 xv = _mm256_loadu_ps(x + k);
                            for (int i = 0; i < FR; i++) {
                                __m128i u8 = _mm_loadl_epi64((const __m128i *)(qb[i] + (k - k0)));
                                __m256i q = _mm256_sub_epi32(_mm256_cvtepu8_epi32(u8), zb[i]);
                                acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), xv, acc[i]);
                            }
                        }
                        for (int i = 0; i < FR; i++)
                            yv[i] = _mm256_fmadd_ps(acc[i], _mm256_set1_ps(srow[i][g]), yv[i]);
                        ka = kb;
                    }
                    for (int i = 0; i < FR; i++)
                        yacc[t][i] = yv[i];
                }
                k0 = k1;
                k1 = k2;
                cur ^= 1;
            }
            for (int t = 0; t < nt; t++)
                for (int i = 0; i < nr; i++) {
                    __m128 s = _mm_add_ps(_mm256_castps256_ps128(yacc[t][i]),
                                          _mm256_extractf128_ps(yacc[t][i], 1));
                    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                    s = _mm_add_ss(s, _mm_movehdup_ps(s));
                    y[(t0 + t) * ldy + rb + i] = _mm_cvtss_f32(s);
                }
        }
    }
}

/* ---- int4 entry ---- */

/* Biased codes of elements [k0, k0 + n) of row r (pieces inside one half of a group,
 * each a multiple of 16 codes). */
static void int4_decode(const td_qmatrix *w, int64_t r, int64_t k0, int64_t n, uint8_t *u)
{
    const int64_t gs = w->gsize, h = gs / 2;
    const uint8_t *grp = w->codes + r * w->row_bytes + k0 / gs * h;
    const __m256i m0f = _mm256_set1_epi8(0x0F);
    int64_t o = k0 % gs; /* position inside the current group */
    if (gs == 32) {
        /* whole groups of 16 bytes: low nibbles are codes 0..15, high 16..31 */
        for (int64_t k = 0; k < n; k += 32) {
            __m128i v = _mm_loadu_si128((const __m128i *)(grp + k / 2));
            __m256i vv =
                _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
            _mm256_storeu_si256((__m256i *)(u + k), _mm256_and_si256(vv, m0f));
        }
        return;
    }
    for (int64_t done = 0; done < n;) { /* pieces of 16 (or 32) inside one half */
        int high = o >= h;
        int64_t ob = high ? o - h : o;
        int64_t len = min64(h - ob, n - done);
        for (int64_t j = 0; j < len;) {
            __m256i v = load_32_or_16(grp + ob + j, len - j);
            v = _mm256_and_si256(high ? _mm256_srli_epi16(v, 4) : v, m0f);
            if (len - j >= 32) {
                _mm256_storeu_si256((__m256i *)(u + done + j), v);
                j += 32;
            } else {
                _mm_storeu_si128((__m128i *)(u + done + j), _mm256_castsi256_si128(v));
                j += 16;
            }
        }
        done += len;
        o += len;
        if (o == gs) {
            o = 0;
            grp += h;
        }
    }
}

void td_gemm_int4_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                       int64_t r1)
{
    if (a->type == TD_ACT_F32)
        td_lowbit_f32_avx2(w, a, y, ldy, r0, r1, int4_decode, 8);
    else if (a->batch <= GEMV_MAX_BATCH)
        int4_gemv(w, a, y, ldy, r0, r1);
    else
        td_lowbit_panels_avx2(w, a, y, ldy, r0, r1, int4_decode, 8);
}
