/* Mixture-of-experts layer: construction, router logits, the two execution orders, and the
 * stack runner with prefetch. Every product goes through td_gemm_prepared; nothing here is a
 * GEMM of its own. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/moe/moe_internal.h"
#include "kernels/vmath.h"

/* ---- construction ---- */

void td_moe_expert_clear(td_moe_expert *e)
{
    td_qmatrix_free(e->up);
    td_qmatrix_free(e->gate);
    td_qmatrix_free(e->down);
    free(e->b_up);
    free(e->b_down);
    memset(e, 0, sizeof *e);
}

static size_t parts_bytes(const td_qmatrix *q)
{
    td_qpart parts[TD_QMATRIX_MAX_PARTS];
    int n = td_qmatrix_parts(q, parts);
    size_t b = 0;
    for (int i = 0; i < n; i++)
        b += parts[i].bytes;
    return b;
}

size_t td_moe_expert_size(const td_moe_expert *e)
{
    size_t b = parts_bytes(e->up) + parts_bytes(e->down);
    if (e->gate)
        b += parts_bytes(e->gate);
    if (e->b_up)
        b += (size_t)td_qmatrix_rows(e->up) * sizeof(float);
    if (e->b_down)
        b += (size_t)td_qmatrix_rows(e->down) * sizeof(float);
    return b;
}

static td_status copy_floats(const float *src, size_t n, const char *what, float **out)
{
    *out = NULL;
    if (!src)
        return TD_OK;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(src[i]))
            return td_error_new(TD_CODE_BAD_DATA, "moe: %s[%zu] is not finite", what, i);
    *out = malloc(n * sizeof **out);
    if (!*out)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe: out of memory copying %s", what);
    memcpy(*out, src, n * sizeof **out);
    return TD_OK;
}

/* The router (d x E) as an f32 matrix of E rows for td_gemm. */
static td_status router_matrix(const float *r, int64_t d, int experts, td_qmatrix **out)
{
    size_t n = (size_t)d * (size_t)experts;
    float *t = malloc(n * sizeof *t);
    if (!t)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe: out of memory for the router");
    for (int64_t i = 0; i < d; i++)
        for (int e = 0; e < experts; e++)
            t[(size_t)e * (size_t)d + (size_t)i] = r[(size_t)i * (size_t)experts + (size_t)e];
    td_qspec s = td_qspec_default(TD_F32);
    td_status st = td_qmatrix_quantize(&s, t, experts, d, d, out);
    free(t);
    return st;
}

td_status td_moe_new_shell(const td_moe_config *cfg, const td_moe_weights *w, const td_qspec *spec,
                           td_act_type act, bool has_bias, td_moe **out)
{
    *out = NULL;
    TD_TRY(td_moe_check_config(cfg));
    if (!w || !w->router)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: the router weight is required");
    if (!spec || (unsigned)act >= TD_ACT_COUNT)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: missing weight spec or bad "
                                                      "activation type");
    size_t nr;
    TD_TRY(td_elem_count(cfg->d_model, cfg->experts, "moe router", &nr));
    td_moe *m = calloc(1, sizeof *m);
    if (!m)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe: out of memory");
    m->cfg = *cfg;
    m->spec = *spec;
    m->spec.importance = NULL;
    m->act = act;
    m->has_bias = has_bias;
    m->layer = -1;
    size_t nm = (size_t)cfg->n_tasks * (size_t)cfg->experts;
    m->task_mask = malloc(nm ? nm : 1);
    m->last_used = calloc((size_t)cfg->experts, 1);
    td_status st = m->task_mask && m->last_used
                       ? TD_OK
                       : td_error_new(TD_CODE_OUT_OF_MEMORY, "moe: out of memory");
    if (!st && nm)
        memcpy(m->task_mask, cfg->task_mask, nm);
    m->cfg.task_mask = nm ? m->task_mask : NULL;
    if (!st)
        st = copy_floats(w->router_bias, (size_t)cfg->experts, "router bias", &m->router_bias);
    if (!st)
        st = copy_floats(w->router, nr, "router", &m->router);
    if (!st)
        st = copy_floats(w->router_noise, nr, "router noise", &m->router_noise);
    if (!st)
        st = router_matrix(m->router, cfg->d_model, cfg->experts, &m->router_q);
    if (!st && m->router_noise)
        st = router_matrix(m->router_noise, cfg->d_model, cfg->experts, &m->noise_q);
    if (!st)
        st = td_act_new(&m->ax);
    if (!st)
        st = td_act_new(&m->ah);
    if (st) {
        td_moe_free(m);
        return st;
    }
    *out = m;
    return TD_OK;
}

