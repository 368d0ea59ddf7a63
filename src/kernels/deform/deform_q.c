/* Deformable convolution with a compressed weight (int8 per output channel, or any td_qmatrix
 * format). The columns must be pixel-major in the weight's column order (channel, tap), which
 * is what td_gemm_prepared multiplies by: it quantizes each pixel's row to int8 when asked
 * (TD_ACT_INT8) and runs the project's integer kernels, threaded over output channels.
 *
 * Sampling is the f32 forward's: the channel-last staged input (per image, or per block for
 * the limited range), the sampling table, four vector loads per 16 channels; each pixel's
 * (tap, channel) row is then permuted to (channel, tap) through a small buffer. Blocks of up to
 * 8 MB of columns are sampled by all threads (one pixel range each), then multiplied. */
#include <string.h>

#include "kernels/deform/deform_internal.h"

/* Pixel-major columns per block: at most this many floats (8 MB). */
#define Q_COL_FLOATS ((int64_t)1 << 21)

typedef struct q_plan {
    int threads;
    int64_t blk_len, nblk, sub_len, kc;
    int64_t table_bytes, row_floats, band_floats, img_floats;
    size_t col_bytes, y_bytes, per_thread;
    td_dband full;
} q_plan;

static int64_t al16(int64_t v)
{
    return (v + 15) / 16 * 16;
}

static void q_plan_make(const td_ctx *ctx, const td_deform_shape *s, q_plan *q)
{
    int64_t kk = s->kh * s->kw, np = s->oh * s->ow;
    q->kc = s->c / s->group * kk;
    int threads = ctx && ctx->threads > 0 ? ctx->threads : 1;
    int64_t len = Q_COL_FLOATS / q->kc;
    len = len < 16 ? 16 : (len > np ? np : len);
    q->nblk = (np + len - 1) / len;
    q->blk_len = (np + q->nblk - 1) / q->nblk;
    q->sub_len = (q->blk_len + threads - 1) / threads;
    q->threads = (int)((q->blk_len + q->sub_len - 1) / q->sub_len);
    q->table_bytes = td_dsamp_bytes(s->offset_group * kk, q->sub_len);
    q->row_floats = al16(q->kc);
    q->band_floats = 0;
    if (s->mode == TD_DEFORM_LIMITED)
        for (int64_t p0 = 0; p0 < np; p0 += q->sub_len) {
            td_dband b;
            td_dband_of(s, p0, p0 + q->sub_len < np ? p0 + q->sub_len : np, &b);
            int64_t f = td_dband_pixels(&b) * s->c;
            q->band_floats = f > q->band_floats ? f : q->band_floats;
        }
    q->band_floats = al16(q->band_floats);
    td_dband_of(s, 0, np, &q->full);
    q->img_floats = s->mode == TD_DEFORM_LIMITED ? 0 : al16(td_dband_pixels(&q->full) * s->c);
    q->col_bytes = 4 * (size_t)al16(q->blk_len * q->kc);
    q->y_bytes = 4 * (size_t)al16(q->blk_len * s->m);
    q->per_thread = (size_t)q->table_bytes + 4 * (size_t)(q->row_floats + q->band_floats);
}

static td_status q_need(const q_plan *q, size_t *bytes)
{
    size_t t;
    TD_TRY(td_size_mul(q->per_thread, (size_t)q->threads, &t));
    TD_TRY(td_size_add(t, q->col_bytes + q->y_bytes, &t));
    return td_size_add(t, 4 * (size_t)q->img_floats, bytes);
}

td_status td_deform_forward_q_workspace(const td_ctx *ctx, const td_deform_shape *s, size_t *bytes)
{
    td_deform_shape sc = *s;
    TD_TRY(td_deform_shape_check(&sc));
    q_plan q;
    q_plan_make(ctx, &sc, &q);
    return q_need(&q, bytes);
}

typedef struct q_run {
    const td_deform_shape *s;
    const q_plan *q;
    const float *x, *offset, *mask;
    td_deform_sampler sm;
    float *img, *col, *yb;
    char *slots;
} q_run;

/* Pixels [p0, p1) of image n, channels of weight group gi, into column rows from row q0. */
static void sample_sub(const q_run *r, int tid, int64_t n, int64_t gi, int64_t p0, int64_t p1,
                       int64_t q0)
{
    const td_deform_shape *s = r->s;
    const q_plan *q = r->q;
    int64_t kk = s->kh * s->kw, cg = s->c / s->group, cpo = s->c / s->offset_group;
    char *slot = r->slots + (size_t)tid * q->per_thread;
    float *row = (float *)(slot + q->table_bytes), *bandbuf = row + q->row_floats;
    td_dband band = q->full;
    const float *buf = r->img;
    if (s->mode == TD_DEFORM_LIMITED) {
        td_dband_of(s, p0, p1, &band);
        td_dband_stage_nhwc(s, &band, r->x + n * s->c * s->h * s->w, bandbuf, 0, band.rows + 2);
        buf = bandbuf;
    }
    td_dsamp t;
    td_dsamp_init(&t, slot, s->offset_group * kk, p1 - p0);
    td_dsamp_build(&r->sm, s, r->offset, r->mask, n, p0, p1, &band, &t);
    float *col = r->col + q0 * q->kc;
    int64_t c0 = gi * cg, c1 = c0 + cg;
    for (int64_t tp = 0; tp < kk; tp++)
        for (int64_t c = c0; c < c1;) {
            int64_t e = (c / cpo + 1) * cpo < c1 ? (c / cpo + 1) * cpo : c1;
            int64_t tr = ((c / cpo) * kk + tp) * t.ld;
            td_dnhwc a = {buf + c,   s->c,      band.stride * s->c, e - c, t.y0 + tr,
                          t.ly + tr, t.lx + tr, t.m + tr,           t.len};
            r->sm.nhwc(&a, col + tp * cg + (c - c0), q->kc);
            c = e;
        }
    /* (tap, channel) -> (channel, tap), the weight's column order. */
    for (int64_t p = 0; p < t.len; p++) {
        float *dst = col + p * q->kc;
        memcpy(row, dst, (size_t)q->kc * sizeof *row);
        for (int64_t cl = 0; cl < cg; cl++)
            for (int64_t tp = 0; tp < kk; tp++)
                dst[cl * kk + tp] = row[tp * cg + cl];
    }
}

