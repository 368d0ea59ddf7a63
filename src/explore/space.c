/* Design-space files (YAML, libyaml document API): tasks and their layer groups with
 * compression knobs, accelerators with hardware knobs, the assignment of groups to
 * accelerators, the spec (limits and objectives) and search settings. Format: docs/EXPLORE.md.
 *
 * Any setting given as a list of two or more values becomes a knob; a single value is fixed.
 * Every value is checked when the file is read (formats parse, hardware fields are in range
 * for a template that takes them), so that a search never fails half-way on a typo. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "explore/space_internal.h"
#include "hw/yaml_doc.h"
#include "tandem/core.h"
#include "tandem/kernels.h"

static const char *const metric_names[TD_METRIC_COUNT] = {"accuracy", "latency_ms", "energy_uj",
                                                          "area_mm2", "peak_mem_kb"};

const char *td_metric_name(td_metric m)
{
    return m >= 0 && m < TD_METRIC_COUNT ? metric_names[m] : "?";
}

typedef struct parse {
    yaml_document_t doc;
    const char *file;
    const char *base;
    td_space *s;
} parse;

static td_status err_at(const parse *p, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static td_status err_at(const parse *p, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return td_error_new(TD_CODE_BAD_DATA, "%s:%lu: %s", p->file,
                        n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg);
}

static yaml_node_t *node(const parse *p, int id)
{
    return yaml_document_get_node((yaml_document_t *)&p->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Walks a mapping's pairs, rejecting keys not in `allowed` (a NULL-terminated list). */
typedef struct kv {
    const char *key;
    yaml_node_t *k, *v;
} kv;

static td_status pairs(const parse *p, yaml_node_t *map, const char *what,
                       const char *const *allowed, kv *out, int cap, int *n)
{
    *n = 0;
    if (!map || map->type != YAML_MAPPING_NODE)
        return err_at(p, map, "%s must be a mapping", what);
    for (yaml_node_pair_t *it = map->data.mapping.pairs.start; it < map->data.mapping.pairs.top;
         it++) {
        yaml_node_t *k = node(p, it->key);
        const char *key = scalar(k);
        if (!key)
            return err_at(p, k, "%s: keys must be plain words", what);
        bool ok = allowed == NULL;
        for (int i = 0; allowed && allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok)
            return err_at(p, k, "%s: unknown key '%s'", what, key);
        for (int i = 0; i < *n; i++)
            if (strcmp(out[i].key, key) == 0)
                return err_at(p, k, "%s: key '%s' given twice", what, key);
        if (*n == cap)
            return err_at(p, k, "%s: too many keys", what);
        out[(*n)++] = (kv){key, k, node(p, it->value)};
    }
    return TD_OK;
}

static yaml_node_t *get(const kv *kvs, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(kvs[i].key, key) == 0)
            return kvs[i].v;
    return NULL;
}

static td_status copy_text(const parse *p, const yaml_node_t *v, const char *what, char *dst,
                           size_t cap)
{
    const char *s = scalar(v);
    if (!s || !*s || strlen(s) >= cap)
        return err_at(p, v, "%s: expected a non-empty value shorter than %zu bytes", what, cap);
    snprintf(dst, cap, "%s", s);
    return TD_OK;
}

/* ---- knobs ---- */

typedef td_status (*value_check)(const parse *p, const yaml_node_t *at, const char *what,
                                 const char *value, const void *ctx);

/* A setting from a scalar (fixed) or a list (a knob named `name` when it has 2+ values). */
static td_status setting(const parse *p, yaml_node_t *v, const char *name, td_knob_kind kind,
                         value_check check, const void *ctx, td_setting *out, td_knob **made)
{
    td_space *s = p->s;
    out->knob = -1;
    if (made)
        *made = NULL;
    if (v && v->type == YAML_SCALAR_NODE) {
        TD_TRY(copy_text(p, v, name, out->value, sizeof out->value));
        return check ? check(p, v, name, out->value, ctx) : TD_OK;
    }
    if (!v || v->type != YAML_SEQUENCE_NODE)
        return err_at(p, v, "%s: expected a value or a list of values", name);
    int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n < 1 || n > TD_KNOB_MAX_VALUES)
        return err_at(p, v, "%s: a list of 1 to %d values", name, TD_KNOB_MAX_VALUES);
    if (n > 1 && s->n_knobs == TD_SPACE_MAX_KNOBS)
        return err_at(p, v, "%s: more than %d knobs", name, TD_SPACE_MAX_KNOBS);
    td_knob *k = &s->knobs[s->n_knobs];
    memset(k, 0, sizeof *k);
    for (int i = 0; i < n; i++) {
        yaml_node_t *e = node(p, v->data.sequence.items.start[i]);
        TD_TRY(copy_text(p, e, name, k->values[i], sizeof k->values[i]));
        if (check)
            TD_TRY(check(p, e, name, k->values[i], ctx));
        for (int j = 0; j < i; j++)
            if (strcmp(k->values[j], k->values[i]) == 0)
                return err_at(p, e, "%s: value '%s' listed twice", name, k->values[i]);
    }
    if (n == 1) {
        snprintf(out->value, sizeof out->value, "%s", k->values[0]);
        return TD_OK;
    }
    snprintf(k->name, sizeof k->name, "%s", name);
    k->kind = kind;
    k->task = k->group = k->accel = -1;
    k->n_values = n;
    k->line = (int)v->start_mark.line + 1;
    out->knob = s->n_knobs++;
    if (made)
        *made = k;
    return TD_OK;
}

