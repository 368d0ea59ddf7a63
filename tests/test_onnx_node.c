/* The ONNX backend node tests (libonnx-testdata): every case whose model loads and prepares is
 * run and its outputs compared with ONNX's reference outputs (floats with rtol 1e-3, atol 1e-5
 * as ONNX's backend runner does; integers and bools exactly; NaN equals NaN).
 *
 * A case is "unsupported" when loading or preparing says TD_CODE_UNSUPPORTED (unknown operator,
 * attribute or element type); it is counted apart and never as a pass. Any other failure fails
 * this test unless the case is listed in tests/onnx_node_expected_failures.txt with a reason.
 *
 * Each case runs in a forked child, so a crash or a hang in one operator is reported as that
 * case's failure instead of ending the run. The parent never runs OpenMP code (forking after
 * OpenMP threads exist is unsafe).
 *
 * A second suite, tests/fixtures/ort_ops (written by tools/gen_ort_op_fixtures.py), holds the
 * same layout with onnxruntime's outputs for every operator Tandem supports. Its tolerances are
 * per case, from ort_ops/TOLERANCES.txt, and every case must pass: a failing or unsupported
 * case there fails this test (these are operators we claim), and there is no expected-failure
 * list for it.
 *
 * Environment: TD_ONNX_NODE_DIR overrides the official data folder; TD_ONNX_NODE_FILTER runs
 * only cases (of both suites) whose name contains it; TD_ONNX_NODE_VERBOSE=1 also lists
 * unsupported cases and passes; TD_REQUIRE_ONNX_TESTDATA=1 makes a missing official data folder
 * a failure instead of a skip. */
#include <dirent.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tandem/graph.h"
#include "tandem/onnx.h"
#include "td_test.h"

#define DEFAULT_DIR "/usr/share/libonnx-testdata/data/node"
#define EXPECTED_FILE TD_FIXTURE_DIR "/../onnx_node_expected_failures.txt"
#define ORT_DIR TD_FIXTURE_DIR "/ort_ops"
#define ORT_TOL_FILE ORT_DIR "/TOLERANCES.txt"
#define CASE_SECONDS 60
#define MSG_CAP 1024

enum { R_PASS = 0, R_FAIL, R_UNSUPPORTED };

/* Float outputs pass when |got - want| <= atol + rtol * |want|. */
typedef struct tolerance {
    double rtol, atol;
} tolerance;

/* ONNX's backend runner's tolerance, used for the official suite. */
static const tolerance ONNX_TOL = {1e-3, 1e-5};

typedef struct result {
    int kind;
    char msg[MSG_CAP];
} result;

