/* BERT-style encoder built as a graph from a Hugging Face folder.
 *
 * The hidden state is kept 2-D, [batch * seq, hidden], so every projection is one Gemm with
 * transB = 1: the Linear weight [out, in] is then used as stored, and it is already in the
 * orientation compressed weights use (rows = output features). Attention reshapes to
 * [batch, heads, seq, head_dim] only around the two batched MatMuls. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/models.h"
#include "tandem/safetensors.h"

#define MAX_NAME 512

typedef struct builder {
    td_graph *g;
    td_safetensors *st;
    const char *path; /* weights file, for errors */
    char prefix[16];  /* "" or "bert." */
    td_bert_config cfg;
    int64_t batch, seq;
} builder;

static td_status json_int(const cJSON *root, const char *name, const char *key, int lo, int hi,
                          int def, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) {
        if (def < 0)
            return td_error_new(TD_CODE_BAD_DATA, "%s: missing \"%s\"", name, key);
        *out = def;
        return TD_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return td_error_new(TD_CODE_BAD_DATA, "%s: \"%s\" must be an integer in %d..%d", name, key,
                            lo, hi);
    *out = (int)v->valuedouble;
    return TD_OK;
}

static td_status check_strings(const cJSON *root, const char *name)
{
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu") != 0))
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: hidden_act must be \"gelu\"", name);
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(root, "position_embedding_type");
    if (pos && (!cJSON_IsString(pos) || strcmp(pos->valuestring, "absolute") != 0))
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: position_embedding_type must be \"absolute\"",
                            name);
    return TD_OK;
}

static td_status parse_fields(const cJSON *root, const char *name, td_bert_config *c)
{
    TD_TRY(check_strings(root, name));
    TD_TRY(json_int(root, name, "hidden_size", 1, 65536, -1, &c->hidden));
    TD_TRY(json_int(root, name, "num_attention_heads", 1, 1024, -1, &c->heads));
    TD_TRY(json_int(root, name, "num_hidden_layers", 1, 1024, -1, &c->layers));
    TD_TRY(json_int(root, name, "intermediate_size", 1, 1 << 20, -1, &c->intermediate));
    TD_TRY(json_int(root, name, "vocab_size", 1, 1 << 24, -1, &c->vocab));
    TD_TRY(json_int(root, name, "max_position_embeddings", 1, 1 << 20, 512, &c->max_positions));
    TD_TRY(json_int(root, name, "type_vocab_size", 1, 1 << 16, 2, &c->type_vocab));
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    c->ln_eps = 1e-12f;
    if (eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0.0 && eps->valuedouble < 1.0))
            return td_error_new(TD_CODE_BAD_DATA, "%s: layer_norm_eps must be in (0, 1)", name);
        c->ln_eps = (float)eps->valuedouble;
    }
    if (c->hidden % c->heads != 0)
        return td_error_new(TD_CODE_BAD_DATA, "%s: hidden_size %d is not a multiple of %d heads",
                            name, c->hidden, c->heads);
    return TD_OK;
}

td_status td_bert_config_parse(const char *json, size_t len, const char *name, td_bert_config *out)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return td_error_new(TD_CODE_BAD_DATA, "%s: not a JSON object", name);
    }
    memset(out, 0, sizeof *out);
    td_status st = parse_fields(root, name, out);
    cJSON_Delete(root);
    return st;
}

/* ---- weights ---- */

/* Copies an f32 tensor of the given shape out of the file (file data may be unaligned). */
static td_status weight(builder *b, const char *key, int ndim, const int64_t *shape, int *index)
{
    char full[MAX_NAME];
    snprintf(full, sizeof full, "%s%s", b->prefix, key);
    td_st_tensor t;
    TD_TRY(td_safetensors_find(b->st, full, &t));
    bool ok = t.dtype == TD_ST_F32 && t.ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t.shape[i] == shape[i];
    if (!ok)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: tensor '%s' must be F32 of shape [%lld%s] for this config",
                            b->path, full, (long long)shape[0], ndim > 1 ? ", ..." : "");
    void *data;
    TD_TRY(td_alloc(t.nbytes ? t.nbytes : 1, &data));
    memcpy(data, t.data, t.nbytes);
    td_status st = td_graph_add_const(b->g, full, TD_DT_F32, ndim, shape, data, true, index);
    if (st)
        td_free(data);
    return st;
}

