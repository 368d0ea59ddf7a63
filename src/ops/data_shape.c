/* Shape operators: Reshape, Flatten, Squeeze, Unsqueeze (views: output 0 is input 0's bytes),
 * Shape, Constant, ConstantOfShape and Range. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/data_internal.h"
#include "ops/ops_common.h"

/* Axes from input `input` when present (opset >= 13 style), else from the attribute. */
static td_status axes_of(td_graph *g, const td_node *n, int input, int64_t *axes, int *count,
                         bool *given)
{
    if (td_node_in(g, n, input)) {
        *given = true;
        return td_const_ints(g, n, input, axes, TD_MAX_DIMS, count);
    }
    *given = td_node_attr(n, "axes") != NULL;
    return td_attr_ints(n, "axes", axes, TD_MAX_DIMS, count);
}

/* ---- Reshape ---- */

static td_status reshape_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(td_data_input(g, n, 0, &x));
    int64_t shape[TD_MAX_DIMS];
    int cnt;
    TD_TRY(td_const_ints(g, n, 1, shape, TD_MAX_DIMS, &cnt));
    int64_t allowzero;
    TD_TRY(td_attr_int(n, "allowzero", 0, &allowzero));
    int infer = -1;
    bool zero = false;
    for (int i = 0; i < cnt; i++) {
        if (shape[i] == -1) {
            if (infer >= 0)
                return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                     "shape has more than one -1 (dimensions %d and %d)", infer, i);
            infer = i;
        } else if (shape[i] < -1) {
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "shape dimension %d is %lld", i,
                                 (long long)shape[i]);
        } else if (shape[i] == 0 && !allowzero) {
            if (i >= x->ndim)
                return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                     "shape dimension %d is 0 (copy) but the input has rank %d", i,
                                     x->ndim);
            shape[i] = x->shape[i];
        } else if (shape[i] == 0) {
            zero = true;
        }
    }
    if (zero && infer >= 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "allowzero=1 with both 0 and -1 in the shape");
    int64_t in_numel = td_shape_numel(x->ndim, x->shape), known = 1;
    for (int i = 0; i < cnt; i++) {
        if (i == infer)
            continue;
        if (shape[i] != 0 && known > INT64_MAX / shape[i])
            return td_node_error(n, TD_CODE_OVERFLOW, "shape is too large");
        known *= shape[i];
    }
    char a[160], b[160];
    if (infer >= 0) {
        if (known == 0 || in_numel % known != 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "cannot infer the -1 of shape %s from %lld elements",
                                 td_data_shape_str(cnt, shape, a, sizeof a), (long long)in_numel);
        shape[infer] = in_numel / known;
        known = in_numel;
    }
    if (known != in_numel)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "cannot reshape %s (%lld elements) to %s",
                             td_data_shape_str(x->ndim, x->shape, a, sizeof a), (long long)in_numel,
                             td_data_shape_str(cnt, shape, b, sizeof b));
    td_value_set_shape(td_node_out(g, n, 0), x->dtype, cnt, shape);
    return TD_OK;
}

const td_op_def td_op_reshape = {"Reshape",       TD_OPC_DATA,      2,    2,   1, 1, TD_OPF_VIEW,
                                 reshape_prepare, td_data_view_run, NULL, NULL};

/* ---- Flatten ---- */

static td_status flatten_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(td_data_input(g, n, 0, &x));
    int64_t axis;
    TD_TRY(td_attr_int(n, "axis", 1, &axis));
    if (axis < -x->ndim || axis > x->ndim)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "axis %lld out of range for rank %d",
                             (long long)axis, x->ndim);
    if (axis < 0)
        axis += x->ndim;
    int64_t shape[2] = {td_shape_numel((int)axis, x->shape),
                        td_shape_numel(x->ndim - (int)axis, x->shape + axis)};
    td_value_set_shape(td_node_out(g, n, 0), x->dtype, 2, shape);
    return TD_OK;
}

const td_op_def td_op_flatten = {"Flatten",       TD_OPC_DATA,      1,    1,   1, 1, TD_OPF_VIEW,
                                 flatten_prepare, td_data_view_run, NULL, NULL};

/* ---- Squeeze ---- */

