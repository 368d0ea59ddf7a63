/* Attention: Y = softmax(Q K^T * scale + mask) V, tiled, without an N x N matrix.
 *
 * ---- Operands ----
 * Q is [batch, q_heads, q_len, head_dim], K is [batch, kv_heads, kv_len, head_dim], V is
 * [batch, kv_heads, kv_len, v_dim] and Y is [batch, q_heads, q_len, v_dim], all f32. Each is
 * addressed through a td_attn_layout (element strides of batch, head and row; the last
 * dimension is contiguous), so the contiguous [B, H, S, D] form and ONNX's 3-D
 * [B, S, H * D] form are both read in place. A zeroed layout means contiguous [B, H, S, D].
 * Grouped-query attention: q_heads is a multiple of kv_heads and query head h reads key/value
 * head h / (q_heads / kv_heads) (torch's repeat_interleave, ONNX Attention).
 *
 * ---- Masks ----
 * causal: query i attends key j iff j <= i + causal_offset. Offset 0 is the top-left aligned
 * mask of torch's is_causal and of ONNX Attention without a past (also when q_len != kv_len);
 * kv_len - q_len gives the bottom-right (decoding) alignment. A float bias (ONNX's float
 * attn_mask, or a boolean one turned into 0 / -inf) is added to the scaled scores. A query row
 * that attends no key (everything masked) gives a zero output row, as ONNX specifies.
 *
 * ---- Tiles ----
 * Queries are cut into tiles of block_q rows and keys into tiles of block_k keys (multiples
 * of 16). Each (batch, head, query tile) is one task for the OpenMP threads; it walks its key
 * tiles with an online softmax (running row max and sum, FlashAttention-style), so memory is
 * O(tile) per thread beyond a packed copy of K and V. The tile grid is also the grid of the
 * block-sparse mask and of the low-precision scales.
 *
 * ---- Block sparsity ----
 * block_mask[((b * q_heads + h) * nq + i) * nk + j] != 0 makes query tile i of head h visit key
 * tile j (nq, nk from td_attn_tiles); keys of skipped tiles get no weight at all. Key tiles
 * past the causal frontier are never visited, whatever the mask says. td_attn_predict builds a
 * mask from mean-pooled Q and K tiles (see td_attn_sparsity).
 *
 * ---- Low precision (per tile) ----
 * TD_ATTN_QK_INT8: K is smoothed by subtracting its mean over the sequence (per batch,
 *   kv head and channel; this adds the same constant to every score of a query row, which
 *   softmax ignores), then Q (per query tile) and K (per key tile) are quantized symmetrically
 *   to [-127, 127] with scale = tile amax / 127; scores are exact integer dot products times
 *   the two scales. With AVX-512 VNNI the products use vpdpbusd.
 * TD_ATTN_QK_FP8: the same smoothing and tiles, codes in OCP E4M3 (scale = amax / 448, round to
 *   nearest even, the formats module's conversion). With AVX-512 BF16 the dot products use
 *   vdpbf16ps on the exact bf16 images of the E4M3 values.
 * TD_ATTN_PV_FP8: V is quantized to E4M3 per key tile and channel (scale = amax / 448); the
 *   softmax numerators P (<= 1) are rounded to E4M3 after multiplying by 448, and the row sums
 *   use those rounded values, so the weights of a row still sum to one.
 * Accuracy and speed of each combination are what `tandem bench attention` reports.
 *
 * ---- Errors ----
 * Zero-length sequences or dimensions, head counts that do not divide, bad tile sizes, NULL
 * pointers and NaN/Inf in Q, K or V (NaN or +inf in the bias) are TD_CODE_INVALID_ARGUMENT or
 * TD_CODE_BAD_DATA naming the operand and position. Inputs so large that a score (|Q| |K| D
 * scale + |bias|) or an output sum (kv_len |V|) could overflow f32 are refused up front with
 * TD_CODE_BAD_DATA, rather than returned as NaN. */
