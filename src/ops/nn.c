/* The nn family: Conv, Gemm, MatMul, pools (conv.c, gemm.c, pool.c) and BatchNormalization
 * (here), plus the window geometry they share. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/nn_internal.h"

static td_status parse_auto_pad(const td_node *n, int *mode)
{
    const td_attr *a = td_node_attr(n, "auto_pad");
    *mode = 0;
    if (!a)
        return TD_OK;
    if (a->type != TD_ATTR_STRING || !a->s)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute 'auto_pad' must be a string");
    static const char *const modes[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    for (int i = 0; i < 4; i++)
        if (strcmp(a->s, modes[i]) == 0) {
            *mode = i;
            return TD_OK;
        }
    return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "unknown auto_pad '%s'", a->s);
}

static td_status read_dims(const td_node *n, const char *name, int nsp, int64_t def, int64_t min,
                           int64_t *out)
{
    int64_t v[2 * TD_MAX_SPATIAL];
    int cnt;
    TD_TRY(td_attr_ints(n, name, v, 2 * TD_MAX_SPATIAL, &cnt));
    if (cnt == 0) {
        for (int i = 0; i < nsp; i++)
            out[i] = def;
        return TD_OK;
    }
    if (cnt != nsp)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "attribute '%s' has %d values for %d spatial dimensions", name, cnt,
                             nsp);
    for (int i = 0; i < nsp; i++) {
        if (v[i] < min)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute '%s' value %lld < %lld",
                                 name, (long long)v[i], (long long)min);
        out[i] = v[i];
    }
    return TD_OK;
}

td_status td_window_parse(const td_node *n, int nsp, const int64_t *in, const int64_t *k,
                          bool ceil_mode, bool allow_dilations, td_window *w)
{
    memset(w, 0, sizeof *w);
    if (nsp < 1 || nsp > TD_MAX_SPATIAL)
        return td_node_error(n, TD_CODE_UNSUPPORTED,
                             "%d spatial dimensions; only 1-D and 2-D are supported", nsp);
    w->nsp = nsp;
    TD_TRY(read_dims(n, "strides", nsp, 1, 1, w->s));
    if (allow_dilations)
        TD_TRY(read_dims(n, "dilations", nsp, 1, 1, w->d));
    else
        for (int i = 0; i < nsp; i++)
            w->d[i] = 1;
    int mode;
    TD_TRY(parse_auto_pad(n, &mode));
    int64_t pads[2 * TD_MAX_SPATIAL];
    int cnt;
    TD_TRY(td_attr_ints(n, "pads", pads, 2 * TD_MAX_SPATIAL, &cnt));
    if (cnt != 0 && cnt != 2 * nsp)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "attribute 'pads' has %d values, expected %d", cnt, 2 * nsp);
    for (int i = 0; i < nsp; i++) {
        w->in[i] = in[i];
        w->k[i] = k[i];
        if (k[i] < 1)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "kernel size %lld < 1",
                                 (long long)k[i]);
        w->pb[i] = cnt ? pads[i] : 0;
        w->pe[i] = cnt ? pads[i + nsp] : 0;
        if (w->pb[i] < 0 || w->pe[i] < 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "negative pads");
        int64_t dk = (k[i] - 1) * w->d[i] + 1;
        if (mode == 1 || mode == 2) { /* SAME_*: out = ceil(in / stride) */
            int64_t o = (in[i] + w->s[i] - 1) / w->s[i];
            int64_t total = (o - 1) * w->s[i] + dk - in[i];
            if (total < 0)
                total = 0;
            w->pb[i] = mode == 1 ? total / 2 : total - total / 2;
            w->pe[i] = total - w->pb[i];
            w->out[i] = o;
            continue;
        }
        if (mode == 3)
            w->pb[i] = w->pe[i] = 0;
        int64_t span = in[i] + w->pb[i] + w->pe[i] - dk;
        if (span < 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "kernel extent %lld is larger than the padded input %lld "
                                 "(spatial dimension %d)",
                                 (long long)dk, (long long)(in[i] + w->pb[i] + w->pe[i]), i);
        int64_t o = span / w->s[i] + 1;
        if (ceil_mode && span % w->s[i] != 0) {
            o++;
            /* The last window must start inside the input or the begin padding. */
            if ((o - 1) * w->s[i] >= in[i] + w->pb[i])
                o--;
        }
        w->out[i] = o;
    }
    return TD_OK;
}

