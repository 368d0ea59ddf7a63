/* A search run: the optimizer asks for designs, the explorer (or MPI workers) evaluates them,
 * every evaluation is appended to the journal as soon as it is known, and the optimizer is told.
 *
 * Resume relies on the optimizer being deterministic: replaying the journal's results through
 * the same ask/tell sequence brings it back to where the run stopped, so a killed run loses
 * nothing and repeats nothing. Each asked design is checked against the journal's record of
 * it: a journal from another space or search is refused rather than silently mixed. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "explore/space_internal.h"
#include "tandem/core.h"

#define MAX_JOURNAL_LINE (1 << 20)

typedef struct run {
    const td_space *s;
    td_explorer *e;
    const td_explore_options *o;
    FILE *jf;
    int nk;
    int *x; /* every evaluation so far, in order */
    td_design_eval *ev;
    int64_t n, cap;
    int *jx; /* the journal's evaluations (resume) */
    td_design_eval *jev;
    int64_t jn;
    double ref[TD_METRIC_COUNT];
    bool ref_set;
    int64_t feasible;
    int last_tenth;
    double t0;
    enum { MODE_RUN, MODE_ASK, MODE_TELL } mode;
    bool stop;    /* ask: the next designs are known; tell: the results are used up */
    int *pending; /* ask: the designs to evaluate */
    int n_pending;
    const int *given_x; /* tell: results evaluated elsewhere, in asked order */
    const td_design_eval *given;
    int n_given, used_given;
} run;

static const char *algo_name(td_moo_algo a)
{
    return a == TD_MOO_RANDOM ? "random" : a == TD_MOO_EXHAUSTIVE ? "exhaustive" : "nsga2";
}

static const char *accuracy_name(const td_space *s)
{
    return s->accuracy == TD_ACC_PROXY ? "proxy" : s->accuracy == TD_ACC_NONE ? "none" : "measured";
}

/* ---- journal lines ---- */

void td_json_add_exact(void *cjson_object, const char *name, double v)
{
    char text[40];
    snprintf(text, sizeof text, "%.17g", v);
    cJSON_AddRawToObject(cjson_object, name, text);
}

static td_status write_line(run *r, cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", r->o->journal);
    /* one write per line, flushed: a kill leaves at most one partial last line */
    size_t len = strlen(text);
    text[len] = '\n';
    bool ok = fwrite(text, 1, len + 1, r->jf) == len + 1 && fflush(r->jf) == 0;
    free(text);
    if (!ok)
        return td_error_new(TD_CODE_IO, "%s: cannot write the journal", r->o->journal);
    return TD_OK;
}

static cJSON *metrics_json(const double *m)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < TD_METRIC_COUNT; i++)
        if (isfinite(m[i]))
            td_json_add_exact(o, td_metric_name((td_metric)i), m[i]);
    return o;
}

