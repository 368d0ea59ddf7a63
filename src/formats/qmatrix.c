/* Generic driver for compressed matrices: validates a spec, lays out the storage
 * (see qmatrix_internal.h) and hands the numbers to the format's quantizer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qmatrix_internal.h"
#include "sparse/sparse_internal.h"

td_qspec td_qspec_default(td_format format)
{
    td_qspec s;
    memset(&s, 0, sizeof s);
    s.format = format;
    s.tile_rows = 1;
    s.group = (format == TD_INT4 || format == TD_INT6) ? 128 : 0;
    return s;
}

static td_status validate_spec(const td_qspec *spec, int64_t rows)
{
    const td_format_traits *t = td_format_traits_get(spec->format);
    if (!t)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "unknown format id %d", (int)spec->format);
    const char *name = t->info.name;
    if (spec->group < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: group size %d is negative", name,
                            spec->group);
    if (spec->group > (1 << 24))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: group size %d is absurdly large", name,
                            spec->group);
    if (spec->group > 0 && spec->group % t->info.group_multiple != 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: group size %d is not a multiple of %d",
                            name, spec->group, t->info.group_multiple);
    if (spec->tile_rows < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: tile_rows %d is negative", name,
                            spec->tile_rows);
    if (spec->asym && !t->info.allows_asym)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s has no asymmetric (zero-point) form",
                            name);
    if (spec->sparsity == TD_SPARSE_NM) {
        if (spec->nm_m < 2 || spec->nm_m > 16 || spec->nm_n < 1 || spec->nm_n >= spec->nm_m)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "N:M sparsity %d:%d invalid: need 1 <= N < M <= 16", spec->nm_n,
                                spec->nm_m);
    } else if (spec->sparsity == TD_SPARSE_GROUP) {
        if (!(spec->group_prune >= 0.0 && spec->group_prune < 1.0))
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "group sparsity: pruned fraction %g must be in [0, 1)",
                                spec->group_prune);
        if (!t->info.has_scale || t->info.is_float)
            return td_error_new(TD_CODE_UNSUPPORTED,
                                "group sparsity needs an integer format with group scales, not %s",
                                name);
    } else if (spec->sparsity != TD_DENSE) {
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "unknown sparsity id %d",
                            (int)spec->sparsity);
    }
    (void)rows;
    return TD_OK;
}

static td_status check_finite(const float *w, int64_t rows, int64_t cols, int64_t ld)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < cols; k++)
            if (!isfinite(w[r * ld + k]))
                return td_error_new(TD_CODE_BAD_DATA,
                                    "weight (%lld, %lld) is %s: cannot quantize non-finite values",
                                    (long long)r, (long long)k,
                                    isnan(w[r * ld + k]) ? "NaN" : "infinite");
    return TD_OK;
}

/* Resolves group/tile sizes and allocates codes, scales and zeros for a dense
 * rows x ncols matrix of values (ncols = K, or kept values for N:M). Shared with the
 * sparse module, which stores its kept values in this same layout. */
td_status td_qmatrix_layout_dense(td_qmatrix *q, int64_t rows, int64_t ncols, int64_t kalign)
{
    const td_format_traits *t = td_format_traits_get(q->spec.format);
    int64_t mult = t->info.group_multiple > 0 ? t->info.group_multiple : 1;
    if (kalign > mult)
        mult = kalign;
    int64_t whole = (ncols + 63) / 64 * 64;
    whole = (whole + mult - 1) / mult * mult;
    q->gsize = (q->spec.group > 0 && t->info.has_scale) ? q->spec.group : whole;
    q->ngroups = (ncols + q->gsize - 1) / q->gsize;
    q->tile_rows = q->spec.tile_rows > 0 ? q->spec.tile_rows : rows;
    if (q->tile_rows > rows)
        q->tile_rows = rows;
    q->scale_rows = (rows + q->tile_rows - 1) / q->tile_rows;
    int64_t padded = q->ngroups * q->gsize;
    size_t n, bytes;
    TD_TRY(td_elem_count(rows, padded, "compressed matrix", &n));
    TD_TRY(td_size_mul(n, (size_t)t->info.code_bits, &bytes));
    bytes /= 8;
    q->row_bytes = (size_t)padded * (size_t)t->info.code_bits / 8;
    TD_TRY(td_alloc(bytes, (void **)&q->codes));
    q->bytes = bytes;
    if (t->info.has_scale) {
        size_t ns;
        TD_TRY(td_elem_count(q->scale_rows, q->ngroups, "scale grid", &ns));
        TD_TRY(td_alloc(ns * sizeof(float), (void **)&q->scales));
        q->bytes += ns * sizeof(float);
        if (q->spec.asym) {
            TD_TRY(td_alloc(ns, (void **)&q->zeros));
            q->bytes += ns;
        }
    }
    return TD_OK;
}

