/* libFuzzer target for the WordPiece tokenizer: a random vocabulary and a random text.
 * Input: [flags byte] vocabulary bytes, NUL, text bytes. Flag bit 0 prepends the four
 * required special tokens so most vocabularies load and the encoder gets exercised; the
 * other bits pick options. Any loaded vocabulary must encode any text without crashing,
 * with ids in range, the length within max_len, and a consistent mask. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/tandem.h"
#include "tandem/text.h"

static const char SPECIALS[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";

static void check(const td_vocab *v, const char *text, size_t len, td_wordpiece_opts o)
{
    int32_t ids[64], mask[64];
    int n = 0;
    td_status st = td_wordpiece_encode_n(v, text, len, &o, ids, mask, 64, &n);
    if (st) {
        if (td_status_code(st) != TD_CODE_INVALID_ARGUMENT || n <= 64)
            abort(); /* the only error possible here: more ids than the output holds */
        td_status_free(st);
        return;
    }
    if (n < 0 || n > 64 || (o.max_len > 0 && n > o.max_len))
        abort();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= td_vocab_size(v) || (mask[i] != 0 && mask[i] != 1) ||
            !td_vocab_token(v, ids[i]))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    const char *rest = (const char *)data + 1;
    size_t nrest = size - 1;
    const char *nul = memchr(rest, '\0', nrest);
    size_t vlen = nul ? (size_t)(nul - rest) : nrest;
    const char *text = nul ? nul + 1 : "";
    size_t tlen = nul ? nrest - vlen - 1 : 0;

    size_t pre = (flags & 1) ? sizeof SPECIALS - 1 : 0;
    char *vbuf = malloc(pre + vlen + 1);
    if (!vbuf)
        return 0;
    memcpy(vbuf, SPECIALS, pre);
    memcpy(vbuf + pre, rest, vlen);
    td_vocab *v = NULL;
    td_status st = td_vocab_load_buffer(vbuf, pre + vlen, "fuzz", &v);
    free(vbuf);
    if (st) {
        td_status_free(st);
        return 0;
    }
    int uncased = !(flags & 2);
    td_wordpiece_opts o = {uncased, uncased, (flags >> 3) & 7, !(flags & 4), 0};
    if (o.add_special && o.max_len == 1)
        o.max_len = 2; /* rejected by design, tested in test_wordpiece */
    check(v, text, tlen, o);
    o.max_len = 0;
    check(v, text, tlen, o);
    o.max_len = 16;
    o.pad = 1;
    check(v, text, tlen, o);
    td_vocab_free(v);
    return 0;
}
