/* Helpers shared by operator implementations: attribute access, shapes, errors. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph/op.h"

td_status td_node_error(const td_node *n, td_code code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return td_error_new(code, "node '%s' (%s): %s", n->name, n->op_type, msg);
}

td_status td_node_wrap(const td_node *n, td_status st)
{
    if (!st)
        return TD_OK;
    td_status e = td_node_error(n, td_status_code(st), "%s", td_status_message(st));
    td_status_free(st);
    return e;
}

td_status td_attr_int(const td_node *n, const char *name, int64_t def, int64_t *out)
{
    const td_attr *a = td_node_attr(n, name);
    if (!a) {
        *out = def;
        return TD_OK;
    }
    if (a->type != TD_ATTR_INT)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute '%s' must be an integer",
                             name);
    *out = a->i;
    return TD_OK;
}

td_status td_attr_float(const td_node *n, const char *name, float def, float *out)
{
    const td_attr *a = td_node_attr(n, name);
    if (!a) {
        *out = def;
        return TD_OK;
    }
    if (a->type == TD_ATTR_INT) { /* some exporters write 1 for 1.0 */
        *out = (float)a->i;
        return TD_OK;
    }
    if (a->type != TD_ATTR_FLOAT)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute '%s' must be a float", name);
    *out = a->f;
    return TD_OK;
}

td_status td_attr_ints(const td_node *n, const char *name, int64_t *out, int cap, int *count)
{
    const td_attr *a = td_node_attr(n, name);
    *count = 0;
    if (!a)
        return TD_OK;
    if (a->type != TD_ATTR_INTS)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute '%s' must be a list of ints",
                             name);
    if (a->n > cap)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "attribute '%s' has %d values, at most %d supported", name, a->n, cap);
    memcpy(out, a->ints, (size_t)a->n * sizeof *out);
    *count = a->n;
    return TD_OK;
}

td_value *td_node_in(td_graph *g, const td_node *n, int i)
{
    if (i < 0 || i >= n->n_inputs || n->inputs[i] < 0)
        return NULL;
    return &g->values[n->inputs[i]];
}

td_value *td_node_out(td_graph *g, const td_node *n, int i)
{
    if (i < 0 || i >= n->n_outputs)
        return NULL;
    return &g->values[n->outputs[i]];
}

int64_t td_value_bytes(const td_value *v)
{
    int64_t n = td_shape_numel(v->ndim, v->shape);
    return n < 0 ? 0 : n * (int64_t)td_dtype_size(v->dtype);
}

void td_value_set_shape(td_value *v, td_dtype dt, int ndim, const int64_t *shape)
{
    v->dtype = dt;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        v->shape[i] = shape[i];
}

int64_t td_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

td_status td_norm_axis(const td_node *n, int64_t axis, int ndim, bool insert, int *out)
{
    int64_t r = insert ? ndim + 1 : ndim;
    if (axis < -r || axis >= r)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "axis %lld out of range for rank %d",
                             (long long)axis, ndim);
    *out = (int)(axis < 0 ? axis + r : axis);
    return TD_OK;
}

td_status td_broadcast_shape(const td_node *n, int na, const int64_t *a, int nb, const int64_t *b,
                             int *nout, int64_t *out)
{
    int r = na > nb ? na : nb;
    for (int i = 0; i < r; i++) {
        int64_t da = i < r - na ? 1 : a[i - (r - na)];
        int64_t db = i < r - nb ? 1 : b[i - (r - nb)];
        if (da != db && da != 1 && db != 1)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "shapes do not broadcast: dimension %d is %lld vs %lld", i,
                                 (long long)da, (long long)db);
        out[i] = da == 1 ? db : da;
    }
    *nout = r;
    return TD_OK;
}

td_status td_const_ints(const td_graph *g, const td_node *n, int input, int64_t *out, int cap,
                        int *count)
{
    if (input >= n->n_inputs || n->inputs[input] < 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d is missing", input);
    const td_value *v = &g->values[n->inputs[input]];
    if (!v->data)
        return td_node_error(n, TD_CODE_UNSUPPORTED,
                             "input '%s' must be known before running (a constant or an input "
                             "given data); computed shapes are not supported",
                             v->name);
    if (v->ndim > 1)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input '%s' must be 1-D", v->name);
    int64_t cnt = v->ndim == 0 ? 1 : v->shape[0];
    if (cnt > cap)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input '%s' has %lld values, at most %d",
                             v->name, (long long)cnt, cap);
    for (int64_t i = 0; i < cnt; i++) {
        if (v->dtype == TD_DT_I64)
            out[i] = ((const int64_t *)v->data)[i];
        else if (v->dtype == TD_DT_I32)
            out[i] = ((const int32_t *)v->data)[i];
        else
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input '%s' must be int64 or int32",
                                 v->name);
    }
    *count = (int)cnt;
    return TD_OK;
}
