/* MaxPool, AveragePool (1-D and 2-D), GlobalAveragePool, GlobalMaxPool. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/nn_internal.h"

typedef struct pool_params {
    td_window w; /* as 2-D */
    int64_t n, c;
    int64_t count_include_pad;
    bool is_max;
    bool col_major; /* MaxPool Indices with storage_order 1 */
} pool_params;

static td_status pool_prepare(td_graph *g, td_node *n)
{
    TD_TRY(td_ops_require_f32(g, n, 0));
    const td_value *x = td_node_in(g, n, 0);
    bool is_max = strcmp(n->def ? n->def->name : n->op_type, "MaxPool") == 0;
    if (x->ndim != 3 && x->ndim != 4)
        return td_node_error(n, TD_CODE_UNSUPPORTED,
                             "input X has rank %d; only 1-D and 2-D pooling (rank 3 or 4)",
                             x->ndim);
    int nsp = x->ndim - 2;
    int64_t k[2];
    int kc;
    TD_TRY(td_attr_ints(n, "kernel_shape", k, 2, &kc));
    if (kc != nsp)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "attribute 'kernel_shape' must have %d values (has %d)", nsp, kc);
    int64_t ceil_mode, storage = 0;
    TD_TRY(td_attr_int(n, "ceil_mode", 0, &ceil_mode));
    if (is_max)
        TD_TRY(td_attr_int(n, "storage_order", 0, &storage));
    if (storage != 0 && storage != 1)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "storage_order %lld is not 0 or 1",
                             (long long)storage);
    if (!is_max && n->n_outputs > 1)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "AveragePool has one output");
    pool_params *p = calloc(1, sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    td_window w;
    /* AveragePool has dilations since opset 19. */
    td_status st = td_window_parse(n, nsp, x->shape + 2, k, ceil_mode != 0, true, &w);
    if (!st && !is_max)
        st = td_attr_int(n, "count_include_pad", 0, &p->count_include_pad);
    if (st) {
        free(p);
        return st;
    }
    td_window_as_2d(&w, &p->w);
    p->n = x->shape[0];
    p->c = x->shape[1];
    p->is_max = is_max;
    p->col_major = storage == 1;
    int64_t shape[4] = {p->n, p->c, w.out[0], w.out[1]};
    td_ops_set_params(n, p);
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, x->ndim, shape);
    if (n->n_outputs > 1)
        td_value_set_shape(td_node_out(g, n, 1), TD_DT_I64, x->ndim, shape);
    return TD_OK;
}

static void pool_plane(const pool_params *p, const float *x, float *y, int64_t *idx, int64_t base)
{
    const td_window *w = &p->w;
    int64_t H = w->in[0], W = w->in[1];
    for (int64_t oy = 0; oy < w->out[0]; oy++)
        for (int64_t ox = 0; ox < w->out[1]; ox++) {
            int64_t y0 = oy * w->s[0] - w->pb[0], x0 = ox * w->s[1] - w->pb[1];
            float best = -INFINITY;
            int64_t arg = -1;
            double sum = 0;
            int64_t cnt = 0;
            for (int64_t ky = 0; ky < w->k[0]; ky++) {
                int64_t iy = y0 + ky * w->d[0];
                if (iy < 0 || iy >= H)
                    continue;
                for (int64_t kx = 0; kx < w->k[1]; kx++) {
                    int64_t ix = x0 + kx * w->d[1];
                    if (ix < 0 || ix >= W)
                        continue;
                    float v = x[iy * W + ix];
                    if (arg < 0 || v > best) {
                        best = v;
                        arg = p->col_major ? ix * H + iy : iy * W + ix;
                    }
                    sum += v;
                    cnt++;
                }
            }
            int64_t o = oy * w->out[1] + ox;
            if (p->is_max) {
                y[o] = best;
                if (idx)
                    idx[o] = base + (arg < 0 ? 0 : arg);
                continue;
            }
            if (p->count_include_pad) {
                /* Pad positions count, positions past the end padding (ceil_mode) do not. */
                int64_t ylim = H + w->pe[0], xlim = W + w->pe[1];
                int64_t ny = 0, nx = 0;
                for (int64_t ky = 0; ky < w->k[0]; ky++)
                    ny += y0 + ky * w->d[0] < ylim;
                for (int64_t kx = 0; kx < w->k[1]; kx++)
                    nx += x0 + kx * w->d[1] < xlim;
                cnt = ny * nx;
            }
            y[o] = cnt ? (float)(sum / (double)cnt) : 0.0f;
        }
}

