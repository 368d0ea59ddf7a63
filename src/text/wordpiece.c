/* BERT WordPiece tokenizer: vocabulary hash table and a one-pass streaming encoder.
 *
 * The encoder never materializes the normalized text: each decoded code point is normalized
 * into 0..5 code points that go straight to the pre-tokenizer, which collects one word (at
 * most 100 code points; longer words only need to be known as longer) and cuts it into
 * pieces when the word ends. So encoding allocates nothing and stops reading as soon as
 * truncation makes the rest irrelevant. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/core.h"
#include "tandem/text.h"
#include "text/unicode_table.h"

enum {
    MAX_LINE = 512,       /* longer vocabulary lines are corrupt data, not tokens */
    MAX_WORD_CHARS = 100, /* HF max_input_chars_per_word */
    MAX_VOCAB = 1 << 24,
};

struct td_vocab {
    char *blob;     /* every token, NUL-terminated */
    uint32_t *offs; /* token id -> offset in blob */
    uint32_t *lens; /* token id -> byte length */
    int32_t *slots; /* open addressing: token id or -1 */
    size_t slot_mask;
    int n;
    int unk, cls, sep, pad, mask;
};

static uint64_t hash_bytes(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

/* Hash of ("##" if cont) + p[0..n), without building the string. */
static uint64_t hash_piece(int cont, const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    if (cont)
        h = hash_bytes(h, "##", 2);
    return hash_bytes(h, p, n);
}

static int piece_equals(const td_vocab *v, int id, int cont, const char *p, size_t n)
{
    const char *t = v->blob + v->offs[id];
    size_t pre = cont ? 2 : 0;
    if (v->lens[id] != n + pre)
        return 0;
    if (cont && (t[0] != '#' || t[1] != '#'))
        return 0;
    return memcmp(t + pre, p, n) == 0;
}

static int lookup(const td_vocab *v, int cont, const char *p, size_t n)
{
    for (size_t s = hash_piece(cont, p, n) & v->slot_mask;; s = (s + 1) & v->slot_mask) {
        int32_t id = v->slots[s];
        if (id < 0)
            return -1;
        if (piece_equals(v, id, cont, p, n))
            return id;
    }
}

int td_vocab_find(const td_vocab *v, const char *token)
{
    return v && token ? lookup(v, 0, token, strlen(token)) : -1;
}

int td_vocab_size(const td_vocab *v)
{
    return v ? v->n : 0;
}

const char *td_vocab_token(const td_vocab *v, int id)
{
    return v && id >= 0 && id < v->n ? v->blob + v->offs[id] : NULL;
}

void td_vocab_free(td_vocab *v)
{
    if (!v)
        return;
    free(v->blob);
    free(v->offs);
    free(v->lens);
    free(v->slots);
    free(v);
}

/* Length of the valid UTF-8 sequence at p (n bytes left) and its code point, or 0 if the
 * bytes there are not valid UTF-8 (overlong forms, surrogates and > U+10FFFF included). */
static int utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char b = p[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    int len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0;
    if (len == 0 || (size_t)len > n || b > 0xF4)
        return 0;
    uint32_t c = b & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_of_len[len] || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000))
        return 0;
    *cp = c;
    return len;
}

static int utf8_encode(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static int utf8_valid(const char *p, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        int k = utf8_decode((const unsigned char *)p + i, n - i, &cp);
        if (k == 0)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

/* ---- vocabulary loading ---- */

static td_status vocab_alloc(td_vocab *v, size_t len, int lines)
{
    size_t blob, slots = 16;
    TD_TRY(td_size_add(len, 1, &blob));
    while (slots < (size_t)lines * 2)
        slots *= 2;
    v->blob = malloc(blob);
    v->offs = calloc((size_t)lines, sizeof *v->offs);
    v->lens = calloc((size_t)lines, sizeof *v->lens);
    v->slots = malloc(slots * sizeof *v->slots);
    if (!v->blob || !v->offs || !v->lens || !v->slots)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "vocabulary: out of memory");
    memset(v->slots, 0xFF, slots * sizeof *v->slots);
    v->slot_mask = slots - 1;
    return TD_OK;
}

static td_status vocab_insert(td_vocab *v, const char *name, int id, const char *tok, size_t n)
{
    size_t s = hash_piece(0, tok, n) & v->slot_mask;
    for (; v->slots[s] >= 0; s = (s + 1) & v->slot_mask)
        if (piece_equals(v, v->slots[s], 0, tok, n))
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s: line %d: duplicate token '%s' (first on line %d)", name,
                                id + 1, v->blob + v->offs[id], v->slots[s] + 1);
    v->slots[s] = id;
    return TD_OK;
}