const char *td_setting_value(const td_space *s, const td_setting *v, const int *x)
{
    return v->knob < 0 ? v->value : s->knobs[v->knob].values[x[v->knob]];
}

static td_status check_weights(const parse *p, const yaml_node_t *at, const char *what,
                               const char *value, const void *ctx)
{
    (void)ctx;
    td_qspec q;
    if (strcmp(value, "f32") == 0)
        return TD_OK;
    td_status st = td_qspec_parse(value, &q);
    if (!st)
        return TD_OK;
    td_status e =
        err_at(p, at, "%s: '%s' is not a weight format (%s)", what, value, td_status_message(st));
    td_status_free(st);
    return e;
}

static td_status check_act(const parse *p, const yaml_node_t *at, const char *what,
                           const char *value, const void *ctx)
{
    (void)ctx;
    td_act_type a;
    td_status st = td_act_parse(value, &a);
    if (!st)
        return TD_OK;
    td_status_free(st);
    return err_at(p, at, "%s: unknown activation '%s' (f32, a8, a6)", what, value);
}

/* "none", "N:M" or "gsF" (share of groups pruned, 0 < F < 1). */
static td_status check_sparsity(const parse *p, const yaml_node_t *at, const char *what,
                                const char *value, const void *ctx)
{
    (void)ctx;
    int n = 0, m = 0;
    double f = 0;
    char tail = 0;
    if (strcmp(value, "none") == 0)
        return TD_OK;
    if (sscanf(value, "%d:%d%c", &n, &m, &tail) == 2 && n >= 1 && n < m && m <= 16)
        return TD_OK;
    if (sscanf(value, "gs%lf%c", &f, &tail) == 1 && f > 0 && f < 1)
        return TD_OK;
    return err_at(p, at, "%s: sparsity '%s' is not none, N:M (1 <= N < M <= 16) or gsF (0 < F < 1)",
                  what, value);
}

/* "model", "free" or "limited:R" (R >= 0): DeformConv's offsets as given or clamped. */
static td_status check_variant(const parse *p, const yaml_node_t *at, const char *what,
                               const char *value, const void *ctx)
{
    (void)ctx;
    double r = -1;
    char tail = 0;
    if (!strcmp(value, "model") || !strcmp(value, "free") ||
        (sscanf(value, "limited:%lf%c", &r, &tail) == 1 && r >= 0 && r <= 1e6))
        return TD_OK;
    return err_at(p, at, "%s: variant '%s' is not model, free or limited:R (R >= 0)", what, value);
}

/* "model" or a count of experts per token, 1..64. */
static td_status check_experts(const parse *p, const yaml_node_t *at, const char *what,
                               const char *value, const void *ctx)
{
    (void)ctx;
    int k = 0;
    char tail = 0;
    if (!strcmp(value, "model") || (sscanf(value, "%d%c", &k, &tail) == 1 && k >= 1 && k <= 64))
        return TD_OK;
    return err_at(p, at, "%s: experts '%s' is not model or a count from 1 to 64", what, value);
}

/* ---- tasks and groups ---- */

static td_status parse_match(const parse *p, yaml_node_t *v, td_group *g)
{
    if (v && v->type == YAML_SCALAR_NODE) {
        g->n_match = 1;
        return copy_text(p, v, "match", g->match[0], sizeof g->match[0]);
    }
    if (!v || v->type != YAML_SEQUENCE_NODE)
        return err_at(p, v, "group '%s': 'match' must be a glob or a list of globs", g->name);
    int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n < 1 || n > TD_SPACE_MAX_MATCH)
        return err_at(p, v, "group '%s': 'match' takes 1 to %d globs", g->name, TD_SPACE_MAX_MATCH);
    for (int i = 0; i < n; i++)
        TD_TRY(copy_text(p, node(p, v->data.sequence.items.start[i]), "match", g->match[i],
                         sizeof g->match[i]));
    g->n_match = n;
    return TD_OK;
}

