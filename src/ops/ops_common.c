/* Helpers shared by the operator families. */
#include <stdlib.h>
#include <string.h>

#include "ops/ops_common.h"

td_status td_bcast_init(td_bcast *b, int nin, const td_view *const *ins, const td_view *out)
{
    memset(b, 0, sizeof *b);
    if (nin < 1 || nin > TD_BCAST_MAX_IN)
        return td_error_new(TD_CODE_INTERNAL, "broadcast: %d inputs", nin);
    b->nin = nin;
    int r = out->ndim;
    int64_t dims[TD_MAX_DIMS];
    int64_t str[TD_BCAST_MAX_IN][TD_MAX_DIMS];
    int nd = 0;
    int64_t total = 1;
    for (int d = 0; d < r; d++)
        total *= out->shape[d];
    for (int d = 0; d < r; d++) {
        if (out->shape[d] == 1)
            continue; /* size-1 dims never move any pointer */
        dims[nd] = out->shape[d];
        for (int i = 0; i < nin; i++) {
            int di = d - (r - ins[i]->ndim);
            if (di < 0 || ins[i]->shape[di] == 1) {
                str[i][nd] = 0;
                continue;
            }
            if (ins[i]->shape[di] != out->shape[d])
                return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                    "broadcast: input %d dimension %d is %lld, output has %lld", i,
                                    di, (long long)ins[i]->shape[di], (long long)out->shape[d]);
            int64_t s = 1;
            for (int k = di + 1; k < ins[i]->ndim; k++)
                s *= ins[i]->shape[k];
            str[i][nd] = s;
        }
        nd++;
    }
    for (int i = 0; i < nin; i++)
        if (ins[i]->ndim > r)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "broadcast: input %d has rank %d > %d", i,
                                ins[i]->ndim, r);
    /* Merge dim j into its inner neighbour when every input walks both as one. */
    int m = 0;
    for (int j = 0; j < nd; j++) {
        if (m > 0) {
            bool ok = true;
            for (int i = 0; i < nin; i++)
                if (str[i][m - 1] != str[i][j] * dims[j])
                    ok = false;
            if (ok) {
                dims[m - 1] *= dims[j];
                for (int i = 0; i < nin; i++)
                    str[i][m - 1] = str[i][j];
                continue;
            }
        }
        dims[m] = dims[j];
        for (int i = 0; i < nin; i++)
            str[i][m] = str[i][j];
        m++;
    }
    b->total = total;
    if (m == 0) {
        b->inner = 1;
        b->outer = total == 0 ? 0 : 1;
        return TD_OK;
    }
    b->inner = dims[m - 1];
    for (int i = 0; i < nin; i++)
        b->inner_step[i] = str[i][m - 1];
    b->ndim = m - 1;
    b->outer = 1;
    for (int j = 0; j < m - 1; j++) {
        b->dims[j] = dims[j];
        for (int i = 0; i < nin; i++)
            b->strides[i][j] = str[i][j];
        b->outer *= dims[j];
    }
    if (total == 0)
        b->outer = 0;
    return TD_OK;
}

void td_bcast_run_offsets(const td_bcast *b, int64_t run, int64_t *off)
{
    for (int i = 0; i < b->nin; i++)
        off[i] = 0;
    for (int j = b->ndim - 1; j >= 0 && run > 0; j--) {
        int64_t q = run / b->dims[j], c = run - q * b->dims[j];
        run = q;
        for (int i = 0; i < b->nin; i++)
            off[i] += c * b->strides[i][j];
    }
}

td_status td_ops_broadcast_inputs(td_graph *g, const td_node *n, int first, int count, int *ndim,
                                  int64_t *shape)
{
    *ndim = 0;
    for (int i = first; i < first + count; i++) {
        const td_value *v = td_node_in(g, n, i);
        if (!v)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d is missing", i);
        int64_t tmp[TD_MAX_DIMS];
        int nt;
        TD_TRY(td_broadcast_shape(n, *ndim, shape, v->ndim, v->shape, &nt, tmp));
        *ndim = nt;
        memcpy(shape, tmp, (size_t)nt * sizeof *tmp);
    }
    return TD_OK;
}

td_status td_ops_require(td_graph *g, const td_node *n, int i, td_dtype dt)
{
    const td_value *v = td_node_in(g, n, i);
    if (!v)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d is missing", i);
    if (v->ndim < 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d ('%s') has no known shape", i,
                             v->name);
    if (v->dtype != dt)
        return td_node_error(n, TD_CODE_UNSUPPORTED, "input %d ('%s') is %s, expected %s", i,
                             v->name, td_dtype_name(v->dtype), td_dtype_name(dt));
    return TD_OK;
}

td_status td_ops_require_f32(td_graph *g, const td_node *n, int i)
{
    return td_ops_require(g, n, i, TD_DT_F32);
}

int64_t td_ops_const_params(const td_graph *g, const td_node *n)
{
    int64_t p = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        if (n->inputs[i] < 0)
            continue;
        const td_value *v = &g->values[n->inputs[i]];
        if (v->kind != TD_VALUE_CONST || v->ndim < 0)
            continue;
        int64_t c = td_shape_numel(v->ndim, v->shape);
        if (c > 0)
            p += c;
    }
    return p;
}

int64_t td_ops_out_numel(const td_graph *g, const td_node *n, int i)
{
    if (i >= n->n_outputs)
        return 0;
    const td_value *v = &g->values[n->outputs[i]];
    if (v->ndim < 0)
        return 0;
    int64_t c = td_shape_numel(v->ndim, v->shape);
    return c < 0 ? 0 : c;
}

int td_ops_threads(const td_op_run *rc, int64_t work)
{
    int t = rc && rc->ctx && rc->ctx->threads > 0 ? rc->ctx->threads : 1;
    const int64_t grain = 1 << 15;
    if (work < 2 * grain)
        return 1;
    if (work / grain < t)
        t = (int)(work / grain);
    return t < 1 ? 1 : t;
}

void td_ops_set_params(td_node *n, void *p)
{
    if (n->params) {
        if (n->def && n->def->free_params)
            n->def->free_params(n->params);
        else
            free(n->params);
    }
    n->params = p;
}
