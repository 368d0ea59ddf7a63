/* Graph construction and ownership: values, nodes, attributes. */
#include <stdlib.h>
#include <string.h>

#include "graph/op.h"

typedef struct dtype_info {
    const char *name;
    size_t size;
} dtype_info;

/* Indexed by td_dtype. */
static const dtype_info dtype_table[TD_DT_COUNT] = {
    [TD_DT_UNDEFINED] = {"undefined", 0},
    [TD_DT_F32] = {"float32", 4},
    [TD_DT_F64] = {"float64", 8},
    [TD_DT_F16] = {"float16", 2},
    [TD_DT_BF16] = {"bfloat16", 2},
    [TD_DT_I64] = {"int64", 8},
    [TD_DT_I32] = {"int32", 4},
    [TD_DT_I16] = {"int16", 2},
    [TD_DT_I8] = {"int8", 1},
    [TD_DT_U8] = {"uint8", 1},
    [TD_DT_BOOL] = {"bool", 1},
};

const char *td_dtype_name(td_dtype dt)
{
    return (dt >= 0 && dt < TD_DT_COUNT) ? dtype_table[dt].name : "invalid";
}

size_t td_dtype_size(td_dtype dt)
{
    return (dt >= 0 && dt < TD_DT_COUNT) ? dtype_table[dt].size : 0;
}

int64_t td_view_numel(const td_view *v)
{
    return td_shape_numel(v->ndim, v->shape);
}

td_status td_view_bytes(const td_view *v, const char *what, size_t *out)
{
    int64_t n = td_view_numel(v);
    size_t es = td_dtype_size(v->dtype);
    if (n < 0 || es == 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: invalid shape or dtype", what);
    td_status st = td_size_mul((size_t)n, es, out);
    if (st) {
        td_status_free(st);
        return td_error_new(TD_CODE_OVERFLOW, "%s: byte size overflows", what);
    }
    return TD_OK;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

td_status td_graph_new(const char *name, td_graph **out)
{
    td_graph *g = calloc(1, sizeof *g);
    if (!g)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
    g->name = dup_str(name ? name : "graph");
    if (!g->name) {
        free(g);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
    }
    *out = g;
    return TD_OK;
}

static void free_attr(td_attr *a)
{
    free(a->name);
    free(a->s);
    free(a->ints);
    free(a->floats);
    free(a->tensor.data);
}

static void free_node(td_node *n)
{
    free(n->name);
    free(n->op_type);
    free(n->inputs);
    free(n->outputs);
    for (int i = 0; i < n->n_attrs; i++)
        free_attr(&n->attrs[i]);
    free(n->attrs);
    if (n->params) {
        if (n->def && n->def->free_params)
            n->def->free_params(n->params);
        else
            free(n->params);
    }
    td_qmatrix_free(n->qweight);
}

void td_graph_free(td_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        if (g->values[i].data_owned)
            td_free(g->values[i].data);
    }
    for (int i = 0; i < g->n_nodes; i++)
        free_node(&g->nodes[i]);
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->name);
    if (g->mapping_free)
        g->mapping_free(g->mapping);
    free(g);
}

int td_graph_find_value(const td_graph *g, const char *name)
{
    /* Linear: graphs have at most a few thousand values and lookups happen at load only. */
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i].name, name) == 0)
            return i;
    return -1;
}

static td_status grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return TD_OK;
    if (need > (1 << 24))
        return td_error_new(TD_CODE_OVERFLOW, "graph: more than %d entries", 1 << 24);
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
    *arr = p;
    *cap = nc;
    return TD_OK;
}

static td_status check_shape(const char *name, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > TD_MAX_DIMS)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "tensor '%s': rank %d outside 0..%d", name,
                            ndim, TD_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < -1)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "tensor '%s': dimension %d is %lld", name,
                                i, (long long)shape[i]);
    return TD_OK;
}

static td_status add_value(td_graph *g, const char *name, td_value_kind kind, int *index)
{
    if (!name || !*name)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "graph '%s': empty tensor name", g->name);
    if (td_graph_find_value(g, name) >= 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "graph '%s': tensor '%s' defined twice",
                            g->name, name);
    TD_TRY(grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(td_value)));
    td_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = dup_str(name);
    if (!v->name)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
    v->kind = kind;
    v->ndim = -1;
    v->producer = -1;
    *index = g->n_values++;
    return TD_OK;
}

