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
