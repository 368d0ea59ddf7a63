/* tandem bench minilm: all-MiniLM-L6-v2 at batch 1, sequence 128.
 *
 * For f32 and each compression preset: latency (median of --runs after warm-up) and the
 * quality of the embeddings over the fixture sentences (mean and worst cosine against the f32
 * embeddings of the same model). With --ort ONNX the same timing of onnxruntime (through
 * tools/bench_minilm_ort.py) runs before and after Tandem's f32 timing, and every latency is
 * also given as a ratio to onnxruntime's (the mean of its two medians).
 *
 * Thread pools: onnxruntime's spins between operators by default. Run this with
 * OMP_WAIT_POLICY=active for the same behaviour from Tandem's OpenMP workers (with the
 * passive policy each of the ~100 operators pays a futex wake-up, several ms in all). The
 * pool is released before the peer runs, so spinning never competes with it. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli/cli_model.h"
#include "tandem/models.h"

typedef struct mopts {
    const char *model, *sentences, *ort, *json, *presets;
    int seq, runs, calib;
    td_ctx ctx;
} mopts;

void td_bench_minilm_usage(void)
{
    printf("usage: tandem bench minilm [--model DIR] [--ort ONNX] [--runs N] [--threads N]\n"
           "                           [--presets LIST] [--json FILE]\n\n"
           "all-MiniLM-L6-v2, batch 1, sequence 128: latency of f32 and of each preset, and\n"
           "embedding cosine similarity to f32 over tests/fixtures/minilm_sentences.txt.\n"
           "  --model DIR     BERT folder (default models/all-MiniLM-L6-v2)\n"
           "  --ort ONNX      also time onnxruntime on this export (tools/export_minilm_onnx.py)\n"
           "                  with tools/bench_minilm_ort.py, and print ratios to it\n"
           "  --presets LIST  comma-separated (default w8a8,w6a8,w6a6,w4a8,nm24)\n"
           "  --runs N        timed runs per model (default 30)\n"
           "  --json FILE     write the figures as JSON\n");
}

static int parse_opts(int argc, char **argv, mopts *o)
{
    *o = (mopts){"models/all-MiniLM-L6-v2",
                 "tests/fixtures/minilm_sentences.txt",
                 NULL,
                 NULL,
                 "w8a8,w6a8,w6a6,w4a8,nm24",
                 128,
                 30,
                 16,
                 td_ctx_default()};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "tandem bench minilm: '%s' needs a value\n", a);
            return 0;
        }
        i++;
        if (!strcmp(a, "--model"))
            o->model = v;
        else if (!strcmp(a, "--ort"))
            o->ort = v;
        else if (!strcmp(a, "--json"))
            o->json = v;
        else if (!strcmp(a, "--presets"))
            o->presets = v;
        else if (!strcmp(a, "--sentences"))
            o->sentences = v;
        else if (!strcmp(a, "--runs") && atoi(v) >= 1 && atoi(v) <= 10000)
            o->runs = atoi(v);
        else if (!strcmp(a, "--threads")) {
            if (!td_cli_parse_threads(v, &o->ctx))
                return 0;
        } else {
            fprintf(stderr, "tandem bench minilm: bad option '%s %s'\n", a, v);
            return 0;
        }
    }
    return 1;
}

typedef struct result {
    char name[32];
    double ms, mean_cos, min_cos;
    int64_t weight_bytes;
} result;

typedef struct bench {
    mopts o;
    td_vocab *vocab;
    char **lines;
    int n_lines;
    td_text_batch all; /* every sentence padded to seq */
    float *ref;        /* f32 embeddings, n_lines x dim */
    int64_t dim;
    result res[16];
    int n_res;
    double ort_ms[2];
} bench;

static td_status open_graph(bench *b, int batch, td_graph **g)
{
    td_bert_opts bo = {batch, b->o.seq, 1};
    TD_TRY(td_bert_build(b->o.model, &bo, g));
    return td_graph_prepare(*g);
}

static td_status set_text(td_session *s, const td_text_batch *t, int i)
{
    td_view ids = {TD_DT_I64, 2, {1, t->seq}, t->ids + (size_t)i * t->seq};
    td_view mask = {TD_DT_F32, 2, {1, t->seq}, t->mask + (size_t)i * t->seq};
    TD_TRY(td_session_set_input(s, "input_ids", &ids));
    return td_session_set_input(s, "attention_mask", &mask);
}