static int set_result(result *r, int kind, td_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records the outcome; consumes st. */
static int set_result(result *r, int kind, td_status st, const char *fmt, ...)
{
    char head[MSG_CAP / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    r->kind = kind;
    if (st)
        snprintf(r->msg, sizeof r->msg, "%s: %s", head, td_status_message(st));
    else
        snprintf(r->msg, sizeof r->msg, "%s", head);
    td_status_free(st);
    return kind;
}

static double elem(const td_view *v, int64_t i)
{
    switch (v->dtype) {
    case TD_DT_F32:
        return ((const float *)v->data)[i];
    case TD_DT_F64:
        return ((const double *)v->data)[i];
    case TD_DT_F16:
        return td_f16_to_f32(((const uint16_t *)v->data)[i]);
    case TD_DT_BF16:
        return td_bf16_to_f32(((const uint16_t *)v->data)[i]);
    default:
        return 0;
    }
}

static int64_t ielem(const td_view *v, int64_t i)
{
    switch (v->dtype) {
    case TD_DT_I64:
        return ((const int64_t *)v->data)[i];
    case TD_DT_I32:
        return ((const int32_t *)v->data)[i];
    case TD_DT_I16:
        return ((const int16_t *)v->data)[i];
    case TD_DT_I8:
        return ((const int8_t *)v->data)[i];
    default:
        return ((const uint8_t *)v->data)[i]; /* u8, bool */
    }
}

static bool is_float(td_dtype dt)
{
    return dt == TD_DT_F32 || dt == TD_DT_F64 || dt == TD_DT_F16 || dt == TD_DT_BF16;
}

static void shape_str(const td_view *v, char *buf, size_t cap)
{
    int o = snprintf(buf, cap, "%s[", td_dtype_name(v->dtype));
    for (int d = 0; d < v->ndim && o < (int)cap; d++)
        o += snprintf(buf + o, cap - (size_t)o, d ? ",%lld" : "%lld", (long long)v->shape[d]);
    if (o < (int)cap)
        snprintf(buf + o, cap - (size_t)o, "]");
}

/* Compares one output; fills r and returns R_FAIL on a mismatch. */
static int compare(const char *name, const td_view *got, const td_view *want, tolerance tol,
                   result *r)
{
    bool same = got->dtype == want->dtype && got->ndim == want->ndim;
    for (int d = 0; same && d < got->ndim; d++)
        same = got->shape[d] == want->shape[d];
    if (!same) {
        char a[200], b[200];
        shape_str(got, a, sizeof a);
        shape_str(want, b, sizeof b);
        return set_result(r, R_FAIL, NULL, "output '%s': got %s, expected %s", name, a, b);
    }
    int64_t n = td_view_numel(got);
    for (int64_t i = 0; i < n; i++) {
        if (is_float(got->dtype)) {
            double x = elem(got, i), y = elem(want, i);
            if (isnan(x) && isnan(y))
                continue;
            if (x == y || fabs(x - y) <= tol.atol + tol.rtol * fabs(y))
                continue;
            return set_result(r, R_FAIL, NULL, "output '%s'[%lld]: got %.9g, expected %.9g", name,
                              (long long)i, x, y);
        }
        if (ielem(got, i) != ielem(want, i))
            return set_result(r, R_FAIL, NULL, "output '%s'[%lld]: got %lld, expected %lld", name,
                              (long long)i, (long long)ielem(got, i), (long long)ielem(want, i));
    }
    return R_PASS;
}

typedef struct tensors {
    td_view v[64];
    int n;
} tensors;

static void tensors_free(tensors *t)
{
    for (int i = 0; i < t->n; i++)
        td_free(t->v[i].data);
    t->n = 0;
}

/* Reads prefix_0.pb, prefix_1.pb... until one is missing. */
static td_status read_tensors(const char *dir, const char *prefix, tensors *t)
{
    t->n = 0;
    for (int i = 0; i < 64; i++) {
        char path[1200];
        if (snprintf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, i) >= (int)sizeof path)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: path too long", dir);
        if (access(path, F_OK) != 0)
            return TD_OK;
        TD_TRY(td_onnx_load_tensor(path, &t->v[t->n]));
        t->n++;
    }
    return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: more than 64 %s files", dir, prefix);
}

static td_code code_of(td_status st)
{
    return td_status_code(st);
}

/* Binds the inputs, prepares, runs and compares. The graph is loaded fresh because prepare
 * fixes shapes and may turn shape-carrying inputs into constants. */
static int run_data_set(const char *model, const char *dir, tolerance tol, result *r)
{
    tensors in = {0}, want = {0};
    td_graph *g = NULL;
    td_session *s = NULL;
    td_status st = td_onnx_load(model, &g);
    int kind = R_PASS;
    if (st)
        kind =
            set_result(r, code_of(st) == TD_CODE_UNSUPPORTED ? R_UNSUPPORTED : R_FAIL, st, "load");
    /* Test data of a type Tandem has no dtype for (strings; bfloat16 stored as uint16) makes
     * the case unsupported. */
    if (kind == R_PASS && (st = read_tensors(dir, "input", &in)) != TD_OK)
        kind = set_result(r, code_of(st) == TD_CODE_UNSUPPORTED ? R_UNSUPPORTED : R_FAIL, st,
                          "reading inputs");
    if (kind == R_PASS && (st = read_tensors(dir, "output", &want)) != TD_OK)
        kind = set_result(r, code_of(st) == TD_CODE_UNSUPPORTED ? R_UNSUPPORTED : R_FAIL, st,
                          "reading expected outputs");
    if (kind == R_PASS && (in.n != g->n_inputs || want.n != g->n_outputs))
        kind = set_result(r, R_FAIL, NULL, "%d input / %d output files for %d inputs / %d outputs",
                          in.n, want.n, g->n_inputs, g->n_outputs);
    for (int i = 0; kind == R_PASS && i < in.n; i++) {
        const td_value *v = &g->values[g->inputs[i]];
        const td_view *x = &in.v[i];
        bool shape_carrier = x->dtype == TD_DT_I64 || x->dtype == TD_DT_I32;
        st = shape_carrier ? td_graph_set_input_data(g, v->name, x)
                           : td_graph_set_input_shape(g, v->name, x->ndim, x->shape);
        if (st)
            kind = set_result(r, R_FAIL, st, "binding input %d", i);
    }
    if (kind == R_PASS && (st = td_graph_prepare(g)) != TD_OK)
        kind = set_result(r, code_of(st) == TD_CODE_UNSUPPORTED ? R_UNSUPPORTED : R_FAIL, st,
                          "prepare");
    td_ctx ctx = td_ctx_default();
    td_status_free(td_ctx_set_threads(&ctx, 2));
    if (kind == R_PASS && (st = td_session_new(g, &ctx, &s)) != TD_OK)
        kind = set_result(r, R_FAIL, st, "session");
    for (int i = 0; kind == R_PASS && i < in.n; i++)
        if ((st = td_session_set_input(s, g->values[g->inputs[i]].name, &in.v[i])) != TD_OK)
            kind = set_result(r, R_FAIL, st, "set input %d", i);
    if (kind == R_PASS && (st = td_session_run(s)) != TD_OK)
        kind = set_result(r, R_FAIL, st, "run");
    for (int i = 0; kind == R_PASS && i < want.n; i++) {
        const char *name = g->values[g->outputs[i]].name;
        td_view got;
        if ((st = td_session_get(s, name, &got)) != TD_OK)
            kind = set_result(r, R_FAIL, st, "get output '%s'", name);
        else
            kind = compare(name, &got, &want.v[i], tol, r);
    }
    td_session_free(s);
    td_graph_free(g);
    tensors_free(&in);
    tensors_free(&want);
    return kind;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in `dir` starting with `prefix` (subfolders only when dirs_only), sorted. */
static int list_dir(const char *dir, const char *prefix, bool dirs_only, char ***out)
{
    DIR *d = opendir(dir);
    *out = NULL;
    if (!d)
        return -1;
    int n = 0, cap = 0;
    char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || e->d_name[0] == '.')
            continue;
        if (dirs_only && e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, (size_t)cap * sizeof *names);
            if (!names)
                abort();
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    return n;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The work of one case, in the child. */
static void run_case(const char *root, const char *name, tolerance tol, result *r)
{
    char model[1100], dir[1100];
    snprintf(model, sizeof model, "%s/%s/model.onnx", root, name);
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    char **sets;
    int n = list_dir(dir, "test_data_set_", true, &sets);
    r->kind = R_PASS;
    snprintf(r->msg, sizeof r->msg, "ok");
    if (n <= 0) {
        /* No data: whether the model loads is all that can be checked. */
        td_graph *g = NULL;
        td_status st = td_onnx_load(model, &g);
        td_graph_free(g);
        if (st)
            set_result(r, code_of(st) == TD_CODE_UNSUPPORTED ? R_UNSUPPORTED : R_FAIL, st, "load");
    }
    for (int i = 0; i < n && r->kind == R_PASS; i++) {
        char set_dir[1300];
        snprintf(set_dir, sizeof set_dir, "%s/%s", dir, sets[i]);
        if (run_data_set(model, set_dir, tol, r) == R_FAIL) {
            char tmp[MSG_CAP];
            if (snprintf(tmp, sizeof tmp, "%s: %s", sets[i], r->msg) > 0)
                memcpy(r->msg, tmp, sizeof tmp);
        }
    }
    free_list(sets, n);
}

/* Forks, runs the case in the child, reads its result through a pipe. */
static void run_isolated(const char *root, const char *name, tolerance tol, result *r)
{
    int fd[2];
    if (pipe(fd) != 0)
        abort();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        alarm(CASE_SECONDS);
        result cr;
        run_case(root, name, tol, &cr);
        ssize_t w = write(fd[1], &cr, sizeof cr);
        _exit(w == (ssize_t)sizeof cr ? 0 : 3);
    }
    close(fd[1]);
    memset(r, 0, sizeof *r);
    size_t got = 0;
    while (pid > 0 && got < sizeof *r) {
        ssize_t k = read(fd[0], (char *)r + got, sizeof *r - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd[0]);
    int status = 0;
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (pid < 0)
        set_result(r, R_FAIL, NULL, "fork failed");
    else if (WIFSIGNALED(status))
        set_result(r, R_FAIL, NULL, "crashed with signal %d%s", WTERMSIG(status),
                   WTERMSIG(status) == SIGALRM ? " (timed out)" : "");
    else if (got != sizeof *r)
        set_result(r, R_FAIL, NULL, "child exited with status %d without a result",
                   WEXITSTATUS(status));
    r->msg[MSG_CAP - 1] = 0;
}

/* The expected-failure list: one case name per line, '#' starts a comment. */
static int read_expected(char ***out)
{
    FILE *fp = fopen(EXPECTED_FILE, "r");
    *out = NULL;
    if (!fp)
        return 0;
    char line[512];
    int n = 0;
    char **names = NULL;
    while (fgets(line, sizeof line, fp)) {
        char *h = strchr(line, '#');
        if (h)
            *h = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, " \t\r\n");
        if (!len)
            continue;
        p[len] = 0;
        names = realloc(names, (size_t)(n + 1) * sizeof *names);
        if (!names)
            abort();
        names[n++] = strdup(p);
    }
    fclose(fp);
    *out = names;
    return n;
}

static bool listed(char **names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* Runs the official suite; returns the number of failures not listed as expected. A missing
 * data folder is a skip, or a failure (1) under TD_REQUIRE_ONNX_TESTDATA=1. */
static int run_official(const char *filter, bool verbose)
{
    const char *root = getenv("TD_ONNX_NODE_DIR") ? getenv("TD_ONNX_NODE_DIR") : DEFAULT_DIR;
    char **cases;
    int n_cases = list_dir(root, "test_", true, &cases);
    if (n_cases <= 0) {
        const char *req = getenv("TD_REQUIRE_ONNX_TESTDATA");
        bool required = req && strcmp(req, "1") == 0;
        printf("onnx node tests: no cases in %s (install libonnx-testdata)%s\n", root,
               required ? "; TD_REQUIRE_ONNX_TESTDATA=1, so this fails" : ", skipped");
        free_list(cases, n_cases > 0 ? n_cases : 0);
        return required ? 1 : 0;
    }
    char **expected;
    int n_expected = read_expected(&expected);
    int pass = 0, fail = 0, xfail = 0, unsup = 0, total = 0;
    char *report = NULL;
    size_t report_len = 0;
    FILE *rep = open_memstream(&report, &report_len);
    for (int i = 0; i < n_cases; i++) {
        if (filter && !strstr(cases[i], filter))
            continue;
        total++;
        result r;
        run_isolated(root, cases[i], ONNX_TOL, &r);
        bool xf = listed(expected, n_expected, cases[i]);
        if (r.kind == R_PASS) {
            pass++;
            if (xf)
                fprintf(rep, "  XPASS %s: listed as an expected failure but passes; remove it\n",
                        cases[i]);
            else if (verbose)
                fprintf(rep, "  pass  %s\n", cases[i]);
        } else if (r.kind == R_UNSUPPORTED) {
            unsup++;
            if (verbose)
                fprintf(rep, "  unsup %s: %s\n", cases[i], r.msg);
        } else {
            fail++;
            xfail += xf;
            fprintf(rep, "  %s %s: %s\n", xf ? "XFAIL" : "FAIL ", cases[i], r.msg);
        }
    }
    fclose(rep);
    printf("onnx node tests: %d passed, %d failed, %d unsupported of %d\n", pass, fail, unsup,
           total);
    printf("  (%d of the failures are listed in tests/onnx_node_expected_failures.txt)\n", xfail);
    if (report_len)
        fputs(report, stdout);
    free(report);
    free_list(cases, n_cases);
    free_list(expected, n_expected);
    return fail - xfail;
}

typedef struct tol_table {
    char **names;
    tolerance *tol;
    int n;
    tolerance fallback;
} tol_table;

/* TOLERANCES.txt: "<case> <rtol> <atol>" per line, '#' starts a comment, the case "default"
 * applies to cases not listed. Returns false (and says why) on a missing file or bad line. */
static bool read_tolerances(tol_table *t)
{
    *t = (tol_table){.fallback = {1e-4, 1e-5}};
    FILE *fp = fopen(ORT_TOL_FILE, "r");
    if (!fp) {
        printf("  %s: cannot open\n", ORT_TOL_FILE);
        return false;
    }
    char line[512];
    bool ok = true;
    for (int lineno = 1; fgets(line, sizeof line, fp); lineno++) {
        char *h = strchr(line, '#');
        if (h)
            *h = 0;
        char name[256];
        tolerance tol;
        char extra;
        int got = sscanf(line, "%255s %lf %lf %c", name, &tol.rtol, &tol.atol, &extra);
        if (got <= 0)
            continue;
        if (got != 3 || !(tol.rtol >= 0) || !(tol.atol >= 0)) {
            printf("  %s:%d: expected '<case> <rtol> <atol>'\n", ORT_TOL_FILE, lineno);
            ok = false;
            continue;
        }
        if (strcmp(name, "default") == 0) {
            t->fallback = tol;
            continue;
        }
        t->names = realloc(t->names, (size_t)(t->n + 1) * sizeof *t->names);
        t->tol = realloc(t->tol, (size_t)(t->n + 1) * sizeof *t->tol);
        if (!t->names || !t->tol)
            abort();
        t->names[t->n] = strdup(name);
        t->tol[t->n++] = tol;
    }
    fclose(fp);
    return ok;
}

static tolerance tol_for(const tol_table *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->names[i], name) == 0)
            return t->tol[i];
    return t->fallback;
}

