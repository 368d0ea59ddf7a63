/* ONNX DeformConv (opset 19): inputs X, W, offset, B (optional), mask (optional); attributes
 * dilations, group, kernel_shape, offset_group, pads, strides, and Tandem's
 * tandem_offset_range (float r: the limited-range variant, offsets clamped to [-r, r]). 2-D only
 * (rank-4 X), as the kernels (src/kernels/deform) are. A compressed weight (node->qweight, rows =
 * M, cols = C/group*kh*kw, all groups stacked as for Conv) runs the pixel-major path through
 * td_gemm.
 *
 * Cost: MACs = N*M*Ho*Wo*(C/group)*kh*kw as for Conv; other flops count the sampling: per
 * (image, input channel, tap, output pixel) 11 for the bilinear blend (2 complements, 6
 * products, 3 sums) plus 1 for the mask, per (image, offset group, tap, pixel) 6 for the
 * coordinates, and one add per output for the bias. Class TD_OPC_CONV: the same weight/
 * im2col reuse structure as Conv for the cost models. */
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/nn_internal.h"
#include "tandem/deform.h"

typedef struct deform_params {
    td_deform_shape s;
    bool has_bias, has_mask;
} deform_params;

static void shape_str(const int64_t *shape, int ndim, char *buf, size_t len)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

/* Input i (when present) must be f32 with exactly `want` (rank ndim). */
static td_status check_input_shape(td_graph *g, const td_node *n, int i, const char *what, int ndim,
                                   const int64_t *want)
{
    const td_value *v = td_node_in(g, n, i);
    TD_TRY(td_ops_require_f32(g, n, i));
    bool ok = v->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++)
        ok = v->shape[d] == want[d];
    if (ok)
        return TD_OK;
    char got[160], exp[160];
    shape_str(v->shape, v->ndim, got, sizeof got);
    shape_str(want, ndim, exp, sizeof exp);
    return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "%s '%s' has shape %s, expected %s", what,
                         v->name, got, exp);
}

static bool has_input(const td_node *n, int i)
{
    return n->n_inputs > i && n->inputs[i] >= 0;
}

static td_status parse_geometry(td_graph *g, td_node *n, td_deform_shape *s)
{
    const td_value *x = td_node_in(g, n, 0), *w = td_node_in(g, n, 1);
    if (x->ndim != 4)
        return td_node_error(n, TD_CODE_UNSUPPORTED,
                             "input X has rank %d; only 2-D DeformConv (rank 4) is supported",
                             x->ndim);
    if (w->ndim != 4)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "weight '%s' has rank %d, expected 4",
                             w->name, w->ndim);
    if (td_node_attr(n, "auto_pad"))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "DeformConv has no auto_pad attribute; give pads");
    int64_t group, og, ks[2];
    int kc;
    TD_TRY(td_attr_int(n, "group", 1, &group));
    TD_TRY(td_attr_int(n, "offset_group", 1, &og));
    TD_TRY(td_attr_ints(n, "kernel_shape", ks, 2, &kc));
    if (kc != 0 && (kc != 2 || ks[0] != w->shape[2] || ks[1] != w->shape[3]))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "kernel_shape disagrees with weight '%s' (%lld x %lld)", w->name,
                             (long long)w->shape[2], (long long)w->shape[3]);
    if (group < 1 || w->shape[1] * group != x->shape[1])
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "weight '%s' has %lld input channels per group, X has %lld channels "
                             "in %lld groups",
                             w->name, (long long)w->shape[1], (long long)x->shape[1],
                             (long long)group);
    td_window win;
    TD_TRY(td_window_parse(n, 2, x->shape + 2, w->shape + 2, false, true, &win));
    *s = (td_deform_shape){.n = x->shape[0],
                           .c = x->shape[1],
                           .h = x->shape[2],
                           .w = x->shape[3],
                           .m = w->shape[0],
                           .group = group,
                           .offset_group = og,
                           .kh = w->shape[2],
                           .kw = w->shape[3],
                           .sh = win.s[0],
                           .sw = win.s[1],
                           .dh = win.d[0],
                           .dw = win.d[1],
                           .pt = win.pb[0],
                           .pl = win.pb[1],
                           .pb = win.pe[0],
                           .pr = win.pe[1],
                           .mode = TD_DEFORM_FREE};
    /* Tandem's own attribute: the limited-range variant (offsets clamped to [-r, r]), the
     * co-design knob that bounds the input window an engine must buffer */
    const td_attr *r = td_node_attr(n, "tandem_offset_range");
    if (r) {
        if (r->type != TD_ATTR_FLOAT || !(r->f >= 0) || !isfinite(r->f))
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "attribute 'tandem_offset_range' must be a finite float >= 0");
        s->mode = TD_DEFORM_LIMITED;
        s->range = r->f;
    }
    return td_node_wrap(n, td_deform_shape_check(s));
}

