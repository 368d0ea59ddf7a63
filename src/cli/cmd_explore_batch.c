/* tandem explore ask | eval | tell: a search whose evaluations run elsewhere (Slurm job arrays,
 * any batch scheduler). The journal holds the state: ask replays it and writes the designs the
 * search needs next; eval evaluates some of them (one array task each, say); tell appends the
 * results to the journal in the asked order. Repeat until ask says the search is complete.
 *
 *   points file (ask):  {"n": JOURNAL INDEX, "x": [choices], "design": {knob: value}} per line
 *   results file (eval): {"n", "x", "metrics", "baseline", "feasible", "violation"} per line */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/explore_mpi.h"
#include "tandem/core.h"

#define MAX_POINTS_FILE ((size_t)1 << 30)

typedef struct bopts {
    const char *space, *journal, *out;
    const char *files[256];
    int n_files;
    long index; /* eval: one line of the points file, -1 = all */
} bopts;

static bool parse_bopts(int argc, char **argv, bopts *o)
{
    memset(o, 0, sizeof *o);
    o->index = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--journal") && v)
            o->journal = argv[++i];
        else if (!strcmp(a, "-o") && v)
            o->out = argv[++i];
        else if (!strcmp(a, "--index") && v) {
            char *end;
            o->index = strtol(v, &end, 10);
            if (*end || end == v || o->index < 0) {
                fprintf(stderr, "tandem explore %s: --index takes a line number >= 0\n", argv[0]);
                return false;
            }
            i++;
        } else if (a[0] != '-' && !o->space)
            o->space = a;
        else if (a[0] != '-' && o->n_files < 256)
            o->files[o->n_files++] = a;
        else {
            fprintf(stderr, "tandem explore %s: bad option '%s'\n", argv[0], a);
            return false;
        }
    }
    if (!o->space) {
        fprintf(stderr, "tandem explore %s: the design space file is required\n", argv[0]);
        return false;
    }
    return true;
}

/* Appends a cJSON line to a growing text buffer (owned by *buf). */
static td_status append_line(char **buf, size_t *len, cJSON *o)
{
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    size_t n = line ? strlen(line) : 0;
    char *grown = line ? realloc(*buf, *len + n + 2) : NULL;
    if (!grown) {
        free(line);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    }
    memcpy(grown + *len, line, n);
    grown[*len + n] = '\n';
    grown[*len + n + 1] = 0;
    *buf = grown;
    *len += n + 1;
    free(line);
    return TD_OK;
}

static td_status read_x(const cJSON *o, const td_space *s, const char *file, long line, int *x)
{
    const td_knob *k;
    int nk = td_space_knobs(s, &k);
    const cJSON *xa = cJSON_GetObjectItemCaseSensitive(o, "x"), *it;
    if (!cJSON_IsArray(xa) || cJSON_GetArraySize(xa) != nk)
        return td_error_new(TD_CODE_BAD_DATA, "%s:%ld: \"x\" must list %d choices", file, line, nk);
    int i = 0;
    cJSON_ArrayForEach(it, xa)
    {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= k[i].n_values ||
            it->valuedouble != floor(it->valuedouble))
            return td_error_new(TD_CODE_BAD_DATA, "%s:%ld: choice %d of \"x\" is outside knob '%s'",
                                file, line, i, k[i].name);
        x[i++] = (int)it->valuedouble;
    }
    return TD_OK;
}

typedef td_status (*line_fn)(void *user, const cJSON *o, const char *file, long line);

static td_status each_line(const char *path, line_fn fn, void *user)
{
    char *buf;
    size_t len;
    TD_TRY(td_file_read(path, MAX_POINTS_FILE, &buf, &len));
    td_status st = TD_OK;
    long line = 0;
    for (char *p = buf; !st && p < buf + len;) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        if (nl)
            *nl = 0;
        line++;
        if (*p) {
            cJSON *o = cJSON_Parse(p);
            st = cJSON_IsObject(o)
                     ? fn(user, o, path, line)
                     : td_error_new(TD_CODE_BAD_DATA, "%s:%ld: not a JSON object", path, line);
            cJSON_Delete(o);
        }
        p = nl ? nl + 1 : buf + len;
    }
    free(buf);
    return st;
}