static td_status pool_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const pool_params *p = n->params;
    if (!p)
        return td_node_error(n, TD_CODE_INTERNAL, "run before prepare");
    const float *x = in[0].data;
    float *y = out[0].data;
    int64_t *idx = n->n_outputs > 1 ? out[1].data : NULL;
    int64_t ip = p->w.in[0] * p->w.in[1], op = p->w.out[0] * p->w.out[1];
    int threads = td_ops_threads(rc, p->n * p->c * op * p->w.k[0] * p->w.k[1]);
#pragma omp parallel for num_threads(threads) if (threads > 1)
    for (int64_t nc = 0; nc < p->n * p->c; nc++)
        pool_plane(p, x + nc * ip, y + nc * op, idx ? idx + nc * op : NULL, nc * ip);
    return TD_OK;
}

static void pool_cost(const td_graph *g, td_node *n)
{
    const pool_params *p = n->params;
    n->cost.params = 0;
    n->cost.macs = 0;
    n->cost.flops_other = p ? td_ops_out_numel(g, n, 0) * p->w.k[0] * p->w.k[1] : 0;
}

const td_op_def td_op_maxpool = {"MaxPool", TD_OPC_POOL,  1,        1,         1,   2,
                                 0,         pool_prepare, pool_run, pool_cost, NULL};
const td_op_def td_op_avgpool = {"AveragePool", TD_OPC_POOL, 1,         1,   1, 1, 0,
                                 pool_prepare,  pool_run,    pool_cost, NULL};

/* ---- global pools: any rank >= 3, reduce every spatial dimension ---- */

static td_status gpool_prepare(td_graph *g, td_node *n)
{
    TD_TRY(td_ops_require_f32(g, n, 0));
    const td_value *x = td_node_in(g, n, 0);
    if (x->ndim < 3)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input X has rank %d, needs >= 3",
                             x->ndim);
    int64_t shape[TD_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        shape[i] = i < 2 ? x->shape[i] : 1;
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, x->ndim, shape);
    return TD_OK;
}

static td_status gpool_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    bool is_max = strcmp(n->def ? n->def->name : n->op_type, "GlobalMaxPool") == 0;
    int64_t planes = in[0].shape[0] * in[0].shape[1];
    int64_t total = td_view_numel(&in[0]);
    int64_t inner = planes ? total / planes : 0;
    const float *x = in[0].data;
    float *y = out[0].data;
    int threads = td_ops_threads(rc, total);
#pragma omp parallel for num_threads(threads) if (threads > 1)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * inner;
        if (is_max) {
            float m = inner ? xp[0] : -INFINITY;
            for (int64_t i = 1; i < inner; i++)
                m = (xp[i] > m || isnan(xp[i])) && !isnan(m) ? xp[i] : m;
            y[pl] = m;
        } else {
            double s = 0;
            for (int64_t i = 0; i < inner; i++)
                s += xp[i];
            y[pl] = inner ? (float)(s / (double)inner) : NAN;
        }
    }
    return TD_OK;
}

static void gpool_cost(const td_graph *g, td_node *n)
{
    n->cost.params = 0;
    n->cost.macs = 0;
    const td_value *x = td_node_in((td_graph *)g, n, 0);
    n->cost.flops_other = x && x->ndim > 0 ? td_shape_numel(x->ndim, x->shape) : 0;
}

const td_op_def td_op_global_avgpool = {"GlobalAveragePool", TD_OPC_POOL, 1,          1,   1, 1, 0,
                                        gpool_prepare,       gpool_run,   gpool_cost, NULL};
const td_op_def td_op_global_maxpool = {"GlobalMaxPool", TD_OPC_POOL, 1,          1,   1, 1, 0,
                                        gpool_prepare,   gpool_run,   gpool_cost, NULL};