static td_status push_index(int **arr, int *n, int v)
{
    int *p = realloc(*arr, (size_t)(*n + 1) * sizeof(int));
    if (!p)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
    p[*n] = v;
    *arr = p;
    (*n)++;
    return TD_OK;
}

td_status td_graph_add_input(td_graph *g, const char *name, td_dtype dt, int ndim,
                             const int64_t *shape, int *index)
{
    TD_TRY(check_shape(name ? name : "", ndim, shape));
    if (td_dtype_size(dt) == 0)
        return td_error_new(TD_CODE_UNSUPPORTED, "input '%s': unsupported element type", name);
    int idx;
    TD_TRY(add_value(g, name, TD_VALUE_INPUT, &idx));
    td_value_set_shape(&g->values[idx], dt, ndim, shape);
    /* A rank-0 input may come with shape == NULL; memcpy from NULL is undefined even for 0. */
    if (ndim > 0)
        memcpy(g->values[idx].decl_shape, shape, (size_t)ndim * sizeof *shape);
    TD_TRY(push_index(&g->inputs, &g->n_inputs, idx));
    if (index)
        *index = idx;
    return TD_OK;
}

td_status td_graph_add_const(td_graph *g, const char *name, td_dtype dt, int ndim,
                             const int64_t *shape, void *data, bool take_ownership, int *index)
{
    TD_TRY(check_shape(name ? name : "", ndim, shape));
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "constant '%s': unknown dimension %d",
                                name, i);
    if (td_dtype_size(dt) == 0)
        return td_error_new(TD_CODE_UNSUPPORTED, "constant '%s': unsupported element type", name);
    if (!data)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "constant '%s': no data", name);
    int idx;
    TD_TRY(add_value(g, name, TD_VALUE_CONST, &idx));
    td_value *v = &g->values[idx];
    td_value_set_shape(v, dt, ndim, shape);
    v->data = data;
    v->data_owned = take_ownership;
    if (index)
        *index = idx;
    return TD_OK;
}

static td_status node_value_ref(td_graph *g, const char *node, const char *name, int *out)
{
    if (!name || !*name) {
        *out = -1;
        return TD_OK;
    }
    int idx = td_graph_find_value(g, name);
    if (idx < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "node '%s': input '%s' is not defined by an earlier node, an input "
                            "or an initializer",
                            node, name);
    *out = idx;
    return TD_OK;
}

static td_status fill_node(td_graph *g, td_node *n, int ni, const char *const *inputs, int no,
                           const char *const *outputs)
{
    const td_op_def *d = n->def;
    if (ni < d->min_inputs || ni > d->max_inputs)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "node '%s' (%s): %d inputs, expected %d to %d", n->name, n->op_type, ni,
                            d->min_inputs, d->max_inputs);
    if (no < d->min_outputs || no > d->max_outputs)
        return td_error_new(TD_CODE_UNSUPPORTED, "node '%s' (%s): %d outputs, expected %d to %d",
                            n->name, n->op_type, no, d->min_outputs, d->max_outputs);
    n->inputs = calloc((size_t)(ni ? ni : 1), sizeof(int));
    n->outputs = calloc((size_t)(no ? no : 1), sizeof(int));
    if (!n->inputs || !n->outputs)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
    n->n_inputs = ni;
    for (int i = 0; i < ni; i++)
        TD_TRY(node_value_ref(g, n->name, inputs[i], &n->inputs[i]));
    for (int i = 0; i < no; i++) {
        if (!outputs[i] || !*outputs[i])
            return td_error_new(TD_CODE_UNSUPPORTED, "node '%s' (%s): unnamed output %d", n->name,
                                n->op_type, i);
        TD_TRY(add_value(g, outputs[i], TD_VALUE_INTERMEDIATE, &n->outputs[i]));
        n->n_outputs = i + 1;
        g->values[n->outputs[i]].producer = g->n_nodes;
    }
    return TD_OK;
}

