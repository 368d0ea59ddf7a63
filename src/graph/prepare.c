/* Graph preparation: BatchNormalization folding, shape inference, constant folding and the
 * per-node cost figures that every later part of Tandem reads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/op.h"

td_status td_op_qgemm(td_op_run *rc, const td_qmatrix *w, td_act_type act, const float *x,
                      int64_t batch, float *y)
{
    if (!rc->act)
        TD_TRY(td_act_new(&rc->act));
    TD_TRY(td_act_prepare_ctx(rc->ctx, rc->act, w, act, x, batch, td_qmatrix_cols(w)));
    return td_gemm_prepared(rc->ctx, w, rc->act, y, td_qmatrix_rows(w));
}

void td_op_run_release(td_op_run *rc)
{
    td_free(rc->scratch);
    td_act_free(rc->act);
    rc->scratch = NULL;
    rc->scratch_bytes = 0;
    rc->act = NULL;
}

td_status td_op_scratch(td_op_run *rc, size_t bytes, void **out)
{
    if (bytes > rc->scratch_bytes) {
        void *p;
        TD_TRY(td_alloc(bytes, &p));
        td_free(rc->scratch);
        rc->scratch = p;
        rc->scratch_bytes = bytes;
    }
    *out = rc->scratch;
    return TD_OK;
}

static bool is_op(const td_node *n, const char *name)
{
    return n->def && strcmp(n->def->name, name) == 0;
}

static int count_uses(const td_graph *g, int value)
{
    int uses = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            uses += g->nodes[i].inputs[k] == value;
    return uses;
}

static const float *const_f32(const td_graph *g, const td_node *n, int input, int64_t len)
{
    if (input >= n->n_inputs || n->inputs[input] < 0)
        return NULL;
    const td_value *v = &g->values[n->inputs[input]];
    if (v->kind != TD_VALUE_CONST || v->dtype != TD_DT_F32 || !v->data)
        return NULL;
    if (len >= 0 && td_shape_numel(v->ndim, v->shape) != len)
        return NULL;
    return v->data;
}

/* A unique name derived from base, for values that folding creates. */
static td_status fresh_name(const td_graph *g, const char *base, const char *suffix, char *buf,
                            size_t len)
{
    for (int k = 0; k < 1000; k++) {
        if (k == 0)
            snprintf(buf, len, "%s%s", base, suffix);
        else
            snprintf(buf, len, "%s%s_%d", base, suffix, k);
        if (td_graph_find_value(g, buf) < 0)
            return TD_OK;
    }
    return td_error_new(TD_CODE_INTERNAL, "no free name for '%s%s'", base, suffix);
}

/* Replaces Conv -> BatchNormalization by one Conv with scaled weights and a new bias:
 * w' = w * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps), per output channel. */
