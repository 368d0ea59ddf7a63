/* Memory planner: one arena for every graph input and intermediate value.
 *
 * Each value lives from the step that produces it to the last step that reads it (graph
 * outputs to the end). View ops (Reshape, Flatten...) share their input's storage; in-place
 * ops write over their input when that input dies at the same step. Storage blocks are then
 * placed largest first, each at the lowest offset that does not overlap a block alive at the
 * same time (the greedy placement TFLite Micro uses; a few other orders are tried and the
 * smallest arena kept). The lower bound is the largest total
 * of blocks that must be alive at one step: no placement can do better. */
#include <stdlib.h>
#include <string.h>

#include "graph/op.h"

#define PLAN_ALIGN 64

typedef struct block {
    int root;
    int64_t size; /* raw bytes */
    int first, last;
    int64_t offset;
} block;

typedef struct planner {
    const td_graph *g;
    int *root;
    int *first, *last;
    int64_t *size;
    bool *in_arena;
} planner;

static int find_root(const planner *p, int v)
{
    while (p->root[v] != v)
        v = p->root[v];
    return v;
}

static void lifetimes(planner *p)
{
    const td_graph *g = p->g;
    int end = g->n_nodes > 0 ? g->n_nodes - 1 : 0;
    for (int v = 0; v < g->n_values; v++) {
        const td_value *val = &g->values[v];
        p->root[v] = v;
        p->in_arena[v] = val->kind == TD_VALUE_INPUT ||
                         (val->kind == TD_VALUE_INTERMEDIATE && val->producer >= 0);
        p->first[v] = val->kind == TD_VALUE_INPUT ? 0 : val->producer;
        /* Inputs stay intact for the whole run: callers may run again without setting them. */
        p->last[v] = (val->is_output || val->kind == TD_VALUE_INPUT) ? end : p->first[v];
        p->size[v] = p->in_arena[v] ? td_value_bytes(val) : 0;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            int v = g->nodes[i].inputs[k];
            if (v >= 0 && p->in_arena[v] && p->last[v] < i)
                p->last[v] = i;
        }
}

static void share(planner *p, int out, int r)
{
    p->root[out] = r;
    if (p->last[out] > p->last[r])
        p->last[r] = p->last[out];
}

/* Decides which outputs share their input's storage, in execution order. */
static void aliases(planner *p)
{
    const td_graph *g = p->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const td_node *n = &g->nodes[i];
        if (n->n_inputs < 1 || n->n_outputs < 1 || n->inputs[0] < 0)
            continue;
        int in = n->inputs[0], out = n->outputs[0];
        if (!p->in_arena[in] || !p->in_arena[out])
            continue;
        int r = find_root(p, in);
        if (n->def->flags & TD_OPF_VIEW) {
            share(p, out, r);
        } else if ((n->def->flags & TD_OPF_INPLACE) && p->last[r] == i &&
                   g->values[r].kind != TD_VALUE_INPUT && p->size[r] == p->size[out] &&
                   g->values[in].dtype == g->values[out].dtype) {
            share(p, out, r);
        }
    }
}

typedef int (*block_order)(const void *, const void *);

static int64_t lifetime(const block *b)
{
    return b->last - b->first + 1;
}

/* Orders tried by the placer; the best result is kept. Largest first is TFLite Micro's;
 * the others win on chains where a big block must not take offset 0 from a later one. */
static int by_size(const void *a, const void *b)
{
    const block *x = a, *y = b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return x->first - y->first;
}

static int by_first(const void *a, const void *b)
{
    const block *x = a, *y = b;
    if (x->first != y->first)
        return x->first - y->first;
    return by_size(a, b);
}

static int by_area(const void *a, const void *b)
{
    const block *x = a, *y = b;
    double ax = (double)x->size * lifetime(x), ay = (double)y->size * lifetime(y);
    if (ax != ay)
        return ax > ay ? -1 : 1;
    return by_size(a, b);
}

static int by_lifetime(const void *a, const void *b)
{
    const block *x = a, *y = b;
    if (lifetime(x) != lifetime(y))
        return lifetime(x) > lifetime(y) ? -1 : 1;
    return by_size(a, b);
}

static int cmp_offset(const void *a, const void *b)
{
    const block *const *x = a, *const *y = b;
    return (*x)->offset < (*y)->offset ? -1 : (*x)->offset > (*y)->offset;
}