static td_status group_setting(const parse *p, yaml_node_t *v, const char *def, int task, int group,
                               const char *what, td_knob_kind kind, value_check check,
                               td_setting *out)
{
    td_space *s = p->s;
    if (!v) {
        out->knob = -1;
        snprintf(out->value, sizeof out->value, "%s", def);
        return TD_OK;
    }
    char name[96];
    snprintf(name, sizeof name, "%s.%s.%s", s->tasks[task].name, s->tasks[task].groups[group].name,
             what);
    td_knob *k;
    TD_TRY(setting(p, v, name, kind, check, NULL, out, &k));
    if (k) {
        k->task = task;
        k->group = group;
    }
    return TD_OK;
}

static td_status parse_group(const parse *p, yaml_node_t *m, int task, int gi)
{
    static const char *const keys[] = {"name",     "match",   "weights", "act",
                                       "sparsity", "variant", "experts", NULL};
    kv kvs[8];
    int n;
    TD_TRY(pairs(p, m, "group", keys, kvs, 8, &n));
    td_group *g = &p->s->tasks[task].groups[gi];
    yaml_node_t *name = get(kvs, n, "name"), *match = get(kvs, n, "match");
    if (!name || !match)
        return err_at(p, m, "a group needs 'name' and 'match'");
    TD_TRY(copy_text(p, name, "group name", g->name, sizeof g->name));
    for (int i = 0; i < gi; i++)
        if (strcmp(p->s->tasks[task].groups[i].name, g->name) == 0)
            return err_at(p, name, "group name '%s' used twice", g->name);
    TD_TRY(parse_match(p, match, g));
    TD_TRY(group_setting(p, get(kvs, n, "weights"), "f32", task, gi, "weights", TD_KNOB_WEIGHTS,
                         check_weights, &g->weights));
    TD_TRY(group_setting(p, get(kvs, n, "act"), "a8", task, gi, "act", TD_KNOB_ACT, check_act,
                         &g->act));
    TD_TRY(group_setting(p, get(kvs, n, "sparsity"), "none", task, gi, "sparsity", TD_KNOB_SPARSITY,
                         check_sparsity, &g->sparsity));
    TD_TRY(group_setting(p, get(kvs, n, "variant"), "model", task, gi, "variant", TD_KNOB_VARIANT,
                         check_variant, &g->variant));
    TD_TRY(group_setting(p, get(kvs, n, "experts"), "model", task, gi, "experts", TD_KNOB_EXPERTS,
                         check_experts, &g->experts));
    p->s->tasks[task].op_knobs |= get(kvs, n, "variant") || get(kvs, n, "experts");
    g->assign.knob = -1;
    g->assign.value[0] = 0;
    return TD_OK;
}

static td_status path_field(const parse *p, yaml_node_t *v, const char *what, char *dst, size_t cap)
{
    char raw[400];
    TD_TRY(copy_text(p, v, what, raw, sizeof raw));
    int w = raw[0] == '/' || !p->base || !p->base[0] ? snprintf(dst, cap, "%s", raw)
                                                     : snprintf(dst, cap, "%s/%s", p->base, raw);
    if (w < 0 || (size_t)w >= cap)
        return err_at(p, v, "%s: path too long", what);
    return TD_OK;
}

static td_status parse_task(const parse *p, yaml_node_t *m, int ti, bool top)
{
    static const char *const keys[] = {"name", "model", "test", "calib", "groups", NULL};
    kv kvs[32];
    int n;
    td_space *s = p->s;
    td_task *t = &s->tasks[ti];
    if (top) { /* a single task given at the top level of the file */
        yaml_node_t *root = m;
        TD_TRY(pairs(p, root, "space", NULL, kvs, 32, &n));
        snprintf(t->name, sizeof t->name, "%s", "model");
    } else {
        TD_TRY(pairs(p, m, "task", keys, kvs, 32, &n));
        yaml_node_t *name = get(kvs, n, "name");
        if (!name)
            return err_at(p, m, "a task needs a 'name'");
        TD_TRY(copy_text(p, name, "task name", t->name, sizeof t->name));
        for (int i = 0; i < ti; i++)
            if (strcmp(s->tasks[i].name, t->name) == 0)
                return err_at(p, name, "task name '%s' used twice", t->name);
    }
    yaml_node_t *model = get(kvs, n, "model"), *groups = get(kvs, n, "groups");
    if (!model)
        return err_at(p, m, "task '%s': missing 'model'", t->name);
    TD_TRY(path_field(p, model, "model", t->model, sizeof t->model));
    if (get(kvs, n, "test"))
        TD_TRY(path_field(p, get(kvs, n, "test"), "test", t->test, sizeof t->test));
    if (get(kvs, n, "calib"))
        TD_TRY(path_field(p, get(kvs, n, "calib"), "calib", t->calib, sizeof t->calib));
    if (!groups || groups->type != YAML_SEQUENCE_NODE)
        return err_at(p, groups ? groups : m, "task '%s': 'groups' must be a list of layer groups",
                      t->name);
    int ng = (int)(groups->data.sequence.items.top - groups->data.sequence.items.start);
    if (ng < 1 || ng > TD_SPACE_MAX_GROUPS)
        return err_at(p, groups, "task '%s': 1 to %d groups", t->name, TD_SPACE_MAX_GROUPS);
    for (int i = 0; i < ng; i++) {
        TD_TRY(parse_group(p, node(p, groups->data.sequence.items.start[i]), ti, i));
        t->n_groups = i + 1;
    }
    return TD_OK;
}