/* Compresses one expert matrix; errors name the expert and the matrix. */
static td_status quantize_one(const td_qspec *spec, const float *w, int64_t rows, int64_t cols,
                              int e, const char *name, td_qmatrix **out)
{
    td_status st = td_qmatrix_quantize(spec, w, rows, cols, cols, out);
    if (!st)
        return TD_OK;
    td_status err = td_error_new(td_status_code(st), "moe: %s of expert %d: %s", name, e,
                                 td_status_message(st));
    td_status_free(st);
    return err;
}

static td_status quantize_expert(const td_moe *m, const td_moe_weights *w, int e, td_moe_expert *ex)
{
    int64_t d = m->cfg.d_model, f = m->cfg.d_ff;
    size_t mat = (size_t)d * (size_t)f, off = (size_t)e * mat;
    char what[64];
    TD_TRY(quantize_one(&m->spec, w->w_up + off, f, d, e, "w_up", &ex->up));
    if (m->cfg.activation == TD_MOE_SWIGLU)
        TD_TRY(quantize_one(&m->spec, w->w_gate + off, f, d, e, "w_gate", &ex->gate));
    TD_TRY(quantize_one(&m->spec, w->w_down + off, d, f, e, "w_down", &ex->down));
    snprintf(what, sizeof what, "b_up of expert %d", e);
    TD_TRY(
        copy_floats(w->b_up ? w->b_up + (size_t)e * (size_t)f : NULL, (size_t)f, what, &ex->b_up));
    snprintf(what, sizeof what, "b_down of expert %d", e);
    return copy_floats(w->b_down ? w->b_down + (size_t)e * (size_t)d : NULL, (size_t)d, what,
                       &ex->b_down);
}

td_status td_moe_new(const td_moe_config *cfg, const td_moe_weights *w, const td_qspec *spec,
                     td_act_type act, td_moe **out)
{
    *out = NULL;
    if (!w || !w->w_up || !w->w_down)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: up and down weights are required");
    if (cfg && cfg->activation == TD_MOE_SWIGLU && !w->w_gate)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: SwiGLU needs the gate weights");
    if ((w->b_up == NULL) != (w->b_down == NULL))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moe: give both expert biases (b_up and b_down) or neither");
    td_moe *m;
    TD_TRY(td_moe_new_shell(cfg, w, spec, act, w->b_up != NULL, &m));
    td_status st = TD_OK;
    m->experts = calloc((size_t)cfg->experts, sizeof *m->experts);
    if (!m->experts)
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "moe: out of memory for %d experts", cfg->experts);
    for (int e = 0; !st && e < cfg->experts; e++)
        st = quantize_expert(m, w, e, &m->experts[e]);
    if (st) {
        td_moe_free(m);
        return st;
    }
    *out = m;
    return TD_OK;
}

void td_moe_free(td_moe *m)
{
    if (!m)
        return;
    for (int e = 0; m->experts && e < m->cfg.experts; e++)
        td_moe_expert_clear(&m->experts[e]);
    free(m->experts);
    td_qmatrix_free(m->router_q);
    td_qmatrix_free(m->noise_q);
    free(m->router);
    free(m->router_bias);
    free(m->router_noise);
    free(m->task_mask);
    free(m->last_used);
    td_act_free(m->ax);
    td_act_free(m->ah);
    td_free(m->buf);
    free(m);
}

const td_moe_config *td_moe_get_config(const td_moe *m)
{
    return &m->cfg;
}

const td_qspec *td_moe_spec(const td_moe *m)
{
    return &m->spec;
}

td_act_type td_moe_act(const td_moe *m)
{
    return m->act;
}

size_t td_moe_expert_bytes(const td_moe *m, int expert)
{
    if (expert < 0 || expert >= m->cfg.experts)
        return 0;
    if (m->cache)
        return td_moe_cache_expert_bytes(m->cache, m->layer, expert);
    return td_moe_expert_size(&m->experts[expert]);
}

static td_status expert_of(td_moe *m, int e, const td_moe_expert **out)
{
    if (m->cache)
        return td_moe_cache_acquire(m->cache, m->layer, e, out);
    *out = &m->experts[e];
    return TD_OK;
}

/* ---- work buffers ---- */

