/* N:M pruning: which N of every M consecutive weights (along K) survive.
 *
 * The same selection serves the compressor (nm.c) and the public td_nm_prune /
 * td_nm_mask, so a mask computed for sparse training matches what the compressed
 * matrix keeps. */
#include <math.h>
#include <string.h>

#include "sparse/sparse_internal.h"
#include "tandem/sparse.h"

int td_nm_index_bits(int m)
{
    if (m < 2 || m > 16)
        return 0;
    int bits = 1;
    while ((1 << bits) < m)
        bits++;
    return bits;
}

/* Rank of entry i = number of entries that beat it (larger score, or equal score at
 * a lower index). Exactly n entries have rank < n, which makes the choice total and
 * deterministic. M <= 16, so the quadratic count (at most 256 compares) is cheaper
 * than sorting. */
void td_nm_select(const double *score, int m, int n, uint8_t *keep)
{
    for (int i = 0; i < m; i++) {
        int rank = 0;
        for (int j = 0; j < m; j++)
            rank += score[j] > score[i] || (score[j] == score[i] && j < i);
        keep[i] = rank < n;
    }
}

td_status td_sparse_check_importance(const float *importance, int64_t cols)
{
    if (!importance)
        return TD_OK;
    for (int64_t k = 0; k < cols; k++)
        if (!(importance[k] >= 0.0f) || isinf(importance[k]))
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "importance[%lld] = %g: channel importance must be finite "
                                "and >= 0",
                                (long long)k, (double)importance[k]);
    return TD_OK;
}

static td_status check_prune_args(const float *w, int64_t rows, int64_t cols, int64_t ld, int n,
                                  int m, const float *importance, const void *out)
{
    if (!w || !out)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "N:M pruning: NULL argument");
    size_t count;
    TD_TRY(td_elem_count(rows, cols, "weight matrix", &count));
    if (ld < cols)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "weight matrix: leading dimension %lld < columns %lld", (long long)ld,
                            (long long)cols);
    if (m < 2 || m > 16 || n < 1 || n >= m)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "N:M sparsity %d:%d invalid: need 1 <= N < M <= 16", n, m);
    TD_TRY(td_sparse_check_importance(importance, cols));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < cols; k++)
            if (!isfinite(w[r * ld + k]))
                return td_error_new(TD_CODE_BAD_DATA, "weight (%lld, %lld) is %s: cannot prune",
                                    (long long)r, (long long)k,
                                    isnan(w[r * ld + k]) ? "NaN" : "infinite");
    return TD_OK;
}

/* Mask of one row; positions past cols (the short tail block) score 0 and lose ties
 * to real weights because their index is higher. */
static void row_mask(const float *w, int64_t cols, int n, int m, const float *importance,
                     uint8_t *mask)
{
    double score[16];
    uint8_t keep[16];
    for (int64_t k0 = 0; k0 < cols; k0 += m) {
        for (int i = 0; i < m; i++)
            score[i] = k0 + i < cols ? td_sparse_score(w[k0 + i], importance, k0 + i) : 0.0;
        td_nm_select(score, m, n, keep);
        for (int i = 0; i < m && k0 + i < cols; i++)
            mask[k0 + i] = keep[i];
    }
}

td_status td_nm_mask(const float *w, int64_t rows, int64_t cols, int64_t ld, int n, int m,
                     const float *importance, uint8_t *mask)
{
    TD_TRY(check_prune_args(w, rows, cols, ld, n, m, importance, mask));
    for (int64_t r = 0; r < rows; r++)
        row_mask(w + r * ld, cols, n, m, importance, mask + r * cols);
    return TD_OK;
}

td_status td_nm_prune(const float *w, int64_t rows, int64_t cols, int64_t ld, int n, int m,
                      const float *importance, float *out)
{
    TD_TRY(check_prune_args(w, rows, cols, ld, n, m, importance, out));
    uint8_t mask[256];
    for (int64_t r = 0; r < rows; r++) {
        /* a stack mask of whole blocks at a time: the largest multiple of M <= 256 */
        int64_t chunk = 256 / m * m;
        for (int64_t k0 = 0; k0 < cols; k0 += chunk) {
            int64_t len = cols - k0 < chunk ? cols - k0 : chunk;
            row_mask(w + r * ld + k0, len, n, m, importance ? importance + k0 : NULL, mask);
            for (int64_t i = 0; i < len; i++)
                out[r * cols + k0 + i] = mask[i] ? w[r * ld + k0 + i] : 0.0f;
        }
    }
    return TD_OK;
}
