/* Shared pieces of the model commands (info, run, eval, compress, embed). */
#ifndef TANDEM_CLI_MODEL_H
#define TANDEM_CLI_MODEL_H

#include "cli/cli.h"
#include "tandem/compress.h"
#include "tandem/model.h"
#include "tandem/text.h"

#define TD_CLI_MAX_POS 64

typedef struct td_model_args {
    const char *input, *output, *data, *calib, *scheme, *preset, *json, *model;
    int batch, seq, repeat, limit;
    td_ctx ctx;
    const char *pos[TD_CLI_MAX_POS];
    int n_pos;
} td_model_args;

/* Parses `--name value` options among those listed in `allowed` (space separated, e.g.
 * "batch seq threads input"), plus positionals. Prints the error and returns 0 on bad use. */
int td_cli_model_args(int argc, char **argv, const char *allowed, td_model_args *a);

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

/* For BERT graphs (inputs input_ids and attention_mask): tokenized, padded sentences. */
typedef struct td_text_batch {
    int64_t *ids;
    float *mask;
    int n, seq;
} td_text_batch;

bool td_graph_is_text(const td_graph *g);
td_status td_text_batch_make(const td_vocab *v, const char *const *texts, int n, int seq,
                             td_text_batch *out);
void td_text_batch_free(td_text_batch *b);
/* Reads non-empty lines of a text file (at most `cap`). Caller frees each line and the array. */
td_status td_read_lines(const char *path, char ***lines, int *n, int cap);
/* The vocabulary of a BERT model: vocab.txt in the folder, or the "tandem.vocab" metadata
 * path saved by compress. */
td_status td_model_vocab(const char *model_path, td_vocab **out);

#endif
