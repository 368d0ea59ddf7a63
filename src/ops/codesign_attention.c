/* ONNX Attention (opset 23/24) on the tiled kernels of include/tandem/attention.h.
 *
 * Inputs Q, K, V and the optional attn_mask; past_key, past_value and nonpad_kv_seqlen are
 * refused (no KV cache inside the operator), and so are the outputs present_key,
 * present_value and qk_matmul_output. Both input forms:
 *   4-D: Q [B, Hq, Sq, D], K [B, Hkv, Skv, D], V [B, Hkv, Skv, Dv] -> Y [B, Hq, Sq, Dv]
 *   3-D: Q [B, Sq, Hq * D], K [B, Skv, Hkv * D], V [B, Skv, Hkv * Dv] -> Y [B, Sq, Hq * Dv],
 *        with the attributes q_num_heads and kv_num_heads (read in place through strides).
 * attn_mask is bool (true = attend) or f32 (added to the scaled scores), broadcastable to
 * [B, Hq, Sq, Skv]. is_causal is the top-left aligned mask of opset 23 without a past (query i
 * sees keys j <= i, also when Sq != Skv); a query row left with no key gives zeros. scale
 * defaults to 1/sqrt(D); softcap must be 0, softmax_precision, when given, FLOAT, and opset
 * 25's left_window_size/right_window_size -1 (no window).
 *
 * Tandem's own attributes choose the co-design variants of the kernels (the defaults are the
 * exact f32 operator): tandem_qk "f32" | "int8" | "fp8", tandem_pv "f32" | "fp8",
 * tandem_density (keep that fraction of key tiles per query tile) or tandem_mass_share (keep
 * the tiles holding that share of the pooled softmax mass), both predicted at run time from
 * mean-pooled Q and K tiles, and tandem_min_similarity (tiles whose rows disagree stay dense;
 * see td_attn_sparsity). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_common.h"
#include "tandem/attention.h"

typedef struct attn_params {
    td_attn_shape shape;
    bool three_d;
    bool causal;
    float scale;
    td_attn_qk qk;
    td_attn_pv pv;
    float mass_share, density, min_similarity;

    int mask; /* 0 none, 1 bool, 2 float */
    int64_t mask_numel;
    int64_t mask_stride[4]; /* over [B, Hq, Sq, Skv], 0 where the mask broadcasts */
} attn_params;

static td_status read_heads(const td_node *n, const char *name, int64_t *out)
{
    TD_TRY(td_attr_int(n, name, 0, out));
    if (*out < 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute '%s' = %lld must be >= 1",
                             name, (long long)*out);
    return TD_OK;
}

/* Shapes of the 4-D form. */
static td_status shapes_4d(const td_node *n, const td_value *q, const td_value *k,
                           const td_value *v, attn_params *p)
{
    td_attn_shape *s = &p->shape;
    s->batch = q->shape[0];
    s->q_heads = q->shape[1];
    s->q_len = q->shape[2];
    s->head_dim = q->shape[3];
    s->kv_heads = k->shape[1];
    s->kv_len = k->shape[2];
    s->v_dim = v->shape[3];
    if (k->shape[0] != s->batch || v->shape[0] != s->batch)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "batch sizes differ: Q %lld, K %lld, V %lld", (long long)s->batch,
                             (long long)k->shape[0], (long long)v->shape[0]);
    if (k->shape[3] != s->head_dim)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "K's head size %lld differs from Q's %lld", (long long)k->shape[3],
                             (long long)s->head_dim);
    if (v->shape[1] != s->kv_heads || v->shape[2] != s->kv_len)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "V [%lld, %lld, %lld, %lld] does not match K's heads and length "
                             "[%lld, %lld]",
                             (long long)v->shape[0], (long long)v->shape[1], (long long)v->shape[2],
                             (long long)v->shape[3], (long long)s->kv_heads, (long long)s->kv_len);
    int64_t hq, hkv;
    TD_TRY(read_heads(n, "q_num_heads", &hq));
    TD_TRY(read_heads(n, "kv_num_heads", &hkv));
    if ((hq && hq != s->q_heads) || (hkv && hkv != s->kv_heads))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "q_num_heads/kv_num_heads (%lld/%lld) contradict the 4-D inputs' "
                             "heads (%lld/%lld)",
                             (long long)hq, (long long)hkv, (long long)s->q_heads,
                             (long long)s->kv_heads);
    return TD_OK;
}