/* ---- hardware ---- */

typedef struct field_ctx {
    const td_space_accel *acc;
    const char *key;
} field_ctx;

static td_status check_template(const parse *p, const yaml_node_t *at, const char *what,
                                const char *value, const void *ctx)
{
    (void)ctx;
    td_hw_accel a;
    td_status st = td_hw_accel_init(&a, value);
    if (!st)
        return TD_OK;
    td_status_free(st);
    return err_at(p, at, "%s: unknown template '%s'", what, value);
}

/* A field value must be valid for at least one of the accelerator's templates that take it. */
static td_status check_field(const parse *p, const yaml_node_t *at, const char *what,
                             const char *value, const void *ctx)
{
    const field_ctx *fc = ctx;
    const td_setting *t = &fc->acc->tmpl;
    int nt = t->knob < 0 ? 1 : p->s->knobs[t->knob].n_values;
    char first_err[300] = "";
    for (int i = 0; i < nt; i++) {
        const char *tn = t->knob < 0 ? t->value : p->s->knobs[t->knob].values[i];
        td_hw_accel a;
        TD_TRY(td_hw_accel_init(&a, tn));
        if (!td_hw_field_applies(a.tmpl, fc->key, NULL))
            continue;
        td_status st = td_hw_accel_set(&a, fc->key, value);
        if (!st)
            return TD_OK;
        if (!first_err[0])
            snprintf(first_err, sizeof first_err, "%s", td_status_message(st));
        td_status_free(st);
    }
    if (first_err[0])
        return err_at(p, at, "%s: %s", what, first_err);
    return err_at(p, at, "%s: no template of this accelerator takes field '%s'", what, fc->key);
}

static td_status required_fields(const parse *p, yaml_node_t *m, const td_space_accel *acc)
{
    const td_setting *t = &acc->tmpl;
    int nt = t->knob < 0 ? 1 : p->s->knobs[t->knob].n_values;
    for (int i = 0; i < nt; i++) {
        const char *tn = t->knob < 0 ? t->value : p->s->knobs[t->knob].values[i];
        td_hw_accel a;
        TD_TRY(td_hw_accel_init(&a, tn));
        for (int f = 0; td_hw_field_name(f); f++) {
            bool req = false;
            td_hw_field_applies(a.tmpl, td_hw_field_name(f), &req);
            bool given = false;
            for (int j = 0; j < acc->n_fields && !given; j++)
                given = strcmp(acc->fields[j].key, td_hw_field_name(f)) == 0;
            if (req && !given)
                return err_at(p, m, "accelerator '%s': template %s needs field '%s'", acc->name, tn,
                              td_hw_field_name(f));
        }
    }
    return TD_OK;
}

