/* tandem bench cnn: the bundled MNIST CNN, f32 and every preset: held-out accuracy (and its
 * change against f32), weight bytes, output error on the calibration set, and throughput. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli/cli_model.h"

typedef struct copts {
    const char *model, *test, *calib, *presets, *json;
    int batch;
    td_ctx ctx;
} copts;

void td_bench_cnn_usage(void)
{
    printf("usage: tandem bench cnn [--model ONNX] [--test FILE] [--calib FILE]\n"
           "                        [--presets LIST] [--threads N] [--json FILE]\n\n"
           "Held-out accuracy of the bundled MNIST CNN in f32 and compressed with each preset\n"
           "(calibrated on --calib), with weight bytes and samples per second.\n"
           "  defaults: models/mnist_cnn.onnx, models/mnist_test.safetensors,\n"
           "            models/mnist_calib.safetensors, all presets\n");
}

static int parse_copts(int argc, char **argv, copts *o)
{
    *o = (copts){"models/mnist_cnn.onnx",
                 "models/mnist_test.safetensors",
                 "models/mnist_calib.safetensors",
                 "w8a8,w6a8,w6a6,w6-auto,w4a8,w4a8-g128,nm24,fp8,gs50",
                 NULL,
                 100,
                 td_ctx_default()};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = !strcmp(a, "--model")     ? &o->model
                            : !strcmp(a, "--test")    ? &o->test
                            : !strcmp(a, "--calib")   ? &o->calib
                            : !strcmp(a, "--presets") ? &o->presets
                            : !strcmp(a, "--json")    ? &o->json
                                                      : NULL;
        if (v && slot) {
            *slot = v;
        } else if (v && !strcmp(a, "--threads")) {
            if (!td_cli_parse_threads(v, &o->ctx))
                return 0;
        } else {
            fprintf(stderr, "tandem bench cnn: bad option '%s'\n", a);
            return 0;
        }
    }
    return 1;
}

typedef struct crow {
    char name[32];
    double acc, rel_l2, samples_per_s;
    int64_t bytes;
} crow;

typedef struct cbench {
    copts o;
    td_dataset test, calib;
    crow rows[16];
    int n;
} cbench;

static td_status open_model(const cbench *b, int batch, td_graph **g)
{
    td_model_opts mo = {batch, 0};
    TD_TRY(td_model_open(b->o.model, &mo, g));
    return td_graph_prepare(*g);
}

static td_status evaluate(cbench *b, td_graph *g, crow *r)
{
    td_session *s;
    TD_TRY(td_session_new(g, &b->o.ctx, &s));
    td_eval_result er = {0, 0, 0};
    td_status st = td_eval_batches(s, g, &b->test, b->test.n, b->o.batch, &er);
    td_session_free(s);
    TD_TRY(st);
    td_graph_totals t;
    td_graph_totals_compute(g, &t);
    r->acc = (double)er.correct / (double)er.total;
    r->samples_per_s = (double)er.total / (er.seconds > 0 ? er.seconds : 1e-9);
    r->bytes = t.weight_bytes;
    return TD_OK;
}

static td_status one_preset(cbench *b, const char *preset)
{
    td_scheme sc;
    TD_TRY(td_scheme_preset(preset, &sc));
    crow *r = &b->rows[b->n];
    snprintf(r->name, sizeof r->name, "%s", preset);
    td_graph *gc = NULL, *g = NULL;
    td_status st = open_model(b, (int)b->calib.n, &gc);
    const char *names[1];
    td_view xv;
    td_compress_report rep;
    memset(&rep, 0, sizeof rep);
    if (!st) {
        const td_value *in = &gc->values[gc->inputs[0]];
        names[0] = in->name;
        xv = (td_view){TD_DT_F32, in->ndim, {0}, b->calib.x};
        memcpy(xv.shape, in->shape, sizeof xv.shape);
        td_calib cal = {1, names, &xv, NULL};
        td_bench_progress("cnn %s: compressing", preset);
        st = td_compress(gc, &sc, &cal, &b->o.ctx, NULL, NULL, &rep);
    }
    if (!st)
        st = open_model(b, b->o.batch, &g);
    if (!st)
        st = td_compress_transfer(g, gc);
    td_bench_progress("cnn %s: evaluating", preset);
    if (!st)
        st = evaluate(b, g, r);
    r->rel_l2 = rep.out_rel_l2;
    td_compress_report_free(&rep);
    td_graph_free(gc);
    td_graph_free(g);
    if (!st)
        b->n++;
    return st;
}

static td_status run_cnn(cbench *b)
{
    TD_TRY(td_dataset_load(b->o.test, &b->test));
    TD_TRY(td_dataset_load(b->o.calib, &b->calib));
    if (!b->test.y)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: no labels", b->o.test);
    td_graph *g;
    TD_TRY(open_model(b, b->o.batch, &g));
    snprintf(b->rows[0].name, sizeof b->rows[0].name, "f32");
    td_bench_progress("cnn f32: evaluating");
    td_status st = evaluate(b, g, &b->rows[0]);
    td_graph_free(g);
    TD_TRY(st);
    b->n = 1;
    char list[256];
    snprintf(list, sizeof list, "%s", b->o.presets);
    for (char *tok = strtok(list, ","); tok && b->n < 16; tok = strtok(NULL, ","))
        TD_TRY(one_preset(b, tok));
    return TD_OK;
}

static void print_rows(const cbench *b)
{
    printf("%s on %s (%lld held-out samples), calibration %s (%lld samples), %d threads\n",
           b->o.model, b->o.test, (long long)b->test.n, b->o.calib, (long long)b->calib.n,
           b->o.ctx.threads);
    printf("%-10s %9s %10s %12s %11s %12s\n", "model", "accuracy", "vs f32", "weight bytes",
           "calib err", "samples/s");
    for (int i = 0; i < b->n; i++) {
        const crow *r = &b->rows[i];
        printf("%-10s %9.4f %+7.2f pt %12lld ", r->name, r->acc, 100.0 * (r->acc - b->rows[0].acc),
               (long long)r->bytes);
        if (i)
            printf("%11.4f ", r->rel_l2);
        else
            printf("%11s ", "-");
        printf("%12.0f\n", r->samples_per_s);
    }
    printf("(vs f32: change in accuracy, percentage points; calib err = relative L2 error of the "
           "logits on the "
           "calibration set)\n");
}

static void write_json(FILE *f, void *arg)
{
    const cbench *b = arg;
    td_json j;
    td_json_init(&j, f);
    td_json_begin_object(&j, NULL);
    td_json_str(&j, "bench", "cnn");
    td_json_int(&j, "test_samples", b->test.n);
    td_json_begin_array(&j, "models");
    for (int i = 0; i < b->n; i++) {
        td_json_begin_object(&j, NULL);
        td_json_str(&j, "name", b->rows[i].name);
        td_json_num(&j, "accuracy", b->rows[i].acc);
        td_json_int(&j, "weight_bytes", b->rows[i].bytes);
        td_json_num(&j, "samples_per_s", b->rows[i].samples_per_s);
        td_json_end_object(&j);
    }
    td_json_end_array(&j);
    td_json_end_object(&j);
    fputc('\n', f);
}

int td_bench_cnn(int argc, char **argv)
{
    cbench b;
    memset(&b, 0, sizeof b);
    if (!parse_copts(argc, argv, &b.o))
        return TD_EXIT_USAGE;
    td_status st = b.o.json ? td_bench_check_writable(b.o.json) : TD_OK;
    if (!st)
        st = run_cnn(&b);
    td_bench_progress_clear();
    if (!st) {
        print_rows(&b);
        if (b.o.json)
            st = td_bench_write_file(b.o.json, write_json, &b);
    }
    td_dataset_free(&b.test);
    td_dataset_free(&b.calib);
    return st ? td_cli_fail(st) : TD_EXIT_OK;
}