void td_qmatrix_free(td_qmatrix *q)
{
    if (!q)
        return;
    td_free(q->codes);
    td_free(q->scales);
    td_free(q->zeros);
    td_free(q->wsum);
    td_free(q->idx);
    td_free(q->gs_row_ptr);
    td_free(q->gs_group);
    free(q);
}

td_status td_qmatrix_quantize(const td_qspec *spec, const float *w, int64_t rows, int64_t cols,
                              int64_t ld, td_qmatrix **out)
{
    *out = NULL;
    if (!spec || !w)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_qmatrix_quantize: NULL argument");
    size_t n;
    TD_TRY(td_elem_count(rows, cols, "weight matrix", &n));
    if (ld < cols)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "weight matrix: leading dimension %lld < columns %lld", (long long)ld,
                            (long long)cols);
    TD_TRY(validate_spec(spec, rows));
    TD_TRY(check_finite(w, rows, cols, ld));
    td_qmatrix *q = calloc(1, sizeof *q);
    if (!q)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "cannot allocate matrix header");
    q->spec = *spec;
    q->spec.importance = NULL;
    q->rows = rows;
    q->cols = cols;
    td_status st;
    if (spec->sparsity == TD_DENSE) {
        st = td_qmatrix_layout_dense(q, rows, cols, 1);
        if (!st) {
            q->kpad = q->ngroups * q->gsize;
            st = td_format_traits_get(spec->format)->quantize(q, w, ld);
        }
    } else {
        st = td_sparse_quantize(q, spec, w, ld);
    }
    if (st) {
        td_qmatrix_free(q);
        return st;
    }
    *out = q;
    return TD_OK;
}

td_status td_qmatrix_dequantize(const td_qmatrix *q, float *out)
{
    if (!q || !out)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "td_qmatrix_dequantize: NULL argument");
    if (q->spec.sparsity != TD_DENSE)
        return td_sparse_dequantize(q, out);
    float *row;
    TD_TRY(td_alloc((size_t)q->kpad * sizeof(float), (void **)&row));
    const td_format_traits *t = td_format_traits_get(q->spec.format);
    for (int64_t r = 0; r < q->rows; r++) {
        t->dequantize_row(q, r, row);
        memcpy(out + r * q->cols, row, (size_t)q->cols * sizeof(float));
    }
    td_free(row);
    return TD_OK;
}

int64_t td_qmatrix_rows(const td_qmatrix *q)
{
    return q->rows;
}
int64_t td_qmatrix_cols(const td_qmatrix *q)
{
    return q->cols;
}
const td_qspec *td_qmatrix_spec(const td_qmatrix *q)
{
    return &q->spec;
}
size_t td_qmatrix_bytes(const td_qmatrix *q)
{
    return q->bytes;
}
double td_qmatrix_bits_per_weight(const td_qmatrix *q)
{
    return (double)q->bytes * 8.0 / ((double)q->rows * (double)q->cols);
}

/* ---- text form of a spec ---- */

static td_status parse_int(const char *tok, const char *what, const char *text, long lo, long hi,
                           int *out)
{
    char *end;
    long v = strtol(tok, &end, 10);
    if (end == tok || *end || v < lo || v > hi)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "spec '%s': bad %s '%s' (%ld..%ld)", text,
                            what, tok, lo, hi);
    *out = (int)v;
    return TD_OK;
}

