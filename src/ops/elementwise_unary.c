/* Unary elementwise operators and activations (f32; Neg, Abs, Sign also int64/int32; Not on
 * bool). libm's erff/tanhf/expf for accuracy first. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/vmath.h"
#include "ops/elementwise_internal.h"

enum {
    U_RELU,
    U_LEAKY,
    U_GELU,
    U_SIGMOID,
    U_TANH,
    U_ERF,
    U_SQRT,
    U_EXP,
    U_LOG,
    U_NEG,
    U_ABS,
    U_RECIP,
    U_CLIP,
    U_HSIG,
    U_HSWISH,
    U_SOFTPLUS,
    U_ELU,
    U_SELU,
    U_SOFTSIGN,
    U_FLOOR,
    U_CEIL,
    U_ROUND,
    U_SIGN,
    U_SIN,
    U_COS,
    U_NOT,
    U_TAN,
    U_SINH,
    U_COSH,
    U_ASIN,
    U_ACOS,
    U_ATAN,
    U_ASINH,
    U_ACOSH,
    U_ATANH,
    U_CELU,
    U_THRELU,
    U_SHRINK,
    U_ISNAN,
    U_ISINF,
    U_COUNT
};

static const char *const unary_names[U_COUNT] = {"Relu",
                                                 "LeakyRelu",
                                                 "Gelu",
                                                 "Sigmoid",
                                                 "Tanh",
                                                 "Erf",
                                                 "Sqrt",
                                                 "Exp",
                                                 "Log",
                                                 "Neg",
                                                 "Abs",
                                                 "Reciprocal",
                                                 "Clip",
                                                 "HardSigmoid",
                                                 "HardSwish",
                                                 "Softplus",
                                                 "Elu",
                                                 "Selu",
                                                 "Softsign",
                                                 "Floor",
                                                 "Ceil",
                                                 "Round",
                                                 "Sign",
                                                 "Sin",
                                                 "Cos",
                                                 "Not",
                                                 "Tan",
                                                 "Sinh",
                                                 "Cosh",
                                                 "Asin",
                                                 "Acos",
                                                 "Atan",
                                                 "Asinh",
                                                 "Acosh",
                                                 "Atanh",
                                                 "Celu",
                                                 "ThresholdedRelu",
                                                 "Shrink",
                                                 "IsNaN",
                                                 "IsInf"};

typedef struct unary_params {
    int op;
    float alpha, beta, gamma;
    int tanh_approx; /* Gelu approximate="tanh" */
    float lo, hi;    /* Clip bounds: attributes (opset < 11) or inputs at run time */
    td_isa isa;      /* set per run: vectorized Gelu */
} unary_params;

