/* N:M structured sparsity: prune, compact the kept values, quantize them with the
 * value format's own quantizer, and pack the in-block positions.
 *
 * ENCODING. Each row keeps N values per M-block; they form a dense rows x kc matrix
 * stored in the value format's dense layout (see formats/qmatrix_internal.h), so
 * int8/int4/fp8/... N:M reuse their format's quantizer, scales and dequantizer
 * unchanged. Each kept value also carries its position in its block, 0..M-1, in
 * idx_bits = ceil(log2 M) bits (1 for M = 2, 2 for M <= 4, 3 for M <= 8, 4 for
 * M <= 16), packed LSB-first, one bit stream per row. Within a block positions are
 * ascending, which makes the encoding canonical.
 *
 * WHY THESE WIDTHS. A batch-1 product streams the weights once, so its time is
 * bytes / bandwidth; against a dense matrix of dense_bits per weight, N:M can be
 * at most  dense_bits / ((value_bits + idx_bits) * N / M)  faster (scales aside):
 *   2:4 int8: 8 / ((8 + 2) / 2) = 1.6x     2:8 int8: 8 / ((8 + 3) / 4) = 2.9x
 *   1:4 int8: 8 / ((8 + 2) / 4) = 3.2x     4:16 int8: 8 / ((8 + 4) / 4) = 2.7x
 *   2:4 int4: 4 / ((4 + 2) / 2) = 1.33x
 * A per-value position is the smallest code that still decodes with a handful of
 * vector instructions: AVX-512 VBMI turns 64 packed fields of any width 1..4 into
 * bytes with one vpermb (gather each 8-value field group into a qword) and one
 * vpmultishiftqb (shift each byte's field into place) plus an AND. The 3-bit width
 * for M <= 8 is not padded to 4: the decoder handles any width the same way, and
 * 2:8 int8 would lose 0.125 bit per weight (2.9x -> 2.7x ceiling) to padding.
 *
 * A denser code exists: number the C(M, N) possible blocks and store
 * ceil(log2 C(M, N)) bits per block: 2:4 needs 3 bits per block instead of 4,
 * 2:8 5 instead of 6, 4:8 7 instead of 12, 4:16 11 instead of 16. It raises the
 * ceiling of 4:8 int8 from 1.45x to 1.64x and of 2:4 int8 from 1.6x to 1.68x, but
 * decoding needs a table lookup per block (C(16, 4) = 1820 entries for 4:16),
 * which costs more instructions than the bandwidth it saves buys at N/M >= 1/4.
 * It is not used; the layout contract fixes per-value positions.
 *
 * PADDING. K is padded to kpad = kc * M / N where kc (kept values per row) is the
 * smallest multiple of N and of the value format's group (per-channel: of 64 and of
 * the format's group multiple) that holds ceil(K / M) * N values. So kc splits into
 * whole scale groups with no padding inside the kept matrix, and kpad is a multiple
 * of M. Padding positions hold 0 weights (they lose every tie to real weights). */
#include <stdlib.h>
#include <string.h>

#include "sparse/sparse_internal.h"
#include "sparse/sparse_kernels.h"
#include "tandem/sparse.h"

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int64_t lcm64(int64_t a, int64_t b)
{
    return a / gcd64(a, b) * b;
}

void td_nm_dense_view(const td_qmatrix *q, td_qmatrix *v)
{
    *v = *q;
    v->spec.sparsity = TD_DENSE;
    v->spec.nm_n = 0;
    v->spec.nm_m = 0;
    v->cols = q->kc;
    v->kpad = q->kc;
    v->kc = 0;
    v->idx = NULL;
    v->idx_bits = 0;
    v->idx_row_bytes = 0;
}

/* Kept values per row (see PADDING above). */
static td_status nm_kept_count(const td_qmatrix *q, int64_t *kc)
{
    const td_format_info *info = td_format_get(q->spec.format);
    int64_t n = q->spec.nm_n, m = q->spec.nm_m;
    int64_t unit;
    if (q->spec.group > 0 && info->has_scale) {
        unit = lcm64(q->spec.group, n);
    } else {
        int64_t mult = info->group_multiple > 0 ? info->group_multiple : 1;
        unit = lcm64(lcm64(64, mult), n);
    }
    int64_t blocks = (q->cols + m - 1) / m;
    /* cols < 2^62 (it counts floats in memory); guard the products anyway. */
    if (blocks > ((int64_t)1 << 40) || unit > ((int64_t)1 << 30))
        return td_error_new(TD_CODE_OVERFLOW, "N:M matrix with K = %lld is too large",
                            (long long)q->cols);
    int64_t need = blocks * n;
    *kc = (need + unit - 1) / unit * unit;
    return TD_OK;
}