#ifndef TANDEM_ATTENTION_H
#define TANDEM_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "tandem/core.h"
#include "tandem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_attn_qk {
    TD_ATTN_QK_F32 = 0,
    TD_ATTN_QK_INT8 = 1, /* smoothed K, int8 Q and K with per-tile scales */
    TD_ATTN_QK_FP8 = 2,  /* smoothed K, E4M3 Q and K with per-tile scales */
    TD_ATTN_QK_COUNT
} td_attn_qk;

typedef enum td_attn_pv {
    TD_ATTN_PV_F32 = 0,
    TD_ATTN_PV_FP8 = 1, /* E4M3 P and V (V scale per key tile and channel) */
    TD_ATTN_PV_COUNT
} td_attn_pv;

const char *td_attn_qk_name(td_attn_qk qk); /* "f32", "int8", "fp8" */
const char *td_attn_pv_name(td_attn_pv pv); /* "f32", "fp8" */
td_status td_attn_qk_parse(const char *name, td_attn_qk *out);
td_status td_attn_pv_parse(const char *name, td_attn_pv *out);

typedef struct td_attn_shape {
    int64_t batch, q_heads, kv_heads;
    int64_t q_len, kv_len;
    int64_t head_dim; /* of Q and K */
    int64_t v_dim;    /* of V and Y; 0 means head_dim */
} td_attn_shape;

/* Element strides of an operand's batch, head and row (sequence) dimensions. */
typedef struct td_attn_layout {
    int64_t batch, head, row;
} td_attn_layout;

/* Contiguous [batch, heads, seq, dim]. */
td_attn_layout td_attn_layout_bhsd(int64_t heads, int64_t seq, int64_t dim);
/* Contiguous [batch, seq, heads * dim] (ONNX Attention's 3-D inputs). */
td_attn_layout td_attn_layout_bshd(int64_t heads, int64_t seq, int64_t dim);

typedef struct td_attn_args {
    td_attn_shape shape;
    const float *q, *k, *v;
    float *out;
    td_attn_layout lq, lk, lv, lo; /* all-zero: contiguous [B, H, S, D] */
} td_attn_args;

typedef struct td_attn_opts {
    float scale; /* 0: 1 / sqrt(head_dim) */
    bool causal;
    int64_t causal_offset; /* query i attends key j iff j <= i + causal_offset */
    int block_q, block_k;  /* tile sizes: multiples of 16 in [16, 512]; 0: 64 */
    td_attn_qk qk;
    td_attn_pv pv;
    const uint8_t *block_mask; /* NULL (every tile) or [batch, q_heads, nq, nk] */
    const float *bias;         /* NULL or additive scores, indexed by bias_stride */
    int64_t bias_stride[4];    /* element strides over batch, q head, query, key; 0 broadcasts */
} td_attn_opts;

/* Dense f32, non-causal, default scale and tiles. */
td_attn_opts td_attn_opts_default(void);

/* Query and key tile counts for these args and opts (validates the tile sizes). */
td_status td_attn_tiles(const td_attn_shape *shape, const td_attn_opts *opts, int64_t *nq,
                        int64_t *nk);

/* Y for every batch and head, using ctx->threads OpenMP threads and the kernels of ctx->isa
 * (scalar: the reference tile kernels). */
td_status td_attention(const td_ctx *ctx, const td_attn_args *args, const td_attn_opts *opts);

/* The oracle: the same masks and scale, softmax and products in double precision, one query
 * row at a time over the keys it attends (ignores opts->qk, opts->pv and the tile kernels;
 * honours block_mask). Slow: for tests and accuracy reports. */
td_status td_attention_ref_f64(const td_attn_args *args, const td_attn_opts *opts);

/* ---- block-sparse mask prediction ----
 * Per (batch, head): mean-pool each query tile of Q and each key tile of K, score the pooled
 * pairs (scale * pq . pk, plus log of the tile's key count so that a short last tile weighs
 * less), and softmax over the key tiles a query tile may see. Then keep, per query tile,
 *   density > 0: the ceil(density * visible) tiles with the highest pooled scores, or
 *   otherwise:   the fewest tiles, highest first, whose pooled mass reaches mass_share.
 * For causal attention every tile that holds a diagonal key of the query tile is kept, so
 * each query still attends its own position. At least one tile is kept per query tile.
 * A mean represents its tile only when the tile's rows point the same way (SpargeAttn's
 * self-similarity check): a query tile whose rows' mean pairwise cosine similarity is below
 * min_similarity keeps every visible key tile, and a key tile below it is kept for every
 * query tile. 0 turns the check off. */
