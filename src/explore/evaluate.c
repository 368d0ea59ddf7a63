/* Evaluating designs of a space: a design is one value per knob; its compression choices make
 * one scheme per task, its hardware knobs one accelerator per sub-accelerator.
 *
 * Everything about a compression choice is computed once and cached under a key made of the
 * task's group choices: the per-layer work the cost models read (applied to a batch-1 graph),
 * stored weight bytes, and accuracy (measured on the task's held-out data, or the proxy). The
 * per-design part - building accelerators and summing layer estimates - is cheap and runs in
 * parallel over the designs of a batch. */
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explore/space_internal.h"
#include "graph/op.h"
#include "tandem/estimate.h"
#include "tandem/model.h"

#define ACC_BATCH 100

typedef struct entry {
    char *key;
    td_layer_work *works; /* one per node of the task's graph */
    td_layer_choice *choices;
    int n_choices;
    double weight_bytes;
    double accuracy; /* NaN until needed */
} entry;

typedef struct sens_row { /* proxy: per-layer output error of one weight spec, A8 and A6 */
    char spec[64];
    int task;
    double *a8, *a6; /* per node, -1 where not compressed */
} sens_row;

typedef struct task_rt {
    td_graph *g_est; /* batch 1, f32; compressed and reset per new scheme */
    td_graph *g_acc; /* batch ACC_BATCH for accuracy */
    td_dataset test, calib;
    double arena_bytes;
    int *node_group; /* per node: group index or -1 */
    double f32_accuracy;
} task_rt;

struct td_explorer {
    const td_space *s;
    td_ctx ctx;
    task_rt tasks[TD_SPACE_MAX_TASKS];
    entry *entries;
    int n_entries, cap_entries;
    int *table; /* open addressing over entries, -1 empty */
    int table_cap;
    sens_row *sens;
    int n_sens;
    int64_t measured, hits;
};

/* ---- the cache ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static int table_find(const td_explorer *e, const char *key)
{
    if (e->table_cap == 0)
        return -1;
    for (uint64_t i = hash_str(key) & (uint64_t)(e->table_cap - 1);;
         i = (i + 1) & (uint64_t)(e->table_cap - 1)) {
        int k = e->table[i];
        if (k < 0)
            return -1;
        if (strcmp(e->entries[k].key, key) == 0)
            return k;
    }
}

static td_status table_grow(td_explorer *e)
{
    int cap = e->table_cap ? e->table_cap * 2 : 256;
    int *t = malloc(sizeof *t * (size_t)cap);
    if (!t)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    for (int i = 0; i < cap; i++)
        t[i] = -1;
    for (int k = 0; k < e->n_entries; k++) {
        uint64_t i = hash_str(e->entries[k].key) & (uint64_t)(cap - 1);
        while (t[i] >= 0)
            i = (i + 1) & (uint64_t)(cap - 1);
        t[i] = k;
    }
    free(e->table);
    e->table = t;
    e->table_cap = cap;
    return TD_OK;
}

/* ---- schemes ---- */

/* The weight spec of a group's choice: the format plus its sparsity ("int8" + "2:4" ->
 * "int8:2:4"); f32 stays dense. */
static void group_spec(const td_space *s, const td_group *g, const int *x, char *spec, size_t cap,
                       td_act_type *act, const char **sparsity)
{
    const char *w = td_setting_value(s, &g->weights, x);
    const char *sp = td_setting_value(s, &g->sparsity, x);
    *sparsity = strcmp(w, "f32") == 0 ? "none" : sp;
    if (strcmp(w, "f32") == 0 || strcmp(sp, "none") == 0)
        snprintf(spec, cap, "%s", w);
    else
        snprintf(spec, cap, "%s:%s", w, sp);
    if (td_act_parse(td_setting_value(s, &g->act, x), act) || strcmp(w, "f32") == 0)
        *act = TD_ACT_F32;
}