static td_status parse_accel(const parse *p, yaml_node_t *m, int ai, bool single)
{
    kv kvs[40];
    int n;
    td_space *s = p->s;
    td_space_accel *acc = &s->accels[ai];
    TD_TRY(pairs(p, m, "accelerator", NULL, kvs, 40, &n));
    yaml_node_t *name = get(kvs, n, "name"), *tmpl = get(kvs, n, "template");
    if (single)
        snprintf(acc->name, sizeof acc->name, "hw");
    else if (!name)
        return err_at(p, m, "each accelerator needs a 'name'");
    else
        TD_TRY(copy_text(p, name, "accelerator name", acc->name, sizeof acc->name));
    for (int i = 0; i < ai; i++)
        if (strcmp(s->accels[i].name, acc->name) == 0)
            return err_at(p, name, "accelerator name '%s' used twice", acc->name);
    if (!tmpl)
        return err_at(p, m, "accelerator '%s': missing 'template'", acc->name);
    char kname[96];
    snprintf(kname, sizeof kname, single ? "hw.template" : "hw.%s.template", acc->name);
    td_knob *k;
    TD_TRY(setting(p, tmpl, kname, TD_KNOB_HW_FIELD, check_template, NULL, &acc->tmpl, &k));
    if (k) {
        k->accel = ai;
        snprintf(k->field, sizeof k->field, "template");
    }
    acc->present_knob = -1;
    for (int i = 0; i < n; i++) {
        const char *key = kvs[i].key;
        if (!strcmp(key, "name") || !strcmp(key, "template"))
            continue;
        if (!strcmp(key, "optional")) {
            const char *v = scalar(kvs[i].v);
            if (single || !v || (strcmp(v, "true") && strcmp(v, "false")))
                return err_at(p, kvs[i].v, "'optional' is true or false, on a sub-accelerator");
            acc->optional = strcmp(v, "true") == 0;
            continue;
        }
        bool known = false;
        for (int f = 0; td_hw_field_name(f) && !known; f++)
            known = strcmp(td_hw_field_name(f), key) == 0;
        if (!known)
            return err_at(p, kvs[i].k, "accelerator '%s': unknown field '%s'", acc->name, key);
        if (acc->n_fields == TD_SPACE_MAX_FIELDS)
            return err_at(p, kvs[i].k, "accelerator '%s': too many fields", acc->name);
        td_space_field *f = &acc->fields[acc->n_fields++];
        snprintf(f->key, sizeof f->key, "%s", key);
        snprintf(kname, sizeof kname, single ? "hw.%s" : "hw.%s.%s", single ? key : acc->name, key);
        field_ctx fc = {acc, key};
        TD_TRY(setting(p, kvs[i].v, kname, TD_KNOB_HW_FIELD, check_field, &fc, &f->v, &k));
        if (k) {
            k->accel = ai;
            snprintf(k->field, sizeof k->field, "%s", key);
        }
    }
    TD_TRY(required_fields(p, m, acc));
    if (acc->optional) {
        if (s->n_knobs == TD_SPACE_MAX_KNOBS)
            return err_at(p, m, "more than %d knobs", TD_SPACE_MAX_KNOBS);
        k = &s->knobs[s->n_knobs];
        memset(k, 0, sizeof *k);
        snprintf(kname, sizeof kname, "hw.%s.present", acc->name);
        memcpy(k->name, kname, sizeof k->name);
        k->kind = TD_KNOB_HW_PRESENT;
        k->task = k->group = -1;
        k->accel = ai;
        k->n_values = 2;
        snprintf(k->values[0], sizeof k->values[0], "yes");
        snprintf(k->values[1], sizeof k->values[1], "no");
        k->line = (int)m->start_mark.line + 1;
        acc->present_knob = s->n_knobs++;
    }
    return TD_OK;
}

static td_status check_accel_name(const parse *p, const yaml_node_t *at, const char *what,
                                  const char *value, const void *ctx)
{
    (void)ctx;
    for (int i = 0; i < p->s->n_accels; i++)
        if (strcmp(p->s->accels[i].name, value) == 0)
            return TD_OK;
    return err_at(p, at, "%s: no accelerator named '%s'", what, value);
}

/* assignment: {"task.group" or "group": accelerator or [accelerators]} */
static td_status parse_assignment(const parse *p, yaml_node_t *m)
{
    kv kvs[TD_SPACE_MAX_TASKS * TD_SPACE_MAX_GROUPS];
    int n;
    td_space *s = p->s;
    TD_TRY(pairs(p, m, "assignment", NULL, kvs, TD_SPACE_MAX_TASKS * TD_SPACE_MAX_GROUPS, &n));
    for (int i = 0; i < n; i++) {
        td_group *g = NULL;
        int task = -1, group = -1;
        for (int t = 0; t < s->n_tasks; t++)
            for (int j = 0; j < s->tasks[t].n_groups; j++) {
                char full[128];
                snprintf(full, sizeof full, "%s.%s", s->tasks[t].name, s->tasks[t].groups[j].name);
                if (strcmp(kvs[i].key, full) == 0 ||
                    (s->n_tasks == 1 && strcmp(kvs[i].key, s->tasks[t].groups[j].name) == 0)) {
                    g = &s->tasks[t].groups[j];
                    task = t;
                    group = j;
                }
            }
        if (!g)
            return err_at(p, kvs[i].k, "assignment: no layer group '%s'", kvs[i].key);
        char kname[96];
        snprintf(kname, sizeof kname, "assign.%s.%s", s->tasks[task].name, g->name);
        td_knob *k;
        TD_TRY(setting(p, kvs[i].v, kname, TD_KNOB_ASSIGN, check_accel_name, NULL, &g->assign, &k));
        if (k) {
            k->task = task;
            k->group = group;
        }
    }
    return TD_OK;
}