static td_status write_header(run *r)
{
    const td_space *s = r->s;
    const td_moo_options *so = &r->o->search;
    cJSON *h = cJSON_CreateObject();
    char hash[32], created[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)s->hash);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(h, "type", "header");
    cJSON_AddStringToObject(h, "tandem", r->o->version ? r->o->version : TD_VERSION_STRING);
    cJSON_AddStringToObject(h, "commit", r->o->commit ? r->o->commit : "unknown");
    cJSON_AddStringToObject(h, "machine", r->o->machine ? r->o->machine : "unknown");
    cJSON_AddStringToObject(h, "created", created);
    cJSON_AddStringToObject(h, "space_file", s->file);
    cJSON_AddStringToObject(h, "space_name", s->name);
    cJSON_AddStringToObject(h, "space_hash", hash);
    cJSON_AddStringToObject(h, "algo", algo_name(so->algo));
    cJSON_AddNumberToObject(h, "seed", (double)so->seed);
    cJSON_AddNumberToObject(h, "budget", (double)so->max_evals);
    cJSON_AddNumberToObject(h, "population", so->pop_size);
    cJSON_AddStringToObject(h, "accuracy", accuracy_name(s));
    cJSON_AddStringToObject(h, "model", s->tasks[0].model);
    cJSON *knobs = cJSON_AddArrayToObject(h, "knobs");
    static const char *const kinds[] = {"algorithm", "algorithm", "algorithm", "hardware",
                                        "hardware",  "hardware",  "algorithm", "algorithm"};
    for (int i = 0; i < s->n_knobs; i++) {
        cJSON *k = cJSON_CreateObject();
        cJSON_AddStringToObject(k, "name", s->knobs[i].name);
        cJSON_AddStringToObject(k, "kind", kinds[s->knobs[i].kind]);
        cJSON *v = cJSON_AddArrayToObject(k, "values");
        for (int j = 0; j < s->knobs[i].n_values; j++)
            cJSON_AddItemToArray(v, cJSON_CreateString(s->knobs[i].values[j]));
        cJSON_AddItemToArray(knobs, k);
    }
    cJSON *metrics = cJSON_AddArrayToObject(h, "metrics");
    for (int i = 0; i < TD_METRIC_COUNT; i++)
        cJSON_AddItemToArray(metrics, cJSON_CreateString(td_metric_name((td_metric)i)));
    cJSON *obj = cJSON_AddArrayToObject(h, "objectives");
    for (int i = 0; i < s->n_obj; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "metric", td_metric_name(s->obj[i].metric));
        cJSON_AddStringToObject(o, "sense", s->obj[i].maximize ? "max" : "min");
        cJSON_AddItemToArray(obj, o);
    }
    cJSON *lim = cJSON_AddArrayToObject(h, "constraints");
    for (int i = 0; i < s->n_limits; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "metric", td_metric_name(s->limits[i].metric));
        cJSON_AddStringToObject(o, "op", s->limits[i].is_max ? "<=" : ">=");
        cJSON_AddNumberToObject(o, "value", s->limits[i].value);
        cJSON_AddItemToArray(lim, o);
    }
    return write_line(r, h);
}

static td_status write_eval(run *r, int64_t n, const int *x, const td_design_eval *d)
{
    const td_space *s = r->s;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "eval");
    cJSON_AddNumberToObject(o, "n", (double)n);
    cJSON *xa = cJSON_AddArrayToObject(o, "x");
    cJSON *design = cJSON_AddObjectToObject(o, "design");
    for (int k = 0; k < s->n_knobs; k++) {
        cJSON_AddItemToArray(xa, cJSON_CreateNumber(x[k]));
        cJSON_AddStringToObject(design, s->knobs[k].name, s->knobs[k].values[x[k]]);
    }
    cJSON_AddItemToObject(o, "metrics", metrics_json(d->metrics));
    cJSON_AddItemToObject(o, "baseline", metrics_json(d->baseline));
    cJSON_AddBoolToObject(o, "feasible", d->feasible);
    td_json_add_exact(o, "violation", d->violation);
    td_layer_choice lc[256];
    int nl = td_explorer_layers(r->e, x, lc, 256);
    cJSON *layers = cJSON_AddArrayToObject(o, "layers");
    for (int i = 0; i < nl && i < 256; i++) {
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "name", lc[i].name);
        cJSON_AddStringToObject(l, "format", lc[i].format);
        cJSON_AddStringToObject(l, "act", lc[i].act);
        cJSON_AddStringToObject(l, "sparsity", lc[i].sparsity);
        cJSON_AddItemToArray(layers, l);
    }
    return write_line(r, o);
}

/* ---- reading a journal back (resume) ---- */

static td_status bad_line(const run *r, int64_t line, const char *what)
{
    return td_error_new(TD_CODE_BAD_DATA, "%s:%lld: %s", r->o->journal, (long long)line, what);
}

static td_status check_header(run *r, const cJSON *h, int64_t line)
{
    const td_moo_options *so = &r->o->search;
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)r->s->hash);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(h, "type");
    if (!cJSON_IsString(t) || strcmp(t->valuestring, "header") != 0)
        return bad_line(r, line, "the first line is not a journal header");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(h, "space_hash");
    if (!cJSON_IsString(sh) || strcmp(sh->valuestring, hash) != 0)
        return bad_line(r, line,
                        "this journal was made from a different design space (its "
                        "space_hash differs); resume with the same space file");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(h, "algo");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(h, "seed");
    const cJSON *pop = cJSON_GetObjectItemCaseSensitive(h, "population");
    if (!cJSON_IsString(a) || strcmp(a->valuestring, algo_name(so->algo)) ||
        !cJSON_IsNumber(seed) || seed->valuedouble != (double)so->seed || !cJSON_IsNumber(pop) ||
        pop->valuedouble != so->pop_size)
        return bad_line(r, line,
                        "this journal's search (algo, seed or population) differs from "
                        "the one asked for; resume with the same settings");
    return TD_OK;
}

