/* ModelProto → td_graph: opset check, initializers, inputs, nodes with attributes, outputs.
 *
 * The file is untrusted: every count is checked, and every error names the file and the
 * tensor, node or attribute concerned. Operators are looked up by td_graph_add_node, which
 * reports unknown ones as unsupported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/op.h"
#include "onnx/onnx_internal.h"

/* Oldest IR with opset imports; newest that the onnx package of the build machine writes
 * (fields added since the bundled onnx.proto are ignored, new element types are rejected). */
#define MIN_IR_VERSION 3
#define MAX_IR_VERSION 14
#define MIN_OPSET 7
/* Per node; far beyond any real operator, small enough to keep int arithmetic safe. */
#define MAX_NODE_IO 65536

static bool is_default_domain(const char *d)
{
    return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

static td_status check_opset(const Onnx__ModelProto *m, int64_t *opset)
{
    if (!m->has_ir_version)
        return td_error_new(TD_CODE_BAD_DATA, "no IR version (not an ONNX model?)");
    if (m->ir_version < MIN_IR_VERSION || m->ir_version > MAX_IR_VERSION)
        return td_error_new(TD_CODE_UNSUPPORTED, "IR version %lld is outside the supported %d..%d",
                            (long long)m->ir_version, MIN_IR_VERSION, MAX_IR_VERSION);
    *opset = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (is_default_domain(o->domain) && o->has_version)
            *opset = o->version;
    }
    /* No default opset is only an error once a default-domain node needs it (add_node). */
    if (*opset != 0 && *opset < MIN_OPSET)
        return td_error_new(TD_CODE_UNSUPPORTED, "opset %lld is older than the supported %d",
                            (long long)*opset, MIN_OPSET);
    return TD_OK;
}

static td_status add_initializer(td_graph *g, const td_onnx_src *src, const Onnx__TensorProto *t)
{
    if (!t->name || !*t->name)
        return td_error_new(TD_CODE_BAD_DATA, "an initializer has no name");
    char what[300];
    snprintf(what, sizeof what, "initializer '%s'", t->name);
    td_view v = {0};
    TD_TRY(td_onnx_tensor_decode(src, t, what, &v));
    td_status st = td_graph_add_const(g, t->name, v.dtype, v.ndim, v.shape, v.data, true, NULL);
    if (st)
        td_free(v.data);
    return st;
}

static td_status value_shape(const Onnx__ValueInfoProto *vi, td_dtype *dt, int *ndim,
                             int64_t *shape)
{
    const char *name = vi->name;
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return td_error_new(TD_CODE_UNSUPPORTED,
                            "input '%s' is not a tensor (sequences, maps and optionals are not "
                            "supported)",
                            name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    char what[300];
    snprintf(what, sizeof what, "input '%s'", name);
    if (!tt->has_elem_type)
        return td_error_new(TD_CODE_BAD_DATA, "%s: no element type", what);
    TD_TRY(td_onnx_dtype(NULL, tt->elem_type, what, dt));
    if (!tt->shape)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: rank unknown (no shape in the file)", what);
    if (tt->shape->n_dim > TD_MAX_DIMS)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: %zu dimensions, at most %d supported", what,
                            tt->shape->n_dim, TD_MAX_DIMS);
    *ndim = (int)tt->shape->n_dim;
    for (int i = 0; i < *ndim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            shape[i] = -1; /* symbolic ("N") or absent: fixed later by td_graph_set_input_shape */
            continue;
        }
        if (d->dim_value < 0 || d->dim_value > TD_ONNX_MAX_DIM)
            return td_error_new(TD_CODE_BAD_DATA, "%s: dimension %d is %lld", what, i,
                                (long long)d->dim_value);
        shape[i] = d->dim_value;
    }
    return TD_OK;
}

static td_status add_input(td_graph *g, const Onnx__ValueInfoProto *vi)
{
    if (!vi->name || !*vi->name)
        return td_error_new(TD_CODE_BAD_DATA, "a graph input has no name");
    int idx = td_graph_find_value(g, vi->name);
    /* An input that is also an initializer is a constant with an overridable default; Tandem
     * treats it as the constant. */
    if (idx >= 0 && g->values[idx].kind == TD_VALUE_CONST)
        return TD_OK;
    td_dtype dt = TD_DT_UNDEFINED;
    int ndim = 0;
    int64_t shape[TD_MAX_DIMS];
    TD_TRY(value_shape(vi, &dt, &ndim, shape));
    return td_graph_add_input(g, vi->name, dt, ndim, shape, NULL);
}

