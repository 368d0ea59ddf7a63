/* Binary elementwise operators with numpy broadcasting. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise_internal.h"

enum {
    B_ADD,
    B_SUB,
    B_MUL,
    B_DIV,
    B_POW,
    B_EQ,
    B_LT,
    B_GT,
    B_LE,
    B_GE,
    B_AND,
    B_OR,
    B_XOR,
    B_PRELU,
    B_MOD,  /* integer Mod with the divisor's sign (Python) */
    B_FMOD, /* Mod with fmod=1: the dividend's sign (C) */
};

/* Four loops per kernel (both inputs moving, one, the other, none) so that each is a plain
 * loop the compiler vectorizes; a trailing-vector or scalar broadcast hits the middle two. */
#define DEF_BIN(NAME, TA, TB, TO, EXPR)                                                            \
    static void NAME(const void *const *src, const int64_t *step, void *dst, int64_t len,          \
                     const void *ctx)                                                              \
    {                                                                                              \
        (void)ctx;                                                                                 \
        const TA *pa = src[0];                                                                     \
        const TB *pb = src[1];                                                                     \
        TO *o = dst;                                                                               \
        if (step[0] && step[1]) {                                                                  \
            for (int64_t i = 0; i < len; i++) {                                                    \
                TA a = pa[i];                                                                      \
                TB b = pb[i];                                                                      \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else if (step[0]) {                                                                      \
            TB b = pb[0];                                                                          \
            for (int64_t i = 0; i < len; i++) {                                                    \
                TA a = pa[i];                                                                      \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else if (step[1]) {                                                                      \
            TA a = pa[0];                                                                          \
            for (int64_t i = 0; i < len; i++) {                                                    \
                TB b = pb[i];                                                                      \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else {                                                                                   \
            TA a = pa[0];                                                                          \
            TB b = pb[0];                                                                          \
            TO v = (TO)(EXPR);                                                                     \
            for (int64_t i = 0; i < len; i++)                                                      \
                o[i] = v;                                                                          \
        }                                                                                          \
    }

/* Integer arithmetic wraps (through unsigned) rather than being undefined on overflow; integer
 * division truncates toward zero like C and onnxruntime, and x / 0 gives 0 instead of a trap. */
static inline int64_t div_i64(int64_t a, int64_t b)
{
    if (b == 0)
        return 0;
    if (b == -1)
        return (int64_t)(0u - (uint64_t)a);
    return a / b;
}
static inline int32_t div_i32(int32_t a, int32_t b)
{
    if (b == 0)
        return 0;
    if (b == -1)
        return (int32_t)(0u - (uint32_t)a);
    return a / b;
}

#define DEF_ARITH(SUF, T, U)                                                                       \
    DEF_BIN(add_##SUF, T, T, T, (T)((U)a + (U)b))                                                  \
    DEF_BIN(sub_##SUF, T, T, T, (T)((U)a - (U)b))                                                  \
    DEF_BIN(mul_##SUF, T, T, T, (T)((U)a * (U)b))
DEF_ARITH(i64, int64_t, uint64_t)
DEF_ARITH(i32, int32_t, uint32_t)
DEF_BIN(div_i64k, int64_t, int64_t, int64_t, div_i64(a, b))
DEF_BIN(div_i32k, int32_t, int32_t, int32_t, div_i32(a, b))
DEF_BIN(add_f32, float, float, float, a + b)
DEF_BIN(sub_f32, float, float, float, a - b)
DEF_BIN(mul_f32, float, float, float, a *b)
DEF_BIN(div_f32, float, float, float, a / b)
DEF_BIN(add_f64, double, double, double, a + b)
DEF_BIN(sub_f64, double, double, double, a - b)
DEF_BIN(mul_f64, double, double, double, a *b)
DEF_BIN(div_f64, double, double, double, a / b)
DEF_BIN(pow_f32, float, float, float, powf(a, b))
DEF_BIN(pow_f32_i64, float, int64_t, float, powf(a, (float)b))
DEF_BIN(pow_f32_i32, float, int32_t, float, powf(a, (float)b))
/* Integer bases: computed in double and converted, as onnxruntime does for Pow on ints. */
DEF_BIN(pow_i64_i64, int64_t, int64_t, int64_t, pow((double)a, (double)b))
DEF_BIN(pow_i64_f32, int64_t, float, int64_t, pow((double)a, (double)b))
DEF_BIN(pow_i32_i32, int32_t, int32_t, int32_t, pow((double)a, (double)b))
DEF_BIN(pow_i32_f32, int32_t, float, int32_t, pow((double)a, (double)b))
static inline uint8_t div_u8(uint8_t a, uint8_t b)
{
    return b ? (uint8_t)(a / b) : 0;
}
DEF_ARITH(u8, uint8_t, uint32_t)
DEF_BIN(div_u8k, uint8_t, uint8_t, uint8_t, div_u8(a, b))
DEF_BIN(prelu_f32, float, float, float, a < 0 ? a * b : a)

/* x mod 0 gives 0 rather than a trap; x mod -1 is 0 (and INT_MIN % -1 would trap). */
#define DEF_MOD(SUF, T)                                                                            \
    static inline T pymod_##SUF(T a, T b)                                                          \
    {                                                                                              \
        if (b == 0 || b == -1)                                                                     \
            return 0;                                                                              \
        T r = (T)(a % b);                                                                          \
        return (r != 0 && ((r < 0) != (b < 0))) ? (T)(r + b) : r;                                  \
    }                                                                                              \
    static inline T cmod_##SUF(T a, T b)                                                           \
    {                                                                                              \
        if (b == 0 || b == -1)                                                                     \
            return 0;                                                                              \
        return (T)(a % b);                                                                         \
    }                                                                                              \
    DEF_BIN(mod_##SUF, T, T, T, pymod_##SUF(a, b))                                                 \
    DEF_BIN(fmod_##SUF, T, T, T, cmod_##SUF(a, b))
DEF_MOD(i64, int64_t)
DEF_MOD(i32, int32_t)
DEF_MOD(i16, int16_t)
DEF_MOD(i8, int8_t)
static inline uint8_t mod_u8v(uint8_t a, uint8_t b)
{
    return b ? (uint8_t)(a % b) : 0;
}
DEF_BIN(mod_u8, uint8_t, uint8_t, uint8_t, mod_u8v(a, b))
DEF_BIN(fmod_u8, uint8_t, uint8_t, uint8_t, mod_u8v(a, b))
DEF_BIN(fmod_f32, float, float, float, fmodf(a, b))
DEF_BIN(fmod_f64, double, double, double, fmod(a, b))

static td_ew_kernel mod_kernel(int op, td_dtype dt)
{
    bool c = op == B_FMOD;
    switch (dt) {
    case TD_DT_I64:
        return c ? fmod_i64 : mod_i64;
    case TD_DT_I32:
        return c ? fmod_i32 : mod_i32;
    case TD_DT_I16:
        return c ? fmod_i16 : mod_i16;
    case TD_DT_I8:
        return c ? fmod_i8 : mod_i8;
    case TD_DT_U8:
        return c ? fmod_u8 : mod_u8;
    case TD_DT_F32: /* floats always take the dividend's sign (fmod=1 is required) */
        return fmod_f32;
    case TD_DT_F64:
        return fmod_f64;
    default:
        return NULL;
    }
}

DEF_BIN(and_b, uint8_t, uint8_t, uint8_t, (a != 0) & (b != 0))
DEF_BIN(or_b, uint8_t, uint8_t, uint8_t, (a != 0) | (b != 0))
DEF_BIN(xor_b, uint8_t, uint8_t, uint8_t, (a != 0) ^ (b != 0))

#define DEF_CMP(SUF, T)                                                                            \
    DEF_BIN(eq_##SUF, T, T, uint8_t, a == b)                                                       \
    DEF_BIN(lt_##SUF, T, T, uint8_t, a < b)                                                        \
    DEF_BIN(gt_##SUF, T, T, uint8_t, a > b)                                                        \
    DEF_BIN(le_##SUF, T, T, uint8_t, a <= b)                                                       \
    DEF_BIN(ge_##SUF, T, T, uint8_t, a >= b)
DEF_CMP(f32, float)
DEF_CMP(f64, double)
DEF_CMP(i64, int64_t)
DEF_CMP(i32, int32_t)
DEF_CMP(i8, int8_t)
DEF_CMP(u8, uint8_t)

#define CMP_ROW(SUF)                                                                               \
    {                                                                                              \
        eq_##SUF, lt_##SUF, gt_##SUF, le_##SUF, ge_##SUF                                           \
    }

static td_ew_kernel cmp_kernel(int op, td_dtype dt)
{
    static const td_ew_kernel t[][5] = {CMP_ROW(f32), CMP_ROW(f64), CMP_ROW(i64),
                                        CMP_ROW(i32), CMP_ROW(i8),  CMP_ROW(u8)};
    int row = dt == TD_DT_F32                  ? 0
              : dt == TD_DT_F64                ? 1
              : dt == TD_DT_I64                ? 2
              : dt == TD_DT_I32                ? 3
              : dt == TD_DT_I8                 ? 4
              : dt == TD_DT_U8                 ? 5
              : dt == TD_DT_BOOL && op == B_EQ ? 5
                                               : -1;
    return row < 0 ? NULL : t[row][op - B_EQ];
}

static td_ew_kernel pick(int op, td_dtype a, td_dtype b)
{
    if (op >= B_EQ && op <= B_GE)
        return a == b ? cmp_kernel(op, a) : NULL;
    if (op == B_MOD || op == B_FMOD)
        return a == b ? mod_kernel(op, a) : NULL;
    if (op == B_PRELU)
        return a == TD_DT_F32 && b == TD_DT_F32 ? prelu_f32 : NULL;
    if (op == B_POW) {
        if (a == TD_DT_I64 || a == TD_DT_I32) {
            bool i64 = a == TD_DT_I64;
            if (b == a)
                return i64 ? pow_i64_i64 : pow_i32_i32;
            if (b == TD_DT_F32)
                return i64 ? pow_i64_f32 : pow_i32_f32;
            return NULL;
        }
        if (a != TD_DT_F32)
            return NULL;
        return b == TD_DT_F32   ? pow_f32
               : b == TD_DT_I64 ? pow_f32_i64
               : b == TD_DT_I32 ? pow_f32_i32
                                : NULL;
    }
    if (a != b)
        return NULL;
    if (op >= B_AND)
        return a != TD_DT_BOOL ? NULL : op == B_AND ? and_b : op == B_OR ? or_b : xor_b;
    static const td_ew_kernel ar[][4] = {{add_f32, sub_f32, mul_f32, div_f32},
                                         {add_f64, sub_f64, mul_f64, div_f64},
                                         {add_i64, sub_i64, mul_i64, div_i64k},
                                         {add_i32, sub_i32, mul_i32, div_i32k},
                                         {add_u8, sub_u8, mul_u8, div_u8k}};
    int row = a == TD_DT_F32   ? 0
              : a == TD_DT_F64 ? 1
              : a == TD_DT_I64 ? 2
              : a == TD_DT_I32 ? 3
              : a == TD_DT_U8  ? 4
                               : -1;
    return row < 0 ? NULL : ar[row][op];
}

typedef struct bin_params {
    int op;
} bin_params;

static int op_code(const char *name)
{
    static const char *const names[] = {"Add",   "Sub",  "Mul",     "Div",         "Pow",
                                        "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
                                        "And",   "Or",   "Xor",     "PRelu",       "Mod"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

static td_status bin_prepare(td_graph *g, td_node *n)
{
    int op = op_code(n->def ? n->def->name : n->op_type);
    if (op < 0)
        return td_node_error(n, TD_CODE_INTERNAL, "not a binary elementwise op");
    if (op == B_MOD) {
        int64_t fm;
        TD_TRY(td_attr_int(n, "fmod", 0, &fm));
        if (fm)
            op = B_FMOD;
    }
    const td_value *a = td_node_in(g, n, 0), *b = td_node_in(g, n, 1);
    if (!a || !b)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "two inputs are required");
    if (!pick(op, a->dtype, b->dtype))
        return td_node_error(n, TD_CODE_UNSUPPORTED, "unsupported input types %s and %s",
                             td_dtype_name(a->dtype), td_dtype_name(b->dtype));
    td_dtype out = op >= B_EQ && op <= B_XOR ? TD_DT_BOOL : a->dtype;
    TD_TRY(td_ew_prepare_common(g, n, 0, 2, out));
    bin_params *p = malloc(sizeof *p);
    if (!p)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    p->op = op;
    td_ops_set_params(n, p);
    return TD_OK;
}

static td_status bin_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const bin_params *p = n->params;
    if (!p)
        return td_node_error(n, TD_CODE_INTERNAL, "run before prepare");
    td_ew_kernel k = pick(p->op, in[0].dtype, in[1].dtype);
    if (!k)
        return td_node_error(n, TD_CODE_UNSUPPORTED, "unsupported input types %s and %s",
                             td_dtype_name(in[0].dtype), td_dtype_name(in[1].dtype));
    const td_view *ins[2] = {&in[0], &in[1]};
    size_t es[2] = {td_dtype_size(in[0].dtype), td_dtype_size(in[1].dtype)};
    return td_ew_for_each(rc, n, 2, ins, &out[0], es, td_dtype_size(out[0].dtype), k, p);
}

#define BIN_DEF(VAR, NAME, FLAGS)                                                                  \
    const td_op_def VAR = {NAME,  TD_OPC_ELEMENTWISE, 2,       2,          1,   1,                 \
                           FLAGS, bin_prepare,        bin_run, td_ew_cost, NULL};
/* In place only when the output has input 0's shape; the memory planner checks the shapes. */
BIN_DEF(td_op_add, "Add", TD_OPF_INPLACE)
BIN_DEF(td_op_sub, "Sub", TD_OPF_INPLACE)
BIN_DEF(td_op_mul, "Mul", TD_OPF_INPLACE)
BIN_DEF(td_op_div, "Div", TD_OPF_INPLACE)
BIN_DEF(td_op_pow, "Pow", TD_OPF_INPLACE)
BIN_DEF(td_op_equal, "Equal", 0)
BIN_DEF(td_op_less, "Less", 0)
BIN_DEF(td_op_greater, "Greater", 0)
BIN_DEF(td_op_less_or_equal, "LessOrEqual", 0)
BIN_DEF(td_op_greater_or_equal, "GreaterOrEqual", 0)
BIN_DEF(td_op_and, "And", TD_OPF_INPLACE)
BIN_DEF(td_op_or, "Or", TD_OPF_INPLACE)
BIN_DEF(td_op_xor, "Xor", TD_OPF_INPLACE)
BIN_DEF(td_op_prelu, "PRelu", TD_OPF_INPLACE)
BIN_DEF(td_op_mod, "Mod", TD_OPF_INPLACE)
