/* Data movement: Transpose, Concat, Slice, Gather, Expand, Tile, Split. Every op copies bytes
 * (any dtype); the strided ones go through td_data_strided_copy. */
#include <stdlib.h>
#include <string.h>

#include "ops/data_internal.h"
#include "ops/ops_common.h"

static td_status set_params(td_node *n, const void *src, size_t bytes)
{
    void *p = malloc(bytes);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    memcpy(p, src, bytes);
    td_ops_set_params(n, p);
    return TD_OK;
}

static int copy_threads(td_op_run *rc, const td_view *v)
{
    return td_ops_threads(rc, td_view_numel(v) * (int64_t)td_dtype_size(v->dtype) / 4);
}

/* ---- Transpose ---- */

typedef struct {
    int perm[TD_MAX_DIMS];
} transpose_params;

static td_status transpose_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(td_data_input(g, n, 0, &x));
    int64_t perm[TD_MAX_DIMS];
    int cnt;
    TD_TRY(td_attr_ints(n, "perm", perm, TD_MAX_DIMS, &cnt));
    if (!td_node_attr(n, "perm")) {
        cnt = x->ndim;
        for (int i = 0; i < cnt; i++)
            perm[i] = cnt - 1 - i;
    }
    if (cnt != x->ndim)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "perm has %d entries for rank %d", cnt,
                             x->ndim);
    transpose_params p;
    bool seen[TD_MAX_DIMS] = {false};
    int64_t shape[TD_MAX_DIMS];
    for (int i = 0; i < cnt; i++) {
        if (perm[i] < 0 || perm[i] >= cnt || seen[perm[i]])
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "perm is not a permutation of 0..%d (entry %d is %lld)", cnt - 1,
                                 i, (long long)perm[i]);
        seen[perm[i]] = true;
        p.perm[i] = (int)perm[i];
        shape[i] = x->shape[perm[i]];
    }
    TD_TRY(set_params(n, &p, sizeof p));
    td_value_set_shape(td_node_out(g, n, 0), x->dtype, cnt, shape);
    return TD_OK;
}

static td_status transpose_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const transpose_params *p = n->params;
    int64_t istr[TD_MAX_DIMS], stride[TD_MAX_DIMS];
    td_data_strides(in[0].ndim, in[0].shape, istr);
    for (int i = 0; i < out[0].ndim; i++)
        stride[i] = istr[p->perm[i]];
    td_data_strided_copy(out[0].data, in[0].data, out[0].ndim, out[0].shape, stride,
                         td_dtype_size(in[0].dtype), copy_threads(rc, &in[0]));
    return TD_OK;
}

const td_op_def td_op_transpose = {"Transpose",       TD_OPC_DATA,   1,    1,   1, 1, 0,
                                   transpose_prepare, transpose_run, NULL, NULL};

/* ---- Concat ---- */

typedef struct {
    int axis;
} axis_params;

static td_status concat_prepare(td_graph *g, td_node *n)
{
    td_value *x0;
    TD_TRY(td_data_input(g, n, 0, &x0));
    if (!td_node_attr(n, "axis"))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute 'axis' is required");
    int64_t a;
    TD_TRY(td_attr_int(n, "axis", 0, &a));
    axis_params p;
    TD_TRY(td_norm_axis(n, a, x0->ndim, false, &p.axis));
    int64_t shape[TD_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof shape);
    shape[p.axis] = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        td_value *x;
        TD_TRY(td_data_input(g, n, i, &x));
        if (x->dtype != x0->dtype)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input '%s' is %s, input '%s' is %s",
                                 x->name, td_dtype_name(x->dtype), x0->name,
                                 td_dtype_name(x0->dtype));
        if (x->ndim != x0->ndim)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "input '%s' has rank %d, input '%s' has rank %d", x->name, x->ndim,
                                 x0->name, x0->ndim);
        for (int d = 0; d < x->ndim; d++)
            if (d != p.axis && x->shape[d] != x0->shape[d])
                return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                     "input '%s' has dimension %d = %lld, input '%s' has %lld",
                                     x->name, d, (long long)x->shape[d], x0->name,
                                     (long long)x0->shape[d]);
        shape[p.axis] += x->shape[p.axis];
    }
    TD_TRY(set_params(n, &p, sizeof p));
    td_value_set_shape(td_node_out(g, n, 0), x0->dtype, x0->ndim, shape);
    return TD_OK;
}

