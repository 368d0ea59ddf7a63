/* Tandem's compressed-model file (safetensors + graph JSON in __metadata__), and
 * td_model_open, which recognizes every model kind Tandem reads. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "graph/op.h"
#include "tandem/model.h"
#include "tandem/models.h"
#include "tandem/onnx.h"
#include "tandem/safetensors.h"

#define QPART_TAG ".tdq."

/* td_dtype <-> safetensors dtype */
static const struct {
    td_dtype dt;
    td_st_dtype st;
} dtype_map[] = {
    {TD_DT_F32, TD_ST_F32},   {TD_DT_F64, TD_ST_F64}, {TD_DT_F16, TD_ST_F16},
    {TD_DT_BF16, TD_ST_BF16}, {TD_DT_I64, TD_ST_I64}, {TD_DT_I32, TD_ST_I32},
    {TD_DT_I16, TD_ST_I16},   {TD_DT_I8, TD_ST_I8},   {TD_DT_U8, TD_ST_U8},
    {TD_DT_BOOL, TD_ST_BOOL},
};

static bool to_st(td_dtype dt, td_st_dtype *out)
{
    for (size_t i = 0; i < sizeof dtype_map / sizeof dtype_map[0]; i++)
        if (dtype_map[i].dt == dt) {
            *out = dtype_map[i].st;
            return true;
        }
    return false;
}

static bool from_st(td_st_dtype st, td_dtype *out)
{
    for (size_t i = 0; i < sizeof dtype_map / sizeof dtype_map[0]; i++)
        if (dtype_map[i].st == st) {
            *out = dtype_map[i].dt;
            return true;
        }
    return false;
}

/* ================================ saving ================================ */

static cJSON *ints_json(const int64_t *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

static cJSON *attr_json(const td_attr *a)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    switch (a->type) {
    case TD_ATTR_INT:
        cJSON_AddNumberToObject(o, "i", (double)a->i);
        break;
    case TD_ATTR_FLOAT:
        cJSON_AddNumberToObject(o, "f", a->f);
        break;
    case TD_ATTR_STRING:
        cJSON_AddStringToObject(o, "s", a->s);
        break;
    case TD_ATTR_INTS:
        cJSON_AddItemToObject(o, "ints", ints_json(a->ints, a->n));
        break;
    case TD_ATTR_FLOATS: {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; arr && i < a->n; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(a->floats[i]));
        cJSON_AddItemToObject(o, "floats", arr);
        break;
    }
    case TD_ATTR_TENSOR:
        cJSON_Delete(o);
        return NULL; /* written as a tensor; see node_json */
    }
    return o;
}

static const char *value_name(const td_graph *g, int v)
{
    return v >= 0 ? g->values[v].name : "";
}

static cJSON *node_json(const td_graph *g, const td_node *n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", n->name);
    cJSON_AddStringToObject(o, "op", n->op_type);
    cJSON *in = cJSON_AddArrayToObject(o, "inputs");
    for (int i = 0; i < n->n_inputs; i++)
        cJSON_AddItemToArray(in, cJSON_CreateString(value_name(g, n->inputs[i])));
    cJSON *out = cJSON_AddArrayToObject(o, "outputs");
    for (int i = 0; i < n->n_outputs; i++)
        cJSON_AddItemToArray(out, cJSON_CreateString(value_name(g, n->outputs[i])));
    cJSON *attrs = cJSON_AddObjectToObject(o, "attrs");
    for (int i = 0; i < n->n_attrs; i++) {
        cJSON *a = attr_json(&n->attrs[i]);
        if (a)
            cJSON_AddItemToObject(attrs, n->attrs[i].name, a);
    }
    if (n->qweight) {
        char spec[128];
        td_qspec_describe(td_qmatrix_spec(n->qweight), spec, sizeof spec);
        cJSON *q = cJSON_AddObjectToObject(o, "compressed");
        cJSON_AddStringToObject(q, "spec", spec);
        cJSON_AddStringToObject(q, "act", td_act_name(n->act));
        cJSON_AddNumberToObject(q, "rows", (double)td_qmatrix_rows(n->qweight));
        cJSON_AddNumberToObject(q, "cols", (double)td_qmatrix_cols(n->qweight));
    }
    return o;
}

