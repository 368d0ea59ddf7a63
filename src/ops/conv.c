/* Conv (1-D and 2-D, NCHW): im2col + single-threaded OpenBLAS sgemm per (image, group, pixel
 * block) spread over OpenMP threads; direct loops when each output channel reads one input
 * channel (depthwise); compressed weights through td_gemm on a pixel-major im2col. */
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "kernels/blas.h"
#include "kernels/ref/conv_ref.h"
#include "ops/nn_internal.h"

typedef struct conv_params {
    td_conv_shape s; /* as 2-D */
    int nsp;
} conv_params;

static td_status check_qweight(const td_node *n, const td_conv_shape *s)
{
    if (!n->qweight)
        return TD_OK;
    int64_t cols = s->c / s->group * s->kh * s->kw;
    if (td_qmatrix_rows(n->qweight) != s->m || td_qmatrix_cols(n->qweight) != cols)
        return td_node_error(
            n, TD_CODE_INVALID_ARGUMENT, "compressed weight is %lld x %lld, expected %lld x %lld",
            (long long)td_qmatrix_rows(n->qweight), (long long)td_qmatrix_cols(n->qweight),
            (long long)s->m, (long long)cols);
    return TD_OK;
}

static td_status conv_prepare(td_graph *g, td_node *n)
{
    TD_TRY(td_ops_require_f32(g, n, 0));
    TD_TRY(td_ops_require_f32(g, n, 1));
    const td_value *x = td_node_in(g, n, 0), *w = td_node_in(g, n, 1), *b = td_node_in(g, n, 2);
    if (x->ndim != 3 && x->ndim != 4)
        return td_node_error(n, TD_CODE_UNSUPPORTED,
                             "input X has rank %d; only 1-D and 2-D convolutions (rank 3 or 4)",
                             x->ndim);
    if (w->ndim != x->ndim)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "weight shape mismatch: W has rank %d, X %d", w->ndim, x->ndim);
    int64_t group;
    TD_TRY(td_attr_int(n, "group", 1, &group));
    int64_t c = x->shape[1], m = w->shape[0];
    if (group < 1 || c % group != 0 || m % group != 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "group %lld does not divide the %lld input and %lld output channels",
                             (long long)group, (long long)c, (long long)m);
    if (w->shape[1] * group != c)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "weight shape mismatch: W has %lld input channels per group, X has "
                             "%lld channels in %lld groups",
                             (long long)w->shape[1], (long long)c, (long long)group);
    int nsp = x->ndim - 2;
    int64_t ks[2];
    int kc;
    TD_TRY(td_attr_ints(n, "kernel_shape", ks, 2, &kc));
    for (int i = 0; i < kc; i++)
        if (kc != nsp || ks[i] != w->shape[2 + i])
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "weight shape mismatch: kernel_shape disagrees with W");
    if (b && (b->dtype != TD_DT_F32 || b->ndim != 1 || b->shape[0] != m))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "bias '%s' must be f32 of shape [%lld]",
                             b->name, (long long)m);
    td_window win, w2;
    TD_TRY(td_window_parse(n, nsp, x->shape + 2, w->shape + 2, false, true, &win));
    td_window_as_2d(&win, &w2);
    conv_params *p = calloc(1, sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    p->nsp = nsp;
    td_conv_shape *s = &p->s;
    s->n = x->shape[0];
    s->c = c;
    s->h = w2.in[0];
    s->w = w2.in[1];
    s->m = m;
    s->group = group;
    s->kh = w2.k[0];
    s->kw = w2.k[1];
    s->sh = w2.s[0];
    s->sw = w2.s[1];
    s->dh = w2.d[0];
    s->dw = w2.d[1];
    s->pt = w2.pb[0];
    s->pl = w2.pb[1];
    s->oh = w2.out[0];
    s->ow = w2.out[1];
    td_status st = check_qweight(n, s);
    if (st) {
        free(p);
        return st;
    }
    int64_t shape[4] = {s->n, m, win.out[0], win.out[1]};
    td_ops_set_params(n, p);
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, x->ndim, shape);
    return TD_OK;
}