static td_status fold_bn_into_conv(td_graph *g, td_node *conv, td_node *bn)
{
    const td_value *wv = &g->values[conv->inputs[1]];
    int64_t cout = wv->shape[0];
    int64_t per = td_shape_numel(wv->ndim, wv->shape) / (cout ? cout : 1);
    const float *w = wv->data;
    const float *b = const_f32(g, conv, 2, cout);
    const float *gamma = const_f32(g, bn, 1, cout), *beta = const_f32(g, bn, 2, cout);
    const float *mean = const_f32(g, bn, 3, cout), *var = const_f32(g, bn, 4, cout);
    float eps;
    TD_TRY(td_attr_float(bn, "epsilon", 1e-5f, &eps));
    float *nw, *nb;
    TD_TRY(td_alloc((size_t)(cout * per) * sizeof(float), (void **)&nw));
    td_status st = td_alloc((size_t)cout * sizeof(float), (void **)&nb);
    if (st) {
        td_free(nw);
        return st;
    }
    for (int64_t c = 0; c < cout; c++) {
        double s = gamma[c] / sqrt((double)var[c] + eps);
        for (int64_t k = 0; k < per; k++)
            nw[c * per + k] = (float)(w[c * per + k] * s);
        nb[c] = (float)(((b ? b[c] : 0.0) - mean[c]) * s + beta[c]);
    }
    char name[300];
    int wi, bi;
    int64_t wshape[TD_MAX_DIMS];
    int wndim = wv->ndim;
    memcpy(wshape, wv->shape, sizeof wshape);
    st = fresh_name(g, conv->name, "_bnfold_w", name, sizeof name);
    if (!st)
        st = td_graph_add_const(g, name, TD_DT_F32, wndim, wshape, nw, true, &wi);
    if (st) {
        td_free(nw);
        td_free(nb);
        return st;
    }
    st = fresh_name(g, conv->name, "_bnfold_b", name, sizeof name);
    if (!st)
        st = td_graph_add_const(g, name, TD_DT_F32, 1, &cout, nb, true, &bi);
    if (st) {
        td_free(nb);
        return st;
    }
    if (conv->n_inputs < 3) {
        int *p = realloc(conv->inputs, 3 * sizeof(int));
        if (!p)
            return td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
        conv->inputs = p;
        conv->n_inputs = 3;
    }
    conv->inputs[1] = wi;
    conv->inputs[2] = bi;
    /* The conv now produces the BN's output; its old output value is left unused. */
    conv->outputs[0] = bn->outputs[0];
    return TD_OK;
}

static bool bn_foldable(const td_graph *g, const td_node *bn, int *conv_index)
{
    if (!is_op(bn, "BatchNormalization") || bn->n_outputs != 1 || bn->n_inputs != 5)
        return false;
    const td_attr *tm = td_node_attr(bn, "training_mode");
    if (tm && (tm->type != TD_ATTR_INT || tm->i != 0))
        return false;
    int x = bn->inputs[0];
    if (x < 0 || g->values[x].producer < 0 || g->values[x].is_output || count_uses(g, x) != 1)
        return false;
    const td_node *conv = &g->nodes[g->values[x].producer];
    if (!is_op(conv, "Conv") || conv->n_outputs != 1 || conv->n_inputs < 2 || conv->qweight)
        return false;
    /* const_f32 first: it rejects an omitted weight (index -1) before values[] is indexed. */
    if (!const_f32(g, conv, 1, -1))
        return false;
    const td_value *wv = &g->values[conv->inputs[1]];
    if (wv->ndim < 3)
        return false;
    int64_t cout = wv->shape[0];
    if (conv->n_inputs > 2 && conv->inputs[2] >= 0 && !const_f32(g, conv, 2, cout))
        return false;
    for (int k = 1; k < 5; k++)
        if (!const_f32(g, bn, k, cout))
            return false;
    *conv_index = g->values[x].producer;
    return true;
}

/* Removes the nodes flagged in `dead`, keeping order, and renumbers producers. */
static void remove_nodes(td_graph *g, const bool *dead)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (dead[i]) {
            td_node *n = &g->nodes[i];
            free(n->name);
            free(n->op_type);
            free(n->inputs);
            free(n->outputs);
            for (int a = 0; a < n->n_attrs; a++) {
                free(n->attrs[a].name);
                free(n->attrs[a].s);
                free(n->attrs[a].ints);
                free(n->attrs[a].floats);
                free(n->attrs[a].tensor.data);
            }
            free(n->attrs);
            if (n->params)
                n->def->free_params ? n->def->free_params(n->params) : free(n->params);
            td_qmatrix_free(n->qweight);
            continue;
        }
        g->nodes[k++] = g->nodes[i];
    }
    g->n_nodes = k;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == TD_VALUE_INTERMEDIATE)
            g->values[v].producer = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int o = 0; o < g->nodes[i].n_outputs; o++)
            g->values[g->nodes[i].outputs[o]].producer = i;
}

