/* The ONNX loader: every storage kind of initializers, external data and its escapes, value
 * shapes, attributes, and clear errors for malformed or unsupported files. Models are built
 * here with the protobuf-c structs generated from onnx.proto, so each case shows exactly
 * which field it exercises. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "tandem/graph.h"
#include "tandem/onnx.h"
#include "td_test.h"

/* Every allocation of a test model, freed together. */
typedef struct arena {
    void *p[4096];
    int n;
} arena;

static void *az(arena *a, size_t bytes)
{
    void *p = calloc(1, bytes);
    if (!p || a->n == 4096)
        abort();
    a->p[a->n++] = p;
    return p;
}

static void arena_free(arena *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->p[i]);
    a->n = 0;
}

static void *dup_init(arena *a, const void *init, size_t bytes)
{
    void *p = az(a, bytes);
    memcpy(p, init, bytes);
    return p;
}

/* A heap copy of a message initialized with its protobuf-c INIT macro. */
#define NEW(a, T, INIT) ((T *)dup_init((a), &(T)INIT, sizeof(T)))

/* Appends to a protobuf-c repeated field (count + pointer array). */
static void push(arena *a, size_t *n, void ***arr, void *item)
{
    void **na = az(a, (*n + 1) * sizeof(void *));
    if (*n)
        memcpy(na, *arr, *n * sizeof(void *));
    na[(*n)++] = item;
    *arr = na;
}

typedef struct model {
    arena a;
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op;
    Onnx__OperatorSetIdProto *ops[1];
} model;

static void model_init(model *md, int64_t opset)
{
    memset(md, 0, sizeof *md);
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    md->m = m;
    md->g = g;
    md->op = op;
    md->op.domain = "";
    md->op.has_version = 1;
    md->op.version = opset;
    md->ops[0] = &md->op;
    md->m.has_ir_version = 1;
    md->m.ir_version = 8;
    md->m.n_opset_import = 1;
    md->m.opset_import = md->ops;
    md->g.name = "g";
    md->m.graph = &md->g;
}