/* Output columns [*lo, *hi) of a row whose input column ox * sw + off lies inside [0, w). */
static void valid_range(int64_t ow, int64_t sw, int64_t off, int64_t w, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + sw - 1) / sw;
    int64_t b = w - off <= 0 ? 0 : (w - off + sw - 1) / sw;
    *lo = a < ow ? a : ow;
    *hi = b < ow ? b : ow;
    if (*hi < *lo)
        *hi = *lo;
}

/* Rows k = (c, ky, kx) of the channel-major column matrix for output pixels [p0, p0+len),
 * written one output-row segment at a time: zeros for the padding, a strided (or, with
 * stride 1, contiguous) copy for the inside. */
static void im2col_block(const td_conv_shape *s, const float *x, int64_t p0, int64_t len,
                         int64_t cg, float *col)
{
    for (int64_t c = 0; c < cg; c++)
        for (int64_t ky = 0; ky < s->kh; ky++)
            for (int64_t kx = 0; kx < s->kw; kx++) {
                float *dst = col + ((c * s->kh + ky) * s->kw + kx) * len;
                const float *xc = x + c * s->h * s->w;
                int64_t off = kx * s->dw - s->pl, lo, hi;
                valid_range(s->ow, s->sw, off, s->w, &lo, &hi);
                for (int64_t j = 0; j < len;) {
                    int64_t p = p0 + j, oy = p / s->ow, ox0 = p % s->ow;
                    int64_t ox1 = s->ow - ox0 < len - j ? s->ow : ox0 + (len - j);
                    int64_t iy = oy * s->sh - s->pt + ky * s->dh;
                    float *d = dst + j - ox0;
                    if (iy < 0 || iy >= s->h) {
                        for (int64_t ox = ox0; ox < ox1; ox++)
                            d[ox] = 0.0f;
                    } else {
                        const float *xr = xc + iy * s->w + off;
                        int64_t a = lo > ox0 ? lo : ox0, b = hi < ox1 ? hi : ox1;
                        if (b < a)
                            b = a;
                        for (int64_t ox = ox0; ox < a && ox < ox1; ox++)
                            d[ox] = 0.0f;
                        if (s->sw == 1)
                            for (int64_t ox = a; ox < b; ox++)
                                d[ox] = xr[ox];
                        else
                            for (int64_t ox = a; ox < b; ox++)
                                d[ox] = xr[ox * s->sw];
                        for (int64_t ox = b > ox0 ? b : ox0; ox < ox1; ox++)
                            d[ox] = 0.0f;
                    }
                    j += ox1 - ox0;
                }
            }
}

static void add_bias(const td_conv_shape *s, const float *b, float *y, int64_t p)
{
    for (int64_t i = 0; i < s->n * s->m; i++) {
        float v = b ? b[i % s->m] : 0.0f;
        for (int64_t j = 0; j < p; j++)
            y[i * p + j] += v;
    }
}