static td_status const_tensor(builder *b, const char *name, td_dtype dt, int ndim,
                              const int64_t *shape, const void *src, size_t bytes)
{
    void *data;
    TD_TRY(td_alloc(bytes ? bytes : 1, &data));
    memcpy(data, src, bytes);
    td_status st = td_graph_add_const(b->g, name, dt, ndim, shape, data, true, NULL);
    if (st)
        td_free(data);
    return st;
}

static td_status const_ints(builder *b, const char *name, int n, const int64_t *v)
{
    int64_t shape[1] = {n};
    return const_tensor(b, name, TD_DT_I64, 1, shape, v, (size_t)n * sizeof *v);
}

static td_status const_scalar(builder *b, const char *name, float v)
{
    return const_tensor(b, name, TD_DT_F32, 0, NULL, &v, sizeof v);
}

/* ---- nodes: each node's output value carries the node's name ---- */

static td_status node(builder *b, const char *op, const char *name, int ni, const char *const *in,
                      td_node **out)
{
    int idx;
    const char *outs[1] = {name};
    TD_TRY(td_graph_add_node(b->g, name, op, ni, in, 1, outs, &idx));
    if (out)
        *out = &b->g->nodes[idx];
    return TD_OK;
}

/* y = x W^T + bias for the Linear `key` ([out, in] weight). */
static td_status linear(builder *b, const char *x, const char *key, int64_t out, int64_t in,
                        const char *name)
{
    char w[MAX_NAME / 2], bias[MAX_NAME / 2];
    snprintf(w, sizeof w, "%s.weight", key);
    snprintf(bias, sizeof bias, "%s.bias", key);
    int64_t ws[2] = {out, in}, bs[1] = {out};
    TD_TRY(weight(b, w, 2, ws, NULL));
    TD_TRY(weight(b, bias, 1, bs, NULL));
    char wf[MAX_NAME], bf[MAX_NAME];
    snprintf(wf, sizeof wf, "%s%s", b->prefix, w);
    snprintf(bf, sizeof bf, "%s%s", b->prefix, bias);
    const char *ins[3] = {x, wf, bf};
    td_node *n;
    TD_TRY(node(b, "Gemm", name, 3, ins, &n));
    return td_node_set_int(n, "transB", 1);
}

static td_status layer_norm(builder *b, const char *x, const char *key, const char *name)
{
    char gk[MAX_NAME / 2], bk[MAX_NAME / 2], gf[MAX_NAME], bf[MAX_NAME];
    snprintf(gk, sizeof gk, "%s.weight", key);
    snprintf(bk, sizeof bk, "%s.bias", key);
    int64_t s[1] = {b->cfg.hidden};
    TD_TRY(weight(b, gk, 1, s, NULL));
    TD_TRY(weight(b, bk, 1, s, NULL));
    snprintf(gf, sizeof gf, "%s%s", b->prefix, gk);
    snprintf(bf, sizeof bf, "%s%s", b->prefix, bk);
    const char *ins[3] = {x, gf, bf};
    td_node *n;
    TD_TRY(node(b, "LayerNormalization", name, 3, ins, &n));
    TD_TRY(td_node_set_int(n, "axis", -1));
    return td_node_set_float(n, "epsilon", b->cfg.ln_eps);
}

static td_status binary(builder *b, const char *op, const char *x, const char *y, const char *name)
{
    const char *ins[2] = {x, y};
    return node(b, op, name, 2, ins, NULL);
}

static td_status reshape(builder *b, const char *x, const char *shape_name, const char *name)
{
    return binary(b, "Reshape", x, shape_name, name);
}

static td_status transpose(builder *b, const char *x, const int64_t *perm, const char *name)
{
    const char *ins[1] = {x};
    td_node *n;
    TD_TRY(node(b, "Transpose", name, 1, ins, &n));
    return td_node_set_ints(n, "perm", perm, 4);
}

