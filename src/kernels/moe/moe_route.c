/* Mixture-of-experts routing: top-k over the allowed experts, gates, capacity with drop or
 * reroute, load statistics. The rules are written out at the top of include/tandem/moe.h;
 * tools/gen_moe_fixtures.py implements them independently in numpy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/moe/moe_internal.h"

static const char *const activation_names[TD_MOE_ACTIVATION_COUNT] = {"gelu", "silu", "swiglu"};

const char *td_moe_activation_name(td_moe_activation a)
{
    return (unsigned)a < TD_MOE_ACTIVATION_COUNT ? activation_names[a] : "?";
}

td_status td_moe_activation_parse(const char *name, td_moe_activation *out)
{
    for (int i = 0; name && i < TD_MOE_ACTIVATION_COUNT; i++)
        if (!strcmp(name, activation_names[i])) {
            *out = (td_moe_activation)i;
            return TD_OK;
        }
    return td_error_new(TD_CODE_INVALID_ARGUMENT,
                        "moe: unknown activation '%s' (expected gelu, silu or swiglu)",
                        name ? name : "(null)");
}

td_moe_route_opts td_moe_route_defaults(int k)
{
    td_moe_route_opts o;
    memset(&o, 0, sizeof o);
    o.k = k;
    o.gating = TD_MOE_TOPK_SOFTMAX;
    o.capacity_factor = INFINITY;
    o.overflow = TD_MOE_DROP;
    o.task = -1;
    return o;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double td_moe_noise_normal(uint64_t seed, int64_t token, int expert)
{
    uint64_t a =
        mix64(seed ^ mix64((uint64_t)token)) ^ mix64((uint64_t)expert + 0x632be59bd9b4e019ull);
    double u1 = (double)((mix64(a) >> 11) + 1) * 0x1p-53; /* (0, 1]: log is finite */
    double u2 = (double)(mix64(a + 1) >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void td_moe_routing_free(td_moe_routing *r)
{
    if (!r)
        return;
    free(r->choice);
    free(r->expert);
    free(r->gate);
    free(r->load);
    memset(r, 0, sizeof *r);
}

td_status td_moe_check_config(const td_moe_config *cfg)
{
    if (!cfg)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: NULL configuration");
    if (cfg->d_model < 1 || cfg->d_ff < 1 || cfg->experts < 1)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moe: d_model, d_ff and experts must be >= 1 (got %lld, %lld, %d)",
                            (long long)cfg->d_model, (long long)cfg->d_ff, cfg->experts);
    if ((unsigned)cfg->activation >= TD_MOE_ACTIVATION_COUNT)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: activation %d out of range",
                            (int)cfg->activation);
    if (cfg->n_tasks < 0 || (cfg->n_tasks > 0 && !cfg->task_mask))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moe: %d tasks need a task mask of tasks x experts bytes",
                            cfg->n_tasks);
    for (int t = 0; t < cfg->n_tasks; t++) {
        int n = 0;
        for (int e = 0; e < cfg->experts; e++)
            n += cfg->task_mask[(size_t)t * (size_t)cfg->experts + (size_t)e] != 0;
        if (n == 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: task %d allows no expert", t);
    }
    return TD_OK;
}

static td_status check_route_opts(const td_moe_route_opts *o, int allowed)
{
    if (!o)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: NULL route options");
    if (o->k < 1)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: k = %d, need k >= 1", o->k);
    if (o->k > allowed)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moe: k = %d exceeds the %d experts the task allows", o->k, allowed);
    if (!(o->capacity_factor > 0))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moe: capacity factor %g, need > 0 (INFINITY for no limit)",
                            o->capacity_factor);
    if (o->gating != TD_MOE_TOPK_SOFTMAX && o->gating != TD_MOE_SOFTMAX_TOPK)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: gating %d out of range",
                            (int)o->gating);
    if (o->overflow != TD_MOE_DROP && o->overflow != TD_MOE_REROUTE)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: overflow policy %d out of range",
                            (int)o->overflow);
    if (o->noise && !(o->noise_std >= 0 && isfinite(o->noise_std)))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: noise std %g, need a finite value >= 0",
                            (double)o->noise_std);
    return TD_OK;
}

