/* libFuzzer target for the safetensors reader: any buffer either fails with an error or opens,
 * and then every tensor's bytes lie inside the buffer (ASan catches any that do not) and its
 * byte length matches its shape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so reading one byte past the input is an ASan error. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    td_safetensors *st;
    td_status err = td_safetensors_open_buffer(buf, size, "fuzz", &st);
    if (err) {
        td_status_free(err);
        free(buf);
        return 0;
    }
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < td_safetensors_count(st); i++) {
        td_st_tensor t, f;
        if (td_safetensors_tensor(st, i, &t))
            abort();
        td_status ferr = td_safetensors_find(st, t.name, &f);
        if (ferr || f.data != t.data)
            abort();
        size_t n = td_st_dtype_size(t.dtype);
        for (int d = 0; d < t.ndim; d++)
            n *= (size_t)t.shape[d];
        if (n != t.nbytes)
            abort();
        const uint8_t *p = t.data;
        for (size_t b = 0; b < t.nbytes; b++)
            sink ^= p[b];
    }
    const char *k, *v;
    for (size_t i = 0; td_safetensors_metadata_at(st, i, &k, &v); i++)
        if (td_safetensors_metadata(st, k) != v)
            abort();
    (void)sink;
    td_safetensors_close(st);
    free(buf);
    return 0;
}
