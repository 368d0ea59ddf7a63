/* Reading explore journals for the report: every line is validated once, with errors that name
 * the file, the line and the field, because a journal is often cut short by a stopped run or
 * edited by hand. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "explore/report_journal.h"
#include "tandem/core.h"

typedef struct where {
    const char *file;
    int line;
} where;

static td_status bad(where w, const char *what, const char *field, const char *problem)
{
    return td_error_new(TD_CODE_BAD_DATA, "%s:%d: %s: field '%s' %s", w.file, w.line, what, field,
                        problem);
}

static char *dup_text(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static td_status oom(where w)
{
    return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s:%d: out of memory", w.file, w.line);
}

/* A string field; absent ones give "" unless required. */
static td_status get_string(const cJSON *obj, const char *key, bool required, where w,
                            const char *what, char **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it && !required) {
        *out = dup_text("");
        return *out ? TD_OK : oom(w);
    }
    if (!it)
        return bad(w, what, key, "is missing");
    if (!cJSON_IsString(it))
        return bad(w, what, key, "must be a string");
    *out = dup_text(it->valuestring);
    return *out ? TD_OK : oom(w);
}

static td_status check_finite(const cJSON *it, where w, const char *what, const char *field)
{
    if (!cJSON_IsNumber(it))
        return bad(w, what, field, "must be a number");
    if (!isfinite(it->valuedouble))
        return bad(w, what, field, "is not finite (NaN and Inf are not allowed)");
    return TD_OK;
}

static td_status get_int(const cJSON *obj, const char *key, bool required, where w,
                         const char *what, long long *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it && !required)
        return TD_OK;
    if (!it)
        return bad(w, what, key, "is missing");
    TD_TRY(check_finite(it, w, what, key));
    double v = it->valuedouble;
    if (v != floor(v) || fabs(v) > 9e15)
        return bad(w, what, key, "must be an integer");
    *out = (long long)v;
    return TD_OK;
}

static const cJSON *get_array(const cJSON *obj, const char *key, bool required, where w,
                              const char *what, td_status *st)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it && required)
        *st = bad(w, what, key, "is missing");
    else if (it && !cJSON_IsArray(it))
        *st = bad(w, what, key, "must be an array");
    return *st ? NULL : it;
}

static int metric_index(const td_rj *j, const char *name)
{
    for (int i = 0; i < j->n_metrics; i++)
        if (!strcmp(j->metrics[i], name))
            return i;
    return -1;
}

/* Index of a metric, appending it when the header's "metrics" list left it out. */
static td_status add_metric(td_rj *j, const char *name, where w, int *index)
{
    *index = metric_index(j, name);
    if (*index >= 0)
        return TD_OK;
    if (!name[0])
        return td_error_new(TD_CODE_BAD_DATA, "%s:%d: header: an empty metric name", w.file,
                            w.line);
    if (j->n_metrics >= TD_REPORT_MAX_NAMES)
        return td_error_new(TD_CODE_BAD_DATA, "%s:%d: header: more than %d metrics", w.file, w.line,
                            TD_REPORT_MAX_NAMES);
    char *copy = dup_text(name);
    if (!copy)
        return oom(w);
    j->metrics[j->n_metrics] = copy;
    *index = j->n_metrics++;
    return TD_OK;
}

static td_status header_metrics(td_rj *j, const cJSON *h, where w)
{
    td_status st = TD_OK;
    const cJSON *arr = get_array(h, "metrics", true, w, "header", &st);
    if (st)
        return st;
    j->metrics = calloc(TD_REPORT_MAX_NAMES, sizeof *j->metrics);
    if (!j->metrics)
        return oom(w);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it))
            return bad(w, "header", "metrics", "must hold strings");
        if (metric_index(j, it->valuestring) >= 0)
            return td_error_new(TD_CODE_BAD_DATA, "%s:%d: header: metric '%s' listed twice", w.file,
                                w.line, it->valuestring);
        int idx;
        TD_TRY(add_metric(j, it->valuestring, w, &idx));
    }
    return TD_OK;
}