static td_status parse_metrics(const run *r, const cJSON *o, double *m, int64_t line)
{
    for (int i = 0; i < TD_METRIC_COUNT; i++) {
        const cJSON *v =
            o ? cJSON_GetObjectItemCaseSensitive(o, td_metric_name((td_metric)i)) : NULL;
        m[i] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    }
    if (!cJSON_IsObject(o))
        return bad_line(r, line, "an evaluation without metrics");
    return TD_OK;
}

static td_status read_eval(run *r, const cJSON *o, int64_t line)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "n");
    const cJSON *xa = cJSON_GetObjectItemCaseSensitive(o, "x");
    if (!cJSON_IsNumber(n) || n->valuedouble != (double)r->jn)
        return bad_line(r, line, "evaluations are not numbered 0, 1, 2, ... in order");
    if (!cJSON_IsArray(xa) || cJSON_GetArraySize(xa) != r->nk)
        return bad_line(r, line, "an evaluation whose design has the wrong number of knobs");
    if (r->jn % 1024 == 0) {
        int64_t cap = r->jn + 1024;
        int *gx = realloc(r->jx, sizeof(int) * (size_t)(cap * r->nk));
        if (gx)
            r->jx = gx;
        td_design_eval *ge = realloc(r->jev, sizeof *ge * (size_t)cap);
        if (ge)
            r->jev = ge;
        if (!gx || !ge)
            return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", r->o->journal);
    }
    int *x = r->jx + r->jn * r->nk;
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, xa)
    {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
            it->valuedouble >= r->s->knobs[k].n_values || it->valuedouble != floor(it->valuedouble))
            return bad_line(r, line, "a design choice outside its knob's values");
        x[k++] = (int)it->valuedouble;
    }
    td_design_eval *d = &r->jev[r->jn];
    TD_TRY(parse_metrics(r, cJSON_GetObjectItemCaseSensitive(o, "metrics"), d->metrics, line));
    TD_TRY(parse_metrics(r, cJSON_GetObjectItemCaseSensitive(o, "baseline"), d->baseline, line));
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "feasible");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "violation");
    if (!cJSON_IsBool(f) || !cJSON_IsNumber(v))
        return bad_line(r, line, "an evaluation without feasible/violation");
    d->feasible = cJSON_IsTrue(f);
    d->violation = v->valuedouble;
    r->jn++;
    return TD_OK;
}

/* Reads the journal; keeps the bytes up to the last complete evaluation (a partial last line
 * from a kill, and an end line, are cut off) and reopens it for appending. */
static td_status load_journal(run *r)
{
    char *buf;
    size_t len;
    TD_TRY(td_file_read(r->o->journal, (size_t)1 << 34, &buf, &len));
    size_t keep = 0, pos = 0;
    int64_t line = 0;
    td_status st = TD_OK;
    while (!st && pos < len) {
        char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl)
            break; /* partial last line: dropped */
        line++;
        *nl = 0;
        cJSON *o = cJSON_Parse(buf + pos);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
        if (!o)
            st = bad_line(r, line, "not a JSON object");
        else if (line == 1)
            st = check_header(r, o, line);
        else if (cJSON_IsString(t) && strcmp(t->valuestring, "eval") == 0)
            st = read_eval(r, o, line);
        else if (!cJSON_IsString(t) || strcmp(t->valuestring, "end") != 0)
            st = bad_line(r, line, "a line that is neither an evaluation nor the end");
        bool is_end = cJSON_IsString(t) && strcmp(t->valuestring, "end") == 0;
        cJSON_Delete(o);
        pos = (size_t)(nl - buf) + 1;
        if (!is_end)
            keep = pos;
    }
    free(buf);
    if (!st && line == 0)
        st = td_error_new(TD_CODE_BAD_DATA,
                          "%s: empty journal; start a new run instead of --resume", r->o->journal);
    if (!st && truncate(r->o->journal, (off_t)keep) != 0)
        st = td_error_new(TD_CODE_IO, "%s: cannot cut the journal back to its last evaluation",
                          r->o->journal);
    if (st)
        return st;
    r->jf = fopen(r->o->journal, "ab");
    if (!r->jf)
        return td_error_new(TD_CODE_IO, "%s: cannot open for appending", r->o->journal);
    return TD_OK;
}