static td_status squeeze_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(td_data_input(g, n, 0, &x));
    int64_t axes[TD_MAX_DIMS];
    int cnt;
    bool given;
    TD_TRY(axes_of(g, n, 1, axes, &cnt, &given));
    bool drop[TD_MAX_DIMS] = {false};
    for (int i = 0; i < cnt; i++) {
        int ax;
        TD_TRY(td_norm_axis(n, axes[i], x->ndim, false, &ax));
        if (drop[ax])
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "axis %d given twice", ax);
        if (x->shape[ax] != 1)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "cannot squeeze axis %d of size %lld (must be 1)", ax,
                                 (long long)x->shape[ax]);
        drop[ax] = true;
    }
    int64_t shape[TD_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!(cnt ? drop[i] : x->shape[i] == 1))
            shape[r++] = x->shape[i];
    td_value_set_shape(td_node_out(g, n, 0), x->dtype, r, shape);
    return TD_OK;
}

const td_op_def td_op_squeeze = {"Squeeze",       TD_OPC_DATA,      1,    2,   1, 1, TD_OPF_VIEW,
                                 squeeze_prepare, td_data_view_run, NULL, NULL};

/* ---- Unsqueeze ---- */

static td_status unsqueeze_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(td_data_input(g, n, 0, &x));
    int64_t axes[TD_MAX_DIMS];
    int cnt;
    bool given;
    TD_TRY(axes_of(g, n, 1, axes, &cnt, &given));
    if (!given)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "axes are required");
    int r = x->ndim + cnt;
    if (r > TD_MAX_DIMS)
        return td_node_error(n, TD_CODE_UNSUPPORTED, "output rank %d exceeds %d", r, TD_MAX_DIMS);
    bool ins[TD_MAX_DIMS] = {false};
    for (int i = 0; i < cnt; i++) {
        if (axes[i] < -r || axes[i] >= r)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "axis %lld out of range for output rank %d", (long long)axes[i],
                                 r);
        int ax = (int)(axes[i] < 0 ? axes[i] + r : axes[i]);
        if (ins[ax])
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "axis %d given twice", ax);
        ins[ax] = true;
    }
    int64_t shape[TD_MAX_DIMS];
    for (int i = 0, k = 0; i < r; i++)
        shape[i] = ins[i] ? 1 : x->shape[k++];
    td_value_set_shape(td_node_out(g, n, 0), x->dtype, r, shape);
    return TD_OK;
}

const td_op_def td_op_unsqueeze = {
    "Unsqueeze",       TD_OPC_DATA,      1,    2,   1, 1, TD_OPF_VIEW,
    unsqueeze_prepare, td_data_view_run, NULL, NULL};

/* ---- Shape ---- */

typedef struct {
    int start, len;
} shape_params;

static td_status shape_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(td_data_input(g, n, 0, &x));
    int64_t start, end;
    TD_TRY(td_attr_int(n, "start", 0, &start));
    TD_TRY(td_attr_int(n, "end", x->ndim, &end));
    int64_t r = x->ndim;
    if (start < 0)
        start += r;
    if (end < 0)
        end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    shape_params *p = malloc(sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    p->start = (int)start;
    p->len = end > start ? (int)(end - start) : 0;
    td_ops_set_params(n, p);
    int64_t len = p->len;
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_I64, 1, &len);
    return TD_OK;
}

static td_status shape_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    (void)rc;
    const shape_params *p = n->params;
    for (int i = 0; i < p->len; i++)
        ((int64_t *)out[0].data)[i] = in[0].shape[p->start + i];
    return TD_OK;
}

const td_op_def td_op_shape = {"Shape", TD_OPC_DATA,   1,         1,    1,   1,
                               0,       shape_prepare, shape_run, NULL, NULL};

/* ---- Constant ---- */

typedef struct {
    td_view value; /* data points into the node's attribute, or at `scalar` */
    union {
        float f;
        int64_t i;
    } scalar;
} constant_params;