static td_status header_knobs(td_rj *j, const cJSON *h, where w)
{
    td_status st = TD_OK;
    const cJSON *arr = get_array(h, "knobs", true, w, "header", &st);
    if (st)
        return st;
    int n = cJSON_GetArraySize(arr);
    if (n > TD_REPORT_MAX_NAMES)
        return td_error_new(TD_CODE_BAD_DATA, "%s:%d: header: more than %d knobs", w.file, w.line,
                            TD_REPORT_MAX_NAMES);
    j->knob_names = calloc((size_t)n + 1, sizeof(char *));
    j->knob_kinds = calloc((size_t)n + 1, sizeof(char *));
    if (!j->knob_names || !j->knob_kinds)
        return oom(w);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsObject(it))
            return bad(w, "header", "knobs", "must hold objects {\"name\", \"kind\", \"values\"}");
        int k = j->n_knobs++;
        TD_TRY(get_string(it, "name", true, w, "header knob", &j->knob_names[k]));
        TD_TRY(get_string(it, "kind", false, w, "header knob", &j->knob_kinds[k]));
    }
    return TD_OK;
}

static td_status header_objectives(td_rj *j, const cJSON *h, where w)
{
    td_status st = TD_OK;
    const cJSON *arr = get_array(h, "objectives", true, w, "header", &st);
    if (st)
        return st;
    int n = cJSON_GetArraySize(arr);
    if (n < 1 || n > TD_REPORT_MAX_NAMES)
        return bad(w, "header", "objectives", "must list 1 to 64 objectives");
    j->objectives = calloc((size_t)n, sizeof *j->objectives);
    if (!j->objectives)
        return oom(w);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        char *metric = NULL, *sense = NULL;
        st = get_string(it, "metric", true, w, "header objective", &metric);
        if (!st)
            st = get_string(it, "sense", true, w, "header objective", &sense);
        if (!st && strcmp(sense, "min") && strcmp(sense, "max"))
            st = bad(w, "header objective", "sense", "must be \"min\" or \"max\"");
        td_rj_objective *o = &j->objectives[j->n_objectives];
        if (!st)
            st = add_metric(j, metric, w, &o->metric);
        for (int i = 0; !st && i < j->n_objectives; i++)
            if (j->objectives[i].metric == o->metric)
                st = td_error_new(TD_CODE_BAD_DATA, "%s:%d: header: objective '%s' listed twice",
                                  w.file, w.line, metric);
        if (!st) {
            o->maximize = !strcmp(sense, "max");
            j->n_objectives++;
        }
        free(metric);
        free(sense);
        if (st)
            return st;
    }
    return TD_OK;
}

static td_status header_constraints(td_rj *j, const cJSON *h, where w)
{
    td_status st = TD_OK;
    const cJSON *arr = get_array(h, "constraints", false, w, "header", &st);
    if (st || !arr)
        return st;
    int n = cJSON_GetArraySize(arr);
    if (n > TD_REPORT_MAX_NAMES)
        return td_error_new(TD_CODE_BAD_DATA, "%s:%d: header: more than %d constraints", w.file,
                            w.line, TD_REPORT_MAX_NAMES);
    j->constraints = calloc((size_t)n + 1, sizeof *j->constraints);
    if (!j->constraints)
        return oom(w);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        char *metric = NULL, *op = NULL;
        td_rj_constraint *c = &j->constraints[j->n_constraints];
        st = get_string(it, "metric", true, w, "header constraint", &metric);
        if (!st)
            st = get_string(it, "op", true, w, "header constraint", &op);
        if (!st && strcmp(op, "<=") && strcmp(op, ">="))
            st = bad(w, "header constraint", "op", "must be \"<=\" or \">=\"");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
        if (!st)
            st = v ? check_finite(v, w, "header constraint", "value")
                   : bad(w, "header constraint", "value", "is missing");
        if (!st)
            st = add_metric(j, metric, w, &c->metric);
        if (!st) {
            c->at_least = !strcmp(op, ">=");
            c->value = v->valuedouble;
            j->n_constraints++;
        }
        free(metric);
        free(op);
        if (st)
            return st;
    }
    return TD_OK;
}