typedef struct work {
    double *logits; /* tokens x experts */
    float *lf;      /* tokens x experts, f32 products */
    float *slots;   /* tokens*k x d: each slot's expert output */
    float *x, *h, *g, *o;
} work;

static td_status get_work(td_moe *m, int64_t tokens, int k, work *w)
{
    int64_t d = m->cfg.d_model, f = m->cfg.d_ff, E = m->cfg.experts;
    /* in floats: logits (as doubles) 2TE, lf TE, slots Tkd, x Td, h Tf, g Tf, o Td */
    double need = (double)tokens * (3.0 * E + (double)k * d + 2.0 * d + 2.0 * f);
    if (need * sizeof(float) > (double)SIZE_MAX / 2)
        return td_error_new(TD_CODE_OVERFLOW, "moe: work buffers for %lld tokens overflow",
                            (long long)tokens);
    size_t bytes = (size_t)need * sizeof(float) + 8 * TD_ALIGN;
    if (bytes > m->buf_bytes) {
        td_free(m->buf);
        m->buf = NULL;
        m->buf_bytes = 0;
        TD_TRY(td_alloc(bytes, (void **)&m->buf));
        m->buf_bytes = bytes;
    }
    float *p = m->buf;
#define TAKE(ptr, nfloats)                                                                         \
    do {                                                                                           \
        (ptr) = (void *)p;                                                                         \
        p += ((size_t)(nfloats) + 15) / 16 * 16;                                                   \
    } while (0)
    TAKE(w->logits, 2 * tokens * E);
    TAKE(w->lf, tokens * E);
    TAKE(w->slots, tokens * k * d);
    TAKE(w->x, tokens * d);
    TAKE(w->h, tokens * f);
    TAKE(w->g, tokens * f);
    TAKE(w->o, tokens * d);
#undef TAKE
    return TD_OK;
}

/* ---- logits ---- */

static double softplus(double z)
{
    return z > 30 ? z : log1p(exp(z));
}

static td_status check_x(const float *x, int64_t tokens, int64_t d)
{
    for (int64_t i = 0; i < tokens * d; i++)
        if (!isfinite(x[i]))
            return td_error_new(TD_CODE_BAD_DATA,
                                "moe: input x[%lld][%lld] is not finite (NaN or Inf)",
                                (long long)(i / d), (long long)(i % d));
    return TD_OK;
}

static td_status logits_into(const td_ctx *ctx, td_moe *m, const float *x, int64_t tokens,
                             const td_moe_route_opts *o, float *lf, double *logits)
{
    int E = m->cfg.experts;
    int64_t d = m->cfg.d_model;
    TD_TRY(td_act_prepare_ctx(ctx, m->ah, m->router_q, TD_ACT_F32, x, tokens, d));
    TD_TRY(td_gemm_prepared(ctx, m->router_q, m->ah, lf, E));
    for (int64_t i = 0; i < tokens * E; i++)
        logits[i] = (double)lf[i] + (m->router_bias ? (double)m->router_bias[i % E] : 0.0);
    if (!o->noise)
        return TD_OK;
    if (m->noise_q) {
        TD_TRY(td_act_prepare_ctx(ctx, m->ah, m->noise_q, TD_ACT_F32, x, tokens, d));
        TD_TRY(td_gemm_prepared(ctx, m->noise_q, m->ah, lf, E));
    }
    for (int64_t t = 0; t < tokens; t++)
        for (int e = 0; e < E; e++) {
            double sd = o->noise_std * (m->noise_q ? softplus((double)lf[t * E + e]) : 1.0);
            logits[t * E + e] += sd * td_moe_noise_normal(o->noise_seed, t, e);
        }
    return TD_OK;
}

static td_status check_call(const td_ctx *ctx, td_moe *m, const float *x, int64_t tokens,
                            const td_moe_route_opts *opts, const uint8_t **allowed)
{
    if (!ctx || !m || !x)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: NULL argument");
    TD_TRY(td_moe_check_opts(&m->cfg, opts, allowed));
    if (tokens < 1)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: %lld tokens, need >= 1",
                            (long long)tokens);
    return check_x(x, tokens, m->cfg.d_model);
}

td_status td_moe_logits(const td_ctx *ctx, td_moe *m, const float *x, int64_t tokens,
                        const td_moe_route_opts *opts, double *logits)
{
    const uint8_t *allowed;
    TD_TRY(check_call(ctx, m, x, tokens, opts, &allowed));
    work w;
    TD_TRY(get_work(m, tokens, opts->k, &w));
    return logits_into(ctx, m, x, tokens, opts, w.lf, logits);
}

