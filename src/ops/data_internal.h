/* Private helpers shared by the data-movement operators (src/ops/data*.c). */
#ifndef TD_OPS_DATA_INTERNAL_H
#define TD_OPS_DATA_INTERNAL_H

#include "graph/op.h"

/* Rank of the strided walks: Tile views each dimension as (repeat, dim). */
#define TD_DATA_MAX_WALK (2 * TD_MAX_DIMS)

/* Copies a strided view of src into contiguous dst: dst element (i0..i{nd-1}) (row-major over
 * shape) = src element at sum(i_k * stride[k]) (strides in elements, may be 0 or negative; src
 * already points at the view's first element). */
void td_data_strided_copy(void *dst, const void *src, int nd, const int64_t *shape,
                          const int64_t *stride, size_t esz, int threads);

/* Row-major element strides of a shape. */
void td_data_strides(int nd, const int64_t *shape, int64_t *stride);

/* Formats a shape as "[2, 3]" into buf. */
const char *td_data_shape_str(int nd, const int64_t *shape, char *buf, size_t len);

/* Checks that input i is present with a known shape; *v receives it. */
td_status td_data_input(td_graph *g, const td_node *n, int i, td_value **v);

/* Run of the view ops (Reshape, Flatten, Squeeze, Unsqueeze): byte copy unless shared. */
td_status td_data_view_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out);

extern const td_op_def td_op_reshape, td_op_flatten, td_op_squeeze, td_op_unsqueeze, td_op_shape,
    td_op_constant, td_op_constant_of_shape, td_op_range;
extern const td_op_def td_op_transpose, td_op_concat, td_op_slice, td_op_gather, td_op_expand,
    td_op_tile, td_op_split;
extern const td_op_def td_op_cast;

#endif
