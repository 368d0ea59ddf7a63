/* tandem report: one self-contained HTML page from an explore journal. The page is built in
 * memory and written to a temporary file beside the output, then renamed over it, so a failed
 * report never leaves a half-written page. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "explore/report_internal.h"
#include "tandem/explore.h"
#include "tandem/moo.h"

enum {
    MAX_ROWS = 1000,  /* Pareto designs listed in the table */
    MAX_PLOTS = 15,   /* every pair of up to 6 objectives */
    N_CLOSEST = 5,    /* designs shown when none is feasible */
    MAX_COLUMNS = 128 /* knob columns */
};

/* ---- the view: feasibility, front, closest designs ---- */

typedef struct keyed {
    double key;
    int idx;
} keyed;

static int cmp_keyed(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->idx - b->idx;
}

/* Objective value as minimized: "max" objectives are negated. */
static double minimized(const td_rj *j, int eval, int o)
{
    double v = j->evals[eval].metrics[j->objectives[o].metric];
    return j->objectives[o].maximize ? -v : v;
}

static td_status find_front(const td_rj *j, td_report_view *v)
{
    int n = j->n_evals, d = j->n_objectives;
    double *f = malloc(sizeof *f * (size_t)n * (size_t)d);
    v->front = malloc(sizeof *v->front * (size_t)n);
    keyed *k = malloc(sizeof *k * (size_t)n);
    if (!f || !v->front || !k) {
        free(f);
        free(k);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory for the front", j->name);
    }
    for (int i = 0; i < n; i++)
        for (int o = 0; o < d; o++)
            f[(size_t)i * d + o] = minimized(j, i, o);
    v->n_front = td_pareto_front(n, d, f, v->violation, v->front);
    /* best first by the first objective; ties keep journal order */
    for (int r = 0; r < v->n_front; r++)
        k[r] = (keyed){f[(size_t)v->front[r] * d], v->front[r]};
    qsort(k, (size_t)v->n_front, sizeof *k, cmp_keyed);
    for (int r = 0; r < v->n_front; r++)
        v->front[r] = k[r].idx;
    free(k);
    free(f);
    return TD_OK;
}

static td_status find_closest(const td_rj *j, td_report_view *v)
{
    keyed *k = malloc(sizeof *k * (size_t)j->n_evals);
    v->closest = malloc(sizeof *v->closest * N_CLOSEST);
    if (!k || !v->closest) {
        free(k);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", j->name);
    }
    for (int i = 0; i < j->n_evals; i++)
        k[i] = (keyed){v->violation[i], i};
    qsort(k, (size_t)j->n_evals, sizeof *k, cmp_keyed);
    v->n_closest = j->n_evals < N_CLOSEST ? j->n_evals : N_CLOSEST;
    for (int r = 0; r < v->n_closest; r++)
        v->closest[r] = k[r].idx;
    free(k);
    return TD_OK;
}

/* Accuracies stored as fractions are compared in percentage points. */
static void find_fractions(const td_rj *j, td_report_view *v)
{
    for (int m = 0; m < j->n_metrics; m++) {
        bool any = false, inside = true;
        for (int i = 0; i < j->n_evals && inside; i++) {
            double x = j->evals[i].metrics[m];
            if (isnan(x))
                continue;
            any = true;
            inside = x >= 0 && x <= 1;
        }
        v->fraction[m] = td_report_is_accuracy(j->metrics[m]) && any && inside;
    }
}

td_status td_report_view_build(const td_rj *j, td_report_view *v)
{
    memset(v, 0, sizeof *v);
    v->j = j;
    v->violation = malloc(sizeof *v->violation * (size_t)j->n_evals);
    v->fraction = calloc((size_t)j->n_metrics + 1, sizeof *v->fraction);
    if (!v->violation || !v->fraction) {
        td_report_view_free(v);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", j->name);
    }
    for (int i = 0; i < j->n_evals; i++) {
        const td_rj_eval *e = &j->evals[i];
        v->violation[i] = e->feasible ? 0 : e->violation > 0 ? e->violation : 1;
        v->n_feasible += e->feasible;
    }
    find_fractions(j, v);
    td_status st = find_front(j, v);
    if (!st && v->n_front == 0)
        st = find_closest(j, v);
    if (st)
        td_report_view_free(v);
    return st;
}

