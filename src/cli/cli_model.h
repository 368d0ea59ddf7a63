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