static td_status parse_hardware(const parse *p, yaml_node_t *m)
{
    td_space *s = p->s;
    kv kvs[40];
    int n;
    TD_TRY(pairs(p, m, "hardware", NULL, kvs, 40, &n));
    yaml_node_t *list = get(kvs, n, "accelerators"), *assign = get(kvs, n, "assignment");
    if (!list) {
        if (assign)
            return err_at(p, assign, "'assignment' needs an 'accelerators' list");
        s->n_accels = 1;
        return parse_accel(p, m, 0, true);
    }
    if (n > 1 + (assign != NULL))
        return err_at(p, m, "hardware with 'accelerators' has only accelerators and assignment");
    if (list->type != YAML_SEQUENCE_NODE)
        return err_at(p, list, "'accelerators' must be a list");
    int na = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (na < 1 || na > TD_SPACE_MAX_ACCELS)
        return err_at(p, list, "1 to %d accelerators", TD_SPACE_MAX_ACCELS);
    for (int i = 0; i < na; i++) {
        TD_TRY(parse_accel(p, node(p, list->data.sequence.items.start[i]), i, false));
        s->n_accels = i + 1;
    }
    bool any_fixed = false;
    for (int i = 0; i < na; i++)
        any_fixed |= !s->accels[i].optional;
    if (!any_fixed)
        return err_at(p, list, "at least one accelerator must not be optional");
    if (assign)
        TD_TRY(parse_assignment(p, assign));
    return TD_OK;
}

/* ---- spec and search ---- */

static td_status metric_of(const parse *p, const yaml_node_t *at, const char *name, td_metric *m)
{
    for (int i = 0; i < TD_METRIC_COUNT; i++)
        if (name && strcmp(name, metric_names[i]) == 0) {
            *m = (td_metric)i;
            return TD_OK;
        }
    return err_at(p, at,
                  "unknown metric '%s' (accuracy, latency_ms, energy_uj, area_mm2, peak_mem_kb)",
                  name ? name : "?");
}

static td_status number(const parse *p, const yaml_node_t *v, const char *what, double lo,
                        double hi, double *out)
{
    const char *s = scalar(v);
    char *end = NULL;
    double x = s ? strtod(s, &end) : NAN;
    if (!s || end == s || *end || !isfinite(x) || x < lo || x > hi)
        return err_at(p, v, "%s: expected a number in [%g, %g], got '%s'", what, lo, hi,
                      s ? s : "(not a scalar)");
    *out = x;
    return TD_OK;
}

static td_status parse_limits(const parse *p, yaml_node_t *m)
{
    td_space *s = p->s;
    kv kvs[TD_METRIC_COUNT];
    int n;
    /* keys are checked as metric names below (metric_names has no NULL terminator) */
    TD_TRY(pairs(p, m, "limits", NULL, kvs, TD_METRIC_COUNT, &n));
    for (int i = 0; i < n; i++) {
        td_metric met = TD_METRIC_ACCURACY;
        TD_TRY(metric_of(p, kvs[i].k, kvs[i].key, &met));
        static const char *const mk[] = {"min", "max", NULL};
        kv b[2];
        int nb;
        TD_TRY(pairs(p, kvs[i].v, kvs[i].key, mk, b, 2, &nb));
        if (nb == 0)
            return err_at(p, kvs[i].v, "limit '%s' needs min or max", kvs[i].key);
        double lo = -INFINITY, hi = INFINITY;
        for (int j = 0; j < nb; j++) {
            td_limit *l = &s->limits[s->n_limits++];
            l->metric = met;
            l->is_max = strcmp(b[j].key, "max") == 0;
            TD_TRY(number(p, b[j].v, kvs[i].key, -1e30, 1e30, &l->value));
            if (l->is_max)
                hi = l->value;
            else
                lo = l->value;
        }
        if (lo > hi)
            return err_at(p, kvs[i].v, "limit '%s' is contradictory: min %g > max %g", kvs[i].key,
                          lo, hi);
        if (met == TD_METRIC_ACCURACY && (lo > 1 || hi < 0))
            return err_at(p, kvs[i].v,
                          "limit 'accuracy' is a share in [0, 1]; no design can meet "
                          "min %g / max %g",
                          lo, hi);
    }
    return TD_OK;
}

