/* tandem info | run | eval */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli/cli_model.h"
#include "tandem/safetensors.h"

/* ---- shared: open and prepare ---- */

static td_status open_prepared(const char *path, int batch, int seq, td_graph **g)
{
    td_model_opts o = {batch, seq};
    TD_TRY(td_model_open(path, &o, g));
    td_status st = td_graph_prepare(*g);
    if (st) {
        td_graph_free(*g);
        *g = NULL;
    }
    return st;
}

static void shape_text(const td_value *v, char *buf, size_t len)
{
    int n = snprintf(buf, len, "[");
    for (int d = 0; d < v->ndim && (size_t)n < len; d++)
        n += snprintf(buf + n, len - (size_t)n, "%s%lld", d ? "," : "", (long long)v->shape[d]);
    if ((size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "]");
}

/* ---- info ---- */

void td_usage_model_info(void)
{
    printf("usage: tandem info MODEL [--batch N] [--seq N]\n\n"
           "Lists the layers of a model (.onnx, a BERT folder, or a Tandem .safetensors file):\n"
           "operator, output shape, weight format and activation width, parameters, MACs and\n"
           "weight bytes as stored, then totals and the memory plan: the planned arena peak\n"
           "and its lower bound (the most bytes that must be live at once).\n"
           "  --batch N   fix a symbolic batch dimension (default 1)\n"
           "  --seq N     BERT folders: tokens per sequence (default 128)\n");
}

static void print_node(const td_graph *g, int i)
{
    const td_node *n = &g->nodes[i];
    char shape[64], fmt[64] = "-";
    shape_text(&g->values[n->outputs[0]], shape, sizeof shape);
    const char *act = "-";
    if (n->qweight) {
        td_qspec_describe(td_qmatrix_spec(n->qweight), fmt, sizeof fmt);
        act = td_act_name(n->act);
    } else if (n->cost.params > 0) {
        snprintf(fmt, sizeof fmt, "f32");
    }
    printf("%4d  %-28.28s %-18.18s %-18s %-12s %-4s %10lld %12lld %11lld\n", i, n->name, n->op_type,
           shape, fmt, act, (long long)n->cost.params, (long long)n->cost.macs,
           (long long)n->cost.weight_bytes);
}

int td_cmd_model_info(int argc, char **argv)
{
    td_model_args a;
    if (!td_cli_model_args(argc, argv, "batch seq threads", &a))
        return TD_EXIT_USAGE;
    if (a.n_pos != 1) {
        fprintf(stderr, "tandem info: expected one MODEL argument (see 'tandem info --help')\n");
        return TD_EXIT_USAGE;
    }
    td_graph *g;
    td_status st = open_prepared(a.pos[0], a.batch ? a.batch : 1, a.seq, &g);
    if (st)
        return td_cli_fail(st);
    printf("model: %s  (graph '%s', %d nodes, opset %lld)\n", a.pos[0], g->name, g->n_nodes,
           (long long)g->opset);
    for (int i = 0; i < g->n_inputs; i++) {
        char shape[64];
        shape_text(&g->values[g->inputs[i]], shape, sizeof shape);
        printf("input:  %s %s %s\n", g->values[g->inputs[i]].name,
               td_dtype_name(g->values[g->inputs[i]].dtype), shape);
    }
    printf("\n%4s  %-28s %-18s %-18s %-12s %-4s %10s %12s %11s\n", "#", "node", "op", "output",
           "weights", "act", "params", "MACs", "bytes");
    for (int i = 0; i < g->n_nodes; i++)
        print_node(g, i);
    td_graph_totals t;
    td_graph_totals_compute(g, &t);
    printf("\ntotal: %lld params, %lld MACs, %lld weight bytes (%.3f MB)\n", (long long)t.params,
           (long long)t.macs, (long long)t.weight_bytes, (double)t.weight_bytes / 1e6);
    td_mem_plan plan;
    st = td_mem_plan_build(g, &plan);
    if (st) {
        td_graph_free(g);
        return td_cli_fail(st);
    }
    double ratio = plan.lower_bound_bytes ? (double)plan.arena_bytes / plan.lower_bound_bytes : 1;
    printf("memory: planned peak %lld bytes, lower bound %lld bytes (%.3fx), at node %d '%s'\n",
           (long long)plan.arena_bytes, (long long)plan.lower_bound_bytes, ratio, plan.peak_step,
           g->n_nodes ? g->nodes[plan.peak_step].name : "-");
    td_mem_plan_free(&plan);
    td_graph_free(g);
    return TD_EXIT_OK;
}

/* ---- run ---- */

void td_usage_run(void)
{
    printf("usage: tandem run MODEL --input FILE [--output FILE] [--repeat N] [--threads N]\n\n"
           "Runs a model on the tensors of a safetensors file and prints each output's shape,\n"
           "first values and, for [N, C] outputs, the arg-max of each row.\n"
           "  --input FILE   tensors named after the model inputs; a single-input model also\n"
           "                 takes \"x\" (U8 pixels scaled by the file's scale/offset metadata)\n"
           "  --output FILE  write the outputs as safetensors (atomically)\n"
           "  --repeat N     run N times and report the median time\n"
           "  --threads N    threads (default: all cores)\n");
}

static td_status bind_single(td_session *s, td_graph *g, const td_dataset *d)
{
    const td_value *v = &g->values[g->inputs[0]];
    td_view view = {TD_DT_F32, v->ndim, {0}, d->x};
    memcpy(view.shape, v->shape, sizeof view.shape);
    return td_session_set_input(s, v->name, &view);
}

static td_status run_dataset(const td_model_args *a, td_dataset *d, td_graph **g)
{
    TD_TRY(td_dataset_load(a->input, d));
    TD_TRY(open_prepared(a->pos[0], (int)d->n, a->seq, g));
    if ((*g)->n_inputs != 1)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s: \"x\" fits single-input models; this one has %d inputs", a->input,
                            (*g)->n_inputs);
    const td_value *v = &(*g)->values[(*g)->inputs[0]];
    if (td_shape_numel(v->ndim, v->shape) != d->n * d->sample_numel)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s: \"x\" samples do not match input '%s' of the model", a->input,
                            v->name);
    return TD_OK;
}