/* A constant is saved in f32 form unless every node using it has it compressed. */
static bool const_needed(const td_graph *g, int v)
{
    if (g->values[v].is_output)
        return true;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == v && !(k == 1 && g->nodes[i].qweight))
                return true;
    return false;
}

static bool const_used(const td_graph *g, int v)
{
    if (g->values[v].is_output)
        return true;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == v)
                return true;
    return false;
}

static cJSON *graph_json(const td_graph *g)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", g->name);
    cJSON_AddNumberToObject(root, "opset", (double)g->opset);
    cJSON *ins = cJSON_AddArrayToObject(root, "inputs");
    for (int i = 0; i < g->n_inputs; i++) {
        const td_value *v = &g->values[g->inputs[i]];
        if (v->kind != TD_VALUE_INPUT)
            continue; /* fixed at prepare: saved as a constant */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", v->name);
        cJSON_AddStringToObject(o, "dtype", td_dtype_name(v->dtype));
        cJSON_AddItemToObject(o, "shape", ints_json(v->decl_shape, v->ndim));
        cJSON_AddItemToArray(ins, o);
    }
    cJSON *consts = cJSON_AddArrayToObject(root, "constants");
    for (int v = 0; v < g->n_values; v++) {
        const td_value *val = &g->values[v];
        if (val->kind != TD_VALUE_CONST || !const_used(g, v))
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", val->name);
        cJSON_AddStringToObject(o, "dtype", td_dtype_name(val->dtype));
        cJSON_AddItemToObject(o, "shape", ints_json(val->shape, val->ndim));
        cJSON_AddBoolToObject(o, "stored", const_needed(g, v));
        cJSON_AddItemToArray(consts, o);
    }
    cJSON *outs = cJSON_AddArrayToObject(root, "outputs");
    for (int i = 0; i < g->n_outputs; i++)
        cJSON_AddItemToArray(outs, cJSON_CreateString(g->values[g->outputs[i]].name));
    cJSON *nodes = cJSON_AddArrayToObject(root, "nodes");
    for (int i = 0; i < g->n_nodes; i++)
        cJSON_AddItemToArray(nodes, node_json(g, &g->nodes[i]));
    return root;
}

static td_status add_const_tensor(td_safetensors_writer *w, const td_value *v)
{
    td_st_dtype st;
    if (!to_st(v->dtype, &st))
        return td_error_new(TD_CODE_UNSUPPORTED, "constant '%s': %s cannot be saved", v->name,
                            td_dtype_name(v->dtype));
    td_view view = {v->dtype, v->ndim, {0}, v->data};
    memcpy(view.shape, v->shape, sizeof view.shape);
    size_t bytes;
    TD_TRY(td_view_bytes(&view, v->name, &bytes));
    return td_safetensors_writer_add(w, v->name, st, v->ndim, v->shape, v->data, bytes);
}

static td_status add_qparts(td_safetensors_writer *w, const td_graph *g, const td_node *n)
{
    td_qpart parts[TD_QMATRIX_MAX_PARTS];
    int np = td_qmatrix_parts(n->qweight, parts);
    for (int i = 0; i < np; i++) {
        char name[512];
        snprintf(name, sizeof name, "%s" QPART_TAG "%s", n->name, parts[i].name);
        int64_t len = (int64_t)parts[i].bytes;
        TD_TRY(
            td_safetensors_writer_add(w, name, TD_ST_U8, 1, &len, parts[i].data, parts[i].bytes));
    }
    (void)g;
    return TD_OK;
}

static td_status fill_writer(td_safetensors_writer *w, const td_graph *g)
{
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == TD_VALUE_CONST && g->values[v].data && const_needed(g, v))
            TD_TRY(add_const_tensor(w, &g->values[v]));
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].qweight)
            TD_TRY(add_qparts(w, g, &g->nodes[i]));
        for (int a = 0; a < g->nodes[i].n_attrs; a++)
            if (g->nodes[i].attrs[a].type == TD_ATTR_TENSOR)
                return td_error_new(TD_CODE_UNSUPPORTED,
                                    "node '%s': tensor attributes are not saved; prepare the "
                                    "graph first (it folds Constant nodes)",
                                    g->nodes[i].name);
    }
    return TD_OK;
}