static td_status constant_prepare(td_graph *g, td_node *n)
{
    constant_params *p = calloc(1, sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    td_ops_set_params(n, p);
    const td_attr *a = NULL;
    int found = 0;
    for (int i = 0; i < n->n_attrs; i++) {
        const char *nm = n->attrs[i].name;
        if (strncmp(nm, "value", 5) == 0 || strcmp(nm, "sparse_value") == 0) {
            a = &n->attrs[i];
            found++;
        }
    }
    if (found != 1)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "needs exactly one value attribute, got %d", found);
    td_view *v = &p->value;
    if (strcmp(a->name, "value") == 0 && a->type == TD_ATTR_TENSOR) {
        *v = a->tensor;
    } else if (strcmp(a->name, "value_float") == 0 && a->type == TD_ATTR_FLOAT) {
        p->scalar.f = a->f;
        *v = (td_view){.dtype = TD_DT_F32, .ndim = 0, .data = &p->scalar.f};
    } else if (strcmp(a->name, "value_int") == 0 && a->type == TD_ATTR_INT) {
        p->scalar.i = a->i;
        *v = (td_view){.dtype = TD_DT_I64, .ndim = 0, .data = &p->scalar.i};
    } else if (strcmp(a->name, "value_floats") == 0 && a->type == TD_ATTR_FLOATS) {
        *v = (td_view){.dtype = TD_DT_F32, .ndim = 1, .shape = {a->n}, .data = a->floats};
    } else if (strcmp(a->name, "value_ints") == 0 && a->type == TD_ATTR_INTS) {
        *v = (td_view){.dtype = TD_DT_I64, .ndim = 1, .shape = {a->n}, .data = a->ints};
    } else {
        return td_node_error(n, TD_CODE_UNSUPPORTED, "attribute '%s' is not supported", a->name);
    }
    td_value_set_shape(td_node_out(g, n, 0), v->dtype, v->ndim, v->shape);
    return TD_OK;
}

static td_status constant_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    (void)rc;
    (void)in;
    const constant_params *p = n->params;
    size_t bytes;
    TD_TRY(td_view_bytes(&p->value, n->name, &bytes));
    if (bytes)
        memcpy(out[0].data, p->value.data, bytes);
    return TD_OK;
}

const td_op_def td_op_constant = {"Constant",       TD_OPC_DATA,  0,    0,   1, 1, 0,
                                  constant_prepare, constant_run, NULL, NULL};

/* ---- ConstantOfShape ---- */

typedef struct {
    unsigned char value[16];
} cos_params;

static td_status cos_prepare(td_graph *g, td_node *n)
{
    int64_t shape[TD_MAX_DIMS];
    int cnt;
    TD_TRY(td_const_ints(g, n, 0, shape, TD_MAX_DIMS, &cnt));
    for (int i = 0; i < cnt; i++)
        if (shape[i] < 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "shape dimension %d is %lld", i,
                                 (long long)shape[i]);
    cos_params *p = calloc(1, sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    td_ops_set_params(n, p);
    td_dtype dt = TD_DT_F32;
    const td_attr *a = td_node_attr(n, "value");
    if (a) {
        if (a->type != TD_ATTR_TENSOR || td_view_numel(&a->tensor) != 1)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "attribute 'value' must be a one-element tensor");
        dt = a->tensor.dtype;
        memcpy(p->value, a->tensor.data, td_dtype_size(dt));
    }
    if (td_shape_numel(cnt, shape) < 0)
        return td_node_error(n, TD_CODE_OVERFLOW, "output is too large");
    td_value_set_shape(td_node_out(g, n, 0), dt, cnt, shape);
    return TD_OK;
}

static td_status cos_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    (void)rc;
    (void)in;
    const cos_params *p = n->params;
    size_t esz = td_dtype_size(out[0].dtype);
    int64_t cnt = td_view_numel(&out[0]);
    char *d = out[0].data;
    for (int64_t i = 0; i < cnt; i++)
        memcpy(d + (size_t)i * esz, p->value, esz);
    return TD_OK;
}

const td_op_def td_op_constant_of_shape = {"ConstantOfShape", TD_OPC_DATA, 1,    1,   1, 1, 0,
                                           cos_prepare,       cos_run,     NULL, NULL};

/* ---- Range ---- */

static bool range_dtype_ok(td_dtype dt)
{
    return dt == TD_DT_F32 || dt == TD_DT_F64 || dt == TD_DT_I16 || dt == TD_DT_I32 ||
           dt == TD_DT_I64;
}

static double scalar_f(td_dtype dt, const void *p)
{
    switch (dt) {
    case TD_DT_F32:
        return *(const float *)p;
    case TD_DT_F64:
        return *(const double *)p;
    case TD_DT_I16:
        return *(const int16_t *)p;
    case TD_DT_I32:
        return *(const int32_t *)p;
    default:
        return (double)*(const int64_t *)p;
    }
}

static int64_t scalar_i(td_dtype dt, const void *p)
{
    switch (dt) {
    case TD_DT_I16:
        return *(const int16_t *)p;
    case TD_DT_I32:
        return *(const int32_t *)p;
    default:
        return *(const int64_t *)p;
    }
}

