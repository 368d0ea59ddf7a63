/* Independent check of a memory plan: recomputes every value's lifetime from the graph and
 * verifies that no two storage blocks alive at the same step share a byte. Used by the graph
 * test and the model tests (CNN, BERT). */
#ifndef TD_PLAN_CHECK_H
#define TD_PLAN_CHECK_H

#include <stdlib.h>

#include "tandem/graph.h"

static inline int64_t plan_check_bytes(const td_value *v)
{
    int64_t n = td_shape_numel(v->ndim, v->shape);
    return n < 0 ? 0 : n * (int64_t)td_dtype_size(v->dtype);
}

/* Returns the number of overlapping pairs found (0 = valid). */
static inline int plan_check(const td_graph *g, const td_mem_plan *p)
{
    int nv = g->n_values, end = g->n_nodes > 0 ? g->n_nodes - 1 : 0, bad = 0;
    int *first = malloc((size_t)nv * sizeof(int)), *last = malloc((size_t)nv * sizeof(int));
    int64_t *lo = malloc((size_t)nv * sizeof(int64_t)), *hi = malloc((size_t)nv * sizeof(int64_t));
    for (int v = 0; v < nv; v++) {
        const td_value *val = &g->values[v];
        first[v] = val->kind == TD_VALUE_INPUT ? 0 : val->producer;
        last[v] = (val->is_output || val->kind == TD_VALUE_INPUT) ? end : first[v];
        lo[v] = p->offset[v];
        hi[v] = p->offset[v] + plan_check_bytes(val);
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            int v = g->nodes[i].inputs[k];
            if (v >= 0 && last[v] < i)
                last[v] = i;
        }
    for (int a = 0; a < nv; a++) {
        if (p->offset[a] < 0 || hi[a] == lo[a])
            continue;
        int ra = p->alias_of[a] >= 0 ? p->alias_of[a] : a;
        for (int b = a + 1; b < nv; b++) {
            if (p->offset[b] < 0 || hi[b] == lo[b])
                continue;
            int rb = p->alias_of[b] >= 0 ? p->alias_of[b] : b;
            if (ra == rb)
                continue; /* shared on purpose: a view or an in-place result */
            bool time = first[a] <= last[b] && first[b] <= last[a];
            bool space = lo[a] < hi[b] && lo[b] < hi[a];
            if (time && space && bad++ < 5)
                fprintf(stderr, "plan: '%s' [%d,%d] and '%s' [%d,%d] overlap in the arena\n",
                        g->values[a].name, first[a], last[a], g->values[b].name, first[b], last[b]);
        }
    }
    free(first);
    free(last);
    free(lo);
    free(hi);
    return bad;
}

#endif
