/* Cast between f32, f64, f16, bf16, i64, i32, i16, i8, u8 and bool.
 *
 * Floats convert to floats with round-to-nearest-even (f64 -> f16/bf16 goes through f32, so a
 * value exactly between two f16 codes after f32 rounding may round twice). Floats convert to
 * integers by truncation toward zero, like C and numpy; out-of-range values, which ONNX leaves
 * undefined, saturate to the target's limits, and NaN becomes 0. Integers convert to narrower
 * integers by keeping the low bits (two's complement wrap, as numpy and onnxruntime do). Any
 * value converts to bool as value != 0 (NaN -> true); bool is 0 or 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/data_internal.h"
#include "ops/ops_common.h"
#include "tandem/formats.h"

/* ONNX TensorProto.DataType codes. */
static td_dtype onnx_to_dtype(int64_t code)
{
    switch (code) {
    case 1:
        return TD_DT_F32;
    case 2:
        return TD_DT_U8;
    case 3:
        return TD_DT_I8;
    case 5:
        return TD_DT_I16;
    case 6:
        return TD_DT_I32;
    case 7:
        return TD_DT_I64;
    case 9:
        return TD_DT_BOOL;
    case 10:
        return TD_DT_F16;
    case 11:
        return TD_DT_F64;
    case 16:
        return TD_DT_BF16;
    default:
        return TD_DT_UNDEFINED;
    }
}

typedef struct {
    td_dtype to;
} cast_params;

static td_status cast_prepare(td_graph *g, td_node *n)
{
    td_value *x;
    TD_TRY(td_data_input(g, n, 0, &x));
    int64_t to;
    if (!td_node_attr(n, "to"))
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "attribute 'to' is required");
    TD_TRY(td_attr_int(n, "to", 0, &to));
    cast_params *p = malloc(sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    p->to = onnx_to_dtype(to);
    td_ops_set_params(n, p);
    if (p->to == TD_DT_UNDEFINED)
        return td_node_error(n, TD_CODE_UNSUPPORTED,
                             "cast to ONNX type %lld is not supported (supported: float, double, "
                             "float16, bfloat16, int64, int32, int16, int8, uint8, bool)",
                             (long long)to);
    td_value_set_shape(td_node_out(g, n, 0), p->to, x->ndim, x->shape);
    return TD_OK;
}

static bool dt_is_float(td_dtype dt)
{
    return dt == TD_DT_F32 || dt == TD_DT_F64 || dt == TD_DT_F16 || dt == TD_DT_BF16;
}

/* Loads n elements as doubles (float sources) ... */
static void load_f(td_dtype dt, const void *src, int64_t n, double *d)
{
    for (int64_t i = 0; i < n; i++) {
        switch (dt) {
        case TD_DT_F32:
            d[i] = ((const float *)src)[i];
            break;
        case TD_DT_F64:
            d[i] = ((const double *)src)[i];
            break;
        case TD_DT_F16:
            d[i] = td_f16_to_f32(((const uint16_t *)src)[i]);
            break;
        default:
            d[i] = td_bf16_to_f32(((const uint16_t *)src)[i]);
        }
    }
}

/* ... or as int64 (integer and bool sources). */
static void load_i(td_dtype dt, const void *src, int64_t n, int64_t *d)
{
    for (int64_t i = 0; i < n; i++) {
        switch (dt) {
        case TD_DT_I64:
            d[i] = ((const int64_t *)src)[i];
            break;
        case TD_DT_I32:
            d[i] = ((const int32_t *)src)[i];
            break;
        case TD_DT_I16:
            d[i] = ((const int16_t *)src)[i];
            break;
        case TD_DT_I8:
            d[i] = ((const int8_t *)src)[i];
            break;
        default: /* u8, bool */
            d[i] = ((const uint8_t *)src)[i];
        }
    }
}

/* Truncates toward zero and saturates to [lo, hi]; NaN -> 0. */
static int64_t f_to_i(double v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    if (v <= lo)
        return (int64_t)lo;
    if (v >= hi)
        return v >= 9.2233720368547758e18 ? INT64_MAX : (int64_t)hi;
    return (int64_t)v;
}