/* ---- one expert on n rows ---- */

static void silu_inplace(float *h, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        h[i] = h[i] / (1.0f + td_vexpf(-h[i]));
}

static void add_bias(float *y, const float *b, int64_t n, int64_t cols)
{
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < cols; c++)
            y[r * cols + c] += b[c];
}

/* out (n x d) = expert(x); x is already prepared in m->ax when x_ready. */
static td_status run_expert(const td_ctx *ctx, td_moe *m, const td_moe_expert *ex, const float *x,
                            int64_t n, bool x_ready, const work *w, float *out)
{
    int64_t d = m->cfg.d_model, f = m->cfg.d_ff;
    if (!x_ready)
        TD_TRY(td_act_prepare_ctx(ctx, m->ax, ex->up, m->act, x, n, d));
    TD_TRY(td_gemm_prepared(ctx, ex->up, m->ax, w->h, f));
    if (ex->b_up)
        add_bias(w->h, ex->b_up, n, f);
    if (m->cfg.activation == TD_MOE_SWIGLU) {
        TD_TRY(td_gemm_prepared(ctx, ex->gate, m->ax, w->g, f));
        silu_inplace(w->g, n * f);
        for (int64_t i = 0; i < n * f; i++)
            w->h[i] *= w->g[i];
    } else if (m->cfg.activation == TD_MOE_SILU) {
        silu_inplace(w->h, n * f);
    } else {
        td_vgelu(ctx->isa, w->h, w->h, n * f);
    }
    TD_TRY(td_act_prepare_ctx(ctx, m->ah, ex->down, m->act, w->h, n, f));
    TD_TRY(td_gemm_prepared(ctx, ex->down, m->ah, out, d));
    if (ex->b_down)
        add_bias(out, ex->b_down, n, d);
    return TD_OK;
}

/* ---- execution orders ---- */

static td_status token_major(const td_ctx *ctx, td_moe *m, const float *x, const td_moe_routing *r,
                             const work *w)
{
    int64_t d = m->cfg.d_model;
    int k = r->k;
    for (int64_t t = 0; t < r->tokens; t++) {
        bool ready = false; /* every expert has the same layout: prepare x_t once */
        for (int j = 0; j < k; j++) {
            int64_t s = t * k + j;
            if (r->expert[s] < 0)
                continue;
            const td_moe_expert *ex;
            TD_TRY(expert_of(m, r->expert[s], &ex));
            TD_TRY(run_expert(ctx, m, ex, x + t * d, 1, ready, w, w->slots + s * d));
            ready = true;
        }
    }
    return TD_OK;
}

static td_status expert_major(const td_ctx *ctx, td_moe *m, const float *x, const td_moe_routing *r,
                              const work *w)
{
    int64_t d = m->cfg.d_model, n = r->tokens * r->k;
    int E = m->cfg.experts;
    int64_t *start = calloc((size_t)E + 1, sizeof *start);
    int64_t *slot = malloc((size_t)n * sizeof *slot);
    if (!start || !slot) {
        free(start);
        free(slot);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe: out of memory grouping tokens");
    }
    /* counting sort of the slots by expert, slot order kept inside each expert */
    for (int64_t s = 0; s < n; s++)
        if (r->expert[s] >= 0)
            start[r->expert[s] + 1]++;
    for (int e = 0; e < E; e++)
        start[e + 1] += start[e];
    int64_t *fill = malloc((size_t)E * sizeof *fill);
    td_status st = fill ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "moe: out of memory");
    for (int e = 0; !st && e < E; e++)
        fill[e] = start[e];
    for (int64_t s = 0; !st && s < n; s++)
        if (r->expert[s] >= 0)
            slot[fill[r->expert[s]]++] = s;
    for (int e = 0; !st && e < E; e++) {
        int64_t cnt = start[e + 1] - start[e];
        if (cnt == 0)
            continue;
        const td_moe_expert *ex;
        st = expert_of(m, e, &ex);
        for (int64_t i = 0; !st && i < cnt; i++)
            memcpy(w->x + i * d, x + (slot[start[e] + i] / r->k) * d, (size_t)d * sizeof(float));
        if (!st)
            st = run_expert(ctx, m, ex, w->x, cnt, false, w, w->o);
        for (int64_t i = 0; !st && i < cnt; i++)
            memcpy(w->slots + slot[start[e] + i] * d, w->o + i * d, (size_t)d * sizeof(float));
    }
    free(fill);
    free(start);
    free(slot);
    return st;
}

