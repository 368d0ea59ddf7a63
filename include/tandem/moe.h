/* Mixture of experts: a top-k router over feed-forward experts whose weights are compressed
 * matrices (any td_qspec: f32, int8/int6/int4, fp8, N:M...), products through td_gemm.
 *
 * A layer maps x [tokens, d_model] to y [tokens, d_model]:
 *
 *   logits = x R (+ router bias)                        R is d_model x experts, kept in f32
 *   (training only: + N(0,1) * noise_std [* softplus(x R_noise)], seeded; noisy top-k gating)
 *   route: each token's k best experts among those its task allows, gates, capacity
 *   y_t = sum over its kept slots j of gate_tj * expert_e(x_t)
 *   expert_e(x) = down_e( act(up_e x + b_up_e) ) + b_down_e        (GELU or SiLU)
 *                 down_e( silu(gate_e x) * (up_e x + b_up_e) ) + b_down_e   (SwiGLU)
 *
 * Expert weights are given in td_qmatrix orientation (rows = output features): up and gate are
 * [experts, d_ff, d_model], down is [experts, d_model, d_ff].
 *
 * Routing (td_moe_route) works on double logits and is fully deterministic:
 * - Ranking: experts by logit, descending, ties to the lower index; the top k are the token's
 *   choices (slot 0 the best). Experts the active task does not allow never rank.
 * - Gates: TD_MOE_TOPK_SOFTMAX takes a softmax over the k chosen logits only (Mixtral; with
 *   noise, Shazeer et al.'s softmax(KeepTopK(H))). TD_MOE_SOFTMAX_TOPK takes the softmax over
 *   all allowed experts and keeps the chosen probabilities (Switch, GShard), divided by their
 *   sum when `renormalize`.
 * - Capacity: C = min(tokens, ceil(capacity_factor * tokens * k / A)), A = experts the task
 *   allows (all experts without a task). capacity_factor must be > 0; INFINITY means no limit.
 *   Slots are served slot-major then token order (every token's first choice before any second
 *   choice, GShard's priority). A slot whose expert already holds C tokens overflows:
 *   TD_MOE_DROP drops that slot's contribution (gate 0, expert -1; the other slots keep their
 *   gates: no renormalization, the residual path outside the layer carries the token);
 *   TD_MOE_REROUTE sends it to the token's next-best allowed expert that has room and is not
 *   already one of the token's slots, keeping the slot's gate; with none left it is dropped.
 * - Statistics: tokens per expert after capacity, dropped and rerouted slots, the coefficient
 *   of variation (population std / mean) of that load over the A allowed experts, and the
 *   Switch auxiliary load-balance loss A * sum_e f_e P_e (f_e: share of the tokens' k choices,
 *   before capacity, that went to e; P_e: mean over tokens of the softmax over allowed experts
 *   of the routing logits), 1 at perfect balance, unscaled by any loss coefficient.
 *
 * Execution orders give the same y up to the expert products: both compute each slot's expert
 * output into its own row and combine y_t = sum_j gate_tj * out_tj in slot order with the same
 * float operations. Token-major runs each token's experts one after another as GEMVs; expert-
 * major gathers each expert's tokens, runs one GEMM per expert (its weights read once per
 * batch) and scatters the rows back. With integer activations (A8/A6) the kernels are exact
 * per token, so the orders agree bit for bit; with f32 activations GEMV and GEMM may sum in a
 * different order (OpenBLAS sgemv vs sgemm for f32 weights; int8 weights' f32 kernels), and
 * the orders agree within 2^-20 * max|y| (tests/test_moe.c checks it; about 2^-22 observed).
 *
 * A td_moe is not safe for concurrent forwards: it keeps its work buffers and the experts it
 * used last (for previous-batch prefetch). */
#ifndef TANDEM_MOE_H
#define TANDEM_MOE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem/core.h"
#include "tandem/formats.h"
#include "tandem/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_moe_activation {
    TD_MOE_GELU = 0, /* erf form */
    TD_MOE_SILU,
    TD_MOE_SWIGLU, /* silu(gate x) * (up x) */
    TD_MOE_ACTIVATION_COUNT
} td_moe_activation;

