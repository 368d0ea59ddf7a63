/* Model compression with calibration.
 *
 * 1. Run the f32 model on the calibration batch, keeping its output as the reference and
 *    gathering statistics of every weighted layer's input.
 * 2. Quantize each matched layer's weight once; measure its sensitivity: the model output's
 *    relative L2 error with only that layer compressed (with A8 and, for "auto" rules, A6).
 * 3. For "auto" layers choose A8 for the most sensitive ones while their MACs fit the
 *    budget, A6 for the rest.
 * 4. Apply everything and measure the whole model's error. */
#include <cjson/cJSON.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/op.h"
#include "ops/ops_common.h"
#include "tandem/compress.h"

typedef struct stats {
    double absmax, sum, sumsq;
    int64_t count;
} stats;

typedef struct layer {
    int node;
    const td_rule *rule;
    td_qmatrix *q;
    int input_value;
} layer;

typedef struct job {
    td_graph *g;
    td_session *s;
    const td_calib *calib;
    int out_value;
    float *ref;
    int64_t out_n, out_rows;
    stats *vstats; /* per value */
    layer *layers;
    int n_layers;
    td_progress_fn progress;
    void *user;
} job;

void td_compress_report_free(td_compress_report *r)
{
    free(r->layers);
    memset(r, 0, sizeof *r);
}

static const td_rule *match_rule(const td_scheme *s, const td_node *n)
{
    for (int i = 0; i < s->n_rules; i++) {
        const td_rule *r = &s->rules[i];
        if (r->op[0] && strcmp(r->op, n->op_type) != 0)
            continue;
        if (fnmatch(r->pattern, n->name, 0) == 0)
            return r;
    }
    return NULL;
}

static void add_stats(stats *s, const td_view *v)
{
    if (v->dtype != TD_DT_F32 || !v->data)
        return;
    int64_t n = td_view_numel(v);
    const float *x = v->data;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs((double)x[i]);
        if (a > s->absmax)
            s->absmax = a;
        s->sum += x[i];
        s->sumsq += (double)x[i] * x[i];
    }
    s->count += n;
}

static td_status observe(void *user, const td_graph *g, int node, const td_view *outputs)
{
    job *j = user;
    const td_node *n = &g->nodes[node];
    for (int o = 0; o < n->n_outputs; o++)
        add_stats(&j->vstats[n->outputs[o]], &outputs[o]);
    return TD_OK;
}

static td_status set_inputs(job *j)
{
    for (int i = 0; i < j->calib->n_inputs; i++)
        TD_TRY(td_session_set_input(j->s, j->calib->names[i], &j->calib->data[i]));
    return TD_OK;
}

static td_status run_output(job *j, td_view *out)
{
    TD_TRY(set_inputs(j));
    TD_TRY(td_session_run(j->s));
    return td_session_get(j->s, j->g->values[j->out_value].name, out);
}

/* Relative L2 error and mean row cosine of the current output against the reference. */
static td_status measure(job *j, double *rel, double *cosine)
{
    td_view out;
    TD_TRY(run_output(j, &out));
    const float *y = out.data;
    double num = 0, den = 0, cos_sum = 0;
    int64_t cols = j->out_n / j->out_rows;
    for (int64_t r = 0; r < j->out_rows; r++) {
        double dot = 0, na = 0, nb = 0;
        for (int64_t c = 0; c < cols; c++) {
            double a = y[r * cols + c], b = j->ref[r * cols + c];
            num += (a - b) * (a - b);
            den += b * b;
            dot += a * b;
            na += a * a;
            nb += b * b;
        }
        cos_sum += (na > 0 && nb > 0) ? dot / sqrt(na * nb) : (na == nb ? 1.0 : 0.0);
    }
    if (!isfinite(num))
        return td_error_new(TD_CODE_BAD_DATA, "compressed model output is not finite");
    *rel = den > 0 ? sqrt(num / den) : sqrt(num);
    if (cosine)
        *cosine = cos_sum / (double)(j->out_rows ? j->out_rows : 1);
    return TD_OK;
}