/* Shapes of the 3-D form: heads from the attributes, head sizes from the hidden sizes. */
static td_status shapes_3d(const td_node *n, const td_value *q, const td_value *k,
                           const td_value *v, attn_params *p)
{
    td_attn_shape *s = &p->shape;
    int64_t hq, hkv;
    TD_TRY(read_heads(n, "q_num_heads", &hq));
    TD_TRY(read_heads(n, "kv_num_heads", &hkv));
    if (hq == 0 || hkv == 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "3-D inputs need the attributes q_num_heads and kv_num_heads");
    s->batch = q->shape[0];
    s->q_len = q->shape[1];
    s->kv_len = k->shape[1];
    s->q_heads = hq;
    s->kv_heads = hkv;
    if (k->shape[0] != s->batch || v->shape[0] != s->batch || v->shape[1] != s->kv_len)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "Q, K and V batch sizes or K and V lengths differ");
    if (q->shape[2] % hq || k->shape[2] % hkv || v->shape[2] % hkv)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "hidden sizes Q %lld, K %lld, V %lld are not multiples of "
                             "q_num_heads %lld / kv_num_heads %lld",
                             (long long)q->shape[2], (long long)k->shape[2], (long long)v->shape[2],
                             (long long)hq, (long long)hkv);
    s->head_dim = q->shape[2] / hq;
    s->v_dim = v->shape[2] / hkv;
    if (k->shape[2] / hkv != s->head_dim)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "K's head size %lld differs from Q's %lld",
                             (long long)(k->shape[2] / hkv), (long long)s->head_dim);
    return TD_OK;
}

static td_status check_mask(td_graph *g, const td_node *n, attn_params *p)
{
    const td_value *m = td_node_in(g, n, 3);
    if (!m)
        return TD_OK;
    if (m->ndim < 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attn_mask ('%s') has no known shape",
                             m->name);
    if (m->dtype != TD_DT_BOOL && m->dtype != TD_DT_F32)
        return td_node_error(n, TD_CODE_UNSUPPORTED,
                             "attn_mask ('%s') is %s; expected bool or "
                             "float32",
                             m->name, td_dtype_name(m->dtype));
    if (m->ndim < 1 || m->ndim > 4)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "attn_mask ('%s') has rank %d; expected 1 to 4", m->name, m->ndim);
    const td_attn_shape *s = &p->shape;
    const int64_t target[4] = {s->batch, s->q_heads, s->q_len, s->kv_len};
    int64_t stride = 1;
    for (int i = 3; i >= 0; i--) {
        int mi = m->ndim - 4 + i;
        int64_t dim = mi >= 0 ? m->shape[mi] : 1;
        if (dim != target[i] && dim != 1)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "attn_mask ('%s') dimension %d is %lld; it must be %lld or 1 to "
                                 "broadcast to [%lld, %lld, %lld, %lld]",
                                 m->name, mi, (long long)dim, (long long)target[i],
                                 (long long)target[0], (long long)target[1], (long long)target[2],
                                 (long long)target[3]);
        p->mask_stride[i] = dim == 1 ? 0 : stride;
        stride *= dim;
    }
    p->mask_numel = stride;
    p->mask = m->dtype == TD_DT_BOOL ? 1 : 2;
    return TD_OK;
}

static td_status read_tandem_attrs(const td_node *n, attn_params *p)
{
    const td_attr *a = td_node_attr(n, "tandem_qk");
    if (a) {
        td_status st = a->type == TD_ATTR_STRING
                           ? td_attn_qk_parse(a->s, &p->qk)
                           : td_error_new(TD_CODE_INVALID_ARGUMENT, "must be a string");
        if (st) {
            td_status e = td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute 'tandem_qk': %s",
                                        td_status_message(st));
            td_status_free(st);
            return e;
        }
    }
    a = td_node_attr(n, "tandem_pv");
    if (a) {
        td_status st = a->type == TD_ATTR_STRING
                           ? td_attn_pv_parse(a->s, &p->pv)
                           : td_error_new(TD_CODE_INVALID_ARGUMENT, "must be a string");
        if (st) {
            td_status e = td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute 'tandem_pv': %s",
                                        td_status_message(st));
            td_status_free(st);
            return e;
        }
    }
    TD_TRY(td_attr_float(n, "tandem_density", 0.0f, &p->density));
    TD_TRY(td_attr_float(n, "tandem_mass_share", 1.0f, &p->mass_share));
    TD_TRY(td_attr_float(n, "tandem_min_similarity", 0.0f, &p->min_similarity));
    if (!(p->min_similarity >= 0.0f && p->min_similarity <= 1.0f))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "attribute 'tandem_min_similarity' %g is outside [0, 1]",
                             (double)p->min_similarity);
    if (!(p->density >= 0.0f && p->density <= 1.0f))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "attribute 'tandem_density' %g is outside [0, 1]", (double)p->density);
    if (!(p->mass_share > 0.0f && p->mass_share <= 1.0f))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "attribute 'tandem_mass_share' %g is outside (0, 1]",
                             (double)p->mass_share);
    return TD_OK;
}

