/* Whole files: reads for the small text formats (configs, schemes, descriptions,
 * vocabularies), atomic writes for outputs; and the monotonic clock durations are measured
 * with. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

static td_status write_all(int fd, const char *tmp, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return td_error_new(TD_CODE_IO, "%s: write failed: %s", tmp,
                                w < 0 ? strerror(errno) : "no progress");
        data += w;
        len -= (size_t)w;
    }
    /* the data must be on disk before the rename shows it under the final name */
    if (fsync(fd) != 0)
        return td_error_new(TD_CODE_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    return TD_OK;
}

td_status td_file_write_atomic(const char *path, const void *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 12);
    if (!tmp)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        td_status err = td_error_new(TD_CODE_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return err;
    }
    /* mkstemp makes 0600 files; outputs are for reading by others too */
    td_status st = fchmod(fd, 0644) == 0
                       ? TD_OK
                       : td_error_new(TD_CODE_IO, "%s: chmod failed: %s", tmp, strerror(errno));
    if (!st)
        st = write_all(fd, tmp, (const char *)data, len);
    if (close(fd) != 0 && !st)
        st = td_error_new(TD_CODE_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = td_error_new(TD_CODE_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (st)
        unlink(tmp);
    free(tmp);
    return st;
}