td_status td_model_save(const td_graph *g, const char *path, const char *const *meta_keys,
                        const char *const *meta_values, int n_meta)
{
    td_safetensors_writer *w;
    TD_TRY(td_safetensors_writer_new(&w));
    td_status st = fill_writer(w, g);
    cJSON *json = st ? NULL : graph_json(g);
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!st && !text)
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: cannot serialize the graph", path);
    if (!st)
        st = td_safetensors_writer_set_metadata(w, "tandem.version", TD_MODEL_FILE_VERSION);
    if (!st)
        st = td_safetensors_writer_set_metadata(w, "tandem.graph", text);
    for (int i = 0; i < n_meta && !st; i++)
        st = td_safetensors_writer_set_metadata(w, meta_keys[i], meta_values[i]);
    if (!st)
        st = td_safetensors_write(w, path);
    free(text);
    td_safetensors_writer_free(w);
    return st;
}

/* ================================ loading ================================ */

typedef struct loader {
    td_graph *g;
    td_safetensors *st;
    const char *file;
} loader;

static td_status bad(const loader *l, const char *what)
{
    return td_error_new(TD_CODE_BAD_DATA, "%s: tandem.graph: %s", l->file, what);
}

static td_status parse_dtype(const loader *l, const char *name, const cJSON *o, td_dtype *out)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "dtype");
    if (!cJSON_IsString(d))
        return td_error_new(TD_CODE_BAD_DATA, "%s: tandem.graph: tensor '%s' has no dtype", l->file,
                            name);
    for (int t = 1; t < TD_DT_COUNT; t++)
        if (strcmp(td_dtype_name((td_dtype)t), d->valuestring) == 0) {
            *out = (td_dtype)t;
            return TD_OK;
        }
    return td_error_new(TD_CODE_BAD_DATA, "%s: tandem.graph: tensor '%s': unknown dtype '%s'",
                        l->file, name, d->valuestring);
}

/* `what` names the list in errors (the tensor whose shape it is, or the attribute). */
static td_status parse_ints(const loader *l, const char *what, const cJSON *arr, int64_t *out,
                            int cap, int *n, int64_t lo)
{
    if (!cJSON_IsArray(arr))
        return td_error_new(TD_CODE_BAD_DATA, "%s: tandem.graph: '%s': expected a list of integers",
                            l->file, what);
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        /* Range first: casting an out-of-range double to int64_t is undefined. */
        if (k >= cap || !cJSON_IsNumber(e) || !(e->valuedouble >= (double)lo) ||
            e->valuedouble > 9.0e15 || e->valuedouble != (double)(int64_t)e->valuedouble)
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s: tandem.graph: '%s': bad integer list (more than %d values, "
                                "or a value below %lld, above 9e15 or not an integer)",
                                l->file, what, cap, (long long)lo);
        out[k++] = (int64_t)e->valuedouble;
    }
    *n = k;
    return TD_OK;
}

/* A JSON number that is an integer within +-9e15 (exact in a double); casting any other
 * double to int64_t is undefined. */
static bool json_int(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -9.0e15 && v->valuedouble <= 9.0e15) ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

static const char *str_item(const cJSON *o, const char *key)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

static td_status load_inputs(loader *l, const cJSON *arr)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        const char *name = str_item(o, "name");
        td_dtype dt;
        int64_t shape[TD_MAX_DIMS];
        int nd;
        if (!name)
            return bad(l, "an input has no name");
        TD_TRY(parse_dtype(l, name, o, &dt));
        TD_TRY(parse_ints(l, name, cJSON_GetObjectItemCaseSensitive(o, "shape"), shape, TD_MAX_DIMS,
                          &nd, -1));
        TD_TRY(td_graph_add_input(l->g, name, dt, nd, shape, NULL));
    }
    return TD_OK;
}

