/* The graph: one representation of a model for every part of Tandem.
 *
 * A graph is a list of values (tensors: inputs, constants such as weights, and
 * intermediates) and a list of nodes (operators) in topological order. Loaders
 * (ONNX, the BERT builder) fill it; td_graph_prepare() infers every shape and
 * computes per node its parameter count, MACs and bytes in the node's current
 * format. The runtime, the memory planner, the cost models and the explorer all
 * read those figures from here rather than recomputing them. */
#ifndef TANDEM_GRAPH_H
#define TANDEM_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem/core.h"
#include "tandem/formats.h"
#include "tandem/kernels.h"
#include "tandem/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element types of graph values. Compute is f32; the others carry shapes, indices,
 * masks and the inputs of ONNX tests. */
typedef enum td_dtype {
    TD_DT_UNDEFINED = 0,
    TD_DT_F32,
    TD_DT_F64,
    TD_DT_F16,
    TD_DT_BF16,
    TD_DT_I64,
    TD_DT_I32,
    TD_DT_I16,
    TD_DT_I8,
    TD_DT_U8,
    TD_DT_BOOL,
    TD_DT_COUNT
} td_dtype;

const char *td_dtype_name(td_dtype dt);
size_t td_dtype_size(td_dtype dt); /* 0 for TD_DT_UNDEFINED */

/* A contiguous tensor as the operators see it. */
typedef struct td_view {
    td_dtype dtype;
    int ndim;
    int64_t shape[TD_MAX_DIMS];
    void *data;
} td_view;

int64_t td_view_numel(const td_view *v);
/* Product of dims; -1 on overflow or negative dims. */
int64_t td_shape_numel(int ndim, const int64_t *shape);
/* numel * element size, checked; errors name `what`. */
td_status td_view_bytes(const td_view *v, const char *what, size_t *out);

typedef enum td_value_kind {
    TD_VALUE_INTERMEDIATE = 0, /* produced by a node */
    TD_VALUE_INPUT,            /* graph input, supplied at run time */
    TD_VALUE_CONST,            /* initializer / weight: data known at load */
} td_value_kind;

typedef struct td_value {
    char *name;
    td_value_kind kind;
    td_dtype dtype;
    int ndim; /* -1 while unknown (before td_graph_prepare) */
    /* -1 marks a dimension unknown until prepare (a symbolic ONNX dim such as "N"); graph
     * inputs must have every dimension fixed (td_graph_set_input_shape) before prepare. */
    int64_t shape[TD_MAX_DIMS];
    /* Inputs: the shape as declared by the model file (with -1 for symbolic dims), kept when
     * td_graph_set_input_shape fixes `shape`, so a saved model keeps its flexible dims. */
    int64_t decl_shape[TD_MAX_DIMS];
    /* Constant data (kind CONST, or values folded at prepare). Either owned (freed with the
     * graph) or borrowed from a mapped file that outlives the graph. */
    void *data;
    bool data_owned;
    int producer; /* node index, -1 for inputs and constants */
    bool is_output;
} td_value;

/* ONNX-style attributes, kept as loaded; each operator parses the ones it uses once, in its
 * prepare step, into its own parameter block (td_node.params). */
typedef enum td_attr_type {
    TD_ATTR_INT = 0,
    TD_ATTR_FLOAT,
    TD_ATTR_STRING,
    TD_ATTR_INTS,
    TD_ATTR_FLOATS,
    TD_ATTR_TENSOR, /* a constant: its data in `tensor`, owned by the attribute */
} td_attr_type;

typedef struct td_attr {
    char *name;
    td_attr_type type;
    int64_t i;
    float f;
    char *s;
    int64_t *ints;
    float *floats;
    int n; /* length of ints or floats */
    td_view tensor;
} td_attr;

struct td_op_def; /* defined in src/graph/op.h: one table entry per operator */

/* Figures computed by td_graph_prepare for each node. "bytes" count each tensor once,
 * in the format it is stored in (compressed weights at their compressed size). */
typedef struct td_node_cost {
    int64_t params;       /* learned parameters (weights + biases) */
    int64_t macs;         /* multiply-accumulates (0 for data movement) */
    int64_t flops_other;  /* non-MAC arithmetic: elementwise, normalization, softmax */
    int64_t weight_bytes; /* bytes of the constant inputs, as stored */
    int64_t in_bytes;     /* bytes of the non-constant inputs */
    int64_t out_bytes;    /* bytes of the outputs */
} td_node_cost;

typedef struct td_node {
    char *name;    /* never NULL: loaders make one up ("Conv_3") when the file has none */
    char *op_type; /* as in the file, e.g. "Conv" */
    const struct td_op_def *def;
    int n_inputs, n_outputs;
    int *inputs;  /* value indices; -1 for an omitted optional input */
    int *outputs; /* value indices */
    td_attr *attrs;
    int n_attrs;
    void *params; /* operator-private block filled at prepare, freed with the graph */
    td_node_cost cost;
    /* Compression: when set, the node's weight (input 1 of Gemm/MatMul/Conv) is used in this
     * form, oriented rows = output features, cols = reduction length (per group for Conv).
     * The f32 constant stays in the graph for reference and re-compression. */
    td_qmatrix *qweight;
    td_act_type act; /* activation quantization used with qweight */
} td_node;