static bool is_float(td_dtype dt)
{
    return dt == TD_DT_F32 || dt == TD_DT_F64;
}

/* Element count ceil((limit - start) / delta), at least 0. */
static td_status range_count(const td_node *n, td_dtype dt, const void *s, const void *l,
                             const void *d, int64_t *out)
{
    if (is_float(dt)) {
        double start = scalar_f(dt, s), limit = scalar_f(dt, l), delta = scalar_f(dt, d);
        if (dt == TD_DT_F32) /* the spec's arithmetic is in the input type */
            delta = (float)delta;
        if (delta == 0 || isnan(delta) || isnan(start) || isnan(limit))
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "delta is 0 or a value is NaN");
        double c = ceil((limit - start) / delta);
        if (!(c < 9.2e18))
            return td_node_error(n, TD_CODE_OVERFLOW, "range has too many elements");
        *out = c > 0 ? (int64_t)c : 0;
        return TD_OK;
    }
    int64_t start = scalar_i(dt, s), limit = scalar_i(dt, l), delta = scalar_i(dt, d);
    if (delta == 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "delta is 0");
    /* inputs are at most int64; compare in double-free integer steps to avoid overflow */
    if ((delta > 0 && limit <= start) || (delta < 0 && limit >= start)) {
        *out = 0;
        return TD_OK;
    }
    uint64_t span =
        delta > 0 ? (uint64_t)limit - (uint64_t)start : (uint64_t)start - (uint64_t)limit;
    uint64_t step = delta > 0 ? (uint64_t)delta : (uint64_t)0 - (uint64_t)delta;
    *out = (int64_t)((span + step - 1) / step);
    return TD_OK;
}

static td_status range_prepare(td_graph *g, td_node *n)
{
    const td_value *v[3];
    for (int i = 0; i < 3; i++) {
        v[i] = td_node_in(g, n, i);
        if (!v[i] || v[i]->ndim < 0)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d is missing", i);
        if (td_shape_numel(v[i]->ndim, v[i]->shape) != 1)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input '%s' must be a scalar",
                                 v[i]->name);
        if (v[i]->dtype != v[0]->dtype || !range_dtype_ok(v[i]->dtype))
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "inputs must share one of f32, f64, i16, i32, i64");
        if (!v[i]->data)
            return td_node_error(n, TD_CODE_UNSUPPORTED,
                                 "input '%s' must be known before running (a constant or an "
                                 "input given data)",
                                 v[i]->name);
    }
    int64_t cnt = 0;
    TD_TRY(range_count(n, v[0]->dtype, v[0]->data, v[1]->data, v[2]->data, &cnt));
    td_value_set_shape(td_node_out(g, n, 0), v[0]->dtype, 1, &cnt);
    return TD_OK;
}

static td_status range_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    (void)rc;
    td_dtype dt = in[0].dtype;
    int64_t cnt = 0;
    TD_TRY(range_count(n, dt, in[0].data, in[1].data, in[2].data, &cnt));
    if (cnt != out[0].shape[0])
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "inputs changed since prepare: %lld elements instead of %lld",
                             (long long)cnt, (long long)out[0].shape[0]);
    for (int64_t i = 0; i < cnt; i++) {
        switch (dt) {
        case TD_DT_F32: {
            float s = *(const float *)in[0].data, d = *(const float *)in[2].data;
            ((float *)out[0].data)[i] = s + (float)i * d;
            break;
        }
        case TD_DT_F64: {
            double s = *(const double *)in[0].data, d = *(const double *)in[2].data;
            ((double *)out[0].data)[i] = s + (double)i * d;
            break;
        }
        default: {
            uint64_t v = (uint64_t)scalar_i(dt, in[0].data) +
                         (uint64_t)i * (uint64_t)scalar_i(dt, in[2].data);
            if (dt == TD_DT_I16)
                ((int16_t *)out[0].data)[i] = (int16_t)v;
            else if (dt == TD_DT_I32)
                ((int32_t *)out[0].data)[i] = (int32_t)v;
            else
                ((int64_t *)out[0].data)[i] = (int64_t)v;
        }
        }
    }
    return TD_OK;
}

const td_op_def td_op_range = {"Range", TD_OPC_DATA,   3,         3,    1,   1,
                               0,       range_prepare, range_run, NULL, NULL};