static td_status parse_header(td_rj *j, const cJSON *h, where w)
{
    TD_TRY(get_string(h, "model", true, w, "header", &j->model));
    TD_TRY(get_string(h, "space_file", true, w, "header", &j->space_file));
    TD_TRY(get_string(h, "algo", true, w, "header", &j->algo));
    TD_TRY(get_int(h, "seed", true, w, "header", &j->seed));
    j->budget = -1;
    TD_TRY(get_int(h, "budget", false, w, "header", &j->budget));
    TD_TRY(get_string(h, "tandem", false, w, "header", &j->tandem));
    TD_TRY(get_string(h, "commit", false, w, "header", &j->commit));
    TD_TRY(get_string(h, "machine", false, w, "header", &j->machine));
    TD_TRY(get_string(h, "created", false, w, "header", &j->created));
    TD_TRY(get_string(h, "accuracy", false, w, "header", &j->accuracy));
    TD_TRY(header_knobs(j, h, w));
    TD_TRY(header_metrics(j, h, w));
    TD_TRY(header_objectives(j, h, w));
    return header_constraints(j, h, w);
}

/* ---- eval lines ---- */

static td_status value_text(const cJSON *v, char **out)
{
    char num[40];
    const char *s = num;
    char *printed = NULL;
    if (cJSON_IsString(v))
        s = v->valuestring;
    else if (cJSON_IsNumber(v))
        snprintf(num, sizeof num, "%.10g", v->valuedouble);
    else if (cJSON_IsBool(v))
        s = cJSON_IsTrue(v) ? "true" : "false";
    else if (cJSON_IsNull(v))
        s = "null";
    else
        s = printed = cJSON_PrintUnformatted(v);
    *out = s ? dup_text(s) : NULL;
    free(printed);
    return *out ? TD_OK
                : td_error_new(TD_CODE_OUT_OF_MEMORY, "report: out of memory for a knob value");
}

static td_status eval_design(const cJSON *e, where w, td_rj_detail *d)
{
    const cJSON *design = cJSON_GetObjectItemCaseSensitive(e, "design");
    if (!design)
        return bad(w, "eval", "design", "is missing");
    if (!cJSON_IsObject(design))
        return bad(w, "eval", "design", "must be an object {knob: value}");
    if (!d)
        return TD_OK;
    int n = cJSON_GetArraySize(design);
    d->design = calloc((size_t)n + 1, sizeof *d->design);
    if (!d->design)
        return oom(w);
    const cJSON *it;
    cJSON_ArrayForEach(it, design)
    {
        td_rj_kv *kv = &d->design[d->n_design++];
        kv->key = dup_text(it->string ? it->string : "");
        if (!kv->key)
            return oom(w);
        TD_TRY(value_text(it, &kv->value));
    }
    return TD_OK;
}

/* Reads a {metric: X} object into vals (n_metrics, NAN where absent), rejecting non-numbers. */
static td_status metric_values(const td_rj *j, const cJSON *obj, where w, const char *field,
                               double *vals)
{
    for (int m = 0; m < j->n_metrics; m++)
        vals[m] = NAN;
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        int m = it->string ? metric_index(j, it->string) : -1;
        if (m < 0)
            continue; /* a metric the header does not declare: not plotted */
        if (!cJSON_IsNumber(it))
            return td_error_new(TD_CODE_BAD_DATA, "%s:%d: eval: %s '%s' must be a number", w.file,
                                w.line, field, it->string);
        if (!isfinite(it->valuedouble))
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s:%d: eval: %s '%s' is not finite (NaN and Inf are not allowed)",
                                w.file, w.line, field, it->string);
        vals[m] = it->valuedouble;
    }
    return TD_OK;
}

static td_status eval_baseline(const td_rj *j, const cJSON *e, where w, td_rj_detail *d)
{
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(e, "baseline");
    if (base && !cJSON_IsObject(base))
        return bad(w, "eval", "baseline", "must be an object {metric: X}");
    double scratch[TD_REPORT_MAX_NAMES];
    double *vals = scratch;
    if (d) {
        d->baseline = malloc(sizeof(double) * (size_t)(j->n_metrics ? j->n_metrics : 1));
        if (!d->baseline)
            return oom(w);
        vals = d->baseline;
    }
    if (!base) {
        for (int m = 0; m < j->n_metrics; m++)
            vals[m] = NAN;
        return TD_OK;
    }
    return metric_values(j, base, w, "baseline", vals);
}

static td_status layer_field(const cJSON *l, const char *key, where w, char **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(l, key);
    if (it && !cJSON_IsString(it))
        return bad(w, "eval layer", key, "must be a string");
    if (!out)
        return TD_OK;
    *out = dup_text(it ? it->valuestring : "");
    return *out ? TD_OK : oom(w);
}

