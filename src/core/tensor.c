#include <string.h>

#include "tandem/tensor.h"

td_status td_format_elem_size(td_format format, size_t *out)
{
    switch (format) {
    case TD_F32:
        *out = 4;
        return TD_OK;
    case TD_BF16:
    case TD_F16:
        *out = 2;
        return TD_OK;
    case TD_FP8_E4M3:
    case TD_FP8_E5M2:
    case TD_INT8:
        *out = 1;
        return TD_OK;
    default:
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "format %d has no fixed element size (sub-byte formats live in "
                            "td_qmatrix)",
                            (int)format);
    }
}

static td_status fill_shape(td_format format, int ndim, const int64_t *shape, td_tensor *t,
                            size_t *bytes)
{
    if (ndim < 0 || ndim > TD_MAX_DIMS)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "tensor rank %d outside 0..%d", ndim,
                            TD_MAX_DIMS);
    size_t esize;
    TD_TRY(td_format_elem_size(format, &esize));
    memset(t, 0, sizeof *t);
    t->format = format;
    t->ndim = ndim;
    size_t n = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        if (shape[i] <= 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "tensor dimension %d is %lld", i,
                                (long long)shape[i]);
        t->shape[i] = shape[i];
        t->strides[i] = (int64_t)n;
        TD_TRY(td_size_mul(n, (size_t)shape[i], &n));
    }
    return td_size_mul(n, esize, bytes);
}

td_status td_tensor_new(td_format format, int ndim, const int64_t *shape, td_tensor *out)
{
    size_t bytes;
    TD_TRY(fill_shape(format, ndim, shape, out, &bytes));
    TD_TRY(td_alloc(bytes, &out->data));
    out->owned = true;
    return TD_OK;
}

td_status td_tensor_wrap(td_format format, int ndim, const int64_t *shape, void *data,
                         td_tensor *out)
{
    size_t bytes;
    if (!data)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_tensor_wrap: data is NULL");
    TD_TRY(fill_shape(format, ndim, shape, out, &bytes));
    out->data = data;
    out->owned = false;
    return TD_OK;
}

void td_tensor_free(td_tensor *t)
{
    if (t && t->owned)
        td_free(t->data);
    if (t) {
        t->data = NULL;
        t->owned = false;
    }
}

int64_t td_tensor_numel(const td_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

bool td_tensor_is_contiguous(const td_tensor *t)
{
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != expect)
            return false;
        expect *= t->shape[i];
    }
    return true;
}
