/* Compressed matrices as named byte parts, for model files.
 *
 * The parts are the layout of qmatrix_internal.h verbatim (codes, scales, zeros, N:M
 * indices, group-sparse row pointers and group numbers). Derived data (the int weight sums
 * some kernels use) is never stored: it is recomputed on import so a file cannot make it
 * disagree with the codes. Import rebuilds the header from spec, rows and cols alone, then
 * requires every part to have exactly the size that layout implies and checks the contents
 * the kernels index with (N:M positions, group numbers, row pointers), so a hostile file
 * cannot steer a kernel outside its buffers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qmatrix_internal.h"
#include "sparse/sparse_internal.h"
#include "sparse/sparse_kernels.h"

int td_qmatrix_parts(const td_qmatrix *q, td_qpart *parts)
{
    int n = 0;
    size_t codes = q->spec.sparsity == TD_SPARSE_GROUP ? (size_t)q->gs_kept * q->group_bytes
                                                       : (size_t)q->rows * q->row_bytes;
    size_t grid = q->spec.sparsity == TD_SPARSE_GROUP ? (size_t)q->gs_kept
                                                      : (size_t)(q->scale_rows * q->ngroups);
    parts[n++] = (td_qpart){"codes", q->codes, codes};
    if (q->scales)
        parts[n++] = (td_qpart){"scales", q->scales, grid * sizeof(float)};
    if (q->zeros)
        parts[n++] = (td_qpart){"zeros", q->zeros, grid};
    if (q->idx)
        parts[n++] = (td_qpart){"idx", q->idx, (size_t)q->rows * q->idx_row_bytes};
    if (q->gs_row_ptr) {
        parts[n++] = (td_qpart){"row_ptr", q->gs_row_ptr, (size_t)(q->rows + 1) * sizeof(int64_t)};
        parts[n++] = (td_qpart){"groups", q->gs_group, (size_t)q->gs_kept * sizeof(int32_t)};
    }
    return n;
}

static const td_qpart *find_part(const td_qpart *parts, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(parts[i].name, name) == 0)
            return &parts[i];
    return NULL;
}

static td_status check_nm_indices(const td_qmatrix *q, const char *what)
{
    int m = q->spec.nm_m, n = q->spec.nm_n;
    for (int64_t r = 0; r < q->rows; r++) {
        for (int64_t j = 0; j < q->kc; j++) {
            int pos = td_nm_index(q, r, j);
            int prev = (j % n) ? td_nm_index(q, r, j - 1) : -1;
            if (pos >= m || pos <= prev)
                return td_error_new(TD_CODE_BAD_DATA,
                                    "%s: N:M position %d of kept value %lld in row %lld is not "
                                    "increasing within its block of %d",
                                    what, pos, (long long)j, (long long)r, m);
        }
    }
    return TD_OK;
}

static td_status check_groups(const td_qmatrix *q, const char *what)
{
    const int64_t *rp = q->gs_row_ptr;
    if (rp[0] != 0 || rp[q->rows] != q->gs_kept)
        return td_error_new(TD_CODE_BAD_DATA, "%s: group row pointers do not span the groups",
                            what);
    for (int64_t r = 0; r < q->rows; r++) {
        if (rp[r + 1] < rp[r] || rp[r + 1] > q->gs_kept)
            return td_error_new(TD_CODE_BAD_DATA, "%s: row pointer %lld out of order", what,
                                (long long)r);
        for (int64_t i = rp[r]; i < rp[r + 1]; i++) {
            int64_t g = q->gs_group[i];
            if (g < 0 || g >= q->ngroups || (i > rp[r] && g <= q->gs_group[i - 1]))
                return td_error_new(TD_CODE_BAD_DATA,
                                    "%s: group number %lld in row %lld invalid or out of order",
                                    what, (long long)g, (long long)r);
        }
    }
    return TD_OK;
}

static td_status check_contents(const td_qmatrix *q, const char *what)
{
    size_t ns = q->spec.sparsity == TD_SPARSE_GROUP ? (size_t)q->gs_kept
                                                    : (size_t)(q->scale_rows * q->ngroups);
    for (size_t i = 0; q->scales && i < ns; i++)
        if (!isfinite(q->scales[i]))
            return td_error_new(TD_CODE_BAD_DATA, "%s: scale %zu is not finite", what, i);
    if (q->spec.format == TD_INT8) {
        size_t nc = q->spec.sparsity == TD_SPARSE_GROUP ? (size_t)q->gs_kept * q->group_bytes
                                                        : (size_t)q->rows * q->row_bytes;
        for (size_t i = 0; i < nc; i++)
            if ((int8_t)q->codes[i] == -128)
                return td_error_new(TD_CODE_BAD_DATA, "%s: int8 code -128 is not allowed", what);
    }
    if (q->spec.sparsity == TD_SPARSE_NM)
        TD_TRY(check_nm_indices(q, what));
    if (q->spec.sparsity == TD_SPARSE_GROUP)
        TD_TRY(check_groups(q, what));
    return TD_OK;
}

static td_status fill_parts(td_qmatrix *q, const td_qpart *parts, int n, const char *what)
{
    td_qpart want[TD_QMATRIX_MAX_PARTS];
    int nw = td_qmatrix_parts(q, want);
    for (int i = 0; i < n; i++)
        if (!find_part(want, nw, parts[i].name))
            return td_error_new(TD_CODE_BAD_DATA, "%s: unexpected part '%s' for this format", what,
                                parts[i].name);
    for (int i = 0; i < nw; i++) {
        const td_qpart *p = find_part(parts, n, want[i].name);
        if (!p)
            return td_error_new(TD_CODE_BAD_DATA, "%s: part '%s' is missing", what, want[i].name);
        if (p->bytes != want[i].bytes)
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s: part '%s' has %zu bytes, the layout needs %zu", what, p->name,
                                p->bytes, want[i].bytes);
        if (p->bytes && !p->data)
            return td_error_new(TD_CODE_BAD_DATA, "%s: part '%s' has no data", what, p->name);
        if (p->bytes)
            memcpy(want[i].data, p->data, p->bytes);
    }
    return TD_OK;
}

td_status td_qmatrix_from_parts(const td_qspec *spec, int64_t rows, int64_t cols,
                                const td_qpart *parts, int n_parts, const char *what,
                                td_qmatrix **out)
{
    *out = NULL;
    if (n_parts < 0 || n_parts > TD_QMATRIX_MAX_PARTS)
        return td_error_new(TD_CODE_BAD_DATA, "%s: %d parts", what, n_parts);
    /* The layout of a matrix depends only on spec, rows and cols: quantizing zeros yields
     * exactly the buffers the parts must fill. */
    size_t count;
    TD_TRY(td_elem_count(rows, cols, what, &count));
    if (count > ((size_t)1 << 32))
        return td_error_new(TD_CODE_OVERFLOW, "%s: %lld x %lld weights is too large", what,
                            (long long)rows, (long long)cols);
    float *zero = calloc(count ? count : 1, sizeof(float));
    if (!zero)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", what);
    td_qspec s = *spec;
    s.importance = NULL;
    s.clip = TD_CLIP_ABSMAX; /* the search would only cost time on zeros */
    td_qmatrix *q;
    td_status st = td_qmatrix_quantize(&s, zero, rows, cols, cols, &q);
    free(zero);
    TD_TRY(st);
    q->spec.clip = spec->clip;
    st = fill_parts(q, parts, n_parts, what);
    if (!st)
        st = check_contents(q, what);
    if (st) {
        td_qmatrix_free(q);
        return st;
    }
    /* Weight sums are derived from the codes (see the file comment). */
    if (q->wsum && (st = td_qmatrix_code_sums(q)) != TD_OK) {
        td_qmatrix_free(q);
        return st;
    }
    *out = q;
    return TD_OK;
}