td_status td_moe_check_opts(const td_moe_config *cfg, const td_moe_route_opts *opts,
                            const uint8_t **allowed)
{
    *allowed = NULL;
    if (!opts)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: NULL route options");
    if (opts->task < -1 || opts->task >= cfg->n_tasks)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moe: task %d out of range (the layer has %d tasks; -1 for all "
                            "experts)",
                            opts->task, cfg->n_tasks);
    int n = cfg->experts;
    if (opts->task >= 0) {
        *allowed = cfg->task_mask + (size_t)opts->task * (size_t)cfg->experts;
        n = 0;
        for (int e = 0; e < cfg->experts; e++)
            n += (*allowed)[e] != 0;
    }
    return check_route_opts(opts, n);
}

/* ---- ranking ---- */

typedef struct ranked {
    double logit;
    int expert;
} ranked;

static int by_logit(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->logit != b->logit)
        return a->logit > b->logit ? -1 : 1;
    return a->expert - b->expert;
}

/* Allowed experts of one token, best first. Returns how many. */
static int rank_token(const double *logits, int experts, const uint8_t *allowed, ranked *out)
{
    int n = 0;
    for (int e = 0; e < experts; e++)
        if (!allowed || allowed[e])
            out[n++] = (ranked){logits[e], e};
    qsort(out, (size_t)n, sizeof *out, by_logit);
    return n;
}

/* Softmax over the allowed experts of one token into p (0 for the others). */
static void softmax_allowed(const double *logits, int experts, const uint8_t *allowed, double top,
                            double *p)
{
    double sum = 0;
    for (int e = 0; e < experts; e++) {
        p[e] = (!allowed || allowed[e]) ? exp(logits[e] - top) : 0.0;
        sum += p[e];
    }
    for (int e = 0; e < experts; e++)
        p[e] /= sum;
}

static void gates_of(const td_moe_route_opts *o, const ranked *rk, const double *p, double *g)
{
    int k = o->k;
    double sum = 0;
    for (int j = 0; j < k; j++) {
        g[j] = o->gating == TD_MOE_TOPK_SOFTMAX ? exp(rk[j].logit - rk[0].logit) : p[rk[j].expert];
        sum += g[j];
    }
    if (o->gating == TD_MOE_TOPK_SOFTMAX || o->renormalize)
        for (int j = 0; j < k; j++)
            g[j] /= sum;
}

static int64_t capacity_of(double cf, int64_t tokens, int k, int allowed)
{
    double c = ceil(cf * (double)tokens * (double)k / (double)allowed);
    return c < (double)tokens ? (int64_t)c : tokens;
}

/* The token's next-best allowed expert with room that none of its other slots uses. Slots
 * before j hold their assigned experts, slots after j their (not yet served) choices. */
static int reroute_target(const td_moe_routing *r, int64_t t, int j, const ranked *rk, int n_rk)
{
    int k = r->k;
    for (int i = 0; i < n_rk; i++) {
        int e = rk[i].expert;
        if (r->load[e] >= r->capacity)
            continue;
        bool taken = false;
        for (int s = 0; s < k && !taken; s++)
            taken = s < j ? r->expert[t * k + s] == e : s > j && r->choice[t * k + s] == e;
        if (!taken)
            return e;
    }
    return -1;
}

static void assign_slots(td_moe_routing *r, const td_moe_route_opts *o, const ranked *rk_all,
                         int n_rk)
{
    int k = r->k;
    for (int j = 0; j < k; j++)
        for (int64_t t = 0; t < r->tokens; t++) {
            int64_t s = t * k + j;
            int e = r->choice[s];
            if (r->load[e] < r->capacity) {
                r->expert[s] = e;
                r->load[e]++;
                continue;
            }
            int e2 = o->overflow == TD_MOE_REROUTE
                         ? reroute_target(r, t, j, rk_all + t * (int64_t)n_rk, n_rk)
                         : -1;
            if (e2 < 0) {
                r->expert[s] = -1;
                r->gate[s] = 0.0;
                r->dropped++;
            } else {
                r->expert[s] = e2;
                r->load[e2]++;
                r->rerouted++;
            }
        }
}

