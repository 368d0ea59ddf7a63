/* Model files: opening any supported model, and Tandem's compressed-model file.
 *
 * The compressed-model file is a safetensors file, so existing tools can open it: every
 * constant is a tensor under its own name, each compressed weight is stored as its byte parts
 * ("<weight>.tdq.codes", ".tdq.scales", ... as U8 tensors), and `__metadata__` holds
 * "tandem.version", "tandem.graph" (the graph as JSON: inputs, outputs, nodes with their
 * attributes, and per compressed node its format spec, activation type and shape) plus any
 * caller-supplied entries (the compression report, the source model). */
#ifndef TANDEM_MODEL_H
#define TANDEM_MODEL_H

#include "tandem/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_MODEL_FILE_VERSION "1"

/* Writes g (prepared or not) atomically to `path`. meta_keys/meta_values (n_meta entries,
 * may be 0) are extra __metadata__ entries. */
td_status td_model_save(const td_graph *g, const char *path, const char *const *meta_keys,
                        const char *const *meta_values, int n_meta);

/* Loads a Tandem model file (from a path, or a caller buffer; `name` names it in errors). */
td_status td_model_load(const char *path, td_graph **out);
td_status td_model_load_buffer(const void *buf, size_t len, const char *name, td_graph **out);

typedef struct td_model_opts {
    int batch;   /* fixes a symbolic first input dimension; 0 leaves it for the caller */
    int seq_len; /* BERT folders: tokens per sequence (default 128) */
} td_model_opts;

/* Opens whatever `path` is: an .onnx file, a Hugging Face BERT folder (config.json +
 * model.safetensors), or a Tandem model file. The error says which kinds were tried. */
td_status td_model_open(const char *path, const td_model_opts *opts, td_graph **out);

/* A labelled (or unlabelled) set of samples: x normalized to f32. */
typedef struct td_dataset {
    float *x;
    int64_t n;
    int sample_ndim;
    int64_t sample_shape[TD_MAX_DIMS];
    int64_t sample_numel;
    int64_t *y; /* NULL when the file has no labels */
} td_dataset;

/* Reads "x" (U8 pixels with "scale"/"offset" in __metadata__, or F32) and optional "y"
 * (I64/I32) from a safetensors file. */
td_status td_dataset_load(const char *path, td_dataset *d);
void td_dataset_free(td_dataset *d);

typedef struct td_eval_result {
    int64_t correct, total;
    double seconds;
} td_eval_result;

/* Classifier accuracy over the first n samples of d, `batch` per run (the graph is prepared
 * for that batch; the last partial batch is zero-padded and its padding ignored). */
td_status td_eval_batches(td_session *s, td_graph *g, const td_dataset *d, int64_t n, int batch,
                          td_eval_result *r);

#ifdef __cplusplus
}
#endif
#endif
