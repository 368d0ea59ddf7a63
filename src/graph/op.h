/* The operator table: one td_op_def per operator.
 *
 * Adding an operator is one definition in src/ops/ plus one line in src/graph/op_table.c.
 * The graph code (prepare, memory planner, executor) and the cost models only go through
 * these entries, never through a switch on the op name. */
#ifndef TD_GRAPH_OP_H
#define TD_GRAPH_OP_H

#include "tandem/graph.h"

/* What an operator is, for cost models and reports. */
typedef enum td_op_class {
    TD_OPC_CONV = 0,    /* Conv: MACs on a weight, im2col-like data reuse */
    TD_OPC_GEMM,        /* Gemm/MatMul with a constant weight */
    TD_OPC_MATMUL,      /* MatMul of two activations (attention scores) */
    TD_OPC_ELEMENTWISE, /* unary/binary arithmetic, activations */
    TD_OPC_NORM,        /* LayerNormalization, BatchNormalization, Softmax */
    TD_OPC_POOL,
    TD_OPC_REDUCE,
    TD_OPC_DATA, /* pure data movement or shape: Reshape, Transpose, Concat, Gather... */
    TD_OPC_COUNT
} td_op_class;

/* Flags describing how an op may share storage (read by the memory planner). */
enum {
    /* Output 0 may be written over input 0 (same shape and dtype, each output element
     * depends only on the same input element, or the kernel reads ahead safely). */
    TD_OPF_INPLACE = 1u << 0,
    /* Output 0 is input 0's bytes unchanged (Reshape, Flatten, Squeeze, Unsqueeze,
     * Identity): the executor does not call run at all when the storage is shared. */
    TD_OPF_VIEW = 1u << 1,
};

/* Per-run services handed to an operator. */
typedef struct td_op_run {
    const td_ctx *ctx;
    void *scratch; /* grown on demand by td_op_scratch; owned by the session */
    size_t scratch_bytes;
    td_act *act; /* activation buffers reused by every compressed product (td_op_qgemm) */
} td_op_run;

/* Y = X * W^T with a compressed weight, reusing rc's activation buffers (td_gemm would
 * allocate and free them on every call). */
td_status td_op_qgemm(td_op_run *rc, const td_qmatrix *w, td_act_type act, const float *x,
                      int64_t batch, float *y);
/* Releases what td_op_scratch and td_op_qgemm allocated. */
void td_op_run_release(td_op_run *rc);

/* A scratch buffer of at least `bytes` (64-byte aligned, contents undefined), valid until the
 * operator returns. */
td_status td_op_scratch(td_op_run *rc, size_t bytes, void **out);

typedef struct td_op_def {
    const char *name; /* ONNX op_type */
    td_op_class cls;
    int min_inputs, max_inputs;
    int min_outputs, max_outputs;
    unsigned flags;
    /* Parses attributes into n->params (once), checks input dtypes and shapes and sets the
     * outputs' dtype and shape in g->values. May read constant inputs' data (value.data !=
     * NULL) for shape-carrying inputs; if such data is missing it returns an error naming
     * the input. Errors name the node (n->name) and the op. */
    td_status (*prepare)(td_graph *g, td_node *n);
    /* Computes the outputs. in[i].data == NULL for an omitted optional input. Output views
     * have their shape, dtype and storage filled by the executor. */
    td_status (*run)(td_op_run *rc, const td_node *n, const td_view *in, td_view *out);
    /* Fills n->cost.params, macs and flops_other (the byte fields are filled by the graph
     * code). NULL means all zero. Reads shapes from g and n->params. */
    void (*cost)(const td_graph *g, td_node *n);
    /* Frees n->params; NULL means free(). */
    void (*free_params)(void *params);
} td_op_def;

const td_op_def *td_op_find(const char *op_type);
/* All entries, for listing: td_op_at(0 .. td_op_count()-1). */
int td_op_count(void);
const td_op_def *td_op_at(int index);

/* ---- helpers for operator implementations (src/graph/op_util.c) ---- */
/* Error naming node and op: "node 'conv1' (Conv): <message>". */
td_status td_node_error(const td_node *n, td_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Attribute getters with defaults; a present attribute of the wrong type is an error. */
/* A kernel's error (st, consumed) as one naming the node; TD_OK passes through. */
td_status td_node_wrap(const td_node *n, td_status st);
td_status td_attr_int(const td_node *n, const char *name, int64_t def, int64_t *out);
td_status td_attr_float(const td_node *n, const char *name, float def, float *out);
/* Copies up to cap ints; *count receives the length (0 and no error when absent). */
td_status td_attr_ints(const td_node *n, const char *name, int64_t *out, int cap, int *count);
/* The value of input i (NULL when omitted) / output i. */
td_value *td_node_in(td_graph *g, const td_node *n, int i);
td_value *td_node_out(td_graph *g, const td_node *n, int i);
/* Bytes of a value at its dtype (0 while its shape is unknown or overflows). */
int64_t td_value_bytes(const td_value *v);
/* Sets an output's dtype and shape. */
void td_value_set_shape(td_value *v, td_dtype dt, int ndim, const int64_t *shape);
/* Normalizes an axis in [-ndim, ndim) (or [-ndim-1, ndim] when `insert`) to [0, ndim). */
td_status td_norm_axis(const td_node *n, int64_t axis, int ndim, bool insert, int *out);
/* Numpy-style broadcast of two shapes; error names the node. */
td_status td_broadcast_shape(const td_node *n, int na, const int64_t *a, int nb, const int64_t *b,
                             int *nout, int64_t *out);
/* Reads a constant int64/int32 input as int64 values (shape-carrying inputs). */
td_status td_const_ints(const td_graph *g, const td_node *n, int input, int64_t *out, int cap,
                        int *count);

#endif