static void print_output(const td_value *v, const td_view *o)
{
    char shape[64];
    shape_text(v, shape, sizeof shape);
    printf("output %s %s %s:", v->name, td_dtype_name(o->dtype), shape);
    int64_t n = td_view_numel(o);
    if (o->dtype == TD_DT_F32) {
        for (int64_t i = 0; i < n && i < 8; i++)
            printf(" %.6g", ((const float *)o->data)[i]);
        if (n > 8)
            printf(" ...");
        if (o->ndim == 2 && o->shape[1] > 1) {
            printf("\n  argmax:");
            for (int64_t r = 0; r < o->shape[0] && r < 32; r++) {
                const float *row = (const float *)o->data + r * o->shape[1];
                int64_t best = 0;
                for (int64_t c = 1; c < o->shape[1]; c++)
                    best = row[c] > row[best] ? c : best;
                printf(" %lld", (long long)best);
            }
            if (o->shape[0] > 32)
                printf(" ...");
        }
    }
    printf("\n");
}

static td_status write_outputs(const td_graph *g, const td_session *s, const char *path)
{
    td_safetensors_writer *w;
    TD_TRY(td_safetensors_writer_new(&w));
    td_status st = TD_OK;
    for (int i = 0; i < g->n_outputs && !st; i++) {
        const td_value *v = &g->values[g->outputs[i]];
        td_view o;
        st = td_session_get(s, v->name, &o);
        if (!st && o.dtype != TD_DT_F32)
            st = td_error_new(TD_CODE_UNSUPPORTED, "output '%s': only float32 is written", v->name);
        size_t bytes = 0;
        if (!st)
            st = td_view_bytes(&o, v->name, &bytes);
        if (!st)
            st = td_safetensors_writer_add(w, v->name, TD_ST_F32, o.ndim, o.shape, o.data, bytes);
    }
    if (!st)
        st = td_safetensors_write(w, path);
    td_safetensors_writer_free(w);
    return st;
}

static td_status timed_runs(td_session *s, int repeat, double *median_ms)
{
    double *t = malloc((size_t)repeat * sizeof *t);
    if (!t)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "out of memory");
    for (int r = 0; r < repeat; r++) {
        double t0 = td_bench_now();
        td_status st = td_session_run(s);
        t[r] = (td_bench_now() - t0) * 1e3;
        if (st) {
            free(t);
            return st;
        }
    }
    *median_ms = td_bench_median(t, repeat);
    free(t);
    return TD_OK;
}