static td_status conv_gemm(td_op_run *rc, const td_conv_shape *s, const float *x, const float *w,
                           const float *b, float *y)
{
    int64_t cg = s->c / s->group, mg = s->m / s->group, k = cg * s->kh * s->kw;
    int64_t p = s->oh * s->ow;
    bool direct = s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pt == 0 &&
                  s->pl == 0 && s->oh == s->h && s->ow == s->w;
    int threads = td_ops_threads(rc, s->n * s->m * p * k);
    int64_t planes = s->n * s->group;
    int64_t splits = planes < 2 * threads ? (2 * threads + planes - 1) / planes : 1;
    int64_t pb = (p + splits - 1) / splits;
    int64_t cap = ((int64_t)1 << 21) / (k > 0 ? k : 1); /* <= 8 MB of columns per thread */
    if (pb > cap)
        pb = cap;
    if (pb < 16)
        pb = p < 16 ? p : 16;
    int64_t nblk = (p + pb - 1) / pb, items = planes * nblk;
    float *cols = NULL;
    if (!direct) {
        size_t bytes;
        TD_TRY(td_size_mul((size_t)threads * (size_t)k, (size_t)pb * sizeof(float), &bytes));
        TD_TRY(td_op_scratch(rc, bytes, (void **)&cols));
    }
    td_blas_set_threads(1);
#pragma omp parallel for num_threads(threads) schedule(dynamic) if (threads > 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t plane = it / nblk, blk = it % nblk;
        int64_t ni = plane / s->group, gi = plane % s->group;
        int64_t p0 = blk * pb, len = p - p0 < pb ? p - p0 : pb;
        const float *xg = x + (ni * s->c + gi * cg) * s->h * s->w;
        float *yg = y + (ni * s->m + gi * mg) * p + p0;
        const float *bm;
        int64_t ldb;
        if (direct) {
            bm = xg + p0;
            ldb = p;
        } else {
#ifdef _OPENMP
            float *col = cols + (size_t)omp_get_thread_num() * (size_t)(k * pb);
#else
            float *col = cols;
#endif
            im2col_block(s, xg, p0, len, cg, col);
            bm = col;
            ldb = len;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)mg, (blasint)len,
                    (blasint)k, 1.0f, w + gi * mg * k, (blasint)k, bm, (blasint)ldb, 0.0f, yg,
                    (blasint)p);
    }
    add_bias(s, b, y, p);
    return TD_OK;
}

/* Each output channel reads one input channel (cin/group == 1): direct loops. */
static void conv_depthwise(td_op_run *rc, const td_conv_shape *s, const float *x, const float *w,
                           const float *b, float *y)
{
    int64_t mg = s->m / s->group, p = s->oh * s->ow;
    int threads = td_ops_threads(rc, s->n * s->m * p * s->kh * s->kw);
#pragma omp parallel for num_threads(threads) if (threads > 1)
    for (int64_t nm = 0; nm < s->n * s->m; nm++) {
        int64_t ni = nm / s->m, m = nm % s->m, c = m / mg;
        const float *xc = x + (ni * s->c + c) * s->h * s->w;
        const float *wm = w + m * s->kh * s->kw;
        float *ym = y + nm * p;
        float bv = b ? b[m] : 0.0f;
        for (int64_t i = 0; i < p; i++)
            ym[i] = bv;
        /* Tap by tap over the valid span of each output row: vectorizable for stride 1. */
        for (int64_t oy = 0; oy < s->oh; oy++) {
            float *yr = ym + oy * s->ow;
            for (int64_t ky = 0; ky < s->kh; ky++) {
                int64_t iy = oy * s->sh - s->pt + ky * s->dh;
                if (iy < 0 || iy >= s->h)
                    continue;
                for (int64_t kx = 0; kx < s->kw; kx++) {
                    int64_t off = kx * s->dw - s->pl, lo, hi;
                    valid_range(s->ow, s->sw, off, s->w, &lo, &hi);
                    const float *xr = xc + iy * s->w + off;
                    float wv = wm[ky * s->kw + kx];
                    if (s->sw == 1)
                        for (int64_t ox = lo; ox < hi; ox++)
                            yr[ox] += wv * xr[ox];
                    else
                        for (int64_t ox = lo; ox < hi; ox++)
                            yr[ox] += wv * xr[ox * s->sw];
                }
            }
        }
    }
}

/* Compressed weight: rows of X are output pixels (pixel-major im2col), Y = X * W^T. The
 * qmatrix holds all groups stacked, so each group's product computes every row and keeps its
 * own: groups cost `group` times the work (compressing grouped convs rarely pays anyway). */