void td_window_as_2d(const td_window *w, td_window *w2)
{
    if (w->nsp == 2) {
        *w2 = *w;
        return;
    }
    memset(w2, 0, sizeof *w2);
    w2->nsp = 2;
    w2->in[0] = w2->k[0] = w2->s[0] = w2->d[0] = w2->out[0] = 1;
    w2->in[1] = w->in[0];
    w2->k[1] = w->k[0];
    w2->s[1] = w->s[0];
    w2->d[1] = w->d[0];
    w2->pb[1] = w->pb[0];
    w2->pe[1] = w->pe[0];
    w2->out[1] = w->out[0];
}

/* ---- BatchNormalization (inference) ---- */

typedef struct bn_params {
    float epsilon;
} bn_params;

static td_status bn_prepare(td_graph *g, td_node *n)
{
    int64_t training = 0;
    TD_TRY(td_attr_int(n, "training_mode", 0, &training));
    if (training || n->n_outputs > 1)
        return td_node_error(n, TD_CODE_UNSUPPORTED,
                             "training mode (running statistics outputs) is not supported; "
                             "only inference");
    for (int i = 0; i < 5; i++)
        TD_TRY(td_ops_require_f32(g, n, i));
    const td_value *x = td_node_in(g, n, 0);
    if (x->ndim < 2)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input X has rank %d, needs >= 2",
                             x->ndim);
    static const char *const what[] = {"", "scale", "B", "mean", "var"};
    for (int i = 1; i < 5; i++) {
        const td_value *v = td_node_in(g, n, i);
        if (td_shape_numel(v->ndim, v->shape) != x->shape[1] || v->ndim != 1)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "input %s ('%s') must have shape [%lld] (the channels)", what[i],
                                 v->name, (long long)x->shape[1]);
    }
    bn_params *p = malloc(sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    td_status st = td_attr_float(n, "epsilon", 1e-5f, &p->epsilon);
    if (st) {
        free(p);
        return st;
    }
    td_ops_set_params(n, p);
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, x->ndim, x->shape);
    return TD_OK;
}

static td_status bn_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const bn_params *p = n->params;
    const float *x = in[0].data, *sc = in[1].data, *b = in[2].data, *mean = in[3].data,
                *var = in[4].data;
    float *y = out[0].data;
    int64_t N = in[0].shape[0], C = in[0].shape[1];
    int64_t inner = td_view_numel(&in[0]);
    inner = (N * C) != 0 ? inner / (N * C) : 0;
    int threads = td_ops_threads(rc, N * C * inner);
#pragma omp parallel for num_threads(threads) if (threads > 1)
    for (int64_t nc = 0; nc < N * C; nc++) {
        int64_t c = nc % C;
        float a = sc[c] / sqrtf(var[c] + p->epsilon);
        float s = b[c] - mean[c] * a;
        const float *xi = x + nc * inner;
        float *yi = y + nc * inner;
        for (int64_t i = 0; i < inner; i++)
            yi[i] = xi[i] * a + s;
    }
    return TD_OK;
}

static void bn_cost(const td_graph *g, td_node *n)
{
    n->cost.params = td_ops_const_params(g, n);
    n->cost.macs = 0;
    n->cost.flops_other = 2 * td_ops_out_numel(g, n, 0);
}

const td_op_def td_op_batchnorm = {"BatchNormalization", TD_OPC_NORM, 5,      5,       1,   3,
                                   TD_OPF_INPLACE,       bn_prepare,  bn_run, bn_cost, NULL};

const td_op_def *const td_ops_nn[] = {
    &td_op_conv,           &td_op_gemm,      &td_op_matmul,
    &td_op_maxpool,        &td_op_avgpool,   &td_op_global_avgpool,
    &td_op_global_maxpool, &td_op_batchnorm, NULL};
