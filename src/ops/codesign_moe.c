/* TandemMoE: a mixture-of-experts layer as one graph node (include/tandem/moe.h).
 *
 * Inputs (weights in td_qmatrix orientation, rows = output features):
 *   0 X            [..., d_model] f32 (every leading dimension is a token)
 *   1 router       [d_model, experts] constant f32: logits = X router
 *   2 w_up         [experts, d_ff, d_model] constant
 *   3 w_down       [experts, d_model, d_ff] constant
 *   4 w_gate       [experts, d_ff, d_model] constant, optional (required by swiglu)
 *   5 b_up         [experts, d_ff], optional (with b_down)
 *   6 b_down       [experts, d_model], optional
 *   7 router_bias  [experts], optional
 * Output: Y, X's shape.
 * Attributes: k (1), capacity_factor (absent: no limit; present: > 0), activation ("gelu",
 * "silu", "swiglu"), gating ("topk_softmax", "softmax_topk"), normalize (0/1, softmax_topk),
 * overflow ("drop", "reroute"), order ("expert_major", "token_major"), weight_format (a
 * td_qspec text, "f32" by default: the experts are compressed once at prepare), act ("f32",
 * "a8", "a6"), task (-1: all experts), task_mask (ints, tasks x experts, 0/1).
 * Class TD_OPC_GEMM: its MACs are products with constant weights; the estimator sees it as one
 * GEMM of tokens x d_model outputs whose reduction length is MACs / outputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/moe/moe_internal.h"
#include "ops/ops_common.h"

typedef struct moe_params {
    td_moe *moe;
    td_moe_route_opts opts;
    td_moe_order order;
    int64_t tokens, d, d_ff;
    int experts;
    bool swiglu, biases;
} moe_params;

static void moe_free_params(void *params)
{
    moe_params *p = params;
    if (p)
        td_moe_free(p->moe);
    free(p);
}

/* A string attribute matched against `names` (index in *out), or `def` when absent. */
static td_status attr_choice(const td_node *n, const char *name, const char *const *names,
                             int count, int def, int *out)
{
    const td_attr *a = td_node_attr(n, name);
    *out = def;
    if (!a)
        return TD_OK;
    if (a->type != TD_ATTR_STRING || !a->s)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute '%s' must be a string", name);
    for (int i = 0; i < count; i++)
        if (!strcmp(a->s, names[i])) {
            *out = i;
            return TD_OK;
        }
    return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute '%s': unknown value '%s'", name,
                         a->s);
}

static td_status attr_string(const td_node *n, const char *name, const char *def, const char **out)
{
    const td_attr *a = td_node_attr(n, name);
    *out = def;
    if (!a)
        return TD_OK;
    if (a->type != TD_ATTR_STRING || !a->s)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute '%s' must be a string", name);
    *out = a->s;
    return TD_OK;
}

static td_status parse_route(const td_node *n, moe_params *p)
{
    static const char *const gatings[] = {"topk_softmax", "softmax_topk"};
    static const char *const overflows[] = {"drop", "reroute"};
    static const char *const orders[] = {"expert_major", "token_major"};
    int64_t k, norm, task;
    int gating, overflow, order;
    TD_TRY(td_attr_int(n, "k", 1, &k));
    TD_TRY(td_attr_int(n, "normalize", 0, &norm));
    TD_TRY(td_attr_int(n, "task", -1, &task));
    TD_TRY(attr_choice(n, "gating", gatings, 2, 0, &gating));
    TD_TRY(attr_choice(n, "overflow", overflows, 2, 0, &overflow));
    TD_TRY(attr_choice(n, "order", orders, 2, 0, &order));
    if (k < 1 || k > p->experts)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "k = %lld, need 1 <= k <= %d experts",
                             (long long)k, p->experts);
    if (task < -1 || task > 1 << 20)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "task %lld out of range",
                             (long long)task);
    p->opts = td_moe_route_defaults((int)k);
    p->opts.gating = (td_moe_gating)gating;
    p->opts.renormalize = norm != 0;
    p->opts.overflow = (td_moe_overflow)overflow;
    p->opts.task = (int)task;
    p->order = (td_moe_order)order;
    if (td_node_attr(n, "capacity_factor")) {
        float cf;
        TD_TRY(td_attr_float(n, "capacity_factor", 0.0f, &cf));
        if (!(cf > 0))
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "capacity_factor %g must be > 0 (omit it for no limit)",
                                 (double)cf);
        p->opts.capacity_factor = cf;
    }
    return TD_OK;
}

