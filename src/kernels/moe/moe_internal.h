/* Shared pieces of the mixture-of-experts files (moe_route.c, moe_layer.c, moe_cache.c). */
#ifndef TD_KERNELS_MOE_INTERNAL_H
#define TD_KERNELS_MOE_INTERNAL_H

#include "tandem/moe.h"

/* One expert's weights in working memory. */
typedef struct td_moe_expert {
    td_qmatrix *up, *gate, *down; /* gate only for SwiGLU */
    float *b_up, *b_down;         /* NULL without biases */
} td_moe_expert;

void td_moe_expert_clear(td_moe_expert *e);
size_t td_moe_expert_size(const td_moe_expert *e);

struct td_moe {
    td_moe_config cfg;
    uint8_t *task_mask; /* cfg.task_mask points here */
    td_qspec spec;
    td_act_type act;
    bool has_bias;
    float *router;          /* d_model x experts, as given */
    float *router_bias;     /* experts or NULL */
    float *router_noise;    /* d_model x experts or NULL */
    td_qmatrix *router_q;   /* experts x d_model, f32, for td_gemm */
    td_qmatrix *noise_q;    /* experts x d_model or NULL */
    td_moe_expert *experts; /* in memory, or NULL when served by `cache` */
    td_moe_cache *cache;
    int layer;
    uint8_t *last_used; /* experts used by the last forward */
    bool has_last;
    /* work buffers, grown on demand */
    td_act *ax, *ah;
    float *buf;
    size_t buf_bytes;
};

/* Routing options checked against a layer: task range, k, capacity factor, noise. */
td_status td_moe_check_opts(const td_moe_config *cfg, const td_moe_route_opts *opts,
                            const uint8_t **allowed);
/* Validates a configuration (sizes, activation, task masks with at least one expert each). */
td_status td_moe_check_config(const td_moe_config *cfg);

/* The cache's side of a forward: the expert's weights, resident until the next call on the
 * cache. */
td_status td_moe_cache_acquire(td_moe_cache *c, int layer, int expert, const td_moe_expert **out);
/* Builds a layer with no experts (served by a cache) from its router weights. */
td_status td_moe_new_shell(const td_moe_config *cfg, const td_moe_weights *w, const td_qspec *spec,
                           td_act_type act, bool has_bias, td_moe **out);

#endif
