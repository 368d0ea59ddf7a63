/* Deformable convolution forward in f32.
 *
 * The input is first staged channel-last with a zero border (pixel (y, x) holds its C channels
 * contiguously; rows -1 and H, columns -1 and W are zero, two zero rows follow). Then, per
 * block of consecutive output pixels: the sampling table (one entry per offset group, tap and
 * pixel, shared by the group's channels), the deformable im2col written pixel-major (row q of the
 * block holds tap by tap the samples of the group's channels), and one single-threaded OpenBLAS
 * sgemm per weight group, Y_g = W'_g * cols^T, with the weight reordered once to (tap,
 * channel) columns. Blocks are spread over OpenMP threads.
 *
 * Why channel-last: every corner of a sample is then C/G consecutive floats, so 16 channels of
 * a sample cost four plain vector loads and a dozen arithmetic instructions, where a
 * channel-first layout needs four gathers per 16 samples (on this CPU the gathers cost more
 * than the GEMM itself). torchvision's CPU path recomputes coordinates and bilinear weights for
 * every channel with scalar branches and builds columns for whole images before one large
 * GEMM, so they leave the caches; here the columns of a block (about 2 MB) are consumed while
 * they are still in the caches.
 *
 * Variants: the limited range stages, per block, only the band of input rows its clamped
 * offsets can reach (workspace bounded by the band, independent of the image); one input and
 * one output channel per group (depthwise) skips the GEMM and multiplies each sample into
 * channel-last accumulators; the fixed shape only changes how the table is built. */
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <string.h>

#include "kernels/blas.h"
#include "kernels/deform/deform_internal.h"

/* Columns per block: 2 MB of floats (measured best between 0.5 and 4 MB on this CPU). */
#define TARGET_COL_FLOATS ((int64_t)1 << 19)
/* Work (MACs) below which one thread is faster than forking. */
#define MIN_PARALLEL_WORK ((int64_t)1 << 20)

static int64_t al16(int64_t floats)
{
    return (floats + 15) / 16 * 16;
}

void td_dplan_make(const td_ctx *ctx, const td_deform_shape *s, int64_t col_rows, int64_t target,
                   td_dplan *pl)
{
    int64_t kk = s->kh * s->kw;
    int64_t k = col_rows > 0 ? col_rows : 1;
    int threads = ctx && ctx->threads > 0 ? ctx->threads : 1;
    int64_t work = s->n * s->m * (s->c / s->group) * kk * s->oh * s->ow;
    if (work < MIN_PARALLEL_WORK)
        threads = 1;
    int64_t np = s->oh * s->ow, px = target / k;
    px = px < 16 ? 16 : px;
    int64_t nb = (np + px - 1) / px;
    /* Enough blocks for every thread, and a multiple of the thread count when few. */
    if (threads > 1 && (s->n * nb) % threads && s->n * nb < 8 * threads) {
        int64_t want = (s->n * nb + threads - 1) / threads * threads;
        nb = (want + s->n - 1) / s->n;
    }
    nb = nb < np ? nb : np;
    pl->len = (np + nb - 1) / nb;
    pl->nblocks = (np + pl->len - 1) / pl->len;
    pl->items = s->n * pl->nblocks;
    pl->threads = (int)(pl->items < threads ? pl->items : threads);
}

int td_deform_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

void td_dblock_sample_channel(const td_deform_sampler *sm, const td_deform_shape *s,
                              const td_dsamp *t, const float *plane, int64_t og, float *dst,
                              int64_t ld)
{
    int64_t kk = s->kh * s->kw;
    for (int64_t tp = 0; tp < kk; tp++) {
        int64_t r = (og * kk + tp) * t->ld;
        sm->row(plane, (int32_t)s->h, (int32_t)s->w, t->y0 + r, t->x0 + r, t->ly + r, t->lx + r,
                t->m + r, t->len, dst + tp * ld);
    }
}

td_status td_deform_check_inputs(const td_deform_shape *s, const float *x, const float *offset,
                                 const void *w, const float *y)
{
    if (!x || !w || !y)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv: input, weight and output must not be NULL");
    if (!offset)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv: the %s tensor must not be NULL",
                            s->mode == TD_DEFORM_FIXED ? "scale" : "offset");
    return TD_OK;
}

/* ---- the channel-last forward ---- */

typedef struct fwd {
    const td_deform_shape *s;
    const float *x, *offset, *mask, *w, *b;
    float *y;
    td_deform_sampler sm;
    td_dplan pl;
    bool dwise, limited;
    int64_t kk, cg, mg, k, cpo;
    td_dband full;       /* the whole image (not limited) */
    int64_t table_bytes; /* per thread */
    int64_t col_floats;  /* per thread: len x K columns, or len x C accumulators */
    int64_t band_floats; /* per thread (limited): the largest band, channel-last */
    size_t slot_bytes;   /* per thread, in all */
    int64_t img_floats;  /* shared: the staged image (not limited) */
    int64_t wp_floats;   /* shared: the reordered weight */
    float *img, *wp;
    char *slots;
} fwd;

