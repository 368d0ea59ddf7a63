/* RotaryEmbedding (ONNX opset 23): rotates the first rotary_embedding_dim dims of every head
 * vector by angles whose cos and sin come as inputs, looked up by position_ids when given.
 *
 * The caches carry the angles, so the op is positional-encoding agnostic: 1-D RoPE, the 2-D
 * grid RoPE of include/tandem/rope.h (caches [H*W, rot/2] from td_rope2d_tables, position p =
 * i*W + j) and NTK/YaRN-scaled tables all run through it unchanged.
 *
 * Shapes: X is [B, heads, S, head] (4-D) or [B, S, heads*head] (3-D, num_heads attribute).
 * With position_ids [B or 1, S] (int64) the caches are [max_pos, rot/2]; without, they are
 * [B or 1, S, rot/2]. Either way a row of X is contiguous, so row r of the flattened
 * [rows, head] view maps to (b, s) by the layout and rotates with one row kernel of
 * kernels/rope (bit-identical across ISAs). */
#include <stdlib.h>
#include <string.h>

#include "graph/op.h"
#include "kernels/rope/rope_kernels.h"
#include "ops/ops_common.h"

typedef struct {
    bool three_d, interleaved, has_pos;
    int64_t batch, seq, heads, head, rot;
    int64_t cache_rows; /* max_pos (with position_ids) or the cache's batch (1 or B) */
    int64_t pos_batch;  /* position_ids' batch (1 or B) */
} rope_params;

static td_status attr_flag(const td_node *n, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    TD_TRY(td_attr_int(n, name, 0, out));
    if (*out < lo || *out > hi)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "attribute %s = %lld must be in [%lld, "
                             "%lld]",
                             name, (long long)*out, (long long)lo, (long long)hi);
    return TD_OK;
}

/* Head layout of X: batch, sequence, heads and head size. */
static td_status input_layout(const td_node *n, const td_value *x, int64_t num_heads,
                              rope_params *p)
{
    if (x->ndim == 4) {
        p->batch = x->shape[0];
        p->heads = x->shape[1];
        p->seq = x->shape[2];
        p->head = x->shape[3];
        return TD_OK;
    }
    if (x->ndim != 3)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "input X has rank %d; expected 4 [batch, heads, seq, head] or 3 "
                             "[batch, seq, hidden]",
                             x->ndim);
    if (num_heads < 1)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "a 3-D input X needs the num_heads attribute (> 0)");
    if (x->shape[2] % num_heads != 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "hidden size %lld is not a multiple of num_heads = %lld",
                             (long long)x->shape[2], (long long)num_heads);
    p->three_d = true;
    p->batch = x->shape[0];
    p->seq = x->shape[1];
    p->heads = num_heads;
    p->head = x->shape[2] / num_heads;
    return TD_OK;
}

static td_status check_caches(td_graph *g, const td_node *n, rope_params *p)
{
    TD_TRY(td_ops_require_f32(g, n, 1));
    TD_TRY(td_ops_require_f32(g, n, 2));
    const td_value *c = td_node_in(g, n, 1), *s = td_node_in(g, n, 2);
    if (c->ndim != s->ndim || memcmp(c->shape, s->shape, sizeof(int64_t) * (size_t)c->ndim))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "cos_cache and sin_cache must have the same shape");
    int want = p->has_pos ? 2 : 3;
    if (c->ndim != want)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "cos_cache has rank %d; expected %d (%s position_ids)", c->ndim, want,
                             p->has_pos ? "with" : "without");
    if (c->shape[c->ndim - 1] != p->rot / 2)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "cos_cache's last dim is %lld; expected rotary dim / 2 = %lld",
                             (long long)c->shape[c->ndim - 1], (long long)(p->rot / 2));
    if (p->has_pos) {
        p->cache_rows = c->shape[0];
        return TD_OK;
    }
    if ((c->shape[0] != p->batch && c->shape[0] != 1) || c->shape[1] != p->seq)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "cos_cache is [%lld, %lld, ...]; expected [batch %lld (or 1), seq "
                             "%lld, ...]",
                             (long long)c->shape[0], (long long)c->shape[1], (long long)p->batch,
                             (long long)p->seq);
    p->cache_rows = c->shape[0];
    return TD_OK;
}