static td_status concat_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const axis_params *p = n->params;
    size_t esz = td_dtype_size(out[0].dtype);
    int64_t outer = td_shape_numel(p->axis, out[0].shape);
    int64_t inner = td_shape_numel(out[0].ndim - p->axis - 1, out[0].shape + p->axis + 1);
    size_t out_row = (size_t)(out[0].shape[p->axis] * inner) * esz;
    int threads = copy_threads(rc, &out[0]);
    size_t col = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        size_t row = (size_t)(in[i].shape[p->axis] * inner) * esz;
        const char *s = in[i].data;
        char *d = (char *)out[0].data + col;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t o = 0; o < outer; o++)
            memcpy(d + (size_t)o * out_row, s + (size_t)o * row, row);
        col += row;
    }
    return TD_OK;
}

const td_op_def td_op_concat = {"Concat", TD_OPC_DATA,    1,          65536, 1,   1,
                                0,        concat_prepare, concat_run, NULL,  NULL};

/* ---- Slice ---- */

typedef struct {
    int64_t start[TD_MAX_DIMS], step[TD_MAX_DIMS];
} slice_params;

/* The spec's clamping: the count of elements start, start+step, ... before end. */
static int64_t slice_axis(int64_t dim, int64_t *start, int64_t end, int64_t step)
{
    int64_t s = *start;
    if (s < 0)
        s += dim;
    if (end < 0)
        end += dim;
    int64_t cnt;
    if (step > 0) {
        s = s < 0 ? 0 : s > dim ? dim : s;
        end = end < 0 ? 0 : end > dim ? dim : end;
        cnt = end > s ? (end - s + step - 1) / step : 0;
    } else {
        s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
        end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
        cnt = s > end ? (s - end + (-step) - 1) / (-step) : 0;
    }
    *start = cnt > 0 ? s : 0;
    return cnt;
}

static td_status slice_lists(td_graph *g, td_node *n, int64_t *starts, int64_t *ends, int64_t *axes,
                             int64_t *steps, int *cnt, int *n_axes, int *n_steps)
{
    int ne;
    if (n->n_inputs >= 3) { /* opset >= 10 */
        TD_TRY(td_const_ints(g, n, 1, starts, TD_MAX_DIMS, cnt));
        TD_TRY(td_const_ints(g, n, 2, ends, TD_MAX_DIMS, &ne));
        *n_axes = *n_steps = -1;
        if (td_node_in(g, n, 3))
            TD_TRY(td_const_ints(g, n, 3, axes, TD_MAX_DIMS, n_axes));
        if (td_node_in(g, n, 4))
            TD_TRY(td_const_ints(g, n, 4, steps, TD_MAX_DIMS, n_steps));
    } else {
        TD_TRY(td_attr_ints(n, "starts", starts, TD_MAX_DIMS, cnt));
        TD_TRY(td_attr_ints(n, "ends", ends, TD_MAX_DIMS, &ne));
        TD_TRY(td_attr_ints(n, "axes", axes, TD_MAX_DIMS, n_axes));
        if (!td_node_attr(n, "axes"))
            *n_axes = -1;
        *n_steps = -1;
    }
    if (ne != *cnt || (*n_axes >= 0 && *n_axes != *cnt) || (*n_steps >= 0 && *n_steps != *cnt))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "starts, ends, axes and steps must have the same length (%d, %d, "
                             "%d, %d)",
                             *cnt, ne, *n_axes, *n_steps);
    return TD_OK;
}