static inline float sigmoidf(float x)
{
    /* Split by sign so expf never overflows to inf/inf. */
    if (x >= 0)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static void unary_f32(const void *const *src, const int64_t *step, void *dst, int64_t n,
                      const void *ctx)
{
    (void)step;
    const unary_params *p = ctx;
    const float *x = src[0];
    float *y = dst;
    const float a = p->alpha, b = p->beta, gm = p->gamma;
    switch (p->op) {
    case U_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] < 0 ? 0.0f : x[i];
        break;
    case U_LEAKY:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] < 0 ? a * x[i] : x[i];
        break;
    case U_GELU:
        if (p->tanh_approx) {
            const float c = 0.7978845608028654f; /* sqrt(2/pi) */
            for (int64_t i = 0; i < n; i++) {
                float v = x[i];
                y[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
            }
        } else {
            /* Vectorized erf: libm's erff made Gelu a third of a BERT layer. */
            td_vgelu(p->isa, x, y, n);
        }
        break;
    case U_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            y[i] = sigmoidf(x[i]);
        break;
    case U_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = tanhf(x[i]);
        break;
    case U_ERF:
        for (int64_t i = 0; i < n; i++)
            y[i] = erff(x[i]);
        break;
    case U_SQRT:
        for (int64_t i = 0; i < n; i++)
            y[i] = sqrtf(x[i]);
        break;
    case U_EXP:
        for (int64_t i = 0; i < n; i++)
            y[i] = expf(x[i]);
        break;
    case U_LOG:
        for (int64_t i = 0; i < n; i++)
            y[i] = logf(x[i]);
        break;
    case U_NEG:
        for (int64_t i = 0; i < n; i++)
            y[i] = -x[i];
        break;
    case U_ABS:
        for (int64_t i = 0; i < n; i++)
            y[i] = fabsf(x[i]);
        break;
    case U_RECIP:
        for (int64_t i = 0; i < n; i++)
            y[i] = 1.0f / x[i];
        break;
    case U_CLIP: {
        const float lo = p->lo, hi = p->hi;
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] < lo ? lo : x[i];
            y[i] = v > hi ? hi : v;
        }
        break;
    }
    case U_HSIG:
        for (int64_t i = 0; i < n; i++)
            y[i] = fmaxf(0.0f, fminf(1.0f, a * x[i] + b));
        break;
    case U_HSWISH:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * fmaxf(0.0f, fminf(1.0f, x[i] / 6.0f + 0.5f));
        break;
    case U_SOFTPLUS:
        /* log(1 + e^x) without overflow for large x. */
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0 ? x[i] + log1pf(expf(-x[i])) : log1pf(expf(x[i]));
        break;
    case U_ELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] < 0 ? a * (expf(x[i]) - 1.0f) : x[i];
        break;
    case U_SELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] <= 0 ? gm * (a * expf(x[i]) - a) : gm * x[i];
        break;
    case U_SOFTSIGN:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] / (1.0f + fabsf(x[i]));
        break;
    case U_FLOOR:
        for (int64_t i = 0; i < n; i++)
            y[i] = floorf(x[i]);
        break;
    case U_CEIL:
        for (int64_t i = 0; i < n; i++)
            y[i] = ceilf(x[i]);
        break;
    case U_ROUND: /* half to even, as ONNX specifies (default rounding mode) */
        for (int64_t i = 0; i < n; i++)
            y[i] = nearbyintf(x[i]);
        break;
    case U_SIGN:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0 ? 1.0f : x[i] < 0 ? -1.0f : x[i];
        break;
    case U_SIN:
        for (int64_t i = 0; i < n; i++)
            y[i] = sinf(x[i]);
        break;
    case U_COS:
        for (int64_t i = 0; i < n; i++)
            y[i] = cosf(x[i]);
        break;
    case U_TAN:
        for (int64_t i = 0; i < n; i++)
            y[i] = tanf(x[i]);
        break;
    case U_SINH:
        for (int64_t i = 0; i < n; i++)
            y[i] = sinhf(x[i]);
        break;
    case U_COSH:
        for (int64_t i = 0; i < n; i++)
            y[i] = coshf(x[i]);
        break;
    case U_ASIN:
        for (int64_t i = 0; i < n; i++)
            y[i] = asinf(x[i]);
        break;
    case U_ACOS:
        for (int64_t i = 0; i < n; i++)
            y[i] = acosf(x[i]);
        break;
    case U_ATAN:
        for (int64_t i = 0; i < n; i++)
            y[i] = atanf(x[i]);
        break;
    case U_ASINH:
        for (int64_t i = 0; i < n; i++)
            y[i] = asinhf(x[i]);
        break;
    case U_ACOSH:
        for (int64_t i = 0; i < n; i++)
            y[i] = acoshf(x[i]);
        break;
    case U_ATANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = atanhf(x[i]);
        break;
    case U_CELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = fmaxf(0.0f, x[i]) + fminf(0.0f, a * (expf(x[i] / a) - 1.0f));
        break;
    case U_THRELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > a ? x[i] : 0.0f;
        break;
    case U_SHRINK: /* alpha = lambd, beta = bias */
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] < -a ? x[i] + b : x[i] > a ? x[i] - b : 0.0f;
        break;
    default:
        break;
    }
}

/* IsNaN / IsInf: f32 in, bool out; IsInf's detect_negative/positive in alpha/beta. */
static void unary_test_f32(const void *const *src, const int64_t *step, void *dst, int64_t n,
                           const void *ctx)
{
    (void)step;
    const unary_params *p = ctx;
    const float *x = src[0];
    uint8_t *y = dst;
    if (p->op == U_ISNAN) {
        for (int64_t i = 0; i < n; i++)
            y[i] = isnan(x[i]) != 0;
        return;
    }
    bool neg = p->alpha != 0, pos = p->beta != 0;
    for (int64_t i = 0; i < n; i++)
        y[i] = isinf(x[i]) && ((x[i] > 0 && pos) || (x[i] < 0 && neg));
}

