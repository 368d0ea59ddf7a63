/* Shared pieces of the model commands: options, datasets, text batches, timing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "cli/cli_model.h"
#include "tandem/safetensors.h"

static bool allowed_opt(const char *allowed, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = allowed; (p = strstr(p, name)) != NULL; p += n)
        if ((p == allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return true;
    return false;
}

static int parse_int(const char *opt, const char *text, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "tandem: --%s '%s': expected an integer from %d to %d\n", opt, text, lo,
                hi);
        return 0;
    }
    *out = (int)v;
    return 1;
}

static int set_opt(td_model_args *a, const char *name, const char *val)
{
    if (!strcmp(name, "batch"))
        return parse_int(name, val, 1, 1 << 20, &a->batch);
    if (!strcmp(name, "seq"))
        return parse_int(name, val, 1, 1 << 16, &a->seq);
    if (!strcmp(name, "repeat"))
        return parse_int(name, val, 1, 100000, &a->repeat);
    if (!strcmp(name, "limit"))
        return parse_int(name, val, 1, 1 << 30, &a->limit);
    if (!strcmp(name, "threads"))
        return td_cli_parse_threads(val, &a->ctx);
    const char **slot = !strcmp(name, "input")    ? &a->input
                        : !strcmp(name, "output") ? &a->output
                        : !strcmp(name, "data")   ? &a->data
                        : !strcmp(name, "calib")  ? &a->calib
                        : !strcmp(name, "scheme") ? &a->scheme
                        : !strcmp(name, "preset") ? &a->preset
                        : !strcmp(name, "json")   ? &a->json
                        : !strcmp(name, "model")  ? &a->model
                                                  : NULL;
    if (!slot)
        return 0;
    *slot = val;
    return 1;
}

int td_cli_model_args(int argc, char **argv, const char *allowed, td_model_args *a)
{
    memset(a, 0, sizeof *a);
    a->ctx = td_ctx_default();
    a->repeat = 1;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_pos && !strcmp(arg, "--")) {
            only_pos = true;
            continue;
        }
        bool short_o = !only_pos && !strcmp(arg, "-o");
        if (!short_o && (only_pos || strncmp(arg, "--", 2) != 0 || arg[2] == 0)) {
            if (a->n_pos >= TD_CLI_MAX_POS) {
                fprintf(stderr, "tandem %s: more than %d arguments\n", argv[0], TD_CLI_MAX_POS);
                return 0;
            }
            a->pos[a->n_pos++] = arg;
            continue;
        }
        const char *name = short_o ? "output" : arg + 2;
        if (!allowed_opt(allowed, name)) {
            fprintf(stderr, "tandem %s: unknown option '%s' (see 'tandem %s --help')\n", argv[0],
                    arg, argv[0]);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "tandem %s: option '%s' needs a value\n", argv[0], arg);
            return 0;
        }
        if (!set_opt(a, name, argv[++i]))
            return 0;
    }
    return 1;
}

/* ---- datasets ---- */

static td_status meta_double(const td_safetensors *st, const char *path, const char *key,
                             double def, double *out)
{
    const char *s = td_safetensors_metadata(st, key);
    if (!s) {
        *out = def;
        return TD_OK;
    }
    char *end;
    *out = strtod(s, &end);
    if (end == s || *end)
        return td_error_new(TD_CODE_BAD_DATA, "%s: metadata \"%s\" is not a number", path, key);
    return TD_OK;
}

static td_status read_x(const td_safetensors *st, const char *path, td_dataset *d)
{
    td_st_tensor t;
    TD_TRY(td_safetensors_find(st, "x", &t));
    if (t.ndim < 1 || t.shape[0] < 1)
        return td_error_new(TD_CODE_BAD_DATA, "%s: \"x\" must have a sample dimension", path);
    d->n = t.shape[0];
    d->sample_ndim = t.ndim - 1;
    d->sample_numel = 1;
    for (int i = 1; i < t.ndim; i++) {
        d->sample_shape[i - 1] = t.shape[i];
        d->sample_numel *= t.shape[i];
    }
    double scale, offset;
    TD_TRY(meta_double(st, path, "scale", 1.0, &scale));
    TD_TRY(meta_double(st, path, "offset", 0.0, &offset));
    if (t.dtype != TD_ST_U8 && t.dtype != TD_ST_F32)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: \"x\" must be U8 or F32, not %s", path,
                            td_st_dtype_name(t.dtype));
    TD_TRY(td_alloc(t.nelem * sizeof(float) + 1, (void **)&d->x));
    for (size_t i = 0; i < t.nelem; i++) {
        float v;
        if (t.dtype == TD_ST_U8)
            v = (float)(((const uint8_t *)t.data)[i] * scale + offset);
        else
            memcpy(&v, (const char *)t.data + i * 4, 4);
        d->x[i] = v;
    }
    return TD_OK;
}

static td_status read_y(const td_safetensors *st, const char *path, td_dataset *d)
{
    td_st_tensor t;
    td_status miss = td_safetensors_find(st, "y", &t);
    if (miss) {
        td_status_free(miss);
        return TD_OK;
    }
    if (t.ndim != 1 || t.shape[0] != d->n || (t.dtype != TD_ST_I64 && t.dtype != TD_ST_I32))
        return td_error_new(TD_CODE_BAD_DATA, "%s: \"y\" must be I64 or I32 of shape [%lld]", path,
                            (long long)d->n);
    TD_TRY(td_alloc((size_t)d->n * sizeof(int64_t), (void **)&d->y));
    for (int64_t i = 0; i < d->n; i++) {
        if (t.dtype == TD_ST_I64) {
            memcpy(&d->y[i], (const char *)t.data + i * 8, 8);
        } else {
            int32_t v;
            memcpy(&v, (const char *)t.data + i * 4, 4);
            d->y[i] = v;
        }
    }
    return TD_OK;
}