static td_status vocab_parse(td_vocab *v, const char *buf, size_t len, const char *name)
{
    size_t pos = 0, out = 0;
    for (int id = 0; pos < len; id++) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len, n = end - pos;
        if (n > 0 && buf[pos + n - 1] == '\r')
            n--;
        if (n == 0)
            return td_error_new(TD_CODE_BAD_DATA, "%s: line %d is empty", name, id + 1);
        if (n > MAX_LINE)
            return td_error_new(TD_CODE_BAD_DATA, "%s: line %d is %zu bytes long (at most %d)",
                                name, id + 1, n, MAX_LINE);
        if (!utf8_valid(buf + pos, n))
            return td_error_new(TD_CODE_BAD_DATA, "%s: line %d is not valid UTF-8", name, id + 1);
        memcpy(v->blob + out, buf + pos, n);
        v->blob[out + n] = '\0';
        v->offs[id] = (uint32_t)out;
        v->lens[id] = (uint32_t)n;
        TD_TRY(vocab_insert(v, name, id, buf + pos, n));
        out += n + 1;
        v->n = id + 1;
        pos = end + 1;
    }
    return TD_OK;
}

static td_status vocab_specials(td_vocab *v, const char *name)
{
    static const char *required[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
    int *ids[] = {&v->pad, &v->unk, &v->cls, &v->sep};
    for (int i = 0; i < 4; i++) {
        *ids[i] = td_vocab_find(v, required[i]);
        if (*ids[i] < 0)
            return td_error_new(TD_CODE_BAD_DATA, "%s: special token %s is missing", name,
                                required[i]);
    }
    v->mask = td_vocab_find(v, "[MASK]");
    return TD_OK;
}

td_status td_vocab_load_buffer(const char *buf, size_t len, const char *name, td_vocab **out)
{
    if (!out || (!buf && len))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_vocab_load_buffer: NULL argument");
    *out = NULL;
    name = name ? name : "vocabulary";
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    lines += len > 0 && buf[len - 1] != '\n';
    if (lines == 0)
        return td_error_new(TD_CODE_BAD_DATA, "%s: vocabulary is empty", name);
    if (lines > MAX_VOCAB)
        return td_error_new(TD_CODE_BAD_DATA, "%s: %zu lines, at most %d tokens supported", name,
                            lines, MAX_VOCAB);
    td_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", name);
    td_status st = vocab_alloc(v, len, (int)lines);
    if (!st)
        st = vocab_parse(v, buf, len, name);
    if (!st)
        st = vocab_specials(v, name);
    if (st) {
        td_vocab_free(v);
        return st;
    }
    *out = v;
    return TD_OK;
}

td_status td_vocab_load(const char *path, td_vocab **out)
{
    if (!path || !out)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_vocab_load: NULL argument");
    *out = NULL;
    char *buf;
    size_t len;
    td_status st = td_file_read(path, (size_t)1 << 28, &buf, &len);
    if (!st)
        st = td_vocab_load_buffer(buf, len, path, out);
    free(buf);
    return st;
}

/* ---- encoding ---- */

typedef struct {
    const td_vocab *v;
    int uncased;
    int32_t *ids; /* content goes to ids[base + count] while that is below cap */
    int base, cap;
    int count, limit; /* limit < 0: none */
    int full;         /* the limit is reached: nothing more can be emitted */
    char word[MAX_WORD_CHARS * 4];
    uint16_t offs[MAX_WORD_CHARS + 1]; /* byte offset of each code point, and the end */
    int nchars;
} encoder;

static void emit(encoder *e, int id)
{
    if (e->limit >= 0 && e->count >= e->limit) {
        e->full = 1;
        return;
    }
    if (e->base + e->count < e->cap)
        e->ids[e->base + e->count] = id;
    e->count++;
}

/* Greedy longest-match-first; any uncovered remainder makes the whole word [UNK]. */
static void flush_word(encoder *e)
{
    int n = e->nchars, pieces[MAX_WORD_CHARS], np = 0;
    e->nchars = 0;
    if (n == 0)
        return;
    if (n > MAX_WORD_CHARS) {
        emit(e, e->v->unk);
        return;
    }
    for (int start = 0; start < n;) {
        int id = -1, end = n;
        for (; end > start; end--) {
            id = lookup(e->v, start > 0, e->word + e->offs[start],
                        (size_t)(e->offs[end] - e->offs[start]));
            if (id >= 0)
                break;
        }
        if (id < 0) {
            emit(e, e->v->unk);
            return;
        }
        pieces[np++] = id;
        start = end;
    }
    for (int i = 0; i < np; i++)
        emit(e, pieces[i]);
}

static void append_char(encoder *e, uint32_t c)
{
    if (e->nchars < MAX_WORD_CHARS) {
        int at = e->offs[e->nchars];
        e->offs[e->nchars + 1] = (uint16_t)(at + utf8_encode(c, e->word + at));
    }
    e->nchars++; /* past 100 only the count matters: the word is [UNK] */
}

static int in_ranges(const td_text_range *r, int n, uint32_t c)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < r[mid].first)
            hi = mid - 1;
        else if (c > r[mid].last)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

