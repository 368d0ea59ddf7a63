/* Helpers shared by the operator families (src/ops/): numpy broadcasting, common checks,
 * parallel splitting, and the weight-matrix view the compressor uses. */
#ifndef TD_OPS_COMMON_H
#define TD_OPS_COMMON_H

#include "graph/op.h"

/* ---- numpy broadcasting over up to TD_BCAST_MAX_IN inputs ----
 *
 * The output is walked as `outer` runs of `inner` contiguous elements. Within a run, input i
 * advances by inner_step[i] (0: broadcast along the run, 1: contiguous). Adjacent dimensions
 * that every input traverses the same way are merged first, so the same-shape case is one run
 * and a trailing-vector or scalar broadcast gets long runs. Usage:
 *
 *     td_bcast b;
 *     TD_TRY(td_bcast_init(&b, 2, shapes_of_inputs..., &out));
 *     for (int64_t r = 0; r < b.outer; r++) {
 *         int64_t off[TD_BCAST_MAX_IN];
 *         td_bcast_run_offsets(&b, r, off);   // element offsets of each input for run r
 *         ... out elements [r*inner, (r+1)*inner) ...
 *     }
 */
#define TD_BCAST_MAX_IN 4

typedef struct td_bcast {
    int nin;
    int ndim; /* merged outer dimensions (the run dimension excluded) */
    int64_t dims[TD_MAX_DIMS];
    int64_t strides[TD_BCAST_MAX_IN][TD_MAX_DIMS]; /* element strides per outer dim */
    int64_t inner, outer, total;
    int64_t inner_step[TD_BCAST_MAX_IN];
} td_bcast;

/* ins[i] and out give dtype-independent shapes; every input must broadcast to `out`
 * (unidirectionally: out is the broadcast shape). Errors are plain (callers add the node). */
td_status td_bcast_init(td_bcast *b, int nin, const td_view *const *ins, const td_view *out);
void td_bcast_run_offsets(const td_bcast *b, int64_t run, int64_t *off);

/* Output shape of a numpy broadcast of all inputs of node n (error names the node). */
td_status td_ops_broadcast_inputs(td_graph *g, const td_node *n, int first, int count, int *ndim,
                                  int64_t *shape);

/* Checks that input i is present and has dtype dt (error names the node and input). */
td_status td_ops_require(td_graph *g, const td_node *n, int i, td_dtype dt);
/* Checks that input i is present and is f32 (most nn ops compute in f32 only). */
td_status td_ops_require_f32(td_graph *g, const td_node *n, int i);

/* Sum of element counts of the node's constant inputs (its learned parameters). */
int64_t td_ops_const_params(const td_graph *g, const td_node *n);
/* Element count of output i (0 when unknown). */
int64_t td_ops_out_numel(const td_graph *g, const td_node *n, int i);

/* Threads to use for `work` elementary operations: 1 below a grain where OpenMP's fork costs
 * more than it saves. */
int td_ops_threads(const td_op_run *rc, int64_t work);

/* Replaces n->params with p (freeing a previous block, since prepare may run twice). */
void td_ops_set_params(td_node *n, void *p);

/* For a Gemm, MatMul or Conv node whose weight (input 1) is a constant f32: the weight as a
 * rows x cols matrix in qweight orientation (rows = output features, cols = reduction length;
 * Conv: rows = Cout, cols = Cin/group * prod(kernel)). *w is malloc'ed; the caller frees it.
 * Gemm honours transB; MatMul needs a 2-D B (W = B^T). */
td_status td_node_weight_matrix(const td_graph *g, const td_node *n, float **w, int64_t *rows,
                                int64_t *cols);

#endif