/* Prunes row w (cols values) into kept[0..kc) and its packed positions. */
static void nm_compact_row(const float *w, int64_t cols, int64_t kc, int n, int m, int ib,
                           const float *importance, float *kept, uint8_t *idx)
{
    double score[16];
    uint8_t keep[16];
    int64_t j = 0;
    for (int64_t k0 = 0; j < kc; k0 += m) {
        for (int i = 0; i < m; i++)
            score[i] = k0 + i < cols ? td_sparse_score(w[k0 + i], importance, k0 + i) : 0.0;
        td_nm_select(score, m, n, keep);
        for (int i = 0; i < m; i++) {
            if (!keep[i])
                continue;
            kept[j] = k0 + i < cols ? w[k0 + i] : 0.0f;
            int64_t bit = j * ib;
            unsigned v = (unsigned)i << (bit & 7);
            idx[bit >> 3] |= (uint8_t)v;
            if ((bit & 7) + ib > 8)
                idx[(bit >> 3) + 1] |= (uint8_t)(v >> 8);
            j++;
        }
    }
}

/* Sum of the signed codes of each kept-value group: the VNNI kernels add 128 to the
 * activations and take 128 * wsum back off. Computed here from the codes rather than
 * taken from the value format, so the kernels depend only on the layout contract. */
td_status td_qmatrix_code_sums(td_qmatrix *q)
{
    td_free(q->wsum);
    q->wsum = NULL;
    if (td_format_get(q->spec.format)->is_float)
        return TD_OK;
    size_t n;
    TD_TRY(td_elem_count(q->rows, q->ngroups, "N:M group sums", &n));
    TD_TRY(td_alloc(n * sizeof(int32_t), (void **)&q->wsum));
    size_t gbytes = (size_t)q->gsize * (size_t)td_format_get(q->spec.format)->code_bits / 8;
    for (int64_t r = 0; r < q->rows; r++) {
        for (int64_t g = 0; g < q->ngroups; g++) {
            const uint8_t *c = q->codes + (size_t)r * q->row_bytes + (size_t)g * gbytes;
            int32_t s = 0;
            for (int64_t e = 0; e < q->gsize; e++)
                s += td_sparse_int_code(q->spec.format, c, q->gsize, e);
            q->wsum[r * q->ngroups + g] = s;
        }
    }
    return TD_OK;
}

td_status td_nm_quantize(td_qmatrix *q, const float *w, int64_t ld, const float *importance)
{
    const td_format_traits *t = td_format_traits_get(q->spec.format);
    int n = q->spec.nm_n, m = q->spec.nm_m;
    int64_t kc = 0;
    TD_TRY(nm_kept_count(q, &kc));
    TD_TRY(td_qmatrix_layout_dense(q, q->rows, kc, 1));
    if (q->ngroups * q->gsize != kc)
        return td_error_new(TD_CODE_INTERNAL,
                            "N:M layout: %lld kept values do not split into "
                            "%lld groups of %lld",
                            (long long)kc, (long long)q->ngroups, (long long)q->gsize);
    q->kc = kc;
    q->kpad = kc / n * m;
    q->idx_bits = td_nm_index_bits(m);
    q->idx_row_bytes = (size_t)((kc * q->idx_bits + 7) / 8);
    size_t idx_bytes, kept_count;
    TD_TRY(td_elem_count(q->rows, (int64_t)q->idx_row_bytes, "N:M index", &idx_bytes));
    TD_TRY(td_elem_count(q->rows, kc, "N:M kept values", &kept_count));
    TD_TRY(td_alloc(idx_bytes, (void **)&q->idx));

    float *kept;
    TD_TRY(td_alloc(kept_count * sizeof(float), (void **)&kept));
    for (int64_t r = 0; r < q->rows; r++)
        nm_compact_row(w + r * ld, q->cols, kc, n, m, q->idx_bits, importance, kept + r * kc,
                       q->idx + (size_t)r * q->idx_row_bytes);

    td_qmatrix v;
    td_nm_dense_view(q, &v);
    td_status st = t->quantize(&v, kept, kc);
    td_free(kept);
    /* The format may have attached buffers (wsum) to the view: they are q's now. */
    q->wsum = v.wsum;
    TD_TRY(st);
    TD_TRY(td_qmatrix_code_sums(q));
    q->bytes += idx_bytes;
    return TD_OK;
}

td_status td_nm_dequantize(const td_qmatrix *q, float *out)
{
    const td_format_traits *t = td_format_traits_get(q->spec.format);
    if (!t->dequantize_row)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s has no dequantizer", t->info.name);
    float *kept;
    TD_TRY(td_alloc((size_t)q->kc * sizeof(float), (void **)&kept));
    td_qmatrix v;
    td_nm_dense_view(q, &v);
    int n = q->spec.nm_n, m = q->spec.nm_m;
    for (int64_t r = 0; r < q->rows; r++) {
        t->dequantize_row(&v, r, kept);
        float *dst = out + r * q->cols;
        memset(dst, 0, (size_t)q->cols * sizeof(float));
        for (int64_t j = 0; j < q->kc; j++) {
            int64_t k = j / n * m + td_nm_index(q, r, j);
            if (k < q->cols)
                dst[k] = kept[j];
        }
    }
    td_free(kept);
    return TD_OK;
}
