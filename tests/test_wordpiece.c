/* BERT WordPiece tokenizer: every oracle sentence exactly (tools/gen_tokenizer_fixtures.py,
 * Hugging Face `tokenizers` with the all-MiniLM-L6-v2 tokenizer), each normalization and
 * splitting rule on a tiny vocabulary, truncation/padding/mask, and every bad input. */
#include <time.h>

#include "td_test.h"
#include "tandem/text.h"

#define MAX_IDS 1024

static const char TINY[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n" /* 0-4 */
                           "hello\nworld\nun\n##aff\n##able\n"    /* 5-9 */
                           "cafe\nnaive\n,\n!\n'\n"               /* 10-14 */
                           "中\n文\na\n##a\n##aa\n"               /* 15-19 */
                           "aa\nσ\nı\ni\n-\n";                    /* 20-24 */

/* Encodes with opts (NULL: no limit, specials) and compares against a -1 terminated list. */
static void check_ids(const td_vocab *v, const char *text, size_t len, const td_wordpiece_opts *o,
                      const int *want)
{
    td_wordpiece_opts none = {1, 1, 0, 1, 0};
    int32_t ids[MAX_IDS];
    int n = -1, nw = 0;
    while (want[nw] >= 0)
        nw++;
    TD_CHECK_OK(td_wordpiece_encode_n(v, text, len, o ? o : &none, ids, NULL, MAX_IDS, &n));
    int same = n == nw;
    for (int i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    TD_CHECK(same, "'%s': got %d ids, want %d", text, n, nw);
}

#define EXPECT(v, text, ...)                                                                       \
    check_ids(v, text, sizeof(text) - 1, NULL, (const int[]){__VA_ARGS__, -1})

static void test_rules(const td_vocab *v)
{
    EXPECT(v, "hello world", 2, 5, 6, 3);
    EXPECT(v, "HeLLo   WORLD", 2, 5, 6, 3);             /* lower-casing */
    EXPECT(v, "Café NAÏVE", 2, 10, 11, 3);              /* accents stripped */
    EXPECT(v, "cafe\xcc\x81", 2, 10, 3);                /* combining mark dropped */
    EXPECT(v, "hello,world!", 2, 5, 12, 6, 13, 3);      /* punctuation splits */
    EXPECT(v, "hello-world", 2, 5, 24, 6, 3);           /* hyphen is punctuation */
    EXPECT(v, "hello\xe2\x80\x94world", 2, 5, 1, 6, 3); /* em dash (Pd): own word, unknown */
    EXPECT(v, "中文", 2, 15, 16, 3);                    /* CJK: one word per ideograph */
    EXPECT(v, "a中a", 2, 17, 15, 17, 3);                /* ... even inside a word */
    EXPECT(v, "unaffable", 2, 7, 8, 9, 3);              /* longest match, ## pieces */
    EXPECT(v, "aaaaa", 2, 20, 19, 18, 3);               /* greedy: aa ##aa ##a */
    EXPECT(v, "unaffablex hello", 2, 1, 5, 3);          /* uncovered tail: whole word UNK */
    EXPECT(v, "\xce\xa3", 2, 21, 3);                    /* Greek Σ -> σ */
    EXPECT(v, "\xc4\xb0", 2, 23, 3);                    /* İ -> i (dot is a mark) */
    EXPECT(v, "hel\tlo\nworld\xc2\xa0hello", 2, 1, 1, 6, 5, 3);       /* whitespace kinds */
    EXPECT(v, "hel\x01lo wor\xe2\x80\x8bld", 2, 5, 6, 3);             /* controls, ZWSP dropped */
    EXPECT(v, "hel\0lo", 2, 5, 3);                                    /* NUL dropped */
    EXPECT(v, "hel\xefl\xbf\xbdo", 2, 5, 3);                          /* invalid bytes dropped */
    EXPECT(v, "hel\xef\xbf\xbdlo \xed\xa0\x80world\xf8", 2, 5, 6, 3); /* U+FFFD, surrogate */
    EXPECT(v, "x[SEP]hello[MASK]", 2, 1, 3, 5, 4, 3);                 /* specials on the raw text */
    EXPECT(v, "[sep]", 2, 1, 1, 1, 3);                                /* ...case-sensitively */
    EXPECT(v, "", 2, 3);
    EXPECT(v, " \t\n ", 2, 3);
    char word[120];
    memset(word, 'a', sizeof word);
    /* 100 code points is still a word (50 x "aa"), 101 is [UNK]. */
    int want100[53] = {2, 20};
    for (int i = 2; i < 51; i++)
        want100[i] = 19;
    want100[51] = 3;
    want100[52] = -1;
    check_ids(v, word, 100, NULL, want100);
    check_ids(v, word, 101, NULL, (const int[]){2, 1, 3, -1});
    /* Cased mode: no lower-casing, no accent stripping. */
    td_wordpiece_opts cased = {0, 0, 0, 1, 0};
    check_ids(v, "Hello hello", 11, &cased, (const int[]){2, 1, 5, 3, -1});
    check_ids(v, "cafe\xcc\x81", 6, &cased, (const int[]){2, 1, 3, -1});
    /* No specials. */
    td_wordpiece_opts bare = {1, 1, 0, 0, 0};
    check_ids(v, "hello world", 11, &bare, (const int[]){5, 6, -1});
}

static void test_truncation(const td_vocab *v)
{
    const char *text = "hello world hello world hello";
    td_wordpiece_opts o = {1, 1, 4, 1, 0};
    check_ids(v, text, strlen(text), &o, (const int[]){2, 5, 6, 3, -1});
    o.max_len = 2;
    check_ids(v, text, strlen(text), &o, (const int[]){2, 3, -1});
    o.max_len = 3;
    o.add_special = 0;
    check_ids(v, text, strlen(text), &o, (const int[]){5, 6, 5, -1});
    /* Padding and the attention mask. */
    td_wordpiece_opts p = {1, 1, 6, 1, 1};
    int32_t ids[8], mask[8];
    int n = 0;
    TD_CHECK_OK(td_wordpiece_encode_n(v, "hello world", 11, &p, ids, mask, 8, &n));
    const int32_t wi[6] = {2, 5, 6, 3, 0, 0}, wm[6] = {1, 1, 1, 1, 0, 0};
    TD_CHECK(n == 6 && !memcmp(ids, wi, sizeof wi) && !memcmp(mask, wm, sizeof wm), "padding: n=%d",
             n);
    /* The default is MiniLM's sentence-transformers length. */
    td_wordpiece_opts d = td_wordpiece_opts_default();
    TD_CHECK(d.max_len == 256 && d.lowercase && d.strip_accents && d.add_special && !d.pad,
             "defaults");
}

static void test_bad_input(const td_vocab *v)
{
    int32_t ids[4];
    int n = 0;
    TD_CHECK_ERROR(td_wordpiece_encode(v, "hello world hello", NULL, ids, &n, 4),
                   TD_CODE_INVALID_ARGUMENT, "5 ids needed");
    TD_CHECK(n == 5, "needed count reported: %d", n);
    td_wordpiece_opts mixed = {1, 0, 0, 1, 0};
    TD_CHECK_ERROR(td_wordpiece_encode(v, "x", &mixed, ids, &n, 4), TD_CODE_UNSUPPORTED,
                   "strip_accents");
    td_wordpiece_opts tiny = {1, 1, 1, 1, 0};
    TD_CHECK_ERROR(td_wordpiece_encode(v, "x", &tiny, ids, &n, 4), TD_CODE_INVALID_ARGUMENT,
                   "max_len 1");
    td_wordpiece_opts padnolim = {1, 1, 0, 1, 1};
    TD_CHECK_ERROR(td_wordpiece_encode(v, "x", &padnolim, ids, &n, 4), TD_CODE_INVALID_ARGUMENT,
                   "pad");
    TD_CHECK_ERROR(td_wordpiece_encode(NULL, "x", NULL, ids, &n, 4), TD_CODE_INVALID_ARGUMENT,
                   "NULL");

    td_vocab *bad = NULL;
    const struct {
        const char *text, *needle;
    } cases[] = {
        {"", "empty"},
        {"[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n", "line 3 is empty"},
        {"[PAD]\n[UNK]\n[CLS]\n[SEP]\nab\nab\n", "line 6: duplicate token 'ab'"},
        {"[PAD]\n[UNK]\n[CLS]\n[SEP]\n\xff\n", "line 5 is not valid UTF-8"},
        {"[PAD]\n[CLS]\n[SEP]\n", "[UNK] is missing"},
        {"[UNK]\n[CLS]\n[SEP]\n", "[PAD] is missing"},
        {"[PAD]\n[UNK]\n[SEP]\n", "[CLS] is missing"},
        {"[PAD]\n[UNK]\n[CLS]\n", "[SEP] is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TD_CHECK_ERROR(td_vocab_load_buffer(cases[i].text, strlen(cases[i].text), "t.txt", &bad),
                       TD_CODE_BAD_DATA, cases[i].needle);
        TD_CHECK(bad == NULL, "no vocabulary on error");
    }
    char huge[700] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
    memset(huge + 24, 'x', 600);
    huge[624] = '\0';
    TD_CHECK_ERROR(td_vocab_load_buffer(huge, strlen(huge), "t.txt", &bad), TD_CODE_BAD_DATA,
                   "line 5 is 600 bytes long");
    TD_CHECK_ERROR(td_vocab_load("/nonexistent/vocab.txt", &bad), TD_CODE_IO, "/nonexistent");
    /* CRLF lines and a missing final newline are fine. */
    const char *crlf = "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhi";
    TD_CHECK_OK(td_vocab_load_buffer(crlf, strlen(crlf), "crlf", &bad));
    TD_CHECK(td_vocab_size(bad) == 5 && td_vocab_find(bad, "hi") == 4 &&
                 td_vocab_find(bad, "[SEP]") == 3 && !strcmp(td_vocab_token(bad, 4), "hi") &&
                 td_vocab_token(bad, 5) == NULL,
             "crlf vocabulary");
    td_vocab_free(bad);
}

/* Undoes the fixture escapes (\\ and \xHH) in place; returns the length. */
static size_t unescape(char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\' && s[i + 1] == '\\') {
            s[o++] = '\\';
            i++;
        } else if (s[i] == '\\' && s[i + 1] == 'x') {
            char hex[3] = {s[i + 2], s[i + 3], 0};
            s[o++] = (char)strtol(hex, NULL, 16);
            i += 3;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

static int parse_ids(char *line, int *ids)
{
    int n = 0;
    for (char *t = strtok(line, " \n"); t && n < 4096; t = strtok(NULL, " \n"))
        ids[n++] = atoi(t);
    return n;
}

/* Our result for text under max_len against the oracle's untruncated ids (the generator
 * checked that the oracle truncates by keeping the head and the final [SEP]). */
static int matches(const td_vocab *v, const char *text, size_t len, int max_len, const int *want,
                   int nw, int verbose)
{
    static int32_t got[4096];
    td_wordpiece_opts o = {1, 1, max_len, 1, 0};
    int n = 0;
    td_status st = td_wordpiece_encode_n(v, text, len, &o, got, NULL, 4096, &n);
    int ne = max_len && nw > max_len ? max_len : nw, ok = !st && n == ne;
    for (int i = 0; ok && i < n - 1; i++)
        ok = got[i] == want[i];
    ok = ok && got[n - 1] == want[nw - 1];
    if (!ok && verbose) {
        fprintf(stderr, "MISMATCH (max_len %d) '%s': %s\n  got:", max_len, text,
                td_status_message(st));
        for (int i = 0; i < n && i < 60; i++)
            fprintf(stderr, " %s", td_vocab_token(v, got[i]));
        fprintf(stderr, "\n want:");
        for (int i = 0; i < ne && i < 60; i++)
            fprintf(stderr, " %s", td_vocab_token(v, want[i]));
        fputc('\n', stderr);
    }
    td_status_free(st);
    return ok;
}

static void test_oracle(const td_vocab *v)
{
    FILE *f = fopen(TD_FIXTURE_DIR "/wordpiece_cases.txt", "rb");
    TD_CHECK(f != NULL, "cannot open wordpiece_cases.txt");
    if (!f)
        return;
    static char text[16384], line[65536];
    static int want[4096];
    size_t len = 0;
    int total = 0, good = 0, ntok = 0, nbytes = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == 'T') {
            line[strcspn(line, "\n")] = '\0';
            snprintf(text, sizeof text, "%s", line + 2);
            len = unescape(text);
        } else if (line[0] == 'I') {
            int nw = parse_ids(line + 2, want), ok = 1;
            for (int m = 0; m < 3; m++)
                ok &= matches(v, text, len, (int[]){0, 128, 256}[m], want, nw, ok);
            total++;
            good += ok;
            ntok += nw;
            nbytes += (int)len;
        }
    }
    fclose(f);
    printf("oracle fixtures: %d / %d sentences match exactly (untruncated, 128, 256)\n", good,
           total);
    TD_CHECK(total >= 300 && good == total, "%d of %d sentences match", good, total);

    /* Throughput, for the record (not a check: machines differ): the fixture set again. */
    static char all[200000];
    size_t alen = 0;
    f = fopen(TD_FIXTURE_DIR "/wordpiece_cases.txt", "rb");
    while (f && fgets(line, sizeof line, f))
        if (line[0] == 'T' && alen + strlen(line) < sizeof all) {
            memcpy(all + alen, line + 2, strlen(line + 2));
            alen += strlen(line + 2);
        }
    if (f)
        fclose(f);
    static int32_t ids[65536];
    td_wordpiece_opts o = {1, 1, 0, 1, 0};
    int n = 0;
    clock_t t0 = clock();
    for (int r = 0; r < 20; r++)
        td_status_free(td_wordpiece_encode_n(v, all, alen, &o, ids, NULL, 65536, &n));
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC / 20;
    printf("throughput: %zu bytes -> %d ids in %.3f ms (%.1f MB/s)\n", alen, n, s * 1e3,
           (double)alen / s / 1e6);
    (void)ntok;
    (void)nbytes;
}

int main(void)
{
    td_vocab *tiny = NULL;
    TD_CHECK_OK(td_vocab_load_buffer(TINY, sizeof TINY - 1, "tiny", &tiny));
    if (tiny) {
        test_rules(tiny);
        test_truncation(tiny);
        test_bad_input(tiny);
        td_vocab_free(tiny);
    }
    td_vocab *v = NULL;
    TD_CHECK_OK(td_vocab_load(TD_FIXTURE_DIR "/minilm_vocab.txt", &v));
    if (v) {
        TD_CHECK(td_vocab_size(v) == 30522 && td_vocab_find(v, "[CLS]") == 101,
                 "MiniLM vocabulary: %d tokens", td_vocab_size(v));
        test_oracle(v);
        td_vocab_free(v);
    }
    return td_test_finish("test_wordpiece");
}
