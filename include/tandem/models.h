/* Model builders: graphs made from weight files rather than from a serialized graph.
 *
 * td_bert_build reads a Hugging Face BERT-style encoder folder (config.json +
 * model.safetensors, as all-MiniLM-L6-v2 ships) and builds the encoder as an ordinary
 * Tandem graph of ONNX operators, so compression, planning, execution and cost models treat
 * it like any imported model. */
#ifndef TANDEM_MODELS_H
#define TANDEM_MODELS_H

#include "tandem/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct td_bert_config {
    int hidden, heads, layers, intermediate;
    int vocab, max_positions, type_vocab;
    float ln_eps;
} td_bert_config;

typedef struct td_bert_opts {
    int batch;   /* sequences per run, >= 1 */
    int seq_len; /* tokens per sequence, 1..max_position_embeddings */
    /* Adds mean pooling over the attention mask and L2 normalization (the
     * sentence-transformers embedding) as output "embedding"; "last_hidden_state" is always
     * an output. */
    int pooling;
} td_bert_opts;

/* Parses config.json (text in memory); `name` is used in errors. Only hidden_act "gelu" and
 * absolute position embeddings are supported. */
td_status td_bert_config_parse(const char *json, size_t len, const char *name, td_bert_config *out);

/* Graph inputs: "input_ids" int64 [batch, seq_len] and "attention_mask" float32
 * [batch, seq_len] (1 = token, 0 = padding). Token type ids are taken as 0. */
td_status td_bert_build(const char *model_dir, const td_bert_opts *opts, td_graph **out);

#ifdef __cplusplus
}
#endif
#endif