static void int_range(td_dtype dt, double *lo, double *hi)
{
    switch (dt) {
    case TD_DT_I64:
        *lo = -9.2233720368547758e18, *hi = 9.2233720368547758e18;
        break;
    case TD_DT_I32:
        *lo = INT32_MIN, *hi = INT32_MAX;
        break;
    case TD_DT_I16:
        *lo = INT16_MIN, *hi = INT16_MAX;
        break;
    case TD_DT_I8:
        *lo = INT8_MIN, *hi = INT8_MAX;
        break;
    default:
        *lo = 0, *hi = 255;
    }
}

static void store_int(td_dtype dt, void *dst, int64_t i, int64_t v)
{
    switch (dt) {
    case TD_DT_I64:
        ((int64_t *)dst)[i] = v;
        break;
    case TD_DT_I32:
        ((int32_t *)dst)[i] = (int32_t)(uint32_t)(uint64_t)v;
        break;
    case TD_DT_I16:
        ((int16_t *)dst)[i] = (int16_t)(uint16_t)(uint64_t)v;
        break;
    case TD_DT_I8:
        ((int8_t *)dst)[i] = (int8_t)(uint8_t)(uint64_t)v;
        break;
    default:
        ((uint8_t *)dst)[i] = (uint8_t)(uint64_t)v;
    }
}

static void store_float(td_dtype dt, void *dst, int64_t i, double v)
{
    switch (dt) {
    case TD_DT_F32:
        ((float *)dst)[i] = (float)v;
        break;
    case TD_DT_F64:
        ((double *)dst)[i] = v;
        break;
    case TD_DT_F16:
        ((uint16_t *)dst)[i] = td_f32_to_f16((float)v);
        break;
    default:
        ((uint16_t *)dst)[i] = td_f32_to_bf16((float)v);
    }
}

static void cast_chunk(td_dtype from, td_dtype to, const void *src, void *dst, int64_t n)
{
    double fb[256];
    int64_t ib[256];
    bool ff = dt_is_float(from), tf = dt_is_float(to);
    if (ff)
        load_f(from, src, n, fb);
    else
        load_i(from, src, n, ib);
    double lo = 0, hi = 0;
    if (!tf && to != TD_DT_BOOL)
        int_range(to, &lo, &hi);
    for (int64_t i = 0; i < n; i++) {
        if (to == TD_DT_BOOL)
            ((uint8_t *)dst)[i] = ff ? fb[i] != 0 : ib[i] != 0;
        else if (tf && ff)
            store_float(to, dst, i, fb[i]);
        else if (tf) /* int64 -> f32 rounds once, not through double */
            to == TD_DT_F32 ? (void)(((float *)dst)[i] = (float)ib[i])
                            : store_float(to, dst, i, (double)ib[i]);
        else if (ff)
            store_int(to, dst, i, f_to_i(fb[i], lo, hi));
        else
            store_int(to, dst, i, ib[i]);
    }
}

static td_status cast_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    td_dtype from = in[0].dtype, to = out[0].dtype;
    int64_t total = td_view_numel(&in[0]);
    size_t ies = td_dtype_size(from), oes = td_dtype_size(to);
    if (from == to) {
        if (total && out[0].data != in[0].data)
            memcpy(out[0].data, in[0].data, (size_t)total * ies);
        return TD_OK;
    }
    if (from == TD_DT_UNDEFINED || ies == 0)
        return td_node_error(n, TD_CODE_UNSUPPORTED, "cannot cast from %s", td_dtype_name(from));
    int64_t chunks = (total + 255) / 256;
    int threads = td_ops_threads(rc, total);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t i0 = c * 256, cnt = total - i0 < 256 ? total - i0 : 256;
        cast_chunk(from, to, (const char *)in[0].data + (size_t)i0 * ies,
                   (char *)out[0].data + (size_t)i0 * oes, cnt);
    }
    return TD_OK;
}

const td_op_def td_op_cast = {"Cast", TD_OPC_DATA,  1,        1,    1,   1,
                              0,      cast_prepare, cast_run, NULL, NULL};
