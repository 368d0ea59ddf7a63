/* Group sparsity: whole scale groups (e.g. 128 consecutive K values of int4) are
 * pruned, the rest are kept in the value format's dense group layout, block-sparse.
 *
 * CHOICE: pruning is per row. Every row drops the same number of groups,
 * round(fraction * ngroups) (ties of the rounding up), capped at ngroups - 1 so each
 * output channel keeps at least its strongest group; within a row the groups with
 * the smallest L2 norm go (norm of w * importance when an importance vector is
 * given), equal norms pruning the higher group index. A global choice (the smallest
 * groups of the whole matrix) fits the weights a little better, but it can silence
 * an output channel entirely and gives rows unequal work: the GEMM driver hands each
 * thread an equal number of 16-row blocks, so per-row pruning keeps threads balanced
 * and makes the time fall exactly with the kept fraction.
 *
 * Storage (formats/qmatrix_internal.h, GROUP-SPARSE LAYOUT): gs_row_ptr[rows + 1],
 * gs_group[i] (int32 group index of kept group i), codes + i * group_bytes, scales[i]
 * (zeros[i] when asymmetric). Kept groups are quantized exactly as the dense format
 * would quantize them (their own scale); pruned groups read as 0. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparse/sparse_internal.h"

typedef struct gs_rank {
    double score;
    int64_t g;
} gs_rank;

/* Larger norm first; equal norms keep the lower group index. */
static int rank_cmp(const void *pa, const void *pb)
{
    const gs_rank *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->g < b->g ? -1 : (a->g > b->g);
}

/* Squared L2 norms (of w or w * importance) of row w's groups. */
static void group_scores(const float *w, int64_t cols, int64_t gsize, int64_t ngroups,
                         const float *importance, gs_rank *out)
{
    for (int64_t g = 0; g < ngroups; g++) {
        double s = 0.0;
        for (int64_t k = g * gsize; k < (g + 1) * gsize && k < cols; k++) {
            double v = td_sparse_score(w[k], importance, k);
            s += v * v;
        }
        out[g].score = s;
        out[g].g = g;
    }
}

/* Moves the chosen groups of the dense quantized q into the block-sparse arrays. */
static td_status gs_compact(td_qmatrix *q, const float *w, int64_t ld, const float *importance,
                            int64_t keep)
{
    int64_t G = q->ngroups;
    size_t kept, code_bytes;
    TD_TRY(td_elem_count(q->rows, keep, "kept groups", &kept));
    TD_TRY(td_size_mul(kept, q->group_bytes, &code_bytes));
    int64_t *row_ptr = NULL;
    int32_t *gidx = NULL;
    uint8_t *codes = NULL, *chosen = NULL;
    float *scales = NULL;
    int8_t *zeros = NULL;
    gs_rank *rank = NULL;
    td_status st = td_alloc((size_t)(q->rows + 1) * sizeof(int64_t), (void **)&row_ptr);
    if (!st)
        st = td_alloc(kept * sizeof(int32_t), (void **)&gidx);
    if (!st)
        st = td_alloc(code_bytes, (void **)&codes);
    if (!st)
        st = td_alloc(kept * sizeof(float), (void **)&scales);
    if (!st && q->zeros)
        st = td_alloc(kept, (void **)&zeros);
    if (!st)
        st = td_alloc((size_t)G * sizeof(gs_rank), (void **)&rank);
    if (!st)
        st = td_alloc((size_t)G, (void **)&chosen);
    if (st) {
        td_free(row_ptr);
        td_free(gidx);
        td_free(codes);
        td_free(scales);
        td_free(zeros);
        td_free(rank);
        td_free(chosen);
        return st;
    }
    int64_t i = 0;
    for (int64_t r = 0; r < q->rows; r++) {
        row_ptr[r] = i;
        group_scores(w + r * ld, q->cols, q->gsize, G, importance, rank);
        qsort(rank, (size_t)G, sizeof *rank, rank_cmp);
        memset(chosen, 0, (size_t)G);
        for (int64_t t = 0; t < keep; t++)
            chosen[rank[t].g] = 1;
        for (int64_t g = 0; g < G; g++) {
            if (!chosen[g])
                continue;
            gidx[i] = (int32_t)g;
            memcpy(codes + (size_t)i * q->group_bytes,
                   q->codes + (size_t)r * q->row_bytes + (size_t)g * q->group_bytes,
                   q->group_bytes);
            scales[i] = td_q_scale(q, r, g);
            if (zeros)
                zeros[i] = (int8_t)td_q_zero(q, r, g);
            i++;
        }
    }
    row_ptr[q->rows] = i;
    td_free(rank);
    td_free(chosen);
    td_free(q->codes);
    td_free(q->scales);
    td_free(q->zeros);
    q->codes = codes;
    q->scales = scales;
    q->zeros = zeros;
    q->gs_row_ptr = row_ptr;
    q->gs_group = gidx;
    q->gs_kept = i;
    q->bytes = kept * (q->group_bytes + sizeof(float) + sizeof(int32_t) + (zeros ? 1 : 0)) +
               (size_t)(q->rows + 1) * sizeof(int64_t);
    return TD_OK;
}