static td_status slice_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(td_data_input(g, n, 0, &x));
    int64_t starts[TD_MAX_DIMS], ends[TD_MAX_DIMS], axes[TD_MAX_DIMS], steps[TD_MAX_DIMS];
    int cnt, na, ns;
    TD_TRY(slice_lists(g, n, starts, ends, axes, steps, &cnt, &na, &ns));
    if (cnt > x->ndim)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "%d axes sliced for rank %d", cnt,
                             x->ndim);
    slice_params p;
    int64_t shape[TD_MAX_DIMS];
    bool seen[TD_MAX_DIMS] = {false};
    for (int d = 0; d < x->ndim; d++) {
        p.start[d] = 0;
        p.step[d] = 1;
        shape[d] = x->shape[d];
    }
    for (int i = 0; i < cnt; i++) {
        int ax = i;
        if (na >= 0)
            TD_TRY(td_norm_axis(n, axes[i], x->ndim, false, &ax));
        if (seen[ax])
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "axis %d sliced twice", ax);
        seen[ax] = true;
        int64_t step = ns >= 0 ? steps[i] : 1;
        if (step == 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "step for axis %d is 0", ax);
        p.start[ax] = starts[i];
        p.step[ax] = step;
        shape[ax] = slice_axis(x->shape[ax], &p.start[ax], ends[i], step);
    }
    TD_TRY(set_params(n, &p, sizeof p));
    td_value_set_shape(td_node_out(g, n, 0), x->dtype, x->ndim, shape);
    return TD_OK;
}

static td_status slice_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const slice_params *p = n->params;
    if (td_view_numel(&out[0]) == 0)
        return TD_OK;
    int64_t istr[TD_MAX_DIMS], stride[TD_MAX_DIMS], base = 0;
    td_data_strides(in[0].ndim, in[0].shape, istr);
    for (int d = 0; d < in[0].ndim; d++) {
        base += p->start[d] * istr[d];
        stride[d] = istr[d] * p->step[d];
    }
    size_t esz = td_dtype_size(in[0].dtype);
    td_data_strided_copy(out[0].data, (const char *)in[0].data + (size_t)base * esz, out[0].ndim,
                         out[0].shape, stride, esz, copy_threads(rc, &out[0]));
    return TD_OK;
}

const td_op_def td_op_slice = {"Slice", TD_OPC_DATA,   1,         5,    1,   1,
                               0,       slice_prepare, slice_run, NULL, NULL};

/* ---- Gather ---- */

static td_status gather_prepare(td_graph *g, td_node *n)
{
    td_value *x, *idx;
    TD_TRY(td_data_input(g, n, 0, &x));
    TD_TRY(td_data_input(g, n, 1, &idx));
    if (idx->dtype != TD_DT_I64 && idx->dtype != TD_DT_I32)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "indices '%s' must be int64 or int32",
                             idx->name);
    if (x->ndim < 1)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "data '%s' must have rank >= 1", x->name);
    int64_t a;
    TD_TRY(td_attr_int(n, "axis", 0, &a));
    axis_params p;
    TD_TRY(td_norm_axis(n, a, x->ndim, false, &p.axis));
    int r = x->ndim - 1 + idx->ndim;
    if (r > TD_MAX_DIMS)
        return td_node_error(n, TD_CODE_UNSUPPORTED, "output rank %d exceeds %d", r, TD_MAX_DIMS);
    int64_t shape[TD_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < p.axis; d++)
        shape[k++] = x->shape[d];
    for (int d = 0; d < idx->ndim; d++)
        shape[k++] = idx->shape[d];
    for (int d = p.axis + 1; d < x->ndim; d++)
        shape[k++] = x->shape[d];
    TD_TRY(set_params(n, &p, sizeof p));
    td_value_set_shape(td_node_out(g, n, 0), x->dtype, r, shape);
    return TD_OK;
}