static td_status reference(job *j)
{
    int i;
    for (i = 0; i < j->calib->n_inputs; i++) {
        int v = td_graph_find_value(j->g, j->calib->names[i]);
        if (v >= 0)
            add_stats(&j->vstats[v], &j->calib->data[i]);
    }
    td_session_set_observer(j->s, observe, j);
    td_view out;
    td_status st = run_output(j, &out);
    td_session_set_observer(j->s, NULL, NULL);
    TD_TRY(st);
    if (out.dtype != TD_DT_F32)
        return td_error_new(TD_CODE_UNSUPPORTED, "output '%s' is %s; compression measures f32",
                            j->g->values[j->out_value].name, td_dtype_name(out.dtype));
    j->out_n = td_view_numel(&out);
    j->out_rows = out.ndim >= 2 ? j->out_n / out.shape[out.ndim - 1] : 1;
    if (j->out_n <= 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "output '%s' is empty",
                            j->g->values[j->out_value].name);
    j->ref = malloc((size_t)j->out_n * sizeof(float));
    if (!j->ref)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "compress: out of memory");
    memcpy(j->ref, out.data, (size_t)j->out_n * sizeof(float));
    return TD_OK;
}

static td_status quantize_layer(job *j, layer *L)
{
    td_node *n = &j->g->nodes[L->node];
    float *w;
    int64_t rows, cols;
    TD_TRY(td_node_weight_matrix(j->g, n, &w, &rows, &cols));
    td_status st = td_qmatrix_quantize(&L->rule->spec, w, rows, cols, cols, &L->q);
    free(w);
    if (st) {
        td_status e = td_node_error(n, td_status_code(st), "%s", td_status_message(st));
        td_status_free(st);
        return e;
    }
    return TD_OK;
}

/* Sensitivity of one layer with activation type act (the layer's qweight is borrowed). */
static td_status sensitivity(job *j, layer *L, td_act_type act, double *out)
{
    td_node *n = &j->g->nodes[L->node];
    n->qweight = L->q;
    n->act = act;
    td_status st = measure(j, out, NULL);
    n->qweight = NULL;
    return st;
}

static void progress(job *j, const char *what, int done, int total)
{
    if (j->progress)
        j->progress(j->user, what, done, total);
}

static td_status measure_layers(job *j, td_layer_report *rep)
{
    for (int i = 0; i < j->n_layers; i++) {
        layer *L = &j->layers[i];
        td_layer_report *r = &rep[i];
        r->sens_a8 = r->sens_a6 = r->sens = -1;
        TD_TRY(quantize_layer(j, L));
        if (L->rule->act_mode == TD_ACTM_AUTO) {
            TD_TRY(sensitivity(j, L, TD_ACT_INT8, &r->sens_a8));
            TD_TRY(sensitivity(j, L, TD_ACT_INT6, &r->sens_a6));
        } else {
            TD_TRY(sensitivity(j, L, L->rule->act, &r->sens));
        }
        progress(j, "sensitivity", i + 1, j->n_layers);
    }
    return TD_OK;
}

/* Greedy: A8 for the layers whose A6 error excess per MAC is largest, within the budget. */
static void choose_acts(job *j, td_layer_report *rep, double budget)
{
    int64_t total = 0;
    for (int i = 0; i < j->n_layers; i++)
        if (j->layers[i].rule->act_mode == TD_ACTM_AUTO) {
            rep[i].act = TD_ACT_INT6;
            total += rep[i].macs > 0 ? rep[i].macs : 1;
        }
    int64_t used = 0;
    for (;;) {
        int best = -1;
        double best_gain = 0;
        for (int i = 0; i < j->n_layers; i++) {
            if (j->layers[i].rule->act_mode != TD_ACTM_AUTO || rep[i].act == TD_ACT_INT8)
                continue;
            int64_t m = rep[i].macs > 0 ? rep[i].macs : 1;
            double gain = (rep[i].sens_a6 - rep[i].sens_a8) / (double)m;
            if (gain > best_gain && (double)(used + m) <= budget * (double)total) {
                best_gain = gain;
                best = i;
            }
        }
        if (best < 0)
            break;
        rep[best].act = TD_ACT_INT8;
        used += rep[best].macs > 0 ? rep[best].macs : 1;
    }
    for (int i = 0; i < j->n_layers; i++)
        if (j->layers[i].rule->act_mode == TD_ACTM_AUTO)
            rep[i].sens = rep[i].act == TD_ACT_INT8 ? rep[i].sens_a8 : rep[i].sens_a6;
}