/* y_t = sum over kept slots, in slot order, of gate * slot output: the same float operations
 * whichever order produced the slot outputs. */
static void combine(const td_moe_routing *r, const float *slots, int64_t d, float *y)
{
    int k = r->k;
    for (int64_t t = 0; t < r->tokens; t++) {
        float *yt = y + t * d;
        memset(yt, 0, (size_t)d * sizeof *yt);
        for (int j = 0; j < k; j++) {
            int64_t s = t * k + j;
            if (r->expert[s] < 0)
                continue;
            float g = (float)r->gate[s];
            const float *o = slots + s * d;
            for (int64_t i = 0; i < d; i++)
                yt[i] += g * o[i];
        }
    }
}

td_status td_moe_forward(const td_ctx *ctx, td_moe *m, const float *x, int64_t tokens,
                         const td_moe_route_opts *opts, td_moe_order order, float *y,
                         td_moe_routing *routing)
{
    if (routing)
        memset(routing, 0, sizeof *routing);
    const uint8_t *allowed;
    TD_TRY(check_call(ctx, m, x, tokens, opts, &allowed));
    if (!y)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: NULL output");
    if (order != TD_MOE_EXPERT_MAJOR && order != TD_MOE_TOKEN_MAJOR)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: execution order %d out of range",
                            (int)order);
    work w;
    TD_TRY(get_work(m, tokens, opts->k, &w));
    TD_TRY(logits_into(ctx, m, x, tokens, opts, w.lf, w.logits));
    td_moe_routing r;
    TD_TRY(td_moe_route(w.logits, tokens, m->cfg.experts, allowed, opts, &r));
    td_status st = order == TD_MOE_TOKEN_MAJOR ? token_major(ctx, m, x, &r, &w)
                                               : expert_major(ctx, m, x, &r, &w);
    if (!st) {
        combine(&r, w.slots, m->cfg.d_model, y);
        for (int e = 0; e < m->cfg.experts; e++)
            m->last_used[e] = r.load[e] > 0;
        m->has_last = true;
    }
    if (st || !routing)
        td_moe_routing_free(&r);
    else
        *routing = r;
    return st;
}

/* ---- dense weights back ---- */

td_status td_moe_dequantize(td_moe *m, float *w_up, float *w_gate, float *w_down, float *b_up,
                            float *b_down)
{
    if (!m || !w_up || !w_down || (m->cfg.activation == TD_MOE_SWIGLU && !w_gate))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe dequantize: NULL output");
    int64_t d = m->cfg.d_model, f = m->cfg.d_ff;
    size_t mat = (size_t)d * (size_t)f;
    for (int e = 0; e < m->cfg.experts; e++) {
        const td_moe_expert *ex;
        TD_TRY(expert_of(m, e, &ex));
        TD_TRY(td_qmatrix_dequantize(ex->up, w_up + (size_t)e * mat));
        TD_TRY(td_qmatrix_dequantize(ex->down, w_down + (size_t)e * mat));
        if (ex->gate && w_gate)
            TD_TRY(td_qmatrix_dequantize(ex->gate, w_gate + (size_t)e * mat));
        for (int64_t i = 0; b_up && i < f; i++)
            b_up[(size_t)e * (size_t)f + (size_t)i] = ex->b_up ? ex->b_up[i] : 0.0f;
        for (int64_t i = 0; b_down && i < d; i++)
            b_down[(size_t)e * (size_t)d + (size_t)i] = ex->b_down ? ex->b_down[i] : 0.0f;
    }
    return TD_OK;
}

/* ---- prediction and the stack ---- */

typedef struct ranked_count {
    int64_t count;
    int expert;
} ranked_count;

static int by_count(const void *pa, const void *pb)
{
    const ranked_count *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->expert - b->expert;
}

/* Experts with a nonzero count, most counted first. */
static td_status rank_counts(const int64_t *count, int E, int32_t *experts, int *n)
{
    ranked_count *rc = malloc((size_t)E * sizeof *rc);
    if (!rc)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe: out of memory");
    int c = 0;
    for (int e = 0; e < E; e++)
        if (count[e] > 0)
            rc[c++] = (ranked_count){count[e], e};
    qsort(rc, (size_t)c, sizeof *rc, by_count);
    for (int i = 0; i < c; i++)
        experts[i] = rc[i].expert;
    *n = c;
    free(rc);
    return TD_OK;
}