static void load_stats(td_moe_routing *r, const uint8_t *allowed, const double *f,
                       const double *pmean)
{
    int a = r->allowed;
    double mean = 0, var = 0, aux = 0;
    for (int e = 0; e < r->experts; e++)
        if (!allowed || allowed[e])
            mean += (double)r->load[e];
    mean /= a;
    for (int e = 0; e < r->experts; e++)
        if (!allowed || allowed[e]) {
            double d = (double)r->load[e] - mean;
            var += d * d;
            aux += f[e] * pmean[e];
        }
    r->load_cv = mean > 0 ? sqrt(var / a) / mean : 0.0;
    r->aux_loss = (double)a * aux;
}

static td_status alloc_routing(td_moe_routing *r, int64_t tokens, int k, int experts)
{
    size_t n = (size_t)tokens * (size_t)k;
    r->tokens = tokens;
    r->k = k;
    r->experts = experts;
    r->choice = malloc(n * sizeof *r->choice);
    r->expert = malloc(n * sizeof *r->expert);
    r->gate = malloc(n * sizeof *r->gate);
    r->load = calloc((size_t)experts, sizeof *r->load);
    if (!r->choice || !r->expert || !r->gate || !r->load)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe: out of memory routing %lld tokens",
                            (long long)tokens);
    return TD_OK;
}

/* Per token: ranking, choices, gates, and the sums behind the auxiliary loss. */
static td_status rank_all(td_moe_routing *r, const double *logits, const uint8_t *allowed,
                          const td_moe_route_opts *o, ranked *rk, double *p, double *f,
                          double *pmean)
{
    int E = r->experts, k = o->k, n = r->allowed;
    for (int64_t t = 0; t < r->tokens; t++) {
        const double *l = logits + t * (int64_t)E;
        for (int e = 0; e < E; e++)
            if ((!allowed || allowed[e]) && !isfinite(l[e]))
                return td_error_new(TD_CODE_BAD_DATA,
                                    "moe: router logit of token %lld, expert %d "
                                    "is not finite",
                                    (long long)t, e);
        ranked *tr = rk + t * (int64_t)n;
        rank_token(l, E, allowed, tr);
        softmax_allowed(l, E, allowed, tr[0].logit, p);
        gates_of(o, tr, p, r->gate + t * k);
        for (int j = 0; j < k; j++) {
            r->choice[t * k + j] = tr[j].expert;
            f[tr[j].expert] += 1.0 / ((double)r->tokens * k);
        }
        for (int e = 0; e < E; e++)
            pmean[e] += p[e] / (double)r->tokens;
    }
    return TD_OK;
}

td_status td_moe_route(const double *logits, int64_t tokens, int experts, const uint8_t *allowed,
                       const td_moe_route_opts *opts, td_moe_routing *out)
{
    memset(out, 0, sizeof *out);
    if (experts < 1)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: %d experts, need >= 1", experts);
    int n_allowed = experts;
    if (allowed) {
        n_allowed = 0;
        for (int e = 0; e < experts; e++)
            n_allowed += allowed[e] != 0;
    }
    TD_TRY(check_route_opts(opts, n_allowed));
    if (tokens < 1)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: %lld tokens, need >= 1",
                            (long long)tokens);
    if (!logits)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe: NULL logits");
    size_t n_rank;
    TD_TRY(td_elem_count(tokens, n_allowed, "moe routing", &n_rank));
    td_status st = alloc_routing(out, tokens, opts->k, experts);
    ranked *rk = st ? NULL : malloc(n_rank * sizeof *rk);
    double *p = st ? NULL : calloc((size_t)experts * 3, sizeof *p);
    if (!st && (!rk || !p))
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "moe: out of memory routing %lld tokens",
                          (long long)tokens);
    out->allowed = n_allowed;
    out->capacity = capacity_of(opts->capacity_factor, tokens, opts->k, n_allowed);
    if (!st)
        st = rank_all(out, logits, allowed, opts, rk, p, p + experts, p + 2 * experts);
    if (!st) {
        assign_slots(out, opts, rk, n_allowed);
        load_stats(out, allowed, p + experts, p + 2 * experts);
    }
    free(rk);
    free(p);
    if (st)
        td_moe_routing_free(out);
    return st;
}
