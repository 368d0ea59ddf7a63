/* Deformable convolution: shape validation, the sampling table every fast path shares, the
 * staged (zero-bordered) input, and the scalar kernels.
 *
 * The table holds, per (offset group, tap, output pixel), the top-left corner and the
 * fractions of the sample. It is built once per block of output pixels and reused by every
 * channel of the offset group (torchvision recomputes it per channel). Fractions come from the
 * offset alone (ly = dy - floor(dy)), so they are exact whatever the pixel position; whether a
 * sample lies inside [-1, H) is decided by comparing the offset with exact integers. The value
 * at exactly -1 is zero either way; counting it inside gives it the floor convention's
 * one-sided derivative everywhere, as torchvision's gradients do. */
#include <math.h>
#include <string.h>

#include "kernels/deform/deform_internal.h"

const char *td_deform_mode_name(td_deform_mode mode)
{
    switch (mode) {
    case TD_DEFORM_FREE:
        return "free";
    case TD_DEFORM_LIMITED:
        return "limited";
    case TD_DEFORM_FIXED:
        return "fixed";
    default:
        return "?";
    }
}

/* Sides, kernel, strides, dilations and pads stay below this, so every sample position is an
 * integer exactly representable in a float plus an offset. */
#define DEFORM_MAX_SIDE ((int64_t)1 << 20)
/* Plane elements: corner indices are 32-bit in the vector kernels. */
#define DEFORM_MAX_PLANE ((int64_t)1 << 30)
/* Elements of any one tensor. */
#define DEFORM_MAX_ELEMS ((int64_t)1 << 40)

static td_status check_range(const char *what, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo || v > hi)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv: %s is %lld, expected %lld..%lld", what, (long long)v,
                            (long long)lo, (long long)hi);
    return TD_OK;
}

/* a * b * c * d within DEFORM_MAX_ELEMS (each factor already within 1..2^20 or 2^40). */
static td_status check_elems(const char *what, int64_t a, int64_t b, int64_t c, int64_t d)
{
    double e = (double)a * (double)b * (double)c * (double)d;
    if (e > (double)DEFORM_MAX_ELEMS)
        return td_error_new(TD_CODE_OVERFLOW,
                            "deformable conv: %s would have %.3g elements (limit 2^40)", what, e);
    return TD_OK;
}

td_status td_deform_shape_check(td_deform_shape *s)
{
    const int64_t side = DEFORM_MAX_SIDE;
    TD_TRY(check_range("batch N", s->n, 1, side));
    TD_TRY(check_range("input channels C", s->c, 1, side));
    TD_TRY(check_range("input height H", s->h, 1, side));
    TD_TRY(check_range("input width W", s->w, 1, side));
    TD_TRY(check_range("output channels M", s->m, 1, side));
    TD_TRY(check_range("group", s->group, 1, side));
    TD_TRY(check_range("offset_group", s->offset_group, 1, side));
    TD_TRY(check_range("kernel height", s->kh, 1, side));
    TD_TRY(check_range("kernel width", s->kw, 1, side));
    TD_TRY(check_range("stride (height)", s->sh, 1, side));
    TD_TRY(check_range("stride (width)", s->sw, 1, side));
    TD_TRY(check_range("dilation (height)", s->dh, 1, side));
    TD_TRY(check_range("dilation (width)", s->dw, 1, side));
    TD_TRY(check_range("pad top", s->pt, 0, side));
    TD_TRY(check_range("pad left", s->pl, 0, side));
    TD_TRY(check_range("pad bottom", s->pb, 0, side));
    TD_TRY(check_range("pad right", s->pr, 0, side));
    if (s->c % s->group || s->m % s->group)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv: group %lld does not divide the %lld input and %lld "
                            "output channels",
                            (long long)s->group, (long long)s->c, (long long)s->m);
    if (s->c % s->offset_group)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv: offset_group %lld does not divide the %lld input "
                            "channels",
                            (long long)s->offset_group, (long long)s->c);
    if ((unsigned)s->mode >= TD_DEFORM_MODE_COUNT)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "deformable conv: unknown mode %d",
                            (int)s->mode);
    if (s->mode == TD_DEFORM_LIMITED && !(s->range >= 0 && s->range <= (float)side))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv: limited range %g must be in [0, 2^20]",
                            (double)s->range);
    if (s->h * s->w > DEFORM_MAX_PLANE)
        return td_error_new(TD_CODE_OVERFLOW,
                            "deformable conv: input plane %lld x %lld exceeds 2^30 elements",
                            (long long)s->h, (long long)s->w);
    int64_t eh = s->dh * (s->kh - 1) + 1, ew = s->dw * (s->kw - 1) + 1;
    int64_t ph = s->h + s->pt + s->pb, pw = s->w + s->pl + s->pr;
    if (eh > ph || ew > pw)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv: dilated kernel %lld x %lld is larger than the "
                            "padded input %lld x %lld",
                            (long long)eh, (long long)ew, (long long)ph, (long long)pw);
    if (eh > side || ew > side)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv: dilated kernel %lld x %lld exceeds 2^20",
                            (long long)eh, (long long)ew);
    s->oh = (ph - eh) / s->sh + 1;
    s->ow = (pw - ew) / s->sw + 1;
    int64_t kk = s->kh * s->kw;
    TD_TRY(check_elems("input", s->n, s->c, s->h, s->w));
    TD_TRY(check_elems("output", s->n, s->m, s->oh, s->ow));
    TD_TRY(check_elems("offset", s->n, 2 * s->offset_group * kk, s->oh, s->ow));
    TD_TRY(check_elems("weight", s->m, s->c / s->group, s->kh, s->kw));
    return TD_OK;
}