static void fill_static(job *j, td_layer_report *r, const layer *L)
{
    const td_node *n = &j->g->nodes[L->node];
    r->node = L->node;
    snprintf(r->name, sizeof r->name, "%s", n->name);
    snprintf(r->op, sizeof r->op, "%s", n->op_type);
    td_qspec_describe(&L->rule->spec, r->spec, sizeof r->spec);
    r->act = L->rule->act;
    r->params = n->cost.params;
    r->macs = n->cost.macs;
    r->bytes_f32 = n->cost.weight_bytes;
    const stats *s = L->input_value >= 0 ? &j->vstats[L->input_value] : NULL;
    if (s && s->count > 0) {
        r->in_absmax = s->absmax;
        r->in_mean = s->sum / (double)s->count;
        double var = s->sumsq / (double)s->count - r->in_mean * r->in_mean;
        r->in_std = var > 0 ? sqrt(var) : 0;
    }
}

static td_status find_layers(job *j, const td_scheme *scheme)
{
    j->layers = calloc((size_t)j->g->n_nodes + 1, sizeof *j->layers);
    if (!j->layers)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "compress: out of memory");
    for (int i = 0; i < j->g->n_nodes; i++) {
        td_node *n = &j->g->nodes[i];
        const td_rule *r = match_rule(scheme, n);
        if (!r || r->keep_f32)
            continue;
        float *w;
        int64_t rows, cols;
        td_status st = td_node_weight_matrix(j->g, n, &w, &rows, &cols);
        if (st) { /* not a weighted layer: rules match names, so skip quietly */
            td_status_free(st);
            continue;
        }
        free(w);
        td_qmatrix_free(n->qweight);
        n->qweight = NULL;
        j->layers[j->n_layers++] = (layer){i, r, NULL, n->inputs[0]};
    }
    return TD_OK;
}

static td_status apply(job *j, td_compress_report *rep)
{
    rep->bytes_f32 = 0;
    for (int i = 0; i < j->g->n_nodes; i++)
        rep->bytes_f32 += j->g->nodes[i].cost.weight_bytes;
    for (int i = 0; i < j->n_layers; i++) {
        td_node *n = &j->g->nodes[j->layers[i].node];
        n->qweight = j->layers[i].q;
        n->act = rep->layers[i].act;
        j->layers[i].q = NULL; /* owned by the node now */
    }
    TD_TRY(td_graph_update_costs(j->g));
    rep->bytes = 0;
    for (int i = 0; i < j->g->n_nodes; i++)
        rep->bytes += j->g->nodes[i].cost.weight_bytes;
    for (int i = 0; i < j->n_layers; i++)
        rep->layers[i].bytes = j->g->nodes[rep->layers[i].node].cost.weight_bytes;
    return measure(j, &rep->out_rel_l2, &rep->out_cosine);
}

static td_status run_job(job *j, const td_scheme *scheme, td_compress_report *rep)
{
    TD_TRY(find_layers(j, scheme));
    TD_TRY(reference(j));
    rep->layers = calloc((size_t)j->n_layers + 1, sizeof *rep->layers);
    if (!rep->layers)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "compress: out of memory");
    rep->n_layers = j->n_layers;
    for (int i = 0; i < j->n_layers; i++)
        fill_static(j, &rep->layers[i], &j->layers[i]);
    TD_TRY(measure_layers(j, rep->layers));
    choose_acts(j, rep->layers, scheme->a8_budget);
    return apply(j, rep);
}

static td_status find_output(const td_graph *g, const char *name, int *out)
{
    if (g->n_outputs == 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "graph '%s' has no outputs", g->name);
    *out = g->outputs[0];
    if (!name)
        return TD_OK;
    for (int i = 0; i < g->n_outputs; i++)
        if (strcmp(g->values[g->outputs[i]].name, name) == 0) {
            *out = g->outputs[i];
            return TD_OK;
        }
    return td_error_new(TD_CODE_INVALID_ARGUMENT, "graph '%s' has no output '%s'", g->name, name);
}