typedef struct td_attn_sparsity {
    float mass_share;     /* (0, 1]; 1 keeps every visible tile */
    float density;        /* 0 (use mass_share) or (0, 1] */
    float min_similarity; /* [0, 1]; 0: off */
} td_attn_sparsity;

typedef struct td_attn_mask_stats {
    int64_t visible; /* (query tile, key tile) pairs before the causal frontier */
    int64_t kept;    /* of those, visited */
    double density;  /* kept / visible */
} td_attn_mask_stats;

/* Fills mask ([batch, q_heads, nq, nk] bytes, 1 = visit) from args->q and args->k. */
td_status td_attn_predict(const td_ctx *ctx, const td_attn_args *args, const td_attn_opts *opts,
                          const td_attn_sparsity *sp, uint8_t *mask, td_attn_mask_stats *stats);
/* Density of a mask (NULL: every tile) under opts' causal frontier. */
td_status td_attn_mask_stats_of(const td_attn_shape *shape, const td_attn_opts *opts,
                                const uint8_t *mask, td_attn_mask_stats *stats);

/* ---- schedules: precision and density per layer and step ----
 * A diffusion model runs the same attention layers at every denoising step; early steps
 * tolerate less error than late ones (or the reverse), so a schedule picks, per (layer, step),
 * the precisions and the sparsity. mass_share >= 1 with density 0 (or density >= 1) is dense. */
typedef struct td_attn_plan {
    td_attn_qk qk;
    td_attn_pv pv;
    float mass_share;     /* as in td_attn_sparsity */
    float density;        /* as in td_attn_sparsity */
    float min_similarity; /* as in td_attn_sparsity */
} td_attn_plan;

/* The hook: fills *plan for (layer, step); an error aborts the attention call. */
typedef td_status (*td_attn_schedule_fn)(void *user, int layer, int step, td_attn_plan *plan);

/* A table schedule: the first rule whose ranges hold (layer, step) wins (a range bound of -1
 * is open); no match uses fallback. */
typedef struct td_attn_schedule_rule {
    int layer_first, layer_last;
    int step_first, step_last;
    td_attn_plan plan;
} td_attn_schedule_rule;

typedef struct td_attn_schedule_table {
    const td_attn_schedule_rule *rules;
    int n_rules;
    td_attn_plan fallback;
} td_attn_schedule_table;

/* A td_attn_schedule_fn over a td_attn_schedule_table (user = the table). */
td_status td_attn_schedule_table_pick(void *table, int layer, int step, td_attn_plan *plan);

typedef struct td_attn_step_report {
    td_attn_plan plan;       /* what the schedule chose */
    td_attn_mask_stats mask; /* the mask it ran with (density 1 when dense) */
} td_attn_step_report;

/* Asks fn for the plan of (layer, step), predicts a mask when the plan is sparse (base's own
 * block_mask is replaced), and runs td_attention with the plan's precisions. report may be
 * NULL. */
td_status td_attention_scheduled(const td_ctx *ctx, td_attn_schedule_fn fn, void *user, int layer,
                                 int step, const td_attn_args *args, const td_attn_opts *base,
                                 td_attn_step_report *report);

/* ---- accuracy figures ---- */
typedef struct td_attn_quality {
    double cosine;  /* <x, ref> / (|x| |ref|) (1 when both are zero) */
    double rel_l1;  /* sum |x - ref| / sum |ref| */
    double rmse;    /* sqrt(mean (x - ref)^2) */
    double max_abs; /* max |x - ref| */
} td_attn_quality;

void td_attn_quality_of(const float *x, const float *ref, int64_t n, td_attn_quality *q);

#ifdef __cplusplus
}
#endif
#endif