/* Median latency of one sequence filled to its length. */
static td_status time_it(bench *b, td_session *s, double *ms)
{
    int longest = 0;
    for (int i = 1; i < b->all.n; i++)
        if (b->all.mask[(size_t)i * b->all.seq + b->all.seq - 1] > 0)
            longest = i;
    TD_TRY(set_text(s, &b->all, longest));
    for (int w = 0; w < 3; w++)
        TD_TRY(td_session_run(s));
    double *t = malloc((size_t)b->o.runs * sizeof *t);
    if (!t)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "out of memory");
    td_status st = TD_OK;
    for (int r = 0; r < b->o.runs && !st; r++) {
        double t0 = td_bench_now();
        st = td_session_run(s);
        t[r] = (td_bench_now() - t0) * 1e3;
    }
    *ms = st ? 0 : td_bench_median(t, b->o.runs);
    free(t);
    return st;
}

/* Embeddings of every sentence; with ref == NULL they become the reference. */
static td_status quality(bench *b, td_session *s, result *r)
{
    double sum = 0, worst = 1;
    for (int i = 0; i < b->all.n; i++) {
        TD_TRY(set_text(s, &b->all, i));
        TD_TRY(td_session_run(s));
        td_view e;
        TD_TRY(td_session_get(s, "embedding", &e));
        const float *y = e.data;
        if (!b->ref) {
            b->dim = td_view_numel(&e);
            b->ref = malloc((size_t)(b->dim * b->all.n) * sizeof(float));
            if (!b->ref)
                return td_error_new(TD_CODE_OUT_OF_MEMORY, "out of memory");
        }
        float *ref = b->ref + (size_t)i * b->dim;
        if (r == &b->res[0]) {
            memcpy(ref, y, (size_t)b->dim * sizeof(float));
            continue;
        }
        double dot = 0, na = 0, nb = 0;
        for (int64_t k = 0; k < b->dim; k++) {
            dot += (double)y[k] * ref[k];
            na += (double)y[k] * y[k];
            nb += (double)ref[k] * ref[k];
        }
        double c = dot / sqrt(na * nb);
        sum += c;
        worst = c < worst ? c : worst;
    }
    r->mean_cos = r == &b->res[0] ? 1.0 : sum / b->all.n;
    r->min_cos = r == &b->res[0] ? 1.0 : worst;
    return TD_OK;
}

static td_status measure(bench *b, td_graph *g, const char *name)
{
    result *r = &b->res[b->n_res];
    snprintf(r->name, sizeof r->name, "%s", name);
    td_graph_totals t;
    td_graph_totals_compute(g, &t);
    r->weight_bytes = t.weight_bytes;
    td_session *s;
    TD_TRY(td_session_new(g, &b->o.ctx, &s));
    td_bench_progress("minilm %s: timing", name);
    td_status st = time_it(b, s, &r->ms);
    td_bench_progress("minilm %s: quality", name);
    if (!st)
        st = quality(b, s, r);
    td_session_free(s);
    if (!st)
        b->n_res++;
    return st;
}

static td_status compressed(bench *b, const char *preset)
{
    td_scheme sc;
    TD_TRY(td_scheme_preset(preset, &sc));
    int nc = b->o.calib < b->all.n ? b->o.calib : b->all.n;
    td_graph *gc = NULL, *g1 = NULL;
    td_status st = open_graph(b, nc, &gc);
    const char *names[2] = {"input_ids", "attention_mask"};
    td_view views[2] = {{TD_DT_I64, 2, {nc, b->o.seq}, b->all.ids},
                        {TD_DT_F32, 2, {nc, b->o.seq}, b->all.mask}};
    td_calib cal = {2, names, views, "embedding"};
    td_compress_report rep;
    memset(&rep, 0, sizeof rep);
    td_bench_progress("minilm %s: compressing", preset);
    if (!st)
        st = td_compress(gc, &sc, &cal, &b->o.ctx, NULL, NULL, &rep);
    if (!st)
        st = open_graph(b, 1, &g1);
    if (!st)
        st = td_compress_transfer(g1, gc);
    if (!st)
        st = measure(b, g1, preset);
    td_compress_report_free(&rep);
    td_graph_free(gc);
    td_graph_free(g1);
    return st;
}

static td_status run_ort(bench *b, double *ms)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "python3 tools/bench_minilm_ort.py --onnx '%s' --threads %d --runs %d", b->o.ort,
             b->o.ctx.threads, b->o.runs);
    td_bench_progress("minilm onnxruntime");
    /* Our OpenMP workers may be spinning (OMP_WAIT_POLICY=active): release the pool so that
     * they cannot take a core from the peer while it runs. */
    omp_pause_resource_all(omp_pause_soft);
    FILE *p = popen(cmd, "r");
    if (!p)
        return td_error_new(TD_CODE_IO, "cannot run: %s", cmd);
    char line[4096] = "";
    char *got = fgets(line, sizeof line, p);
    int rc = pclose(p);
    const char *m = got ? strstr(line, "\"median_ms\":") : NULL;
    if (rc != 0 || !m)
        return td_error_new(TD_CODE_IO, "onnxruntime peer failed (%s)", cmd);
    *ms = atof(m + strlen("\"median_ms\":"));
    return TD_OK;
}