static td_status load_const(loader *l, const cJSON *o)
{
    const char *name = str_item(o, "name");
    if (!name)
        return bad(l, "a constant has no name");
    td_dtype dt;
    int64_t shape[TD_MAX_DIMS];
    int nd;
    TD_TRY(parse_dtype(l, name, o, &dt));
    TD_TRY(parse_ints(l, name, cJSON_GetObjectItemCaseSensitive(o, "shape"), shape, TD_MAX_DIMS,
                      &nd, 0));
    td_view view = {dt, nd, {0}, NULL};
    memcpy(view.shape, shape, (size_t)nd * sizeof *shape);
    size_t bytes;
    td_status vs = td_view_bytes(&view, name, &bytes);
    if (vs) {
        td_status_free(vs);
        return td_error_new(TD_CODE_BAD_DATA, "%s: constant '%s': shape too large", l->file, name);
    }
    bool stored = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "stored"));
    void *data;
    /* An unstored constant gets a placeholder: its size is only trusted once a compressed
     * node's data backs it (dequantize_unstored allocates it then), so a hostile declaration
     * cannot make us allocate terabytes. */
    TD_TRY(td_alloc(stored && bytes ? bytes : 1, &data));
    if (stored) {
        td_st_tensor t;
        td_dtype fdt;
        td_status st = td_safetensors_find(l->st, name, &t);
        if (st) { /* a bad file, not a bad argument: say so in the file's terms */
            td_status_free(st);
            st = td_error_new(TD_CODE_BAD_DATA,
                              "%s: constant '%s' is declared stored but the file has no such "
                              "tensor",
                              l->file, name);
        } else if (!from_st(t.dtype, &fdt) || fdt != dt || t.nbytes != bytes)
            st = td_error_new(TD_CODE_BAD_DATA, "%s: tensor '%s' does not match its declaration",
                              l->file, name);
        if (st) {
            td_free(data);
            return st;
        }
        memcpy(data, t.data, bytes);
    }
    /* Unstored constants are compressed weights: filled by dequantizing after the nodes. */
    td_status st = td_graph_add_const(l->g, name, dt, nd, shape, data, true, NULL);
    if (st)
        td_free(data);
    return st;
}

static td_status load_attr(loader *l, td_node *n, const char *name, const cJSON *a)
{
    const cJSON *v;
    int64_t iv;
    if ((v = cJSON_GetObjectItemCaseSensitive(a, "i")) && cJSON_IsNumber(v)) {
        if (!json_int(v, &iv))
            return bad(l, "integer attribute out of range");
        return td_node_set_int(n, name, iv);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(a, "f")) && cJSON_IsNumber(v))
        return td_node_set_float(n, name, (float)v->valuedouble);
    if ((v = cJSON_GetObjectItemCaseSensitive(a, "s")) && cJSON_IsString(v))
        return td_node_set_string(n, name, v->valuestring);
    if ((v = cJSON_GetObjectItemCaseSensitive(a, "ints"))) {
        int64_t buf[256];
        int cnt = 0;
        TD_TRY(parse_ints(l, name, v, buf, 256, &cnt, INT64_MIN / 2));
        return td_node_set_ints(n, name, buf, cnt);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(a, "floats")) && cJSON_IsArray(v)) {
        float buf[256];
        int cnt = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            if (cnt >= 256 || !cJSON_IsNumber(e))
                return bad(l, "bad float list attribute");
            buf[cnt++] = (float)e->valuedouble;
        }
        return td_node_set_floats(n, name, buf, cnt);
    }
    return bad(l, "attribute of unknown kind");
}

static td_status name_list(const loader *l, const cJSON *arr, const char **out, int cap, int *n)
{
    if (!cJSON_IsArray(arr))
        return bad(l, "node inputs/outputs must be lists");
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (k >= cap || !cJSON_IsString(e))
            return bad(l, "bad node input/output list");
        out[k++] = e->valuestring;
    }
    *n = k;
    return TD_OK;
}

static td_status load_qweight(loader *l, td_node *n, const cJSON *q)
{
    const char *spec_text = str_item(q, "spec"), *act = str_item(q, "act");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(q, "rows");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(q, "cols");
    int64_t nrows, ncols;
    if (!spec_text || !act || !json_int(rows, &nrows) || !json_int(cols, &ncols))
        return bad(l, "compressed node without spec, act, rows or cols");
    td_qspec spec;
    TD_TRY(td_qspec_parse(spec_text, &spec));
    TD_TRY(td_act_parse(act, &n->act));
    td_qpart parts[TD_QMATRIX_MAX_PARTS];
    int np = 0;
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s" QPART_TAG, n->name);
    for (size_t i = 0; i < td_safetensors_count(l->st); i++) {
        const char *tn = td_safetensors_name(l->st, i);
        if (strncmp(tn, prefix, strlen(prefix)) != 0)
            continue;
        if (np >= TD_QMATRIX_MAX_PARTS)
            return bad(l, "too many compressed parts");
        td_st_tensor t;
        TD_TRY(td_safetensors_tensor(l->st, i, &t));
        parts[np++] = (td_qpart){t.name + strlen(prefix), (void *)t.data, t.nbytes};
    }
    char what[600];
    snprintf(what, sizeof what, "%s: node '%s'", l->file, n->name);
    return td_qmatrix_from_parts(&spec, nrows, ncols, parts, np, what, &n->qweight);
}