static td_status eval_layers(const cJSON *e, where w, td_rj_detail *d)
{
    td_status st = TD_OK;
    const cJSON *arr = get_array(e, "layers", false, w, "eval", &st);
    if (st || !arr)
        return st;
    if (d) {
        d->layers = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *d->layers);
        if (!d->layers)
            return oom(w);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsObject(it))
            return bad(w, "eval", "layers", "must hold objects {\"name\", \"format\", ...}");
        td_rj_layer *l = d ? &d->layers[d->n_layers++] : NULL;
        TD_TRY(layer_field(it, "name", w, l ? &l->name : NULL));
        TD_TRY(layer_field(it, "format", w, l ? &l->format : NULL));
        TD_TRY(layer_field(it, "act", w, l ? &l->act : NULL));
        TD_TRY(layer_field(it, "sparsity", w, l ? &l->sparsity : NULL));
    }
    return TD_OK;
}

/* Everything numeric about an eval line; with d, also what the table shows. */
static td_status parse_eval(const td_rj *j, const cJSON *e, where w, td_rj_eval *ev,
                            td_rj_detail *d)
{
    TD_TRY(get_int(e, "n", true, w, "eval", &ev->n));
    const cJSON *feasible = cJSON_GetObjectItemCaseSensitive(e, "feasible");
    if (!feasible)
        return bad(w, "eval", "feasible", "is missing");
    if (!cJSON_IsBool(feasible))
        return bad(w, "eval", "feasible", "must be true or false");
    ev->feasible = cJSON_IsTrue(feasible);
    ev->violation = 0;
    const cJSON *viol = cJSON_GetObjectItemCaseSensitive(e, "violation");
    if (viol) {
        TD_TRY(check_finite(viol, w, "eval", "violation"));
        if (viol->valuedouble < 0)
            return bad(w, "eval", "violation", "must be >= 0");
        ev->violation = viol->valuedouble;
    }
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(e, "metrics");
    if (!metrics)
        return bad(w, "eval", "metrics", "is missing");
    if (!cJSON_IsObject(metrics))
        return bad(w, "eval", "metrics", "must be an object {metric: X}");
    TD_TRY(metric_values(j, metrics, w, "metric", ev->metrics));
    for (int o = 0; o < j->n_objectives; o++) {
        int m = j->objectives[o].metric;
        if (isnan(ev->metrics[m]))
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s:%d: eval n=%lld: metrics lack the objective '%s'", w.file,
                                w.line, ev->n, j->metrics[m]);
    }
    TD_TRY(eval_design(e, w, d));
    TD_TRY(eval_baseline(j, e, w, d));
    return eval_layers(e, w, d);
}

/* ---- the end line ---- */

static td_status parse_end(td_rj *j, const cJSON *e, where w)
{
    j->has_end = true;
    j->end_evals = j->end_feasible = -1;
    TD_TRY(get_int(e, "evals", false, w, "end", &j->end_evals));
    TD_TRY(get_int(e, "feasible", false, w, "end", &j->end_feasible));
    const cJSON *hv = cJSON_GetObjectItemCaseSensitive(e, "hypervolume");
    if (hv && !cJSON_IsNull(hv)) {
        TD_TRY(check_finite(hv, w, "end", "hypervolume"));
        j->has_hypervolume = true;
        j->hypervolume = hv->valuedouble;
    }
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(e, "seconds");
    if (sec) {
        TD_TRY(check_finite(sec, w, "end", "seconds"));
        j->has_seconds = true;
        j->seconds = sec->valuedouble;
    }
    td_status st = TD_OK;
    const cJSON *front = get_array(e, "front", false, w, "end", &st);
    if (st || !front)
        return st;
    j->end_front = calloc((size_t)cJSON_GetArraySize(front) + 1, sizeof *j->end_front);
    if (!j->end_front)
        return oom(w);
    const cJSON *it;
    cJSON_ArrayForEach(it, front)
    {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
            it->valuedouble != floor(it->valuedouble) || fabs(it->valuedouble) > 9e15)
            return bad(w, "end", "front", "must hold evaluation indices");
        j->end_front[j->n_end_front++] = (long long)it->valuedouble;
    }
    return TD_OK;
}

/* ---- lines ---- */

