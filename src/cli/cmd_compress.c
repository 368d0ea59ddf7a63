/* tandem compress | embed */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli_model.h"

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* ---- compress ---- */

void td_usage_compress(void)
{
    int n;
    const char *const *names = td_scheme_preset_names(&n);
    printf("usage: tandem compress MODEL (--preset NAME | --scheme FILE) --calib FILE -o OUT\n"
           "                       [--batch N] [--seq N] [--threads N]\n\n"
           "Compresses the weighted layers (Conv, Gemm, MatMul) of a model, measuring each\n"
           "layer's sensitivity on calibration data, and writes a Tandem model file\n"
           "(safetensors with the graph in __metadata__) that `tandem run`, `eval`, `info`\n"
           "and `embed` load.\n"
           "  --preset NAME  one of:");
    for (int i = 0; i < n; i++)
        printf(" %s", names[i]);
    printf("\n  --scheme FILE  JSON rules per layer-name pattern, e.g.\n"
           "                 {\"name\": \"mixed\", \"a8_budget\": 0.3, \"layers\": [\n"
           "                   {\"match\": \"*conv1*\", \"weights\": \"int8\", \"act\": \"a8\"},\n"
           "                   {\"match\": \"*\", \"weights\": \"int6:g32\", \"act\": \"auto\"}]}\n"
           "                 \"auto\" picks 6- or 8-bit activations per layer by sensitivity,\n"
           "                 at most a8_budget of those layers' MACs at 8 bits\n"
           "  --calib FILE   image models: safetensors with \"x\" (all samples form one batch,\n"
           "                 or the first --batch N); text models: sentences, one per line\n"
           "  -o, --output   the compressed model file (written atomically)\n"
           "  --seq N        BERT folders: tokens per sequence (default 128)\n");
}

static void progress(void *user, const char *what, int done, int total)
{
    (void)user;
    fprintf(stderr, "\r%s %d/%d", what, done, total);
    if (done == total)
        fprintf(stderr, "\n");
}

typedef struct calib_data {
    td_dataset d;
    td_text_batch t;
    const char *names[2];
    td_view views[2];
    td_calib c;
} calib_data;

static td_status calib_images(const td_model_args *a, calib_data *cd, td_graph **g)
{
    TD_TRY(td_dataset_load(a->calib, &cd->d));
    int64_t n = a->batch && a->batch < cd->d.n ? a->batch : cd->d.n;
    td_model_opts o = {(int)n, a->seq};
    TD_TRY(td_model_open(a->pos[0], &o, g));
    TD_TRY(td_graph_prepare(*g));
    const td_value *v = &(*g)->values[(*g)->inputs[0]];
    if ((*g)->n_inputs != 1 || td_shape_numel(v->ndim, v->shape) != n * cd->d.sample_numel)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s: calibration samples do not fit the model's input", a->calib);
    cd->names[0] = v->name;
    cd->views[0] = (td_view){TD_DT_F32, v->ndim, {0}, cd->d.x};
    memcpy(cd->views[0].shape, v->shape, sizeof v->shape);
    cd->c = (td_calib){1, cd->names, cd->views, NULL};
    return TD_OK;
}

static td_status calib_text(const td_model_args *a, int seq, calib_data *cd, td_graph **g)
{
    char **lines = NULL;
    int n = 0;
    TD_TRY(td_read_lines(a->calib, &lines, &n, a->batch ? a->batch : 16));
    td_vocab *v = NULL;
    td_status st = td_model_vocab(a->pos[0], &v);
    if (!st)
        st = td_text_batch_make(v, (const char *const *)lines, n, seq, &cd->t);
    td_vocab_free(v);
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    TD_TRY(st);
    td_model_opts o = {n, seq};
    TD_TRY(td_model_open(a->pos[0], &o, g));
    TD_TRY(td_graph_prepare(*g));
    cd->names[0] = "input_ids";
    cd->names[1] = "attention_mask";
    cd->views[0] = (td_view){TD_DT_I64, 2, {n, seq}, cd->t.ids};
    cd->views[1] = (td_view){TD_DT_F32, 2, {n, seq}, cd->t.mask};
    cd->c = (td_calib){2, cd->names, cd->views, "embedding"};
    return TD_OK;
}