static td_status make_scheme(const td_space *s, int t, const int *x, td_scheme *out)
{
    const td_task *task = &s->tasks[t];
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "explore");
    out->a8_budget = 1.0;
    for (int gi = 0; gi < task->n_groups; gi++) {
        const td_group *g = &task->groups[gi];
        char spec[96];
        td_act_type act;
        const char *sp;
        group_spec(s, g, x, spec, sizeof spec, &act, &sp);
        for (int m = 0; m < g->n_match; m++) {
            if (out->n_rules == TD_SCHEME_MAX_RULES)
                return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: more than %d match rules",
                                    s->file, TD_SCHEME_MAX_RULES);
            td_rule *r = &out->rules[out->n_rules++];
            snprintf(r->pattern, sizeof r->pattern, "%s", g->match[m]);
            r->keep_f32 = strcmp(spec, "f32") == 0;
            r->act_mode = TD_ACTM_FIXED;
            r->act = act;
            if (!r->keep_f32) {
                td_status st = td_qspec_parse(spec, &r->spec);
                if (st) {
                    td_status e = td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: group '%s': %s",
                                               s->file, g->name, td_status_message(st));
                    td_status_free(st);
                    return e;
                }
            }
        }
    }
    return TD_OK;
}

/* The cache key: the task and its groups' (spec, act) choices. */
static void scheme_key(const td_space *s, int t, const int *x, char *key, size_t cap)
{
    size_t used = (size_t)snprintf(key, cap, "%d", t);
    for (int gi = 0; gi < s->tasks[t].n_groups && used < cap; gi++) {
        char spec[96];
        td_act_type act;
        const char *sp;
        group_spec(s, &s->tasks[t].groups[gi], x, spec, sizeof spec, &act, &sp);
        used += (size_t)snprintf(key + used, cap - used, "|%s/%s", spec, td_act_name(act));
        if (s->tasks[t].op_knobs && used < cap)
            used += (size_t)snprintf(key + used, cap - used, "/%s/%s",
                                     td_setting_value(s, &s->tasks[t].groups[gi].variant, x),
                                     td_setting_value(s, &s->tasks[t].groups[gi].experts, x));
    }
}

static void reset_graph(td_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        td_qmatrix_free(g->nodes[i].qweight);
        g->nodes[i].qweight = NULL;
        g->nodes[i].act = TD_ACT_F32;
    }
    (void)td_graph_update_costs(g);
}

/* ---- operator knobs ---- */

/* Sets an int or float attribute, replacing the model's own value (a fresh, unprepared node). */
static td_status set_attr(td_node *n, const char *name, td_attr_type type, double v)
{
    for (int i = 0; i < n->n_attrs; i++) {
        td_attr *a = &n->attrs[i];
        if (strcmp(a->name, name))
            continue;
        if (a->type != type)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "attribute '%s' has another type than the knob sets", name);
        if (type == TD_ATTR_INT)
            a->i = (int64_t)v;
        else
            a->f = (float)v;
        return TD_OK;
    }
    return type == TD_ATTR_INT ? td_node_set_int(n, name, (int64_t)v)
                               : td_node_set_float(n, name, (float)v);
}

/* The task's model at `batch`, with each group's operator knobs of design x set on its nodes
 * (DeformConv: tandem_offset_range; TandemMoE: k) before the graph is prepared: those
 * attributes are read once, at prepare. */
static td_status open_variant(const td_explorer *e, int t, const int *x, int batch, td_graph **out)
{
    const td_space *s = e->s;
    const td_task *task = &s->tasks[t];
    const task_rt *rt = &e->tasks[t];
    td_model_opts mo = {batch, 0};
    TD_TRY(td_model_open(task->model, &mo, out));
    td_graph *g = *out;
    td_status st = TD_OK;
    for (int n = 0; x && !st && n < g->n_nodes && n < rt->g_est->n_nodes; n++) {
        int gi = rt->node_group[n];
        if (gi < 0)
            continue;
        const char *v = td_setting_value(s, &task->groups[gi].variant, x);
        const char *k = td_setting_value(s, &task->groups[gi].experts, x);
        double r;
        if (!strcmp(g->nodes[n].op_type, "DeformConv") && sscanf(v, "limited:%lf", &r) == 1)
            st = set_attr(&g->nodes[n], "tandem_offset_range", TD_ATTR_FLOAT, r);
        else if (!strcmp(g->nodes[n].op_type, "TandemMoE") && strcmp(k, "model"))
            st = set_attr(&g->nodes[n], "k", TD_ATTR_INT, atoi(k));
    }
    if (!st)
        st = td_graph_prepare(g);
    if (st) {
        td_graph_free(g);
        *out = NULL;
    }
    return st;
}

/* ---- accuracy ---- */

