#include <stdlib.h>
#include <string.h>

#include "tandem/core.h"

td_status td_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return td_error_new(TD_CODE_OVERFLOW, "size %zu x %zu overflows", a, b);
    *out = a * b;
    return TD_OK;
}

td_status td_size_add(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return td_error_new(TD_CODE_OVERFLOW, "size %zu + %zu overflows", a, b);
    *out = a + b;
    return TD_OK;
}

td_status td_elem_count(int64_t rows, int64_t cols, const char *what, size_t *out)
{
    if (rows <= 0 || cols <= 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: shape %lld x %lld must be positive",
                            what, (long long)rows, (long long)cols);
    /* Cap each dimension well below 2^62 so later int64 index arithmetic is safe. */
    if ((uint64_t)rows > ((uint64_t)1 << 40) || (uint64_t)cols > ((uint64_t)1 << 40))
        return td_error_new(TD_CODE_OVERFLOW, "%s: shape %lld x %lld is absurdly large", what,
                            (long long)rows, (long long)cols);
    size_t n;
    td_status st = td_size_mul((size_t)rows, (size_t)cols, &n);
    if (st) {
        td_status_free(st);
        return td_error_new(TD_CODE_OVERFLOW, "%s: %lld x %lld elements overflow size_t", what,
                            (long long)rows, (long long)cols);
    }
    *out = n;
    return TD_OK;
}

td_status td_alloc(size_t bytes, void **out)
{
    *out = NULL;
    if (bytes > ((size_t)1 << 46))
        return td_error_new(TD_CODE_OVERFLOW, "allocation of %zu bytes is absurdly large", bytes);
    size_t rounded = (bytes + TD_ALIGN - 1) / TD_ALIGN * TD_ALIGN;
    if (rounded == 0)
        rounded = TD_ALIGN;
    void *p = aligned_alloc(TD_ALIGN, rounded);
    if (!p)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "cannot allocate %zu bytes", bytes);
    memset(p, 0, rounded);
    *out = p;
    return TD_OK;
}

void td_free(void *p)
{
    free(p);
}