static td_status fold_batchnorms(td_graph *g)
{
    bool *dead = calloc((size_t)g->n_nodes + 1, sizeof *dead);
    if (!dead)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
    int folded = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        int c;
        if (!bn_foldable(g, &g->nodes[i], &c))
            continue;
        td_status st = fold_bn_into_conv(g, &g->nodes[c], &g->nodes[i]);
        if (st) {
            free(dead);
            return st;
        }
        dead[i] = true;
        folded++;
    }
    if (folded)
        remove_nodes(g, dead);
    free(dead);
    return TD_OK;
}

static td_status check_inputs_known(const td_graph *g)
{
    for (int i = 0; i < g->n_inputs; i++) {
        const td_value *v = &g->values[g->inputs[i]];
        for (int d = 0; d < v->ndim; d++)
            if (v->shape[d] < 0)
                return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                    "input '%s': dimension %d is not fixed; give its shape "
                                    "(e.g. --shape %s=...) before running",
                                    v->name, d, v->name);
    }
    return TD_OK;
}

static void view_of(const td_value *v, td_view *out)
{
    out->dtype = v->dtype;
    out->ndim = v->ndim;
    memcpy(out->shape, v->shape, sizeof out->shape);
    out->data = v->data;
}

/* Runs a node whose inputs are all known now and turns its outputs into constants. */
static td_status fold_node(td_graph *g, td_node *n, td_op_run *rc)
{
    td_view in[16], out[16];
    if (n->n_inputs > 16 || n->n_outputs > 16)
        return TD_OK; /* not worth folding; run it normally */
    for (int i = 0; i < n->n_inputs; i++) {
        memset(&in[i], 0, sizeof in[i]);
        if (n->inputs[i] >= 0)
            view_of(&g->values[n->inputs[i]], &in[i]);
    }
    for (int o = 0; o < n->n_outputs; o++) {
        td_value *v = &g->values[n->outputs[o]];
        view_of(v, &out[o]);
        size_t bytes;
        TD_TRY(td_view_bytes(&out[o], v->name, &bytes));
        TD_TRY(td_alloc(bytes ? bytes : 1, &v->data));
        v->data_owned = true;
        out[o].data = v->data;
    }
    TD_TRY(n->def->run(rc, n, in, out));
    for (int o = 0; o < n->n_outputs; o++) {
        td_value *v = &g->values[n->outputs[o]];
        v->kind = TD_VALUE_CONST;
        v->producer = -1;
    }
    return TD_OK;
}

static bool all_inputs_const(const td_graph *g, const td_node *n)
{
    for (int i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] >= 0 && g->values[n->inputs[i]].kind != TD_VALUE_CONST)
            return false;
    return true;
}

static td_status infer_node(td_graph *g, td_node *n, td_op_run *rc, bool *folded)
{
    for (int i = 0; i < n->n_inputs; i++) {
        const td_value *v = td_node_in(g, n, i);
        if (v && v->ndim < 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "input '%s' has no known shape (is it produced later?)", v->name);
    }
    if (n->params) {
        n->def->free_params ? n->def->free_params(n->params) : free(n->params);
        n->params = NULL;
    }
    TD_TRY(n->def->prepare(g, n));
    for (int o = 0; o < n->n_outputs; o++) {
        const td_value *v = td_node_out(g, n, o);
        if (v->ndim < 0 || td_dtype_size(v->dtype) == 0)
            return td_node_error(n, TD_CODE_INTERNAL, "output '%s' got no shape", v->name);
        if (td_shape_numel(v->ndim, v->shape) < 0)
            return td_node_error(n, TD_CODE_OVERFLOW, "output '%s' is too large", v->name);
    }
    *folded = false;
    if (all_inputs_const(g, n) && !n->qweight) {
        TD_TRY(fold_node(g, n, rc));
        *folded = true;
    }
    return TD_OK;
}