static td_status measure_accuracy(td_explorer *e, int t, const td_scheme *sc, const int *x,
                                  double *acc)
{
    task_rt *rt = &e->tasks[t];
    td_graph *g = rt->g_acc, *own = NULL;
    if (x && e->s->tasks[t].op_knobs) {
        TD_TRY(open_variant(e, t, x, ACC_BATCH, &own));
        g = own;
    }
    reset_graph(g);
    td_status st = sc ? td_compress_apply(g, sc) : TD_OK;
    td_session *ses = NULL;
    if (!st)
        st = td_session_new(g, &e->ctx, &ses);
    td_eval_result r = {0, 0, 0};
    if (!st)
        st = td_eval_batches(ses, g, &rt->test, rt->test.n, ACC_BATCH, &r);
    td_session_free(ses);
    reset_graph(g);
    td_graph_free(own);
    TD_TRY(st);
    *acc = r.total ? (double)r.correct / (double)r.total : 0;
    e->measured++;
    return TD_OK;
}

/* Per-layer output errors of one weight spec on every weighted layer of a task (A8 and A6),
 * from the calibration data: one compression run with "auto" activations measures both. */
static td_status sens_for(td_explorer *e, int t, const char *spec, const sens_row **out)
{
    for (int i = 0; i < e->n_sens; i++)
        if (e->sens[i].task == t && strcmp(e->sens[i].spec, spec) == 0) {
            *out = &e->sens[i];
            return TD_OK;
        }
    task_rt *rt = &e->tasks[t];
    const td_task *task = &e->s->tasks[t];
    sens_row *grown = realloc(e->sens, sizeof *grown * (size_t)(e->n_sens + 1));
    if (!grown)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    e->sens = grown;
    sens_row *row = &e->sens[e->n_sens];
    memset(row, 0, sizeof *row);
    snprintf(row->spec, sizeof row->spec, "%s", spec);
    row->task = t;
    int nn = rt->g_est->n_nodes;
    row->a8 = malloc(sizeof(double) * (size_t)nn);
    row->a6 = malloc(sizeof(double) * (size_t)nn);
    if (!row->a8 || !row->a6) {
        free(row->a8);
        free(row->a6);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    }
    for (int i = 0; i < nn; i++)
        row->a8[i] = row->a6[i] = -1;
    td_scheme sc;
    memset(&sc, 0, sizeof sc);
    sc.a8_budget = 1.0;
    sc.n_rules = 1;
    snprintf(sc.rules[0].pattern, sizeof sc.rules[0].pattern, "*");
    sc.rules[0].act_mode = TD_ACTM_AUTO;
    TD_TRY(td_qspec_parse(spec, &sc.rules[0].spec));
    td_model_opts mo = {(int)rt->calib.n, 0};
    td_graph *gc;
    TD_TRY(td_model_open(task->model, &mo, &gc));
    const td_value *in = &gc->values[gc->inputs[0]];
    const char *names[1] = {in->name};
    td_view xv = {TD_DT_F32, in->ndim, {0}, rt->calib.x};
    memcpy(xv.shape, in->shape, sizeof xv.shape);
    td_calib cal = {1, names, &xv, NULL};
    td_compress_report rep;
    td_status st = td_compress(gc, &sc, &cal, &e->ctx, NULL, NULL, &rep);
    for (int i = 0; !st && i < rep.n_layers; i++) {
        int node = rep.layers[i].node;
        if (node >= 0 && node < nn) {
            row->a8[node] = rep.layers[i].sens_a8;
            row->a6[node] = rep.layers[i].sens_a6;
        }
    }
    if (!st)
        td_compress_report_free(&rep);
    td_graph_free(gc);
    if (st) {
        free(row->a8);
        free(row->a6);
        return st;
    }
    e->n_sens++;
    *out = row;
    return TD_OK;
}

/* Proxy: the f32 accuracy minus the sum of the compressed layers' output errors (relative L2
 * of the logits with that layer alone compressed). A ranking device, not a prediction. */