static int is_space(uint32_t c)
{
    if (c < 0x80)
        return c == ' ' || (c >= 9 && c <= 13);
    for (int i = 0; i < td_text_space_count; i++)
        if (td_text_spaces[i] == c)
            return 1;
    return 0;
}

static int is_punct(uint32_t c)
{
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
               (c >= 123 && c <= 126);
    return in_ranges(td_text_punct, td_text_punct_count, c);
}

/* The pre-tokenizer: whitespace ends a word, punctuation is a word of its own. */
static void pretok_char(encoder *e, uint32_t c)
{
    if (is_space(c)) {
        flush_word(e);
    } else if (is_punct(c)) {
        flush_word(e);
        append_char(e, c);
        flush_word(e);
    } else {
        append_char(e, c);
    }
}

static const td_text_run *find_run(uint32_t c)
{
    int lo = 0, hi = td_text_run_count - 1;
    while (lo <= hi) { /* last run with first <= c */
        int mid = (lo + hi) / 2;
        if (td_text_runs[mid].first <= c)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    if (hi < 0)
        return NULL;
    const td_text_run *r = &td_text_runs[hi];
    uint32_t d = c - r->first;
    return d % r->stride == 0 && d / r->stride < r->count ? r : NULL;
}

static void uncased_core(encoder *e, const td_text_run *r, uint32_t c)
{
    if (r->flags & TD_TF_UDROP)
        return;
    if (r->flags & TD_TF_UMAP) {
        pretok_char(e, (uint32_t)((int32_t)c + r->delta));
    } else if (r->flags & TD_TF_HANGUL) {
        uint32_t s = c - 0xAC00;
        pretok_char(e, 0x1100 + s / 588);
        pretok_char(e, 0x1161 + (s % 588) / 28);
        if (s % 28)
            pretok_char(e, 0x11A7 + s % 28);
    } else if (r->flags & TD_TF_UMULTI) {
        int lo = 0, hi = td_text_multi_count - 1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            if (td_text_multis[mid].cp == c) {
                for (int i = 0; i < 3 && td_text_multis[mid].out[i]; i++)
                    pretok_char(e, td_text_multis[mid].out[i]);
                return;
            }
            if (td_text_multis[mid].cp < c)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
    } else {
        pretok_char(e, c);
    }
}

/* The normalizer: clean, pad CJK, and (uncased) NFD + drop marks + lower-case. */
static void normalize_char(encoder *e, uint32_t c)
{
    if (c >= 0x20 && c < 0x7F) {
        pretok_char(e, e->uncased && c >= 'A' && c <= 'Z' ? c + 32 : c);
        return;
    }
    const td_text_run *r = find_run(c);
    if (!r) {
        pretok_char(e, c);
        return;
    }
    if (r->flags & TD_TF_DROP)
        return;
    if (r->flags & TD_TF_SPACE) {
        pretok_char(e, ' ');
        return;
    }
    int pad = r->flags & TD_TF_PAD;
    if (pad)
        pretok_char(e, ' ');
    if (e->uncased)
        uncased_core(e, r, c);
    else
        pretok_char(e, c);
    if (pad)
        pretok_char(e, ' ');
}

/* Special tokens are matched on the raw text, before any normalization (HF added tokens
 * with normalized=false): "x[SEP]y" is x, [SEP], y; "[sep]" is [, sep, ]. */
static int match_special(const td_vocab *v, const char *p, size_t n, size_t *len)
{
    static const char *names[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    const int ids[] = {v->pad, v->unk, v->cls, v->sep, v->mask};
    for (int i = 0; i < 5; i++) {
        size_t k = strlen(names[i]);
        if (ids[i] >= 0 && k <= n && memcmp(p, names[i], k) == 0) {
            *len = k;
            return ids[i];
        }
    }
    return -1;
}

static void encode_text(encoder *e, const char *text, size_t len)
{
    for (size_t i = 0; i < len && !e->full;) {
        size_t k;
        int special = text[i] == '[' ? match_special(e->v, text + i, len - i, &k) : -1;
        if (special >= 0) {
            flush_word(e);
            emit(e, special);
            i += k;
            continue;
        }
        uint32_t c;
        int n = utf8_decode((const unsigned char *)text + i, len - i, &c);
        if (n == 0) { /* invalid byte: U+FFFD, which cleaning drops */
            c = 0xFFFD;
            n = 1;
        }
        normalize_char(e, c);
        i += (size_t)n;
    }
    flush_word(e);
}

td_wordpiece_opts td_wordpiece_opts_default(void)
{
    td_wordpiece_opts o = {1, 1, TD_WORDPIECE_MAX_LEN_MINILM, 1, 0};
    return o;
}

static td_status check_opts(const td_wordpiece_opts *o, int *specials)
{
    if (!o->lowercase != !o->strip_accents)
        return td_error_new(TD_CODE_UNSUPPORTED,
                            "wordpiece: lowercase=%d with strip_accents=%d is not supported "
                            "(uncased BERT: both 1; cased BERT: both 0)",
                            o->lowercase, o->strip_accents);
    *specials = o->add_special ? 1 : 0;
    if (o->max_len < 0 || (o->max_len > 0 && o->max_len < 2 * *specials))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "wordpiece: max_len %d is invalid (0 = no limit, else >= %d)",
                            o->max_len, 2 * *specials);
    if (o->pad && o->max_len == 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "wordpiece: pad needs max_len > 0");
    return TD_OK;
}

td_status td_wordpiece_encode_n(const td_vocab *v, const char *text, size_t len,
                                const td_wordpiece_opts *opts, int32_t *ids, int32_t *mask, int cap,
                                int *n_out)
{
    if (!v || (!text && len) || !n_out || cap < 0 || (!ids && cap > 0))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_wordpiece_encode: NULL argument");
    *n_out = 0;
    td_wordpiece_opts o = opts ? *opts : td_wordpiece_opts_default();
    int s = 0;
    TD_TRY(check_opts(&o, &s));
    encoder *e = malloc(sizeof *e); /* ~600 bytes: keep it off small thread stacks */
    if (!e)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "td_wordpiece_encode: out of memory");
    memset(e, 0, sizeof *e);
    e->v = v;
    e->uncased = o.lowercase;
    e->ids = ids;
    e->base = s;
    e->cap = cap;
    e->limit = o.max_len > 0 ? o.max_len - 2 * s : -1;
    encode_text(e, text ? text : "", len);
    int n = e->count + 2 * s, total = o.pad && o.max_len > n ? o.max_len : n;
    free(e);
    *n_out = total;
    if (total > cap)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "td_wordpiece_encode: %d ids needed, the output holds %d", total, cap);
    if (s) {
        ids[0] = v->cls;
        ids[n - 1] = v->sep;
    }
    for (int i = n; i < total; i++)
        ids[i] = v->pad;
    for (int i = 0; mask && i < total; i++)
        mask[i] = i < n;
    return TD_OK;
}

td_status td_wordpiece_encode(const td_vocab *v, const char *text, const td_wordpiece_opts *opts,
                              int32_t *ids, int *n_out, int cap)
{
    if (!text)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_wordpiece_encode: NULL text");
    return td_wordpiece_encode_n(v, text, strlen(text), opts, ids, NULL, cap, n_out);
}
