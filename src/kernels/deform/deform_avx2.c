/* Deformable convolution kernels with AVX2 (8 lanes); the same contracts and the same float
 * operations, in the same order, as the scalar kernels (bitwise equal results). Partial steps
 * at the end of a row run the scalar kernel. See deform_avx512.c for what each kernel does. */
#include <immintrin.h>

#include "kernels/deform/deform_internal.h"

void td_dseg_avx2(const td_dseg *a)
{
    const __m256 ylo = _mm256_set1_ps((float)(-1 - a->by)),
                 yhi = _mm256_set1_ps((float)(a->h - a->by));
    const __m256 r = _mm256_set1_ps(a->range), nr = _mm256_set1_ps(-a->range);
    const __m256 ty = _mm256_set1_ps(a->ty), tx = _mm256_set1_ps(a->tx);
    const __m256 one = _mm256_set1_ps(1.0f), fzero = _mm256_setzero_ps();
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i step = _mm256_mullo_epi32(lane, _mm256_set1_epi32((int32_t)a->sw));
    const __m256i m1 = _mm256_set1_epi32(-1), vw = _mm256_set1_epi32((int32_t)a->w);
    const __m256i by = _mm256_set1_epi32((int32_t)a->by), neg2 = _mm256_set1_epi32(-2);
    const bool clamp = !a->scale && a->range >= 0;
    int64_t q = 0;
    for (; q + 8 <= a->n; q += 8) {
        __m256i bx = _mm256_add_epi32(_mm256_set1_epi32((int32_t)(a->bx0 + q * a->sw)), step);
        __m256 dy, dx;
        if (a->scale) {
            __m256 sc = _mm256_sub_ps(_mm256_loadu_ps(a->scale + q), one);
            dy = _mm256_mul_ps(sc, ty);
            dx = _mm256_mul_ps(sc, tx);
        } else {
            dy = _mm256_loadu_ps(a->oy + q);
            dx = _mm256_loadu_ps(a->ox + q);
            if (clamp) {
                dy = _mm256_min_ps(r, _mm256_max_ps(nr, dy));
                dx = _mm256_min_ps(r, _mm256_max_ps(nr, dx));
            }
        }
        __m256 xlo = _mm256_cvtepi32_ps(_mm256_sub_epi32(m1, bx));
        __m256 xhi = _mm256_cvtepi32_ps(_mm256_sub_epi32(vw, bx));
        __m256 in =
            _mm256_and_ps(_mm256_cmp_ps(dy, ylo, _CMP_GE_OQ), _mm256_cmp_ps(dy, yhi, _CMP_LT_OQ));
        in = _mm256_and_ps(in, _mm256_cmp_ps(dx, xlo, _CMP_GE_OQ));
        in = _mm256_and_ps(in, _mm256_cmp_ps(dx, xhi, _CMP_LT_OQ));
        __m256 fy =
            _mm256_round_ps(_mm256_and_ps(in, dy), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m256 fx =
            _mm256_round_ps(_mm256_and_ps(in, dx), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m256i y0 = _mm256_add_epi32(by, _mm256_cvttps_epi32(fy));
        __m256i x0 = _mm256_add_epi32(bx, _mm256_cvttps_epi32(fx));
        __m256i ini = _mm256_castps_si256(in);
        if (a->band) {
            const td_dband *b = a->band;
            __m256i idx = _mm256_add_epi32(
                _mm256_mullo_epi32(_mm256_sub_epi32(y0, _mm256_set1_epi32((int32_t)b->ys0)),
                                   _mm256_set1_epi32((int32_t)b->stride)),
                _mm256_add_epi32(x0, _mm256_set1_epi32(1)));
            idx =
                _mm256_blendv_epi8(_mm256_set1_epi32((int32_t)(b->zero_row * b->stride)), idx, ini);
            _mm256_storeu_si256((__m256i *)(a->y0 + q), idx);
        } else {
            _mm256_storeu_si256((__m256i *)(a->y0 + q), _mm256_blendv_epi8(neg2, y0, ini));
            _mm256_storeu_si256((__m256i *)(a->x0 + q), _mm256_blendv_epi8(neg2, x0, ini));
        }
        _mm256_storeu_ps(a->ly + q, _mm256_blendv_ps(fzero, _mm256_sub_ps(dy, fy), in));
        _mm256_storeu_ps(a->lx + q, _mm256_blendv_ps(fzero, _mm256_sub_ps(dx, fx), in));
        _mm256_storeu_ps(a->m + q, a->mask ? _mm256_loadu_ps(a->mask + q) : one);
    }
    if (q < a->n) {
        td_dseg t = *a;
        t.n = a->n - q;
        t.bx0 = a->bx0 + q * a->sw;
        t.oy = a->oy ? a->oy + q : NULL;
        t.ox = a->ox ? a->ox + q : NULL;
        t.scale = a->scale ? a->scale + q : NULL;
        t.mask = a->mask ? a->mask + q : NULL;
        t.y0 = a->y0 + q;
        t.x0 = a->x0 + q;
        t.ly = a->ly + q;
        t.lx = a->lx + q;
        t.m = a->m + q;
        td_dseg_scalar(&t);
    }
}

static inline __m256 blend8(__m256 a, __m256 b, __m256 c, __m256 d, __m256 ly, __m256 lx, __m256 m)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 hy = _mm256_sub_ps(one, ly), hx = _mm256_sub_ps(one, lx);
    __m256 top = _mm256_add_ps(_mm256_mul_ps(hx, a), _mm256_mul_ps(lx, b));
    __m256 bot = _mm256_add_ps(_mm256_mul_ps(hx, c), _mm256_mul_ps(lx, d));
    return _mm256_mul_ps(m, _mm256_add_ps(_mm256_mul_ps(hy, top), _mm256_mul_ps(ly, bot)));
}

static inline __m256 gather(const float *base, __m256i idx, __m256i mask)
{
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, idx, _mm256_castsi256_ps(mask), 4);
}

