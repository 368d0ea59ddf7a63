/* Deformable convolution kernels with AVX-512 (16 lanes). Each performs the scalar kernel's
 * float operations in the same order (src/kernels/deform/deform_table.c), so results are
 * bitwise equal to it:
 *   td_dseg_avx512     table entries for 16 output pixels at a time (exact floor by
 *                      roundscale, inside test by ordered compares, clamps by min/max in the
 *                      operand order that keeps NaN);
 *   td_dsamp_row_avx512  samples of one channel plane, corners by masked gathers (a masked-off
 *                      lane is never read);
 *   td_dnhwc_avx512    samples of a channel-last band: each corner of a pixel is 16
 *                      consecutive channels, so a sample of 16 channels is 4 plain loads;
 *   td_dnhwc_dw_avx512 the same, multiplied into depthwise accumulators. */
#include <immintrin.h>

#include "kernels/deform/deform_internal.h"

static inline __mmask16 live16(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

void td_dseg_avx512(const td_dseg *a)
{
    const __m512 ylo = _mm512_set1_ps((float)(-1 - a->by)),
                 yhi = _mm512_set1_ps((float)(a->h - a->by));
    const __m512 r = _mm512_set1_ps(a->range), nr = _mm512_set1_ps(-a->range);
    const __m512 ty = _mm512_set1_ps(a->ty), tx = _mm512_set1_ps(a->tx);
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int32_t)a->sw));
    const __m512i m1 = _mm512_set1_epi32(-1), vw = _mm512_set1_epi32((int32_t)a->w);
    const __m512i by = _mm512_set1_epi32((int32_t)a->by), neg2 = _mm512_set1_epi32(-2);
    const bool clamp = !a->scale && a->range >= 0;
    for (int64_t q = 0; q < a->n; q += 16) {
        __mmask16 live = live16(a->n - q);
        __m512i bx = _mm512_add_epi32(_mm512_set1_epi32((int32_t)(a->bx0 + q * a->sw)), step);
        __m512 dy, dx;
        if (a->scale) {
            __m512 sc = _mm512_sub_ps(_mm512_maskz_loadu_ps(live, a->scale + q), one);
            dy = _mm512_mul_ps(sc, ty);
            dx = _mm512_mul_ps(sc, tx);
        } else {
            dy = _mm512_maskz_loadu_ps(live, a->oy + q);
            dx = _mm512_maskz_loadu_ps(live, a->ox + q);
            if (clamp) {
                dy = _mm512_min_ps(r, _mm512_max_ps(nr, dy));
                dx = _mm512_min_ps(r, _mm512_max_ps(nr, dx));
            }
        }
        __m512 xlo = _mm512_cvtepi32_ps(_mm512_sub_epi32(m1, bx));
        __m512 xhi = _mm512_cvtepi32_ps(_mm512_sub_epi32(vw, bx));
        __mmask16 in = _mm512_mask_cmp_ps_mask(live, dy, ylo, _CMP_GE_OQ);
        in = _mm512_mask_cmp_ps_mask(in, dy, yhi, _CMP_LT_OQ);
        in = _mm512_mask_cmp_ps_mask(in, dx, xlo, _CMP_GE_OQ);
        in = _mm512_mask_cmp_ps_mask(in, dx, xhi, _CMP_LT_OQ);
        __m512 fy = _mm512_roundscale_ps(_mm512_maskz_mov_ps(in, dy), _MM_FROUND_TO_NEG_INF);
        __m512 fx = _mm512_roundscale_ps(_mm512_maskz_mov_ps(in, dx), _MM_FROUND_TO_NEG_INF);
        __m512i y0 = _mm512_add_epi32(by, _mm512_cvttps_epi32(fy));
        __m512i x0 = _mm512_add_epi32(bx, _mm512_cvttps_epi32(fx));
        if (a->band) {
            const td_dband *b = a->band;
            __m512i idx = _mm512_add_epi32(
                _mm512_mullo_epi32(_mm512_sub_epi32(y0, _mm512_set1_epi32((int32_t)b->ys0)),
                                   _mm512_set1_epi32((int32_t)b->stride)),
                _mm512_add_epi32(x0, _mm512_set1_epi32(1)));
            idx = _mm512_mask_blend_epi32(in, _mm512_set1_epi32((int32_t)(b->zero_row * b->stride)),
                                          idx);
            _mm512_mask_storeu_epi32(a->y0 + q, live, idx);
        } else {
            _mm512_mask_storeu_epi32(a->y0 + q, live, _mm512_mask_blend_epi32(in, neg2, y0));
            _mm512_mask_storeu_epi32(a->x0 + q, live, _mm512_mask_blend_epi32(in, neg2, x0));
        }
        _mm512_mask_storeu_ps(a->ly + q, live, _mm512_maskz_sub_ps(in, dy, fy));
        _mm512_mask_storeu_ps(a->lx + q, live, _mm512_maskz_sub_ps(in, dx, fx));
        _mm512_mask_storeu_ps(a->m + q, live,
                              a->mask ? _mm512_maskz_loadu_ps(live, a->mask + q) : one);
    }
}

static inline __m512 blend16(__m512 a, __m512 b, __m512 c, __m512 d, __m512 ly, __m512 lx, __m512 m)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 hy = _mm512_sub_ps(one, ly), hx = _mm512_sub_ps(one, lx);
    __m512 top = _mm512_add_ps(_mm512_mul_ps(hx, a), _mm512_mul_ps(lx, b));
    __m512 bot = _mm512_add_ps(_mm512_mul_ps(hx, c), _mm512_mul_ps(lx, d));
    return _mm512_mul_ps(m, _mm512_add_ps(_mm512_mul_ps(hy, top), _mm512_mul_ps(ly, bot)));
}