int64_t td_deform_offset_channels(const td_deform_shape *s)
{
    return s->mode == TD_DEFORM_FIXED ? s->offset_group : 2 * s->offset_group * s->kh * s->kw;
}

int64_t td_deform_mask_channels(const td_deform_shape *s)
{
    return s->offset_group * s->kh * s->kw;
}

/* ---- effective offsets ---- */

static float clamp_range(float v, float r)
{
    /* Comparisons keep NaN (fminf/fmaxf would turn it into a bound). */
    return v > r ? r : (v < -r ? -r : v);
}

/* Template offsets of tap (i, j) for a unit stretch: (i - (kh-1)/2) * dh, exact in float. */
static float fixed_tap(int64_t i, int64_t k, int64_t d)
{
    return (float)((2 * i - (k - 1)) * d) * 0.5f;
}

void td_deform_tap_offset(const td_deform_shape *s, const float *offset, int64_t n, int64_t g,
                          int64_t i, int64_t j, int64_t p, float *dy, float *dx)
{
    int64_t np = s->oh * s->ow, kk = s->kh * s->kw, t = i * s->kw + j;
    if (s->mode == TD_DEFORM_FIXED) {
        float sc = offset[(n * s->offset_group + g) * np + p] - 1.0f;
        *dy = sc * fixed_tap(i, s->kh, s->dh);
        *dx = sc * fixed_tap(j, s->kw, s->dw);
        return;
    }
    const float *o = offset + ((n * s->offset_group + g) * kk + t) * 2 * np + p;
    *dy = o[0];
    *dx = o[np];
    if (s->mode == TD_DEFORM_LIMITED) {
        *dy = clamp_range(*dy, s->range);
        *dx = clamp_range(*dx, s->range);
    }
}

/* ---- the table ---- */

static int64_t round16(int64_t v)
{
    return (v + 15) / 16 * 16;
}

int64_t td_dsamp_bytes(int64_t rows, int64_t len)
{
    return 5 * rows * round16(len) * 4;
}

void td_dsamp_init(td_dsamp *t, void *mem, int64_t rows, int64_t len)
{
    int64_t ld = round16(len), sz = rows * ld;
    t->len = len;
    t->ld = ld;
    t->rows = rows;
    t->y0 = mem;
    t->x0 = t->y0 + sz;
    t->ly = (float *)(t->x0 + sz);
    t->lx = t->ly + sz;
    t->m = t->lx + sz;
}

/* floor for |v| < 2^31 without libm or branches (baseline x86-64 has no rounding
 * instruction; a mispredicted branch per entry cost more than the rest of the entry). */
static inline float floor_small(float v)
{
    float f = (float)(int32_t)v;
    return f - (float)(f > v);
}