static td_status load_node(loader *l, const cJSON *o)
{
    const char *name = str_item(o, "name"), *op = str_item(o, "op");
    if (!name || !op)
        return bad(l, "a node has no name or op");
    const char *ins[64], *outs[64];
    int ni = 0, no = 0;
    TD_TRY(name_list(l, cJSON_GetObjectItemCaseSensitive(o, "inputs"), ins, 64, &ni));
    TD_TRY(name_list(l, cJSON_GetObjectItemCaseSensitive(o, "outputs"), outs, 64, &no));
    int idx;
    TD_TRY(td_graph_add_node(l->g, name, op, ni, ins, no, outs, &idx));
    td_node *n = &l->g->nodes[idx];
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(o, "attrs"), *a;
    if (attrs && !cJSON_IsObject(attrs))
        return bad(l, "attrs must be an object");
    cJSON_ArrayForEach(a, attrs) TD_TRY(load_attr(l, n, a->string, a));
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "compressed");
    return q ? load_qweight(l, n, q) : TD_OK;
}

/* Fills the f32 form of compressed weights that were not stored, from the compressed data. */
static td_status dequantize_unstored(loader *l)
{
    for (int i = 0; i < l->g->n_nodes; i++) {
        td_node *n = &l->g->nodes[i];
        if (!n->qweight || n->n_inputs < 2 || n->inputs[1] < 0)
            continue;
        td_value *w = &l->g->values[n->inputs[1]];
        int64_t numel = td_shape_numel(w->ndim, w->shape);
        int64_t rc[2] = {td_qmatrix_rows(n->qweight), td_qmatrix_cols(n->qweight)};
        /* Only a constant owns a buffer to fill (an input or intermediate has data == NULL);
         * rows * cols is checked for overflow like any shape. */
        if (w->kind != TD_VALUE_CONST || !w->data_owned || w->dtype != TD_DT_F32 || numel < 0 ||
            numel != td_shape_numel(2, rc))
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s: node '%s': compressed weight does not match '%s'", l->file,
                                n->name, w->name);
        void *data;
        TD_TRY(td_alloc(numel ? (size_t)numel * sizeof(float) : 1, &data));
        td_status st = td_qmatrix_dequantize(n->qweight, data);
        if (st) {
            td_free(data);
            return st;
        }
        td_free(w->data); /* a placeholder, or the stored f32 form the compressed one replaces */
        w->data = data;
    }
    return TD_OK;
}

static bool supplied_by_qweight(const td_graph *g, int v)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].qweight && g->nodes[i].n_inputs >= 2 && g->nodes[i].inputs[1] == v)
            return true;
    return false;
}

/* An unstored constant must be the weight of a compressed node, or it would be all zeros. */
static td_status check_unstored(loader *l, const cJSON *consts)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, consts)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "stored")))
            continue;
        const char *name = str_item(o, "name");
        if (!supplied_by_qweight(l->g, td_graph_find_value(l->g, name)))
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s: constant '%s' is not stored and no compressed node "
                                "supplies it",
                                l->file, name);
    }
    return TD_OK;
}

static td_status load_graph(loader *l, const cJSON *root)
{
    const cJSON *opset = cJSON_GetObjectItemCaseSensitive(root, "opset");
    if (!json_int(opset, &l->g->opset))
        l->g->opset = 0;
    TD_TRY(load_inputs(l, cJSON_GetObjectItemCaseSensitive(root, "inputs")));
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(root, "constants"))
        TD_TRY(load_const(l, o));
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(root, "nodes")) TD_TRY(load_node(l, o));
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(root, "outputs"))
    {
        if (!cJSON_IsString(o))
            return bad(l, "outputs must be names");
        TD_TRY(td_graph_mark_output(l->g, o->valuestring));
    }
    TD_TRY(check_unstored(l, cJSON_GetObjectItemCaseSensitive(root, "constants")));
    return dequantize_unstored(l);
}