/* Shared constants: shapes for the head split/merge, the score scale and the mask. */
static td_status constants(builder *b)
{
    int64_t nh = b->cfg.heads, dh = b->cfg.hidden / b->cfg.heads;
    int64_t split[4] = {b->batch, b->seq, nh, dh};
    int64_t merge[2] = {b->batch * b->seq, b->cfg.hidden};
    int64_t mask4[4] = {b->batch, 1, 1, b->seq};
    int64_t flat[2] = {b->batch * b->seq, 1};
    int64_t seq3[3] = {b->batch, b->seq, b->cfg.hidden};
    TD_TRY(const_ints(b, "shape_split_heads", 4, split));
    TD_TRY(const_ints(b, "shape_merge_heads", 2, merge));
    TD_TRY(const_ints(b, "shape_mask", 4, mask4));
    TD_TRY(const_ints(b, "shape_tokens", 2, flat));
    TD_TRY(const_ints(b, "shape_sequences", 3, seq3));
    TD_TRY(const_scalar(b, "one", 1.0f));
    /* (1 - mask) * lowest float: masked keys get a score no softmax can select, as
     * Hugging Face's extended attention mask does. */
    TD_TRY(const_scalar(b, "mask_fill", -3.4028234663852886e38f));
    TD_TRY(binary(b, "Sub", "one", "attention_mask", "mask_inverted"));
    TD_TRY(binary(b, "Mul", "mask_inverted", "mask_fill", "mask_scores"));
    return reshape(b, "mask_scores", "shape_mask", "mask_bias");
}

static td_status embeddings(builder *b)
{
    int64_t H = b->cfg.hidden;
    int64_t ws[2] = {b->cfg.vocab, H}, ps[2] = {b->cfg.max_positions, H},
            ts[2] = {b->cfg.type_vocab, H};
    int wi, pi, ti;
    TD_TRY(weight(b, "embeddings.word_embeddings.weight", 2, ws, &wi));
    TD_TRY(weight(b, "embeddings.position_embeddings.weight", 2, ps, &pi));
    TD_TRY(weight(b, "embeddings.token_type_embeddings.weight", 2, ts, &ti));
    /* Positions 0..seq-1 and token type 0 are the same for every input: their embedding
     * sum is a constant that prepare folds. */
    int64_t *pos = malloc((size_t)b->seq * sizeof *pos);
    if (!pos)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "bert: out of memory");
    for (int64_t i = 0; i < b->seq; i++)
        pos[i] = i;
    td_status st = const_ints(b, "position_ids", (int)b->seq, pos);
    free(pos);
    TD_TRY(st);
    int64_t zero = 0;
    TD_TRY(const_tensor(b, "token_type_zero", TD_DT_I64, 0, NULL, &zero, sizeof zero));
    TD_TRY(binary(b, "Gather", b->g->values[pi].name, "position_ids", "position_embedding"));
    TD_TRY(binary(b, "Gather", b->g->values[ti].name, "token_type_zero", "token_type_embedding"));
    TD_TRY(binary(b, "Add", "position_embedding", "token_type_embedding", "fixed_embedding"));
    TD_TRY(binary(b, "Gather", b->g->values[wi].name, "input_ids", "word_embedding"));
    TD_TRY(reshape(b, "word_embedding", "shape_merge_heads", "word_embedding_tokens"));
    /* [batch*seq, H] + [seq, H] broadcasts only for batch 1; reshape to 3-D to add. */
    TD_TRY(reshape(b, "word_embedding_tokens", "shape_sequences", "word_embedding_3d"));
    TD_TRY(binary(b, "Add", "word_embedding_3d", "fixed_embedding", "embedding_sum_3d"));
    TD_TRY(reshape(b, "embedding_sum_3d", "shape_merge_heads", "embedding_sum"));
    return layer_norm(b, "embedding_sum", "embeddings.LayerNorm", "hidden_0");
}

/* Reads the f32 tensor `key` (shape checked) into dst, for building fused weights. */
static td_status read_into(builder *b, const char *key, int64_t count, float *dst)
{
    char full[MAX_NAME];
    snprintf(full, sizeof full, "%s%s", b->prefix, key);
    td_st_tensor t;
    TD_TRY(td_safetensors_find(b->st, full, &t));
    if (t.dtype != TD_ST_F32 || t.nelem != (size_t)count)
        return td_error_new(TD_CODE_BAD_DATA, "%s: tensor '%s' must be F32 with %lld values",
                            b->path, full, (long long)count);
    memcpy(dst, t.data, t.nbytes);
    return TD_OK;
}