static Onnx__TensorProto *tensor(model *md, const char *name, int32_t type, int ndim,
                                 const int64_t *dims)
{
    Onnx__TensorProto *t = NEW(&md->a, Onnx__TensorProto, ONNX__TENSOR_PROTO__INIT);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = type;
    t->n_dims = (size_t)ndim;
    t->dims = az(&md->a, sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    if (ndim)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    return t;
}

static void raw(Onnx__TensorProto *t, const void *data, size_t len)
{
    t->has_raw_data = 1;
    t->raw_data.len = len;
    t->raw_data.data = (uint8_t *)data;
}

static Onnx__TensorProto *init(model *md, const char *name, int32_t type, int ndim,
                               const int64_t *dims)
{
    Onnx__TensorProto *t = tensor(md, name, type, ndim, dims);
    push(&md->a, &md->g.n_initializer, (void ***)&md->g.initializer, t);
    return t;
}

/* A graph value: dims of -1 become the symbolic dimension "N". */
static Onnx__ValueInfoProto *value(model *md, const char *name, int32_t type, int ndim,
                                   const int64_t *dims)
{
    arena *a = &md->a;
    Onnx__TensorShapeProto *sh = NEW(a, Onnx__TensorShapeProto, ONNX__TENSOR_SHAPE_PROTO__INIT);
    for (int i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d =
            NEW(a, Onnx__TensorShapeProto__Dimension, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "N";
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        push(a, &sh->n_dim, (void ***)&sh->dim, d);
    }
    Onnx__TypeProto__Tensor *tt = NEW(a, Onnx__TypeProto__Tensor, ONNX__TYPE_PROTO__TENSOR__INIT);
    tt->has_elem_type = 1;
    tt->elem_type = type;
    tt->shape = sh;
    Onnx__TypeProto *tp = NEW(a, Onnx__TypeProto, ONNX__TYPE_PROTO__INIT);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    Onnx__ValueInfoProto *vi = NEW(a, Onnx__ValueInfoProto, ONNX__VALUE_INFO_PROTO__INIT);
    vi->name = (char *)name;
    vi->type = tp;
    return vi;
}

static void input(model *md, const char *name, int ndim, const int64_t *dims)
{
    push(&md->a, &md->g.n_input, (void ***)&md->g.input,
         value(md, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims));
}

static void output(model *md, const char *name)
{
    push(&md->a, &md->g.n_output, (void ***)&md->g.output,
         value(md, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL));
}

static Onnx__NodeProto *node(model *md, const char *name, const char *op, const char *in0,
                             const char *in1, const char *out)
{
    Onnx__NodeProto *n = NEW(&md->a, Onnx__NodeProto, ONNX__NODE_PROTO__INIT);
    n->name = (char *)name;
    n->op_type = (char *)op;
    n->input = az(&md->a, 2 * sizeof(char *));
    n->input[n->n_input++] = (char *)in0;
    if (in1)
        n->input[n->n_input++] = (char *)in1;
    n->output = az(&md->a, sizeof(char *));
    n->output[n->n_output++] = (char *)out;
    push(&md->a, &md->g.n_node, (void ***)&md->g.node, n);
    return n;
}

static Onnx__AttributeProto *attr(model *md, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = NEW(&md->a, Onnx__AttributeProto, ONNX__ATTRIBUTE_PROTO__INIT);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    push(&md->a, &n->n_attribute, (void ***)&n->attribute, a);
    return a;
}

/* The smallest valid model: y = Relu(x), x of shape [N, 3]. */
static void model_basic(model *md)
{
    model_init(md, 13);
    int64_t d[2] = {-1, 3};
    input(md, "x", 2, d);
    node(md, "relu", "Relu", "x", NULL, "y");
    output(md, "y");
}

static uint8_t *pack(model *md, size_t *len)
{
    *len = onnx__model_proto__get_packed_size(&md->m);
    uint8_t *buf = malloc(*len ? *len : 1);
    onnx__model_proto__pack(&md->m, buf);
    return buf;
}

static td_status load_model(model *md, const char *base_dir, td_graph **g)
{
    size_t len;
    uint8_t *buf = pack(md, &len);
    td_status st = td_onnx_load_buffer(buf, len, base_dir, "test.onnx", g);
    free(buf);
    return st;
}

/* Loads and expects an error of `code` whose message has `needle` and the file name. */
static void expect_error(model *md, td_code code, const char *needle)
{
    td_graph *g = NULL;
    td_status st = load_model(md, NULL, &g);
    TD_CHECK(td_status_code(st) == code, "expected %s with '%s', got %s: %s", td_code_name(code),
             needle, td_code_name(td_status_code(st)), td_status_message(st));
    TD_CHECK(st == NULL || strstr(td_status_message(st), needle), "message '%s' lacks '%s'",
             td_status_message(st), needle);
    TD_CHECK(st == NULL || strstr(td_status_message(st), "test.onnx"),
             "message '%s' does not name the file", td_status_message(st));
    TD_CHECK(g == NULL, "graph returned with an error");
    td_status_free(st);
    td_graph_free(g);
    arena_free(&md->a);
}

static const td_value *find(const td_graph *g, const char *name)
{
    int i = td_graph_find_value(g, name);
    return i >= 0 ? &g->values[i] : NULL;
}

static void test_basic(void)
{
    model md;
    model_basic(&md);
    td_graph *g = NULL;
    TD_CHECK_OK(load_model(&md, NULL, &g));
    if (g) {
        TD_CHECK(g->opset == 13, "opset %lld", (long long)g->opset);
        TD_CHECK(g->n_inputs == 1 && g->n_outputs == 1 && g->n_nodes == 1, "counts");
        const td_value *x = find(g, "x");
        TD_CHECK(x && x->kind == TD_VALUE_INPUT && x->dtype == TD_DT_F32 && x->ndim == 2 &&
                     x->shape[0] == -1 && x->shape[1] == 3,
                 "input x: symbolic N becomes -1");
        TD_CHECK(strcmp(g->nodes[0].op_type, "Relu") == 0 && strcmp(g->nodes[0].name, "relu") == 0,
                 "node");
        TD_CHECK(find(g, "y") && find(g, "y")->is_output, "output marked");
    }
    td_graph_free(g);
    arena_free(&md.a);
}

/* Each storage field ONNX allows, decoded to the same values. */
static void test_initializer_storage(void)
{
    model md;
    model_basic(&md);
    int64_t d2[1] = {2};
    float f[2] = {1.5f, -2.0f};
    raw(init(&md, "f_raw", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d2), f, sizeof f);
    Onnx__TensorProto *t = init(&md, "f_typed", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d2);
    t->n_float_data = 2;
    t->float_data = f;
    int64_t i64[2] = {-5, (int64_t)1 << 40};
    t = init(&md, "i64", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, d2);
    t->n_int64_data = 2;
    t->int64_data = i64;
    double dd[2] = {0.25, -1e300};
    t = init(&md, "f64", ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, 1, d2);
    t->n_double_data = 2;
    t->double_data = dd;
    int32_t i32[2] = {-7, 100000};
    t = init(&md, "i32", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, d2);
    t->n_int32_data = 2;
    t->int32_data = i32;
    int32_t i8[2] = {-128, 127};
    t = init(&md, "i8", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1, d2);
    t->n_int32_data = 2;
    t->int32_data = i8;
    int32_t u8[2] = {0, 255};
    t = init(&md, "u8", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 1, d2);
    t->n_int32_data = 2;
    t->int32_data = u8;
    int32_t b[2] = {0, 5};
    t = init(&md, "b", ONNX__TENSOR_PROTO__DATA_TYPE__BOOL, 1, d2);
    t->n_int32_data = 2;
    t->int32_data = b;
    int32_t h[2] = {0x3c00, 0xc000}; /* f16 1.0, -2.0 as bit patterns */
    t = init(&md, "f16", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, 1, d2);
    t->n_int32_data = 2;
    t->int32_data = h;
    int32_t bf[2] = {0x3f80, 0xc000}; /* bf16 1.0, -2.0 */
    t = init(&md, "bf16", ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16, 1, d2);
    t->n_int32_data = 2;
    t->int32_data = bf;
    int64_t d0[1] = {0};
    init(&md, "empty", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d0);
    float s = 3.0f;
    raw(init(&md, "scalar", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL), &s, sizeof s);

    td_graph *g = NULL;
    TD_CHECK_OK(load_model(&md, NULL, &g));
    if (g) {
        const td_value *v = find(g, "f_raw");
        TD_CHECK(v && v->kind == TD_VALUE_CONST && v->dtype == TD_DT_F32 &&
                     memcmp(v->data, f, sizeof f) == 0,
                 "raw float");
        v = find(g, "f_typed");
        TD_CHECK(v && memcmp(v->data, f, sizeof f) == 0, "float_data");
        v = find(g, "i64");
        TD_CHECK(v && v->dtype == TD_DT_I64 && memcmp(v->data, i64, sizeof i64) == 0, "int64");
        v = find(g, "f64");
        TD_CHECK(v && v->dtype == TD_DT_F64 && memcmp(v->data, dd, sizeof dd) == 0, "double");
        v = find(g, "i32");
        TD_CHECK(v && v->dtype == TD_DT_I32 && memcmp(v->data, i32, sizeof i32) == 0, "int32");
        v = find(g, "i8");
        TD_CHECK(v && v->dtype == TD_DT_I8 && ((int8_t *)v->data)[0] == -128 &&
                     ((int8_t *)v->data)[1] == 127,
                 "int8 from int32_data");
        v = find(g, "u8");
        TD_CHECK(v && v->dtype == TD_DT_U8 && ((uint8_t *)v->data)[1] == 255, "uint8");
        v = find(g, "b");
        TD_CHECK(v && v->dtype == TD_DT_BOOL && ((uint8_t *)v->data)[0] == 0 &&
                     ((uint8_t *)v->data)[1] == 1,
                 "bool normalized to 0/1");
        v = find(g, "f16");
        TD_CHECK(v && v->dtype == TD_DT_F16 && ((uint16_t *)v->data)[0] == 0x3c00 &&
                     ((uint16_t *)v->data)[1] == 0xc000,
                 "float16 bits");
        v = find(g, "bf16");
        TD_CHECK(v && v->dtype == TD_DT_BF16 && ((uint16_t *)v->data)[0] == 0x3f80, "bfloat16");
        v = find(g, "empty");
        TD_CHECK(v && v->ndim == 1 && v->shape[0] == 0 && v->data, "empty tensor has storage");
        v = find(g, "scalar");
        TD_CHECK(v && v->ndim == 0 && *(float *)v->data == 3.0f, "scalar");
    }
    td_graph_free(g);
    arena_free(&md.a);
}

static void test_bad_tensors(void)
{
    model md;
    int64_t d2[1] = {2};
    float f[3] = {1, 2, 3};

    model_basic(&md);
    raw(init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d2), f, 12);
    expect_error(&md, TD_CODE_BAD_DATA, "initializer 'w': raw_data has 12 bytes");

    model_basic(&md);
    Onnx__TensorProto *t = init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d2);
    t->n_float_data = 3;
    t->float_data = f;
    expect_error(&md, TD_CODE_BAD_DATA, "initializer 'w': 3 stored values");

    model_basic(&md);
    int64_t i64[2] = {1, 2};
    t = init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d2);
    t->n_int64_data = 2;
    t->int64_data = i64;
    expect_error(&md, TD_CODE_BAD_DATA, "does not match its element type");

    model_basic(&md);
    int32_t big[2] = {1, 300};
    t = init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1, d2);
    t->n_int32_data = 2;
    t->int32_data = big;
    expect_error(&md, TD_CODE_BAD_DATA, "value 300 at 1 is out of range for int8");

    model_basic(&md);
    init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d2);
    expect_error(&md, TD_CODE_BAD_DATA, "initializer 'w': 0 stored values");

    model_basic(&md);
    init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__STRING, 1, d2);
    expect_error(&md, TD_CODE_UNSUPPORTED, "initializer 'w': string tensors");

    model_basic(&md);
    init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__UINT16, 1, d2);
    expect_error(&md, TD_CODE_UNSUPPORTED, "element type 4");

    model_basic(&md);
    init(&md, "w", 999, 1, d2);
    expect_error(&md, TD_CODE_BAD_DATA, "invalid element type 999");

    model_basic(&md);
    int64_t neg[2] = {2, -3};
    init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, neg);
    expect_error(&md, TD_CODE_BAD_DATA, "initializer 'w': dimension 1 is -3");

    model_basic(&md);
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 9, nine);
    expect_error(&md, TD_CODE_UNSUPPORTED, "9 dimensions");

    model_basic(&md);
    int64_t huge[3] = {(int64_t)1 << 40, (int64_t)1 << 40, (int64_t)1 << 40};
    raw(init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3, huge), f, 4);
    expect_error(&md, TD_CODE_OVERFLOW, "initializer 'w'");

    model_basic(&md);
    int64_t over[1] = {((int64_t)1 << 40) + 1};
    init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, over);
    expect_error(&md, TD_CODE_BAD_DATA, "dimension 0 is");

    model_basic(&md);
    init(&md, "", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL);
    expect_error(&md, TD_CODE_BAD_DATA, "initializer has no name");
}

