/* Mixture-of-experts model files and the expert cache: experts stay in the memory-mapped
 * safetensors file until used, then live in working memory under an LRU byte budget. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/moe/moe_internal.h"
#include "tandem/safetensors.h"

enum { MAT_UP = 0, MAT_GATE, MAT_DOWN, MAT_COUNT };
static const char *const mat_names[MAT_COUNT] = {"up", "gate", "down"};
static const char *const part_names[TD_QMATRIX_MAX_PARTS] = {"codes", "scales",  "zeros",
                                                             "idx",   "row_ptr", "groups"};
#define MAX_LAYERS 4096
#define MAX_EXPERTS 65536

/* ---- writing ---- */

static td_status add_expert_tensors(td_safetensors_writer *w, const td_moe *m, int l, int e)
{
    const td_moe_expert *ex = &m->experts[e];
    const td_qmatrix *mats[MAT_COUNT] = {ex->up, ex->gate, ex->down};
    char name[128];
    for (int i = 0; i < MAT_COUNT; i++) {
        if (!mats[i])
            continue;
        td_qpart parts[TD_QMATRIX_MAX_PARTS];
        int n = td_qmatrix_parts(mats[i], parts);
        for (int p = 0; p < n; p++) {
            snprintf(name, sizeof name, "moe.%d.%d.%s.%s", l, e, mat_names[i], parts[p].name);
            int64_t shape[1] = {(int64_t)parts[p].bytes};
            TD_TRY(td_safetensors_writer_add(w, name, TD_ST_U8, 1, shape, parts[p].data,
                                             parts[p].bytes));
        }
    }
    if (ex->b_up) {
        int64_t f = m->cfg.d_ff, d = m->cfg.d_model;
        snprintf(name, sizeof name, "moe.%d.%d.b_up", l, e);
        TD_TRY(td_safetensors_writer_add(w, name, TD_ST_F32, 1, &f, ex->b_up,
                                         (size_t)f * sizeof(float)));
        snprintf(name, sizeof name, "moe.%d.%d.b_down", l, e);
        TD_TRY(td_safetensors_writer_add(w, name, TD_ST_F32, 1, &d, ex->b_down,
                                         (size_t)d * sizeof(float)));
    }
    return TD_OK;
}

static td_status add_layer(td_safetensors_writer *w, const td_moe *m, int l)
{
    const td_moe_config *c = &m->cfg;
    char name[128], spec[64], meta[256];
    td_qspec_describe(&m->spec, spec, sizeof spec);
    snprintf(meta, sizeof meta,
             "d_model=%" PRId64 " d_ff=%" PRId64 " experts=%d activation=%s tasks=%d bias=%d "
             "router_bias=%d router_noise=%d spec=%s act=%s",
             c->d_model, c->d_ff, c->experts, td_moe_activation_name(c->activation), c->n_tasks,
             m->has_bias ? 1 : 0, m->router_bias ? 1 : 0, m->router_noise ? 1 : 0, spec,
             td_act_name(m->act));
    snprintf(name, sizeof name, "tandem.moe.%d", l);
    TD_TRY(td_safetensors_writer_set_metadata(w, name, meta));
    int64_t rs[2] = {c->d_model, c->experts};
    size_t rb = (size_t)c->d_model * (size_t)c->experts * sizeof(float);
    snprintf(name, sizeof name, "moe.%d.router", l);
    TD_TRY(td_safetensors_writer_add(w, name, TD_ST_F32, 2, rs, m->router, rb));
    if (m->router_noise) {
        snprintf(name, sizeof name, "moe.%d.router_noise", l);
        TD_TRY(td_safetensors_writer_add(w, name, TD_ST_F32, 2, rs, m->router_noise, rb));
    }
    if (m->router_bias) {
        int64_t e = c->experts;
        snprintf(name, sizeof name, "moe.%d.router_bias", l);
        TD_TRY(td_safetensors_writer_add(w, name, TD_ST_F32, 1, &e, m->router_bias,
                                         (size_t)e * sizeof(float)));
    }
    if (c->n_tasks > 0) {
        int64_t ts[2] = {c->n_tasks, c->experts};
        snprintf(name, sizeof name, "moe.%d.task_mask", l);
        TD_TRY(td_safetensors_writer_add(w, name, TD_ST_U8, 2, ts, m->task_mask,
                                         (size_t)c->n_tasks * (size_t)c->experts));
    }
    for (int e = 0; e < c->experts; e++)
        TD_TRY(add_expert_tensors(w, m, l, e));
    return TD_OK;
}