/* Query, key and value projections as one Gemm over a [3H, H] weight (their three Linear
 * weights stacked), split afterwards: one product three times as wide packs and streams
 * better than three, and the activations are read (or quantized) once. */
static td_status fused_qkv(builder *b, int l, const char *x, const char *out)
{
    int64_t H = b->cfg.hidden;
    static const char *const kinds[3] = {"query", "key", "value"};
    float *w, *bias;
    TD_TRY(td_alloc((size_t)(3 * H * H) * sizeof(float), (void **)&w));
    td_status st = td_alloc((size_t)(3 * H) * sizeof(float), (void **)&bias);
    for (int i = 0; i < 3 && !st; i++) {
        char key[MAX_NAME];
        snprintf(key, sizeof key, "encoder.layer.%d.attention.self.%s.weight", l, kinds[i]);
        st = read_into(b, key, H * H, w + i * H * H);
        snprintf(key, sizeof key, "encoder.layer.%d.attention.self.%s.bias", l, kinds[i]);
        if (!st)
            st = read_into(b, key, H, bias + i * H);
    }
    /* The attention scores are scaled by 1/sqrt(head_dim); scaling the query projection
     * instead saves a pass over every [seq x seq] score matrix. */
    float scale = (float)(1.0 / sqrt((double)(H / b->cfg.heads)));
    for (int64_t i = 0; i < H * H && !st; i++)
        w[i] *= scale;
    for (int64_t i = 0; i < H && !st; i++)
        bias[i] *= scale;
    char wn[MAX_NAME], bn[MAX_NAME];
    snprintf(wn, sizeof wn, "encoder.layer.%d.attention.self.qkv.weight", l);
    snprintf(bn, sizeof bn, "encoder.layer.%d.attention.self.qkv.bias", l);
    int64_t ws[2] = {3 * H, H}, bs[1] = {3 * H};
    if (!st)
        st = td_graph_add_const(b->g, wn, TD_DT_F32, 2, ws, w, true, NULL);
    else
        td_free(w);
    if (!st)
        st = td_graph_add_const(b->g, bn, TD_DT_F32, 1, bs, bias, true, NULL);
    else
        td_free(bias);
    TD_TRY(st);
    const char *ins[3] = {x, wn, bn};
    td_node *n;
    TD_TRY(node(b, "Gemm", out, 3, ins, &n));
    return td_node_set_int(n, "transB", 1);
}

static td_status attention(builder *b, int l, const char *x, const char *out)
{
    int64_t H = b->cfg.hidden;
    char key[MAX_NAME], nm[8][MAX_NAME + 16], qkv[64], parts[3][64];
    const char *kinds[3] = {"query", "key", "value"};
    snprintf(qkv, sizeof qkv, "l%d_qkv", l);
    TD_TRY(fused_qkv(b, l, x, qkv));
    for (int i = 0; i < 3; i++)
        snprintf(parts[i], sizeof parts[i], "l%d_%s", l, kinds[i]);
    const char *sin1[1] = {qkv}, *souts[3] = {parts[0], parts[1], parts[2]};
    int idx;
    char split_name[80];
    snprintf(split_name, sizeof split_name, "%s_split", qkv);
    TD_TRY(td_graph_add_node(b->g, split_name, "Split", 1, sin1, 3, souts, &idx));
    TD_TRY(td_node_set_int(&b->g->nodes[idx], "axis", 1));
    for (int i = 0; i < 3; i++) {
        char split[80];
        snprintf(split, sizeof split, "%s_split", parts[i]);
        TD_TRY(reshape(b, parts[i], "shape_split_heads", split));
        static const int64_t perm_qv[4] = {0, 2, 1, 3}, perm_k[4] = {0, 2, 3, 1};
        snprintf(nm[i], sizeof nm[i], "%s_heads", parts[i]);
        TD_TRY(transpose(b, split, i == 1 ? perm_k : perm_qv, nm[i]));
    }
    snprintf(nm[3], sizeof nm[3], "l%d_scores", l);
    snprintf(nm[5], sizeof nm[5], "l%d_scores_masked", l);
    snprintf(nm[6], sizeof nm[6], "l%d_probs", l);
    TD_TRY(binary(b, "MatMul", nm[0], nm[1], nm[3]));
    TD_TRY(binary(b, "Add", nm[3], "mask_bias", nm[5]));
    const char *sin[1] = {nm[5]};
    td_node *sm;
    TD_TRY(node(b, "Softmax", nm[6], 1, sin, &sm));
    TD_TRY(td_node_set_int(sm, "axis", -1));
    char ctx[MAX_NAME], ctxt[MAX_NAME], merged[MAX_NAME], proj[MAX_NAME], res[MAX_NAME];
    snprintf(ctx, sizeof ctx, "l%d_context", l);
    snprintf(ctxt, sizeof ctxt, "l%d_context_t", l);
    snprintf(merged, sizeof merged, "l%d_context_merged", l);
    snprintf(proj, sizeof proj, "l%d_attn_out", l);
    snprintf(res, sizeof res, "l%d_attn_residual", l);
    TD_TRY(binary(b, "MatMul", nm[6], nm[2], ctx));
    static const int64_t perm_back[4] = {0, 2, 1, 3};
    TD_TRY(transpose(b, ctx, perm_back, ctxt));
    TD_TRY(reshape(b, ctxt, "shape_merge_heads", merged));
    snprintf(key, sizeof key, "encoder.layer.%d.attention.output.dense", l);
    TD_TRY(linear(b, merged, key, H, H, proj));
    TD_TRY(binary(b, "Add", proj, x, res));
    snprintf(key, sizeof key, "encoder.layer.%d.attention.output.LayerNorm", l);
    return layer_norm(b, res, key, out);
}