#define DEF_INT_UNARY(SUF, T, U)                                                                   \
    static void unary_##SUF(const void *const *src, const int64_t *step, void *dst, int64_t n,     \
                            const void *ctx)                                                       \
    {                                                                                              \
        (void)step;                                                                                \
        const unary_params *p = ctx;                                                               \
        const T *x = src[0];                                                                       \
        T *y = dst;                                                                                \
        if (p->op == U_NEG)                                                                        \
            for (int64_t i = 0; i < n; i++)                                                        \
                y[i] = (T)(0u - (U)x[i]);                                                          \
        else if (p->op == U_ABS)                                                                   \
            for (int64_t i = 0; i < n; i++)                                                        \
                y[i] = x[i] < 0 ? (T)(0u - (U)x[i]) : x[i];                                        \
        else                                                                                       \
            for (int64_t i = 0; i < n; i++)                                                        \
                y[i] = (T)((x[i] > 0) - (x[i] < 0));                                               \
    }
DEF_INT_UNARY(i64, int64_t, uint64_t)
DEF_INT_UNARY(i32, int32_t, uint32_t)

/* Integer Clip (opset 12+): bounds as int64, defaulting to the type's range. */
typedef struct clip_int {
    int64_t lo, hi;
} clip_int;

#define DEF_CLIP(SUF, T)                                                                           \
    static void clip_##SUF(const void *const *src, const int64_t *step, void *dst, int64_t n,      \
                           const void *ctx)                                                        \
    {                                                                                              \
        (void)step;                                                                                \
        const clip_int *c = ctx;                                                                   \
        const T *x = src[0];                                                                       \
        T *y = dst;                                                                                \
        for (int64_t i = 0; i < n; i++) {                                                          \
            int64_t v = x[i] < c->lo ? c->lo : x[i];                                               \
            y[i] = (T)(v > c->hi ? c->hi : v);                                                     \
        }                                                                                          \
    }
DEF_CLIP(i64, int64_t)
DEF_CLIP(i32, int32_t)
DEF_CLIP(i8, int8_t)
DEF_CLIP(u8, uint8_t)

static int64_t int_at(const td_view *v, bool *ok)
{
    *ok = true;
    switch (v->dtype) {
    case TD_DT_I64:
        return *(const int64_t *)v->data;
    case TD_DT_I32:
        return *(const int32_t *)v->data;
    case TD_DT_I8:
        return *(const int8_t *)v->data;
    case TD_DT_U8:
        return *(const uint8_t *)v->data;
    default:
        *ok = false;
        return 0;
    }
}

static void unary_not(const void *const *src, const int64_t *step, void *dst, int64_t n,
                      const void *ctx)
{
    (void)step, (void)ctx;
    const uint8_t *x = src[0];
    uint8_t *y = dst;
    for (int64_t i = 0; i < n; i++)
        y[i] = !x[i];
}

static td_ew_kernel pick(int op, td_dtype dt)
{
    if (op == U_NOT)
        return dt == TD_DT_BOOL ? unary_not : NULL;
    if (dt == TD_DT_F32)
        return op == U_ISNAN || op == U_ISINF ? unary_test_f32 : unary_f32;
    if (op == U_CLIP)
        return dt == TD_DT_I64   ? clip_i64
               : dt == TD_DT_I32 ? clip_i32
               : dt == TD_DT_I8  ? clip_i8
               : dt == TD_DT_U8  ? clip_u8
                                 : NULL;
    if (op == U_NEG || op == U_ABS || op == U_SIGN)
        return dt == TD_DT_I64 ? unary_i64 : dt == TD_DT_I32 ? unary_i32 : NULL;
    return NULL;
}