void td_dseg_scalar(const td_dseg *a)
{
    float ylo = (float)(-1 - a->by), yhi = (float)(a->h - a->by), r = a->range;
    for (int64_t q = 0; q < a->n; q++) {
        int64_t bx = a->bx0 + q * a->sw;
        float dy, dx;
        if (a->scale) {
            float sc = a->scale[q] - 1.0f;
            dy = sc * a->ty;
            dx = sc * a->tx;
        } else {
            dy = a->oy[q];
            dx = a->ox[q];
            if (r >= 0) { /* comparisons keep NaN (fminf/fmaxf would make it a bound) */
                dy = dy > r ? r : (dy < -r ? -r : dy);
                dx = dx > r ? r : (dx < -r ? -r : dx);
            }
        }
        bool in = dy >= ylo && dy < yhi && dx >= (float)(-1 - bx) && dx < (float)(a->w - bx);
        float fy = floor_small(in ? dy : 0.0f), fx = floor_small(in ? dx : 0.0f);
        int32_t y0 = (int32_t)(a->by + (int32_t)fy), x0 = (int32_t)(bx + (int32_t)fx);
        if (a->band) {
            const td_dband *b = a->band;
            int64_t idx = in ? (y0 - b->ys0) * b->stride + (x0 + 1) : b->zero_row * b->stride;
            a->y0[q] = (int32_t)idx;
        } else {
            a->y0[q] = in ? y0 : -2;
            a->x0[q] = in ? x0 : -2;
        }
        a->ly[q] = in ? dy - fy : 0.0f;
        a->lx[q] = in ? dx - fx : 0.0f;
        a->m[q] = a->mask ? a->mask[q] : 1.0f;
    }
}

void td_dsamp_build(const td_deform_sampler *sm, const td_deform_shape *s, const float *offset,
                    const float *mask, int64_t n, int64_t p0, int64_t p1, const td_dband *band,
                    td_dsamp *t)
{
    int64_t np = s->oh * s->ow, kk = s->kh * s->kw, og = s->offset_group;
    for (int64_t g = 0; g < og; g++)
        for (int64_t i = 0; i < s->kh; i++)
            for (int64_t j = 0; j < s->kw; j++) {
                int64_t tp = i * s->kw + j, r0 = (g * kk + tp) * t->ld;
                td_dseg a = {0};
                a.range = s->mode == TD_DEFORM_LIMITED ? s->range : -1.0f;
                if (s->mode == TD_DEFORM_FIXED) {
                    a.ty = fixed_tap(i, s->kh, s->dh);
                    a.tx = fixed_tap(j, s->kw, s->dw);
                }
                a.sw = s->sw;
                a.h = s->h;
                a.w = s->w;
                a.band = band;
                /* One segment per output row the pixel range touches. */
                for (int64_t p = p0; p < p1;) {
                    int64_t oy = p / s->ow, ox = p % s->ow;
                    int64_t e = (oy + 1) * s->ow < p1 ? (oy + 1) * s->ow : p1;
                    int64_t q = r0 + (p - p0);
                    if (s->mode == TD_DEFORM_FIXED) {
                        a.scale = offset + (n * og + g) * np + p;
                    } else {
                        a.oy = offset + ((n * og + g) * kk + tp) * 2 * np + p;
                        a.ox = a.oy + np;
                    }
                    a.mask = mask ? mask + ((n * og + g) * kk + tp) * np + p : NULL;
                    a.by = oy * s->sh - s->pt + i * s->dh;
                    a.bx0 = ox * s->sw + j * s->dw - s->pl;
                    a.n = e - p;
                    a.y0 = t->y0 + q;
                    a.x0 = t->x0 + q;
                    a.ly = t->ly + q;
                    a.lx = t->lx + q;
                    a.m = t->m + q;
                    sm->seg(&a);
                    p = e;
                }
            }
}

/* ---- staged bands ---- */

void td_dband_of(const td_deform_shape *s, int64_t p0, int64_t p1, td_dband *b)
{
    int64_t oy0 = p0 / s->ow, oy1 = (p1 - 1) / s->ow + 1;
    b->stride = s->w + 2;
    if (s->mode != TD_DEFORM_LIMITED) {
        b->ys0 = -1;
        b->rows = s->h + 2;
        b->zero_row = b->rows;
        return;
    }
    /* Clamped offsets keep every sample row in [lo, hi]; corners reach floor(hi) + 1. Rows
     * outside [-1, H] only ever meet samples that are zero anyway. */
    double r = s->range;
    double lo = (double)(oy0 * s->sh - s->pt) - r;
    double hi = (double)((oy1 - 1) * s->sh - s->pt + (s->kh - 1) * s->dh) + r;
    double first = floor(lo), last = floor(hi) + 1;
    if (first < -1)
        first = -1;
    if (last > (double)s->h)
        last = (double)s->h;
    if (last < first)
        last = first;
    b->ys0 = (int64_t)first;
    b->rows = (int64_t)last - b->ys0 + 1;
    b->zero_row = b->rows;
}

int64_t td_dband_pixels(const td_dband *b)
{
    return (b->rows + 2) * b->stride;
}