typedef struct td_graph {
    char *name;
    td_value *values;
    int n_values, cap_values;
    td_node *nodes;
    int n_nodes, cap_nodes;
    int *inputs; /* value indices of graph inputs, in file order */
    int n_inputs;
    int *outputs;
    int n_outputs;
    bool prepared;
    int64_t opset; /* ONNX default-domain opset of the source file (0 when not from ONNX) */
    /* Keeps a mapped weight file alive for borrowed constant data. */
    void *mapping;
    void (*mapping_free)(void *mapping);
} td_graph;

/* ---- building (used by loaders and tests) ---- */
td_status td_graph_new(const char *name, td_graph **out);
void td_graph_free(td_graph *g);
/* Adds a value; returns its index in *index (may be NULL). Names must be unique. A constant's
 * data is borrowed, or owned when take_ownership (it must then come from td_alloc). */
td_status td_graph_add_input(td_graph *g, const char *name, td_dtype dt, int ndim,
                             const int64_t *shape, int *index);
td_status td_graph_add_const(td_graph *g, const char *name, td_dtype dt, int ndim,
                             const int64_t *shape, void *data, bool take_ownership, int *index);
/* Adds a node; outputs are created as intermediate values with the given names. Input names
 * must already exist (or be "" / NULL for an omitted optional input). The node's op_type is
 * looked up in the operator table; unknown ops are an error naming the node and the op. */
td_status td_graph_add_node(td_graph *g, const char *name, const char *op_type, int n_inputs,
                            const char *const *inputs, int n_outputs, const char *const *outputs,
                            int *index);
/* Attributes for the last-added node (copied). */
td_status td_node_set_int(td_node *n, const char *name, int64_t v);
td_status td_node_set_float(td_node *n, const char *name, float v);
td_status td_node_set_string(td_node *n, const char *name, const char *s);
td_status td_node_set_ints(td_node *n, const char *name, const int64_t *v, int count);
td_status td_node_set_floats(td_node *n, const char *name, const float *v, int count);
td_status td_node_set_tensor(td_node *n, const char *name, const td_view *t);
td_status td_graph_mark_output(td_graph *g, const char *name);

int td_graph_find_value(const td_graph *g, const char *name);    /* -1 if absent */
const td_attr *td_node_attr(const td_node *n, const char *name); /* NULL if absent */

/* ---- preparation ---- */
/* Fixes the shape of an input (e.g. batch or sequence length) before prepare. */
td_status td_graph_set_input_shape(td_graph *g, const char *name, int ndim, const int64_t *shape);
/* Gives an input known data, so that shape-carrying inputs (Reshape's shape, Slice's starts...)
 * can be used by shape inference. The data is copied; the input becomes a constant. */
td_status td_graph_set_input_data(td_graph *g, const char *name, const td_view *data);
/* Folds BatchNormalization into a preceding Conv when legal (the conv output feeds only the
 * BN), then infers every shape and dtype, folds nodes whose inputs are all constant, parses
 * attributes and computes each node's cost. Errors name the node and op. Idempotent. */
td_status td_graph_prepare(td_graph *g);
/* Recomputes every node's cost (after compression changed weights or formats). */
td_status td_graph_update_costs(td_graph *g);

/* ---- figures ---- */
typedef struct td_graph_totals {
    int64_t params, macs, flops_other, weight_bytes;
} td_graph_totals;
void td_graph_totals_compute(const td_graph *g, td_graph_totals *out);

/* ---- memory plan: one arena for all intermediate values ---- */
typedef struct td_mem_plan {
    int n_values;
    int64_t *offset;           /* per value: byte offset in the arena, -1 if not in the arena */
    int *alias_of;             /* per value: value whose storage it shares (in-place/view), or -1 */
    int64_t arena_bytes;       /* planned peak */
    int64_t lower_bound_bytes; /* max over steps of the bytes that must be live together */
    int peak_step;             /* node index where the lower bound is reached */
} td_mem_plan;

td_status td_mem_plan_build(const td_graph *g, td_mem_plan *out);
void td_mem_plan_free(td_mem_plan *p);

/* ---- execution ---- */
typedef struct td_session td_session;

/* A session owns the arena and scratch for one prepared graph. */
td_status td_session_new(td_graph *g, const td_ctx *ctx, td_session **out);
void td_session_free(td_session *s);
/* Copies input data (shape and dtype must match the prepared input). */
td_status td_session_set_input(td_session *s, const char *name, const td_view *in);
td_status td_session_run(td_session *s);
/* Points *out at a graph output or input; valid until the next run. */
td_status td_session_get(const td_session *s, const char *name, td_view *out);
/* Called after every node with its output views; used by calibration. NULL to remove. */
typedef td_status (*td_node_observer)(void *user, const td_graph *g, int node,
                                      const td_view *outputs);
void td_session_set_observer(td_session *s, td_node_observer fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