static td_status gather_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const axis_params *p = n->params;
    int64_t nidx = td_view_numel(&in[1]), dim = in[0].shape[p->axis];
    int64_t outer = td_shape_numel(p->axis, in[0].shape);
    size_t row = (size_t)td_shape_numel(in[0].ndim - p->axis - 1, in[0].shape + p->axis + 1) *
                 td_dtype_size(in[0].dtype);
    bool i64 = in[1].dtype == TD_DT_I64;
    for (int64_t q = 0; q < nidx; q++) { /* all checked before any copy */
        int64_t v = i64 ? ((const int64_t *)in[1].data)[q] : ((const int32_t *)in[1].data)[q];
        if (v < -dim || v >= dim)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "index %lld (at position %lld) out of range for axis %d of "
                                 "size %lld",
                                 (long long)v, (long long)q, p->axis, (long long)dim);
    }
    const char *s = in[0].data;
    char *d = out[0].data;
    int threads = copy_threads(rc, &out[0]);
    /* For an embedding table (axis 0 of 2-D) this is one row memcpy per token. */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < outer * nidx; t++) {
        int64_t o = t / nidx, q = t % nidx;
        int64_t v = i64 ? ((const int64_t *)in[1].data)[q] : ((const int32_t *)in[1].data)[q];
        if (v < 0)
            v += dim;
        memcpy(d + (size_t)t * row, s + (size_t)(o * dim + v) * row, row);
    }
    return TD_OK;
}

const td_op_def td_op_gather = {"Gather", TD_OPC_DATA,    2,          2,    1,   1,
                                0,        gather_prepare, gather_run, NULL, NULL};

/* ---- Expand ---- */

static td_status expand_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(td_data_input(g, n, 0, &x));
    int64_t target[TD_MAX_DIMS], shape[TD_MAX_DIMS];
    int cnt, r;
    TD_TRY(td_const_ints(g, n, 1, target, TD_MAX_DIMS, &cnt));
    for (int i = 0; i < cnt; i++)
        if (target[i] < 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "shape dimension %d is %lld", i,
                                 (long long)target[i]);
    TD_TRY(td_broadcast_shape(n, x->ndim, x->shape, cnt, target, &r, shape));
    td_value_set_shape(td_node_out(g, n, 0), x->dtype, r, shape);
    return TD_OK;
}

static td_status expand_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    (void)n;
    int64_t istr[TD_MAX_DIMS], stride[TD_MAX_DIMS];
    td_data_strides(in[0].ndim, in[0].shape, istr);
    int lead = out[0].ndim - in[0].ndim;
    for (int d = 0; d < out[0].ndim; d++) {
        int k = d - lead;
        stride[d] = (k < 0 || in[0].shape[k] == 1) ? 0 : istr[k];
    }
    td_data_strided_copy(out[0].data, in[0].data, out[0].ndim, out[0].shape, stride,
                         td_dtype_size(in[0].dtype), copy_threads(rc, &out[0]));
    return TD_OK;
}

const td_op_def td_op_expand = {"Expand", TD_OPC_DATA,    2,          2,    1,   1,
                                0,        expand_prepare, expand_run, NULL, NULL};

/* ---- Tile ---- */

static td_status tile_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(td_data_input(g, n, 0, &x));
    int64_t reps[TD_MAX_DIMS], shape[TD_MAX_DIMS];
    int cnt;
    TD_TRY(td_const_ints(g, n, 1, reps, TD_MAX_DIMS, &cnt));
    if (cnt != x->ndim)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "repeats has %d values for rank %d", cnt,
                             x->ndim);
    for (int i = 0; i < cnt; i++) {
        if (reps[i] < 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "repeat %d is %lld", i,
                                 (long long)reps[i]);
        if (reps[i] && x->shape[i] > INT64_MAX / reps[i])
            return td_node_error(n, TD_CODE_OVERFLOW, "output is too large");
        shape[i] = x->shape[i] * reps[i];
    }
    td_value_set_shape(td_node_out(g, n, 0), x->dtype, cnt, shape);
    return TD_OK;
}