static td_status proxy_accuracy(td_explorer *e, int t, const int *x, double *out)
{
    const td_task *task = &e->s->tasks[t];
    task_rt *rt = &e->tasks[t];
    double sum = 0;
    for (int n = 0; n < rt->g_est->n_nodes; n++) {
        int gi = rt->node_group[n];
        if (gi < 0)
            continue;
        char spec[96];
        td_act_type act;
        const char *sp;
        group_spec(e->s, &task->groups[gi], x, spec, sizeof spec, &act, &sp);
        if (strcmp(spec, "f32") == 0)
            continue;
        const sens_row *row;
        TD_TRY(sens_for(e, t, spec, &row));
        double v = act == TD_ACT_INT6 ? row->a6[n] : row->a8[n];
        sum += v > 0 ? v : 0; /* -1: not a weighted layer */
    }
    double p = rt->f32_accuracy - sum;
    *out = p < 0 ? 0 : p;
    return TD_OK;
}

/* ---- entries ---- */

/* x NULL: the baseline, every layer f32. */
static td_status fill_entry(td_explorer *e, int t, const int *x, entry *en)
{
    task_rt *rt = &e->tasks[t];
    td_graph *g = rt->g_est, *own = NULL;
    td_scheme sc;
    memset(&sc, 0, sizeof sc);
    if (x)
        TD_TRY(make_scheme(e->s, t, x, &sc));
    if (x && e->s->tasks[t].op_knobs) { /* operator attributes differ: a graph of its own */
        TD_TRY(open_variant(e, t, x, 1, &own));
        g = own;
    }
    reset_graph(g);
    td_status st = td_compress_apply(g, &sc);
    en->works = st ? NULL : calloc((size_t)g->n_nodes + 1, sizeof *en->works);
    en->choices = st ? NULL : calloc((size_t)g->n_nodes + 1, sizeof *en->choices);
    if (!st && (!en->works || !en->choices))
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    for (int n = 0; !st && n < g->n_nodes; n++)
        st = td_layer_work_of(g, n, &en->works[n]);
    td_graph_totals tot;
    td_graph_totals_compute(g, &tot);
    en->weight_bytes = (double)tot.weight_bytes;
    for (int n = 0; !st && n < g->n_nodes; n++) {
        if (en->works[n].kind != TD_WORK_CONV && en->works[n].kind != TD_WORK_GEMM)
            continue;
        int gi = x ? rt->node_group[n] : -1;
        td_layer_choice *c = &en->choices[en->n_choices++];
        snprintf(c->name, sizeof c->name, "%s", g->nodes[n].name);
        td_act_type act = TD_ACT_F32;
        const char *sp = "none";
        char spec[96] = "f32";
        if (gi >= 0)
            group_spec(e->s, &e->s->tasks[t].groups[gi], x, spec, sizeof spec, &act, &sp);
        snprintf(c->format, sizeof c->format, "%s",
                 gi >= 0 ? td_setting_value(e->s, &e->s->tasks[t].groups[gi].weights, x) : "f32");
        snprintf(c->act, sizeof c->act, "%s", td_act_name(act));
        snprintf(c->sparsity, sizeof c->sparsity, "%s", sp);
    }
    reset_graph(g);
    td_graph_free(own);
    en->accuracy = NAN;
    if (st || e->s->accuracy == TD_ACC_NONE)
        return st;
    if (!x)
        en->accuracy = rt->f32_accuracy;
    else if (e->s->accuracy == TD_ACC_MEASURED)
        st = measure_accuracy(e, t, &sc, x, &en->accuracy);
    else
        st = proxy_accuracy(e, t, x, &en->accuracy);
    return st;
}

/* x NULL: the task's baseline. */
static td_status lookup(td_explorer *e, int t, const int *x, int *out)
{
    char key[1024];
    if (x) {
        scheme_key(e->s, t, x, key, sizeof key);
    } else { /* the key a design with every group at f32 has: one measurement serves both */
        size_t used = (size_t)snprintf(key, sizeof key, "%d", t);
        for (int gi = 0; gi < e->s->tasks[t].n_groups && used < sizeof key; gi++)
            used += (size_t)snprintf(key + used, sizeof key - used, "|f32/f32");
    }
    int k = table_find(e, key);
    if (k >= 0) {
        e->hits++;
        *out = k;
        return TD_OK;
    }
    if (e->n_entries == e->cap_entries) {
        int cap = e->cap_entries ? 2 * e->cap_entries : 64;
        entry *grown = realloc(e->entries, sizeof *grown * (size_t)cap);
        if (!grown)
            return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
        e->entries = grown;
        e->cap_entries = cap;
    }
    entry *en = &e->entries[e->n_entries];
    memset(en, 0, sizeof *en);
    td_status st = fill_entry(e, t, x, en);
    if (st) {
        free(en->works);
        free(en->choices);
        return st;
    }
    en->key = strdup(key);
    if (!en->key)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    e->n_entries++;
    if (2 * e->n_entries > e->table_cap)
        TD_TRY(table_grow(e));
    else {
        uint64_t i = hash_str(key) & (uint64_t)(e->table_cap - 1);
        while (e->table[i] >= 0)
            i = (i + 1) & (uint64_t)(e->table_cap - 1);
        e->table[i] = e->n_entries - 1;
    }
    *out = e->n_entries - 1;
    return TD_OK;
}