static td_status read_attrs(const td_node *n, attn_params *p)
{
    int64_t causal;
    TD_TRY(td_attr_int(n, "is_causal", 0, &causal));
    if (causal != 0 && causal != 1)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "attribute 'is_causal' is %lld; "
                             "expected 0 or 1",
                             (long long)causal);
    p->causal = causal == 1;
    p->scale = 0.0f;
    if (td_node_attr(n, "scale")) {
        TD_TRY(td_attr_float(n, "scale", 0.0f, &p->scale));
        if (!isfinite(p->scale) || p->scale == 0.0f)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "attribute 'scale' is %g; expected a finite nonzero value",
                                 (double)p->scale);
    }
    float softcap;
    TD_TRY(td_attr_float(n, "softcap", 0.0f, &softcap));
    if (softcap != 0.0f)
        return td_node_error(n, TD_CODE_UNSUPPORTED, "attribute 'softcap' = %g is not supported",
                             (double)softcap);
    static const char *const windows[] = {"left_window_size", "right_window_size"};
    for (int i = 0; i < 2; i++) {
        int64_t w;
        TD_TRY(td_attr_int(n, windows[i], -1, &w));
        if (w != -1)
            return td_node_error(n, TD_CODE_UNSUPPORTED,
                                 "attribute '%s' = %lld is not supported (sliding windows are "
                                 "opset 25)",
                                 windows[i], (long long)w);
    }
    int64_t precision;
    TD_TRY(td_attr_int(n, "softmax_precision", 1, &precision));
    if (precision != 1) /* TensorProto.FLOAT */
        return td_node_error(n, TD_CODE_UNSUPPORTED,
                             "softmax_precision %lld is not supported (softmax runs in float32)",
                             (long long)precision);
    return read_tandem_attrs(n, p);
}

static td_status attn_prepare(td_graph *g, td_node *n)
{
    for (int i = 0; i < 3; i++)
        TD_TRY(td_ops_require_f32(g, n, i));
    static const char *const cache[] = {"past_key", "past_value", "nonpad_kv_seqlen"};
    for (int i = 4; i < n->n_inputs; i++)
        if (n->inputs[i] >= 0)
            return td_node_error(n, TD_CODE_UNSUPPORTED,
                                 "input %s is not supported (no KV cache inside the operator)",
                                 cache[i - 4]);
    const td_value *q = td_node_in(g, n, 0), *k = td_node_in(g, n, 1), *v = td_node_in(g, n, 2);
    if (q->ndim != k->ndim || q->ndim != v->ndim || (q->ndim != 3 && q->ndim != 4))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "Q, K and V must all be 3-D or all 4-D (ranks %d, %d, %d)", q->ndim,
                             k->ndim, v->ndim);
    attn_params p;
    memset(&p, 0, sizeof p);
    p.three_d = q->ndim == 3;
    TD_TRY(p.three_d ? shapes_3d(n, q, k, v, &p) : shapes_4d(n, q, k, v, &p));
    TD_TRY(read_attrs(n, &p));
    /* The kernel's own checks (zero lengths, heads that do not divide), named by the node. */
    int64_t nq, nk;
    td_attn_opts o = td_attn_opts_default();
    td_status st = td_attn_tiles(&p.shape, &o, &nq, &nk);
    if (st) {
        td_status e = td_node_error(n, td_status_code(st), "%s", td_status_message(st));
        td_status_free(st);
        return e;
    }
    TD_TRY(check_mask(g, n, &p));
    attn_params *pp = malloc(sizeof *pp);
    if (!pp)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    *pp = p;
    td_ops_set_params(n, pp);
    const td_attn_shape *s = &p.shape;
    if (p.three_d) {
        int64_t shape[3] = {s->batch, s->q_len, s->q_heads * s->v_dim};
        td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, 3, shape);
    } else {
        int64_t shape[4] = {s->batch, s->q_heads, s->q_len, s->v_dim};
        td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, 4, shape);
    }
    return TD_OK;
}

