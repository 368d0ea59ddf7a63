/* Whole-file reads for the small text formats (configs, schemes, descriptions, vocabularies),
 * and the monotonic clock durations are measured with. */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>

#include "tandem/core.h"

td_status td_file_read(const char *path, size_t max_bytes, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return td_error_new(TD_CODE_IO, "%s: cannot open", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    td_status st = buf ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", path);
    while (!st) {
        if (n == cap) {
            if (cap >= max_bytes) {
                st = td_error_new(TD_CODE_BAD_DATA, "%s: larger than %zu bytes", path, max_bytes);
                break;
            }
            size_t next = cap * 2 < max_bytes ? cap * 2 : max_bytes;
            char *grown = realloc(buf, next + 1);
            if (!grown) {
                st = td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", path);
                break;
            }
            buf = grown;
            cap = next;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                st = td_error_new(TD_CODE_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (st) {
        free(buf);
        return st;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return TD_OK;
}

double td_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