/* Input i must be a constant f32 of exactly this shape (or absent when optional). */
static td_status want_const(td_graph *g, const td_node *n, int i, int ndim, const int64_t *shape,
                            bool optional, const float **data)
{
    static const char *const names[] = {"X",      "router", "w_up",   "w_down",
                                        "w_gate", "b_up",   "b_down", "router_bias"};
    const td_value *v = td_node_in(g, n, i);
    *data = NULL;
    if (!v) {
        if (optional)
            return TD_OK;
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d (%s) is required", i, names[i]);
    }
    TD_TRY(td_ops_require_f32(g, n, i));
    if (v->kind != TD_VALUE_CONST || !v->data)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d (%s, '%s') must be a constant",
                             i, names[i], v->name);
    bool ok = v->ndim == ndim;
    for (int j = 0; ok && j < ndim; j++)
        ok = v->shape[j] == shape[j];
    if (!ok)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "input %d (%s, '%s') has the wrong shape (expected rank %d, dims "
                             "%lld %lld %lld)",
                             i, names[i], v->name, ndim, (long long)shape[0],
                             (long long)(ndim > 1 ? shape[1] : 0),
                             (long long)(ndim > 2 ? shape[2] : 0));
    *data = v->data;
    return TD_OK;
}

static td_status read_shapes(td_graph *g, const td_node *n, moe_params *p)
{
    TD_TRY(td_ops_require_f32(g, n, 0));
    TD_TRY(td_ops_require_f32(g, n, 1));
    TD_TRY(td_ops_require_f32(g, n, 2));
    const td_value *x = td_node_in(g, n, 0), *r = td_node_in(g, n, 1), *u = td_node_in(g, n, 2);
    if (x->ndim < 2 || r->ndim != 2 || u->ndim != 3)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "need X of rank >= 2, router [d_model, experts] and w_up [experts, "
                             "d_ff, d_model] (got ranks %d, %d, %d)",
                             x->ndim, r->ndim, u->ndim);
    p->d = x->shape[x->ndim - 1];
    p->experts = r->shape[1] > 0 && r->shape[1] <= 65536 ? (int)r->shape[1] : 0;
    p->d_ff = u->shape[1];
    p->tokens = p->d > 0 ? td_shape_numel(x->ndim, x->shape) / p->d : 0;
    if (p->d < 1 || p->experts < 1 || p->d_ff < 1 || r->shape[0] != p->d)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "router is [%lld, %lld] for d_model %lld: need [d_model, 1..65536]",
                             (long long)r->shape[0], (long long)r->shape[1], (long long)p->d);
    if (p->tokens < 1)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "X has no tokens");
    return TD_OK;
}

static td_status read_tasks(const td_node *n, int experts, td_moe_config *cfg, uint8_t **mask)
{
    const td_attr *a = td_node_attr(n, "task_mask");
    *mask = NULL;
    if (!a)
        return TD_OK;
    if (a->type != TD_ATTR_INTS || a->n < 1 || a->n % experts)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "attribute 'task_mask' must be ints, tasks x %d experts", experts);
    *mask = malloc((size_t)a->n);
    if (!*mask)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < a->n; i++) {
        if (a->ints[i] != 0 && a->ints[i] != 1) {
            free(*mask);
            *mask = NULL;
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "attribute 'task_mask' holds %lld; use 0 or 1",
                                 (long long)a->ints[i]);
        }
        (*mask)[i] = (uint8_t)a->ints[i];
    }
    cfg->n_tasks = a->n / experts;
    cfg->task_mask = *mask;
    return TD_OK;
}

static td_status read_format(const td_node *n, td_qspec *spec, td_act_type *act)
{
    const char *fmt, *an;
    TD_TRY(attr_string(n, "weight_format", "f32", &fmt));
    TD_TRY(attr_string(n, "act", "f32", &an));
    TD_TRY(td_node_wrap(n, td_qspec_parse(fmt, spec)));
    return td_node_wrap(n, td_act_parse(an, act));
}