void td_report_view_free(td_report_view *v)
{
    free(v->violation);
    free(v->front);
    free(v->closest);
    free(v->fraction);
    memset(v, 0, sizeof *v);
}

/* ---- page pieces ---- */

static const char *css =
    "body{margin:0;background:#f5f6f8;color:#1d2127;font:14px/1.45 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif}\n"
    "main{max-width:1240px;margin:0 auto;padding:22px 28px 40px}\n"
    "h1{font-size:22px;margin:0 0 4px}h1 .model{font-weight:500;color:#4a5563}\n"
    "h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid #d9dde3}\n"
    "code{font-size:12.5px;background:#eceef2;padding:1px 4px;border-radius:3px}\n"
    ".facts{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0;padding:0;list-style:none}\n"
    ".facts li{background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:6px 12px;"
    "min-width:90px}\n"
    ".facts b{display:block;font-size:18px}.facts small{color:#5c6570}\n"
    ".spec,.meta,.note{color:#4a5563;margin:4px 0}.meta{font-size:12px}\n"
    ".warn{background:#fff4e0;border:1px solid #f0b35b;border-radius:6px;padding:8px 12px}\n"
    ".alert{background:#fdecec;border:1px solid #e08080;border-radius:6px;padding:8px 12px;"
    "font-weight:600}\n"
    ".plots{display:flex;flex-wrap:wrap;gap:14px}\n"
    "figure{margin:0;background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:4px}\n"
    "figcaption{font-size:12px;color:#4a5563;padding:0 8px 6px}\n"
    "svg text{font-family:inherit}.grid{stroke:#eceef1}.tick{stroke:#59616b}\n"
    ".frame{fill:none;stroke:#59616b}.tl{font-size:11px;fill:#3d444d}"
    ".al{font-size:12px;fill:#1d2127}.lg{font-size:11px;fill:#2d333a}\n"
    "path.all,path.feas{fill:none;stroke-width:4.8;stroke-linecap:round}\n"
    "path.all{stroke:#c3c7cd}circle.all{fill:#c3c7cd}\n"
    "path.feas{stroke:#4c8fd6;stroke-opacity:.85}circle.feas{fill:#4c8fd6}\n"
    ".front polyline,line.front{fill:none;stroke:#e8590c;stroke-width:1.6}\n"
    ".front circle,circle.front{fill:#fd7e14;stroke:#fff;stroke-width:1}\n"
    ".closest circle,circle.closest{fill:none;stroke:#c92a2a;stroke-width:2}\n"
    ".bad{fill:#e03131;fill-opacity:.06}\n"
    ".limit{stroke:#c92a2a;stroke-width:1.3;stroke-dasharray:6 "
    "4}.ll{font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round;"
    "fill:#c92a2a}\n"
    ".tablewrap{overflow-x:auto}\n"
    "table{border-collapse:collapse;background:#fff;border:1px solid #d9dde3;font-size:13px}\n"
    "th,td{padding:5px 7px;border-bottom:1px solid #eceef1;text-align:left;vertical-align:top}\n"
    "th{background:#eef0f3;font-weight:600}th small{font-weight:400;color:#5c6570}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "tr.front:nth-child(even),tr.closest:nth-child(even){background:#fafbfc}\n"
    "td small{display:block;font-size:11px}.better{color:#2b8a3e}.worse{color:#c92a2a}\n"
    "th.num{text-align:right}td a{white-space:nowrap}\n"
    ".kind{display:block;font-size:10px;font-weight:400;color:#5c6570}\n"
    "details{background:#fff;border:1px solid #d9dde3;border-radius:6px;margin:6px 0;"
    "padding:6px 12px}\n"
    "details table{margin:8px 0 4px}summary{cursor:pointer}\n"
    "footer{margin-top:30px;color:#7a828c;font-size:12px}\n";

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

static void metric_text(td_sbuf *b, const td_report_view *v, int m)
{
    char name[128];
    const char *unit;
    td_report_label(v, m, name, sizeof name, &unit);
    td_sb_escape(b, name);
    if (unit[0])
        td_sb_printf(b, " (%s)", unit);
}

static void fact(td_sbuf *b, const char *value, const char *label)
{
    td_sb_printf(b, "<li><b>%s</b><small>%s</small></li>", value, label);
}

static void run_facts(td_sbuf *b, const td_report_view *v)
{
    const td_rj *j = v->j;
    char s[64];
    td_sb_put(b, "<ul class=\"facts\">");
    snprintf(s, sizeof s, "%d", j->n_evals);
    if (j->budget >= 0)
        snprintf(s, sizeof s, "%d / %lld", j->n_evals, j->budget);
    fact(b, s, j->budget >= 0 ? "evaluations / budget" : "evaluations");
    snprintf(s, sizeof s, "%d", v->n_feasible);
    fact(b, s, "feasible");
    snprintf(s, sizeof s, "%d", v->n_front);
    fact(b, s, "Pareto designs");
    if (j->has_hypervolume) {
        td_report_number(j->hypervolume, s, sizeof s);
        fact(b, s, "hypervolume");
    }
    if (j->has_seconds) {
        snprintf(s, sizeof s, "%.1f s", j->seconds);
        fact(b, s, "search time");
    }
    td_sb_put(b, "</ul>\n");
}

static void spec_line(td_sbuf *b, const td_report_view *v)
{
    const td_rj *j = v->j;
    td_sb_put(b, "<p class=\"spec\">Objectives: ");
    for (int o = 0; o < j->n_objectives; o++) {
        td_sb_put(b, o ? ", " : "");
        td_sb_put(b, j->objectives[o].maximize ? "maximize " : "minimize ");
        metric_text(b, v, j->objectives[o].metric);
    }
    td_sb_put(b, ". Spec: ");
    if (j->n_constraints == 0)
        td_sb_put(b, "none");
    for (int c = 0; c < j->n_constraints; c++) {
        char name[128], num[32];
        const char *unit;
        const td_rj_constraint *k = &j->constraints[c];
        td_report_label(v, k->metric, name, sizeof name, &unit);
        td_report_value(v, k->metric, k->value, num, sizeof num);
        td_sb_put(b, c ? ", " : "");
        td_sb_escape(b, name);
        td_sb_printf(b, " %s %s%s%s", k->at_least ? "≥" : "≤", num,
                     unit[0] && strcmp(unit, "%") ? " " : "", unit);
    }
    td_sb_put(b, ".</p>\n");
}

static void meta_line(td_sbuf *b, const td_rj *j)
{
    const char *labels[] = {"tandem", "commit", "machine", "created", "accuracy"};
    const char *values[] = {j->tandem, j->commit, j->machine, j->created, j->accuracy};
    td_sb_put(b, "<p class=\"meta\">");
    bool first = true;
    for (int i = 0; i < 5; i++) {
        if (!values[i][0])
            continue;
        td_sb_printf(b, "%s%s ", first ? "" : " · ", labels[i]);
        td_sb_escape(b, values[i]);
        first = false;
    }
    td_sb_put(b, first ? "" : " · ");
    td_sb_put(b, "journal ");
    td_sb_escape(b, j->name);
    td_sb_put(b, "</p>\n");
}

static int cmp_ll(const void *pa, const void *pb)
{
    long long a = *(const long long *)pa, b = *(const long long *)pb;
    return a < b ? -1 : a > b;
}

/* The run's own front (end line) should match the recomputed one; say so when it does not. */
static void front_check(td_sbuf *b, const td_report_view *v)
{
    const td_rj *j = v->j;
    if (!j->has_end || j->n_end_front == 0 || v->n_front == 0)
        return;
    long long *mine = malloc(sizeof *mine * (size_t)v->n_front);
    long long *theirs = malloc(sizeof *theirs * (size_t)j->n_end_front);
    bool same = mine && theirs && v->n_front == j->n_end_front;
    if (same) {
        for (int r = 0; r < v->n_front; r++)
            mine[r] = j->evals[v->front[r]].n;
        memcpy(theirs, j->end_front, sizeof *theirs * (size_t)j->n_end_front);
        qsort(mine, (size_t)v->n_front, sizeof *mine, cmp_ll);
        qsort(theirs, (size_t)j->n_end_front, sizeof *theirs, cmp_ll);
        same = !memcmp(mine, theirs, sizeof *mine * (size_t)v->n_front);
    }
    if (!same && mine && theirs)
        td_sb_printf(b,
                     "<p class=\"note\">The end line lists %d front designs; recomputed from the "
                     "evaluations the front has %d, which this report shows.</p>\n",
                     j->n_end_front, v->n_front);
    free(mine);
    free(theirs);
}

static void page_head(td_sbuf *b, const td_report_view *v)
{
    const td_rj *j = v->j;
    td_sb_put(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                 "<title>Tandem report: ");
    td_sb_escape(b, base_name(j->model));
    td_sb_printf(b, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n<header>\n", css);
    td_sb_put(b, "<h1>Co-exploration report <span class=\"model\">");
    td_sb_escape(b, base_name(j->model));
    td_sb_put(b, "</span></h1>\n<p class=\"spec\">model <code>");
    td_sb_escape(b, j->model);
    td_sb_put(b, "</code> · space <code>");
    td_sb_escape(b, j->space_file);
    td_sb_put(b, "</code> · algorithm <b>");
    td_sb_escape(b, j->algo);
    td_sb_printf(b, "</b> · seed <b>%lld</b></p>\n", j->seed);
    run_facts(b, v);
    if (!j->has_end)
        td_sb_printf(b,
                     "<p class=\"warn\">This run stopped before the end: the journal has no end "
                     "line. The report covers the %d evaluations recorded; "
                     "<code>tandem explore --resume</code> continues the run.</p>\n",
                     j->n_evals);
    spec_line(b, v);
    meta_line(b, j);
    front_check(b, v);
    td_sb_put(b, "</header>\n");
}

/* ---- plots ---- */

typedef struct pair {
    int x, y;
} pair;

static bool has_data(const td_rj *j, int m)
{
    for (int i = 0; i < j->n_evals; i++)
        if (!isnan(j->evals[i].metrics[m]))
            return true;
    return false;
}

static int metric_like(const td_rj *j, const char *prefix)
{
    for (int m = 0; m < j->n_metrics; m++) {
        bool match = prefix ? !strncmp(j->metrics[m], prefix, strlen(prefix))
                            : td_report_is_accuracy(j->metrics[m]);
        if (match && has_data(j, m))
            return m;
    }
    return -1;
}

/* Accuracy goes on the y axis; otherwise the earlier metric is x. Duplicates are dropped. */
static void add_pair(const td_rj *j, pair *p, int *n, int a, int b)
{
    if (a < 0 || b < 0 || a == b || *n >= MAX_PLOTS || !has_data(j, a) || !has_data(j, b))
        return;
    if (td_report_is_accuracy(j->metrics[a]) && !td_report_is_accuracy(j->metrics[b])) {
        int t = a;
        a = b;
        b = t;
    }
    for (int i = 0; i < *n; i++)
        if ((p[i].x == a && p[i].y == b) || (p[i].x == b && p[i].y == a))
            return;
    p[(*n)++] = (pair){a, b};
}

static int plot_pairs(const td_rj *j, pair *p)
{
    int n = 0;
    int acc = metric_like(j, NULL), lat = metric_like(j, "latency"),
        energy = metric_like(j, "energy");
    add_pair(j, p, &n, lat, acc);
    add_pair(j, p, &n, energy, acc);
    add_pair(j, p, &n, lat, energy);
    for (int a = 0; a < j->n_objectives; a++)
        for (int b = a + 1; b < j->n_objectives; b++)
            add_pair(j, p, &n, j->objectives[a].metric, j->objectives[b].metric);
    return n;
}

static void plots_section(td_sbuf *b, const td_report_view *v)
{
    const td_rj *j = v->j;
    pair p[MAX_PLOTS];
    int n = plot_pairs(j, p);
    td_sb_put(b, "<section>\n<h2>Fronts</h2>\n");
    if (n == 0)
        td_sb_put(b, "<p class=\"note\">Only one objective and no latency, energy or accuracy "
                     "pair: nothing to plot.</p>\n");
    if (j->n_objectives > 2 && v->n_front > 0)
        td_sb_printf(b,
                     "<p class=\"note\">Orange: the Pareto designs over all %d objectives. In "
                     "each plot the line joins those of them best in its two metrics.</p>\n",
                     j->n_objectives);
    td_sb_put(b, "<div class=\"plots\">\n");
    for (int i = 0; i < n; i++) {
        td_sb_put(b, "<figure>\n");
        td_report_plot(b, v, p[i].x, p[i].y);
        td_sb_put(b, "<figcaption>");
        metric_text(b, v, p[i].y);
        td_sb_put(b, " against ");
        metric_text(b, v, p[i].x);
        td_sb_put(b, "</figcaption>\n</figure>\n");
    }
    td_sb_put(b, "</div>\n</section>\n");
}

/* ---- the table of designs ---- */

typedef struct columns {
    int n;
    const char *name[MAX_COLUMNS];
    const char *kind[MAX_COLUMNS];
} columns;

/* The header's knobs, then any other key the listed designs carry. */
static void knob_columns(const td_rj *j, const td_rj_detail *d, int rows, columns *c)
{
    c->n = 0;
    for (int k = 0; k < j->n_knobs && c->n < MAX_COLUMNS; k++) {
        c->name[c->n] = j->knob_names[k];
        c->kind[c->n++] = j->knob_kinds[k];
    }
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < d[r].n_design && c->n < MAX_COLUMNS; k++) {
            bool known = false;
            for (int i = 0; i < c->n && !known; i++)
                known = !strcmp(c->name[i], d[r].design[k].key);
            if (!known) {
                c->name[c->n] = d[r].design[k].key;
                c->kind[c->n++] = "";
            }
        }
}

static const char *design_value(const td_rj_detail *d, const char *knob)
{
    for (int k = 0; k < d->n_design; k++)
        if (!strcmp(d->design[k].key, knob))
            return d->design[k].value;
    return NULL;
}

/* Knob names are long dotted paths ("model.body.weights"): let headers wrap after dots. */
static void escape_wrapping(td_sbuf *b, const char *s)
{
    char part[256];
    while (*s) {
        size_t n = strcspn(s, "._");
        n += s[n] ? 1 : 0;
        size_t take = n < sizeof part - 1 ? n : sizeof part - 1;
        memcpy(part, s, take);
        part[take] = 0;
        td_sb_escape(b, part);
        s += take;
        if (*s)
            td_sb_put(b, "<wbr>");
    }
}

static void table_head(td_sbuf *b, const td_report_view *v, const columns *c, bool closest)
{
    const td_rj *j = v->j;
    td_sb_put(b, "<div class=\"tablewrap\"><table class=\"designs\">\n<thead><tr><th>n</th>");
    if (closest)
        td_sb_put(b, "<th>violation</th>");
    for (int m = 0; m < j->n_metrics; m++) {
        char name[128];
        const char *unit;
        td_report_label(v, m, name, sizeof name, &unit);
        td_sb_put(b, "<th class=\"num\">");
        td_sb_escape(b, name);
        const char *arrow = "";
        for (int o = 0; o < j->n_objectives; o++)
            if (j->objectives[o].metric == m)
                arrow = j->objectives[o].maximize ? " ↑" : " ↓";
        if (unit[0] || arrow[0])
            td_sb_printf(b, "<span class=\"kind\">%s%s</span>", unit, arrow);
        td_sb_put(b, "</th>");
    }
    for (int k = 0; k < c->n; k++) {
        td_sb_put(b, "<th>");
        escape_wrapping(b, c->name[k]);
        if (c->kind[k][0]) {
            td_sb_put(b, "<span class=\"kind\">");
            td_sb_escape(b, c->kind[k]);
            td_sb_put(b, "</span>");
        }
        td_sb_put(b, "</th>");
    }
    td_sb_put(b, "<th>layers</th></tr></thead>\n<tbody>\n");
}

/* Under each metric, the comparison with the uncompressed model on the same hardware: a ratio
 * ("×0.42") for costs, a difference in points ("−0.3 pt") for accuracy. */
static void comparison(td_sbuf *b, const td_report_view *v, int m, double x, double base)
{
    char name[128], text[48], num[32];
    const char *unit;
    bool better;
    if (isnan(x) || isnan(base))
        return;
    if (td_report_is_accuracy(v->j->metrics[m])) {
        double diff = (x - base) * (v->fraction[m] ? 100 : 1);
        snprintf(text, sizeof text, "%s%.1f pt", diff < -0.05 ? "−" : "+", fabs(diff));
        better = diff >= -0.05;
    } else if (base != 0) {
        double ratio = x / base;
        snprintf(text, sizeof text, fabs(ratio) >= 0.01 ? "×%.2f" : "×%.2g", ratio);
        better = ratio <= 1;
    } else {
        return;
    }
    td_report_label(v, m, name, sizeof name, &unit);
    td_report_value(v, m, base, num, sizeof num);
    td_sb_printf(b, "<small class=\"%s\" title=\"uncompressed: %s%s%s\">%s</small>",
                 better ? "better" : "worse", num, unit[0] && strcmp(unit, "%") ? " " : "", unit,
                 text);
}

static void table_row(td_sbuf *b, const td_report_view *v, int eval, const td_rj_detail *d,
                      const columns *c, bool closest)
{
    const td_rj *j = v->j;
    const td_rj_eval *e = &j->evals[eval];
    char num[32];
    td_sb_printf(b, "<tr class=\"%s\"><td class=\"num\">%lld</td>", closest ? "closest" : "front",
                 e->n);
    if (closest) {
        td_report_number(v->violation[eval], num, sizeof num);
        td_sb_printf(b, "<td class=\"num\">%s</td>", num);
    }
    for (int m = 0; m < j->n_metrics; m++) {
        if (isnan(e->metrics[m])) {
            td_sb_put(b, "<td class=\"num\">—</td>");
            continue;
        }
        td_report_value(v, m, e->metrics[m], num, sizeof num);
        td_sb_printf(b, "<td class=\"num\">%s", num);
        comparison(b, v, m, e->metrics[m], d->baseline[m]);
        td_sb_put(b, "</td>");
    }
    for (int k = 0; k < c->n; k++) {
        const char *val = design_value(d, c->name[k]);
        td_sb_put(b, "<td>");
        td_sb_escape(b, val ? val : "—");
        td_sb_put(b, "</td>");
    }
    if (d->n_layers > 0)
        td_sb_printf(b, "<td><a href=\"#layers-%d\">%d layers</a></td></tr>\n", eval, d->n_layers);
    else
        td_sb_put(b, "<td>—</td></tr>\n");
}

/* ---- per-layer choices ---- */

typedef struct count {
    const char *format;
    int n;
} count;

static int cmp_count(const void *pa, const void *pb)
{
    const count *a = pa, *b = pb;
    return b->n != a->n ? b->n - a->n : strcmp(a->format, b->format);
}

/* "int4 ×18 · int8 ×6": the mix of weight formats at a glance. */
static void format_mix(td_sbuf *b, const td_rj_detail *d)
{
    count c[8];
    int n = 0, other = 0;
    for (int l = 0; l < d->n_layers; l++) {
        const char *f = d->layers[l].format[0] ? d->layers[l].format : "?";
        int i = 0;
        while (i < n && strcmp(c[i].format, f))
            i++;
        if (i < n)
            c[i].n++;
        else if (n < 8)
            c[n++] = (count){f, 1};
        else
            other++;
    }
    qsort(c, (size_t)n, sizeof *c, cmp_count);
    for (int i = 0; i < n; i++) {
        td_sb_put(b, " · ");
        td_sb_escape(b, c[i].format);
        td_sb_printf(b, " ×%d", c[i].n);
    }
    if (other)
        td_sb_printf(b, " · other ×%d", other);
}

static void layer_details(td_sbuf *b, const td_rj_eval *e, int eval, const td_rj_detail *d)
{
    if (d->n_layers == 0)
        return;
    td_sb_printf(b, "<details id=\"layers-%d\"><summary><b>n %lld</b> · %d layers", eval, e->n,
                 d->n_layers);
    format_mix(b, d);
    td_sb_put(b, "</summary>\n<table class=\"layers\"><thead><tr><th>#</th><th>layer</th>"
                 "<th>weights</th><th>activations</th><th>sparsity</th></tr></thead><tbody>\n");
    for (int l = 0; l < d->n_layers; l++) {
        const td_rj_layer *y = &d->layers[l];
        const char *cells[] = {y->name, y->format, y->act, y->sparsity};
        td_sb_printf(b, "<tr><td class=\"num\">%d</td>", l);
        for (int k = 0; k < 4; k++) {
            td_sb_put(b, "<td>");
            td_sb_escape(b, cells[k][0] ? cells[k] : "—");
            td_sb_put(b, "</td>");
        }
        td_sb_put(b, "</tr>\n");
    }
    td_sb_put(b, "</tbody></table></details>\n");
}

static void infeasible_banner(td_sbuf *b, const td_report_view *v)
{
    td_sb_printf(b,
                 "<p class=\"alert\">No feasible design: none of the %d evaluated designs meets "
                 "the spec. The %d closest designs (smallest violation) are listed instead.</p>\n",
                 v->j->n_evals, v->n_closest);
}

static void designs_section(td_sbuf *b, const td_report_view *v, const td_rj_detail *d,
                            const int *rows, int n_rows)
{
    const td_rj *j = v->j;
    bool closest = v->n_front == 0;
    columns c;
    knob_columns(j, d, n_rows, &c);
    td_sb_printf(b, "<section>\n<h2>%s</h2>\n",
                 closest ? "Closest designs (none feasible)" : "Pareto designs");
    if (closest) {
        td_sb_put(b, "<p class=\"note\">Sorted by violation, smallest first.</p>\n");
    } else {
        td_sb_put(b, "<p class=\"note\">Sorted by ");
        metric_text(b, v, j->objectives[0].metric);
        td_sb_put(b, ", best first. Under each metric: the ratio to the uncompressed model on the "
                     "same hardware (for accuracy, the difference in points).</p>\n");
    }
    if (n_rows < (closest ? v->n_closest : v->n_front))
        td_sb_printf(b, "<p class=\"note\">The first %d of %d designs are listed.</p>\n", n_rows,
                     v->n_front);
    table_head(b, v, &c, closest);
    for (int r = 0; r < n_rows; r++)
        table_row(b, v, rows[r], &d[r], &c, closest);
    td_sb_put(b, "</tbody></table></div>\n</section>\n<section>\n<h2>Per-layer choices</h2>\n");
    bool any = false;
    for (int r = 0; r < n_rows; r++) {
        layer_details(b, &j->evals[rows[r]], rows[r], &d[r]);
        any = any || d[r].n_layers > 0;
    }
    if (!any)
        td_sb_put(b, "<p class=\"note\">The journal records no per-layer choices.</p>\n");
    td_sb_put(b, "</section>\n");
}

td_status td_report_render(const td_report_view *v, td_sbuf *out)
{
    const td_rj *j = v->j;
    bool closest = v->n_front == 0;
    const int *rows = closest ? v->closest : v->front;
    int n_rows = closest ? v->n_closest : v->n_front;
    if (n_rows > MAX_ROWS)
        n_rows = MAX_ROWS;
    td_rj_detail *d = calloc((size_t)n_rows + 1, sizeof *d);
    if (!d)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", j->name);
    td_status st = TD_OK;
    for (int r = 0; r < n_rows && !st; r++)
        st = td_rj_detail_get(j, &j->evals[rows[r]], &d[r]);
    if (!st) {
        page_head(out, v);
        if (closest)
            infeasible_banner(out, v);
        plots_section(out, v);
        designs_section(out, v, d, rows, n_rows);
        td_sb_put(out, "<footer>Made by <code>tandem report</code> from ");
        td_sb_escape(out, j->name);
        td_sb_put(out, ".</footer>\n</main>\n</body>\n</html>\n");
        if (out->failed)
            st = td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory for the report", j->name);
    }
    for (int r = 0; r < n_rows; r++)
        td_rj_detail_free(&d[r]);
    free(d);
    return st;
}

/* ---- writing ---- */

static td_status check_paths(const char *journal, const char *html)
{
    if (!journal || !journal[0])
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "report: no journal file given");
    if (!html || !html[0])
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "report: no output file given");
    struct stat a, b;
    if (stat(journal, &a) == 0 && stat(html, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s: the output would overwrite the journal %s", html, journal);
    return TD_OK;
}

td_status td_report_write_summary(const char *journal_path, const char *html_path,
                                  td_report_summary *sum)
{
    TD_TRY(check_paths(journal_path, html_path));
    td_rj *j;
    TD_TRY(td_rj_load(journal_path, &j));
    td_report_view v;
    td_status st = td_report_view_build(j, &v);
    if (st) {
        td_rj_free(j);
        return st;
    }
    td_sbuf page = {0};
    st = td_report_render(&v, &page);
    if (!st)
        st = td_file_write_atomic(html_path, page.data, page.len);
    if (!st && sum)
        *sum = (td_report_summary){j->n_evals, v.n_feasible, v.n_front, j->has_end};
    td_sb_free(&page);
    td_report_view_free(&v);
    td_rj_free(j);
    return st;
}

td_status td_report_write(const char *journal_path, const char *html_path)
{
    return td_report_write_summary(journal_path, html_path, NULL);
}