static td_status load_text(bench *b)
{
    TD_TRY(td_read_lines(b->o.sentences, &b->lines, &b->n_lines, 256));
    char vp[4096];
    snprintf(vp, sizeof vp, "%s/vocab.txt", b->o.model);
    TD_TRY(td_vocab_load(vp, &b->vocab));
    return td_text_batch_make(b->vocab, (const char *const *)b->lines, b->n_lines, b->o.seq,
                              &b->all);
}

static td_status run_all(bench *b)
{
    TD_TRY(load_text(b));
    if (b->o.ort)
        TD_TRY(run_ort(b, &b->ort_ms[0]));
    td_graph *g;
    TD_TRY(open_graph(b, 1, &g));
    td_status st = measure(b, g, "f32");
    td_graph_free(g);
    TD_TRY(st);
    if (b->o.ort)
        TD_TRY(run_ort(b, &b->ort_ms[1]));
    char list[256];
    snprintf(list, sizeof list, "%s", b->o.presets);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","))
        TD_TRY(compressed(b, tok));
    return TD_OK;
}

static void report(const bench *b, FILE *f)
{
    double ort = b->o.ort ? 0.5 * (b->ort_ms[0] + b->ort_ms[1]) : 0;
    fprintf(f, "all-MiniLM-L6-v2, batch 1, sequence %d, %d threads, median of %d runs\n", b->o.seq,
            b->o.ctx.threads, b->o.runs);
    if (ort > 0)
        fprintf(f, "onnxruntime f32: %.3f ms (runs before/after Tandem f32: %.3f / %.3f ms)\n", ort,
                b->ort_ms[0], b->ort_ms[1]);
    fprintf(f, "%-10s %10s %12s %14s %12s %12s\n", "model", "ms", "vs ORT f32", "weight MB",
            "mean cos", "min cos");
    for (int i = 0; i < b->n_res; i++) {
        const result *r = &b->res[i];
        fprintf(f, "%-10s %10.3f ", r->name, r->ms);
        if (ort > 0)
            fprintf(f, "%11.2fx ", ort / r->ms);
        else
            fprintf(f, "%12s ", "-");
        fprintf(f, "%14.2f %12.6f %12.6f\n", (double)r->weight_bytes / 1e6, r->mean_cos,
                r->min_cos);
    }
    fprintf(f,
            "(vs ORT: onnxruntime time / Tandem time, above 1 = Tandem faster; cosine against "
            "Tandem's f32 embeddings over %d sentences)\n",
            b->all.n);
}

static void write_json(FILE *f, void *arg)
{
    const bench *b = arg;
    td_json j;
    td_json_init(&j, f);
    td_json_begin_object(&j, NULL);
    td_json_str(&j, "bench", "minilm");
    td_json_int(&j, "seq", b->o.seq);
    td_json_int(&j, "threads", b->o.ctx.threads);
    td_json_int(&j, "runs", b->o.runs);
    if (b->o.ort) {
        td_json_num(&j, "ort_ms_before", b->ort_ms[0]);
        td_json_num(&j, "ort_ms_after", b->ort_ms[1]);
    }
    td_json_begin_array(&j, "models");
    for (int i = 0; i < b->n_res; i++) {
        td_json_begin_object(&j, NULL);
        td_json_str(&j, "name", b->res[i].name);
        td_json_num(&j, "ms", b->res[i].ms);
        td_json_int(&j, "weight_bytes", b->res[i].weight_bytes);
        td_json_num(&j, "mean_cosine", b->res[i].mean_cos);
        td_json_num(&j, "min_cosine", b->res[i].min_cos);
        td_json_end_object(&j);
    }
    td_json_end_array(&j);
    td_json_end_object(&j);
    fputc('\n', f);
}

int td_bench_minilm(int argc, char **argv)
{
    bench b;
    memset(&b, 0, sizeof b);
    if (!parse_opts(argc, argv, &b.o))
        return TD_EXIT_USAGE;
    td_status st = b.o.json ? td_bench_check_writable(b.o.json) : TD_OK;
    if (!st)
        st = run_all(&b);
    td_bench_progress_clear();
    if (!st) {
        report(&b, stdout);
        if (b.o.json)
            st = td_bench_write_file(b.o.json, write_json, &b);
    }
    for (int i = 0; i < b.n_lines; i++)
        free(b.lines[i]);
    free(b.lines);
    free(b.ref);
    td_text_batch_free(&b.all);
    td_vocab_free(b.vocab);
    return st ? td_cli_fail(st) : TD_EXIT_OK;
}
