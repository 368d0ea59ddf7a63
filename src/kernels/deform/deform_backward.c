/* Deformable convolution backward in f32. Images one after another; within an image, blocks of
 * output pixels spread over threads. Per block and weight group:
 *   columns      the forward's deformable im2col (needed for dW)
 *   dW_g        += dY_g * columns^T        (sgemm into the thread's own dW)
 *   dcol         = W_g^T * dY_g            (sgemm)
 * then one pass over dcol that, per sample, accumulates the mask and offset gradients of the
 * block (its pixels belong to no other block) and scatters the input gradient into the
 * thread's own dx plane (samples of different blocks can share input pixels). The per-thread
 * dx and dW are summed at the end. The sampling table is the forward's (generic layout). */
#include <cblas.h>
#include <string.h>

#include "kernels/blas.h"
#include "kernels/deform/deform_internal.h"

#define TARGET_COL_FLOATS ((int64_t)1 << 17)

typedef struct bwd_ctx {
    const td_deform_shape *s;
    const float *x, *offset, *mask, *w, *dy;
    float *dx, *doffset, *dmask, *dw;
    td_deform_sampler sm;
    td_dplan pl;
    int64_t table_bytes, col_floats;
    char *tables; /* per thread: table_bytes */
    float *col;   /* per thread: col_floats */
    float *dcol;  /* per thread: col_floats */
    float *acc;   /* per thread: 3 x og*kk*len block accumulators (mask, dy, dx) */
    float *dx_t;  /* per thread: C*H*W */
    float *dw_t;  /* per thread: M*K */
    int64_t acc_floats, plane_floats, dw_floats;
} bwd_ctx;

/* Gradients of one column row (channel plane, tap row r of the table) from its dcol row g. */
static void scatter_row(const td_deform_shape *s, const td_dsamp *t, int64_t r, const float *plane,
                        const float *g, float *gm_acc, float *gy_acc, float *gx_acc, float *dxp)
{
    int32_t h = (int32_t)s->h, w = (int32_t)s->w;
    const int32_t *y0 = t->y0 + r, *x0 = t->x0 + r;
    const float *ly = t->ly + r, *lx = t->lx + r, *mk = t->m + r;
    for (int64_t q = 0; q < t->len; q++) {
        int32_t yy = y0[q], xx = x0[q];
        if (yy == -2)
            continue; /* outside: no gradient anywhere */
        bool top = yy >= 0, bot = yy + 1 < h, left = xx >= 0, right = xx + 1 < w;
        int64_t i0 = (int64_t)yy * w + xx;
        float a = top && left ? plane[i0] : 0.0f;
        float b = top && right ? plane[i0 + 1] : 0.0f;
        float c = bot && left ? plane[i0 + w] : 0.0f;
        float d = bot && right ? plane[i0 + w + 1] : 0.0f;
        float fy = ly[q], fx = lx[q], hy = 1.0f - fy, hx = 1.0f - fx;
        float val = hy * (hx * a + fx * b) + fy * (hx * c + fx * d);
        float gv = g[q], gmv = gv * mk[q];
        gm_acc[q] += gv * val;
        gy_acc[q] += gmv * (hx * (c - a) + fx * (d - b));
        gx_acc[q] += gmv * (hy * (b - a) + fy * (d - c));
        if (dxp) {
            if (top && left)
                dxp[i0] += gmv * hy * hx;
            if (top && right)
                dxp[i0 + 1] += gmv * hy * fx;
            if (bot && left)
                dxp[i0 + w] += gmv * fy * hx;
            if (bot && right)
                dxp[i0 + w + 1] += gmv * fy * fx;
        }
    }
}

/* The block's accumulated mask and effective-offset gradients, written to the outputs with the
 * chain rule of the variant. */