void td_dband_stage_nhwc(const td_deform_shape *s, const td_dband *b, const float *x, float *buf,
                         int64_t r0, int64_t r1)
{
    int64_t c = s->c, hw = s->h * s->w, rs = b->stride * c;
    for (int64_t r = r0; r < r1; r++) {
        int64_t iy = b->ys0 + r;
        float *dst = buf + r * rs;
        if (r >= b->rows || iy < 0 || iy >= s->h) {
            memset(dst, 0, (size_t)rs * sizeof *dst);
            continue;
        }
        memset(dst, 0, (size_t)c * sizeof *dst);
        memset(dst + (s->w + 1) * c, 0, (size_t)c * sizeof *dst);
        /* 8 channel streams read in order, 8 contiguous floats written per pixel. */
        for (int64_t c0 = 0; c0 < c; c0 += 8) {
            int64_t c1 = c0 + 8 < c ? c0 + 8 : c;
            const float *src = x + c0 * hw + iy * s->w;
            for (int64_t ix = 0; ix < s->w; ix++) {
                float *d = dst + (1 + ix) * c;
                for (int64_t k = c0; k < c1; k++)
                    d[k] = src[(k - c0) * hw + ix];
            }
        }
    }
}

/* ---- scalar sampling kernels ---- */

static float blend(float a, float b, float c, float d, float ly, float lx, float m)
{
    float hy = 1.0f - ly, hx = 1.0f - lx;
    float top = hx * a + lx * b, bot = hx * c + lx * d;
    return m * (hy * top + ly * bot);
}

void td_dsamp_row_scalar(const float *plane, int32_t h, int32_t w, const int32_t *y0,
                         const int32_t *x0, const float *ly, const float *lx, const float *m,
                         int64_t len, float *dst)
{
    for (int64_t p = 0; p < len; p++) {
        int32_t yy = y0[p], xx = x0[p];
        float a = 0, b = 0, c = 0, d = 0;
        if ((uint32_t)yy < (uint32_t)(h - 1) && (uint32_t)xx < (uint32_t)(w - 1)) {
            const float *r = plane + (int64_t)yy * w + xx;
            a = r[0];
            b = r[1];
            c = r[w];
            d = r[w + 1];
        } else {
            bool top = yy >= 0, bot = yy >= -1 && yy < h - 1;
            bool left = xx >= 0, right = xx >= -1 && xx < w - 1;
            int64_t i0 = (int64_t)yy * w + xx;
            if (top && left)
                a = plane[i0];
            if (top && right)
                b = plane[i0 + 1];
            if (bot && left)
                c = plane[i0 + w];
            if (bot && right)
                d = plane[i0 + w + 1];
        }
        dst[p] = blend(a, b, c, d, ly[p], lx[p], m[p]);
    }
}

void td_dnhwc_scalar(const td_dnhwc *a, float *dst, int64_t ldd)
{
    for (int64_t q = 0; q < a->len; q++) {
        const float *p0 = a->buf + (int64_t)a->idx[q] * a->pix, *p1 = p0 + a->pix;
        const float *p2 = p0 + a->row, *p3 = p2 + a->pix;
        float *d = dst + q * ldd;
        for (int64_t c = 0; c < a->nc; c++)
            d[c] = blend(p0[c], p1[c], p2[c], p3[c], a->ly[q], a->lx[q], a->m[q]);
    }
}

void td_dnhwc_dw_scalar(const td_dnhwc *a, const float *wt, float *acc, int64_t lda)
{
    for (int64_t q = 0; q < a->len; q++) {
        const float *p0 = a->buf + (int64_t)a->idx[q] * a->pix, *p1 = p0 + a->pix;
        const float *p2 = p0 + a->row, *p3 = p2 + a->pix;
        float *d = acc + q * lda;
        for (int64_t c = 0; c < a->nc; c++)
            d[c] += wt[c] * blend(p0[c], p1[c], p2[c], p3[c], a->ly[q], a->lx[q], a->m[q]);
    }
}

void td_deform_sampler_init(const td_ctx *ctx, td_deform_sampler *sm)
{
    td_isa isa = ctx ? ctx->isa : TD_ISA_SCALAR;
    if (isa >= TD_ISA_AVX512)
        *sm = (td_deform_sampler){td_dseg_avx512, td_dsamp_row_avx512, td_dnhwc_avx512,
                                  td_dnhwc_dw_avx512};
    else if (isa >= TD_ISA_AVX2)
        *sm = (td_deform_sampler){td_dseg_avx2, td_dsamp_row_avx2, td_dnhwc_avx2, td_dnhwc_dw_avx2};
    else
        *sm = (td_deform_sampler){td_dseg_scalar, td_dsamp_row_scalar, td_dnhwc_scalar,
                                  td_dnhwc_dw_scalar};
}