/* ---- hardware ---- */

static td_status build_accel(const td_space *s, const td_space_accel *sa, const int *x,
                             td_hw_accel *a)
{
    TD_TRY(td_hw_accel_init(a, td_setting_value(s, &sa->tmpl, x)));
    snprintf(a->name, sizeof a->name, "%s", sa->name);
    for (int i = 0; i < sa->n_fields; i++) {
        if (!td_hw_field_applies(a->tmpl, sa->fields[i].key, NULL))
            continue; /* a field of another template in the list */
        td_status st =
            td_hw_accel_set(a, sa->fields[i].key, td_setting_value(s, &sa->fields[i].v, x));
        if (st) {
            td_status e = td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: accelerator '%s': %s",
                                       s->file, sa->name, td_status_message(st));
            td_status_free(st);
            return e;
        }
    }
    return TD_OK;
}

static bool present(const td_space *s, int a, const int *x)
{
    const td_space_accel *sa = &s->accels[a];
    return sa->present_knob < 0 || x[sa->present_knob] == 0;
}

/* The accelerator a layer of group gi runs on: its assignment when that accelerator exists in
 * the design, otherwise the first non-optional one. */
static int accel_of(const td_space *s, int t, int gi, const int *x)
{
    int first = 0;
    while (first < s->n_accels && s->accels[first].optional)
        first++;
    if (gi < 0)
        return first;
    const td_setting *as = &s->tasks[t].groups[gi].assign;
    if (as->knob < 0 && !as->value[0])
        return first; /* the group has no assignment */
    const char *name = td_setting_value(s, &s->tasks[t].groups[gi].assign, x);
    for (int a = 0; a < s->n_accels; a++)
        if (strcmp(s->accels[a].name, name) == 0)
            return present(s, a, x) ? a : first;
    return first;
}

typedef struct totals {
    double latency_s, energy_j;
    bool fits;
} totals;

static td_status task_cost(const td_explorer *e, int t, const entry *en, const td_hw_accel *accels,
                           const int *x, totals *tot)
{
    const td_graph *g = e->tasks[t].g_est;
    for (int n = 0; n < g->n_nodes; n++) {
        const td_layer_work *w = &en->works[n];
        int a = accel_of(e->s, t, e->tasks[t].node_group[n], x);
        td_layer_estimate le;
        TD_TRY(td_estimate_layer(&accels[a], w, &le));
        tot->latency_s += le.latency_s;
        tot->energy_j += le.energy_j;
        tot->fits &= le.fits;
    }
    return TD_OK;
}

static void judge(const td_space *s, td_design_eval *d, bool fits)
{
    d->violation = fits ? 0 : 1;
    for (int i = 0; i < s->n_limits; i++) {
        const td_limit *l = &s->limits[i];
        double v = d->metrics[l->metric];
        double excess = l->is_max ? v - l->value : l->value - v;
        double scale = fabs(l->value) > 1e-12 ? fabs(l->value) : 1e-12;
        if (isnan(v))
            excess = scale;
        if (excess > 0)
            d->violation += excess / scale;
    }
    d->feasible = d->violation == 0;
}