static td_status feed_forward(builder *b, int l, const char *x, const char *out)
{
    int64_t H = b->cfg.hidden, I = b->cfg.intermediate;
    char key[MAX_NAME], up[MAX_NAME], act[MAX_NAME], down[MAX_NAME], res[MAX_NAME];
    snprintf(up, sizeof up, "l%d_ffn_up", l);
    snprintf(act, sizeof act, "l%d_ffn_gelu", l);
    snprintf(down, sizeof down, "l%d_ffn_down", l);
    snprintf(res, sizeof res, "l%d_ffn_residual", l);
    snprintf(key, sizeof key, "encoder.layer.%d.intermediate.dense", l);
    TD_TRY(linear(b, x, key, I, H, up));
    const char *gin[1] = {up};
    TD_TRY(node(b, "Gelu", act, 1, gin, NULL));
    snprintf(key, sizeof key, "encoder.layer.%d.output.dense", l);
    TD_TRY(linear(b, act, key, H, I, down));
    TD_TRY(binary(b, "Add", down, x, res));
    snprintf(key, sizeof key, "encoder.layer.%d.output.LayerNorm", l);
    return layer_norm(b, res, key, out);
}

/* Mean over real tokens, then L2 normalization (sentence-transformers' embedding). */
static td_status pooling(builder *b, const char *x)
{
    int64_t axis1[1] = {1}, axis2[1] = {2}, last[1] = {-1};
    TD_TRY(const_ints(b, "axes_seq", 1, axis1));
    TD_TRY(const_ints(b, "axes_feature", 1, axis2));
    TD_TRY(const_ints(b, "axes_last", 1, last));
    TD_TRY(const_scalar(b, "norm_floor", 1e-12f));
    TD_TRY(const_scalar(b, "count_floor", 1e-9f));
    TD_TRY(reshape(b, x, "shape_sequences", "tokens_3d"));
    TD_TRY(binary(b, "Unsqueeze", "attention_mask", "axes_feature", "mask_3d"));
    TD_TRY(binary(b, "Mul", "tokens_3d", "mask_3d", "tokens_masked"));
    td_node *n;
    const char *s1[2] = {"tokens_masked", "axes_seq"};
    TD_TRY(node(b, "ReduceSum", "token_sum", 2, s1, &n));
    TD_TRY(td_node_set_int(n, "keepdims", 0));
    const char *s2[2] = {"mask_3d", "axes_seq"};
    TD_TRY(node(b, "ReduceSum", "token_count", 2, s2, &n));
    TD_TRY(td_node_set_int(n, "keepdims", 0));
    const char *c1[3] = {"token_count", "count_floor", ""};
    TD_TRY(node(b, "Clip", "token_count_safe", 3, c1, NULL));
    TD_TRY(binary(b, "Div", "token_sum", "token_count_safe", "mean_pooled"));
    TD_TRY(binary(b, "Mul", "mean_pooled", "mean_pooled", "squares"));
    const char *s3[2] = {"squares", "axes_last"};
    TD_TRY(node(b, "ReduceSum", "square_sum", 2, s3, &n));
    TD_TRY(td_node_set_int(n, "keepdims", 1));
    const char *q1[1] = {"square_sum"};
    TD_TRY(node(b, "Sqrt", "norm", 1, q1, NULL));
    const char *c2[3] = {"norm", "norm_floor", ""};
    TD_TRY(node(b, "Clip", "norm_safe", 3, c2, NULL));
    TD_TRY(binary(b, "Div", "mean_pooled", "norm_safe", "embedding"));
    return td_graph_mark_output(b->g, "embedding");
}