td_status td_dataset_load(const char *path, td_dataset *d)
{
    memset(d, 0, sizeof *d);
    td_safetensors *st;
    TD_TRY(td_safetensors_open(path, &st));
    td_status s = read_x(st, path, d);
    if (!s)
        s = read_y(st, path, d);
    td_safetensors_close(st);
    if (s)
        td_dataset_free(d);
    return s;
}

void td_dataset_free(td_dataset *d)
{
    td_free(d->x);
    td_free(d->y);
    memset(d, 0, sizeof *d);
}

static int64_t argmax_row(const float *row, int64_t c)
{
    int64_t best = 0;
    for (int64_t k = 1; k < c; k++)
        best = row[k] > row[best] ? k : best;
    return best;
}

td_status td_eval_batches(td_session *s, td_graph *g, const td_dataset *d, int64_t n, int batch,
                          td_eval_result *r)
{
    const td_value *in = &g->values[g->inputs[0]];
    const td_value *out = &g->values[g->outputs[0]];
    if (out->ndim != 2 || out->shape[0] != batch)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "eval needs a first output of shape [batch, classes]; '%s' is not",
                            out->name);
    float *buf;
    TD_TRY(td_alloc((size_t)batch * (size_t)d->sample_numel * sizeof(float), (void **)&buf));
    td_view view = {TD_DT_F32, in->ndim, {0}, buf};
    memcpy(view.shape, in->shape, sizeof view.shape);
    td_status st = TD_OK;
    double t0 = td_bench_now();
    for (int64_t b0 = 0; b0 < n && !st; b0 += batch) {
        int64_t m = n - b0 < batch ? n - b0 : batch;
        memset(buf, 0, (size_t)batch * (size_t)d->sample_numel * sizeof(float));
        memcpy(buf, d->x + b0 * d->sample_numel, (size_t)(m * d->sample_numel) * sizeof(float));
        st = td_session_set_input(s, in->name, &view);
        if (!st)
            st = td_session_run(s);
        td_view o;
        if (!st)
            st = td_session_get(s, out->name, &o);
        for (int64_t i = 0; i < m && !st; i++)
            r->correct += argmax_row((const float *)o.data + i * out->shape[1], out->shape[1]) ==
                          d->y[b0 + i];
        r->total += st ? 0 : m;
    }
    r->seconds = td_bench_now() - t0;
    td_free(buf);
    return st;
}

/* ---- text ---- */

bool td_graph_is_text(const td_graph *g)
{
    return td_graph_find_value(g, "input_ids") >= 0 &&
           td_graph_find_value(g, "attention_mask") >= 0;
}

td_status td_text_batch_make(const td_vocab *v, const char *const *texts, int n, int seq,
                             td_text_batch *out)
{
    memset(out, 0, sizeof *out);
    out->ids = calloc((size_t)n * (size_t)seq + 1, sizeof *out->ids);
    out->mask = calloc((size_t)n * (size_t)seq + 1, sizeof *out->mask);
    int32_t *ids = malloc((size_t)seq * sizeof *ids), *mask = malloc((size_t)seq * sizeof *mask);
    td_status st = TD_OK;
    if (!out->ids || !out->mask || !ids || !mask)
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "text batch: out of memory");
    td_wordpiece_opts o = td_wordpiece_opts_default();
    o.max_len = seq;
    o.pad = 1;
    for (int i = 0; i < n && !st; i++) {
        int got = 0;
        st = td_wordpiece_encode_n(v, texts[i], strlen(texts[i]), &o, ids, mask, seq, &got);
        for (int k = 0; k < got && !st; k++) {
            out->ids[(size_t)i * seq + k] = ids[k];
            out->mask[(size_t)i * seq + k] = (float)mask[k];
        }
    }
    free(ids);
    free(mask);
    out->n = n;
    out->seq = seq;
    if (st)
        td_text_batch_free(out);
    return st;
}

void td_text_batch_free(td_text_batch *b)
{
    free(b->ids);
    free(b->mask);
    memset(b, 0, sizeof *b);
}

td_status td_read_lines(const char *path, char ***lines, int *n, int cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return td_error_new(TD_CODE_IO, "%s: cannot open", path);
    char **v = calloc((size_t)cap + 1, sizeof *v);
    char buf[8192];
    int k = 0;
    while (v && k < cap && fgets(buf, sizeof buf, f)) {
        size_t len = strcspn(buf, "\r\n");
        buf[len] = 0;
        if (len == 0 || buf[0] == '#')
            continue;
        v[k] = strdup(buf);
        if (!v[k])
            break;
        k++;
    }
    fclose(f);
    if (!v)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", path);
    if (k == 0) {
        free(v);
        return td_error_new(TD_CODE_BAD_DATA, "%s: no text lines", path);
    }
    *lines = v;
    *n = k;
    return TD_OK;
}

td_status td_model_vocab(const char *model_path, td_vocab **out)
{
    struct stat sb;
    if (stat(model_path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        char p[4096];
        snprintf(p, sizeof p, "%s/vocab.txt", model_path);
        return td_vocab_load(p, out);
    }
    td_safetensors *st;
    TD_TRY(td_safetensors_open(model_path, &st));
    const char *text = td_safetensors_metadata(st, "tandem.vocab");
    td_status s =
        text ? td_vocab_load_buffer(text, strlen(text), model_path, out)
             : td_error_new(TD_CODE_BAD_DATA, "%s: no vocabulary (tandem.vocab) in this model file",
                            model_path);
    td_safetensors_close(st);
    return s;
}
