/* The executor: runs a prepared graph node by node over one planned arena. */
#include <stdlib.h>
#include <string.h>

#include "graph/op.h"

struct td_session {
    td_graph *g;
    td_ctx ctx;
    td_mem_plan plan;
    unsigned char *arena;
    td_op_run rc;
    td_node_observer observer;
    void *observer_user;
    td_view in[32], out[32];
};

static void *value_data(const td_session *s, int v)
{
    const td_value *val = &s->g->values[v];
    if (val->kind == TD_VALUE_CONST)
        return val->data;
    if (s->plan.offset[v] < 0)
        return NULL;
    return s->arena + s->plan.offset[v];
}

static void fill_view(const td_session *s, int v, td_view *out)
{
    memset(out, 0, sizeof *out);
    if (v < 0)
        return;
    const td_value *val = &s->g->values[v];
    out->dtype = val->dtype;
    out->ndim = val->ndim;
    memcpy(out->shape, val->shape, sizeof out->shape);
    out->data = value_data(s, v);
}

td_status td_session_new(td_graph *g, const td_ctx *ctx, td_session **out)
{
    TD_TRY(td_graph_prepare(g));
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].n_inputs > 32 || g->nodes[i].n_outputs > 32)
            return td_node_error(&g->nodes[i], TD_CODE_UNSUPPORTED,
                                 "more than 32 inputs or outputs");
    td_session *s = calloc(1, sizeof *s);
    if (!s)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "session: out of memory");
    s->g = g;
    s->ctx = ctx ? *ctx : td_ctx_default();
    s->rc.ctx = &s->ctx;
    td_status st = td_mem_plan_build(g, &s->plan);
    if (!st)
        st = td_alloc((size_t)(s->plan.arena_bytes ? s->plan.arena_bytes : 1), (void **)&s->arena);
    if (st) {
        td_session_free(s);
        return st;
    }
    *out = s;
    return TD_OK;
}

void td_session_free(td_session *s)
{
    if (!s)
        return;
    td_mem_plan_free(&s->plan);
    td_free(s->arena);
    td_op_run_release(&s->rc);
    free(s);
}

static td_status same_shape(const td_value *v, const td_view *in)
{
    if (in->dtype != v->dtype)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "input '%s': given %s, the model wants %s",
                            v->name, td_dtype_name(in->dtype), td_dtype_name(v->dtype));
    bool same = in->ndim == v->ndim;
    for (int d = 0; same && d < v->ndim; d++)
        same = in->shape[d] == v->shape[d];
    if (!same)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "input '%s': shape differs from the one the graph was prepared for",
                            v->name);
    return TD_OK;
}

td_status td_session_set_input(td_session *s, const char *name, const td_view *in)
{
    int idx = td_graph_find_value(s->g, name);
    bool is_input = false;
    for (int i = 0; i < s->g->n_inputs && idx >= 0; i++)
        is_input |= s->g->inputs[i] == idx;
    if (!is_input)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "graph '%s' has no input '%s'", s->g->name,
                            name);
    const td_value *v = &s->g->values[idx];
    TD_TRY(same_shape(v, in));
    size_t bytes;
    td_view tmp;
    fill_view(s, idx, &tmp);
    TD_TRY(td_view_bytes(&tmp, name, &bytes));
    if (v->kind == TD_VALUE_CONST) {
        /* Fixed at prepare (it carried a shape): only the same data is accepted. */
        if (bytes && memcmp(v->data, in->data, bytes) != 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "input '%s' was fixed when the graph was prepared; its data "
                                "cannot change between runs",
                                name);
        return TD_OK;
    }
    if (bytes)
        memcpy(tmp.data, in->data, bytes);
    return TD_OK;
}

static td_status run_node(td_session *s, int i)
{
    const td_node *n = &s->g->nodes[i];
    for (int k = 0; k < n->n_inputs; k++)
        fill_view(s, n->inputs[k], &s->in[k]);
    for (int k = 0; k < n->n_outputs; k++)
        fill_view(s, n->outputs[k], &s->out[k]);
    /* A view op whose output shares its input's storage has nothing to do. */
    bool shared = (n->def->flags & TD_OPF_VIEW) && n->n_inputs > 0 && n->inputs[0] >= 0 &&
                  s->in[0].data == s->out[0].data;
    if (!shared)
        TD_TRY(n->def->run(&s->rc, n, s->in, s->out));
    if (s->observer)
        TD_TRY(s->observer(s->observer_user, s->g, i, s->out));
    return TD_OK;
}

td_status td_session_run(td_session *s)
{
    for (int i = 0; i < s->g->n_nodes; i++)
        TD_TRY(run_node(s, i));
    return TD_OK;
}

td_status td_session_get(const td_session *s, const char *name, td_view *out)
{
    int idx = td_graph_find_value(s->g, name);
    if (idx < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "graph '%s' has no value '%s'", s->g->name,
                            name);
    const td_value *v = &s->g->values[idx];
    bool ok = v->is_output || v->kind == TD_VALUE_INPUT;
    for (int i = 0; i < s->g->n_inputs; i++)
        ok |= s->g->inputs[i] == idx;
    if (!ok)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "value '%s' is neither an input nor an output of graph '%s' (its "
                            "storage is reused)",
                            name, s->g->name);
    fill_view(s, idx, out);
    return TD_OK;
}

void td_session_set_observer(td_session *s, td_node_observer fn, void *user)
{
    s->observer = fn;
    s->observer_user = user;
}