static td_status infer_all(td_graph *g)
{
    bool *dead = calloc((size_t)g->n_nodes + 1, sizeof *dead);
    if (!dead)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
    td_ctx ctx = td_ctx_default();
    td_op_run rc = {.ctx = &ctx};
    td_status st = TD_OK;
    int nfolded = 0;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        st = infer_node(g, &g->nodes[i], &rc, &dead[i]);
        nfolded += dead[i];
    }
    td_op_run_release(&rc);
    if (!st && nfolded)
        remove_nodes(g, dead);
    free(dead);
    return st;
}

static void cost_node(const td_graph *g, td_node *n)
{
    memset(&n->cost, 0, sizeof n->cost);
    for (int i = 0; i < n->n_inputs; i++) {
        const td_value *v = n->inputs[i] >= 0 ? &g->values[n->inputs[i]] : NULL;
        if (!v)
            continue;
        if (v->kind == TD_VALUE_CONST)
            n->cost.weight_bytes +=
                (i == 1 && n->qweight) ? (int64_t)td_qmatrix_bytes(n->qweight) : td_value_bytes(v);
        else
            n->cost.in_bytes += td_value_bytes(v);
    }
    for (int o = 0; o < n->n_outputs; o++)
        n->cost.out_bytes += td_value_bytes(&g->values[n->outputs[o]]);
    if (n->def->cost)
        n->def->cost(g, n);
}

td_status td_graph_update_costs(td_graph *g)
{
    if (!g->prepared)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "graph '%s' is not prepared", g->name);
    for (int i = 0; i < g->n_nodes; i++)
        cost_node(g, &g->nodes[i]);
    return TD_OK;
}

td_status td_graph_prepare(td_graph *g)
{
    if (g->prepared)
        return td_graph_update_costs(g);
    if (g->n_outputs == 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "graph '%s' has no outputs", g->name);
    TD_TRY(check_inputs_known(g));
    TD_TRY(fold_batchnorms(g));
    TD_TRY(infer_all(g));
    g->prepared = true;
    return td_graph_update_costs(g);
}

td_status td_graph_set_input_shape(td_graph *g, const char *name, int ndim, const int64_t *shape)
{
    int idx = td_graph_find_value(g, name);
    if (idx < 0 || g->values[idx].kind != TD_VALUE_INPUT)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "graph '%s' has no input '%s'", g->name,
                            name);
    td_value *v = &g->values[idx];
    if (ndim < 0 || ndim > TD_MAX_DIMS || (v->ndim >= 0 && ndim != v->ndim))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "input '%s': rank %d, the model says %d",
                            name, ndim, v->ndim);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "input '%s': dimension %d is %lld", name,
                                d, (long long)shape[d]);
        if (v->ndim >= 0 && v->shape[d] >= 0 && v->shape[d] != shape[d])
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "input '%s': dimension %d is fixed at %lld by the model, not %lld",
                                name, d, (long long)v->shape[d], (long long)shape[d]);
    }
    v->ndim = ndim;
    if (ndim > 0) /* shape may be NULL for rank 0; memcpy from NULL is undefined */
        memcpy(v->shape, shape, (size_t)ndim * sizeof *shape);
    g->prepared = false;
    return TD_OK;
}

td_status td_graph_set_input_data(td_graph *g, const char *name, const td_view *data)
{
    TD_TRY(td_graph_set_input_shape(g, name, data->ndim, data->shape));
    td_value *v = &g->values[td_graph_find_value(g, name)];
    if (data->dtype != v->dtype)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "input '%s': given %s, the model says %s",
                            name, td_dtype_name(data->dtype), td_dtype_name(v->dtype));
    size_t bytes;
    TD_TRY(td_view_bytes(data, name, &bytes));
    void *p;
    TD_TRY(td_alloc(bytes ? bytes : 1, &p));
    if (bytes) /* an empty tensor may have data == NULL */
        memcpy(p, data->data, bytes);
    if (v->data_owned)
        td_free(v->data);
    v->data = p;
    v->data_owned = true;
    v->kind = TD_VALUE_CONST;
    return TD_OK;
}