static td_status build(td_graph *g, const td_node *n, moe_params *p)
{
    td_moe_config cfg = {.d_model = p->d, .d_ff = p->d_ff, .experts = p->experts};
    static const char *const acts[] = {"gelu", "silu", "swiglu"};
    int a;
    TD_TRY(attr_choice(n, "activation", acts, 3, 0, &a));
    cfg.activation = (td_moe_activation)a;
    p->swiglu = cfg.activation == TD_MOE_SWIGLU;
    int64_t E = p->experts, d = p->d, f = p->d_ff;
    td_moe_weights w;
    memset(&w, 0, sizeof w);
    TD_TRY(want_const(g, n, 1, 2, (int64_t[]){d, E}, false, &w.router));
    TD_TRY(want_const(g, n, 2, 3, (int64_t[]){E, f, d}, false, &w.w_up));
    TD_TRY(want_const(g, n, 3, 3, (int64_t[]){E, d, f}, false, &w.w_down));
    TD_TRY(want_const(g, n, 4, 3, (int64_t[]){E, f, d}, !p->swiglu, &w.w_gate));
    TD_TRY(want_const(g, n, 5, 2, (int64_t[]){E, f}, true, &w.b_up));
    TD_TRY(want_const(g, n, 6, 2, (int64_t[]){E, d}, true, &w.b_down));
    TD_TRY(want_const(g, n, 7, 1, (int64_t[]){E}, true, &w.router_bias));
    if (w.w_gate && !p->swiglu)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "w_gate is given but activation is %s",
                             td_moe_activation_name(cfg.activation));
    p->biases = w.b_up != NULL;
    td_qspec spec;
    td_act_type act;
    TD_TRY(read_format(n, &spec, &act));
    uint8_t *mask;
    TD_TRY(read_tasks(n, p->experts, &cfg, &mask));
    td_status st = td_moe_new(&cfg, &w, &spec, act, &p->moe);
    const uint8_t *allowed;
    if (!st) /* k against the task's experts, task in range */
        st = td_moe_check_opts(td_moe_get_config(p->moe), &p->opts, &allowed);
    free(mask);
    return td_node_wrap(n, st);
}

static td_status moe_prepare(td_graph *g, td_node *n)
{
    moe_params *p = calloc(1, sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    td_status st = read_shapes(g, n, p);
    if (!st)
        st = parse_route(n, p);
    if (!st)
        st = build(g, n, p);
    if (st) {
        moe_free_params(p);
        return st;
    }
    td_ops_set_params(n, p);
    const td_value *x = td_node_in(g, n, 0);
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, x->ndim, x->shape);
    return TD_OK;
}

static td_status moe_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const moe_params *p = n->params;
    if (!p || !p->moe)
        return td_node_error(n, TD_CODE_INTERNAL, "run before prepare");
    return td_node_wrap(n, td_moe_forward(rc->ctx, p->moe, in[0].data, p->tokens, &p->opts,
                                          p->order, out[0].data, NULL));
}

static void moe_cost(const td_graph *g, td_node *n)
{
    const moe_params *p = n->params;
    n->cost.params = td_ops_const_params(g, n);
    if (!p)
        return;
    int64_t T = p->tokens, k = p->opts.k, d = p->d, f = p->d_ff, E = p->experts;
    int64_t mats = p->swiglu ? 3 : 2;
    n->cost.macs = T * k * mats * d * f + T * d * E;
    /* softmax over the experts, the activation (and gating product), the weighted combine */
    n->cost.flops_other = T * E + T * k * f * (p->swiglu ? 2 : 1) + T * k * 2 * d;
    /* the experts as the kernels hold them (compressed), the router and its bias in f32 */
    int64_t bytes = d * E * (int64_t)sizeof(float);
    if (td_node_in((td_graph *)g, n, 7))
        bytes += E * (int64_t)sizeof(float);
    for (int e = 0; e < p->experts; e++)
        bytes += (int64_t)td_moe_expert_bytes(p->moe, e);
    n->cost.weight_bytes = bytes;
}

const td_op_def td_op_tandem_moe = {
    "TandemMoE", TD_OPC_GEMM, 4, 8, 1, 1, 0, moe_prepare, moe_run, moe_cost, moe_free_params};