/* Parse failures say where, and name NaN/Inf, which JSON cannot spell. */
static td_status json_error(const char *line, size_t len, const char *at, where w, bool cut)
{
    size_t col = at && at >= line && at <= line + len ? (size_t)(at - line) + 1 : 1;
    const char *p = line + col - 1;
    size_t left = len - (col - 1);
    if (left > 0 && *p == '-') {
        p++;
        left--;
    }
    if ((left >= 3 && !strncasecmp(p, "nan", 3)) || (left >= 3 && !strncasecmp(p, "inf", 3)))
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s:%d: NaN or Inf at column %zu (not a JSON number; every metric "
                            "must be finite)",
                            w.file, w.line, col);
    if (cut)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s:%d: malformed JSON at column %zu: the last line is cut short (was "
                            "the run killed while writing?)",
                            w.file, w.line, col);
    return td_error_new(TD_CODE_BAD_DATA, "%s:%d: malformed JSON at column %zu", w.file, w.line,
                        col);
}

static td_status parse_object(const char *line, size_t len, where w, bool last_unterminated,
                              cJSON **out)
{
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, false);
    if (!obj)
        return json_error(line, len, end, w, last_unterminated);
    for (const char *p = end; p && p < line + len; p++)
        if (!isspace((unsigned char)*p)) {
            cJSON_Delete(obj);
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s:%d: more than one JSON value on the line (column %zu)", w.file,
                                w.line, (size_t)(p - line) + 1);
        }
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return td_error_new(TD_CODE_BAD_DATA, "%s:%d: expected a JSON object per line", w.file,
                            w.line);
    }
    *out = obj;
    return TD_OK;
}

static td_status grow_evals(td_rj *j, int *cap, where w)
{
    if (j->n_evals < *cap)
        return TD_OK;
    if (j->n_evals >= TD_REPORT_MAX_EVALS)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s:%d: more than %d evaluations, the most a report reads", w.file,
                            w.line, TD_REPORT_MAX_EVALS);
    int next = *cap ? *cap * 2 : 256;
    if (next > TD_REPORT_MAX_EVALS)
        next = TD_REPORT_MAX_EVALS;
    td_rj_eval *e = realloc(j->evals, sizeof *e * (size_t)next);
    if (!e)
        return oom(w);
    j->evals = e;
    size_t per = (size_t)(j->n_metrics ? j->n_metrics : 1);
    double *m = realloc(j->metric_store, sizeof *m * per * (size_t)next);
    if (!m)
        return oom(w);
    j->metric_store = m;
    *cap = next;
    return TD_OK;
}

static td_status add_eval(td_rj *j, const cJSON *obj, where w, size_t off, size_t len, int *cap)
{
    TD_TRY(grow_evals(j, cap, w));
    td_rj_eval *e = &j->evals[j->n_evals];
    memset(e, 0, sizeof *e);
    e->line = w.line;
    e->offset = off;
    e->len = len;
    e->metrics = j->metric_store + (size_t)j->n_evals * (size_t)j->n_metrics;
    TD_TRY(parse_eval(j, obj, w, e, NULL));
    j->n_evals++;
    return TD_OK;
}

static td_status dispatch_line(td_rj *j, const cJSON *obj, where w, bool first, size_t off,
                               size_t len, int *cap)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : NULL;
    if (first) {
        if (!t || strcmp(t, "header"))
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s:%d: the first line is not a journal header (expected "
                                "\"type\":\"header\", found %s%s%s)",
                                w.file, w.line, t ? "\"" : "", t ? t : "no type", t ? "\"" : "");
        return parse_header(j, obj, w);
    }
    if (!t)
        return bad(w, "line", "type", "is missing or not a string");
    if (j->has_end)
        return td_error_new(TD_CODE_BAD_DATA, "%s:%d: a '%s' line after the end line", w.file,
                            w.line, t);
    if (!strcmp(t, "eval"))
        return add_eval(j, obj, w, off, len, cap);
    if (!strcmp(t, "end"))
        return parse_end(j, obj, w);
    if (!strcmp(t, "header"))
        return td_error_new(TD_CODE_BAD_DATA, "%s:%d: a second header", w.file, w.line);
    return td_error_new(TD_CODE_BAD_DATA,
                        "%s:%d: unknown line type '%s' (expected header, eval or end)", w.file,
                        w.line, t);
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