static td_status parse_params(td_node *n, int op, unary_params *p)
{
    memset(p, 0, sizeof *p);
    p->op = op;
    p->lo = -INFINITY;
    p->hi = INFINITY;
    switch (op) {
    case U_LEAKY:
        return td_attr_float(n, "alpha", 0.01f, &p->alpha);
    case U_ELU:
        return td_attr_float(n, "alpha", 1.0f, &p->alpha);
    case U_SELU:
        TD_TRY(td_attr_float(n, "alpha", 1.67326319217681884765625f, &p->alpha));
        return td_attr_float(n, "gamma", 1.05070102214813232421875f, &p->gamma);
    case U_HSIG:
        TD_TRY(td_attr_float(n, "alpha", 0.2f, &p->alpha));
        return td_attr_float(n, "beta", 0.5f, &p->beta);
    case U_CLIP:
        /* Before opset 11 the bounds are attributes; later they are optional inputs. */
        TD_TRY(td_attr_float(n, "min", -INFINITY, &p->lo));
        return td_attr_float(n, "max", INFINITY, &p->hi);
    case U_CELU:
        TD_TRY(td_attr_float(n, "alpha", 1.0f, &p->alpha));
        if (p->alpha == 0.0f)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "alpha must not be 0");
        return TD_OK;
    case U_THRELU:
        return td_attr_float(n, "alpha", 1.0f, &p->alpha);
    case U_SHRINK:
        TD_TRY(td_attr_float(n, "lambd", 0.5f, &p->alpha));
        return td_attr_float(n, "bias", 0.0f, &p->beta);
    case U_ISINF: {
        int64_t neg, pos;
        TD_TRY(td_attr_int(n, "detect_negative", 1, &neg));
        TD_TRY(td_attr_int(n, "detect_positive", 1, &pos));
        p->alpha = (float)(neg != 0);
        p->beta = (float)(pos != 0);
        return TD_OK;
    }
    case U_GELU: {
        const td_attr *a = td_node_attr(n, "approximate");
        if (!a)
            return TD_OK;
        if (a->type != TD_ATTR_STRING || !a->s ||
            (strcmp(a->s, "none") != 0 && strcmp(a->s, "tanh") != 0))
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "attribute 'approximate' must be \"none\" or \"tanh\"");
        p->tanh_approx = strcmp(a->s, "tanh") == 0;
        return TD_OK;
    }
    default:
        return TD_OK;
    }
}

static td_status unary_prepare(td_graph *g, td_node *n)
{
    const char *name = n->def ? n->def->name : n->op_type;
    int op = -1;
    for (int i = 0; i < U_COUNT; i++)
        if (strcmp(unary_names[i], name) == 0)
            op = i;
    if (op < 0)
        return td_node_error(n, TD_CODE_INTERNAL, "not a unary elementwise op");
    const td_value *x = td_node_in(g, n, 0);
    if (!x || x->ndim < 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input 0 is missing or has no shape");
    if (!pick(op, x->dtype))
        return td_node_error(n, TD_CODE_UNSUPPORTED, "input type %s is not supported",
                             td_dtype_name(x->dtype));
    for (int i = 1; i < n->n_inputs; i++) { /* Clip's min and max */
        const td_value *v = td_node_in(g, n, i);
        if (!v)
            continue;
        if (v->dtype != x->dtype)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d is %s, input 0 is %s", i,
                                 td_dtype_name(v->dtype), td_dtype_name(x->dtype));
        if (td_shape_numel(v->ndim, v->shape) != 1)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "input %d ('%s') must be a scalar", i,
                                 v->name);
    }
    unary_params *p = malloc(sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    td_status st = parse_params(n, op, p);
    if (st) {
        free(p);
        return st;
    }
    td_ops_set_params(n, p);
    td_dtype out = op == U_ISNAN || op == U_ISINF ? TD_DT_BOOL : x->dtype;
    td_value_set_shape(td_node_out(g, n, 0), out, x->ndim, x->shape);
    return TD_OK;
}