static void print_report(const td_compress_report *r)
{
    printf("%-28s %-8s %-16s %-4s %10s %12s %10s %10s %9s %9s %9s\n", "layer", "op", "weights",
           "act", "params", "MACs", "bytes f32", "bytes", "in |max|", "sens a8", "sens a6");
    for (int i = 0; i < r->n_layers; i++) {
        const td_layer_report *L = &r->layers[i];
        double a8 = L->sens_a8 >= 0 ? L->sens_a8 : (L->act == TD_ACT_INT6 ? -1 : L->sens);
        double a6 = L->sens_a6 >= 0 ? L->sens_a6 : (L->act == TD_ACT_INT6 ? L->sens : -1);
        printf("%-28.28s %-8s %-16s %-4s %10lld %12lld %10lld %10lld %9.3g ", L->name, L->op,
               L->spec, td_act_name(L->act), (long long)L->params, (long long)L->macs,
               (long long)L->bytes_f32, (long long)L->bytes, L->in_absmax);
        if (a8 >= 0)
            printf("%9.2e ", a8);
        else
            printf("%9s ", "-");
        if (a6 >= 0)
            printf("%9.2e\n", a6);
        else
            printf("%9s\n", "-");
    }
    printf("weights: %lld -> %lld bytes (%.2fx smaller); output error vs f32: relative L2 %.4g, "
           "mean cosine %.6f\n",
           (long long)r->bytes_f32, (long long)r->bytes,
           r->bytes ? (double)r->bytes_f32 / (double)r->bytes : 0.0, r->out_rel_l2, r->out_cosine);
}

/* BERT graphs bake batch and sequence into reshape constants: the file gets a batch-1 graph
 * carrying the compressed weights measured on the calibration batch. */
static td_status rebuild_text_graph(const char *dir, int seq, td_graph *calibrated, td_graph **out)
{
    td_model_opts o = {1, seq};
    TD_TRY(td_model_open(dir, &o, out));
    td_status st = td_graph_prepare(*out);
    if (!st)
        st = td_compress_transfer(*out, calibrated);
    return st;
}

static td_status save(const td_model_args *a, td_graph *g, const td_compress_report *r,
                      const td_scheme *s, bool text)
{
    char *json = td_compress_report_json(r, s), *vocab = NULL;
    if (!json)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "compress: out of memory");
    const char *keys[3] = {"tandem.compression", "tandem.source", "tandem.vocab"};
    const char *vals[3] = {json, a->pos[0], NULL};
    int n = 2;
    td_status st = TD_OK;
    if (text) {
        char p[4096];
        snprintf(p, sizeof p, "%s/vocab.txt", a->pos[0]);
        size_t vlen;
        st = td_file_read(p, (size_t)1 << 24, &vocab, &vlen);
        vals[2] = vocab;
        n = 3;
    }
    if (!st)
        st = td_model_save(g, a->output, keys, vals, n);
    free(json);
    free(vocab);
    return st;
}

static td_status do_compress(const td_model_args *a)
{
    td_scheme scheme;
    TD_TRY(a->preset ? td_scheme_preset(a->preset, &scheme) : td_scheme_load(a->scheme, &scheme));
    bool text = is_dir(a->pos[0]);
    int seq = a->seq ? a->seq : 128;
    calib_data cd;
    memset(&cd, 0, sizeof cd);
    td_graph *g = NULL, *g1 = NULL;
    td_compress_report r;
    memset(&r, 0, sizeof r);
    td_status st = text ? calib_text(a, seq, &cd, &g) : calib_images(a, &cd, &g);
    if (!st)
        st = td_compress(g, &scheme, &cd.c, &a->ctx, progress, NULL, &r);
    if (!st)
        print_report(&r);
    if (!st && text)
        st = rebuild_text_graph(a->pos[0], seq, g, &g1);
    if (!st)
        st = save(a, g1 ? g1 : g, &r, &scheme, text);
    if (!st)
        printf("wrote %s (scheme %s)\n", a->output, scheme.name);
    td_compress_report_free(&r);
    td_graph_free(g);
    td_graph_free(g1);
    td_dataset_free(&cd.d);
    td_text_batch_free(&cd.t);
    return st;
}

