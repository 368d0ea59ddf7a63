/* Scalar reference of deformable convolution in double precision: direct loops over the
 * definition in include/tandem/deform.h, written for clarity, not speed. The fast paths are
 * tested against it; it is tested against torchvision (float64) through fixtures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/deform/deform_internal.h"

/* One bilinear sample and its derivatives along y and x (zero outside [-1, H) x [-1, W); at
 * integer positions the derivatives are the floor convention's, from the corners at and after
 * the position, as torchvision's). */
typedef struct ref_sample {
    double val, dvy, dvx;
    int64_t idx[4]; /* corners (y0,x0) (y0,x0+1) (y0+1,x0) (y0+1,x0+1); -1 when outside */
    double cw[4];   /* their bilinear weights */
} ref_sample;

static void ref_bilinear(const float *plane, int64_t h, int64_t w, double y, double x,
                         ref_sample *r)
{
    memset(r, 0, sizeof *r);
    for (int k = 0; k < 4; k++)
        r->idx[k] = -1;
    if (!(y >= -1 && y < (double)h && x >= -1 && x < (double)w))
        return;
    double fy = floor(y), fx = floor(x), ly = y - fy, lx = x - fx;
    int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
    double v[4];
    for (int k = 0; k < 4; k++) {
        int64_t yy = y0 + (k >> 1), xx = x0 + (k & 1);
        bool in = yy >= 0 && yy < h && xx >= 0 && xx < w;
        r->idx[k] = in ? yy * w + xx : -1;
        v[k] = in ? plane[yy * w + xx] : 0.0;
    }
    r->cw[0] = (1 - ly) * (1 - lx);
    r->cw[1] = (1 - ly) * lx;
    r->cw[2] = ly * (1 - lx);
    r->cw[3] = ly * lx;
    r->val = r->cw[0] * v[0] + r->cw[1] * v[1] + r->cw[2] * v[2] + r->cw[3] * v[3];
    r->dvy = (1 - lx) * (v[2] - v[0]) + lx * (v[3] - v[1]);
    r->dvx = (1 - ly) * (v[1] - v[0]) + ly * (v[3] - v[2]);
}

/* Position of tap (i, j) of pixel p in image n, offset group g. */
static void ref_position(const td_deform_shape *s, const float *offset, int64_t n, int64_t g,
                         int64_t i, int64_t j, int64_t p, double *y, double *x)
{
    int64_t oy = p / s->ow, ox = p % s->ow, np = s->oh * s->ow;
    double dy, dx;
    if (s->mode == TD_DEFORM_FIXED) {
        double sc = (double)offset[(n * s->offset_group + g) * np + p] - 1.0;
        dy = sc * ((double)i - (double)(s->kh - 1) / 2) * (double)s->dh;
        dx = sc * ((double)j - (double)(s->kw - 1) / 2) * (double)s->dw;
    } else {
        float fy, fx;
        td_deform_tap_offset(s, offset, n, g, i, j, p, &fy, &fx);
        dy = fy;
        dx = fx;
    }
    *y = (double)(oy * s->sh - s->pt + i * s->dh) + dy;
    *x = (double)(ox * s->sw - s->pl + j * s->dw) + dx;
}

static double ref_mask(const td_deform_shape *s, const float *mask, int64_t n, int64_t g, int64_t t,
                       int64_t p)
{
    int64_t kk = s->kh * s->kw, np = s->oh * s->ow;
    return mask ? (double)mask[((n * s->offset_group + g) * kk + t) * np + p] : 1.0;
}

td_status td_deform_columns_ref(const td_deform_shape *s, const float *x, const float *offset,
                                const float *mask, int64_t n, double *col)
{
    td_deform_shape sc = *s;
    TD_TRY(td_deform_shape_check(&sc));
    int64_t np = sc.oh * sc.ow, kk = sc.kh * sc.kw, cpo = sc.c / sc.offset_group;
    for (int64_t c = 0; c < sc.c; c++) {
        const float *plane = x + (n * sc.c + c) * sc.h * sc.w;
        int64_t g = c / cpo;
        for (int64_t i = 0; i < sc.kh; i++)
            for (int64_t j = 0; j < sc.kw; j++)
                for (int64_t p = 0; p < np; p++) {
                    double yy, xx;
                    ref_position(&sc, offset, n, g, i, j, p, &yy, &xx);
                    ref_sample r;
                    ref_bilinear(plane, sc.h, sc.w, yy, xx, &r);
                    col[((c * kk) + i * sc.kw + j) * np + p] =
                        ref_mask(&sc, mask, n, g, i * sc.kw + j, p) * r.val;
                }
    }
    return TD_OK;
}