static td_status deform_prepare(td_graph *g, td_node *n)
{
    TD_TRY(td_ops_require_f32(g, n, 0));
    TD_TRY(td_ops_require_f32(g, n, 1));
    if (!has_input(n, 2))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input 2 (offset) is missing");
    td_deform_shape s;
    TD_TRY(parse_geometry(g, n, &s));
    int64_t kk = s.kh * s.kw;
    int64_t off[4] = {s.n, td_deform_offset_channels(&s), s.oh, s.ow};
    int64_t msk[4] = {s.n, td_deform_mask_channels(&s), s.oh, s.ow};
    TD_TRY(check_input_shape(g, n, 2, "offset", 4, off));
    if (has_input(n, 3))
        TD_TRY(check_input_shape(g, n, 3, "bias", 1, &s.m));
    if (has_input(n, 4))
        TD_TRY(check_input_shape(g, n, 4, "mask", 4, msk));
    if (n->qweight &&
        (td_qmatrix_rows(n->qweight) != s.m || td_qmatrix_cols(n->qweight) != s.c / s.group * kk))
        return td_node_error(
            n, TD_CODE_INVALID_ARGUMENT, "compressed weight is %lld x %lld, expected %lld x %lld",
            (long long)td_qmatrix_rows(n->qweight), (long long)td_qmatrix_cols(n->qweight),
            (long long)s.m, (long long)(s.c / s.group * kk));
    deform_params *p = calloc(1, sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    p->s = s;
    p->has_bias = has_input(n, 3);
    p->has_mask = has_input(n, 4);
    td_ops_set_params(n, p);
    int64_t y[4] = {s.n, s.m, s.oh, s.ow};
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, 4, y);
    return TD_OK;
}

static td_status deform_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const deform_params *p = n->params;
    if (!p)
        return td_node_error(n, TD_CODE_INTERNAL, "run before prepare");
    const td_deform_shape *s = &p->s;
    const float *x = in[0].data, *w = in[1].data, *off = in[2].data;
    const float *b = p->has_bias ? in[3].data : NULL;
    const float *mask = p->has_mask ? in[4].data : NULL;
    float *y = out[0].data;
    size_t bytes;
    void *work;
    if (n->qweight) {
        TD_TRY(td_node_wrap(n, td_deform_forward_q_workspace(rc->ctx, s, &bytes)));
        TD_TRY(td_op_scratch(rc, bytes, &work));
        if (!rc->act)
            TD_TRY(td_act_new(&rc->act));
        return td_node_wrap(n, td_deform_forward_q(rc->ctx, s, x, off, mask, n->qweight, n->act, b,
                                                   y, rc->act, work, bytes));
    }
    TD_TRY(td_node_wrap(n, td_deform_forward_workspace(rc->ctx, s, &bytes)));
    TD_TRY(td_op_scratch(rc, bytes, &work));
    return td_node_wrap(n, td_deform_forward(rc->ctx, s, x, off, mask, w, b, y, work, bytes));
}

/* Counts of absurd but valid shapes can pass 2^63; they saturate instead of wrapping. */
static int64_t saturate(double v)
{
    return v < 9.2e18 ? (int64_t)v : INT64_MAX;
}

static void deform_cost(const td_graph *g, td_node *n)
{
    const deform_params *p = n->params;
    n->cost.params = td_ops_const_params(g, n);
    n->cost.macs = 0;
    n->cost.flops_other = 0;
    if (!p)
        return;
    const td_deform_shape *s = &p->s;
    double np = (double)(s->oh * s->ow), kk = (double)(s->kh * s->kw), nb = (double)s->n;
    double macs = nb * (double)s->m * np * (double)(s->c / s->group) * kk;
    double other = nb * (double)s->c * kk * np * (p->has_mask ? 12 : 11) +
                   nb * (double)s->offset_group * kk * np * 6 +
                   (p->has_bias ? nb * (double)s->m * np : 0);
    n->cost.macs = saturate(macs);
    n->cost.flops_other = saturate(other);
}

const td_op_def td_op_deform_conv = {"DeformConv",   TD_OPC_CONV, 3,           5,   1, 1, 0,
                                     deform_prepare, deform_run,  deform_cost, NULL};