static td_status parse_objectives(const parse *p, yaml_node_t *v)
{
    td_space *s = p->s;
    if (!v || v->type != YAML_SEQUENCE_NODE)
        return err_at(p, v, "'objectives' must be a list like [{minimize: latency_ms}]");
    int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n < 1 || n > 4)
        return err_at(p, v, "1 to 4 objectives");
    for (int i = 0; i < n; i++) {
        yaml_node_t *o = node(p, v->data.sequence.items.start[i]);
        static const char *const keys[] = {"minimize", "maximize", "ref", NULL};
        kv kvs[3];
        int nk;
        TD_TRY(pairs(p, o, "objective", keys, kvs, 3, &nk));
        yaml_node_t *mn = get(kvs, nk, "minimize"), *mx = get(kvs, nk, "maximize");
        if (!mn == !mx)
            return err_at(p, o, "an objective has exactly one of minimize or maximize");
        td_objective *ob = &s->obj[s->n_obj];
        TD_TRY(metric_of(p, mn ? mn : mx, scalar(mn ? mn : mx), &ob->metric));
        ob->maximize = mx != NULL;
        ob->ref = NAN;
        if (get(kvs, nk, "ref"))
            TD_TRY(number(p, get(kvs, nk, "ref"), "ref", -1e30, 1e30, &ob->ref));
        for (int j = 0; j < s->n_obj; j++)
            if (s->obj[j].metric == ob->metric)
                return err_at(p, o, "objective '%s' listed twice", metric_names[ob->metric]);
        s->n_obj++;
    }
    return TD_OK;
}

static td_status parse_spec(const parse *p, yaml_node_t *m)
{
    static const char *const keys[] = {"limits", "objectives", NULL};
    kv kvs[2];
    int n;
    TD_TRY(pairs(p, m, "spec", keys, kvs, 2, &n));
    if (get(kvs, n, "limits"))
        TD_TRY(parse_limits(p, get(kvs, n, "limits")));
    if (!get(kvs, n, "objectives"))
        return err_at(p, m, "spec: missing 'objectives'");
    return parse_objectives(p, get(kvs, n, "objectives"));
}

static td_status parse_search(const parse *p, yaml_node_t *m)
{
    static const char *const keys[] = {"algo", "budget", "seed", "population", NULL};
    kv kvs[4];
    int n;
    td_moo_options *o = &p->s->search;
    TD_TRY(pairs(p, m, "search", keys, kvs, 4, &n));
    yaml_node_t *v;
    if ((v = get(kvs, n, "algo"))) {
        const char *a = scalar(v);
        if (a && !strcmp(a, "nsga2"))
            o->algo = TD_MOO_NSGA2;
        else if (a && !strcmp(a, "random"))
            o->algo = TD_MOO_RANDOM;
        else if (a && !strcmp(a, "exhaustive"))
            o->algo = TD_MOO_EXHAUSTIVE;
        else
            return err_at(p, v, "search: algo is nsga2, random or exhaustive");
    }
    double x;
    if ((v = get(kvs, n, "budget"))) {
        TD_TRY(number(p, v, "budget", 1, 1e9, &x));
        o->max_evals = (int64_t)x;
    }
    if ((v = get(kvs, n, "seed"))) {
        TD_TRY(number(p, v, "seed", 0, 1e15, &x));
        o->seed = (uint64_t)x;
    }
    if ((v = get(kvs, n, "population"))) {
        TD_TRY(number(p, v, "population", 4, 100000, &x));
        if (x != floor(x) || (int64_t)x % 2)
            return err_at(p, v, "search: population must be an even integer");
        o->pop_size = (int)x;
        o->batch = (int)x;
    }
    return TD_OK;
}

/* ---- the whole file ---- */

static td_status check_consistency(const parse *p, yaml_node_t *root)
{
    td_space *s = p->s;
    bool acc_used = false;
    for (int i = 0; i < s->n_limits; i++)
        acc_used |= s->limits[i].metric == TD_METRIC_ACCURACY;
    for (int i = 0; i < s->n_obj; i++)
        acc_used |= s->obj[i].metric == TD_METRIC_ACCURACY;
    if (s->accuracy == TD_ACC_NONE && acc_used)
        return err_at(p, root, "accuracy: none, but the spec uses accuracy");
    for (int t = 0; s->accuracy != TD_ACC_NONE && t < s->n_tasks; t++)
        if (!s->tasks[t].test[0] || !s->tasks[t].calib[0])
            return err_at(p, root, "task '%s' needs 'test' and 'calib' data to measure accuracy",
                          s->tasks[t].name);
    if (s->n_knobs == 0)
        return err_at(p, root, "the space has no knobs (no setting lists two or more values)");
    if (s->search.algo == TD_MOO_EXHAUSTIVE && td_space_size(s) > 100000000)
        return err_at(p, root, "exhaustive search over %lld designs: too many (limit 1e8)",
                      (long long)td_space_size(s));
    return TD_OK;
}

