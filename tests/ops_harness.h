/* Test harness for operator families: builds a td_graph and runs each node's own prepare and
 * run in order (no planner or executor), so operator tests do not depend on the session. */
#ifndef TD_OPS_HARNESS_H
#define TD_OPS_HARNESS_H

#include "graph/op.h"
#include "td_test.h"

/* A graph input with borrowed data (the graph does not free it). */
static inline void oh_input(td_graph *g, const char *name, td_dtype dt, int ndim,
                            const int64_t *shape, void *data)
{
    int idx = -1;
    static const int64_t scalar[1] = {1}; /* graph.c memcpy's the shape even for rank 0 */
    TD_CHECK_OK(td_graph_add_input(g, name, dt, ndim, shape ? shape : scalar, &idx));
    if (idx >= 0)
        g->values[idx].data = data;
}

static inline void oh_const(td_graph *g, const char *name, td_dtype dt, int ndim,
                            const int64_t *shape, void *data)
{
    static const int64_t scalar[1] = {1};
    TD_CHECK_OK(td_graph_add_const(g, name, dt, ndim, shape ? shape : scalar, data, false, NULL));
}

/* Adds a node with one output named out; returns it (NULL on failure). */
static inline td_node *oh_node(td_graph *g, const char *name, const char *op, int nin,
                               const char *const *ins, const char *out)
{
    int idx = -1;
    const char *outs[1] = {out};
    TD_CHECK_OK(td_graph_add_node(g, name, op, nin, ins, 1, outs, &idx));
    return idx >= 0 ? &g->nodes[idx] : NULL;
}

static inline void oh_view(const td_value *v, td_view *out)
{
    memset(out, 0, sizeof *out);
    out->dtype = v->dtype;
    out->ndim = v->ndim;
    memcpy(out->shape, v->shape, sizeof out->shape);
    out->data = v->data;
}

/* Prepares and runs every node; outputs are allocated and owned by the graph. */
static inline td_status oh_exec(td_graph *g, int threads)
{
    td_ctx ctx = td_ctx_default();
    ctx.threads = threads;
    td_op_run rc = {&ctx, NULL, 0, NULL};
    td_status st = TD_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        td_node *n = &g->nodes[i];
        st = n->def->prepare(g, n);
        if (st)
            break;
        td_view in[8], out[4];
        for (int k = 0; k < n->n_inputs; k++) {
            memset(&in[k], 0, sizeof in[k]);
            if (n->inputs[k] >= 0)
                oh_view(&g->values[n->inputs[k]], &in[k]);
        }
        for (int k = 0; k < n->n_outputs && !st; k++) {
            td_value *v = &g->values[n->outputs[k]];
            size_t bytes;
            oh_view(v, &out[k]);
            st = td_view_bytes(&out[k], v->name, &bytes);
            if (!st && !v->data) {
                st = td_alloc(bytes ? bytes : 1, &v->data);
                v->data_owned = true;
            }
            out[k].data = v->data;
        }
        if (!st)
            st = n->def->run(&rc, n, in, out);
        if (!st && n->def->cost)
            n->def->cost(g, n);
    }
    td_op_run_release(&rc);
    return st;
}

static inline td_value *oh_val(td_graph *g, const char *name)
{
    int i = td_graph_find_value(g, name);
    return i >= 0 ? &g->values[i] : NULL;
}

static inline float *oh_f32(td_graph *g, const char *name)
{
    td_value *v = oh_val(g, name);
    return v ? v->data : NULL;
}

#endif