static td_status parse_lines(td_rj *j)
{
    where w = {j->name, 0};
    bool first = true;
    int cap = 0;
    size_t pos = 0;
    while (pos < j->text_len) {
        const char *line = j->text + pos;
        const char *nl = memchr(line, '\n', j->text_len - pos);
        size_t len = nl ? (size_t)(nl - line) : j->text_len - pos;
        size_t off = pos;
        pos += len + (nl ? 1 : 0);
        w.line++;
        if (blank(line, len))
            continue;
        cJSON *obj = NULL;
        TD_TRY(parse_object(line, len, w, !nl, &obj));
        td_status st = dispatch_line(j, obj, w, first, off, len, &cap);
        cJSON_Delete(obj);
        TD_TRY(st);
        first = false;
    }
    if (first)
        return td_error_new(TD_CODE_BAD_DATA, "%s: empty journal (no header line)", j->name);
    if (j->n_evals == 0)
        return td_error_new(TD_CODE_BAD_DATA, "%s: no evaluations after the header", j->name);
    return TD_OK;
}

static td_status parse_owned(char *text, size_t len, const char *name, td_rj **out)
{
    *out = NULL;
    td_rj *j = calloc(1, sizeof *j);
    if (!j) {
        free(text);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", name);
    }
    j->text = text;
    j->text_len = len;
    j->name = dup_text(name);
    td_status st =
        j->name ? parse_lines(j) : td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", name);
    if (st) {
        td_rj_free(j);
        return st;
    }
    for (int i = 0; i < j->n_evals; i++)
        j->evals[i].metrics = j->metric_store + (size_t)i * (size_t)j->n_metrics;
    *out = j;
    return TD_OK;
}

td_status td_rj_parse(const char *text, size_t len, const char *name, td_rj **out)
{
    *out = NULL;
    if (len > TD_REPORT_MAX_BYTES)
        return td_error_new(TD_CODE_BAD_DATA, "%s: larger than %zu MiB, the most a report reads",
                            name, TD_REPORT_MAX_BYTES >> 20);
    char *copy = malloc(len + 1);
    if (!copy)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", name);
    memcpy(copy, text, len);
    copy[len] = 0;
    return parse_owned(copy, len, name, out);
}

td_status td_rj_load(const char *path, td_rj **out)
{
    *out = NULL;
    char *text;
    size_t len;
    td_status st = td_file_read(path, TD_REPORT_MAX_BYTES, &text, &len);
    if (st && td_status_code(st) == TD_CODE_BAD_DATA) {
        td_status_free(st);
        return td_error_new(TD_CODE_BAD_DATA, "%s: larger than %zu MiB, the most a report reads",
                            path, TD_REPORT_MAX_BYTES >> 20);
    }
    TD_TRY(st);
    return parse_owned(text, len, path, out);
}

static void free_strings(char **s, int n)
{
    if (!s)
        return;
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void td_rj_free(td_rj *j)
{
    if (!j)
        return;
    free(j->name);
    free(j->text);
    char *strings[] = {j->tandem,     j->commit, j->machine,  j->created,
                       j->space_file, j->algo,   j->accuracy, j->model};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++)
        free(strings[i]);
    free_strings(j->knob_names, j->n_knobs);
    free_strings(j->knob_kinds, j->n_knobs);
    free_strings(j->metrics, j->n_metrics);
    free(j->objectives);
    free(j->constraints);
    free(j->evals);
    free(j->metric_store);
    free(j->end_front);
    free(j);
}

td_status td_rj_detail_get(const td_rj *j, const td_rj_eval *e, td_rj_detail *out)
{
    memset(out, 0, sizeof *out);
    where w = {j->name, e->line};
    cJSON *obj = NULL;
    TD_TRY(parse_object(j->text + e->offset, e->len, w, false, &obj));
    double scratch[TD_REPORT_MAX_NAMES];
    td_rj_eval copy = *e;
    copy.metrics = scratch;
    td_status st = parse_eval(j, obj, w, &copy, out);
    cJSON_Delete(obj);
    if (st)
        td_rj_detail_free(out);
    return st;
}

void td_rj_detail_free(td_rj_detail *d)
{
    for (int i = 0; i < d->n_design; i++) {
        free(d->design[i].key);
        free(d->design[i].value);
    }
    free(d->design);
    free(d->baseline);
    for (int i = 0; i < d->n_layers; i++) {
        free(d->layers[i].name);
        free(d->layers[i].format);
        free(d->layers[i].act);
        free(d->layers[i].sparsity);
    }
    free(d->layers);
    memset(d, 0, sizeof *d);
}