td_status td_moe_save(const char *path, td_moe *const *layers, int n_layers)
{
    if (!path || !layers || n_layers < 1 || n_layers > MAX_LAYERS)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe save: need a path and 1..%d layers",
                            MAX_LAYERS);
    for (int l = 0; l < n_layers; l++)
        if (!layers[l] || !layers[l]->experts)
            return td_error_new(TD_CODE_UNSUPPORTED,
                                "moe save '%s': layer %d is missing or served by a cache (save "
                                "layers built in memory)",
                                path, l);
    td_safetensors_writer *w;
    TD_TRY(td_safetensors_writer_new(&w));
    char count[32];
    snprintf(count, sizeof count, "%d", n_layers);
    td_status st = td_safetensors_writer_set_metadata(w, "tandem.moe.layers", count);
    for (int l = 0; !st && l < n_layers; l++)
        st = add_layer(w, layers[l], l);
    if (!st)
        st = td_safetensors_write(w, path);
    td_safetensors_writer_free(w);
    return st;
}

/* ---- the cache ---- */

typedef struct part_ref {
    const void *data;
    size_t bytes;
} part_ref;

typedef struct slot {
    part_ref parts[MAT_COUNT][TD_QMATRIX_MAX_PARTS];
    const void *b_up, *b_down; /* in the mapping (maybe unaligned) */
    size_t bytes;
    td_moe_expert w;
    bool resident, prefetched;
    uint64_t stamp;
} slot;

typedef struct layer_info {
    td_moe_config cfg;
    uint8_t *task_mask;
    td_qspec spec;
    td_act_type act;
    bool bias, router_bias, router_noise;
    slot *slots; /* experts */
} layer_info;

struct td_moe_cache {
    char *path;
    td_safetensors *st;
    layer_info *layers;
    int n_layers;
    size_t budget;
    uint64_t clock;
    td_moe_cache_stats stats;
};

static td_status bad(const td_moe_cache *c, const char *fmt, const char *what)
{
    return td_error_new(TD_CODE_BAD_DATA, "moe cache '%s': %s%s", c->path, fmt, what);
}

static td_status parse_layer_meta(td_moe_cache *c, int l, layer_info *li)
{
    char key[64], act[16], spec[64], actn[16];
    snprintf(key, sizeof key, "tandem.moe.%d", l);
    const char *meta = td_safetensors_metadata(c->st, key);
    if (!meta)
        return bad(c, "missing metadata ", key);
    long long d, f;
    int e, tasks, bias, rbias, rnoise, used = 0;
    int got = sscanf(meta,
                     "d_model=%lld d_ff=%lld experts=%d activation=%15s tasks=%d bias=%d "
                     "router_bias=%d router_noise=%d spec=%63s act=%15s%n",
                     &d, &f, &e, act, &tasks, &bias, &rbias, &rnoise, spec, actn, &used);
    if (got != 10 || meta[used] != '\0')
        return bad(c, "malformed metadata ", key);
    if (d < 1 || f < 1 || e < 1 || e > MAX_EXPERTS || tasks < 0 || tasks > MAX_EXPERTS ||
        d > ((int64_t)1 << 24) || f > ((int64_t)1 << 24))
        return bad(c, "sizes out of range in ", key);
    li->cfg.d_model = d;
    li->cfg.d_ff = f;
    li->cfg.experts = e;
    li->cfg.n_tasks = tasks;
    li->bias = bias != 0;
    li->router_bias = rbias != 0;
    li->router_noise = rnoise != 0;
    td_status st = td_moe_activation_parse(act, &li->cfg.activation);
    if (!st)
        st = td_qspec_parse(spec, &li->spec);
    if (!st)
        st = td_act_parse(actn, &li->act);
    if (st) {
        td_status e2 = td_error_new(TD_CODE_BAD_DATA, "moe cache '%s': %s: %s", c->path, key,
                                    td_status_message(st));
        td_status_free(st);
        return e2;
    }
    return TD_OK;
}

