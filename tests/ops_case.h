/* Harness for operator tests that call one node's prepare and run directly (no planner or
 * executor): constants are copied in, outputs are allocated here and poisoned first. */
#ifndef TD_OPS_CASE_H
#define TD_OPS_CASE_H

#include "graph/op.h"
#include "td_test.h"

#define MAXO 4

typedef struct {
    td_graph *g;
    td_view out[MAXO];
    int n_out;
} case_t;

static void case_begin(case_t *c, int64_t opset)
{
    memset(c, 0, sizeof *c);
    TD_CHECK_OK(td_graph_new("t", &c->g));
    c->g->opset = opset;
}

static void case_end(case_t *c)
{
    for (int i = 0; i < c->n_out; i++)
        td_free(c->out[i].data);
    td_graph_free(c->g);
}

/* A constant input (data copied). */
static void cst(case_t *c, const char *name, td_dtype dt, int nd, const int64_t *shape,
                const void *data)
{
    td_view v = {.dtype = dt, .ndim = nd};
    for (int i = 0; i < nd; i++)
        v.shape[i] = shape[i];
    size_t bytes = (size_t)td_view_numel(&v) * td_dtype_size(dt);
    void *p = NULL;
    TD_CHECK_OK(td_alloc(bytes ? bytes : 1, &p));
    if (bytes)
        memcpy(p, data, bytes);
    TD_CHECK_OK(td_graph_add_const(c->g, name, dt, nd, shape, p, true, NULL));
}

static td_node *node(case_t *c, const char *op, int ni, const char *const *in, int no,
                     const char *const *out)
{
    td_status st = td_graph_add_node(c->g, "n0", op, ni, in, no, out, NULL);
    TD_CHECK(st == NULL, "add %s: %s", op, td_status_message(st));
    td_status_free(st);
    return &c->g->nodes[c->g->n_nodes - 1];
}

/* Prepares and runs the last node; outputs land in c->out. */
static td_status run_last(case_t *c)
{
    td_node *n = &c->g->nodes[c->g->n_nodes - 1];
    TD_TRY(n->def->prepare(c->g, n));
    td_view in[8] = {0};
    for (int i = 0; i < n->n_inputs; i++) {
        td_value *v = td_node_in(c->g, n, i);
        if (!v)
            continue;
        in[i] = (td_view){.dtype = v->dtype, .ndim = v->ndim, .data = v->data};
        memcpy(in[i].shape, v->shape, sizeof in[i].shape);
    }
    c->n_out = n->n_outputs;
    for (int o = 0; o < n->n_outputs; o++) {
        td_value *v = td_node_out(c->g, n, o);
        c->out[o] = (td_view){.dtype = v->dtype, .ndim = v->ndim};
        memcpy(c->out[o].shape, v->shape, sizeof c->out[o].shape);
        size_t bytes;
        TD_TRY(td_view_bytes(&c->out[o], "out", &bytes));
        TD_TRY(td_alloc(bytes ? bytes : 1, &c->out[o].data));
        memset(c->out[o].data, 0xab, bytes);
    }
    td_ctx ctx = td_ctx_default();
    td_op_run rc = {&ctx, NULL, 0, NULL};
    td_status st = n->def->run(&rc, n, in, c->out);
    td_op_run_release(&rc);
    return st;
}

#endif