static void write_block(const bwd_ctx *b, const td_dsamp *t, int64_t n, int64_t p0,
                        const float *acc)
{
    const td_deform_shape *s = b->s;
    int64_t np = s->oh * s->ow, kk = s->kh * s->kw, og = s->offset_group, len = t->len;
    const float *gm = acc, *gy = acc + og * kk * t->ld, *gx = gy + og * kk * t->ld;
    for (int64_t g = 0; g < og; g++) {
        if (b->doffset && s->mode == TD_DEFORM_FIXED) {
            float *ds = b->doffset + (n * og + g) * np + p0;
            memset(ds, 0, (size_t)len * sizeof *ds);
            for (int64_t i = 0; i < s->kh; i++)
                for (int64_t j = 0; j < s->kw; j++) {
                    int64_t r = (g * kk + i * s->kw + j) * t->ld;
                    float ty = (float)((2 * i - (s->kh - 1)) * s->dh) * 0.5f;
                    float tx = (float)((2 * j - (s->kw - 1)) * s->dw) * 0.5f;
                    for (int64_t q = 0; q < len; q++)
                        ds[q] += gy[r + q] * ty + gx[r + q] * tx;
                }
        }
        for (int64_t tp = 0; tp < kk; tp++) {
            int64_t row = g * kk + tp, r = row * t->ld;
            if (b->dmask)
                memcpy(b->dmask + (n * og * kk + row) * np + p0, gm + r, (size_t)len * 4);
            if (!b->doffset || s->mode == TD_DEFORM_FIXED)
                continue;
            int64_t cy = ((n * og * kk + row) * 2) * np + p0;
            float *oy = b->doffset + cy, *ox = oy + np;
            const float *ry = b->offset + cy, *rx = ry + np;
            float lim = s->range;
            for (int64_t q = 0; q < len; q++) {
                bool cly = s->mode == TD_DEFORM_LIMITED && (ry[q] > lim || ry[q] < -lim);
                bool clx = s->mode == TD_DEFORM_LIMITED && (rx[q] > lim || rx[q] < -lim);
                oy[q] = cly ? 0.0f : gy[r + q];
                ox[q] = clx ? 0.0f : gx[r + q];
            }
        }
    }
}

static void backward_block(const bwd_ctx *b, int tid, int64_t n, int64_t p0, int64_t p1)
{
    const td_deform_shape *s = b->s;
    int64_t np = s->oh * s->ow, kk = s->kh * s->kw, og = s->offset_group;
    int64_t cg = s->c / s->group, mg = s->m / s->group, k = cg * kk, cpo = s->c / og;
    /* The table clamps (limited) or derives (fixed) the offsets as the forward does. */
    td_dsamp t;
    td_dsamp_init(&t, b->tables + (size_t)tid * (size_t)b->table_bytes, og * kk, p1 - p0);
    td_dsamp_build(&b->sm, s, b->offset, b->mask, n, p0, p1, NULL, &t);
    float *col = b->col + (size_t)tid * (size_t)b->col_floats;
    int64_t len = t.len;
    float *dcol = b->dcol + (size_t)tid * (size_t)b->col_floats;
    float *acc = b->acc + (size_t)tid * (size_t)b->acc_floats;
    float *dxt = b->dx ? b->dx_t + (size_t)tid * (size_t)b->plane_floats : NULL;
    float *dwt = b->dw ? b->dw_t + (size_t)tid * (size_t)b->dw_floats : NULL;
    memset(acc, 0, (size_t)b->acc_floats * sizeof *acc);
    bool need_dcol = b->dx || b->doffset || b->dmask;
    for (int64_t gi = 0; gi < s->group; gi++) {
        const float *dyg = b->dy + (n * s->m + gi * mg) * np + p0;
        if (dwt) {
            for (int64_t cl = 0; cl < cg; cl++) {
                int64_t c = gi * cg + cl;
                td_dblock_sample_channel(&b->sm, s, &t, b->x + (n * s->c + c) * s->h * s->w,
                                         c / cpo, col + cl * kk * len, len);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)mg, (blasint)k,
                        (blasint)len, 1.0f, dyg, (blasint)np, col, (blasint)len, 1.0f,
                        dwt + gi * mg * k, (blasint)k);
        }
        if (!need_dcol)
            continue;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)k, (blasint)len, (blasint)mg,
                    1.0f, b->w + gi * mg * k, (blasint)k, dyg, (blasint)np, 0.0f, dcol,
                    (blasint)len);
        for (int64_t cl = 0; cl < cg; cl++) {
            int64_t c = gi * cg + cl, g = c / cpo;
            const float *plane = b->x + (n * s->c + c) * s->h * s->w;
            float *dxp = dxt ? dxt + c * s->h * s->w : NULL;
            for (int64_t tp = 0; tp < kk; tp++) {
                int64_t r = (g * kk + tp) * t.ld;
                scatter_row(s, &t, r, plane, dcol + (cl * kk + tp) * len, acc + r,
                            acc + og * kk * t.ld + r, acc + 2 * og * kk * t.ld + r, dxp);
            }
        }
    }
    if (b->doffset || b->dmask)
        write_block(b, &t, n, p0, acc);
}

