/* The data family: shapes and data movement. The operators live in data_shape.c (views,
 * Shape, Constant, Range), data_move.c (Transpose, Concat, Slice, Gather, Expand, Tile,
 * Split) and data_cast.c (Cast); this file lists them and holds their shared helpers. */
#include <stdio.h>
#include <string.h>

#include "ops/data_internal.h"

const td_op_def *const td_ops_data[] = {&td_op_reshape,
                                        &td_op_flatten,
                                        &td_op_squeeze,
                                        &td_op_unsqueeze,
                                        &td_op_shape,
                                        &td_op_constant,
                                        &td_op_constant_of_shape,
                                        &td_op_range,
                                        &td_op_transpose,
                                        &td_op_concat,
                                        &td_op_slice,
                                        &td_op_gather,
                                        &td_op_expand,
                                        &td_op_tile,
                                        &td_op_split,
                                        &td_op_cast,
                                        NULL};

void td_data_strides(int nd, const int64_t *shape, int64_t *stride)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i];
    }
}

const char *td_data_shape_str(int nd, const int64_t *shape, char *buf, size_t len)
{
    size_t k = 0;
    k += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < nd && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < len)
        snprintf(buf + k, len - k, "]");
    return buf;
}

td_status td_data_input(td_graph *g, const td_node *n, int i, td_value **v)
{
    td_value *x = td_node_in(g, n, i);
    if (!x)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d is missing", i);
    if (x->ndim < 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input '%s' has no known shape", x->name);
    *v = x;
    return TD_OK;
}

td_status td_data_view_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    (void)rc;
    size_t bytes;
    TD_TRY(td_view_bytes(&in[0], n->name, &bytes));
    if (out[0].data != in[0].data && bytes)
        memmove(out[0].data, in[0].data, bytes);
    return TD_OK;
}

/* Merges dimensions the walk traverses contiguously and drops size-1 ones; returns the new
 * rank (0: a single element). */
static int coalesce(int nd, int64_t *shape, int64_t *stride)
{
    int r = 0;
    for (int i = 0; i < nd; i++) {
        if (shape[i] == 1)
            continue;
        if (r > 0 && stride[r - 1] == stride[i] * shape[i]) {
            shape[r - 1] *= shape[i];
            stride[r - 1] = stride[i];
            continue;
        }
        shape[r] = shape[i];
        stride[r] = stride[i];
        r++;
    }
    return r;
}

#define GATHER_ROW(T)                                                                              \
    do {                                                                                           \
        T *d_ = (T *)dst;                                                                          \
        const T *s_ = (const T *)src;                                                              \
        for (int64_t i_ = 0; i_ < n; i_++)                                                         \
            d_[i_] = s_[i_ * stride];                                                              \
    } while (0)

static void copy_row(char *dst, const char *src, int64_t n, int64_t stride, size_t esz)
{
    if (stride == 1) {
        memcpy(dst, src, (size_t)n * esz);
        return;
    }
    switch (esz) {
    case 1:
        GATHER_ROW(uint8_t);
        break;
    case 2:
        GATHER_ROW(uint16_t);
        break;
    case 4:
        GATHER_ROW(uint32_t);
        break;
    case 8:
        GATHER_ROW(uint64_t);
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + (size_t)i * esz, src + (ptrdiff_t)(i * stride) * (ptrdiff_t)esz, esz);
    }
}

/* Element offset in src of outer index `row` over dims [0, nd). */
static int64_t outer_offset(int nd, const int64_t *shape, const int64_t *stride, int64_t row)
{
    int64_t off = 0;
    for (int k = nd - 1; k >= 0; k--) {
        off += (row % shape[k]) * stride[k];
        row /= shape[k];
    }
    return off;
}

/* dst[i][j] = src[i + j * cstride] for i < rows, j < cols, in cache tiles. */
static void transpose_tile(char *dst, const char *src, int64_t rows, int64_t cols, int64_t i0,
                           int64_t i1, int64_t cstride, size_t esz)
{
    const int64_t B = 32;
    for (int64_t jb = 0; jb < cols; jb += B) {
        int64_t je = jb + B < cols ? jb + B : cols;
        for (int64_t i = i0; i < i1; i++)
            copy_row(dst + (size_t)(i * cols + jb) * esz,
                     src + (ptrdiff_t)(i + jb * cstride) * (ptrdiff_t)esz, je - jb, cstride, esz);
    }
    (void)rows;
}

void td_data_strided_copy(void *dst, const void *src, int nd, const int64_t *shape_in,
                          const int64_t *stride_in, size_t esz, int threads)
{
    int64_t shape[TD_DATA_MAX_WALK], stride[TD_DATA_MAX_WALK];
    int64_t total = 1;
    for (int i = 0; i < nd; i++) {
        shape[i] = shape_in[i];
        stride[i] = stride_in[i];
        total *= shape[i];
    }
    if (total == 0)
        return;
    int r = coalesce(nd, shape, stride);
    if (r == 0) {
        memcpy(dst, src, esz);
        return;
    }
    char *d = dst;
    const char *s = src;
    int64_t inner = shape[r - 1], istr = stride[r - 1];
    if (threads < 1 || (int64_t)esz * total < (1 << 16))
        threads = 1;
    if (r >= 2 && stride[r - 2] == 1 && istr != 1) {
        /* A transpose of the last two walked dims: go in 32-row bands so reads stay cached. */
        int64_t rows = shape[r - 2], bands = (rows + 31) / 32;
        int64_t tasks = total / (rows * inner) * bands;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t t = 0; t < tasks; t++) {
            int64_t b = t / bands, i0 = (t % bands) * 32;
            int64_t i1 = i0 + 32 < rows ? i0 + 32 : rows;
            int64_t off = outer_offset(r - 2, shape, stride, b);
            transpose_tile(d + (size_t)(b * rows * inner) * esz,
                           s + (ptrdiff_t)off * (ptrdiff_t)esz, rows, inner, i0, i1, istr, esz);
        }
        return;
    }
    int64_t rows = total / inner;
    int64_t chunks = threads == 1 ? 1 : (int64_t)threads * 4;
    if (chunks > rows)
        chunks = rows;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t r0 = rows * c / chunks, r1 = rows * (c + 1) / chunks;
        int64_t idx[TD_DATA_MAX_WALK];
        int64_t rem = r0;
        for (int k = r - 2; k >= 0; k--) {
            idx[k] = rem % shape[k];
            rem /= shape[k];
        }
        int64_t off = outer_offset(r - 1, shape, stride, r0);
        for (int64_t row = r0; row < r1; row++) {
            copy_row(d + (size_t)(row * inner) * esz, s + (ptrdiff_t)off * (ptrdiff_t)esz, inner,
                     istr, esz);
            for (int k = r - 2; k >= 0; k--) { /* odometer step */
                off += stride[k];
                if (++idx[k] < shape[k])
                    break;
                off -= stride[k] * shape[k];
                idx[k] = 0;
            }
        }
    }
}