static td_status build(builder *b, const td_bert_opts *o)
{
    int64_t ids[2] = {b->batch, b->seq};
    TD_TRY(td_graph_add_input(b->g, "input_ids", TD_DT_I64, 2, ids, NULL));
    TD_TRY(td_graph_add_input(b->g, "attention_mask", TD_DT_F32, 2, ids, NULL));
    TD_TRY(constants(b));
    TD_TRY(embeddings(b));
    char x[MAX_NAME], mid[MAX_NAME], y[MAX_NAME];
    for (int l = 0; l < b->cfg.layers; l++) {
        snprintf(x, sizeof x, "hidden_%d", l);
        snprintf(mid, sizeof mid, "l%d_attention", l);
        snprintf(y, sizeof y, "hidden_%d", l + 1);
        TD_TRY(attention(b, l, x, mid));
        TD_TRY(feed_forward(b, l, mid, y));
    }
    snprintf(x, sizeof x, "hidden_%d", b->cfg.layers);
    const char *in[1] = {x};
    TD_TRY(node(b, "Identity", "last_hidden_state", 1, in, NULL));
    TD_TRY(td_graph_mark_output(b->g, "last_hidden_state"));
    return o->pooling ? pooling(b, "last_hidden_state") : TD_OK;
}

static td_status open_folder(builder *b, const char *dir, char *wpath, size_t wlen)
{
    char cpath[4096];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    char *json = NULL;
    size_t len = 0;
    TD_TRY(td_file_read(cpath, (size_t)1 << 24, &json, &len));
    td_status st = td_bert_config_parse(json, len, cpath, &b->cfg);
    free(json);
    TD_TRY(st);
    snprintf(wpath, wlen, "%s/model.safetensors", dir);
    b->path = wpath;
    TD_TRY(td_safetensors_open(wpath, &b->st));
    td_st_tensor t;
    if (td_safetensors_find(b->st, "embeddings.word_embeddings.weight", &t) == TD_OK)
        return TD_OK;
    td_status miss = td_safetensors_find(b->st, "bert.embeddings.word_embeddings.weight", &t);
    if (miss) {
        td_status_free(miss);
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: no embeddings.word_embeddings.weight: not a BERT encoder", wpath);
    }
    strcpy(b->prefix, "bert.");
    return TD_OK;
}

td_status td_bert_build(const char *model_dir, const td_bert_opts *opts, td_graph **out)
{
    *out = NULL;
    builder b;
    memset(&b, 0, sizeof b);
    char wpath[4096];
    td_status st = open_folder(&b, model_dir, wpath, sizeof wpath);
    if (!st && (opts->batch < 1 || opts->batch > 4096))
        st = td_error_new(TD_CODE_INVALID_ARGUMENT, "bert: batch %d outside 1..4096", opts->batch);
    if (!st && (opts->seq_len < 1 || opts->seq_len > b.cfg.max_positions))
        st = td_error_new(TD_CODE_INVALID_ARGUMENT,
                          "bert: sequence length %d outside 1..%d (max_position_embeddings)",
                          opts->seq_len, b.cfg.max_positions);
    if (!st) {
        b.batch = opts->batch;
        b.seq = opts->seq_len;
        st = td_graph_new("bert", &b.g);
    }
    if (!st)
        st = build(&b, opts);
    td_safetensors_close(b.st);
    if (st) {
        td_graph_free(b.g);
        return st;
    }
    *out = b.g;
    return TD_OK;
}