td_status td_compress(td_graph *g, const td_scheme *scheme, const td_calib *calib,
                      const td_ctx *ctx, td_progress_fn progress_fn, void *user,
                      td_compress_report *report)
{
    memset(report, 0, sizeof *report);
    job j = {.g = g, .calib = calib, .progress = progress_fn, .user = user};
    TD_TRY(td_graph_prepare(g));
    TD_TRY(find_output(g, calib->output, &j.out_value));
    j.vstats = calloc((size_t)g->n_values + 1, sizeof *j.vstats);
    if (!j.vstats)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "compress: out of memory");
    td_status st = td_session_new(g, ctx, &j.s);
    if (!st)
        st = run_job(&j, scheme, report);
    for (int i = 0; i < j.n_layers; i++)
        td_qmatrix_free(j.layers[i].q);
    free(j.layers);
    free(j.vstats);
    free(j.ref);
    td_session_free(j.s);
    if (st)
        td_compress_report_free(report);
    return st;
}

td_status td_compress_apply(td_graph *g, const td_scheme *scheme)
{
    TD_TRY(td_graph_prepare(g));
    job j = {.g = g};
    TD_TRY(find_layers(&j, scheme));
    td_status st = TD_OK;
    for (int i = 0; i < j.n_layers && !st; i++) {
        layer *L = &j.layers[i];
        st = quantize_layer(&j, L);
        if (!st) {
            td_node *n = &g->nodes[L->node];
            n->qweight = L->q;
            n->act = L->rule->act_mode == TD_ACTM_AUTO ? TD_ACT_INT8 : L->rule->act;
            L->q = NULL;
        }
    }
    for (int i = 0; i < j.n_layers; i++)
        td_qmatrix_free(j.layers[i].q);
    free(j.layers);
    return st ? st : td_graph_update_costs(g);
}

td_status td_compress_transfer(td_graph *dst, td_graph *src)
{
    for (int i = 0; i < dst->n_nodes; i++) {
        td_node *n = &dst->nodes[i];
        for (int k = 0; k < src->n_nodes; k++) {
            td_node *c = &src->nodes[k];
            if (!c->qweight || strcmp(c->name, n->name) != 0)
                continue;
            td_qmatrix_free(n->qweight);
            n->qweight = c->qweight;
            n->act = c->act;
            c->qweight = NULL;
        }
    }
    return td_graph_update_costs(dst);
}

static void add_num(cJSON *o, const char *k, double v)
{
    cJSON_AddNumberToObject(o, k, isfinite(v) ? v : -1.0);
}

char *td_compress_report_json(const td_compress_report *r, const td_scheme *s)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "scheme", s->name);
    add_num(root, "a8_budget", s->a8_budget);
    add_num(root, "out_rel_l2", r->out_rel_l2);
    add_num(root, "out_cosine", r->out_cosine);
    add_num(root, "bytes_f32", (double)r->bytes_f32);
    add_num(root, "bytes", (double)r->bytes);
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int i = 0; i < r->n_layers; i++) {
        const td_layer_report *L = &r->layers[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", L->name);
        cJSON_AddStringToObject(o, "op", L->op);
        cJSON_AddStringToObject(o, "weights", L->spec);
        cJSON_AddStringToObject(o, "act", td_act_name(L->act));
        add_num(o, "params", (double)L->params);
        add_num(o, "macs", (double)L->macs);
        add_num(o, "bytes_f32", (double)L->bytes_f32);
        add_num(o, "bytes", (double)L->bytes);
        add_num(o, "in_absmax", L->in_absmax);
        add_num(o, "in_mean", L->in_mean);
        add_num(o, "in_std", L->in_std);
        add_num(o, "sens", L->sens);
        add_num(o, "sens_a8", L->sens_a8);
        add_num(o, "sens_a6", L->sens_a6);
        cJSON_AddItemToArray(layers, o);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}
