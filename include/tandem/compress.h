/* Compression of a whole model: a scheme assigns each weighted layer (Conv, Gemm, MatMul with
 * a constant weight) a number format, optional N:M or group sparsity, and an activation
 * width; calibration data measures activation statistics and each layer's sensitivity (the
 * error of the whole model's output when that layer alone is compressed), and, where the
 * scheme asks for it, picks 6- or 8-bit activations per layer under a budget (W6A6 where
 * harmless, W6A8 where sensitive). */
#ifndef TANDEM_COMPRESS_H
#define TANDEM_COMPRESS_H

#include "tandem/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_act_mode {
    TD_ACTM_FIXED = 0, /* use `act` */
    TD_ACTM_AUTO,      /* A6 or A8 per layer, chosen by sensitivity under the budget */
} td_act_mode;

#define TD_SCHEME_MAX_RULES 64

/* One rule: layers whose name matches `pattern` (shell glob; "*" matches all) and, if `op` is
 * not empty, whose operator is `op`. The first matching rule wins; unmatched layers stay f32. */
typedef struct td_rule {
    char pattern[128];
    char op[32];
    bool keep_f32; /* "weights": "f32" */
    td_qspec spec;
    td_act_mode act_mode;
    td_act_type act;
} td_rule;

typedef struct td_scheme {
    char name[64];
    td_rule rules[TD_SCHEME_MAX_RULES];
    int n_rules;
    /* For TD_ACTM_AUTO layers: the largest share of their MACs that may run with 8-bit
     * activations; the rest run with 6-bit. In [0, 1]. */
    double a8_budget;
} td_scheme;

/* Built-in schemes: f32, w8a8, w6a8, w6a6, w6-auto, w4a8, w4a8-g128, nm24 (int8 2:4, A8),
 * fp8 (fp8_e4m3 weights, f32 activations), gs50 (int4 g32 with half the groups pruned, A8). */
td_status td_scheme_preset(const char *name, td_scheme *out);
const char *const *td_scheme_preset_names(int *count);
/* A scheme file (JSON):
 *   {"name": "mixed", "a8_budget": 0.3,
 *    "layers": [{"match": "conv1", "weights": "int8", "act": "a8"},
 *               {"match": "*", "op": "Conv", "weights": "int6:g32", "act": "auto"},
 *               {"match": "*", "weights": "int4:g32", "act": "a8"}]}
 * "weights" takes the format specs of `tandem formats` (e.g. "int8:2:4", "int4:g128:gs0.5")
 * or "f32"; "act" is "f32", "a8", "a6" or "auto". */
td_status td_scheme_parse(const char *json, size_t len, const char *name, td_scheme *out);
td_status td_scheme_load(const char *path, td_scheme *out);

/* Per-layer outcome. */
typedef struct td_layer_report {
    int node;
    char name[96];
    char op[32];
    char spec[64]; /* "f32" when left uncompressed */
    td_act_type act;
    int64_t params, macs;
    int64_t bytes_f32, bytes; /* weight bytes before and after */
    /* Activation statistics of the layer's input over the calibration data. */
    double in_absmax, in_mean, in_std;
    /* Relative L2 error of the model output when only this layer is compressed, with 8-bit
     * and 6-bit activations (negative when not measured). */
    double sens_a8, sens_a6, sens;
} td_layer_report;

typedef struct td_compress_report {
    td_layer_report *layers;
    int n_layers;
    double out_rel_l2; /* relative L2 error of the first output, all layers compressed */
    double out_cosine; /* mean cosine similarity per row of the first output */
    int64_t bytes_f32, bytes;
} td_compress_report;

void td_compress_report_free(td_compress_report *r);

/* Progress: called after each measured step (done of total). NULL for silence. */
typedef void (*td_progress_fn)(void *user, const char *what, int done, int total);

typedef struct td_calib {
    int n_inputs;
    const char *const *names; /* graph input names */
    const td_view *data;      /* one batch per input, matching the prepared graph */
    const char *output;       /* output whose error is measured; NULL: the first */
} td_calib;

/* Compresses the prepared graph g in place (sets qweight/act on matched nodes). */
td_status td_compress(td_graph *g, const td_scheme *scheme, const td_calib *calib,
                      const td_ctx *ctx, td_progress_fn progress, void *user,
                      td_compress_report *report);

/* Applies a scheme without calibration (for cost estimates): matched weighted layers get
 * their format and activation width; "auto" layers take A8. */
td_status td_compress_apply(td_graph *g, const td_scheme *scheme);

/* Moves the compressed weights of src's nodes to the nodes of dst with the same names (the
 * same model built for another batch or sequence length); dst must be prepared. */
td_status td_compress_transfer(td_graph *dst, td_graph *src);

/* The report as JSON text (malloc'ed), stored in the model file's metadata. */
char *td_compress_report_json(const td_compress_report *r, const td_scheme *s);

#ifdef __cplusplus
}
#endif
#endif