typedef enum td_moe_gating {
    TD_MOE_TOPK_SOFTMAX = 0, /* softmax over the k chosen logits */
    TD_MOE_SOFTMAX_TOPK,     /* softmax over all allowed experts, keep the k chosen */
} td_moe_gating;

typedef enum td_moe_overflow {
    TD_MOE_DROP = 0, /* the slot contributes nothing */
    TD_MOE_REROUTE,  /* the slot moves to the token's next-best expert with room */
} td_moe_overflow;

typedef enum td_moe_order {
    TD_MOE_EXPERT_MAJOR = 0, /* gather per expert, one GEMM per expert, scatter-add */
    TD_MOE_TOKEN_MAJOR,      /* per token, its k experts in turn (GEMVs) */
} td_moe_order;

const char *td_moe_activation_name(td_moe_activation a);
/* "gelu", "silu", "swiglu" */
td_status td_moe_activation_parse(const char *name, td_moe_activation *out);

typedef struct td_moe_config {
    int64_t d_model, d_ff;
    int experts;
    td_moe_activation activation;
    /* Task-conditioned experts: n_tasks masks of `experts` bytes (nonzero: the task may use
     * the expert), row-major. 0 tasks: every forward may use every expert. */
    int n_tasks;
    const uint8_t *task_mask;
} td_moe_config;

/* f32 weights of one layer (see the top of this file for shapes). Optional ones may be NULL. */
typedef struct td_moe_weights {
    const float *router;       /* d_model x experts */
    const float *router_bias;  /* experts, optional */
    const float *router_noise; /* d_model x experts, optional: noise std = noise_std *
                                  softplus(x R_noise) (Shazeer et al.); else noise_std */
    const float *w_up;         /* experts x d_ff x d_model */
    const float *w_gate;       /* experts x d_ff x d_model, SwiGLU only (required there) */
    const float *w_down;       /* experts x d_model x d_ff */
    const float *b_up;         /* experts x d_ff, optional */
    const float *b_down;       /* experts x d_model, optional */
} td_moe_weights;

typedef struct td_moe_route_opts {
    int k; /* experts per token, 1..allowed experts */
    td_moe_gating gating;
    bool renormalize;       /* TD_MOE_SOFTMAX_TOPK: gates divided by their sum */
    double capacity_factor; /* > 0; INFINITY: no capacity limit */
    td_moe_overflow overflow;
    int task; /* -1: all experts; else 0..n_tasks-1 */
    /* Noisy top-k gating, for training; off at inference. The noise of (token, expert) is
     * td_moe_noise_normal(noise_seed, token, expert), so a seed reproduces a routing. */
    bool noise;
    uint64_t noise_seed;
    float noise_std;
} td_moe_route_opts;

/* k experts, top-k then softmax, no capacity limit, drop, all experts, no noise. */
td_moe_route_opts td_moe_route_defaults(int k);

/* A standard normal sample determined by (seed, token, expert) alone: hash-based, so any
 * execution order or thread split draws the same noise. */
double td_moe_noise_normal(uint64_t seed, int64_t token, int expert);

typedef struct td_moe_routing {
    int64_t tokens;
    int k, experts;
    int64_t capacity;
    int32_t *choice; /* tokens x k: the top-k before capacity */
    int32_t *expert; /* tokens x k: the expert each slot runs on, -1 when dropped */
    double *gate;    /* tokens x k: gate of each slot, 0 when dropped */
    int64_t *load;   /* experts: slots served after capacity */
    int64_t dropped, rerouted;
    int allowed; /* experts the task allows */
    double load_cv, aux_loss;
} td_moe_routing;

void td_moe_routing_free(td_moe_routing *r);

/* Routes `tokens` tokens from their logits (tokens x experts, row-major). `allowed` (experts
 * bytes, NULL: all) is the task's mask; opts->task is not read here. Errors: k < 1 or above
 * the allowed experts, tokens < 1, capacity_factor <= 0 or NaN, a non-finite logit of an
 * allowed expert (TD_CODE_BAD_DATA). */