/* Errors from the graph builder name tensors and nodes but not the file, and call a bad
 * reference an invalid argument; read from a file, it is bad data in that file. */
static td_status in_file(const char *file, td_status st)
{
    if (!st)
        return st;
    const char *msg = td_status_message(st);
    size_t n = strlen(file);
    td_code code = td_status_code(st);
    bool named = strncmp(msg, file, n) == 0 && msg[n] == ':';
    if (code == TD_CODE_INVALID_ARGUMENT)
        code = TD_CODE_BAD_DATA;
    else if (named)
        return st;
    td_status w = named ? td_error_new(code, "%s", msg) : td_error_new(code, "%s: %s", file, msg);
    td_status_free(st);
    return w;
}

static td_status load_from(td_safetensors *st, const char *name, td_graph **out)
{
    loader l = {NULL, st, name};
    const char *ver = td_safetensors_metadata(st, "tandem.version");
    const char *text = td_safetensors_metadata(st, "tandem.graph");
    if (!ver || !text)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: not a Tandem model file (no tandem.graph in __metadata__)", name);
    if (strcmp(ver, TD_MODEL_FILE_VERSION) != 0)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: model file version %s, this build reads %s",
                            name, ver, TD_MODEL_FILE_VERSION);
    cJSON *root = cJSON_Parse(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return td_error_new(TD_CODE_BAD_DATA, "%s: tandem.graph is not a JSON object", name);
    }
    const char *gname = str_item(root, "name");
    td_status s = td_graph_new(gname ? gname : "model", &l.g);
    if (!s)
        s = in_file(name, load_graph(&l, root));
    cJSON_Delete(root);
    if (s) {
        td_graph_free(l.g);
        return s;
    }
    *out = l.g;
    return TD_OK;
}

td_status td_model_load(const char *path, td_graph **out)
{
    td_safetensors *st;
    TD_TRY(td_safetensors_open(path, &st));
    td_status s = load_from(st, path, out);
    td_safetensors_close(st);
    return s;
}

td_status td_model_load_buffer(const void *buf, size_t len, const char *name, td_graph **out)
{
    td_safetensors *st;
    TD_TRY(td_safetensors_open_buffer(buf, len, name, &st));
    td_status s = load_from(st, name ? name : "buffer", out);
    td_safetensors_close(st);
    return s;
}

/* ================================ any model ================================ */

static bool has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static td_status fix_batch(td_graph *g, int batch)
{
    if (batch <= 0)
        return TD_OK;
    for (int i = 0; i < g->n_inputs; i++) {
        td_value *v = &g->values[g->inputs[i]];
        if (v->kind != TD_VALUE_INPUT || v->ndim < 1 || v->shape[0] >= 0)
            continue;
        int64_t shape[TD_MAX_DIMS];
        memcpy(shape, v->shape, sizeof shape);
        shape[0] = batch;
        TD_TRY(td_graph_set_input_shape(g, v->name, v->ndim, shape));
    }
    return TD_OK;
}

td_status td_model_open(const char *path, const td_model_opts *opts, td_graph **out)
{
    td_model_opts o = opts ? *opts : (td_model_opts){0, 0};
    struct stat sb;
    if (stat(path, &sb) != 0)
        return td_error_new(TD_CODE_IO, "%s: no such file or folder", path);
    td_status st;
    if (S_ISDIR(sb.st_mode)) {
        td_bert_opts bo = {o.batch > 0 ? o.batch : 1, o.seq_len > 0 ? o.seq_len : 128, 1};
        return td_bert_build(path, &bo, out);
    }
    if (has_suffix(path, ".onnx"))
        st = td_onnx_load(path, out);
    else if (has_suffix(path, ".safetensors"))
        st = td_model_load(path, out);
    else
        return td_error_new(TD_CODE_UNSUPPORTED,
                            "%s: unknown model kind (expected .onnx, a Tandem .safetensors file, "
                            "or a folder with config.json and model.safetensors)",
                            path);
    TD_TRY(st);
    st = fix_batch(*out, o.batch);
    if (st) {
        td_graph_free(*out);
        *out = NULL;
    }
    return st;
}