static td_status open_journal(run *r)
{
    if (!r->o->journal || !r->o->journal[0])
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "explore: a journal path is required");
    if (r->o->resume)
        return load_journal(r);
    FILE *f = fopen(r->o->journal, "rb");
    if (f) {
        int c = fgetc(f);
        fclose(f);
        if (c != EOF)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "%s: a journal exists there; continue it with --resume or choose "
                                "another path (nothing was changed)",
                                r->o->journal);
    }
    r->jf = fopen(r->o->journal, "wb");
    if (!r->jf)
        return td_error_new(TD_CODE_IO, "%s: cannot create the journal", r->o->journal);
    return write_header(r);
}

/* ---- objectives and hypervolume ---- */

static double objective(const td_objective *ob, const double *m)
{
    double v = m[ob->metric];
    return ob->maximize ? -v : v;
}

/* Reference per objective: the spec's `ref`, else the limit on that side, else (minimized
 * metrics) 1.1 x the worst value of the first batch, (accuracy) 0. */
static void set_refs(run *r)
{
    const td_space *s = r->s;
    for (int i = 0; i < s->n_obj; i++) {
        const td_objective *ob = &s->obj[i];
        double ref = ob->ref;
        for (int l = 0; isnan(ref) && l < s->n_limits; l++)
            if (s->limits[l].metric == ob->metric && s->limits[l].is_max != ob->maximize)
                ref = s->limits[l].value;
        if (isnan(ref) && ob->maximize)
            ref = ob->metric == TD_METRIC_ACCURACY ? 0 : NAN;
        double worst = -INFINITY;
        for (int64_t k = 0; isnan(ref) && k < r->n; k++) {
            double v = objective(ob, r->ev[k].metrics);
            worst = isfinite(v) && v > worst ? v : worst;
        }
        if (isnan(ref))
            ref = ob->maximize ? -worst * 1.1 : (worst > 0 ? 1.1 * worst : 1);
        r->ref[i] = ref;
    }
    r->ref_set = true;
}

td_status td_explore_hypervolume(const td_space *s, int n, const td_design_eval *ev,
                                 const double *ref, double *out)
{
    int d = s->n_obj;
    double *pts = malloc(sizeof(double) * (size_t)(n * d + 1));
    if (!pts)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "hypervolume: out of memory");
    int m = 0;
    for (int k = 0; k < n; k++) {
        if (!ev[k].feasible)
            continue;
        bool ok = true;
        for (int i = 0; i < d; i++) {
            const td_objective *ob = &s->obj[i];
            double v = ev[k].metrics[ob->metric];
            /* scaled so that the ideal (0, or accuracy 1) is 0 and the reference 1 */
            double ideal = ob->maximize ? (ob->metric == TD_METRIC_ACCURACY ? 1 : 2 * ref[i]) : 0;
            double span = ob->maximize ? ideal - ref[i] : ref[i] - ideal;
            double f = ob->maximize ? (ideal - v) / span : (v - ideal) / span;
            ok &= isfinite(f) && span > 0;
            pts[m * d + i] = f;
        }
        m += ok;
    }
    double ones[TD_METRIC_COUNT] = {1, 1, 1, 1, 1};
    td_status st = td_hypervolume(m, d, pts, ones, out);
    free(pts);
    return st;
}

/* ---- the loop ---- */

static td_status remember(run *r, const int *x, const td_design_eval *d)
{
    if (r->n == r->cap) {
        int64_t cap = r->cap ? 2 * r->cap : 1024;
        int *gx = realloc(r->x, sizeof(int) * (size_t)(cap * r->nk));
        if (gx)
            r->x = gx;
        td_design_eval *ge = realloc(r->ev, sizeof *ge * (size_t)cap);
        if (ge)
            r->ev = ge;
        if (!gx || !ge)
            return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
        r->cap = cap;
    }
    memcpy(r->x + r->n * r->nk, x, sizeof(int) * (size_t)r->nk);
    r->ev[r->n++] = *d;
    r->feasible += d->feasible;
    return TD_OK;
}

