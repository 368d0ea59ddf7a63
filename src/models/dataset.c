/* Labelled sample sets (safetensors "x"/"y") and classifier accuracy over them: read by the
 * eval command, the benchmarks and the explorer's accuracy measurements. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/core.h"
#include "tandem/model.h"
#include "tandem/safetensors.h"

static td_status meta_double(const td_safetensors *st, const char *path, const char *key,
                             double def, double *out)
{
    const char *s = td_safetensors_metadata(st, key);
    if (!s) {
        *out = def;
        return TD_OK;
    }
    char *end;
    *out = strtod(s, &end);
    if (end == s || *end)
        return td_error_new(TD_CODE_BAD_DATA, "%s: metadata \"%s\" is not a number", path, key);
    return TD_OK;
}

static td_status read_x(const td_safetensors *st, const char *path, td_dataset *d)
{
    td_st_tensor t;
    TD_TRY(td_safetensors_find(st, "x", &t));
    if (t.ndim < 1 || t.shape[0] < 1)
        return td_error_new(TD_CODE_BAD_DATA, "%s: \"x\" must have a sample dimension", path);
    d->n = t.shape[0];
    d->sample_ndim = t.ndim - 1;
    d->sample_numel = 1;
    for (int i = 1; i < t.ndim; i++) {
        d->sample_shape[i - 1] = t.shape[i];
        d->sample_numel *= t.shape[i];
    }
    double scale, offset;
    TD_TRY(meta_double(st, path, "scale", 1.0, &scale));
    TD_TRY(meta_double(st, path, "offset", 0.0, &offset));
    if (t.dtype != TD_ST_U8 && t.dtype != TD_ST_F32)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: \"x\" must be U8 or F32, not %s", path,
                            td_st_dtype_name(t.dtype));
    TD_TRY(td_alloc(t.nelem * sizeof(float) + 1, (void **)&d->x));
    for (size_t i = 0; i < t.nelem; i++) {
        float v;
        if (t.dtype == TD_ST_U8)
            v = (float)(((const uint8_t *)t.data)[i] * scale + offset);
        else
            memcpy(&v, (const char *)t.data + i * 4, 4);
        d->x[i] = v;
    }
    return TD_OK;
}

static td_status read_y(const td_safetensors *st, const char *path, td_dataset *d)
{
    td_st_tensor t;
    td_status miss = td_safetensors_find(st, "y", &t);
    if (miss) {
        td_status_free(miss);
        return TD_OK;
    }
    if (t.ndim != 1 || t.shape[0] != d->n || (t.dtype != TD_ST_I64 && t.dtype != TD_ST_I32))
        return td_error_new(TD_CODE_BAD_DATA, "%s: \"y\" must be I64 or I32 of shape [%lld]", path,
                            (long long)d->n);
    TD_TRY(td_alloc((size_t)d->n * sizeof(int64_t), (void **)&d->y));
    for (int64_t i = 0; i < d->n; i++) {
        if (t.dtype == TD_ST_I64) {
            memcpy(&d->y[i], (const char *)t.data + i * 8, 8);
        } else {
            int32_t v;
            memcpy(&v, (const char *)t.data + i * 4, 4);
            d->y[i] = v;
        }
    }
    return TD_OK;
}

td_status td_dataset_load(const char *path, td_dataset *d)
{
    memset(d, 0, sizeof *d);
    td_safetensors *st;
    TD_TRY(td_safetensors_open(path, &st));
    td_status s = read_x(st, path, d);
    if (!s)
        s = read_y(st, path, d);
    td_safetensors_close(st);
    if (s)
        td_dataset_free(d);
    return s;
}

void td_dataset_free(td_dataset *d)
{
    td_free(d->x);
    td_free(d->y);
    memset(d, 0, sizeof *d);
}

static int64_t argmax_row(const float *row, int64_t c)
{
    int64_t best = 0;
    for (int64_t k = 1; k < c; k++)
        best = row[k] > row[best] ? k : best;
    return best;
}

td_status td_eval_batches(td_session *s, td_graph *g, const td_dataset *d, int64_t n, int batch,
                          td_eval_result *r)
{
    const td_value *in = &g->values[g->inputs[0]];
    const td_value *out = &g->values[g->outputs[0]];
    if (out->ndim != 2 || out->shape[0] != batch)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "eval needs a first output of shape [batch, classes]; '%s' is not",
                            out->name);
    float *buf;
    TD_TRY(td_alloc((size_t)batch * (size_t)d->sample_numel * sizeof(float), (void **)&buf));
    td_view view = {TD_DT_F32, in->ndim, {0}, buf};
    memcpy(view.shape, in->shape, sizeof view.shape);
    td_status st = TD_OK;
    double t0 = td_seconds();
    for (int64_t b0 = 0; b0 < n && !st; b0 += batch) {
        int64_t m = n - b0 < batch ? n - b0 : batch;
        memset(buf, 0, (size_t)batch * (size_t)d->sample_numel * sizeof(float));
        memcpy(buf, d->x + b0 * d->sample_numel, (size_t)(m * d->sample_numel) * sizeof(float));
        st = td_session_set_input(s, in->name, &view);
        if (!st)
            st = td_session_run(s);
        td_view o;
        if (!st)
            st = td_session_get(s, out->name, &o);
        for (int64_t i = 0; i < m && !st; i++)
            r->correct += argmax_row((const float *)o.data + i * out->shape[1], out->shape[1]) ==
                          d->y[b0 + i];
        r->total += st ? 0 : m;
    }
    r->seconds = td_seconds() - t0;
    td_free(buf);
    return st;
}