static td_status parse_option(td_qspec *s, const char *tok, const char *next, bool *used_next,
                              const char *text)
{
    *used_next = false;
    if (tok[0] >= '0' && tok[0] <= '9') { /* N:M as two tokens */
        if (!next)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "spec '%s': '%s' needs N:M", text, tok);
        TD_TRY(parse_int(tok, "N", text, 1, 16, &s->nm_n));
        TD_TRY(parse_int(next, "M", text, 2, 16, &s->nm_m));
        s->sparsity = TD_SPARSE_NM;
        *used_next = true;
        return TD_OK;
    }
    if (!strcmp(tok, "asym")) {
        s->asym = true;
    } else if (!strcmp(tok, "sat")) {
        s->saturate = true;
    } else if (!strcmp(tok, "mse")) {
        s->clip = TD_CLIP_MSE;
    } else if (!strcmp(tok, "tensor")) {
        s->group = 0;
        s->tile_rows = 0;
    } else if (!strncmp(tok, "tile", 4)) {
        int v = 0;
        TD_TRY(parse_int(tok + 4, "tile size", text, 1, 1 << 20, &v));
        s->group = v;
        s->tile_rows = v;
    } else if (!strncmp(tok, "gs", 2)) {
        char *end;
        double f = strtod(tok + 2, &end);
        if (end == tok + 2 || *end || !(f >= 0.0 && f < 1.0))
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "spec '%s': group-prune fraction '%s' must be in [0, 1)", text,
                                tok + 2);
        s->sparsity = TD_SPARSE_GROUP;
        s->group_prune = f;
    } else if (tok[0] == 'g') {
        TD_TRY(parse_int(tok + 1, "group size", text, 0, 1 << 24, &s->group));
    } else {
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "spec '%s': unknown option '%s' (expected gN, tileN, tensor, asym, "
                            "sat, mse, gsF or N:M)",
                            text, tok);
    }
    return TD_OK;
}

td_status td_qspec_parse(const char *text, td_qspec *out)
{
    if (!text)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "spec is NULL");
    char buf[128];
    if (strlen(text) >= sizeof buf)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "spec '%.32s...' is too long", text);
    strcpy(buf, text);
    char *toks[16];
    int nt = 0;
    for (char *p = buf;;) {
        if (nt == 16)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "spec '%s' has too many parts", text);
        toks[nt++] = p;
        char *c = strchr(p, ':');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    td_format fmt;
    TD_TRY(td_format_parse(toks[0], &fmt));
    td_qspec s = td_qspec_default(fmt);
    for (int i = 1; i < nt; i++) {
        bool used_next;
        TD_TRY(parse_option(&s, toks[i], i + 1 < nt ? toks[i + 1] : NULL, &used_next, text));
        if (used_next)
            i++;
    }
    TD_TRY(validate_spec(&s, 1));
    *out = s;
    return TD_OK;
}

void td_qspec_describe(const td_qspec *s, char *buf, size_t len)
{
    const td_format_info *info = td_format_get(s->format);
    int n = snprintf(buf, len, "%s", info ? info->name : "?");
    if (info && info->has_scale) {
        if (s->group == 0 && s->tile_rows == 0)
            n += snprintf(buf + n, len > (size_t)n ? len - n : 0, ":tensor");
        else if (s->tile_rows > 1 && s->tile_rows == s->group)
            n += snprintf(buf + n, len > (size_t)n ? len - n : 0, ":tile%d", s->group);
        else
            n += snprintf(buf + n, len > (size_t)n ? len - n : 0, ":g%d", s->group);
    }
    if (s->asym)
        n += snprintf(buf + n, len > (size_t)n ? len - n : 0, ":asym");
    if (s->saturate)
        n += snprintf(buf + n, len > (size_t)n ? len - n : 0, ":sat");
    if (s->clip == TD_CLIP_MSE)
        n += snprintf(buf + n, len > (size_t)n ? len - n : 0, ":mse");
    if (s->sparsity == TD_SPARSE_NM)
        n += snprintf(buf + n, len > (size_t)n ? len - n : 0, ":%d:%d", s->nm_n, s->nm_m);
    else if (s->sparsity == TD_SPARSE_GROUP)
        snprintf(buf + n, len > (size_t)n ? len - n : 0, ":gs%g", s->group_prune);
}