static cJSON *metrics_object(const double *m)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < TD_METRIC_COUNT; i++)
        if (isfinite(m[i]))
            td_json_add_exact(o, td_metric_name((td_metric)i), m[i]);
    return o;
}

static void read_metrics(const cJSON *o, double *m)
{
    for (int i = 0; i < TD_METRIC_COUNT; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, td_metric_name((td_metric)i));
        m[i] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    }
}

/* ---- ask ---- */

static int do_ask(const bopts *o, td_space *s)
{
    td_explore_options eo;
    memset(&eo, 0, sizeof eo);
    td_space_search_defaults(s, &eo.search);
    eo.journal = o->journal;
    int *x = NULL, n = 0;
    td_status st = td_explore_ask(s, &eo, &x, &n);
    const td_knob *k;
    int nk = td_space_knobs(s, &k);
    char *text = NULL;
    size_t len = 0;
    for (int i = 0; !st && i < n; i++) {
        cJSON *line = cJSON_CreateObject();
        cJSON *xa = cJSON_AddArrayToObject(line, "x"), *d = cJSON_AddObjectToObject(line, "design");
        for (int j = 0; j < nk; j++) {
            cJSON_AddItemToArray(xa, cJSON_CreateNumber(x[i * nk + j]));
            cJSON_AddStringToObject(d, k[j].name, k[j].values[x[i * nk + j]]);
        }
        st = append_line(&text, &len, line);
    }
    if (!st)
        st = td_file_write_atomic(o->out, text ? text : "", len);
    free(text);
    free(x);
    if (st)
        return td_cli_fail(st);
    if (n == 0)
        printf("the search is complete: %s has its end line; `tandem report %s` shows it\n",
               o->journal, o->journal);
    else
        printf("%d designs to evaluate written to %s (evaluate each line with `tandem explore "
               "eval %s %s --index I -o RESULT`, then `tandem explore tell`)\n",
               n, o->out, o->space, o->out);
    return TD_EXIT_OK;
}

/* ---- eval ---- */

typedef struct eval_ctx {
    const bopts *o;
    td_space *s;
    td_explorer *e;
    char *text;
    size_t len;
} eval_ctx;

static td_status eval_line(void *user, const cJSON *o, const char *file, long line)
{
    eval_ctx *c = user;
    if (c->o->index >= 0 && line - 1 != c->o->index)
        return TD_OK;
    int x[TD_SPACE_MAX_KNOBS];
    TD_TRY(read_x(o, c->s, file, line, x));
    td_design_eval d;
    TD_TRY(td_explorer_eval(c->e, 1, x, &d));
    const td_knob *k;
    int nk = td_space_knobs(c->s, &k);
    cJSON *r = cJSON_CreateObject();
    cJSON *xa = cJSON_AddArrayToObject(r, "x");
    for (int j = 0; j < nk; j++)
        cJSON_AddItemToArray(xa, cJSON_CreateNumber(x[j]));
    cJSON_AddItemToObject(r, "metrics", metrics_object(d.metrics));
    cJSON_AddItemToObject(r, "baseline", metrics_object(d.baseline));
    cJSON_AddBoolToObject(r, "feasible", d.feasible);
    td_json_add_exact(r, "violation", d.violation);
    cJSON_AddNumberToObject(r, "line", (double)(line - 1));
    return append_line(&c->text, &c->len, r);
}

static int do_eval(const bopts *o, td_space *s)
{
    if (o->n_files != 1 || !o->out) {
        fprintf(stderr, "tandem explore eval: one points file and -o RESULTS are required\n");
        return TD_EXIT_USAGE;
    }
    eval_ctx c = {o, s, NULL, NULL, 0};
    td_explorer_options xo = {0};
    td_status st = td_explorer_new(s, &xo, &c.e);
    if (!st)
        st = each_line(o->files[0], eval_line, &c);
    if (!st && !c.text)
        st = td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: no line %ld to evaluate", o->files[0],
                          o->index);
    if (!st)
        st = td_file_write_atomic(o->out, c.text, c.len);
    free(c.text);
    td_explorer_free(c.e);
    return st ? td_cli_fail(st) : TD_EXIT_OK;
}

/* ---- tell ---- */

typedef struct tell_ctx {
    td_space *s;
    int nk;
    int *x;
    td_design_eval *ev;
    long *order;
    int n, cap;
} tell_ctx;