td_status td_moe_route(const double *logits, int64_t tokens, int experts, const uint8_t *allowed,
                       const td_moe_route_opts *opts, td_moe_routing *out);

/* ---- a layer ---- */
typedef struct td_moe td_moe;

/* Builds a layer, compressing every expert matrix with `spec` (f32: a TD_F32 spec) for products
 * with `act` activations. Weights are copied/compressed; the caller may free them after. */
td_status td_moe_new(const td_moe_config *cfg, const td_moe_weights *w, const td_qspec *spec,
                     td_act_type act, td_moe **out);
void td_moe_free(td_moe *m);

/* The layer's configuration (task_mask points at the layer's copy). */
const td_moe_config *td_moe_get_config(const td_moe *m);
const td_qspec *td_moe_spec(const td_moe *m);
td_act_type td_moe_act(const td_moe *m);
/* Bytes of one expert as stored: the parts of its compressed matrices (codes, scales, zero
 * points, indices; td_qmatrix_parts) plus f32 biases. This is what the cache moves per load. */
size_t td_moe_expert_bytes(const td_moe *m, int expert);

/* Router logits (tokens x experts, double) of x as the forward computes them: f32 product,
 * bias, then the noise when opts->noise. */
td_status td_moe_logits(const td_ctx *ctx, td_moe *m, const float *x, int64_t tokens,
                        const td_moe_route_opts *opts, double *logits);

/* y (tokens x d_model) = the layer on x (tokens x d_model). `routing` (may be NULL) receives
 * the routing; the caller frees it with td_moe_routing_free. Errors: tokens < 1, NaN/Inf in x
 * (TD_CODE_BAD_DATA), bad route options, a task out of range. A layer served by a cache loads
 * its experts through it (misses count there). */
td_status td_moe_forward(const td_ctx *ctx, td_moe *m, const float *x, int64_t tokens,
                         const td_moe_route_opts *opts, td_moe_order order, float *y,
                         td_moe_routing *routing);

/* The dense f32 weights the experts represent (dequantized), in td_moe_weights layout; w_gate
 * may be NULL unless SwiGLU, biases NULL to skip. Through the cache for cache-served layers. */
td_status td_moe_dequantize(td_moe *m, float *w_up, float *w_gate, float *w_down, float *b_up,
                            float *b_down);

/* ---- oracle (src/kernels/ref/moe_ref.c) ----
 * Double precision throughout: logits x R in double (plus the same noise), td_moe_route, then
 * every expert on every token, y_t = sum_e G[t][e] * expert_e(x_t) with the dense gate matrix
 * G holding each kept slot's gate. GELU with libm's erf, SiLU with exp. `routing` may be NULL. */
td_status td_moe_reference(const td_moe_config *cfg, const td_moe_weights *w, const float *x,
                           int64_t tokens, const td_moe_route_opts *opts, double *y,
                           td_moe_routing *routing);

/* ---- expert cache over a memory-mapped model file ----
 *
 * td_moe_save writes layers to a safetensors file: routers as F32, each expert matrix as the
 * U8 parts of its td_qmatrix (moe.<layer>.<expert>.up|gate|down.<part>), biases F32, one
 * metadata entry per layer. td_moe_cache_open maps it (td_safetensors_open) and keeps no
 * expert in memory. An expert is resident when its matrices have been rebuilt from the mapped
 * parts into working memory (td_qmatrix_from_parts: copied, validated, weight sums computed);
 * residency is least-recently-used under a byte budget, eviction frees. Every demand access
 * (td_moe_forward of a cache-served layer, td_moe_cache_use) is a hit or a miss (a load);
 * prefetch loads ahead. Bytes moved = loads (misses + prefetches) x expert bytes.
 *
 * Consistency with td_moe_weight_traffic (src/hw/operator_traffic.c): with `resident` =
 * budget / expert bytes slots, an empty cache and equal-sized experts, a token-major forward
 * misses exactly as often as that model's token-major count for the routes (slots in token
 * order, then slot order), and an expert-major forward loads each used expert once, as its
 * expert-major count says. Across batches the cache keeps what is resident, where the model
 * counts each batch from empty; tests/test_moe.c checks both counts. */