/* Old files (IR < 4 writers) may leave the attribute type unset; infer it from the field. */
static Onnx__AttributeProto__AttributeType attr_type(const Onnx__AttributeProto *a)
{
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return a->type;
    if (a->has_f)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_i)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (a->has_s)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (a->t)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (a->g)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (a->n_floats)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->n_ints)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (a->n_strings)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static td_status attr_string(td_node *n, const Onnx__AttributeProto *a)
{
    const ProtobufCBinaryData *s = &a->s;
    if (s->len && memchr(s->data, 0, s->len))
        return td_error_new(TD_CODE_BAD_DATA, "node '%s': attribute '%s' contains a NUL byte",
                            n->name, a->name);
    char *z = malloc(s->len + 1);
    if (!z)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "node '%s': out of memory", n->name);
    if (s->len)
        memcpy(z, s->data, s->len);
    z[s->len] = 0;
    td_status st = td_node_set_string(n, a->name, z);
    free(z);
    return st;
}

static td_status attr_tensor(td_node *n, const td_onnx_src *src, const Onnx__AttributeProto *a)
{
    if (!a->t)
        return td_error_new(TD_CODE_BAD_DATA, "node '%s': tensor attribute '%s' has no tensor",
                            n->name, a->name);
    char what[300];
    snprintf(what, sizeof what, "node '%s' attribute '%s'", n->name, a->name);
    td_view v = {0};
    TD_TRY(td_onnx_tensor_decode(src, a->t, what, &v));
    td_status st = td_node_set_tensor(n, a->name, &v);
    td_free(v.data);
    return st;
}

static td_status check_list(const td_node *n, const Onnx__AttributeProto *a, size_t count)
{
    if (count > (1u << 20))
        return td_error_new(TD_CODE_BAD_DATA, "node '%s': attribute '%s' has %zu values", n->name,
                            a->name, count);
    return TD_OK;
}

static td_status add_attr(td_node *n, const td_onnx_src *src, const Onnx__AttributeProto *a)
{
    if (!a->name || !*a->name)
        return td_error_new(TD_CODE_BAD_DATA, "node '%s': an attribute has no name", n->name);
    if (a->ref_attr_name && *a->ref_attr_name)
        return td_error_new(TD_CODE_UNSUPPORTED,
                            "node '%s': attribute '%s' refers to a function attribute", n->name,
                            a->name);
    switch (attr_type(a)) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        return td_node_set_float(n, a->name, a->f);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        return td_node_set_int(n, a->name, a->i);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        return attr_string(n, a);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        return attr_tensor(n, src, a);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        TD_TRY(check_list(n, a, a->n_ints));
        return td_node_set_ints(n, a->name, a->ints, (int)a->n_ints);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        TD_TRY(check_list(n, a, a->n_floats));
        return td_node_set_floats(n, a->name, a->floats, (int)a->n_floats);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
        return td_error_new(TD_CODE_UNSUPPORTED,
                            "node '%s' (%s): attribute '%s' is a subgraph, which is not supported",
                            n->name, n->op_type, a->name);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED:
        return td_error_new(TD_CODE_BAD_DATA, "node '%s': attribute '%s' has no type", n->name,
                            a->name);
    default:
        return td_error_new(TD_CODE_UNSUPPORTED,
                            "node '%s' (%s): attribute '%s' of type %d (strings, tensor lists, "
                            "sparse tensors or types) is not supported",
                            n->name, n->op_type, a->name, (int)attr_type(a));
    }
}