static td_status q_block(const td_ctx *ctx, const q_run *r, const td_qmatrix *qw, td_act_type act,
                         const float *b, float *y, td_act *a, int64_t n, int64_t p0, int64_t p1)
{
    const td_deform_shape *s = r->s;
    const q_plan *q = r->q;
    int64_t np = s->oh * s->ow, mg = s->m / s->group, len = p1 - p0;
    int64_t nsub = (len + q->sub_len - 1) / q->sub_len;
    for (int64_t gi = 0; gi < s->group; gi++) {
#pragma omp parallel for num_threads(q->threads) if (q->threads > 1 && nsub > 1)
        for (int64_t si = 0; si < nsub; si++) {
            int64_t a0 = p0 + si * q->sub_len, a1 = a0 + q->sub_len < p1 ? a0 + q->sub_len : p1;
            sample_sub(r, td_deform_thread_id(), n, gi, a0, a1, a0 - p0);
        }
        TD_TRY(td_act_prepare_ctx(ctx, a, qw, act, r->col, len, q->kc));
        TD_TRY(td_gemm_prepared(ctx, qw, a, r->yb, s->m));
        for (int64_t m = gi * mg; m < (gi + 1) * mg; m++) {
            float bv = b ? b[m] : 0.0f, *ym = y + (n * s->m + m) * np + p0;
            for (int64_t p = 0; p < len; p++)
                ym[p] = r->yb[p * s->m + m] + bv;
        }
    }
    return TD_OK;
}

td_status td_deform_forward_q(const td_ctx *ctx, const td_deform_shape *s, const float *x,
                              const float *offset, const float *mask, const td_qmatrix *qw,
                              td_act_type act, const float *b, float *y, td_act *a, void *work,
                              size_t work_bytes)
{
    td_deform_shape sc = *s;
    TD_TRY(td_deform_shape_check(&sc));
    TD_TRY(td_deform_check_inputs(&sc, x, offset, qw, y));
    s = &sc;
    q_plan q;
    q_plan_make(ctx, s, &q);
    if (td_qmatrix_rows(qw) != s->m || td_qmatrix_cols(qw) != q.kc)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv: compressed weight is %lld x %lld, expected %lld x "
                            "%lld (M x C/group*kh*kw)",
                            (long long)td_qmatrix_rows(qw), (long long)td_qmatrix_cols(qw),
                            (long long)s->m, (long long)q.kc);
    if ((unsigned)act >= TD_ACT_COUNT)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "deformable conv: unknown activation type");
    size_t need;
    TD_TRY(q_need(&q, &need));
    void *own = NULL;
    td_act *own_act = NULL;
    if (!work) {
        TD_TRY(td_alloc(need, &own));
        work = own;
    } else if (work_bytes < need) {
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable conv: workspace of %zu bytes, need %zu", work_bytes, need);
    }
    td_status st = TD_OK;
    if (!a) {
        st = td_act_new(&own_act);
        a = own_act;
    }
    q_run r = {s, &q, x, offset, mask, {0}, NULL, NULL, NULL, NULL};
    td_deform_sampler_init(ctx, &r.sm);
    r.col = work;
    r.yb = (float *)((char *)work + q.col_bytes);
    r.img = (float *)((char *)r.yb + q.y_bytes);
    r.slots = (char *)(r.img + q.img_floats);
    int64_t np = s->oh * s->ow, stage_rows = q.full.rows + 2;
    for (int64_t n = 0; n < s->n && !st; n++) {
        if (s->mode != TD_DEFORM_LIMITED) {
#pragma omp parallel for num_threads(q.threads) if (q.threads > 1)
            for (int64_t rr = 0; rr < stage_rows; rr++)
                td_dband_stage_nhwc(s, &q.full, x + n * s->c * s->h * s->w, r.img, rr, rr + 1);
        }
        for (int64_t bi = 0; bi < q.nblk && !st; bi++) {
            int64_t p0 = bi * q.blk_len, p1 = p0 + q.blk_len < np ? p0 + q.blk_len : np;
            st = q_block(ctx, &r, qw, act, b, y, a, n, p0, p1);
        }
    }
    td_act_free(own_act);
    td_free(own);
    return st;
}