td_status td_graph_add_node(td_graph *g, const char *name, const char *op_type, int n_inputs,
                            const char *const *inputs, int n_outputs, const char *const *outputs,
                            int *index)
{
    const td_op_def *d = td_op_find(op_type);
    if (!d)
        return td_error_new(TD_CODE_UNSUPPORTED, "node '%s': operator '%s' is not supported",
                            name ? name : "?", op_type);
    TD_TRY(grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(td_node)));
    td_node *n = &g->nodes[g->n_nodes];
    int n_values_before = g->n_values;
    memset(n, 0, sizeof *n);
    n->def = d;
    n->name = dup_str(name && *name ? name : op_type);
    n->op_type = dup_str(op_type);
    td_status st = (n->name && n->op_type)
                       ? fill_node(g, n, n_inputs, inputs, n_outputs, outputs)
                       : td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
    if (st) {
        free_node(n);
        /* Drop the outputs fill_node already created: they would otherwise keep a producer
         * index that the next node added reuses. */
        while (g->n_values > n_values_before)
            free(g->values[--g->n_values].name);
        return st;
    }
    if (index)
        *index = g->n_nodes;
    g->n_nodes++;
    g->prepared = false;
    return TD_OK;
}

const td_attr *td_node_attr(const td_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

static td_status new_attr(td_node *n, const char *name, td_attr_type type, td_attr **out)
{
    if (td_node_attr(n, name))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "node '%s': attribute '%s' given twice",
                            n->name, name);
    td_attr *p = realloc(n->attrs, (size_t)(n->n_attrs + 1) * sizeof *p);
    if (!p)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
    n->attrs = p;
    td_attr *a = &p[n->n_attrs];
    memset(a, 0, sizeof *a);
    a->name = dup_str(name);
    if (!a->name)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
    a->type = type;
    n->n_attrs++;
    *out = a;
    return TD_OK;
}

td_status td_node_set_int(td_node *n, const char *name, int64_t v)
{
    td_attr *a = NULL;
    TD_TRY(new_attr(n, name, TD_ATTR_INT, &a));
    a->i = v;
    return TD_OK;
}

td_status td_node_set_float(td_node *n, const char *name, float v)
{
    td_attr *a = NULL;
    TD_TRY(new_attr(n, name, TD_ATTR_FLOAT, &a));
    a->f = v;
    return TD_OK;
}

td_status td_node_set_string(td_node *n, const char *name, const char *s)
{
    td_attr *a = NULL;
    TD_TRY(new_attr(n, name, TD_ATTR_STRING, &a));
    a->s = dup_str(s);
    return a->s ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
}

static void *dup_mem(const void *p, size_t bytes)
{
    void *d = malloc(bytes ? bytes : 1);
    if (d && bytes)
        memcpy(d, p, bytes);
    return d;
}

td_status td_node_set_ints(td_node *n, const char *name, const int64_t *v, int count)
{
    if (count < 0 || count > (1 << 20))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "node '%s': attribute '%s' has %d values",
                            n->name, name, count);
    td_attr *a = NULL;
    TD_TRY(new_attr(n, name, TD_ATTR_INTS, &a));
    a->ints = dup_mem(v, (size_t)count * sizeof *v);
    a->n = count;
    return a->ints ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
}

td_status td_node_set_floats(td_node *n, const char *name, const float *v, int count)
{
    if (count < 0 || count > (1 << 20))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "node '%s': attribute '%s' has %d values",
                            n->name, name, count);
    td_attr *a = NULL;
    TD_TRY(new_attr(n, name, TD_ATTR_FLOATS, &a));
    a->floats = dup_mem(v, (size_t)count * sizeof *v);
    a->n = count;
    return a->floats ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
}

td_status td_node_set_tensor(td_node *n, const char *name, const td_view *t)
{
    size_t bytes;
    TD_TRY(td_view_bytes(t, name, &bytes));
    td_attr *a = NULL;
    TD_TRY(new_attr(n, name, TD_ATTR_TENSOR, &a));
    a->tensor = *t;
    a->tensor.data = dup_mem(t->data, bytes);
    return a->tensor.data ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "graph: out of memory");
}

td_status td_graph_mark_output(td_graph *g, const char *name)
{
    int idx = td_graph_find_value(g, name);
    if (idx < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "graph '%s': output '%s' is never defined",
                            g->name, name);
    if (g->values[idx].is_output)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "graph '%s': output '%s' listed twice",
                            g->name, name);
    g->values[idx].is_output = true;
    return push_index(&g->outputs, &g->n_outputs, idx);
}

void td_graph_totals_compute(const td_graph *g, td_graph_totals *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < g->n_nodes; i++) {
        const td_node_cost *c = &g->nodes[i].cost;
        out->params += c->params;
        out->macs += c->macs;
        out->flops_other += c->flops_other;
        out->weight_bytes += c->weight_bytes;
    }
}