static bool is_depthwise(const td_deform_shape *s)
{
    return s->c == s->group && s->m == s->group;
}

static void fwd_plan(const td_ctx *ctx, const td_deform_shape *s, fwd *f)
{
    f->s = s;
    f->kk = s->kh * s->kw;
    f->cg = s->c / s->group;
    f->mg = s->m / s->group;
    f->k = f->cg * f->kk;
    f->cpo = s->c / s->offset_group;
    f->dwise = is_depthwise(s);
    f->limited = s->mode == TD_DEFORM_LIMITED;
    td_deform_sampler_init(ctx, &f->sm);
    /* Blocks of one image at a time: the staged image is per image. */
    td_deform_shape s1 = *s;
    s1.n = 1;
    td_dplan_make(ctx, &s1, f->dwise ? s->c : f->k, TARGET_COL_FLOATS, &f->pl);
    f->table_bytes = td_dsamp_bytes(s->offset_group * f->kk, f->pl.len);
    f->col_floats = al16(f->pl.len * (f->dwise ? s->c : f->k));
    f->band_floats = 0;
    if (f->limited)
        for (int64_t bi = 0; bi < f->pl.nblocks; bi++) {
            td_dband band;
            int64_t p0 = bi * f->pl.len, np = s->oh * s->ow;
            td_dband_of(s, p0, p0 + f->pl.len < np ? p0 + f->pl.len : np, &band);
            int64_t fl = td_dband_pixels(&band) * s->c;
            f->band_floats = fl > f->band_floats ? fl : f->band_floats;
        }
    f->band_floats = al16(f->band_floats);
    td_dband_of(s, 0, s->oh * s->ow, &f->full);
    f->img_floats = f->limited ? 0 : al16(td_dband_pixels(&f->full) * s->c);
    f->wp_floats = al16(f->dwise ? f->kk * s->c : s->m * f->k);
    f->slot_bytes = (size_t)f->table_bytes + 4 * (size_t)(f->col_floats + f->band_floats);
}

static td_status fwd_bytes(const fwd *f, size_t *bytes)
{
    size_t t;
    TD_TRY(td_size_mul(f->slot_bytes, (size_t)f->pl.threads, &t));
    return td_size_add(t, 4 * (size_t)(f->img_floats + f->wp_floats), bytes);
}

td_status td_deform_forward_workspace(const td_ctx *ctx, const td_deform_shape *s, size_t *bytes)
{
    td_deform_shape sc = *s;
    TD_TRY(td_deform_shape_check(&sc));
    fwd f;
    fwd_plan(ctx, &sc, &f);
    return fwd_bytes(&f, bytes);
}

/* Weight columns in the order the columns are written: (tap, channel) within each group; for
 * depthwise, one row of C weights per tap. */
static void reorder_weight(const fwd *f, int64_t m)
{
    const td_deform_shape *s = f->s;
    if (f->dwise) {
        for (int64_t tp = 0; tp < f->kk; tp++)
            f->wp[tp * s->c + m] = f->w[m * f->kk + tp];
        return;
    }
    for (int64_t cl = 0; cl < f->cg; cl++)
        for (int64_t tp = 0; tp < f->kk; tp++)
            f->wp[m * f->k + tp * f->cg + cl] = f->w[m * f->k + cl * f->kk + tp];
}

/* Channel runs [c, end) of channels [c0, c1) that share an offset group. */
static int64_t run_end(const fwd *f, int64_t c, int64_t c1)
{
    int64_t e = (c / f->cpo + 1) * f->cpo;
    return e < c1 ? e : c1;
}

static td_dnhwc entry_args(const fwd *f, const float *buf, const td_dband *band, const td_dsamp *t,
                           int64_t c, int64_t nc, int64_t tp)
{
    int64_t row = ((c / f->cpo) * f->kk + tp) * t->ld, cs = f->s->c;
    td_dnhwc a = {buf + c,     cs,          band->stride * cs, nc,    t->y0 + row,
                  t->ly + row, t->lx + row, t->m + row,        t->len};
    return a;
}

static float *y_at(const fwd *f, int64_t n, int64_t m, int64_t p)
{
    const td_deform_shape *s = f->s;
    return f->y + (n * s->m + m) * s->oh * s->ow + p;
}

static void block_gemm(const fwd *f, const float *buf, const td_dband *band, const td_dsamp *t,
                       float *col, int64_t n, int64_t p0)
{
    const td_deform_shape *s = f->s;
    int64_t np = s->oh * s->ow, len = t->len;
    for (int64_t gi = 0; gi < s->group; gi++) {
        int64_t c0 = gi * f->cg, c1 = c0 + f->cg;
        for (int64_t tp = 0; tp < f->kk; tp++)
            for (int64_t c = c0; c < c1;) {
                int64_t e = run_end(f, c, c1);
                td_dnhwc a = entry_args(f, buf, band, t, c, e - c, tp);
                f->sm.nhwc(&a, col + tp * f->cg + (c - c0), f->k);
                c = e;
            }
        float *yg = y_at(f, n, gi * f->mg, p0);
        for (int64_t m = 0; m < f->mg && f->b; m++)
            for (int64_t q = 0; q < len; q++)
                yg[m * np + q] = f->b[gi * f->mg + m];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)f->mg, (blasint)len,
                    (blasint)f->k, 1.0f, f->wp + gi * f->mg * f->k, (blasint)f->k, col,
                    (blasint)f->k, f->b ? 1.0f : 0.0f, yg, (blasint)np);
    }
}