void td_dsamp_row_avx512(const float *plane, int32_t h, int32_t w, const int32_t *y0,
                         const int32_t *x0, const float *ly, const float *lx, const float *m,
                         int64_t len, float *dst)
{
    const __m512i vw = _mm512_set1_epi32(w), vw1 = _mm512_set1_epi32(w + 1);
    const __m512i hm1 = _mm512_set1_epi32(h - 1), wm1 = _mm512_set1_epi32(w - 1);
    const __m512i neg1 = _mm512_set1_epi32(-1), zero = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi32(1);
    const __m512 fz = _mm512_setzero_ps();
    for (int64_t p = 0; p < len; p += 16) {
        __mmask16 live = live16(len - p);
        __m512i vy = _mm512_maskz_loadu_epi32(live, y0 + p);
        __m512i vx = _mm512_maskz_loadu_epi32(live, x0 + p);
        __mmask16 top = _mm512_mask_cmpge_epi32_mask(live, vy, zero);
        __mmask16 bot =
            _mm512_mask_cmpge_epi32_mask(live, vy, neg1) & _mm512_cmplt_epi32_mask(vy, hm1);
        __mmask16 left = _mm512_cmpge_epi32_mask(vx, zero);
        __mmask16 right = _mm512_cmpge_epi32_mask(vx, neg1) & _mm512_cmplt_epi32_mask(vx, wm1);
        __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(vy, vw), vx);
        __m512 a = _mm512_mask_i32gather_ps(fz, top & left, idx, plane, 4);
        __m512 b = _mm512_mask_i32gather_ps(fz, top & right, _mm512_add_epi32(idx, one), plane, 4);
        __m512 c = _mm512_mask_i32gather_ps(fz, bot & left, _mm512_add_epi32(idx, vw), plane, 4);
        __m512 d = _mm512_mask_i32gather_ps(fz, bot & right, _mm512_add_epi32(idx, vw1), plane, 4);
        __m512 r = blend16(a, b, c, d, _mm512_maskz_loadu_ps(live, ly + p),
                           _mm512_maskz_loadu_ps(live, lx + p), _mm512_maskz_loadu_ps(live, m + p));
        _mm512_mask_storeu_ps(dst + p, live, r);
    }
}

/* The blend with per-entry scalars broadcast: hy, hx are computed in scalar, exactly as the
 * scalar kernel does. */
typedef struct wts {
    __m512 hy, ly, hx, lx, m;
} wts;

static inline wts entry_weights(const td_dnhwc *a, int64_t q)
{
    wts w = {_mm512_set1_ps(1.0f - a->ly[q]), _mm512_set1_ps(a->ly[q]),
             _mm512_set1_ps(1.0f - a->lx[q]), _mm512_set1_ps(a->lx[q]), _mm512_set1_ps(a->m[q])};
    return w;
}

static inline __m512 blend_w(const wts *w, __m512 a, __m512 b, __m512 c, __m512 d)
{
    __m512 top = _mm512_add_ps(_mm512_mul_ps(w->hx, a), _mm512_mul_ps(w->lx, b));
    __m512 bot = _mm512_add_ps(_mm512_mul_ps(w->hx, c), _mm512_mul_ps(w->lx, d));
    return _mm512_mul_ps(w->m, _mm512_add_ps(_mm512_mul_ps(w->hy, top), _mm512_mul_ps(w->ly, bot)));
}

void td_dnhwc_avx512(const td_dnhwc *a, float *dst, int64_t ldd)
{
    for (int64_t q = 0; q < a->len; q++) {
        const float *p0 = a->buf + (int64_t)a->idx[q] * a->pix, *p1 = p0 + a->pix;
        const float *p2 = p0 + a->row, *p3 = p2 + a->pix;
        wts w = entry_weights(a, q);
        float *d = dst + q * ldd;
        for (int64_t c = 0; c < a->nc; c += 16) {
            __mmask16 k = live16(a->nc - c);
            __m512 v =
                blend_w(&w, _mm512_maskz_loadu_ps(k, p0 + c), _mm512_maskz_loadu_ps(k, p1 + c),
                        _mm512_maskz_loadu_ps(k, p2 + c), _mm512_maskz_loadu_ps(k, p3 + c));
            _mm512_mask_storeu_ps(d + c, k, v);
        }
    }
}

void td_dnhwc_dw_avx512(const td_dnhwc *a, const float *wt, float *acc, int64_t lda)
{
    for (int64_t q = 0; q < a->len; q++) {
        const float *p0 = a->buf + (int64_t)a->idx[q] * a->pix, *p1 = p0 + a->pix;
        const float *p2 = p0 + a->row, *p3 = p2 + a->pix;
        wts w = entry_weights(a, q);
        float *d = acc + q * lda;
        for (int64_t c = 0; c < a->nc; c += 16) {
            __mmask16 k = live16(a->nc - c);
            __m512 v =
                blend_w(&w, _mm512_maskz_loadu_ps(k, p0 + c), _mm512_maskz_loadu_ps(k, p1 + c),
                        _mm512_maskz_loadu_ps(k, p2 + c), _mm512_maskz_loadu_ps(k, p3 + c));
            v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, d + c),
                              _mm512_mul_ps(_mm512_maskz_loadu_ps(k, wt + c), v));
            _mm512_mask_storeu_ps(d + c, k, v);
        }
    }
}