typedef struct td_moe_cache td_moe_cache;

typedef struct td_moe_cache_stats {
    int64_t hits, misses;  /* demand accesses */
    int64_t prefetched;    /* loads by prefetch */
    int64_t prefetch_used; /* prefetched experts hit by a demand access before eviction */
    int64_t evictions;
    double bytes_moved;    /* bytes copied from the mapping into working memory */
    size_t resident_bytes; /* now */
    size_t peak_bytes;     /* most resident at once (<= budget) */
} td_moe_cache_stats;

/* Writes the layers (in memory or cache-served) to `path` atomically. */
td_status td_moe_save(const char *path, td_moe *const *layers, int n_layers);

/* Opens a file written by td_moe_save. budget_bytes must hold the largest expert. */
td_status td_moe_cache_open(const char *path, size_t budget_bytes, td_moe_cache **out);
/* Frees every resident expert and unmaps the file; layers from td_moe_cache_layer must be freed
 * first. */
void td_moe_cache_close(td_moe_cache *c);
int td_moe_cache_layer_count(const td_moe_cache *c);
/* A layer whose router lives in memory and whose experts are served by the cache. */
td_status td_moe_cache_layer(td_moe_cache *c, int layer, td_moe **out);
/* A demand access: hit, or load (evicting least recently used experts). */
td_status td_moe_cache_use(td_moe_cache *c, int layer, int expert);
/* Loads the listed experts that are not resident (most important first), stopping before one
 * would evict an expert this call loaded or the budget is exhausted. Resident ones are left as
 * they are (their recency unchanged). */
td_status td_moe_cache_prefetch(td_moe_cache *c, int layer, const int32_t *experts, int n);
bool td_moe_cache_is_resident(const td_moe_cache *c, int layer, int expert);
size_t td_moe_cache_expert_bytes(const td_moe_cache *c, int layer, int expert);
size_t td_moe_cache_budget(const td_moe_cache *c);
void td_moe_cache_get_stats(const td_moe_cache *c, td_moe_cache_stats *out);
/* Zeroes the counters (residency is kept). */
void td_moe_cache_reset_stats(td_moe_cache *c);

/* ---- a stack of layers with prefetch ----
 * h <- h + layer_l(h) for l = 0..n-1 (residual, no normalization: a model of how hidden states
 * drift between layers). Prefetch for a cache-served stack, issued once layer l has run and
 * using only what was known before it ran (a real system overlaps the loads with layer l):
 * - NEXT_ROUTER: layer l+1's router applied to layer l's input h_l, its top-k experts ranked
 *   by how many tokens chose them (Pre-gated MoE / speculative routing);
 * - PREVIOUS: the experts layer l+1 used in the previous forward of the stack (batch-to-batch
 *   locality of decoding); after the last layer, layer 0's experts of this forward, for the next.
 * Prefetching never changes the output, only where the experts come from. */
typedef enum td_moe_prefetch {
    TD_MOE_PREFETCH_NONE = 0,
    TD_MOE_PREFETCH_NEXT_ROUTER,
    TD_MOE_PREFETCH_PREVIOUS,
} td_moe_prefetch;

td_status td_moe_stack_forward(const td_ctx *ctx, td_moe *const *layers, int n_layers, float *h,
                               int64_t tokens, const td_moe_route_opts *opts, td_moe_order order,
                               td_moe_prefetch prefetch);

/* The experts `m` would route x to (router top-k, no capacity, no noise), ranked by how many
 * tokens chose each (ties to the lower index). `experts` holds room for m's expert count; *n
 * receives how many were chosen. */
td_status td_moe_predict(const td_ctx *ctx, td_moe *m, const float *x, int64_t tokens,
                         const td_moe_route_opts *opts, int32_t *experts, int *n);

#ifdef __cplusplus
}
#endif
#endif