/* Depthwise: channel-last accumulators acc[q][c] (bias first), every tap multiplied in, then
 * transposed into the output rows. */
static void block_dw(const fwd *f, const float *buf, const td_dband *band, const td_dsamp *t,
                     float *acc, int64_t n, int64_t p0)
{
    const td_deform_shape *s = f->s;
    int64_t cs = s->c, len = t->len, np = s->oh * s->ow;
    for (int64_t q = 0; q < len; q++)
        for (int64_t c = 0; c < cs; c++)
            acc[q * cs + c] = f->b ? f->b[c] : 0.0f;
    for (int64_t tp = 0; tp < f->kk; tp++)
        for (int64_t c = 0; c < cs;) {
            int64_t e = run_end(f, c, cs);
            td_dnhwc a = entry_args(f, buf, band, t, c, e - c, tp);
            f->sm.nhwc_dw(&a, f->wp + tp * cs + c, acc + c, cs);
            c = e;
        }
    for (int64_t c0 = 0; c0 < cs; c0 += 16) {
        int64_t c1 = c0 + 16 < cs ? c0 + 16 : cs;
        for (int64_t q = 0; q < len; q++)
            for (int64_t c = c0; c < c1; c++)
                f->y[(n * cs + c) * np + p0 + q] = acc[q * cs + c];
    }
}

static void block(const fwd *f, int tid, int64_t n, int64_t bi)
{
    const td_deform_shape *s = f->s;
    int64_t np = s->oh * s->ow, p0 = bi * f->pl.len;
    int64_t p1 = p0 + f->pl.len < np ? p0 + f->pl.len : np;
    char *slot = f->slots + (size_t)tid * f->slot_bytes;
    float *col = (float *)(slot + f->table_bytes), *bandbuf = col + f->col_floats;
    td_dsamp t;
    td_dsamp_init(&t, slot, s->offset_group * f->kk, p1 - p0);
    td_dband band = f->full;
    const float *buf = f->img;
    if (f->limited) {
        td_dband_of(s, p0, p1, &band);
        td_dband_stage_nhwc(s, &band, f->x + n * s->c * s->h * s->w, bandbuf, 0, band.rows + 2);
        buf = bandbuf;
    }
    td_dsamp_build(&f->sm, s, f->offset, f->mask, n, p0, p1, &band, &t);
    if (f->dwise)
        block_dw(f, buf, &band, &t, col, n, p0);
    else
        block_gemm(f, buf, &band, &t, col, n, p0);
}

td_status td_deform_forward(const td_ctx *ctx, const td_deform_shape *s, const float *x,
                            const float *offset, const float *mask, const float *w, const float *b,
                            float *y, void *work, size_t work_bytes)
{
    td_deform_shape sc = *s;
    TD_TRY(td_deform_shape_check(&sc));
    TD_TRY(td_deform_check_inputs(&sc, x, offset, w, y));
    fwd f;
    fwd_plan(ctx, &sc, &f);
    f.x = x;
    f.offset = offset;
    f.mask = mask;
    f.w = w;
    f.b = b;
    f.y = y;
    size_t need;
    TD_TRY(fwd_bytes(&f, &need));
    void *own = NULL;
    if (!work) {
        TD_TRY(td_alloc(need, &own));
        work = own;
    } else if (work_bytes < need) {
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv: workspace of %zu bytes, need %zu", work_bytes, need);
    }
    f.wp = work;
    f.img = f.wp + f.wp_floats;
    f.slots = (char *)(f.img + f.img_floats);
    const td_deform_shape *ss = &sc;
    int threads = f.pl.threads;
    int64_t stage_rows = f.full.rows + 2;
    td_blas_set_threads(1);
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int tid = td_deform_thread_id();
#pragma omp for schedule(static)
        for (int64_t m = 0; m < ss->m; m++)
            reorder_weight(&f, m);
        for (int64_t n = 0; n < ss->n; n++) {
            if (!f.limited) {
#pragma omp for schedule(static)
                for (int64_t r = 0; r < stage_rows; r++)
                    td_dband_stage_nhwc(ss, &f.full, x + n * ss->c * ss->h * ss->w, f.img, r,
                                        r + 1);
            }
#pragma omp for schedule(dynamic)
            for (int64_t bi = 0; bi < f.pl.nblocks; bi++)
                block(&f, tid, n, bi);
        }
    }
    td_free(own);
    return TD_OK;
}