int td_cmd_compress(int argc, char **argv)
{
    td_model_args a;
    if (!td_cli_model_args(argc, argv, "preset scheme calib output batch seq threads", &a))
        return TD_EXIT_USAGE;
    if (a.n_pos != 1 || !a.output || !a.calib || (!a.preset == !a.scheme)) {
        fprintf(stderr, "tandem compress: expected MODEL, one of --preset/--scheme, --calib and "
                        "-o OUT (see 'tandem compress --help')\n");
        return TD_EXIT_USAGE;
    }
    td_status st = do_compress(&a);
    return st ? td_cli_fail(st) : TD_EXIT_OK;
}

/* ---- embed ---- */

void td_usage_embed(void)
{
    printf("usage: tandem embed [--model PATH] [--seq N] [--threads N] TEXT...\n\n"
           "Prints the sentence embedding of each TEXT (one line of numbers per text): the\n"
           "model's last hidden state averaged over the tokens, then L2-normalized, as\n"
           "sentence-transformers computes it for all-MiniLM-L6-v2.\n"
           "  --model PATH  a BERT folder (config.json, model.safetensors, vocab.txt) or a\n"
           "                compressed model file; default $TANDEM_MINILM, else\n"
           "                models/all-MiniLM-L6-v2 (fetched by scripts/fetch-minilm.sh)\n"
           "  --seq N       longest token sequence (default 128; longer texts are cut)\n");
}

static td_status embed_one(td_session *s, const td_text_batch *t, int i, float *out, int64_t dim)
{
    td_view ids = {TD_DT_I64, 2, {1, t->seq}, t->ids + (size_t)i * t->seq};
    td_view mask = {TD_DT_F32, 2, {1, t->seq}, t->mask + (size_t)i * t->seq};
    TD_TRY(td_session_set_input(s, "input_ids", &ids));
    TD_TRY(td_session_set_input(s, "attention_mask", &mask));
    TD_TRY(td_session_run(s));
    td_view e;
    TD_TRY(td_session_get(s, "embedding", &e));
    if (td_view_numel(&e) != dim)
        return td_error_new(TD_CODE_INTERNAL, "embedding size changed");
    memcpy(out, e.data, (size_t)dim * sizeof(float));
    return TD_OK;
}

static td_status embed_all(const td_model_args *a, const char *model)
{
    td_vocab *v;
    TD_TRY(td_model_vocab(model, &v));
    td_model_opts o = {1, a->seq ? a->seq : 128};
    td_graph *g = NULL;
    td_session *s = NULL;
    td_text_batch t;
    memset(&t, 0, sizeof t);
    td_status st = td_model_open(model, &o, &g);
    if (!st && !td_graph_is_text(g))
        st = td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: not a text (BERT) model", model);
    if (!st)
        st = td_session_new(g, &a->ctx, &s);
    int seq = g && !st ? (int)g->values[td_graph_find_value(g, "input_ids")].shape[1] : 0;
    if (!st)
        st = td_text_batch_make(v, a->pos, a->n_pos, seq, &t);
    td_view e;
    if (!st)
        st = td_session_get(s, "embedding", &e);
    int64_t dim = st ? 0 : td_view_numel(&e);
    float *out = st ? NULL : malloc((size_t)dim * sizeof(float));
    for (int i = 0; i < a->n_pos && !st; i++) {
        st = out ? embed_one(s, &t, i, out, dim)
                 : td_error_new(TD_CODE_OUT_OF_MEMORY, "embed: out of memory");
        for (int64_t k = 0; k < dim && !st; k++)
            printf("%s%.7g", k ? " " : "", out[k]);
        if (!st)
            printf("\n");
    }
    free(out);
    td_text_batch_free(&t);
    td_session_free(s);
    td_graph_free(g);
    td_vocab_free(v);
    return st;
}

int td_cmd_embed(int argc, char **argv)
{
    td_model_args a;
    if (!td_cli_model_args(argc, argv, "model seq threads", &a))
        return TD_EXIT_USAGE;
    if (a.n_pos < 1) {
        fprintf(stderr, "tandem embed: expected at least one TEXT (see 'tandem embed --help')\n");
        return TD_EXIT_USAGE;
    }
    const char *model = a.model ? a.model : getenv("TANDEM_MINILM");
    if (!model)
        model = "models/all-MiniLM-L6-v2";
    td_status st = embed_all(&a, model);
    return st ? td_cli_fail(st) : TD_EXIT_OK;
}