static void progress(run *r, int64_t budget, bool last)
{
    if (!r->o->progress)
        return;
    double hv = 0;
    if (r->ref_set) {
        td_status st = td_explore_hypervolume(r->s, (int)r->n, r->ev, r->ref, &hv);
        td_status_free(st);
    }
    /* a terminal gets one line redrawn; a log gets a line per tenth of the budget */
    bool tty = isatty(2);
    int tenth = budget > 0 ? (int)(10 * r->n / budget) : 10;
    if (!tty && !last && tenth == r->last_tenth)
        return;
    r->last_tenth = tenth;
    int width = 24, done = budget > 0 ? (int)(width * r->n / budget) : width;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < done ? '#' : '-';
    bar[width] = 0;
    fprintf(stderr, "%sexploring %lld designs [%s] %lld  feasible %lld  hypervolume %.4f  %.1f s",
            tty ? "\r" : "", (long long)budget, bar, (long long)r->n, (long long)r->feasible, hv,
            td_seconds() - r->t0);
    if (last || !tty)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Results of one asked batch: from the journal where it has them, evaluated otherwise. */
static td_status answer(run *r, int k, const int *xi, td_design_eval *out)
{
    int from_journal = 0;
    for (int i = 0; i < k && r->n + i < r->jn; i++) {
        if (memcmp(r->jx + (r->n + i) * r->nk, xi + i * r->nk, sizeof(int) * (size_t)r->nk))
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s: evaluation %lld is not the design this search asks for: the "
                                "journal comes from another search",
                                r->o->journal, (long long)(r->n + i));
        out[i] = r->jev[r->n + i];
        from_journal++;
    }
    int todo = k - from_journal;
    if (todo == 0)
        return TD_OK;
    const int *xt = xi + from_journal * r->nk;
    td_design_eval *ot = out + from_journal;
    if (r->mode == MODE_ASK) { /* hand the designs out instead of evaluating them */
        r->pending = malloc(sizeof(int) * (size_t)(todo * r->nk));
        if (!r->pending)
            return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
        memcpy(r->pending, xt, sizeof(int) * (size_t)(todo * r->nk));
        r->n_pending = todo;
        r->stop = true;
        return TD_OK;
    }
    if (r->mode == MODE_TELL) { /* take the results evaluated elsewhere, in order */
        int left = r->n_given - r->used_given, take = left < todo ? left : todo;
        for (int i = 0; i < take; i++) {
            if (memcmp(r->given_x + (r->used_given + i) * r->nk, xt + i * r->nk,
                       sizeof(int) * (size_t)r->nk))
                return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                    "%s: result for design %lld does not match the design the "
                                    "search asked for (results of another ask?)",
                                    r->o->journal, (long long)(r->n + from_journal + i));
            ot[i] = r->given[r->used_given + i];
            TD_TRY(write_eval(r, r->n + from_journal + i, xt + i * r->nk, ot + i));
        }
        r->used_given += take;
        r->stop = take < todo; /* the batch is not complete yet: the optimizer waits */
        return TD_OK;
    }
    TD_TRY(r->o->eval ? r->o->eval(r->o->eval_user, todo, xt, ot)
                      : td_explorer_eval(r->e, todo, xt, ot));
    for (int i = 0; i < todo; i++)
        TD_TRY(write_eval(r, r->n + from_journal + i, xt + i * r->nk, ot + i));
    return TD_OK;
}

static td_status search(run *r, td_moo *m, td_explore_result *res)
{
    const td_space *s = r->s;
    int cap = r->o->search.algo == TD_MOO_NSGA2 ? r->o->search.pop_size : r->o->search.batch;
    cap = cap > 0 ? cap : 100;
    double *xd = malloc(sizeof(double) * (size_t)(cap * r->nk));
    int *xi = malloc(sizeof(int) * (size_t)(cap * r->nk));
    td_design_eval *ev = malloc(sizeof *ev * (size_t)cap);
    double *f = malloc(sizeof(double) * (size_t)(cap * s->n_obj)),
           *g = malloc(sizeof(double) * (size_t)cap);
    td_status st = xd && xi && ev && f && g
                       ? TD_OK
                       : td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    int k;
    while (!st && (k = td_moo_ask(m, xd, cap)) > 0) {
        for (int i = 0; i < k * r->nk; i++)
            xi[i] = (int)lround(xd[i]);
        st = answer(r, k, xi, ev);
        if (r->stop)
            break;
        for (int i = 0; !st && i < k; i++) {
            st = remember(r, xi + i * r->nk, &ev[i]);
            for (int j = 0; j < s->n_obj; j++) {
                double v = objective(&s->obj[j], ev[i].metrics);
                f[i * s->n_obj + j] = isfinite(v) ? v : 1e300;
            }
            g[i] = ev[i].violation;
        }
        if (!st)
            st = td_moo_tell(m, k, xd, f, g);
        if (!r->ref_set)
            set_refs(r);
        progress(r, r->o->search.max_evals, false);
    }
    if (isatty(2) || r->last_tenth < 10)
        progress(r, r->o->search.max_evals, true);
    free(xd);
    free(xi);
    free(ev);
    free(f);
    free(g);
    res->resumed = r->jn < r->n ? r->jn : r->n;
    return st;
}