td_status td_gs_quantize(td_qmatrix *q, const float *w, int64_t ld, const float *importance)
{
    const td_format_traits *t = td_format_traits_get(q->spec.format);
    if (q->spec.group <= 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "group sparsity prunes whole scale groups: %s needs a group size "
                            "(e.g. %s:g128:gs0.5), per-channel or per-tensor scales have none",
                            t->info.name, t->info.name);
    TD_TRY(td_qmatrix_layout_dense(q, q->rows, q->cols, 1));
    q->kpad = q->ngroups * q->gsize;
    if (q->ngroups > INT32_MAX)
        return td_error_new(TD_CODE_OVERFLOW, "group sparsity: %lld groups per row is too many",
                            (long long)q->ngroups);
    q->group_bytes = (size_t)q->gsize * (size_t)t->info.code_bits / 8;

    /* Quantize every group as the dense format would, then keep the chosen ones. */
    td_qmatrix v = *q;
    v.spec.sparsity = TD_DENSE;
    v.spec.group_prune = 0.0;
    td_status st = t->quantize(&v, w, ld);
    td_free(v.wsum); /* the group-sparse kernels do not use weight sums */
    TD_TRY(st);

    int64_t prune = (int64_t)floor(q->spec.group_prune * (double)q->ngroups + 0.5);
    if (prune > q->ngroups - 1)
        prune = q->ngroups - 1;
    return gs_compact(q, w, ld, importance, q->ngroups - prune);
}

td_status td_gs_dequantize(const td_qmatrix *q, float *out)
{
    const td_format_traits *t = td_format_traits_get(q->spec.format);
    if (!t->dequantize_row)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s has no dequantizer", t->info.name);
    float *buf;
    TD_TRY(td_alloc((size_t)q->gsize * sizeof(float), (void **)&buf));
    memset(out, 0, (size_t)q->rows * (size_t)q->cols * sizeof(float));
    /* Each kept group is a one-row, one-group dense matrix in the value format. */
    td_qmatrix v = *q;
    v.spec.sparsity = TD_DENSE;
    v.rows = 1;
    v.cols = v.kpad = q->gsize;
    v.ngroups = 1;
    v.tile_rows = v.scale_rows = 1;
    v.row_bytes = q->group_bytes;
    v.wsum = NULL;
    v.gs_row_ptr = NULL;
    v.gs_group = NULL;
    for (int64_t r = 0; r < q->rows; r++) {
        for (int64_t i = q->gs_row_ptr[r]; i < q->gs_row_ptr[r + 1]; i++) {
            v.codes = q->codes + (size_t)i * q->group_bytes;
            v.scales = q->scales + i;
            v.zeros = q->zeros ? q->zeros + i : NULL;
            t->dequantize_row(&v, 0, buf);
            int64_t k0 = (int64_t)q->gs_group[i] * q->gsize;
            int64_t len = q->cols - k0 < q->gsize ? q->cols - k0 : q->gsize;
            memcpy(out + r * q->cols + k0, buf, (size_t)len * sizeof(float));
        }
    }
    td_free(buf);
    return TD_OK;
}