/* A tensor that must exist with the given dtype and element count. */
static td_status need_tensor(td_moe_cache *c, const char *name, td_st_dtype dt, size_t nelem,
                             td_st_tensor *t)
{
    td_status st = td_safetensors_find(c->st, name, t);
    if (st) {
        td_status_free(st);
        return bad(c, "missing tensor ", name);
    }
    if (t->dtype != dt || t->nelem != nelem)
        return bad(c, "wrong dtype or size for tensor ", name);
    return TD_OK;
}

static bool has_tensor(td_moe_cache *c, const char *name, td_st_tensor *t)
{
    td_status st = td_safetensors_find(c->st, name, t);
    td_status_free(st);
    return st == TD_OK;
}

static td_status index_expert(td_moe_cache *c, int l, int e, layer_info *li, slot *s)
{
    char name[128];
    td_st_tensor t;
    for (int m = 0; m < MAT_COUNT; m++) {
        bool want = m != MAT_GATE || li->cfg.activation == TD_MOE_SWIGLU;
        for (int p = 0; want && p < TD_QMATRIX_MAX_PARTS; p++) {
            snprintf(name, sizeof name, "moe.%d.%d.%s.%s", l, e, mat_names[m], part_names[p]);
            if (!has_tensor(c, name, &t))
                continue;
            if (t.dtype != TD_ST_U8 || t.ndim != 1)
                return bad(c, "expert parts must be 1-D U8: ", name);
            s->parts[m][p] = (part_ref){t.data, t.nbytes};
            s->bytes += t.nbytes;
        }
        if (want && !s->parts[m][0].data && !s->parts[m][0].bytes) {
            snprintf(name, sizeof name, "moe.%d.%d.%s.codes", l, e, mat_names[m]);
            return bad(c, "missing tensor ", name);
        }
    }
    if (li->bias) {
        snprintf(name, sizeof name, "moe.%d.%d.b_up", l, e);
        TD_TRY(need_tensor(c, name, TD_ST_F32, (size_t)li->cfg.d_ff, &t));
        s->b_up = t.data;
        snprintf(name, sizeof name, "moe.%d.%d.b_down", l, e);
        TD_TRY(need_tensor(c, name, TD_ST_F32, (size_t)li->cfg.d_model, &t));
        s->b_down = t.data;
        s->bytes += (size_t)(li->cfg.d_ff + li->cfg.d_model) * sizeof(float);
    }
    return TD_OK;
}

static td_status index_layer(td_moe_cache *c, int l)
{
    layer_info *li = &c->layers[l];
    TD_TRY(parse_layer_meta(c, l, li));
    char name[64];
    if (li->cfg.n_tasks > 0) {
        td_st_tensor t;
        size_t n = (size_t)li->cfg.n_tasks * (size_t)li->cfg.experts;
        snprintf(name, sizeof name, "moe.%d.task_mask", l);
        TD_TRY(need_tensor(c, name, TD_ST_U8, n, &t));
        li->task_mask = malloc(n);
        if (!li->task_mask)
            return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe cache: out of memory");
        memcpy(li->task_mask, t.data, n);
        li->cfg.task_mask = li->task_mask;
    }
    TD_TRY(td_moe_check_config(&li->cfg));
    li->slots = calloc((size_t)li->cfg.experts, sizeof *li->slots);
    if (!li->slots)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe cache: out of memory");
    for (int e = 0; e < li->cfg.experts; e++)
        TD_TRY(index_expert(c, l, e, li, &li->slots[e]));
    return TD_OK;
}