static td_status tell_line(void *user, const cJSON *o, const char *file, long line)
{
    tell_ctx *c = user;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 256;
        int *gx = realloc(c->x, sizeof(int) * (size_t)(cap * c->nk));
        td_design_eval *ge = gx ? realloc(c->ev, sizeof *ge * (size_t)cap) : NULL;
        long *go = ge ? realloc(c->order, sizeof *go * (size_t)cap) : NULL;
        if (gx)
            c->x = gx;
        if (ge)
            c->ev = ge;
        if (go)
            c->order = go;
        if (!go)
            return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
        c->cap = cap;
    }
    TD_TRY(read_x(o, c->s, file, line, c->x + c->n * c->nk));
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "metrics");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "baseline");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "feasible");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "violation");
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "line");
    if (!cJSON_IsObject(m) || !cJSON_IsObject(b) || !cJSON_IsBool(f) || !cJSON_IsNumber(v) ||
        !cJSON_IsNumber(l))
        return td_error_new(TD_CODE_BAD_DATA, "%s:%ld: not a result of `tandem explore eval`", file,
                            line);
    td_design_eval *d = &c->ev[c->n];
    read_metrics(m, d->metrics);
    read_metrics(b, d->baseline);
    d->feasible = cJSON_IsTrue(f);
    d->violation = v->valuedouble;
    c->order[c->n] = (long)l->valuedouble;
    c->n++;
    return TD_OK;
}

static int do_tell(const bopts *o, td_space *s)
{
    if (o->n_files < 1) {
        fprintf(stderr, "tandem explore tell: give the results files of `tandem explore eval`\n");
        return TD_EXIT_USAGE;
    }
    const td_knob *k;
    tell_ctx c = {s, td_space_knobs(s, &k), NULL, NULL, NULL, 0, 0};
    td_status st = TD_OK;
    for (int i = 0; !st && i < o->n_files; i++)
        st = each_line(o->files[i], tell_line, &c);
    /* results come back in any order (one file per array task): put them in asked order */
    for (int i = 1; !st && i < c.n; i++)
        for (int j = i; j > 0 && c.order[j - 1] > c.order[j]; j--) {
            long t = c.order[j];
            c.order[j] = c.order[j - 1];
            c.order[j - 1] = t;
            td_design_eval te = c.ev[j];
            c.ev[j] = c.ev[j - 1];
            c.ev[j - 1] = te;
            for (int q = 0; q < c.nk; q++) {
                int tx = c.x[j * c.nk + q];
                c.x[j * c.nk + q] = c.x[(j - 1) * c.nk + q];
                c.x[(j - 1) * c.nk + q] = tx;
            }
        }
    td_explorer *e = NULL;
    td_explorer_options xo = {0};
    td_explore_options eo;
    memset(&eo, 0, sizeof eo);
    td_space_search_defaults(s, &eo.search);
    eo.journal = o->journal;
    bool complete = false;
    if (!st)
        st = td_explorer_new(s, &xo, &e); /* for the journal's per-layer records */
    if (!st)
        st = td_explore_tell(s, e, &eo, c.n, c.x, c.ev, &complete);
    if (!st)
        printf("%d results recorded in %s; %s\n", c.n, o->journal,
               complete ? "the search is complete" : "ask for the next designs");
    td_explorer_free(e);
    free(c.x);
    free(c.ev);
    free(c.order);
    return st ? td_cli_fail(st) : TD_EXIT_OK;
}

int td_explore_batch_cmd(int argc, char **argv)
{
    bopts o;
    if (!parse_bopts(argc, argv, &o))
        return TD_EXIT_USAGE;
    if ((strcmp(argv[0], "eval") && !o.journal) || (!strcmp(argv[0], "ask") && !o.out)) {
        fprintf(stderr, "tandem explore %s: --journal%s required\n", argv[0],
                strcmp(argv[0], "ask") ? " is" : " and -o are");
        return TD_EXIT_USAGE;
    }
    td_space *s;
    td_status st = td_space_load(o.space, &s);
    if (st)
        return td_cli_fail(st);
    int rc = !strcmp(argv[0], "ask")    ? do_ask(&o, s)
             : !strcmp(argv[0], "eval") ? do_eval(&o, s)
                                        : do_tell(&o, s);
    td_space_free(s);
    return rc;
}
