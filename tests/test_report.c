/* tandem report: pages built from hand-made journals (tests/fixtures/explore) hold exactly the
 * expected Pareto rows, plots, comparisons and limits, escape journal text, stay free of scripts
 * and addresses; broken journals give errors naming file and line and leave no output. */
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "explore/report_internal.h"
#include "explore/report_journal.h"
#include "td_test.h"
#include "tandem/explore.h"

#define FIX TD_FIXTURE_DIR "/explore/"

static char tmpdir[64];

static void out_path(const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", tmpdir, name);
}

static char *read_text(const char *path)
{
    char *text = NULL;
    size_t len;
    td_status st = td_file_read(path, (size_t)64 << 20, &text, &len);
    TD_CHECK(st == NULL, "read %s: %s", path, td_status_message(st));
    td_status_free(st);
    return text;
}

/* Builds the report of a fixture and returns the page (NULL on failure). */
static char *report_of(const char *fixture)
{
    char journal[512], html[512];
    snprintf(journal, sizeof journal, "%s%s", FIX, fixture);
    out_path("report.html", html, sizeof html);
    td_status st = td_report_write(journal, html);
    TD_CHECK(st == NULL, "%s: %s", fixture, td_status_message(st));
    td_status_free(st);
    return st ? NULL : read_text(html);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Points of the polyline starting at s. */
static int polyline_points(const char *s)
{
    const char *p = strchr(s, '"'), *end = p ? strchr(p + 1, '"') : NULL;
    int n = 1;
    for (; p && end && p < end; p++)
        n += *p == ' ';
    return n;
}

/* The table row of Pareto design n, as a string to free (NULL if absent). */
static char *row_text(const char *html, int n)
{
    char start[64];
    snprintf(start, sizeof start, "<tr class=\"front\"><td class=\"num\">%d</td>", n);
    const char *p = strstr(html, start), *end = p ? strstr(p, "</tr>") : NULL;
    if (!end)
        return NULL;
    char *row = malloc((size_t)(end - p) + 1);
    if (row) {
        memcpy(row, p, (size_t)(end - p));
        row[end - p] = 0;
    }
    return row;
}

static bool has(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

/* Position of the table row of design n (row class "front" or "closest"), or -1. */
static long row_at(const char *html, const char *cls, int n)
{
    char needle[96];
    snprintf(needle, sizeof needle, "<tr class=\"%s\"><td class=\"num\">%d</td>", cls, n);
    const char *p = strstr(html, needle);
    return p ? (long)(p - html) : -1;
}

static void check_rows(const char *html, const char *cls, const int *order, int n,
                       const int *absent, int n_absent)
{
    char needle[32];
    snprintf(needle, sizeof needle, "<tr class=\"%s\"", cls);
    TD_CHECK(count(html, needle) == n, "%d %s rows, expected %d", count(html, needle), cls, n);
    long prev = -1;
    for (int i = 0; i < n; i++) {
        long at = row_at(html, cls, order[i]);
        TD_CHECK(at > prev, "%s row n=%d missing or out of order", cls, order[i]);
        prev = at;
    }
    for (int i = 0; i < n_absent; i++)
        TD_CHECK(row_at(html, cls, absent[i]) < 0, "n=%d must not be a %s row", absent[i], cls);
}

/* Self-contained and inert: no addresses, scripts, event handlers or fonts to fetch. */
static void check_inert(const char *html, const char *what)
{
    const char *banned[] = {"http", "<script", "javascript:", "@import", "@font-face", "url(",
                            "<img", "<iframe", "<link",       "<object", "<embed",     "<base"};
    for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
        TD_CHECK(!has(html, banned[i]), "%s: page contains '%s'", what, banned[i]);
    TD_CHECK(!strncmp(html, "<!DOCTYPE html>", 15), "%s: not an HTML page", what);
    TD_CHECK(has(html, "</html>\n"), "%s: page does not end", what);
}

static void test_small(void)
{
    char *html = report_of("small.jsonl");
    if (!html)
        return;
    check_inert(html, "small");
    /* Pareto set (pymoo's non-dominated sort agrees): 3, 4, 7, 9, best accuracy first */
    const int front[] = {7, 9, 4, 3};
    const int others[] = {0, 1, 2, 5, 6, 8, 10, 11};
    check_rows(html, "front", front, 4, others, 8);
    TD_CHECK(count(html, "<tr class=\"closest\"") == 0, "closest rows with feasible designs");
    /* three plots: accuracy-latency, accuracy-energy, energy-latency */
    TD_CHECK(count(html, "<svg") == 3, "%d plots, expected 3", count(html, "<svg"));
    TD_CHECK(count(html, "<g class=\"front\">") == 3, "front marks per plot");
    /* in each plot the line joins the designs best in its two metrics: 3-9-7 for accuracy and
     * latency, 3-4-9-7 for accuracy and energy; design 3 alone beats all in energy and latency */
    TD_CHECK(count(html, "<polyline") == 2, "%d lines", count(html, "<polyline"));
    const char *line = strstr(html, "<polyline points=\"");
    TD_CHECK(line && polyline_points(line) == 3, "accuracy-latency line");
    line = line ? strstr(line + 1, "<polyline points=\"") : NULL;
    TD_CHECK(line && polyline_points(line) == 4, "accuracy-energy line");
    TD_CHECK(has(html, "accuracy (%), higher is better"), "y axis label");
    TD_CHECK(has(html, "latency (ms), lower is better"), "x axis label with unit");
    TD_CHECK(has(html, "energy (µJ), lower is better"), "energy unit");
    /* limits: latency on two plots, accuracy on two; one legend entry per plot */
    TD_CHECK(count(html, "<line class=\"limit\"") == 4 + 3, "%d limit lines",
             count(html, "<line class=\"limit\""));
    TD_CHECK(count(html, "latency ≤ 2 ms</text>") == 2, "latency limit labels");
    TD_CHECK(count(html, "accuracy ≥ 95.00%</text>") == 2, "accuracy limit labels");
    /* area <= 1.5 is on no axis: no line, but it is in the spec */
    TD_CHECK(!has(html, "area ≤ 1.5 mm²</text>"), "area limit drawn without an area axis");
    TD_CHECK(has(html, "area ≤ 1.5 mm²."), "spec line lists the area limit");
    /* every evaluation drawn in grey, feasible ones in blue, in each plot (no pixel shared) */
    TD_CHECK(has(html, "evaluated (12)") && has(html, "feasible (9)") && has(html, "Pareto (4)"),
             "legend counts");
    /* run facts */
    TD_CHECK(has(html, "<b>12 / 12</b>"), "evaluations / budget");
    TD_CHECK(has(html, "<b>0.4321</b><small>hypervolume"), "hypervolume from the end line");
    TD_CHECK(has(html, "algorithm <b>exhaustive</b> · seed <b>7</b>"), "algorithm and seed");
    TD_CHECK(has(html, "<code>examples/explore/mnist_small.yaml</code>"), "space file");
    TD_CHECK(!has(html, "stopped before the end"), "finished run called stopped");
    TD_CHECK(!has(html, "The end line lists"), "end line front agrees with the recomputed one");
    /* metrics (accuracy in percent) with the comparison with the uncompressed model on the
     * same hardware under each, then the knob values */
    char *row = row_text(html, 7);
    TD_CHECK(row && has(row, "<td class=\"num\">98.60<small class=\"worse\" title=\"uncompressed: "
                             "98.70%\">−0.1 pt</small></td>"),
             "accuracy of n 7: %s", row ? row : "(no row)");
    TD_CHECK(row && has(row, "<td class=\"num\">0.7<small class=\"better\" title=\"uncompressed: "
                             "1.45 ms\">×0.48</small></td>"),
             "latency of n 7");
    TD_CHECK(row && has(row, ">×0.54</small>") && has(row, ">×0.29</small>") &&
                 has(row, ">×1.00</small>"),
             "energy, peak memory and area of n 7");
    TD_CHECK(row && has(row, "</td><td>int8</td><td>none</td><td>16</td><td>64</td><td><a "
                             "href=\"#layers-7\">4 layers</a></td>"),
             "knobs of n 7");
    free(row);
    row = row_text(html, 3);
    TD_CHECK(row && has(row, ">−2.5 pt</small>") && has(row, ">×0.28</small>") &&
                 has(row, ">×0.25</small>") && has(row, ">×0.13</small>"),
             "comparisons of n 3");
    free(row);
    row = row_text(html, 4);
    TD_CHECK(row && has(row, ">−0.8 pt</small>") && has(row, ">×0.44</small>") &&
                 has(row, "<td>int8</td><td>2:4</td><td>16</td><td>128</td>"),
             "n 4");
    free(row);
    TD_CHECK(has(html, "Spec: accuracy ≥ 95.00%, latency ≤ 2 ms, area ≤ 1.5 mm²."), "spec line");
    /* per-layer choices: one details block per Pareto design */
    TD_CHECK(count(html, "<details") == 4, "%d details", count(html, "<details"));
    TD_CHECK(has(html, "<b>n 9</b> · 4 layers · int4:g32 ×2 · int8 ×2"), "format mix of n 9");
    TD_CHECK(has(html, "<td>fc2</td><td>int8</td><td>a8</td><td>2:4</td>"), "layer row");
    free(html);
}

static void test_stopped(void)
{
    char *html = report_of("stopped.jsonl");
    if (!html)
        return;
    check_inert(html, "stopped");
    TD_CHECK(has(html, "stopped before the end"), "a stopped run must say so");
    TD_CHECK(!has(html, "hypervolume"), "no hypervolume without an end line");
    const int front[] = {3, 4, 2}; /* latency first, smallest first */
    const int others[] = {1};
    check_rows(html, "front", front, 3, others, 1);
    TD_CHECK(count(html, "<svg") == 1, "%d plots, expected 1", count(html, "<svg"));
    TD_CHECK(has(html, "<b>4 / 100</b>"), "evaluations / budget");
    TD_CHECK(has(html, "latency ≤ 1 ms</text>"), "latency limit");
    free(html);
}

static void test_infeasible(void)
{
    char *html = report_of("infeasible.jsonl");
    if (!html)
        return;
    check_inert(html, "infeasible");
    TD_CHECK(has(html, "No feasible design"), "no feasible design must be said");
    /* smallest violations: 0.05 (n 4), 0.1 (1), 0.2 (6), 0.3 (2), 0.5 (0); n 7 says 0 but is
     * infeasible, so it counts as 1 */
    const int closest[] = {4, 1, 6, 2, 0};
    const int others[] = {3, 5, 7};
    check_rows(html, "closest", closest, 5, others, 3);
    TD_CHECK(count(html, "<tr class=\"front\"") == 0, "front rows without feasible designs");
    TD_CHECK(count(html, "<g class=\"closest\">") == 3, "closest designs marked in each plot");
    TD_CHECK(has(html, "<td class=\"num\">4</td><td class=\"num\">0.05</td>"), "violation shown");
    free(html);
}

static void test_injection(void)
{
    char *html = report_of("inject.jsonl");
    if (!html)
        return;
    check_inert(html, "inject");
    TD_CHECK(has(html, "<td>&lt;img src=x onerror=alert(1)&gt;</td>"), "knob value escaped");
    TD_CHECK(has(html, "<td>&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;</td>"),
             "layer name escaped");
    TD_CHECK(has(html, "<th>note&lt;i&gt;"), "knob name escaped");
    TD_CHECK(has(html, "<td>a&amp;b</td>"), "ampersand escaped");
    TD_CHECK(has(html, "&quot;evil&quot;&lt;b&gt;.onnx"), "model name escaped");
    TD_CHECK(!has(html, "<b>.onnx") && !has(html, "<i>"), "journal text became markup");
    const int front[] = {7, 3};
    check_rows(html, "front", front, 2, NULL, 0);
    free(html);
}

/* The first 12 evaluations of a real `tandem explore` run of examples/spaces/cnn_systolic.yaml
 * (cut before its end line): the report reads the producer's own format. */
static void test_explore_head(void)
{
    char *html = report_of("explore_head.jsonl");
    if (!html)
        return;
    check_inert(html, "explore_head");
    const int front[] = {2, 3, 0}; /* pymoo: non-dominated feasible set, best accuracy first */
    const int others[] = {1, 4, 5, 6, 7, 8, 9, 10, 11};
    check_rows(html, "front", front, 3, others, 9);
    TD_CHECK(count(html, "<svg") == 3, "%d plots", count(html, "<svg"));
    TD_CHECK(has(html, "stopped before the end"), "cut run called finished");
    TD_CHECK(has(html, "<th>model.<wbr>body.<wbr>weights<span class=\"kind\">algorithm</span>"),
             "knob header");
    char *row = row_text(html, 3);
    TD_CHECK(row && has(row, "<td class=\"num\">97.60<small"), "accuracy of n 3 in percent");
    TD_CHECK(row && has(row, "<td class=\"num\">0.01708<small"), "latency of n 3");
    free(row);
    free(html);
}

static bool leftovers(void)
{
    DIR *d = opendir(tmpdir);
    bool found = false;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        found = found || strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return found;
}

static void expect_file_error(const char *fixture, td_code code, const char *needle)
{
    char journal[512], html[512];
    snprintf(journal, sizeof journal, "%s%s", FIX, fixture);
    out_path("broken.html", html, sizeof html);
    unlink(html);
    TD_CHECK_ERROR(td_report_write(journal, html), code, needle);
    TD_CHECK(access(html, F_OK) != 0, "%s: output written despite the error", fixture);
    TD_CHECK(!leftovers(), "%s: temporary file left behind", fixture);
}

static void test_broken_files(void)
{
    expect_file_error("bad_truncated.jsonl", TD_CODE_BAD_DATA,
                      "bad_truncated.jsonl:4: malformed JSON");
    expect_file_error("bad_truncated.jsonl", TD_CODE_BAD_DATA, "cut short");
    expect_file_error("bad_header.jsonl", TD_CODE_BAD_DATA,
                      "bad_header.jsonl:1: the first line is not a journal header");
    expect_file_error("bad_nan.jsonl", TD_CODE_BAD_DATA, "bad_nan.jsonl:3: NaN or Inf");
    expect_file_error("missing.jsonl", TD_CODE_IO, "missing.jsonl: cannot open");

    /* an existing report survives a failed rewrite untouched */
    char journal[512], html[512];
    out_path("keep.html", html, sizeof html);
    FILE *f = fopen(html, "w");
    if (f) {
        fputs("old report\n", f);
        fclose(f);
    }
    snprintf(journal, sizeof journal, "%sbad_nan.jsonl", FIX);
    TD_CHECK_ERROR(td_report_write(journal, html), TD_CODE_BAD_DATA, "NaN");
    char *kept = read_text(html);
    TD_CHECK(kept && !strcmp(kept, "old report\n"), "failed report replaced the old one");
    free(kept);
    unlink(html);

    /* never overwrite the journal itself; refuse a folder that does not exist */
    snprintf(journal, sizeof journal, "%ssmall.jsonl", FIX);
    TD_CHECK_ERROR(td_report_write(journal, journal), TD_CODE_INVALID_ARGUMENT,
                   "would overwrite the journal");
    out_path("no/such/dir/r.html", html, sizeof html);
    TD_CHECK_ERROR(td_report_write(journal, html), TD_CODE_IO, "cannot create");
    TD_CHECK_ERROR(td_report_write(journal, ""), TD_CODE_INVALID_ARGUMENT, "no output file");
}

/* ---- journals in memory ---- */

static const char *header =
    "{\"type\":\"header\",\"space_file\":\"s.yaml\",\"algo\":\"random\",\"seed\":1,"
    "\"model\":\"m.onnx\",\"knobs\":[{\"name\":\"w\",\"kind\":\"algorithm\"}],"
    "\"metrics\":[\"accuracy\",\"latency_ms\"],\"objectives\":[{\"metric\":\"accuracy\","
    "\"sense\":\"max\"},{\"metric\":\"latency_ms\",\"sense\":\"min\"}],"
    "\"constraints\":[{\"metric\":\"latency_ms\",\"op\":\"<=\",\"value\":5}]}\n";

static void eval_line(char *out, size_t cap, int n, const char *metrics)
{
    snprintf(out, cap,
             "{\"type\":\"eval\",\"n\":%d,\"design\":{\"w\":\"int8\"},\"metrics\":{%s},"
             "\"feasible\":true,\"violation\":0}\n",
             n, metrics);
}

static void expect_parse_error(const char *text, const char *needle)
{
    td_rj *j = NULL;
    TD_CHECK_ERROR(td_rj_parse(text, strlen(text), "mem.jsonl", &j), TD_CODE_BAD_DATA, needle);
    TD_CHECK(j == NULL, "accepted: %s", text);
    td_rj_free(j);
}

static void test_parse_errors(void)
{
    char buf[4096], line[1024];
    expect_parse_error("", "mem.jsonl: empty journal");
    expect_parse_error("\n  \n", "mem.jsonl: empty journal");
    expect_parse_error(header, "mem.jsonl: no evaluations");
    eval_line(line, sizeof line, 0, "\"accuracy\":0.9");
    snprintf(buf, sizeof buf, "%s%s", header, line);
    expect_parse_error(buf, "mem.jsonl:2: eval n=0: metrics lack the objective 'latency_ms'");
    eval_line(line, sizeof line, 0, "\"accuracy\":0.9,\"latency_ms\":1e999");
    snprintf(buf, sizeof buf, "%s%s", header, line);
    expect_parse_error(buf, "mem.jsonl:2: eval: metric 'latency_ms' is not finite");
    eval_line(line, sizeof line, 0, "\"accuracy\":0.9,\"latency_ms\":-Infinity");
    snprintf(buf, sizeof buf, "%s%s", header, line);
    expect_parse_error(buf, "mem.jsonl:2: NaN or Inf");
    eval_line(line, sizeof line, 0, "\"accuracy\":\"high\",\"latency_ms\":1");
    snprintf(buf, sizeof buf, "%s%s", header, line);
    expect_parse_error(buf, "metric 'accuracy' must be a number");
    snprintf(buf, sizeof buf, "%s{\"type\":\"eval\",\"n\":0,\"design\":{},\"metrics\":{}}\n",
             header);
    expect_parse_error(buf, "mem.jsonl:2: eval: field 'feasible' is missing");
    snprintf(buf, sizeof buf, "%s{\"type\":\"eval\",\"n\":1.5}\n", header);
    expect_parse_error(buf, "field 'n' must be an integer");
    snprintf(buf, sizeof buf, "%s{\"type\":\"evil\"}\n", header);
    expect_parse_error(buf, "mem.jsonl:2: unknown line type 'evil'");
    snprintf(buf, sizeof buf, "%s%s", header, header);
    expect_parse_error(buf, "mem.jsonl:2: a second header");
    eval_line(line, sizeof line, 0, "\"accuracy\":0.9,\"latency_ms\":1");
    snprintf(buf, sizeof buf, "%s{\"type\":\"end\"}\n%s", header, line);
    expect_parse_error(buf, "mem.jsonl:3: a 'eval' line after the end line");
    snprintf(buf, sizeof buf, "%s\n\n%s{} {}\n", header, line);
    expect_parse_error(buf, "mem.jsonl:5: more than one JSON value");
    snprintf(buf, sizeof buf, "%s[1,2]\n", header);
    expect_parse_error(buf, "mem.jsonl:2: expected a JSON object");
    expect_parse_error("{\"type\":\"header\",\"model\":\"m\",\"space_file\":\"s\",\"algo\":\"a\","
                       "\"seed\":1,\"knobs\":[],\"metrics\":[]}\n",
                       "mem.jsonl:1: header: field 'objectives' is missing");
    expect_parse_error("{\"type\":\"header\",\"space_file\":\"s\"}\n",
                       "mem.jsonl:1: header: field 'model' is missing");
    expect_parse_error("{\"type\":\"header\",\"model\":\"m\",\"space_file\":\"s\",\"algo\":\"a\","
                       "\"seed\":1,\"knobs\":[],\"metrics\":[],\"objectives\":[{\"metric\":"
                       "\"x\",\"sense\":\"most\"}]}\n",
                       "field 'sense' must be \"min\" or \"max\"");
    expect_parse_error("{\"type\":\"header\",\"model\":\"m\",\"space_file\":\"s\",\"algo\":\"a\","
                       "\"seed\":1,\"knobs\":[],\"metrics\":[],\"objectives\":[{\"metric\":"
                       "\"x\",\"sense\":\"min\"}],\"constraints\":[{\"metric\":\"x\",\"op\":\"<\","
                       "\"value\":1}]}\n",
                       "field 'op' must be \"<=\" or \">=\"");
    expect_parse_error("{\"type\":\"eval\"}\n", "mem.jsonl:1: the first line is not a journal");
    expect_parse_error("\n{\"type\":\"header\"", "mem.jsonl:2: malformed JSON at column");
}

static void test_parse_values(void)
{
    char *text = read_text(FIX "small.jsonl");
    if (!text)
        return;
    td_rj *j = NULL;
    TD_CHECK_OK(td_rj_parse(text, strlen(text), "small.jsonl", &j));
    free(text);
    if (!j)
        return;
    TD_CHECK(j->n_evals == 12 && j->n_metrics == 5 && j->n_knobs == 4, "counts %d %d %d",
             j->n_evals, j->n_metrics, j->n_knobs);
    TD_CHECK(j->n_objectives == 3 && j->objectives[0].maximize && !j->objectives[1].maximize,
             "objectives");
    TD_CHECK(j->n_constraints == 3 && j->constraints[0].at_least &&
                 j->constraints[0].value == 0.95 && !j->constraints[1].at_least,
             "constraints");
    TD_CHECK(j->has_end && j->has_hypervolume && j->hypervolume == 0.4321 && j->n_end_front == 4,
             "end line");
    TD_CHECK(j->evals[5].n == 5 && !j->evals[5].feasible && j->evals[5].violation == 0.85,
             "eval 5");
    TD_CHECK(j->evals[9].metrics[1] == 0.52 && j->evals[9].line == 11, "eval 9 latency/line");
    td_rj_detail d;
    TD_CHECK_OK(td_rj_detail_get(j, &j->evals[9], &d));
    TD_CHECK(d.n_design == 4 && !strcmp(d.design[2].key, "hw.rows") &&
                 !strcmp(d.design[2].value, "16"),
             "design of n 9");
    TD_CHECK(d.baseline[1] == 1.45 && d.n_layers == 4 && !strcmp(d.layers[3].sparsity, "none"),
             "baseline and layers of n 9");
    td_rj_detail_free(&d);
    td_rj_free(j);
}

static void test_text_helpers(void)
{
    char name[64], num[32];
    const char *unit;
    td_report_metric_name("area_mm2", name, sizeof name, &unit);
    TD_CHECK(!strcmp(name, "area") && !strcmp(unit, "mm²"), "area_mm2 -> %s %s", name, unit);
    td_report_metric_name("peak_mem_kb", name, sizeof name, &unit);
    TD_CHECK(!strcmp(name, "peak mem") && !strcmp(unit, "KB"), "peak_mem_kb -> %s %s", name, unit);
    td_report_metric_name("accuracy", name, sizeof name, &unit);
    TD_CHECK(!strcmp(name, "accuracy") && !unit[0], "accuracy has no unit");
    struct {
        double v;
        const char *want;
    } nums[] = {{0.52, "0.52"}, {130, "130"}, {12345, "12345"},    {0.98654, "0.9865"},
                {3.1, "3.1"},   {0, "0"},     {2e-5, "2.000e-05"}, {-1.5, "-1.5"}};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        td_report_number(nums[i].v, num, sizeof num);
        TD_CHECK(!strcmp(num, nums[i].want), "%g -> %s, expected %s", nums[i].v, num, nums[i].want);
    }
    td_sbuf b = {0};
    td_sb_escape(&b, "<a href='x'>&\"\x01");
    TD_CHECK(b.data && !strcmp(b.data, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"), "escape: %s",
             b.data);
    td_sb_free(&b);
}

/* A long random journal: the page stays small (points on one pixel are drawn once) and fast. */
static void test_large(void)
{
    enum { N = 50000 };
    size_t cap = (size_t)N * 200 + 4096, len = strlen(header);
    char *text = malloc(cap);
    if (!text)
        return;
    memcpy(text, header, len);
    td_rng r = {42};
    for (int i = 0; i < N; i++) {
        double acc = 0.9 + 0.09 * (td_rng_uniform(&r) + 1) / 2;
        double lat = 0.5 + 8 * (td_rng_uniform(&r) + 1) / 2;
        len += (size_t)snprintf(text + len, cap - len,
                                "{\"type\":\"eval\",\"n\":%d,\"design\":{\"w\":\"int4\"},"
                                "\"metrics\":{\"accuracy\":%.5f,\"latency_ms\":%.4f},"
                                "\"feasible\":%s,\"violation\":%.4f}\n",
                                i, acc, lat, lat <= 5 ? "true" : "false", lat > 5 ? lat - 5 : 0);
    }
    clock_t t0 = clock();
    td_rj *j = NULL;
    TD_CHECK_OK(td_rj_parse(text, len, "large.jsonl", &j));
    free(text);
    if (!j)
        return;
    td_report_view v;
    td_sbuf page = {0};
    TD_CHECK_OK(td_report_view_build(j, &v));
    TD_CHECK_OK(td_report_render(&v, &page));
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    TD_CHECK(page.len > 0 && page.len < ((size_t)8 << 20), "page of %zu bytes", page.len);
    TD_CHECK(page.data && count(page.data, "<svg") == 1, "one plot");
    TD_CHECK(page.data && count(page.data, "<tr class=\"front\"") == v.n_front && v.n_front > 0,
             "front rows %d", v.n_front);
    printf("large: %d evals, front %d, page %zu KB, %.2f s\n", N, v.n_front, page.len >> 10, secs);
    td_sb_free(&page);
    td_report_view_free(&v);
    td_rj_free(j);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/td_report_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_small();
    test_stopped();
    test_infeasible();
    test_injection();
    test_explore_head();
    test_broken_files();
    test_parse_errors();
    test_parse_values();
    test_text_helpers();
    test_large();
    char html[512];
    out_path("report.html", html, sizeof html);
    unlink(html);
    rmdir(tmpdir);
    return td_test_finish("test_report");
}