static td_status check_budget(const td_moe_cache *c)
{
    for (int l = 0; l < c->n_layers; l++)
        for (int e = 0; e < c->layers[l].cfg.experts; e++)
            if (c->layers[l].slots[e].bytes > c->budget)
                return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                    "moe cache '%s': budget of %zu bytes cannot hold expert %d of "
                                    "layer %d (%zu bytes)",
                                    c->path, c->budget, e, l, c->layers[l].slots[e].bytes);
    return TD_OK;
}

td_status td_moe_cache_open(const char *path, size_t budget_bytes, td_moe_cache **out)
{
    *out = NULL;
    if (!path)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe cache: NULL path");
    td_moe_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe cache: out of memory");
    }
    c->budget = budget_bytes;
    td_status st = td_safetensors_open(path, &c->st);
    const char *n = st ? NULL : td_safetensors_metadata(c->st, "tandem.moe.layers");
    char *end = NULL;
    long nl = n ? strtol(n, &end, 10) : 0;
    if (!st && (!n || *end || nl < 1 || nl > MAX_LAYERS))
        st = bad(c, "no valid 'tandem.moe.layers' metadata (not a file from td_moe_save?)", "");
    if (!st) {
        c->layers = calloc((size_t)nl, sizeof *c->layers);
        c->n_layers = c->layers ? (int)nl : 0;
        if (!c->layers)
            st = td_error_new(TD_CODE_OUT_OF_MEMORY, "moe cache: out of memory");
    }
    for (int l = 0; !st && l < c->n_layers; l++)
        st = index_layer(c, l);
    if (!st)
        st = check_budget(c);
    if (st) {
        td_moe_cache_close(c);
        return st;
    }
    *out = c;
    return TD_OK;
}

void td_moe_cache_close(td_moe_cache *c)
{
    if (!c)
        return;
    for (int l = 0; l < c->n_layers; l++) {
        layer_info *li = &c->layers[l];
        for (int e = 0; li->slots && e < li->cfg.experts; e++)
            td_moe_expert_clear(&li->slots[e].w);
        free(li->slots);
        free(li->task_mask);
    }
    free(c->layers);
    td_safetensors_close(c->st);
    free(c->path);
    free(c);
}

int td_moe_cache_layer_count(const td_moe_cache *c)
{
    return c->n_layers;
}

static td_status check_ids(const td_moe_cache *c, int layer, int expert)
{
    if (!c || layer < 0 || layer >= c->n_layers)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe cache: layer %d out of range (%d)",
                            layer, c ? c->n_layers : 0);
    if (expert < 0 || expert >= c->layers[layer].cfg.experts)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moe cache: expert %d out of range (layer %d has %d)", expert, layer,
                            c->layers[layer].cfg.experts);
    return TD_OK;
}

size_t td_moe_cache_expert_bytes(const td_moe_cache *c, int layer, int expert)
{
    td_status st = check_ids(c, layer, expert);
    td_status_free(st);
    return st ? 0 : c->layers[layer].slots[expert].bytes;
}

size_t td_moe_cache_budget(const td_moe_cache *c)
{
    return c->budget;
}

bool td_moe_cache_is_resident(const td_moe_cache *c, int layer, int expert)
{
    td_status st = check_ids(c, layer, expert);
    td_status_free(st);
    return !st && c->layers[layer].slots[expert].resident;
}

void td_moe_cache_get_stats(const td_moe_cache *c, td_moe_cache_stats *out)
{
    *out = c->stats;
}

void td_moe_cache_reset_stats(td_moe_cache *c)
{
    size_t resident = c->stats.resident_bytes;
    memset(&c->stats, 0, sizeof c->stats);
    c->stats.resident_bytes = resident;
    c->stats.peak_bytes = resident;
}

/* ---- residency ---- */