void td_dsamp_row_avx2(const float *plane, int32_t h, int32_t w, const int32_t *y0,
                       const int32_t *x0, const float *ly, const float *lx, const float *m,
                       int64_t len, float *dst)
{
    const __m256i vw = _mm256_set1_epi32(w), vw1 = _mm256_set1_epi32(w + 1);
    const __m256i vh1 = _mm256_set1_epi32(h - 1), vwm1 = _mm256_set1_epi32(w - 1);
    const __m256i neg1 = _mm256_set1_epi32(-1), neg2 = _mm256_set1_epi32(-2);
    const __m256i one = _mm256_set1_epi32(1);
    int64_t p = 0;
    for (; p + 8 <= len; p += 8) {
        __m256i vy = _mm256_loadu_si256((const __m256i *)(y0 + p));
        __m256i vx = _mm256_loadu_si256((const __m256i *)(x0 + p));
        __m256i top = _mm256_cmpgt_epi32(vy, neg1);
        __m256i bot = _mm256_and_si256(_mm256_cmpgt_epi32(vy, neg2), _mm256_cmpgt_epi32(vh1, vy));
        __m256i left = _mm256_cmpgt_epi32(vx, neg1);
        __m256i right =
            _mm256_and_si256(_mm256_cmpgt_epi32(vx, neg2), _mm256_cmpgt_epi32(vwm1, vx));
        __m256i idx = _mm256_add_epi32(_mm256_mullo_epi32(vy, vw), vx);
        __m256 a = gather(plane, idx, _mm256_and_si256(top, left));
        __m256 b = gather(plane, _mm256_add_epi32(idx, one), _mm256_and_si256(top, right));
        __m256 c = gather(plane, _mm256_add_epi32(idx, vw), _mm256_and_si256(bot, left));
        __m256 d = gather(plane, _mm256_add_epi32(idx, vw1), _mm256_and_si256(bot, right));
        __m256 r = blend8(a, b, c, d, _mm256_loadu_ps(ly + p), _mm256_loadu_ps(lx + p),
                          _mm256_loadu_ps(m + p));
        _mm256_storeu_ps(dst + p, r);
    }
    if (p < len)
        td_dsamp_row_scalar(plane, h, w, y0 + p, x0 + p, ly + p, lx + p, m + p, len - p, dst + p);
}