static td_status unary_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const unary_params *p0 = n->params;
    if (!p0)
        return td_node_error(n, TD_CODE_INTERNAL, "run before prepare");
    unary_params p = *p0;
    p.isa = rc->ctx->isa;
    td_ew_kernel k = pick(p.op, in[0].dtype);
    if (!k)
        return td_node_error(n, TD_CODE_UNSUPPORTED, "input type %s is not supported",
                             td_dtype_name(in[0].dtype));
    if (p.op == U_CLIP && in[0].dtype != TD_DT_F32) {
        clip_int c = {INT64_MIN, INT64_MAX};
        bool ok = true;
        if (n->n_inputs > 1 && in[1].data)
            c.lo = int_at(&in[1], &ok);
        if (ok && n->n_inputs > 2 && in[2].data)
            c.hi = int_at(&in[2], &ok);
        if (!ok)
            return td_node_error(n, TD_CODE_UNSUPPORTED, "bounds of type %s",
                                 td_dtype_name(in[1].dtype));
        const td_view *ins[1] = {&in[0]};
        size_t es = td_dtype_size(in[0].dtype);
        return td_ew_for_each(rc, n, 1, ins, &out[0], &es, es, k, &c);
    }
    if (p.op == U_CLIP) {
        if (n->n_inputs > 1 && in[1].data)
            p.lo = *(const float *)in[1].data;
        if (n->n_inputs > 2 && in[2].data)
            p.hi = *(const float *)in[2].data;
    }
    const td_view *ins[1] = {&in[0]};
    size_t es = td_dtype_size(in[0].dtype);
    return td_ew_for_each(rc, n, 1, ins, &out[0], &es, td_dtype_size(out[0].dtype), k, &p);
}

#define UN_DEF(VAR, NAME, MAXIN)                                                                   \
    const td_op_def VAR = {NAME,           TD_OPC_ELEMENTWISE, 1,         MAXIN,      1,   1,      \
                           TD_OPF_INPLACE, unary_prepare,      unary_run, td_ew_cost, NULL};
UN_DEF(td_op_relu, "Relu", 1)
UN_DEF(td_op_leaky_relu, "LeakyRelu", 1)
UN_DEF(td_op_gelu, "Gelu", 1)
UN_DEF(td_op_sigmoid, "Sigmoid", 1)
UN_DEF(td_op_tanh, "Tanh", 1)
UN_DEF(td_op_erf, "Erf", 1)
UN_DEF(td_op_sqrt, "Sqrt", 1)
UN_DEF(td_op_exp, "Exp", 1)
UN_DEF(td_op_log, "Log", 1)
UN_DEF(td_op_neg, "Neg", 1)
UN_DEF(td_op_abs, "Abs", 1)
UN_DEF(td_op_reciprocal, "Reciprocal", 1)
UN_DEF(td_op_clip, "Clip", 3)
UN_DEF(td_op_hard_sigmoid, "HardSigmoid", 1)
UN_DEF(td_op_hard_swish, "HardSwish", 1)
UN_DEF(td_op_softplus, "Softplus", 1)
UN_DEF(td_op_elu, "Elu", 1)
UN_DEF(td_op_selu, "Selu", 1)
UN_DEF(td_op_softsign, "Softsign", 1)
UN_DEF(td_op_floor, "Floor", 1)
UN_DEF(td_op_ceil, "Ceil", 1)
UN_DEF(td_op_round, "Round", 1)
UN_DEF(td_op_sign, "Sign", 1)
UN_DEF(td_op_sin, "Sin", 1)
UN_DEF(td_op_cos, "Cos", 1)
UN_DEF(td_op_not, "Not", 1)
UN_DEF(td_op_tan, "Tan", 1)
UN_DEF(td_op_sinh, "Sinh", 1)
UN_DEF(td_op_cosh, "Cosh", 1)
UN_DEF(td_op_asin, "Asin", 1)
UN_DEF(td_op_acos, "Acos", 1)
UN_DEF(td_op_atan, "Atan", 1)
UN_DEF(td_op_asinh, "Asinh", 1)
UN_DEF(td_op_acosh, "Acosh", 1)
UN_DEF(td_op_atanh, "Atanh", 1)
UN_DEF(td_op_celu, "Celu", 1)
UN_DEF(td_op_thresholded_relu, "ThresholdedRelu", 1)
UN_DEF(td_op_shrink, "Shrink", 1)
/* bool output: never in place */
const td_op_def td_op_isnan = {"IsNaN", TD_OPC_ELEMENTWISE, 1,         1,          1,   1,
                               0,       unary_prepare,      unary_run, td_ew_cost, NULL};
const td_op_def td_op_isinf = {"IsInf", TD_OPC_ELEMENTWISE, 1,         1,          1,   1,
                               0,       unary_prepare,      unary_run, td_ew_cost, NULL};
