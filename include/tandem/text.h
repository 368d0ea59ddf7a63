/* BERT WordPiece tokenization, matching Hugging Face's BertTokenizer / `tokenizers`
 * (BertNormalizer + BertPreTokenizer + WordPiece) as used by sentence-transformers models
 * such as all-MiniLM-L6-v2.
 *
 * Pipeline: special tokens ([PAD] [UNK] [CLS] [SEP] [MASK], exact and case-sensitive) are
 * cut out of the raw text first; the rest is cleaned (NUL, U+FFFD, control/format/unassigned
 * code points dropped, whitespace -> ' '), CJK ideographs get spaces around them, and in
 * uncased mode the text is NFD-decomposed, combining marks (Mn) removed and lower-cased. It
 * is then split on whitespace and around every punctuation character, and each word is cut
 * greedily, longest match first, into vocabulary pieces ("##" marks a continuation); a word
 * longer than 100 code points, or one with an uncovered piece, becomes [UNK].
 *
 * The Unicode behaviour is probed from the `tokenizers` oracle itself (its Unicode version),
 * see tools/gen_tokenizer_fixtures.py. Invalid UTF-8 bytes decode to U+FFFD, which the
 * cleaning step drops: "ab\xFFcd" tokenizes like "abcd". */
#ifndef TANDEM_TEXT_H
#define TANDEM_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "tandem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A vocabulary: one token per line, the line number (from 0) is its id. */
typedef struct td_vocab td_vocab;

/* Fails with TD_CODE_IO (unreadable file) or TD_CODE_BAD_DATA naming the file and line for: an
 * empty line, a line longer than 512 bytes, invalid UTF-8, a duplicate token, or a missing
 * [PAD], [UNK], [CLS] or [SEP]. A trailing "\r" on a line is ignored. */
td_status td_vocab_load(const char *path, td_vocab **out);
/* Same from memory; `name` is used in error messages. */
td_status td_vocab_load_buffer(const char *buf, size_t len, const char *name, td_vocab **out);
void td_vocab_free(td_vocab *v);

int td_vocab_size(const td_vocab *v);
/* The token of `id` (NUL-terminated), or NULL when out of range. */
const char *td_vocab_token(const td_vocab *v, int id);
/* The id of an exact token, or -1. */
int td_vocab_find(const td_vocab *v, const char *token);

typedef struct td_wordpiece_opts {
    /* Uncased BERT (lower-case + strip accents), as all-MiniLM-L6-v2. lowercase=0 with
     * strip_accents=0 is cased BERT (clean + CJK only); mixed settings are unsupported. */
    int lowercase;
    int strip_accents;
    /* Most ids returned, [CLS]/[SEP] included; the tail is cut (the final [SEP] is kept).
     * 0 = no limit. */
    int max_len;
    int add_special; /* wrap in [CLS] ... [SEP] */
    int pad;         /* fill up to max_len with [PAD] (mask 0) */
} td_wordpiece_opts;

/* max_len 256: sentence-transformers' max_seq_length for all-MiniLM-L6-v2
 * (sentence_bert_config.json). Its tokenizer.json alone says 128 (the training length) and
 * tokenizer_config.json 512 (BERT's position limit). */
#define TD_WORDPIECE_MAX_LEN_MINILM 256
td_wordpiece_opts td_wordpiece_opts_default(void); /* uncased, 256, specials, no padding */

/* Tokenizes `len` bytes of UTF-8 text (NUL bytes are dropped like any control character)
 * into ids[0..*n_out) and, if `mask` is not NULL, the attention mask (1 for real tokens, 0
 * for padding). If more than `cap` ids would result, fails with TD_CODE_INVALID_ARGUMENT and
 * sets *n_out to the number needed. `opts` NULL means td_wordpiece_opts_default(). */
td_status td_wordpiece_encode_n(const td_vocab *v, const char *text, size_t len,
                                const td_wordpiece_opts *opts, int32_t *ids, int32_t *mask, int cap,
                                int *n_out);
/* Same for a NUL-terminated string, without a mask. */
td_status td_wordpiece_encode(const td_vocab *v, const char *text, const td_wordpiece_opts *opts,
                              int32_t *ids, int *n_out, int cap);

#ifdef __cplusplus
}
#endif
#endif