typedef struct wts {
    __m256 hy, ly, hx, lx, m;
    float shy, sly, shx, slx, sm;
} wts;

static inline wts entry_weights(const td_dnhwc *a, int64_t q)
{
    wts w;
    w.sly = a->ly[q];
    w.slx = a->lx[q];
    w.shy = 1.0f - w.sly;
    w.shx = 1.0f - w.slx;
    w.sm = a->m[q];
    w.hy = _mm256_set1_ps(w.shy);
    w.ly = _mm256_set1_ps(w.sly);
    w.hx = _mm256_set1_ps(w.shx);
    w.lx = _mm256_set1_ps(w.slx);
    w.m = _mm256_set1_ps(w.sm);
    return w;
}

static inline __m256 blend_w(const wts *w, const float *p0, const float *p1, const float *p2,
                             const float *p3)
{
    __m256 top = _mm256_add_ps(_mm256_mul_ps(w->hx, _mm256_loadu_ps(p0)),
                               _mm256_mul_ps(w->lx, _mm256_loadu_ps(p1)));
    __m256 bot = _mm256_add_ps(_mm256_mul_ps(w->hx, _mm256_loadu_ps(p2)),
                               _mm256_mul_ps(w->lx, _mm256_loadu_ps(p3)));
    return _mm256_mul_ps(w->m, _mm256_add_ps(_mm256_mul_ps(w->hy, top), _mm256_mul_ps(w->ly, bot)));
}

static inline float blend_s(const wts *w, float a, float b, float c, float d)
{
    float top = w->shx * a + w->slx * b, bot = w->shx * c + w->slx * d;
    return w->sm * (w->shy * top + w->sly * bot);
}

void td_dnhwc_avx2(const td_dnhwc *a, float *dst, int64_t ldd)
{
    for (int64_t q = 0; q < a->len; q++) {
        const float *p0 = a->buf + (int64_t)a->idx[q] * a->pix, *p1 = p0 + a->pix;
        const float *p2 = p0 + a->row, *p3 = p2 + a->pix;
        wts w = entry_weights(a, q);
        float *d = dst + q * ldd;
        int64_t c = 0;
        for (; c + 8 <= a->nc; c += 8)
            _mm256_storeu_ps(d + c, blend_w(&w, p0 + c, p1 + c, p2 + c, p3 + c));
        for (; c < a->nc; c++)
            d[c] = blend_s(&w, p0[c], p1[c], p2[c], p3[c]);
    }
}

void td_dnhwc_dw_avx2(const td_dnhwc *a, const float *wt, float *acc, int64_t lda)
{
    for (int64_t q = 0; q < a->len; q++) {
        const float *p0 = a->buf + (int64_t)a->idx[q] * a->pix, *p1 = p0 + a->pix;
        const float *p2 = p0 + a->row, *p3 = p2 + a->pix;
        wts w = entry_weights(a, q);
        float *d = acc + q * lda;
        int64_t c = 0;
        for (; c + 8 <= a->nc; c += 8) {
            __m256 v = blend_w(&w, p0 + c, p1 + c, p2 + c, p3 + c);
            v = _mm256_add_ps(_mm256_loadu_ps(d + c), _mm256_mul_ps(_mm256_loadu_ps(wt + c), v));
            _mm256_storeu_ps(d + c, v);
        }
        for (; c < a->nc; c++)
            d[c] += wt[c] * blend_s(&w, p0[c], p1[c], p2[c], p3[c]);
    }
}