static void evict(td_moe_cache *c, slot *s)
{
    td_moe_expert_clear(&s->w);
    s->resident = false;
    s->prefetched = false;
    c->stats.resident_bytes -= s->bytes;
    c->stats.evictions++;
}

/* Evicts least recently used experts until `bytes` more fit in the budget. */
static void make_room(td_moe_cache *c, size_t bytes)
{
    while (c->stats.resident_bytes + bytes > c->budget) {
        slot *victim = NULL;
        for (int l = 0; l < c->n_layers; l++)
            for (int e = 0; e < c->layers[l].cfg.experts; e++) {
                slot *s = &c->layers[l].slots[e];
                if (s->resident && (!victim || s->stamp < victim->stamp))
                    victim = s;
            }
        if (!victim)
            return; /* nothing left: bytes <= budget was checked at open */
        evict(c, victim);
    }
}

static td_status load_matrix(td_moe_cache *c, const layer_info *li, const slot *s, int m,
                             const char *what, td_qmatrix **out)
{
    td_qpart parts[TD_QMATRIX_MAX_PARTS];
    int n = 0;
    for (int p = 0; p < TD_QMATRIX_MAX_PARTS; p++)
        if (s->parts[m][p].data || s->parts[m][p].bytes)
            parts[n++] =
                (td_qpart){part_names[p], (void *)s->parts[m][p].data, s->parts[m][p].bytes};
    int64_t rows = m == MAT_DOWN ? li->cfg.d_model : li->cfg.d_ff;
    int64_t cols = m == MAT_DOWN ? li->cfg.d_ff : li->cfg.d_model;
    td_status st = td_qmatrix_from_parts(&li->spec, rows, cols, parts, n, what, out);
    if (st) {
        td_status e =
            td_error_new(td_status_code(st), "moe cache '%s': %s", c->path, td_status_message(st));
        td_status_free(st);
        return e;
    }
    return TD_OK;
}

static td_status load_bias(const void *src, int64_t n, float **out)
{
    *out = malloc((size_t)n * sizeof **out);
    if (!*out)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe cache: out of memory");
    memcpy(*out, src, (size_t)n * sizeof **out); /* the mapping may be unaligned */
    return TD_OK;
}

static td_status load_expert(td_moe_cache *c, int l, int e)
{
    layer_info *li = &c->layers[l];
    slot *s = &li->slots[e];
    make_room(c, s->bytes);
    char what[96];
    td_status st = TD_OK;
    td_qmatrix **dst[MAT_COUNT] = {&s->w.up, &s->w.gate, &s->w.down};
    for (int m = 0; !st && m < MAT_COUNT; m++) {
        if (m == MAT_GATE && li->cfg.activation != TD_MOE_SWIGLU)
            continue;
        snprintf(what, sizeof what, "moe.%d.%d.%s", l, e, mat_names[m]);
        st = load_matrix(c, li, s, m, what, dst[m]);
    }
    if (!st && li->bias)
        st = load_bias(s->b_up, li->cfg.d_ff, &s->w.b_up);
    if (!st && li->bias)
        st = load_bias(s->b_down, li->cfg.d_model, &s->w.b_down);
    for (int64_t i = 0; !st && li->bias && i < li->cfg.d_ff + li->cfg.d_model; i++) {
        float v = i < li->cfg.d_ff ? s->w.b_up[i] : s->w.b_down[i - li->cfg.d_ff];
        if (!isfinite(v))
            st = td_error_new(TD_CODE_BAD_DATA,
                              "moe cache '%s': bias of expert %d of layer %d "
                              "is not finite",
                              c->path, e, l);
    }
    if (st) {
        td_moe_expert_clear(&s->w);
        return st;
    }
    s->resident = true;
    c->stats.resident_bytes += s->bytes;
    if (c->stats.resident_bytes > c->stats.peak_bytes)
        c->stats.peak_bytes = c->stats.resident_bytes;
    c->stats.bytes_moved += (double)s->bytes;
    return TD_OK;
}