static td_status attn_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const attn_params *p = n->params;
    if (!p)
        return td_node_error(n, TD_CODE_INTERNAL, "run before prepare");
    const td_attn_shape *s = &p->shape;
    td_attn_args a;
    memset(&a, 0, sizeof a);
    a.shape = *s;
    a.q = in[0].data;
    a.k = in[1].data;
    a.v = in[2].data;
    a.out = out[0].data;
    if (p->three_d) {
        a.lq = td_attn_layout_bshd(s->q_heads, s->q_len, s->head_dim);
        a.lk = td_attn_layout_bshd(s->kv_heads, s->kv_len, s->head_dim);
        a.lv = td_attn_layout_bshd(s->kv_heads, s->kv_len, s->v_dim);
        a.lo = td_attn_layout_bshd(s->q_heads, s->q_len, s->v_dim);
    }
    td_attn_opts o = td_attn_opts_default();
    o.scale = p->scale;
    o.causal = p->causal;
    o.qk = p->qk;
    o.pv = p->pv;
    int64_t nq, nk;
    TD_TRY(td_node_wrap(n, td_attn_tiles(s, &o, &nq, &nk)));
    bool sparse = p->density > 0.0f ? p->density < 1.0f : p->mass_share < 1.0f;
    size_t mask_bytes = p->mask == 1 ? (size_t)p->mask_numel * sizeof(float) : 0;
    size_t block_bytes = sparse ? (size_t)(s->batch * s->q_heads * nq * nk) : 0;
    void *scratch = NULL;
    if (mask_bytes + block_bytes)
        TD_TRY(td_op_scratch(rc, mask_bytes + block_bytes, &scratch));
    if (p->mask) {
        float *bias = in[3].data;
        if (p->mask == 1) {
            const bool *m = in[3].data;
            bias = scratch;
            for (int64_t i = 0; i < p->mask_numel; i++)
                bias[i] = m[i] ? 0.0f : -INFINITY;
        }
        o.bias = bias;
        memcpy(o.bias_stride, p->mask_stride, sizeof o.bias_stride);
    }
    if (sparse) {
        uint8_t *blocks = (uint8_t *)scratch + mask_bytes;
        td_attn_sparsity sp = {p->mass_share, p->density, p->min_similarity};
        TD_TRY(td_node_wrap(n, td_attn_predict(rc->ctx, &a, &o, &sp, blocks, NULL)));
        o.block_mask = blocks;
    }
    return td_node_wrap(n, td_attention(rc->ctx, &a, &o));
}

/* Query-key pairs the causal mask leaves (top-left aligned, per batch and head). */
static int64_t visible_pairs(const td_attn_shape *s, bool causal)
{
    if (!causal)
        return s->q_len * s->kv_len;
    int64_t pairs = 0;
    for (int64_t i = 0; i < s->q_len; i++)
        pairs += i + 1 < s->kv_len ? i + 1 : s->kv_len;
    return pairs;
}

/* MACs: Q.K^T and P.V over the pairs computed (2 * B * H * Sq * Skv * D when Dv = D, about
 * half of it causal). With tandem_density the pairs scale by the density (the mass-share
 * predictor's density depends on the data and is not known here). Other FLOPs: per pair the
 * scale, max, subtraction, exponential and sum; per output element the division. */
static void attn_cost(const td_graph *g, td_node *n)
{
    const attn_params *p = n->params;
    n->cost.params = td_ops_const_params(g, n);
    if (!p) {
        n->cost.macs = n->cost.flops_other = 0;
        return;
    }
    const td_attn_shape *s = &p->shape;
    double pairs = (double)visible_pairs(s, p->causal) * (double)(s->batch * s->q_heads);
    if (p->density > 0.0f && p->density < 1.0f)
        pairs *= p->density;
    n->cost.macs = (int64_t)(pairs * (double)(s->head_dim + s->v_dim));
    n->cost.flops_other = (int64_t)(pairs * 5.0) + s->batch * s->q_heads * s->q_len * s->v_dim;
}

const td_op_def td_op_attention = {"Attention", TD_OPC_MATMUL, 3,        7,         1,   1,
                                   0,           attn_prepare,  attn_run, attn_cost, NULL};