static td_status parse_root(parse *p, yaml_node_t *root)
{
    td_space *s = p->s;
    static const char *const keys[] = {"name",     "tasks", "model",  "test",     "calib", "groups",
                                       "hardware", "spec",  "search", "accuracy", NULL};
    kv kvs[16];
    int n;
    TD_TRY(pairs(p, root, "space", keys, kvs, 16, &n));
    yaml_node_t *v = get(kvs, n, "name");
    if (!v)
        return err_at(p, root, "missing 'name'");
    TD_TRY(copy_text(p, v, "name", s->name, sizeof s->name));
    td_moo_options_default(&s->search);
    s->search.max_evals = 1000;
    if ((v = get(kvs, n, "accuracy"))) {
        const char *a = scalar(v);
        s->accuracy = a && !strcmp(a, "measured") ? TD_ACC_MEASURED
                      : a && !strcmp(a, "proxy")  ? TD_ACC_PROXY
                      : a && !strcmp(a, "none")   ? TD_ACC_NONE
                                                  : -1;
        if ((int)s->accuracy < 0)
            return err_at(p, v, "accuracy is measured, proxy or none");
    }
    yaml_node_t *tasks = get(kvs, n, "tasks");
    if (tasks && get(kvs, n, "model"))
        return err_at(p, root, "give either 'tasks' or a single 'model', not both");
    if (tasks) {
        if (get(kvs, n, "groups") || get(kvs, n, "test") || get(kvs, n, "calib"))
            return err_at(p, root, "with 'tasks', groups and data go inside each task");
        if (tasks->type != YAML_SEQUENCE_NODE)
            return err_at(p, tasks, "'tasks' must be a list");
        int nt = (int)(tasks->data.sequence.items.top - tasks->data.sequence.items.start);
        if (nt < 1 || nt > TD_SPACE_MAX_TASKS)
            return err_at(p, tasks, "1 to %d tasks", TD_SPACE_MAX_TASKS);
        for (int i = 0; i < nt; i++) {
            TD_TRY(parse_task(p, node(p, tasks->data.sequence.items.start[i]), i, false));
            s->n_tasks = i + 1;
        }
    } else {
        s->n_tasks = 1;
        TD_TRY(parse_task(p, root, 0, true));
    }
    if (!(v = get(kvs, n, "hardware")))
        return err_at(p, root, "missing 'hardware'");
    TD_TRY(parse_hardware(p, v));
    if (!(v = get(kvs, n, "spec")))
        return err_at(p, root, "missing 'spec'");
    TD_TRY(parse_spec(p, v));
    if ((v = get(kvs, n, "search")))
        TD_TRY(parse_search(p, v));
    return check_consistency(p, root);
}

static uint64_t fnv1a(const char *buf, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)buf[i];
        h *= 1099511628211ull;
    }
    return h;
}

td_status td_space_load_buffer(const char *buf, size_t len, const char *name, const char *base_dir,
                               td_space **out)
{
    *out = NULL;
    const char *file = name ? name : "design space";
    parse p = {.file = file, .base = base_dir};
    TD_TRY(td_yaml_load(buf, len, file, &p.doc));
    p.s = calloc(1, sizeof *p.s);
    td_status st = TD_OK;
    if (!p.s)
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", file);
    else if (!yaml_document_get_root_node(&p.doc))
        st = td_error_new(TD_CODE_BAD_DATA, "%s: empty file", file);
    else
        st = parse_root(&p, yaml_document_get_root_node(&p.doc));
    yaml_document_delete(&p.doc);
    if (st) {
        free(p.s);
        return st;
    }
    snprintf(p.s->file, sizeof p.s->file, "%s", file);
    p.s->hash = fnv1a(buf, len);
    *out = p.s;
    return TD_OK;
}

td_status td_space_load(const char *path, td_space **out)
{
    *out = NULL;
    char *buf;
    size_t n;
    TD_TRY(td_file_read(path, TD_YAML_MAX_FILE, &buf, &n));
    /* model and data paths are relative to the directory the command runs in, as the bundled
     * spaces are written for the repository root; absolute paths work anywhere */
    td_status st = td_space_load_buffer(buf, n, path, NULL, out);
    free(buf);
    return st;
}

void td_space_free(td_space *s)
{
    free(s);
}

const char *td_space_name(const td_space *s)
{
    return s->name;
}

uint64_t td_space_hash(const td_space *s)
{
    return s->hash;
}

int td_space_knobs(const td_space *s, const td_knob **knobs)
{
    *knobs = s->knobs;
    return s->n_knobs;
}

int td_space_objectives(const td_space *s, const td_objective **obj)
{
    *obj = s->obj;
    return s->n_obj;
}

int td_space_limits(const td_space *s, const td_limit **lim)
{
    *lim = s->limits;
    return s->n_limits;
}

int64_t td_space_size(const td_space *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->n_knobs; i++) {
        if (n > INT64_MAX / s->knobs[i].n_values)
            return INT64_MAX;
        n *= s->knobs[i].n_values;
    }
    return n;
}

void td_space_search_defaults(const td_space *s, td_moo_options *o)
{
    *o = s->search;
}

bool td_space_proxy_accuracy(const td_space *s)
{
    return s->accuracy == TD_ACC_PROXY;
}