td_status td_moe_cache_acquire(td_moe_cache *c, int layer, int expert, const td_moe_expert **out)
{
    TD_TRY(check_ids(c, layer, expert));
    slot *s = &c->layers[layer].slots[expert];
    if (s->resident) {
        c->stats.hits++;
        if (s->prefetched)
            c->stats.prefetch_used++;
    } else {
        TD_TRY(load_expert(c, layer, expert));
        c->stats.misses++;
    }
    s->prefetched = false;
    s->stamp = ++c->clock;
    *out = &s->w;
    return TD_OK;
}

td_status td_moe_cache_use(td_moe_cache *c, int layer, int expert)
{
    const td_moe_expert *w;
    return td_moe_cache_acquire(c, layer, expert, &w);
}

td_status td_moe_cache_prefetch(td_moe_cache *c, int layer, const int32_t *experts, int n)
{
    if (n < 0 || (n > 0 && !experts))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe cache prefetch: bad expert list");
    for (int i = 0; i < n; i++)
        TD_TRY(check_ids(c, layer, experts[i]));
    slot **loaded = malloc((size_t)(n ? n : 1) * sizeof *loaded);
    if (!loaded)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe cache: out of memory");
    size_t taken = 0;
    int nl = 0;
    td_status st = TD_OK;
    for (int i = 0; !st && i < n; i++) {
        slot *s = &c->layers[layer].slots[experts[i]];
        if (s->resident)
            continue;
        if (taken + s->bytes > c->budget)
            break; /* it would evict what this call loaded */
        st = load_expert(c, layer, experts[i]);
        if (!st) {
            s->prefetched = true;
            s->stamp = ++c->clock;
            c->stats.prefetched++;
            taken += s->bytes;
            loaded[nl++] = s;
        }
    }
    /* the most important prefetch is the most recently used, so it is evicted last */
    for (int i = nl - 1; i >= 0; i--)
        loaded[i]->stamp = ++c->clock;
    free(loaded);
    return st;
}

td_status td_moe_cache_layer(td_moe_cache *c, int layer, td_moe **out)
{
    *out = NULL;
    TD_TRY(check_ids(c, layer, 0));
    const layer_info *li = &c->layers[layer];
    int64_t d = li->cfg.d_model;
    int E = li->cfg.experts;
    size_t nr = (size_t)d * (size_t)E;
    char name[64];
    td_st_tensor t;
    float *router = malloc(nr * sizeof *router), *noise = NULL, *rbias = NULL;
    td_status st = router ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "moe cache: out of memory");
    snprintf(name, sizeof name, "moe.%d.router", layer);
    if (!st)
        st = need_tensor(c, name, TD_ST_F32, nr, &t);
    if (!st)
        memcpy(router, t.data, nr * sizeof *router);
    snprintf(name, sizeof name, "moe.%d.router_noise", layer);
    if (!st && li->router_noise && !(st = need_tensor(c, name, TD_ST_F32, nr, &t))) {
        noise = malloc(nr * sizeof *noise);
        st = noise ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "moe cache: out of memory");
        if (!st)
            memcpy(noise, t.data, nr * sizeof *noise);
    }
    snprintf(name, sizeof name, "moe.%d.router_bias", layer);
    if (!st && li->router_bias && !(st = need_tensor(c, name, TD_ST_F32, (size_t)E, &t))) {
        rbias = malloc((size_t)E * sizeof *rbias);
        st = rbias ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "moe cache: out of memory");
        if (!st)
            memcpy(rbias, t.data, (size_t)E * sizeof *rbias);
    }
    td_moe_weights w = {.router = router, .router_bias = rbias, .router_noise = noise};
    if (!st)
        st = td_moe_new_shell(&li->cfg, &w, &li->spec, li->act, li->bias, out);
    free(router);
    free(noise);
    free(rbias);
    if (!st) {
        (*out)->cache = c;
        (*out)->layer = layer;
    }
    return st;
}