static int64_t round_up(int64_t v)
{
    return (v + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
}

/* Lowest offset where b fits between the already placed blocks alive at the same time. */
static int64_t place(block *b, block *placed, int n_placed, block **tmp)
{
    int k = 0;
    for (int j = 0; j < n_placed; j++)
        if (placed[j].first <= b->last && b->first <= placed[j].last)
            tmp[k++] = &placed[j];
    qsort(tmp, (size_t)k, sizeof *tmp, cmp_offset);
    int64_t off = 0, need = round_up(b->size);
    for (int j = 0; j < k; j++) {
        if (tmp[j]->offset - off >= need)
            break;
        int64_t end = tmp[j]->offset + round_up(tmp[j]->size);
        if (end > off)
            off = end;
    }
    return off;
}

/* Places blocks in their current order; returns the arena size. */
static int64_t place_in_order(block *blocks, int nb, block **tmp)
{
    int64_t arena = 0;
    for (int i = 0; i < nb; i++) {
        blocks[i].offset = place(&blocks[i], blocks, i, tmp);
        if (blocks[i].offset + round_up(blocks[i].size) > arena)
            arena = blocks[i].offset + round_up(blocks[i].size);
    }
    return arena;
}

/* A fixed-seed shuffle (splitmix64): deterministic plans, no global state. */
static void shuffle(block *b, int n, uint64_t *seed)
{
    for (int i = n - 1; i > 0; i--) {
        uint64_t z = (*seed += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        int j = (int)(z % (uint64_t)(i + 1));
        block t = b[i];
        b[i] = b[j];
        b[j] = t;
    }
}

#define PLAN_SHUFFLES 24

/* Tries the orders above and some shuffles of the largest-first order; keeps the best. */
static int64_t best_placement(block *blocks, block *best, int nb, block **tmp)
{
    static const block_order orders[] = {by_size, by_first, by_area, by_lifetime};
    int64_t best_arena = -1;
    uint64_t seed = 0x7461616e64656dull;
    int tries = 4 + (nb > 1 ? PLAN_SHUFFLES : 0);
    for (int t = 0; t < tries; t++) {
        if (t < 4) {
            qsort(blocks, (size_t)nb, sizeof *blocks, orders[t]);
        } else {
            qsort(blocks, (size_t)nb, sizeof *blocks, by_size);
            /* keep the biggest in front, perturb the rest */
            shuffle(blocks + 1, nb - 1, &seed);
        }
        int64_t arena = place_in_order(blocks, nb, tmp);
        if (best_arena < 0 || arena < best_arena) {
            best_arena = arena;
            memcpy(best, blocks, (size_t)nb * sizeof *blocks);
        }
    }
    return best_arena < 0 ? 0 : best_arena;
}

static td_status place_all(planner *p, td_mem_plan *out)
{
    const td_graph *g = p->g;
    int nb = 0;
    block *blocks = calloc((size_t)g->n_values + 1, sizeof *blocks);
    block *best = calloc((size_t)g->n_values + 1, sizeof *best);
    block **tmp = calloc((size_t)g->n_values + 1, sizeof *tmp);
    if (!blocks || !best || !tmp) {
        free(blocks);
        free(best);
        free(tmp);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "memory plan: out of memory");
    }
    for (int v = 0; v < g->n_values; v++)
        if (p->in_arena[v] && p->root[v] == v)
            blocks[nb++] = (block){v, p->size[v], p->first[v], p->last[v], 0};
    out->arena_bytes = best_placement(blocks, best, nb, tmp);
    for (int i = 0; i < nb; i++)
        out->offset[best[i].root] = best[i].offset;
    /* The lower bound: at each step, the bytes of all blocks alive then. */
    out->lower_bound_bytes = 0;
    out->peak_step = 0;
    for (int t = 0; t < (g->n_nodes > 0 ? g->n_nodes : 1); t++) {
        int64_t live = 0;
        for (int i = 0; i < nb; i++)
            if (best[i].first <= t && t <= best[i].last)
                live += best[i].size;
        if (live > out->lower_bound_bytes) {
            out->lower_bound_bytes = live;
            out->peak_step = t;
        }
    }
    free(blocks);
    free(best);
    free(tmp);
    return TD_OK;
}

void td_mem_plan_free(td_mem_plan *p)
{
    free(p->offset);
    free(p->alias_of);
    memset(p, 0, sizeof *p);
}

td_status td_mem_plan_build(const td_graph *g, td_mem_plan *out)
{
    memset(out, 0, sizeof *out);
    if (!g->prepared)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "memory plan: graph '%s' is not prepared",
                            g->name);
    size_t n = (size_t)g->n_values + 1;
    planner p = {g,
                 calloc(n, sizeof(int)),
                 calloc(n, sizeof(int)),
                 calloc(n, sizeof(int)),
                 calloc(n, sizeof(int64_t)),
                 calloc(n, sizeof(bool))};
    out->offset = calloc(n, sizeof *out->offset);
    out->alias_of = calloc(n, sizeof *out->alias_of);
    td_status st = TD_OK;
    if (!p.root || !p.first || !p.last || !p.size || !p.in_arena || !out->offset ||
        !out->alias_of) {
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "memory plan: out of memory");
    } else {
        out->n_values = g->n_values;
        lifetimes(&p);
        aliases(&p);
        st = place_all(&p, out);
        for (int v = 0; v < g->n_values && !st; v++) {
            int r = p.in_arena[v] ? find_root(&p, v) : -1;
            out->alias_of[v] = (r >= 0 && r != v) ? r : -1;
            out->offset[v] = r >= 0 ? out->offset[r] : -1;
        }
    }
    free(p.root);
    free(p.first);
    free(p.last);
    free(p.size);
    free(p.in_arena);
    if (st)
        td_mem_plan_free(out);
    return st;
}