static int cmp_first(const void *a, const void *b, void *ctx)
{
    const run *r = ctx;
    const td_objective *ob = &r->s->obj[0];
    double va = objective(ob, r->ev[*(const int64_t *)a].metrics);
    double vb = objective(ob, r->ev[*(const int64_t *)b].metrics);
    return va < vb ? -1 : va > vb;
}

static td_status finish(run *r, td_explore_result *res)
{
    const td_space *s = r->s;
    int d = s->n_obj;
    res->evals = r->n;
    res->feasible = r->feasible;
    for (int i = 0; i < d; i++)
        res->ref[i] = r->ref[i];
    TD_TRY(td_explore_hypervolume(s, (int)r->n, r->ev, r->ref, &res->hypervolume));
    double *fv = malloc(sizeof(double) * (size_t)(r->n * d + 1));
    double *viol = malloc(sizeof(double) * (size_t)(r->n + 1));
    int *idx = malloc(sizeof(int) * (size_t)(r->n + 1));
    if (!fv || !viol || !idx) {
        free(fv);
        free(viol);
        free(idx);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    }
    for (int64_t k = 0; k < r->n; k++) {
        for (int i = 0; i < d; i++)
            fv[k * d + i] = objective(&s->obj[i], r->ev[k].metrics);
        viol[k] = r->ev[k].feasible ? 0 : (r->ev[k].violation > 0 ? r->ev[k].violation : 1);
    }
    int nf = td_pareto_front((int)r->n, d, fv, viol, idx);
    res->front = malloc(sizeof(int64_t) * (size_t)(nf + 1));
    res->front_x = malloc(sizeof(int) * (size_t)(nf * r->nk + 1));
    res->front_eval = malloc(sizeof(td_design_eval) * (size_t)(nf + 1));
    td_status st = res->front && res->front_x && res->front_eval
                       ? TD_OK
                       : td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    for (int i = 0; !st && i < nf; i++)
        res->front[i] = idx[i];
    if (!st)
        qsort_r(res->front, (size_t)nf, sizeof(int64_t), cmp_first, r);
    for (int i = 0; !st && i < nf; i++) {
        memcpy(res->front_x + i * r->nk, r->x + res->front[i] * r->nk, sizeof(int) * (size_t)r->nk);
        res->front_eval[i] = r->ev[res->front[i]];
    }
    res->n_front = st ? 0 : nf;
    /* nothing feasible: the closest designs by violation */
    for (int64_t k = 0; !st && nf == 0 && k < r->n; k++) {
        int pos = res->n_closest < 5 ? res->n_closest++ : 5;
        while (pos > 0 && r->ev[res->closest[pos - 1]].violation > r->ev[k].violation) {
            if (pos < 5)
                res->closest[pos] = res->closest[pos - 1];
            pos--;
        }
        if (pos < 5)
            res->closest[pos] = k;
    }
    for (int i = 0; i < res->n_closest; i++) {
        memcpy(res->closest_x + i * r->nk, r->x + res->closest[i] * r->nk,
               sizeof(int) * (size_t)r->nk);
        res->closest_eval[i] = r->ev[res->closest[i]];
    }
    free(fv);
    free(viol);
    free(idx);
    if (st)
        return st;
    res->seconds = td_seconds() - r->t0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "end");
    cJSON_AddNumberToObject(o, "evals", (double)r->n);
    cJSON_AddNumberToObject(o, "feasible", (double)r->feasible);
    cJSON_AddNumberToObject(o, "hypervolume", res->hypervolume);
    cJSON *ref = cJSON_AddObjectToObject(o, "ref");
    for (int i = 0; i < d; i++)
        cJSON_AddNumberToObject(ref, td_metric_name(s->obj[i].metric), r->ref[i]);
    cJSON *fr = cJSON_AddArrayToObject(o, "front");
    for (int i = 0; i < res->n_front; i++)
        cJSON_AddItemToArray(fr, cJSON_CreateNumber((double)res->front[i]));
    cJSON_AddNumberToObject(o, "seconds", res->seconds);
    return write_line(r, o);
}