static td_status check_positions(td_graph *g, const td_node *n, rope_params *p)
{
    const td_value *pos = td_node_in(g, n, 3);
    p->has_pos = pos != NULL;
    if (!pos)
        return TD_OK;
    TD_TRY(td_ops_require(g, n, 3, TD_DT_I64));
    if (pos->ndim != 2 || (pos->shape[0] != p->batch && pos->shape[0] != 1) ||
        pos->shape[1] != p->seq)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "position_ids must be [batch %lld (or 1), seq %lld]",
                             (long long)p->batch, (long long)p->seq);
    p->pos_batch = pos->shape[0];
    return TD_OK;
}

static td_status rope_prepare(td_graph *g, td_node *n)
{
    if (g->opset > 0 && g->opset < 23)
        return td_node_error(n, TD_CODE_UNSUPPORTED,
                             "RotaryEmbedding exists from opset 23 (the model imports %lld)",
                             (long long)g->opset);
    TD_TRY(td_ops_require_f32(g, n, 0));
    const td_value *x = td_node_in(g, n, 0);
    int64_t interleaved, rot, num_heads;
    TD_TRY(attr_flag(n, "interleaved", 0, 1, &interleaved));
    TD_TRY(attr_flag(n, "rotary_embedding_dim", 0, INT32_MAX, &rot));
    TD_TRY(attr_flag(n, "num_heads", 0, INT32_MAX, &num_heads));
    rope_params q = {0};
    q.interleaved = interleaved != 0;
    TD_TRY(input_layout(n, x, num_heads, &q));
    q.rot = rot ? rot : q.head;
    if (q.rot % 2 != 0 || q.rot > q.head)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "rotary dim %lld must be even and at most the head size %lld",
                             (long long)q.rot, (long long)q.head);
    TD_TRY(check_positions(g, n, &q));
    TD_TRY(check_caches(g, n, &q));
    rope_params *p = malloc(sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    *p = q;
    td_ops_set_params(n, p);
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, x->ndim, x->shape);
    return TD_OK;
}

/* Row r of the flattened input as (batch, sequence) indices. */
static void row_bs(const rope_params *p, int64_t r, int64_t *b, int64_t *s)
{
    if (p->three_d) { /* [B, S, heads, head] */
        *b = r / (p->seq * p->heads);
        *s = r / p->heads % p->seq;
    } else { /* [B, heads, S, head] */
        *b = r / (p->heads * p->seq);
        *s = r % p->seq;
    }
}

static td_status rope_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const rope_params *p = n->params;
    const int64_t *pos = p->has_pos ? in[3].data : NULL;
    int64_t npos = p->has_pos ? td_view_numel(&in[3]) : 0;
    for (int64_t i = 0; i < npos; i++) /* all checked before any write: Y may be X */
        if (pos[i] < 0 || pos[i] >= p->cache_rows)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "position_ids[%lld] = %lld is outside the cache's %lld rows",
                                 (long long)i, (long long)pos[i], (long long)p->cache_rows);
    int64_t rows = p->batch * p->seq * p->heads, pairs = p->rot / 2;
    if (rows == 0 || p->head == 0)
        return TD_OK;
    td_rope_row_fn row = td_rope_row_kernel(rc->ctx ? rc->ctx->isa : TD_ISA_SCALAR,
                                            p->interleaved ? TD_ROPE_INTERLEAVED : TD_ROPE_HALVES);
    const float *x = in[0].data, *cs = in[1].data, *sn = in[2].data;
    float *y = out[0].data;
    size_t tail = (size_t)(p->head - p->rot) * sizeof(float);
    int threads = td_ops_threads(rc, rows * p->head * 3);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t b, s;
        row_bs(p, r, &b, &s);
        int64_t crow = p->has_pos ? pos[(p->pos_batch == 1 ? 0 : b) * p->seq + s]
                                  : (p->cache_rows == 1 ? 0 : b) * p->seq + s;
        const float *xr = x + r * p->head;
        float *yr = y + r * p->head;
        if (pairs)
            row(xr, yr, cs + crow * pairs, sn + crow * pairs, pairs);
        if (tail && yr != xr)
            memcpy(yr + p->rot, xr + p->rot, tail);
    }
    return TD_OK;
}

/* Per rotated element: two products and one sum (the unrotated tail is a copy). */
static void rope_cost(const td_graph *g, td_node *n)
{
    (void)g;
    const rope_params *p = n->params;
    n->cost.params = 0; /* the caches are tables, not learned weights */
    n->cost.macs = 0;
    n->cost.flops_other = p ? p->batch * p->seq * p->heads * p->rot * 3 : 0;
}

const td_op_def td_op_rotary_embedding = {
    "RotaryEmbedding", TD_OPC_ELEMENTWISE, 3,        4,         1,   1,
    TD_OPF_INPLACE,    rope_prepare,       rope_run, rope_cost, NULL};