td_status td_deform_forward_ref(const td_deform_shape *s, const float *x, const float *offset,
                                const float *mask, const float *w, const float *b, double *y)
{
    td_deform_shape sc = *s;
    TD_TRY(td_deform_shape_check(&sc));
    int64_t np = sc.oh * sc.ow, kk = sc.kh * sc.kw;
    int64_t cg = sc.c / sc.group, mg = sc.m / sc.group, k = cg * kk;
    double *col = malloc((size_t)(sc.c * kk * np) * sizeof *col);
    if (!col)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "deform reference: out of memory");
    for (int64_t n = 0; n < sc.n; n++) {
        td_status st = td_deform_columns_ref(&sc, x, offset, mask, n, col);
        if (st) {
            free(col);
            return st;
        }
        for (int64_t m = 0; m < sc.m; m++) {
            const double *cm = col + (m / mg) * k * np;
            const float *wm = w + m * k;
            for (int64_t p = 0; p < np; p++) {
                double acc = b ? (double)b[m] : 0.0;
                for (int64_t q = 0; q < k; q++)
                    acc += (double)wm[q] * cm[q * np + p];
                y[(n * sc.m + m) * np + p] = acc;
            }
        }
    }
    free(col);
    return TD_OK;
}

/* Chain rule from the effective offsets back to the caller's offset tensor. */
static void ref_offset_grad(const td_deform_shape *s, const float *offset, int64_t n, int64_t g,
                            int64_t i, int64_t j, int64_t p, double gy, double gx, double *doff)
{
    int64_t np = s->oh * s->ow, kk = s->kh * s->kw, t = i * s->kw + j;
    if (s->mode == TD_DEFORM_FIXED) {
        double ty = (double)(2 * i - (s->kh - 1)) * (double)s->dh / 2;
        double tx = (double)(2 * j - (s->kw - 1)) * (double)s->dw / 2;
        doff[(n * s->offset_group + g) * np + p] += gy * ty + gx * tx;
        return;
    }
    int64_t cy = ((n * s->offset_group + g) * kk + t) * 2 * np + p, cx = cy + np;
    if (s->mode == TD_DEFORM_LIMITED) {
        double r = s->range;
        if (offset[cy] > r || offset[cy] < -r)
            gy = 0;
        if (offset[cx] > r || offset[cx] < -r)
            gx = 0;
    }
    doff[cy] += gy;
    doff[cx] += gx;
}

static void ref_zero(double *p, int64_t count)
{
    if (p)
        memset(p, 0, (size_t)count * sizeof *p);
}

td_status td_deform_backward_ref(const td_deform_shape *s, const float *x, const float *offset,
                                 const float *mask, const float *w, const float *dy, double *dx,
                                 double *doffset, double *dmask, double *dw, double *db)
{
    td_deform_shape sc = *s;
    TD_TRY(td_deform_shape_check(&sc));
    s = &sc;
    int64_t np = s->oh * s->ow, kk = s->kh * s->kw, og = s->offset_group;
    int64_t cg = s->c / s->group, mg = s->m / s->group, cpo = s->c / og;
    ref_zero(dx, s->n * s->c * s->h * s->w);
    ref_zero(doffset, s->n * td_deform_offset_channels(s) * np);
    ref_zero(dmask, s->n * og * kk * np);
    ref_zero(dw, s->m * cg * kk);
    ref_zero(db, s->m);
    for (int64_t n = 0; n < s->n; n++)
        for (int64_t c = 0; c < s->c; c++) {
            int64_t g = c / cpo, gi = c / cg, cl = c % cg;
            const float *plane = x + (n * s->c + c) * s->h * s->w;
            for (int64_t i = 0; i < s->kh; i++)
                for (int64_t j = 0; j < s->kw; j++)
                    for (int64_t p = 0; p < np; p++) {
                        int64_t t = i * s->kw + j;
                        double yy, xx;
                        ref_position(s, offset, n, g, i, j, p, &yy, &xx);
                        ref_sample r;
                        ref_bilinear(plane, s->h, s->w, yy, xx, &r);
                        double mk = ref_mask(s, mask, n, g, t, p);
                        /* Gradient reaching this column entry: sum over the group's outputs. */
                        double gc = 0;
                        for (int64_t m = gi * mg; m < (gi + 1) * mg; m++) {
                            double d = dy[(n * s->m + m) * np + p];
                            gc += d * (double)w[(m * cg + cl) * kk + t];
                            if (dw)
                                dw[(m * cg + cl) * kk + t] += d * mk * r.val;
                        }
                        if (dmask)
                            dmask[((n * og + g) * kk + t) * np + p] += gc * r.val;
                        if (doffset)
                            ref_offset_grad(s, offset, n, g, i, j, p, gc * mk * r.dvy,
                                            gc * mk * r.dvx, doffset);
                        if (dx)
                            for (int k = 0; k < 4; k++)
                                if (r.idx[k] >= 0)
                                    dx[(n * s->c + c) * s->h * s->w + r.idx[k]] +=
                                        gc * mk * r.cw[k];
                    }
        }
    if (db)
        for (int64_t n = 0; n < s->n; n++)
            for (int64_t m = 0; m < s->m; m++)
                for (int64_t p = 0; p < np; p++)
                    db[m] += dy[(n * s->m + m) * np + p];
    return TD_OK;
}