static void sum_threads(float *dst, const float *per_thread, int threads, int64_t count,
                        int64_t stride)
{
#pragma omp parallel for num_threads(threads) if (threads > 1 && count > (1 << 16))
    for (int64_t i = 0; i < count; i++) {
        float v = 0;
        for (int t = 0; t < threads; t++)
            v += per_thread[t * stride + i];
        dst[i] = v;
    }
}

static td_status bwd_alloc(bwd_ctx *b, void **mem)
{
    const td_deform_shape *s = b->s;
    size_t threads = (size_t)b->pl.threads;
    int64_t kk = s->kh * s->kw, ld = (b->pl.len + 15) / 16 * 16;
    b->table_bytes = td_dsamp_bytes(s->offset_group * kk, b->pl.len);
    b->col_floats = (s->c / s->group) * kk * ld;
    b->acc_floats = 3 * s->offset_group * kk * ld;
    b->plane_floats = b->dx ? s->c * s->h * s->w : 0;
    b->dw_floats = b->dw ? s->m * (s->c / s->group) * kk : 0;
    size_t per = (size_t)b->table_bytes +
                 4 * (size_t)(2 * b->col_floats + b->acc_floats + b->plane_floats + b->dw_floats);
    size_t total;
    TD_TRY(td_size_mul(per, threads, &total));
    TD_TRY(td_alloc(total, mem));
    char *p = *mem;
    b->tables = p;
    p += (size_t)b->table_bytes * threads;
    b->col = (float *)p;
    p += 4 * (size_t)b->col_floats * threads;
    b->dcol = (float *)p;
    p += 4 * (size_t)b->col_floats * threads;
    b->acc = (float *)p;
    p += 4 * (size_t)b->acc_floats * threads;
    b->dx_t = (float *)p;
    p += 4 * (size_t)b->plane_floats * threads;
    b->dw_t = (float *)p;
    return TD_OK;
}

td_status td_deform_backward(const td_ctx *ctx, const td_deform_shape *s, const float *x,
                             const float *offset, const float *mask, const float *w,
                             const float *dy, float *dx, float *doffset, float *dmask, float *dw,
                             float *db)
{
    td_deform_shape sc = *s;
    TD_TRY(td_deform_shape_check(&sc));
    TD_TRY(td_deform_check_inputs(&sc, x, offset, w, dy));
    if (dmask && !mask)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv backward: dmask requested without a mask");
    s = &sc;
    int64_t np = s->oh * s->ow, kk = s->kh * s->kw;
    bwd_ctx b;
    memset(&b, 0, sizeof b);
    b.s = s;
    b.x = x;
    b.offset = offset;
    b.mask = mask;
    b.w = w;
    b.dy = dy;
    b.dx = dx;
    b.doffset = doffset;
    b.dmask = dmask;
    b.dw = dw;
    td_deform_sampler_init(ctx, &b.sm);
    /* Blocks of one image at a time: the per-thread dx holds one image. */
    td_deform_shape s1 = *s;
    s1.n = 1;
    td_dplan_make(ctx, &s1, (s->c / s->group) * kk, TARGET_COL_FLOATS, &b.pl);
    void *mem = NULL;
    if (dx || doffset || dmask || dw) {
        TD_TRY(bwd_alloc(&b, &mem));
        td_blas_set_threads(1);
        int threads = b.pl.threads;
        for (int64_t n = 0; n < s->n; n++) {
            if (dx)
                memset(b.dx_t, 0, (size_t)threads * (size_t)b.plane_floats * sizeof(float));
#pragma omp parallel for num_threads(threads) schedule(dynamic) if (threads > 1)
            for (int64_t bi = 0; bi < b.pl.nblocks; bi++) {
                int64_t p0 = bi * b.pl.len, p1 = p0 + b.pl.len < np ? p0 + b.pl.len : np;
                backward_block(&b, td_deform_thread_id(), n, p0, p1);
            }
            if (dx)
                sum_threads(dx + n * b.plane_floats, b.dx_t, threads, b.plane_floats,
                            b.plane_floats);
        }
        if (dw)
            sum_threads(dw, b.dw_t, threads, b.dw_floats, b.dw_floats);
        td_free(mem);
    }
    if (db)
        for (int64_t m = 0; m < s->m; m++) {
            double acc = 0;
            for (int64_t n = 0; n < s->n; n++)
                for (int64_t p = 0; p < np; p++)
                    acc += dy[(n * s->m + m) * np + p];
            db[m] = (float)acc;
        }
    return TD_OK;
}