static td_status design_cost(const td_explorer *e, const int *x, const int *ent, const int *base,
                             td_design_eval *d)
{
    const td_space *s = e->s;
    td_hw_accel accels[TD_SPACE_MAX_ACCELS];
    double area = 0;
    for (int a = 0; a < s->n_accels; a++) {
        TD_TRY(build_accel(s, &s->accels[a], x, &accels[a]));
        if (present(s, a, x))
            area += td_hw_area_mm2(&accels[a]);
    }
    totals tc = {0, 0, true}, tb = {0, 0, true};
    double acc = 0, acc_b = 0, mem = 0, mem_b = 0;
    for (int t = 0; t < s->n_tasks; t++) {
        const entry *en = &e->entries[ent[t]], *eb = &e->entries[base[t]];
        TD_TRY(task_cost(e, t, en, accels, x, &tc));
        TD_TRY(task_cost(e, t, eb, accels, x, &tb));
        acc += en->accuracy / s->n_tasks;
        acc_b += eb->accuracy / s->n_tasks;
        double m = (en->weight_bytes + e->tasks[t].arena_bytes) / 1024.0;
        double mb = (eb->weight_bytes + e->tasks[t].arena_bytes) / 1024.0;
        mem = m > mem ? m : mem;
        mem_b = mb > mem_b ? mb : mem_b;
    }
    double m[TD_METRIC_COUNT] = {acc, tc.latency_s * 1e3, tc.energy_j * 1e6, area, mem};
    double b[TD_METRIC_COUNT] = {acc_b, tb.latency_s * 1e3, tb.energy_j * 1e6, area, mem_b};
    memcpy(d->metrics, m, sizeof m);
    memcpy(d->baseline, b, sizeof b);
    judge(s, d, tc.fits);
    return TD_OK;
}

td_status td_explorer_eval(td_explorer *e, int n, const int *x, td_design_eval *out)
{
    const td_space *s = e->s;
    int nt = s->n_tasks, nk = s->n_knobs;
    int *ent = malloc(sizeof(int) * (size_t)(n * nt + 1));
    if (!ent)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    int base[TD_SPACE_MAX_TASKS];
    td_status st = TD_OK;
    for (int t = 0; !st && t < nt; t++)
        st = lookup(e, t, NULL, &base[t]);
    for (int i = 0; !st && i < n; i++)
        for (int t = 0; !st && t < nt; t++)
            st = lookup(e, t, x + (size_t)i * nk, &ent[i * nt + t]);
    int failed = 0;
    td_status first = NULL;
#pragma omp parallel for schedule(dynamic, 16) if (n > 64)
    for (int i = 0; i < n; i++) {
        if (st)
            continue;
        td_status r = design_cost(e, x + (size_t)i * nk, ent + i * nt, base, &out[i]);
        if (r) {
#pragma omp critical
            {
                if (!first)
                    first = r;
                else
                    td_status_free(r);
                failed++;
            }
        }
    }
    free(ent);
    if (st) {
        td_status_free(first);
        return st;
    }
    return first;
}

/* ---- setup ---- */

static td_status open_task(td_explorer *e, int t)
{
    const td_task *task = &e->s->tasks[t];
    task_rt *rt = &e->tasks[t];
    td_model_opts one = {1, 0};
    TD_TRY(td_model_open(task->model, &one, &rt->g_est));
    TD_TRY(td_graph_prepare(rt->g_est));
    td_graph *g = rt->g_est;
    rt->node_group = malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
    if (!rt->node_group)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    for (int n = 0; n < g->n_nodes; n++) {
        rt->node_group[n] = -1;
        for (int gi = 0; gi < task->n_groups && rt->node_group[n] < 0; gi++)
            for (int m = 0; m < task->groups[gi].n_match; m++)
                if (fnmatch(task->groups[gi].match[m], g->nodes[n].name, 0) == 0)
                    rt->node_group[n] = gi;
    }
    td_mem_plan plan;
    TD_TRY(td_mem_plan_build(g, &plan));
    rt->arena_bytes = (double)plan.arena_bytes;
    td_mem_plan_free(&plan);
    if (e->s->accuracy == TD_ACC_NONE)
        return TD_OK;
    TD_TRY(td_dataset_load(task->test, &rt->test));
    if (!rt->test.y)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: no labels (\"y\")", task->test);
    TD_TRY(td_dataset_load(task->calib, &rt->calib));
    td_model_opts mo = {ACC_BATCH, 0};
    TD_TRY(td_model_open(task->model, &mo, &rt->g_acc));
    TD_TRY(td_graph_prepare(rt->g_acc));
    return measure_accuracy(e, t, NULL, NULL, &rt->f32_accuracy);
}

td_status td_explorer_new(const td_space *s, const td_explorer_options *o, td_explorer **out)
{
    *out = NULL;
    td_explorer *e = calloc(1, sizeof *e);
    if (!e)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    e->s = s;
    e->ctx = td_ctx_default();
    if (o && o->threads > 0)
        e->ctx.threads = o->threads;
    td_status st = TD_OK;
    for (int t = 0; !st && t < s->n_tasks; t++)
        st = open_task(e, t);
    if (st) {
        td_explorer_free(e);
        return st;
    }
    *out = e;
    return TD_OK;
}