static td_status conv_qweight(td_op_run *rc, const td_node *n, const td_conv_shape *s,
                              const float *x, const float *b, float *y)
{
    int64_t cg = s->c / s->group, mg = s->m / s->group, k = cg * s->kh * s->kw;
    int64_t p = s->oh * s->ow;
    size_t xb, yb, tot;
    TD_TRY(td_size_mul((size_t)(p * k), sizeof(float), &xb));
    TD_TRY(td_size_mul((size_t)(p * s->m), sizeof(float), &yb));
    TD_TRY(td_size_add(xb, yb, &tot));
    float *xc;
    TD_TRY(td_op_scratch(rc, tot + 64, (void **)&xc));
    float *yc = xc + (xb + 63) / 64 * 16;
    int threads = td_ops_threads(rc, p * k);
    for (int64_t ni = 0; ni < s->n; ni++)
        for (int64_t gi = 0; gi < s->group; gi++) {
            const float *xg = x + (ni * s->c + gi * cg) * s->h * s->w;
#pragma omp parallel for num_threads(threads) if (threads > 1)
            for (int64_t pix = 0; pix < p; pix++) {
                int64_t oy = pix / s->ow, ox = pix % s->ow;
                float *row = xc + pix * k;
                for (int64_t c = 0; c < cg; c++)
                    for (int64_t ky = 0; ky < s->kh; ky++) {
                        int64_t iy = oy * s->sh - s->pt + ky * s->dh;
                        for (int64_t kx = 0; kx < s->kw; kx++) {
                            int64_t ix = ox * s->sw - s->pl + kx * s->dw;
                            *row++ = (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w)
                                         ? xg[(c * s->h + iy) * s->w + ix]
                                         : 0.0f;
                        }
                    }
            }
            TD_TRY(td_op_qgemm(rc, n->qweight, n->act, xc, p, yc));
            for (int64_t m = 0; m < mg; m++) {
                int64_t mm = gi * mg + m;
                float bv = b ? b[mm] : 0.0f;
                float *ym = y + (ni * s->m + mm) * p;
                for (int64_t pix = 0; pix < p; pix++)
                    ym[pix] = yc[pix * s->m + mm] + bv;
            }
        }
    return TD_OK;
}

static td_status conv_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const conv_params *cp = n->params;
    if (!cp)
        return td_node_error(n, TD_CODE_INTERNAL, "run before prepare");
    const td_conv_shape *s = &cp->s;
    const float *x = in[0].data, *w = in[1].data;
    const float *b = n->n_inputs > 2 ? in[2].data : NULL;
    float *y = out[0].data;
    int64_t p = s->oh * s->ow, cg = s->c / s->group;
    if (s->n * s->m * p == 0)
        return TD_OK;
    if (n->qweight) {
        TD_TRY(check_qweight(n, s));
        if (cg * s->kh * s->kw == 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "empty reduction");
        return conv_qweight(rc, n, s, x, b, y);
    }
    if (cg == 0) { /* no input channels: the output is the bias */
        memset(y, 0, (size_t)(s->n * s->m * p) * sizeof *y);
        add_bias(s, b, y, p);
        return TD_OK;
    }
    if (cg == 1) {
        conv_depthwise(rc, s, x, w, b, y);
        return TD_OK;
    }
    return conv_gemm(rc, s, x, w, b, y);
}

static void conv_cost(const td_graph *g, td_node *n)
{
    const conv_params *cp = n->params;
    n->cost.params = td_ops_const_params(g, n);
    n->cost.flops_other = 0;
    n->cost.macs = 0;
    if (!cp)
        return;
    const td_conv_shape *s = &cp->s;
    n->cost.macs = s->n * s->m * s->oh * s->ow * (s->c / s->group) * s->kh * s->kw;
}

const td_op_def td_op_conv = {"Conv", TD_OPC_CONV,  2,        3,         1,   1,
                              0,      conv_prepare, conv_run, conv_cost, NULL};