static td_status drive(run *r, td_explore_result *out)
{
    const td_space *s = r->s;
    double lo[TD_SPACE_MAX_KNOBS], hi[TD_SPACE_MAX_KNOBS];
    bool integer[TD_SPACE_MAX_KNOBS];
    for (int k = 0; k < s->n_knobs; k++) {
        lo[k] = 0;
        hi[k] = s->knobs[k].n_values - 1;
        integer[k] = true;
    }
    td_moo_space box = {s->n_knobs, s->n_obj, 1, lo, hi, integer};
    td_moo *m = NULL;
    td_status st = open_journal(r);
    if (!st)
        st = td_moo_new(&box, &r->o->search, &m);
    if (!st)
        st = search(r, m, out);
    if (!st && !r->stop)
        st = finish(r, out);
    td_moo_free(m);
    if (r->jf && fclose(r->jf) != 0 && !st)
        st = td_error_new(TD_CODE_IO, "%s: cannot close the journal", r->o->journal);
    free(r->x);
    free(r->ev);
    free(r->jx);
    free(r->jev);
    if (st)
        td_explore_result_free(out);
    return st;
}

td_status td_explore_run(const td_space *s, td_explorer *e, const td_explore_options *o,
                         td_explore_result *out)
{
    memset(out, 0, sizeof *out);
    run r = {.s = s, .e = e, .o = o, .nk = s->n_knobs, .t0 = td_seconds()};
    return drive(&r, out);
}

/* ask and tell open the journal whether or not it exists yet: they continue it. */
static td_explore_options continuing(const td_explore_options *o)
{
    td_explore_options c = *o;
    FILE *f = fopen(o->journal ? o->journal : "", "rb");
    c.resume = f && fgetc(f) != EOF;
    if (f)
        fclose(f);
    c.progress = false;
    return c;
}

td_status td_explore_ask(const td_space *s, const td_explore_options *o, int **x, int *n)
{
    *x = NULL;
    *n = 0;
    td_explore_options c = continuing(o);
    td_explore_result res;
    memset(&res, 0, sizeof res);
    run r = {.s = s, .o = &c, .nk = s->n_knobs, .t0 = td_seconds(), .mode = MODE_ASK};
    TD_TRY(drive(&r, &res));
    td_explore_result_free(&res);
    *x = r.pending;
    *n = r.n_pending;
    return TD_OK;
}

td_status td_explore_tell(const td_space *s, td_explorer *e, const td_explore_options *o, int n,
                          const int *x, const td_design_eval *ev, bool *complete)
{
    td_explore_options c = continuing(o);
    if (!c.resume)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s: no journal to tell results to (ask "
                            "first)",
                            o->journal ? o->journal : "(none)");
    td_explore_result res;
    memset(&res, 0, sizeof res);
    run r = {.s = s,
             .e = e,
             .o = &c,
             .nk = s->n_knobs,
             .t0 = td_seconds(),
             .mode = MODE_TELL,
             .given_x = x,
             .given = ev,
             .n_given = n};
    TD_TRY(drive(&r, &res));
    td_explore_result_free(&res);
    *complete = !r.stop;
    if (r.used_given < n)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s: %d of the %d results were not asked for by the search (told "
                            "twice, or from a later ask?); the first %d were recorded",
                            o->journal, n - r.used_given, n, r.used_given);
    return TD_OK;
}

void td_explore_result_free(td_explore_result *r)
{
    free(r->front);
    free(r->front_x);
    free(r->front_eval);
    r->front = NULL;
    r->front_x = NULL;
    r->front_eval = NULL;
    r->n_front = 0;
}