static td_status add_node(td_graph *g, const td_onnx_src *src, const Onnx__NodeProto *np,
                          size_t index)
{
    char made_up[128];
    const char *op = np->op_type ? np->op_type : "";
    const char *name = np->name;
    if (!name || !*name) {
        snprintf(made_up, sizeof made_up, "%.64s_%zu", *op ? op : "node", index);
        name = made_up;
    }
    if (!*op)
        return td_error_new(TD_CODE_BAD_DATA, "node '%s' has no operator type", name);
    if (!is_default_domain(np->domain))
        return td_error_new(TD_CODE_UNSUPPORTED,
                            "node '%s': operator '%s' of domain '%s' is not supported (only the "
                            "default ONNX domain is)",
                            name, op, np->domain);
    if (g->opset == 0)
        return td_error_new(TD_CODE_BAD_DATA,
                            "node '%s': no opset import for the default ONNX domain", name);
    if (np->n_input > MAX_NODE_IO || np->n_output > MAX_NODE_IO)
        return td_error_new(TD_CODE_BAD_DATA, "node '%s': %zu inputs and %zu outputs", name,
                            np->n_input, np->n_output);
    /* Trailing unnamed outputs are optional outputs nobody asked for. */
    size_t n_out = np->n_output;
    while (n_out > 0 && (!np->output[n_out - 1] || !*np->output[n_out - 1]))
        n_out--;
    int idx = -1;
    TD_TRY(td_graph_add_node(g, name, op, (int)np->n_input, (const char *const *)np->input,
                             (int)n_out, (const char *const *)np->output, &idx));
    for (size_t i = 0; i < np->n_attribute; i++)
        TD_TRY(add_attr(&g->nodes[idx], src, np->attribute[i]));
    return TD_OK;
}

static td_status build_graph(td_graph *g, const td_onnx_src *src, const Onnx__GraphProto *gp)
{
    if (gp->n_sparse_initializer)
        return td_error_new(TD_CODE_UNSUPPORTED, "sparse initializers are not supported");
    for (size_t i = 0; i < gp->n_initializer; i++)
        TD_TRY(add_initializer(g, src, gp->initializer[i]));
    for (size_t i = 0; i < gp->n_input; i++)
        TD_TRY(add_input(g, gp->input[i]));
    for (size_t i = 0; i < gp->n_node; i++)
        TD_TRY(add_node(g, src, gp->node[i], i));
    if (gp->n_output == 0)
        return td_error_new(TD_CODE_BAD_DATA, "the graph has no outputs");
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name;
        if (!name || !*name)
            return td_error_new(TD_CODE_BAD_DATA, "graph output %zu has no name", i);
        TD_TRY(td_graph_mark_output(g, name));
    }
    return TD_OK;
}

static td_status load_model(const Onnx__ModelProto *m, const td_onnx_src *src, td_graph **out)
{
    int64_t opset = 0;
    TD_TRY(check_opset(m, &opset));
    if (!m->graph)
        return td_error_new(TD_CODE_BAD_DATA, "the model has no graph");
    const char *gname = m->graph->name && *m->graph->name ? m->graph->name : src->file;
    td_graph *g = NULL;
    TD_TRY(td_graph_new(gname, &g));
    g->opset = opset;
    td_status st = build_graph(g, src, m->graph);
    if (st) {
        td_graph_free(g);
        return st;
    }
    *out = g;
    return TD_OK;
}

td_status td_onnx_load_buffer(const void *buf, size_t len, const char *base_dir,
                              const char *name_for_errors, td_graph **out)
{
    const char *file = name_for_errors ? name_for_errors : "model";
    *out = NULL;
    if (len > TD_ONNX_MAX_FILE_BYTES)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: %zu bytes, larger than the %zu-byte limit",
                            file, len, TD_ONNX_MAX_FILE_BYTES);
    if (len == 0)
        return td_error_new(TD_CODE_BAD_DATA, "%s: empty file, not an ONNX model", file);
    TD_TRY(td_onnx_wrap(file, td_onnx_check_depth(buf, len)));
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    if (!m)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: not a valid ONNX model (protobuf parse failed; truncated or "
                            "not a ModelProto)",
                            file);
    td_onnx_src src = {file, base_dir};
    td_status st = load_model(m, &src, out);
    onnx__model_proto__free_unpacked(m, NULL);
    return td_onnx_wrap(file, st);
}

td_status td_onnx_load(const char *path, td_graph **out)
{
    *out = NULL;
    void *buf;
    size_t len;
    TD_TRY(td_onnx_read_file(path, TD_ONNX_MAX_FILE_BYTES, &buf, &len));
    char *dir = td_onnx_dirname(path);
    td_status st = dir ? td_onnx_load_buffer(buf, len, dir, path, out)
                       : td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", path);
    free(dir);
    free(buf);
    return st;
}