void td_explorer_free(td_explorer *e)
{
    if (!e)
        return;
    for (int t = 0; t < TD_SPACE_MAX_TASKS; t++) {
        td_graph_free(e->tasks[t].g_est);
        td_graph_free(e->tasks[t].g_acc);
        td_dataset_free(&e->tasks[t].test);
        td_dataset_free(&e->tasks[t].calib);
        free(e->tasks[t].node_group);
    }
    for (int i = 0; i < e->n_entries; i++) {
        free(e->entries[i].key);
        free(e->entries[i].works);
        free(e->entries[i].choices);
    }
    for (int i = 0; i < e->n_sens; i++) {
        free(e->sens[i].a8);
        free(e->sens[i].a6);
    }
    free(e->sens);
    free(e->entries);
    free(e->table);
    free(e);
}

void td_explorer_cache_stats(const td_explorer *e, int64_t *measured, int64_t *hits)
{
    *measured = e->measured;
    *hits = e->hits;
}

int td_explorer_layers(td_explorer *e, const int *x, td_layer_choice *out, int cap)
{
    int total = 0;
    for (int t = 0; t < e->s->n_tasks; t++) {
        int k;
        td_status st = lookup(e, t, x, &k);
        if (st) {
            td_status_free(st);
            continue;
        }
        const entry *en = &e->entries[k];
        for (int i = 0; i < en->n_choices; i++, total++) {
            if (total >= cap)
                continue;
            out[total] = en->choices[i];
            if (e->s->n_tasks > 1) { /* layer names of several tasks: prefixed by the task */
                char full[160];
                snprintf(full, sizeof full, "%s/%s", e->s->tasks[t].name, en->choices[i].name);
                snprintf(out[total].name, sizeof out[total].name, "%.95s", full);
            }
        }
    }
    return total;
}

/* ---- proxy check ---- */

static void ranks(const double *v, int n, double *r)
{
    for (int i = 0; i < n; i++) {
        int less = 0, equal = 0;
        for (int j = 0; j < n; j++) {
            less += v[j] < v[i];
            equal += v[j] == v[i];
        }
        r[i] = less + (equal + 1) / 2.0; /* ties share the mean rank */
    }
}

static double pearson(const double *a, const double *b, int n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        ma += a[i] / n;
        mb += b[i] / n;
    }
    for (int i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
}

td_status td_explorer_proxy_check(td_explorer *e, int n, uint64_t seed, double *spearman)
{
    if (n < 3 || n > 100000)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "proxy check: 3 to 100000 samples, not %d",
                            n);
    if (e->s->accuracy == TD_ACC_NONE)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "proxy check: the space has no accuracy data");
    int nk = e->s->n_knobs;
    double *meas = calloc((size_t)n, sizeof *meas), *prox = calloc((size_t)n, sizeof *prox);
    double *rm = calloc((size_t)n, sizeof *rm), *rp = calloc((size_t)n, sizeof *rp);
    int *x = calloc((size_t)nk + 1, sizeof *x);
    td_status st = meas && prox && rm && rp && x
                       ? TD_OK
                       : td_error_new(TD_CODE_OUT_OF_MEMORY, "proxy check: out of memory");
    uint64_t r = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; !st && i < n; i++) {
        for (int k = 0; k < nk; k++) { /* splitmix64 */
            r += 0x9E3779B97F4A7C15ull;
            uint64_t z = r;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            x[k] = (int)(z % (uint64_t)e->s->knobs[k].n_values);
        }
        for (int t = 0; !st && t < e->s->n_tasks; t++) {
            td_scheme sc;
            double a = 0, p = 0;
            st = make_scheme(e->s, t, x, &sc);
            if (!st)
                st = measure_accuracy(e, t, &sc, x, &a);
            if (!st)
                st = proxy_accuracy(e, t, x, &p);
            meas[i] += a / e->s->n_tasks;
            prox[i] += p / e->s->n_tasks;
        }
    }
    if (!st) {
        ranks(meas, n, rm);
        ranks(prox, n, rp);
        *spearman = pearson(rm, rp, n);
    }
    free(meas);
    free(prox);
    free(rm);
    free(rp);
    free(x);
    return st;
}