static td_status do_run(const td_model_args *a)
{
    td_dataset d;
    td_graph *g = NULL;
    td_session *s = NULL;
    td_status st = run_dataset(a, &d, &g);
    if (!st)
        st = td_session_new(g, &a->ctx, &s);
    if (!st)
        st = bind_single(s, g, &d);
    double ms = 0;
    if (!st)
        st = timed_runs(s, a->repeat, &ms);
    for (int i = 0; i < (g ? g->n_outputs : 0) && !st; i++) {
        td_view o;
        st = td_session_get(s, g->values[g->outputs[i]].name, &o);
        if (!st)
            print_output(&g->values[g->outputs[i]], &o);
    }
    if (!st)
        printf("time: %.3f ms per run (median of %d, %d threads)\n", ms, a->repeat, a->ctx.threads);
    if (!st && a->output)
        st = write_outputs(g, s, a->output);
    td_session_free(s);
    td_graph_free(g);
    td_dataset_free(&d);
    return st;
}

int td_cmd_run(int argc, char **argv)
{
    td_model_args a;
    if (!td_cli_model_args(argc, argv, "input output repeat threads seq", &a))
        return TD_EXIT_USAGE;
    if (a.n_pos != 1 || !a.input) {
        fprintf(stderr, "tandem run: expected MODEL and --input FILE (see 'tandem run --help')\n");
        return TD_EXIT_USAGE;
    }
    td_status st = do_run(&a);
    return st ? td_cli_fail(st) : TD_EXIT_OK;
}

/* ---- eval ---- */

void td_usage_eval(void)
{
    printf("usage: tandem eval MODEL --data FILE [--batch N] [--limit N] [--threads N]\n\n"
           "Accuracy of a classifier on a labelled safetensors set (\"x\" samples, \"y\"\n"
           "labels): the arg-max of the model's first output against y.\n"
           "  --batch N   samples per run (default 100)\n"
           "  --limit N   use only the first N samples\n");
}

static td_status do_eval(const td_model_args *a, td_eval_result *r)
{
    td_dataset d;
    TD_TRY(td_dataset_load(a->data, &d));
    td_graph *g = NULL;
    td_session *s = NULL;
    int64_t n = a->limit && a->limit < d.n ? a->limit : d.n;
    int batch = a->batch ? a->batch : (n < 100 ? (int)n : 100);
    td_status st =
        d.y ? TD_OK : td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: no labels (\"y\")", a->data);
    if (!st)
        st = open_prepared(a->pos[0], batch, a->seq, &g);
    if (!st && g->n_inputs != 1)
        st = td_error_new(TD_CODE_INVALID_ARGUMENT, "eval supports single-input models");
    if (!st && td_shape_numel(g->values[g->inputs[0]].ndim, g->values[g->inputs[0]].shape) !=
                   batch * d.sample_numel)
        st = td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: samples do not fit input '%s'", a->data,
                          g->values[g->inputs[0]].name);
    if (!st)
        st = td_session_new(g, &a->ctx, &s);
    if (!st)
        st = td_eval_batches(s, g, &d, n, batch, r);
    td_session_free(s);
    td_graph_free(g);
    td_dataset_free(&d);
    return st;
}

int td_cmd_eval(int argc, char **argv)
{
    td_model_args a;
    if (!td_cli_model_args(argc, argv, "data batch limit threads seq", &a))
        return TD_EXIT_USAGE;
    if (a.n_pos != 1 || !a.data) {
        fprintf(stderr, "tandem eval: expected MODEL and --data FILE (see 'tandem eval --help')\n");
        return TD_EXIT_USAGE;
    }
    td_eval_result r = {0, 0, 0};
    td_status st = do_eval(&a, &r);
    if (st)
        return td_cli_fail(st);
    printf("accuracy: %.4f (%lld/%lld) in %.3f s, %.0f samples/s, %d threads\n",
           (double)r.correct / (double)r.total, (long long)r.correct, (long long)r.total, r.seconds,
           (double)r.total / (r.seconds > 0 ? r.seconds : 1e-9), a.ctx.threads);
    return TD_EXIT_OK;
}