static void test_graph_errors(void)
{
    model md;

    model_basic(&md);
    node(&md, "n1", "FooBar", "x", NULL, "z");
    expect_error(&md, TD_CODE_UNSUPPORTED, "node 'n1': operator 'FooBar' is not supported");

    model_basic(&md);
    node(&md, "fused", "FusedGemm", "x", NULL, "z")->domain = "com.microsoft";
    expect_error(&md, TD_CODE_UNSUPPORTED,
                 "node 'fused': operator 'FusedGemm' of domain "
                 "'com.microsoft'");

    model_basic(&md);
    node(&md, "add", "Add", "x", "nope", "z");
    expect_error(&md, TD_CODE_INVALID_ARGUMENT, "node 'add': input 'nope'");

    model_basic(&md);
    node(&md, "relu2", "Relu", "x", NULL, "y");
    expect_error(&md, TD_CODE_INVALID_ARGUMENT, "tensor 'y' defined twice");

    model_basic(&md);
    float f = 1;
    raw(init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL), &f, 4);
    raw(init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL), &f, 4);
    expect_error(&md, TD_CODE_INVALID_ARGUMENT, "tensor 'w' defined twice");

    model_basic(&md);
    output(&md, "missing");
    expect_error(&md, TD_CODE_INVALID_ARGUMENT, "output 'missing' is never defined");

    model_basic(&md);
    md.op.version = 6;
    expect_error(&md, TD_CODE_UNSUPPORTED, "opset 6");

    model_basic(&md);
    md.op.domain = "com.microsoft";
    expect_error(&md, TD_CODE_BAD_DATA, "no opset import for the default ONNX domain");

    model_basic(&md);
    md.m.has_ir_version = 0;
    expect_error(&md, TD_CODE_BAD_DATA, "no IR version");

    model_basic(&md);
    md.m.ir_version = 2;
    expect_error(&md, TD_CODE_UNSUPPORTED, "IR version 2");

    model_basic(&md);
    md.m.graph = NULL;
    expect_error(&md, TD_CODE_BAD_DATA, "no graph");

    model_basic(&md);
    Onnx__NodeProto *n = node(&md, "if", "Relu", "x", NULL, "z");
    Onnx__AttributeProto *a =
        attr(&md, n, "then_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    Onnx__GraphProto sub = ONNX__GRAPH_PROTO__INIT;
    a->g = &sub;
    expect_error(&md, TD_CODE_UNSUPPORTED,
                 "node 'if' (Relu): attribute 'then_branch' is a subgraph");

    model_basic(&md);
    n = node(&md, "s", "Relu", "x", NULL, "z");
    attr(&md, n, "names", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
    expect_error(&md, TD_CODE_UNSUPPORTED, "attribute 'names' of type 8");

    model_basic(&md);
    int64_t d[1] = {-5};
    md.g.input[0] = value(&md, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL);
    md.g.input[0]->type->tensor_type->shape->n_dim = 1;
    Onnx__TensorShapeProto__Dimension dim = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    dim.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    dim.dim_value = d[0];
    Onnx__TensorShapeProto__Dimension *dims[1] = {&dim};
    md.g.input[0]->type->tensor_type->shape->dim = dims;
    expect_error(&md, TD_CODE_BAD_DATA, "input 'x': dimension 0 is -5");

    model_basic(&md);
    md.g.input[0]->type->tensor_type->shape = NULL;
    expect_error(&md, TD_CODE_UNSUPPORTED, "input 'x': rank unknown");
}

/* Subgraphs nested without bound are refused before protobuf-c recurses into them. */
static void test_deep_nesting(void)
{
    for (int levels = 2; levels <= 200; levels += 198) {
        model md;
        model_basic(&md);
        Onnx__NodeProto *n = node(&md, "if", "Relu", "x", NULL, "z");
        for (int i = 0; i < levels; i++) {
            Onnx__AttributeProto *a =
                attr(&md, n, "body", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
            a->g = NEW(&md.a, Onnx__GraphProto, ONNX__GRAPH_PROTO__INIT);
            n = NEW(&md.a, Onnx__NodeProto, ONNX__NODE_PROTO__INIT);
            n->op_type = "Relu";
            push(&md.a, &a->g->n_node, (void ***)&a->g->node, n);
        }
        expect_error(&md, TD_CODE_UNSUPPORTED,
                     levels == 2 ? "attribute 'body' is a subgraph" : "nested more than 64 deep");
    }
}

/* Attributes of every type td_attr holds; unnamed nodes get a made-up name; an input that is
 * also an initializer is a constant, not an input. */
static void test_attributes(void)
{
    model md;
    model_basic(&md);
    Onnx__NodeProto *n = node(&md, "", "Relu", "y", NULL, "z");
    Onnx__AttributeProto *a = attr(&md, n, "i", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = -42;
    a = attr(&md, n, "f", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = 0.5f;
    a = attr(&md, n, "s", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = (uint8_t *)"NOTSET";
    a->s.len = 6;
    int64_t ints[3] = {1, -2, 3};
    a = attr(&md, n, "ints", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = 3;
    a->ints = ints;
    float floats[2] = {0.25f, 4.0f};
    a = attr(&md, n, "floats", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    a->n_floats = 2;
    a->floats = floats;
    int64_t d3[1] = {3};
    a = attr(&md, n, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = tensor(&md, "", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, d3);
    a->t->n_int64_data = 3;
    a->t->int64_data = ints;
    /* Untyped attribute, as very old exporters wrote them. */
    a = attr(&md, n, "old", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED);
    a->has_type = 0;
    a->has_i = 1;
    a->i = 7;
    md.g.output[0]->name = "z";
    /* "x" also an initializer: it is a constant. */
    float xv[3] = {1, 2, 3};
    int64_t d13[2] = {1, 3};
    raw(init(&md, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, d13), xv, sizeof xv);

    td_graph *g = NULL;
    TD_CHECK_OK(load_model(&md, NULL, &g));
    if (g && g->n_nodes == 2) {
        const td_node *nd = &g->nodes[1];
        TD_CHECK(strcmp(nd->name, "Relu_1") == 0, "made-up name '%s'", nd->name);
        const td_attr *t = td_node_attr(nd, "i");
        TD_CHECK(t && t->type == TD_ATTR_INT && t->i == -42, "int attr");
        t = td_node_attr(nd, "f");
        TD_CHECK(t && t->type == TD_ATTR_FLOAT && t->f == 0.5f, "float attr");
        t = td_node_attr(nd, "s");
        TD_CHECK(t && t->type == TD_ATTR_STRING && strcmp(t->s, "NOTSET") == 0, "string attr");
        t = td_node_attr(nd, "ints");
        TD_CHECK(t && t->type == TD_ATTR_INTS && t->n == 3 && t->ints[1] == -2, "ints attr");
        t = td_node_attr(nd, "floats");
        TD_CHECK(t && t->type == TD_ATTR_FLOATS && t->n == 2 && t->floats[1] == 4.0f,
                 "floats attr");
        t = td_node_attr(nd, "value");
        TD_CHECK(t && t->type == TD_ATTR_TENSOR && t->tensor.dtype == TD_DT_I64 &&
                     t->tensor.ndim == 1 && ((int64_t *)t->tensor.data)[2] == 3,
                 "tensor attr");
        t = td_node_attr(nd, "old");
        TD_CHECK(t && t->type == TD_ATTR_INT && t->i == 7, "untyped attribute inferred");
        TD_CHECK(g->n_inputs == 0 && find(g, "x")->kind == TD_VALUE_CONST,
                 "input with an initializer is a constant");
    } else {
        TD_CHECK(0, "attribute model did not load");
    }
    td_graph_free(g);
    arena_free(&md.a);
}

/* Every prefix of a valid file is rejected with an error (never a crash or a graph), and
 * random bytes are rejected as not being a model. */
static void test_truncated_and_garbage(void)
{
    model md;
    model_basic(&md);
    int64_t d4[1] = {4};
    float w[4] = {1, 2, 3, 4};
    raw(init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d4), w, sizeof w);
    size_t len;
    uint8_t *buf = pack(&md, &len);
    int parse_errors = 0;
    for (size_t cut = 0; cut < len; cut++) {
        td_graph *g = NULL;
        td_status st = td_onnx_load_buffer(buf, cut, NULL, "cut.onnx", &g);
        TD_CHECK(st != NULL && g == NULL, "prefix of %zu/%zu bytes loaded", cut, len);
        TD_CHECK(st == NULL || strstr(td_status_message(st), "cut.onnx"), "no file in '%s'",
                 td_status_message(st));
        parse_errors += st && strstr(td_status_message(st), "protobuf parse failed") != NULL;
        td_status_free(st);
        td_graph_free(g);
    }
    TD_CHECK(parse_errors > (int)len / 2, "only %d of %zu prefixes reported as truncated",
             parse_errors, len);

    /* The same through a file. */
    char dir[] = "/tmp/td_onnx_trunc_XXXXXX";
    TD_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    FILE *fp = fopen(path, "wb");
    fwrite(buf, 1, len / 2, fp);
    fclose(fp);
    td_graph *g = NULL;
    TD_CHECK_ERROR(td_onnx_load(path, &g), TD_CODE_BAD_DATA, "model.onnx: not a valid ONNX model");
    unlink(path);
    rmdir(dir);
    free(buf);
    arena_free(&md.a);

    td_rng r = {7};
    uint8_t junk[300];
    for (int k = 0; k < 200; k++) {
        size_t n = 1 + td_rng_next(&r) % sizeof junk;
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)td_rng_next(&r);
        td_status st = td_onnx_load_buffer(junk, n, NULL, "junk.onnx", &g);
        TD_CHECK(st != NULL && g == NULL && strstr(td_status_message(st), "junk.onnx"),
                 "random bytes: %s", td_status_message(st));
        td_status_free(st);
        td_graph_free(g);
    }
    TD_CHECK_ERROR(td_onnx_load_buffer("", 0, NULL, "empty.onnx", &g), TD_CODE_BAD_DATA,
                   "empty.onnx: empty file");
    TD_CHECK_ERROR(td_onnx_load("/nonexistent/dir/m.onnx", &g), TD_CODE_IO,
                   "/nonexistent/dir/m.onnx: cannot open");
    TD_CHECK_ERROR(td_onnx_load("/tmp", &g), TD_CODE_IO, "not a regular file");
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    TD_CHECK(fp != NULL, "cannot write %s", path);
    if (fp) {
        fwrite(data, 1, len, fp);
        fclose(fp);
    }
}

/* A model whose initializer "w" (4 floats) lives in `location` at `offset`, written to
 * dir/model.onnx and loaded from there. */
static td_status load_external(const char *dir, const char *location, const char *offset,
                               const char *length, td_graph **g)
{
    model md;
    model_basic(&md);
    int64_t d4[1] = {4};
    Onnx__TensorProto *t = init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d4);
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    const char *keys[3] = {"location", "offset", "length"};
    const char *vals[3] = {location, offset, length};
    for (int i = 0; i < 3; i++) {
        if (!vals[i])
            continue;
        Onnx__StringStringEntryProto *e =
            NEW(&md.a, Onnx__StringStringEntryProto, ONNX__STRING_STRING_ENTRY_PROTO__INIT);
        e->key = (char *)keys[i];
        e->value = (char *)vals[i];
        push(&md.a, &t->n_external_data, (void ***)&t->external_data, e);
    }
    size_t len;
    uint8_t *buf = pack(&md, &len);
    char path[256];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    write_file(path, buf, len);
    free(buf);
    arena_free(&md.a);
    *g = NULL;
    return td_onnx_load(path, g);
}

static void test_external_data(void)
{
    char root[] = "/tmp/td_onnx_ext_XXXXXX";
    TD_CHECK(mkdtemp(root) != NULL, "mkdtemp");
    char dir[300], p[400], outside[400];
    snprintf(dir, sizeof dir, "%s/model", root);
    mkdir(dir, 0700);
    float data[6] = {-1, 1, 2, 3, 4, -2}; /* w is data[1..4] */
    snprintf(p, sizeof p, "%s/weights.bin", dir);
    write_file(p, data, sizeof data);
    snprintf(outside, sizeof outside, "%s/secret.bin", root);
    write_file(outside, data, sizeof data);

    td_graph *g = NULL;
    TD_CHECK_OK(load_external(dir, "weights.bin", "4", "16", &g));
    const td_value *w = g ? find(g, "w") : NULL;
    TD_CHECK(w && memcmp(w->data, data + 1, 16) == 0, "external data read at its offset");
    td_graph_free(g);
    /* No length: the shape says how much. */
    TD_CHECK_OK(load_external(dir, "weights.bin", "8", NULL, &g));
    w = g ? find(g, "w") : NULL;
    TD_CHECK(w && memcmp(w->data, data + 2, 16) == 0, "external data without length");
    td_graph_free(g);

    TD_CHECK_ERROR(load_external(dir, "weights.bin", "12", NULL, &g), TD_CODE_BAD_DATA,
                   "initializer 'w': external data needs bytes 12..12+16");
    TD_CHECK_ERROR(load_external(dir, "weights.bin", "0", "12", &g), TD_CODE_BAD_DATA,
                   "external data length 12");
    TD_CHECK_ERROR(load_external(dir, "weights.bin", "-4", NULL, &g), TD_CODE_BAD_DATA,
                   "offset '-4' is invalid");
    TD_CHECK_ERROR(load_external(dir, "weights.bin", "99999999999999999999999", NULL, &g),
                   TD_CODE_BAD_DATA, "is invalid");
    TD_CHECK_ERROR(load_external(dir, NULL, "0", NULL, &g), TD_CODE_BAD_DATA, "no location");
    TD_CHECK_ERROR(load_external(dir, "missing.bin", "0", NULL, &g), TD_CODE_IO,
                   "cannot open external data file 'missing.bin'");
    TD_CHECK_ERROR(load_external(dir, "../secret.bin", "0", NULL, &g), TD_CODE_BAD_DATA,
                   "'../secret.bin' leaves the model's folder");
    TD_CHECK_ERROR(load_external(dir, outside, "0", NULL, &g), TD_CODE_BAD_DATA,
                   "is an absolute path");
    snprintf(p, sizeof p, "%s/link.bin", dir);
    TD_CHECK(symlink(outside, p) == 0, "symlink");
    TD_CHECK_ERROR(load_external(dir, "link.bin", "0", NULL, &g), TD_CODE_BAD_DATA,
                   "'link.bin' leaves the model's folder");
    unlink(p);
    snprintf(p, sizeof p, "%s/sub", dir);
    mkdir(p, 0700);
    TD_CHECK_ERROR(load_external(dir, "sub", "0", NULL, &g), TD_CODE_IO, "not a regular file");
    rmdir(p);

    /* From memory, there is no folder to read from. */
    model md;
    model_basic(&md);
    int64_t d4[1] = {4};
    Onnx__TensorProto *t = init(&md, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d4);
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    expect_error(&md, TD_CODE_UNSUPPORTED,
                 "initializer 'w': external data needs the model's folder");

    snprintf(p, sizeof p, "%s/weights.bin", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    unlink(p);
    rmdir(dir);
    unlink(outside);
    rmdir(root);
}

/* TensorProto files, as the ONNX backend tests store inputs and outputs. */
static void test_tensor_files(void)
{
    model md;
    memset(&md, 0, sizeof md);
    int64_t d[2] = {2, 1};
    int64_t v[2] = {9, -9};
    Onnx__TensorProto *t = tensor(&md, "input", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 2, d);
    raw(t, v, sizeof v);
    size_t len = onnx__tensor_proto__get_packed_size(t);
    uint8_t *buf = malloc(len);
    onnx__tensor_proto__pack(t, buf);
    td_view out;
    TD_CHECK_OK(td_onnx_load_tensor_buffer(buf, len, "input_0.pb", &out));
    TD_CHECK(out.dtype == TD_DT_I64 && out.ndim == 2 && out.shape[0] == 2 && out.shape[1] == 1 &&
                 memcmp(out.data, v, sizeof v) == 0,
             "tensor file decoded");
    td_free(out.data);
    TD_CHECK_ERROR(td_onnx_load_tensor_buffer(buf, len - 3, "input_0.pb", &out), TD_CODE_BAD_DATA,
                   "input_0.pb: not a valid ONNX TensorProto");
    TD_CHECK(out.data == NULL, "no data after an error");
    free(buf);
    arena_free(&md.a);
    TD_CHECK_ERROR(td_onnx_load_tensor("/nonexistent.pb", &out), TD_CODE_IO, "/nonexistent.pb");
}

int main(void)
{
    test_basic();
    test_initializer_storage();
    test_bad_tensors();
    test_graph_errors();
    test_attributes();
    test_deep_nesting();
    test_truncated_and_garbage();
    test_external_data();
    test_tensor_files();
    return td_test_finish("test_onnx_load");
}
