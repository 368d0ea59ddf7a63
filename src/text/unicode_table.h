/* Unicode data for the BERT normalizer and pre-tokenizer, generated from the Hugging Face
 * `tokenizers` oracle by tools/gen_tokenizer_fixtures.py (unicode_table.c). */
#ifndef TD_TEXT_UNICODE_TABLE_H
#define TD_TEXT_UNICODE_TABLE_H

#include <stdint.h>

enum {
    TD_TF_DROP = 1,    /* removed in every mode (controls, format, unassigned, U+FFFD) */
    TD_TF_SPACE = 2,   /* whitespace: becomes ' ' */
    TD_TF_PAD = 4,     /* CJK ideograph: surrounded by spaces */
    TD_TF_UMAP = 8,    /* uncased mode: replaced by cp + delta (lower-cased, accents gone) */
    TD_TF_UDROP = 16,  /* uncased mode: removed (a combining mark) */
    TD_TF_UMULTI = 32, /* uncased mode: replaced by its td_text_multis entry */
    TD_TF_HANGUL = 64, /* uncased mode: algorithmic NFD into conjoining jamo */
};

/* count code points first, first + stride, ... all share flags and delta. */
typedef struct {
    uint32_t first;
    uint16_t count;
    uint8_t stride;
    uint8_t flags;
    int32_t delta;
} td_text_run;

typedef struct {
    uint32_t cp;
    uint32_t out[3]; /* 0-terminated when shorter */
} td_text_multi;

typedef struct {
    uint32_t first, last;
} td_text_range;

extern const td_text_run td_text_runs[];
extern const int td_text_run_count;
extern const td_text_multi td_text_multis[];
extern const int td_text_multi_count;
extern const td_text_range td_text_punct[];
extern const int td_text_punct_count;
extern const uint32_t td_text_spaces[];
extern const int td_text_space_count;

#endif