/* Runs the onnxruntime fixtures; returns the number of cases that did not pass (a missing
 * folder or tolerance file counts as one). */
static int run_ort_fixtures(const char *filter, bool verbose)
{
    char **cases;
    int n_cases = list_dir(ORT_DIR, "", true, &cases);
    tol_table tt;
    bool tol_ok = read_tolerances(&tt);
    int pass = 0, fail = 0, unsup = 0, total = 0;
    char *report = NULL;
    size_t report_len = 0;
    FILE *rep = open_memstream(&report, &report_len);
    for (int i = 0; i < n_cases; i++) {
        if (filter && !strstr(cases[i], filter))
            continue;
        total++;
        result r;
        run_isolated(ORT_DIR, cases[i], tol_for(&tt, cases[i]), &r);
        if (r.kind == R_PASS) {
            pass++;
            if (verbose)
                fprintf(rep, "  pass  %s\n", cases[i]);
        } else {
            /* Unsupported is a failure here: these cases exercise operators we claim. */
            *(r.kind == R_UNSUPPORTED ? &unsup : &fail) += 1;
            fprintf(rep, "  %s %s: %s\n", r.kind == R_UNSUPPORTED ? "UNSUP" : "FAIL ", cases[i],
                    r.msg);
        }
    }
    fclose(rep);
    printf("onnxruntime op fixtures: %d passed, %d failed, %d unsupported of %d\n", pass, fail,
           unsup, total);
    if (n_cases <= 0)
        printf("  no cases in %s (run tools/gen_ort_op_fixtures.py)\n", ORT_DIR);
    if (report_len)
        fputs(report, stdout);
    free(report);
    free_list(cases, n_cases > 0 ? n_cases : 0);
    free_list(tt.names, tt.n);
    free(tt.tol);
    return fail + unsup + (n_cases <= 0) + !tol_ok;
}

int main(void)
{
    const char *filter = getenv("TD_ONNX_NODE_FILTER");
    bool verbose = getenv("TD_ONNX_NODE_VERBOSE") && atoi(getenv("TD_ONNX_NODE_VERBOSE"));
    int official_bad = run_official(filter, verbose);
    TD_CHECK(official_bad == 0, "%d node-test cases failed that are not expected failures",
             official_bad);
    int ort_bad = run_ort_fixtures(filter, verbose);
    TD_CHECK(ort_bad == 0, "%d onnxruntime op fixtures failed or are unsupported", ort_bad);
    return td_test_finish("test_onnx_node");
}