td_status td_moe_predict(const td_ctx *ctx, td_moe *m, const float *x, int64_t tokens,
                         const td_moe_route_opts *opts, int32_t *experts, int *n)
{
    *n = 0;
    const uint8_t *allowed;
    TD_TRY(check_call(ctx, m, x, tokens, opts, &allowed));
    td_moe_route_opts o = *opts;
    o.noise = false;
    o.capacity_factor = INFINITY;
    work w;
    TD_TRY(get_work(m, tokens, o.k, &w));
    TD_TRY(logits_into(ctx, m, x, tokens, &o, w.lf, w.logits));
    td_moe_routing r;
    TD_TRY(td_moe_route(w.logits, tokens, m->cfg.experts, allowed, &o, &r));
    td_status st = rank_counts(r.load, m->cfg.experts, experts, n);
    td_moe_routing_free(&r);
    return st;
}

static td_status previous_experts(const td_moe *m, int32_t *experts, int *n)
{
    *n = 0;
    for (int e = 0; m->has_last && e < m->cfg.experts; e++)
        if (m->last_used[e])
            experts[(*n)++] = e;
    return TD_OK;
}

static td_status check_stack(td_moe *const *layers, int n_layers, const float *h)
{
    if (!layers || n_layers < 1 || !h)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe stack: need layers and a hidden state");
    for (int l = 0; l < n_layers; l++)
        if (!layers[l] || layers[l]->cfg.d_model != layers[0]->cfg.d_model)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "moe stack: layer %d is missing or has another d_model", l);
    return TD_OK;
}

/* Experts to prefetch for `next` given the input of the layer before it. */
static td_status prefetch_list(const td_ctx *ctx, td_moe *next, const float *h, int64_t tokens,
                               const td_moe_route_opts *opts, td_moe_prefetch p, int32_t *list,
                               int *n)
{
    *n = 0;
    if (!next || !next->cache || p == TD_MOE_PREFETCH_NONE)
        return TD_OK;
    if (p == TD_MOE_PREFETCH_NEXT_ROUTER)
        return td_moe_predict(ctx, next, h, tokens, opts, list, n);
    return previous_experts(next, list, n);
}

td_status td_moe_stack_forward(const td_ctx *ctx, td_moe *const *layers, int n_layers, float *h,
                               int64_t tokens, const td_moe_route_opts *opts, td_moe_order order,
                               td_moe_prefetch prefetch)
{
    TD_TRY(check_stack(layers, n_layers, h));
    if (prefetch < TD_MOE_PREFETCH_NONE || prefetch > TD_MOE_PREFETCH_PREVIOUS)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe stack: prefetch %d out of range",
                            (int)prefetch);
    if (tokens < 1)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe stack: %lld tokens, need >= 1",
                            (long long)tokens);
    int64_t d = layers[0]->cfg.d_model;
    int max_e = 0;
    for (int l = 0; l < n_layers; l++)
        max_e = layers[l]->cfg.experts > max_e ? layers[l]->cfg.experts : max_e;
    float *y = malloc((size_t)tokens * (size_t)d * sizeof *y);
    int32_t *list = malloc((size_t)max_e * sizeof *list);
    td_status st =
        y && list ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "moe stack: out of memory");
    for (int l = 0; !st && l < n_layers; l++) {
        /* The layer after this one (for PREVIOUS, wrapping to layer 0 of the next forward). */
        td_moe *next = l + 1 < n_layers                       ? layers[l + 1]
                       : prefetch == TD_MOE_PREFETCH_PREVIOUS ? layers[0]
                                                              : NULL;
        int n = 0;
        /* the next router sees only h_l; previous-forward lists are read after layer l ran
         * (with one layer, `next` is this layer and its list must be this forward's) */
        if (prefetch == TD_MOE_PREFETCH_NEXT_ROUTER)
            st = prefetch_list(ctx, next, h, tokens, opts, prefetch, list, &n);
        if (!st)
            st = td_moe_forward(ctx, layers[l], h, tokens, opts, order, y, NULL);
        if (!st && prefetch == TD_MOE_PREFETCH_PREVIOUS)
            st = prefetch_list(ctx, next, h, tokens, opts, prefetch, list, &n);
        for (int64_t i = 0; !st && i < tokens * d; i++)
            h[i] += y[i];
        if (!st && n > 0)
            st = td_moe_cache_prefetch(next->cache, next->layer, list, n);
    }
    free(y);
    free(list);
    return st;
}