static td_status tile_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    (void)n;
    /* Output dim k of size reps*d is walked as (rep, i) with input strides (0, stride_k). */
    int64_t istr[TD_MAX_DIMS], shape[TD_DATA_MAX_WALK], stride[TD_DATA_MAX_WALK];
    td_data_strides(in[0].ndim, in[0].shape, istr);
    for (int d = 0; d < in[0].ndim; d++) {
        shape[2 * d] = in[0].shape[d] ? out[0].shape[d] / in[0].shape[d] : 0;
        stride[2 * d] = 0;
        shape[2 * d + 1] = in[0].shape[d];
        stride[2 * d + 1] = istr[d];
    }
    td_data_strided_copy(out[0].data, in[0].data, 2 * in[0].ndim, shape, stride,
                         td_dtype_size(in[0].dtype), copy_threads(rc, &out[0]));
    return TD_OK;
}

const td_op_def td_op_tile = {"Tile", TD_OPC_DATA,  2,        2,    1,   1,
                              0,      tile_prepare, tile_run, NULL, NULL};

/* ---- Split ---- */

static td_status split_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(td_data_input(g, n, 0, &x));
    int64_t a;
    TD_TRY(td_attr_int(n, "axis", 0, &a));
    axis_params p;
    TD_TRY(td_norm_axis(n, a, x->ndim, false, &p.axis));
    int64_t dim = x->shape[p.axis], sizes[TD_MAX_DIMS * 8];
    int no = n->n_outputs, cnt = 0;
    if (no > (int)(sizeof sizes / sizeof sizes[0]))
        return td_node_error(n, TD_CODE_UNSUPPORTED, "%d outputs, at most %d", no,
                             (int)(sizeof sizes / sizeof sizes[0]));
    const int cap = (int)(sizeof sizes / sizeof sizes[0]);
    if (td_node_in(g, n, 1))
        TD_TRY(td_const_ints(g, n, 1, sizes, cap, &cnt));
    else
        TD_TRY(td_attr_ints(n, "split", sizes, cap, &cnt));
    if (cnt == 0) {
        int64_t num;
        TD_TRY(td_attr_int(n, "num_outputs", no, &num));
        if (num != no)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "num_outputs %lld but %d outputs",
                                 (long long)num, no);
        /* opset 18 num_outputs lets the last part be smaller; without it parts are equal */
        int64_t part = td_node_attr(n, "num_outputs") ? (dim + no - 1) / no : dim / no;
        if (!td_node_attr(n, "num_outputs") && dim % no)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "axis %d of size %lld does not split into %d equal parts", p.axis,
                                 (long long)dim, no);
        for (int i = 0; i < no; i++) {
            int64_t left = dim - part * i;
            sizes[i] = left < 0 ? 0 : left < part ? left : part;
        }
        cnt = no;
    }
    if (cnt != no)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "split has %d sizes for %d outputs", cnt,
                             no);
    int64_t sum = 0;
    for (int i = 0; i < no; i++) {
        if (sizes[i] < 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "split size %d is %lld", i,
                                 (long long)sizes[i]);
        sum += sizes[i];
    }
    if (sum != dim)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "split sizes add up to %lld, axis %d has %lld", (long long)sum, p.axis,
                             (long long)dim);
    int64_t shape[TD_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    for (int i = 0; i < no; i++) {
        shape[p.axis] = sizes[i];
        td_value_set_shape(td_node_out(g, n, i), x->dtype, x->ndim, shape);
    }
    return set_params(n, &p, sizeof p);
}

static td_status split_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    (void)rc;
    const axis_params *p = n->params;
    size_t esz = td_dtype_size(in[0].dtype);
    int64_t outer = td_shape_numel(p->axis, in[0].shape);
    int64_t inner = td_shape_numel(in[0].ndim - p->axis - 1, in[0].shape + p->axis + 1);
    size_t in_row = (size_t)(in[0].shape[p->axis] * inner) * esz, col = 0;
    for (int i = 0; i < n->n_outputs; i++) {
        size_t row = (size_t)(out[i].shape[p->axis] * inner) * esz;
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)out[i].data + (size_t)o * row,
                   (const char *)in[0].data + (size_t)o * in_row + col, row);
        col += row;
    }
    return TD_OK;
}

const td_op_def td_op_split = {"Split", TD_OPC_DATA,   1,         2,    1,   64,
                               0,       split_prepare, split_run, NULL, NULL};
