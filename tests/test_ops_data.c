/* Data-movement and shape operators, run node by node through their table entries
 * (prepare, then run on buffers allocated here), checked against hand-computed results. */

#include "ops_case.h"

static bool shape_is(const td_view *v, int nd, const int64_t *shape)
{
    if (v->ndim != nd)
        return false;
    for (int i = 0; i < nd; i++)
        if (v->shape[i] != shape[i])
            return false;
    return true;
}

static bool f32_eq(const td_view *v, const float *want, int64_t n)
{
    if (v->dtype != TD_DT_F32 || td_view_numel(v) != n)
        return false;
    for (int64_t i = 0; i < n; i++)
        if (((const float *)v->data)[i] != want[i])
            return false;
    return true;
}

static bool i64_eq(const td_view *v, const int64_t *want, int64_t n)
{
    if (v->dtype != TD_DT_I64 || td_view_numel(v) != n)
        return false;
    return memcmp(v->data, want, (size_t)n * 8) == 0;
}

static const char *X[] = {"x"}, *XS[] = {"x", "s"}, *Y[] = {"y"};
static const float F6[] = {0, 1, 2, 3, 4, 5};
static const float F24[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                            12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};

/* Reshape x (shape xs) with the shape list; returns the status. */
static td_status reshape(case_t *c, int xnd, const int64_t *xs, int cnt, const int64_t *shape,
                         int64_t allowzero)
{
    case_begin(c, 14);
    cst(c, "x", TD_DT_F32, xnd, xs, F24);
    int64_t sl = cnt;
    cst(c, "s", TD_DT_I64, 1, &sl, shape);
    td_node *n = node(c, "Reshape", 2, XS, 1, Y);
    if (allowzero >= 0)
        td_node_set_int(n, "allowzero", allowzero);
    return run_last(c);
}

static void test_reshape(void)
{
    case_t c;
    int64_t xs[3] = {2, 3, 4};
    int64_t s1[] = {4, -1}, w1[] = {4, 6};
    TD_CHECK_OK(reshape(&c, 3, xs, 2, s1, -1));
    TD_CHECK(shape_is(&c.out[0], 2, w1) && f32_eq(&c.out[0], F24, 24), "-1 inferred");
    TD_CHECK(td_op_find("Reshape")->flags & TD_OPF_VIEW, "Reshape is a view");
    case_end(&c);
    int64_t s2[] = {0, 0, -1, 1}, w2[] = {2, 3, 4, 1};
    TD_CHECK_OK(reshape(&c, 3, xs, 4, s2, -1));
    TD_CHECK(shape_is(&c.out[0], 4, w2), "0 copies the input dim");
    case_end(&c);
    int64_t zx[2] = {0, 3}, s3[] = {3, 0}, w3[] = {3, 0};
    TD_CHECK_OK(reshape(&c, 2, zx, 2, s3, 1));
    TD_CHECK(shape_is(&c.out[0], 2, w3), "allowzero keeps a literal 0");
    case_end(&c);
    int64_t s4[] = {-1, -1};
    TD_CHECK_ERROR(reshape(&c, 3, xs, 2, s4, -1), TD_CODE_INVALID_ARGUMENT, "more than one -1");
    case_end(&c);
    int64_t s5[] = {5, 5};
    TD_CHECK_ERROR(reshape(&c, 3, xs, 2, s5, -1), TD_CODE_INVALID_ARGUMENT,
                   "node 'n0' (Reshape): cannot reshape [2, 3, 4] (24 elements) to [5, 5]");
    case_end(&c);
    int64_t s6[] = {5, -1};
    TD_CHECK_ERROR(reshape(&c, 3, xs, 2, s6, -1), TD_CODE_INVALID_ARGUMENT, "cannot infer");
    case_end(&c);
    int64_t s7[] = {0, -1};
    TD_CHECK_ERROR(reshape(&c, 2, zx, 2, s7, 1), TD_CODE_INVALID_ARGUMENT, "allowzero");
    case_end(&c);
    int64_t s8[] = {-2, 12};
    TD_CHECK_ERROR(reshape(&c, 3, xs, 2, s8, -1), TD_CODE_INVALID_ARGUMENT, "dimension 0 is -2");
    case_end(&c);
}

static void test_flatten(void)
{
    int64_t xs[4] = {2, 3, 4, 1};
    int64_t axes[] = {0, 1, 2, 4, -1, -4},
            want[][2] = {{1, 24}, {2, 12}, {6, 4}, {24, 1}, {24, 1}, {1, 24}};
    for (int i = 0; i < 6; i++) {
        case_t c;
        case_begin(&c, 13);
        cst(&c, "x", TD_DT_F32, 4, xs, F24);
        td_node_set_int(node(&c, "Flatten", 1, X, 1, Y), "axis", axes[i]);
        TD_CHECK_OK(run_last(&c));
        TD_CHECK(shape_is(&c.out[0], 2, want[i]) && f32_eq(&c.out[0], F24, 24), "axis %lld",
                 (long long)axes[i]);
        case_end(&c);
    }
    case_t c;
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 4, xs, F24);
    node(&c, "Flatten", 1, X, 1, Y);
    int64_t w[] = {2, 12};
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(shape_is(&c.out[0], 2, w), "default axis 1");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 4, xs, F24);
    td_node_set_int(node(&c, "Flatten", 1, X, 1, Y), "axis", 5);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "axis 5 out of range for rank 4");
    case_end(&c);
}

static void test_squeeze_unsqueeze(void)
{
    case_t c;
    int64_t xs[4] = {1, 3, 1, 2};
    /* opset 13: axes input */
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 4, xs, F6);
    int64_t one = 1, ax[] = {-2};
    cst(&c, "s", TD_DT_I64, 1, &one, ax);
    node(&c, "Squeeze", 2, XS, 1, Y);
    int64_t w1[] = {1, 3, 2};
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(shape_is(&c.out[0], 3, w1) && f32_eq(&c.out[0], F6, 6), "squeeze axis -2");
    case_end(&c);
    /* no axes: every 1 goes */
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 4, xs, F6);
    node(&c, "Squeeze", 1, X, 1, Y);
    int64_t w2[] = {3, 2};
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(shape_is(&c.out[0], 2, w2), "squeeze all ones");
    case_end(&c);
    /* opset 11: axes attribute */
    case_begin(&c, 11);
    cst(&c, "x", TD_DT_F32, 4, xs, F6);
    int64_t a0[] = {0};
    td_node_set_ints(node(&c, "Squeeze", 1, X, 1, Y), "axes", a0, 1);
    int64_t w3[] = {3, 1, 2};
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(shape_is(&c.out[0], 3, w3), "squeeze attribute axes");
    case_end(&c);
    case_begin(&c, 11);
    cst(&c, "x", TD_DT_F32, 4, xs, F6);
    int64_t a1[] = {1};
    td_node_set_ints(node(&c, "Squeeze", 1, X, 1, Y), "axes", a1, 1);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "cannot squeeze axis 1 of size 3");
    case_end(&c);
    /* Unsqueeze: unsorted and negative axes against the output rank */
    int64_t us[2] = {3, 2}, three = 3, uax[] = {4, 0, -3};
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, us, F6);
    cst(&c, "s", TD_DT_I64, 1, &three, uax);
    node(&c, "Unsqueeze", 2, XS, 1, Y);
    int64_t w4[] = {1, 3, 1, 2, 1};
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(shape_is(&c.out[0], 5, w4) && f32_eq(&c.out[0], F6, 6), "unsqueeze 4,0,-3");
    case_end(&c);
    case_begin(&c, 11);
    cst(&c, "x", TD_DT_F32, 2, us, F6);
    int64_t uax2[] = {1};
    td_node_set_ints(node(&c, "Unsqueeze", 1, X, 1, Y), "axes", uax2, 1);
    int64_t w5[] = {3, 1, 2};
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(shape_is(&c.out[0], 3, w5), "unsqueeze attribute");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, us, F6);
    int64_t bad[] = {0, 3, -5};
    cst(&c, "s", TD_DT_I64, 1, &three, bad);
    node(&c, "Unsqueeze", 2, XS, 1, Y);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "axis 0 given twice");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, us, F6);
    int64_t bad2[] = {3};
    cst(&c, "s", TD_DT_I64, 1, &one, bad2);
    node(&c, "Unsqueeze", 2, XS, 1, Y);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "out of range for output rank 3");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, us, F6);
    node(&c, "Unsqueeze", 1, X, 1, Y);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "axes are required");
    case_end(&c);
}

static void test_transpose(void)
{
    case_t c;
    int64_t xs[3] = {2, 3, 4};
    /* all 6 permutations of a 2x3x4 tensor against index arithmetic */
    int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int p = 0; p < 6; p++) {
        case_begin(&c, 13);
        cst(&c, "x", TD_DT_F32, 3, xs, F24);
        int64_t pr[3] = {perms[p][0], perms[p][1], perms[p][2]};
        td_node_set_ints(node(&c, "Transpose", 1, X, 1, Y), "perm", pr, 3);
        TD_CHECK_OK(run_last(&c));
        int64_t os[3] = {xs[pr[0]], xs[pr[1]], xs[pr[2]]};
        bool ok = shape_is(&c.out[0], 3, os);
        int64_t st[3] = {12, 4, 1};
        const float *y = c.out[0].data;
        for (int64_t i = 0; ok && i < os[0]; i++)
            for (int64_t j = 0; j < os[1]; j++)
                for (int64_t k = 0; k < os[2]; k++)
                    ok &= y[(i * os[1] + j) * os[2] + k] ==
                          (float)(i * st[pr[0]] + j * st[pr[1]] + k * st[pr[2]]);
        TD_CHECK(ok, "perm %d %d %d", perms[p][0], perms[p][1], perms[p][2]);
        case_end(&c);
    }
    /* default perm reverses; int64 data; a larger 2-D case takes the tiled path */
    enum { R = 67, C = 45 };
    static int64_t big[R * C];
    for (int i = 0; i < R * C; i++)
        big[i] = i;
    int64_t bs[2] = {R, C};
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_I64, 2, bs, big);
    node(&c, "Transpose", 1, X, 1, Y);
    TD_CHECK_OK(run_last(&c));
    bool ok = c.out[0].shape[0] == C && c.out[0].shape[1] == R && c.out[0].dtype == TD_DT_I64;
    for (int i = 0; ok && i < C; i++)
        for (int j = 0; j < R; j++)
            ok &= ((int64_t *)c.out[0].data)[i * R + j] == j * C + i;
    TD_CHECK(ok, "67x45 int64 transpose");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 3, xs, F24);
    int64_t badp[3] = {0, 0, 1};
    td_node_set_ints(node(&c, "Transpose", 1, X, 1, Y), "perm", badp, 3);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "not a permutation");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 3, xs, F24);
    td_node_set_ints(node(&c, "Transpose", 1, X, 1, Y), "perm", badp, 2);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "perm has 2 entries for rank 3");
    case_end(&c);
}

static void test_concat(void)
{
    case_t c;
    static const char *AB[] = {"a", "b"};
    int64_t as[2] = {2, 2}, bs[2] = {2, 1};
    const int16_t a[] = {1, 2, 3, 4}, b[] = {5, 6};
    case_begin(&c, 13);
    cst(&c, "a", TD_DT_I16, 2, as, a);
    cst(&c, "b", TD_DT_I16, 2, bs, b);
    td_node_set_int(node(&c, "Concat", 2, AB, 1, Y), "axis", -1);
    TD_CHECK_OK(run_last(&c));
    int64_t w[] = {2, 3};
    const int16_t want[] = {1, 2, 5, 3, 4, 6};
    TD_CHECK(shape_is(&c.out[0], 2, w) && memcmp(c.out[0].data, want, sizeof want) == 0,
             "int16 concat on axis -1");
    case_end(&c);
    int64_t b0[2] = {1, 2};
    case_begin(&c, 13);
    cst(&c, "a", TD_DT_I16, 2, as, a);
    cst(&c, "b", TD_DT_I16, 2, b0, b);
    td_node_set_int(node(&c, "Concat", 2, AB, 1, Y), "axis", 0);
    TD_CHECK_OK(run_last(&c));
    const int16_t want0[] = {1, 2, 3, 4, 5, 6};
    TD_CHECK(c.out[0].shape[0] == 3 && memcmp(c.out[0].data, want0, sizeof want0) == 0, "axis 0");
    case_end(&c);
    int64_t r3[3] = {2, 2, 1};
    case_begin(&c, 13);
    cst(&c, "a", TD_DT_I16, 2, as, a);
    cst(&c, "b", TD_DT_I16, 3, r3, a);
    td_node_set_int(node(&c, "Concat", 2, AB, 1, Y), "axis", 0);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "input 'b' has rank 3");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "a", TD_DT_I16, 2, as, a);
    cst(&c, "b", TD_DT_I16, 2, bs, b);
    td_node_set_int(node(&c, "Concat", 2, AB, 1, Y), "axis", 0);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "dimension 1 = 1");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "a", TD_DT_I16, 2, as, a);
    td_node_set_int(node(&c, "Concat", 1, AB, 1, Y), "axis", 2);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "axis 2 out of range");
    case_end(&c);
}

/* Slice of x[0..n) reshaped to xs with inputs starts/ends/axes/steps (count k each; NULL axes
 * or steps are omitted). */
static td_status slice(case_t *c, int nd, const int64_t *xs, int k, const int64_t *st,
                       const int64_t *en, const int64_t *ax, const int64_t *sp)
{
    case_begin(c, 13);
    cst(c, "x", TD_DT_F32, nd, xs, F24);
    int64_t kk = k;
    cst(c, "st", TD_DT_I64, 1, &kk, st);
    cst(c, "en", TD_DT_I64, 1, &kk, en);
    if (ax)
        cst(c, "ax", TD_DT_I64, 1, &kk, ax);
    if (sp)
        cst(c, "sp", TD_DT_I32, 1, &kk, (int32_t[]){(int32_t)sp[0], (int32_t)(k > 1 ? sp[1] : 0)});
    const char *in[] = {"x", "st", "en", ax ? "ax" : "", sp ? "sp" : ""};
    node(c, "Slice", sp ? 5 : ax ? 4 : 3, in, 1, Y);
    return run_last(c);
}

static void test_slice(void)
{
    case_t c;
    int64_t xs[2] = {4, 6};
    int64_t st[] = {1, 0}, en[] = {3, 10}, ax[] = {0, 1}, sp[] = {1, 2};
    TD_CHECK_OK(slice(&c, 2, xs, 2, st, en, ax, sp));
    const float w1[] = {6, 8, 10, 12, 14, 16};
    TD_CHECK(c.out[0].shape[0] == 2 && c.out[0].shape[1] == 3 && f32_eq(&c.out[0], w1, 6),
             "steps 2 with end past the dim");
    case_end(&c);
    /* negative step from the end, INT64_MIN end: reverse the whole axis */
    int64_t st2[] = {-1}, en2[] = {INT64_MIN}, ax2[] = {1}, sp2[] = {-1};
    TD_CHECK_OK(slice(&c, 2, xs, 1, st2, en2, ax2, sp2));
    bool ok = c.out[0].shape[0] == 4 && c.out[0].shape[1] == 6;
    for (int i = 0; ok && i < 4; i++)
        for (int j = 0; j < 6; j++)
            ok &= ((float *)c.out[0].data)[i * 6 + j] == (float)(i * 6 + 5 - j);
    TD_CHECK(ok, "reverse axis 1");
    case_end(&c);
    /* negative step with a clamped start and an end inside: x[3:0:-2] on axis 0 -> rows 3, 1 */
    int64_t st3[] = {100}, en3[] = {0}, ax3[] = {-2}, sp3[] = {-2};
    TD_CHECK_OK(slice(&c, 2, xs, 1, st3, en3, ax3, sp3));
    TD_CHECK(c.out[0].shape[0] == 2 && ((float *)c.out[0].data)[0] == 18 &&
                 ((float *)c.out[0].data)[6] == 6,
             "start clamped to dim-1 on a negative step");
    case_end(&c);
    /* default axes and steps, INT64_MAX end, start past the end -> empty */
    int64_t st4[] = {1, 7}, en4[] = {INT64_MAX, INT64_MAX};
    TD_CHECK_OK(slice(&c, 2, xs, 2, st4, en4, NULL, NULL));
    TD_CHECK(c.out[0].shape[0] == 3 && c.out[0].shape[1] == 0, "empty slice");
    case_end(&c);
    int64_t sp0[] = {0};
    TD_CHECK_ERROR(slice(&c, 2, xs, 1, st2, en2, ax2, sp0), TD_CODE_INVALID_ARGUMENT,
                   "node 'n0' (Slice): step for axis 1 is 0");
    case_end(&c);
    int64_t axd[] = {1, -1};
    TD_CHECK_ERROR(slice(&c, 2, xs, 2, st, en, axd, NULL), TD_CODE_INVALID_ARGUMENT,
                   "sliced twice");
    case_end(&c);
    int64_t axo[] = {2};
    TD_CHECK_ERROR(slice(&c, 2, xs, 1, st2, en2, axo, NULL), TD_CODE_INVALID_ARGUMENT,
                   "axis 2 out of range");
    case_end(&c);
    /* opset < 10: attributes */
    case_begin(&c, 9);
    cst(&c, "x", TD_DT_F32, 2, xs, F24);
    td_node *n = node(&c, "Slice", 1, X, 1, Y);
    int64_t s9[] = {2}, e9[] = {-1}, a9[] = {1};
    td_node_set_ints(n, "starts", s9, 1);
    td_node_set_ints(n, "ends", e9, 1);
    td_node_set_ints(n, "axes", a9, 1);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(c.out[0].shape[1] == 3 && ((float *)c.out[0].data)[0] == 2 &&
                 ((float *)c.out[0].data)[3] == 8,
             "attribute form, negative end");
    case_end(&c);
}

static void test_gather(void)
{
    case_t c;
    static const char *XI[] = {"x", "i"};
    int64_t xs[2] = {4, 6}, is[2] = {2, 2};
    const int64_t idx[] = {3, -4, 1, 3};
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, xs, F24);
    cst(&c, "i", TD_DT_I64, 2, is, idx);
    node(&c, "Gather", 2, XI, 1, Y);
    TD_CHECK_OK(run_last(&c));
    int64_t w[] = {2, 2, 6};
    bool ok = shape_is(&c.out[0], 3, w);
    for (int q = 0; ok && q < 4; q++)
        for (int j = 0; j < 6; j++)
            ok &= ((float *)c.out[0].data)[q * 6 + j] == (float)(((idx[q] + 4) % 4) * 6 + j);
    TD_CHECK(ok, "embedding lookup with a negative index");
    case_end(&c);
    const int32_t idx1[] = {5, 0, -1};
    int64_t three = 3;
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, xs, F24);
    cst(&c, "i", TD_DT_I32, 1, &three, idx1);
    td_node_set_int(node(&c, "Gather", 2, XI, 1, Y), "axis", -1);
    TD_CHECK_OK(run_last(&c));
    ok = c.out[0].shape[0] == 4 && c.out[0].shape[1] == 3;
    for (int r = 0; ok && r < 4; r++)
        ok &= ((float *)c.out[0].data)[r * 3] == r * 6 + 5 &&
              ((float *)c.out[0].data)[r * 3 + 1] == r * 6 &&
              ((float *)c.out[0].data)[r * 3 + 2] == r * 6 + 5;
    TD_CHECK(ok, "int32 indices on axis 1");
    case_end(&c);
    /* scalar index drops the axis */
    const int64_t two = 2;
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, xs, F24);
    cst(&c, "i", TD_DT_I64, 0, NULL, &two);
    node(&c, "Gather", 2, XI, 1, Y);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(c.out[0].ndim == 1 && c.out[0].shape[0] == 6 && f32_eq(&c.out[0], F24 + 12, 6),
             "scalar index");
    case_end(&c);
    const int64_t bad[] = {0, 4};
    int64_t b2 = 2;
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, xs, F24);
    cst(&c, "i", TD_DT_I64, 1, &b2, bad);
    node(&c, "Gather", 2, XI, 1, Y);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT,
                   "node 'n0' (Gather): index 4 (at position 1) out of range for axis 0 of "
                   "size 4");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, xs, F24);
    cst(&c, "i", TD_DT_F32, 1, &b2, F6);
    node(&c, "Gather", 2, XI, 1, Y);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "must be int64 or int32");
    case_end(&c);
}

static void cast_case(td_dtype from, const void *src, int64_t cnt, int64_t to, td_dtype want_dt,
                      const void *want, const char *what)
{
    case_t c;
    case_begin(&c, 13);
    cst(&c, "x", from, 1, &cnt, src);
    td_node_set_int(node(&c, "Cast", 1, X, 1, Y), "to", to);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(c.out[0].dtype == want_dt &&
                 memcmp(c.out[0].data, want, (size_t)cnt * td_dtype_size(want_dt)) == 0,
             "%s", what);
    case_end(&c);
}

static void test_cast(void)
{
    const float f[] = {1.9f, -1.9f, 300.5f, -300.5f, NAN, 0.0f, 65520.0f, 1e-8f};
    const int32_t i32[] = {1, -1, 300, -300, 0, 0, 65520, 0};
    cast_case(TD_DT_F32, f, 8, 6, TD_DT_I32, i32, "f32 -> i32 truncates, NaN -> 0");
    const uint8_t u8[] = {1, 0, 255, 0, 0, 0, 255, 0};
    cast_case(TD_DT_F32, f, 8, 2, TD_DT_U8, u8, "f32 -> u8 saturates");
    const int8_t i8[] = {1, -1, 127, -128, 0, 0, 127, 0};
    cast_case(TD_DT_F32, f, 8, 3, TD_DT_I8, i8, "f32 -> i8 saturates");
    const uint8_t bo[] = {1, 1, 1, 1, 1, 0, 1, 1};
    cast_case(TD_DT_F32, f, 8, 9, TD_DT_BOOL, bo, "f32 -> bool: nonzero and NaN are true");
    const uint16_t h[] = {0x3f9a, 0xbf9a, 0x5cb2, 0xdcb2, 0x7e00, 0, 0x7c00, 0x0000};
    cast_case(TD_DT_F32, f, 8, 10, TD_DT_F16, h, "f32 -> f16 rounds to nearest even, inf");
    const uint16_t bf[] = {0x3ff3, 0xbff3, 0x4396, 0xc396, 0x7fc0, 0, 0x4780, 0x322c};
    cast_case(TD_DT_F32, f, 8, 16, TD_DT_BF16, bf, "f32 -> bf16");
    const float back[] = {1.8984375f, -1.8984375f, 300.0f, -300.0f};
    cast_case(TD_DT_BF16, bf, 4, 1, TD_DT_F32, back, "bf16 -> f32");
    const int64_t big[] = {INT64_MAX, -1, 70000, (int64_t)1 << 40};
    const int32_t wrap[] = {-1, -1, 70000, 0};
    cast_case(TD_DT_I64, big, 4, 6, TD_DT_I32, wrap, "i64 -> i32 keeps the low bits");
    const int16_t w16[] = {-1, -1, 4464, 0};
    cast_case(TD_DT_I64, big, 4, 5, TD_DT_I16, w16, "i64 -> i16 keeps the low bits");
    const double d[] = {9.2233720368547758e18 * 4, -1e300, 2.5, -0.5};
    const int64_t dl[] = {INT64_MAX, INT64_MIN, 2, 0};
    cast_case(TD_DT_F64, d, 4, 7, TD_DT_I64, dl, "f64 -> i64 saturates");
    const uint8_t b[] = {0, 1, 1};
    const float bf32[] = {0, 1, 1};
    cast_case(TD_DT_BOOL, b, 3, 1, TD_DT_F32, bf32, "bool -> f32");
    const int8_t s8[] = {-128, 5, -1};
    const double sd[] = {-128, 5, -1};
    cast_case(TD_DT_I8, s8, 3, 11, TD_DT_F64, sd, "i8 -> f64");
    const float ff[] = {3.25f, -0.0f};
    cast_case(TD_DT_F32, ff, 2, 1, TD_DT_F32, ff, "f32 -> f32 copies");
    case_t c;
    int64_t two = 2;
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 1, &two, ff);
    td_node_set_int(node(&c, "Cast", 1, X, 1, Y), "to", 8);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_UNSUPPORTED, "cast to ONNX type 8 is not supported");
    case_end(&c);
}

static void test_shape_constant(void)
{
    case_t c;
    int64_t xs[4] = {2, 3, 4, 5};
    struct {
        int64_t start, end;
        int len;
        int64_t first;
    } cs[] = {{0, 99, 4, 2}, {1, -1, 2, 3}, {-10, 2, 2, 2}, {-1, 99, 1, 5}, {3, 1, 0, 0}};
    for (int i = 0; i < 5; i++) {
        case_begin(&c, 15);
        static const float zeros[120];
        cst(&c, "x", TD_DT_F32, 4, xs, zeros);
        td_node *n = node(&c, "Shape", 1, X, 1, Y);
        td_node_set_int(n, "start", cs[i].start);
        if (cs[i].end != 99)
            td_node_set_int(n, "end", cs[i].end);
        TD_CHECK_OK(run_last(&c));
        TD_CHECK(c.out[0].dtype == TD_DT_I64 && c.out[0].shape[0] == cs[i].len &&
                     (cs[i].len == 0 || ((int64_t *)c.out[0].data)[0] == cs[i].first),
                 "Shape start %lld end %lld", (long long)cs[i].start, (long long)cs[i].end);
        case_end(&c);
    }
    /* Constant: tensor, value_float(s), value_int(s) */
    td_view t = {.dtype = TD_DT_I32, .ndim = 2, .shape = {1, 2}, .data = (int32_t[]){7, -8}};
    case_begin(&c, 13);
    td_node_set_tensor(node(&c, "Constant", 0, NULL, 1, Y), "value", &t);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(c.out[0].dtype == TD_DT_I32 && c.out[0].ndim == 2 &&
                 ((int32_t *)c.out[0].data)[1] == -8,
             "Constant value tensor");
    case_end(&c);
    case_begin(&c, 13);
    td_node_set_float(node(&c, "Constant", 0, NULL, 1, Y), "value_float", 2.5f);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(c.out[0].ndim == 0 && f32_eq(&c.out[0], (float[]){2.5f}, 1), "value_float");
    case_end(&c);
    case_begin(&c, 13);
    td_node_set_floats(node(&c, "Constant", 0, NULL, 1, Y), "value_floats", F6, 3);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(c.out[0].ndim == 1 && f32_eq(&c.out[0], F6, 3), "value_floats");
    case_end(&c);
    case_begin(&c, 13);
    td_node_set_int(node(&c, "Constant", 0, NULL, 1, Y), "value_int", -3);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(c.out[0].ndim == 0 && i64_eq(&c.out[0], (int64_t[]){-3}, 1), "value_int");
    case_end(&c);
    case_begin(&c, 13);
    td_node_set_ints(node(&c, "Constant", 0, NULL, 1, Y), "value_ints", xs, 4);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(i64_eq(&c.out[0], xs, 4), "value_ints");
    case_end(&c);
    case_begin(&c, 13);
    td_node *n = node(&c, "Constant", 0, NULL, 1, Y);
    td_node_set_int(n, "value_int", 1);
    td_node_set_float(n, "value_float", 1);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "exactly one value attribute, got 2");
    case_end(&c);
    /* ConstantOfShape */
    int64_t two = 2, sh[] = {2, 3};
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_I64, 1, &two, sh);
    td_view v = {.dtype = TD_DT_I32, .ndim = 1, .shape = {1}, .data = (int32_t[]){9}};
    td_node_set_tensor(node(&c, "ConstantOfShape", 1, X, 1, Y), "value", &v);
    TD_CHECK_OK(run_last(&c));
    bool ok = c.out[0].dtype == TD_DT_I32 && shape_is(&c.out[0], 2, sh);
    for (int i = 0; ok && i < 6; i++)
        ok &= ((int32_t *)c.out[0].data)[i] == 9;
    TD_CHECK(ok, "ConstantOfShape int32 9");
    case_end(&c);
    int64_t zero = 0;
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_I64, 1, &zero, sh);
    node(&c, "ConstantOfShape", 1, X, 1, Y);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(c.out[0].ndim == 0 && f32_eq(&c.out[0], (float[]){0}, 1),
             "empty shape -> f32 scalar 0");
    case_end(&c);
}

static void test_range_expand_tile_split(void)
{
    case_t c;
    static const char *SLD[] = {"s", "l", "d"};
    case_begin(&c, 11);
    cst(&c, "s", TD_DT_F32, 0, NULL, (float[]){1});
    cst(&c, "l", TD_DT_F32, 0, NULL, (float[]){5});
    cst(&c, "d", TD_DT_F32, 0, NULL, (float[]){1.5f});
    node(&c, "Range", 3, SLD, 1, Y);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(f32_eq(&c.out[0], (float[]){1, 2.5f, 4}, 3), "float range");
    case_end(&c);
    case_begin(&c, 11);
    cst(&c, "s", TD_DT_I32, 0, NULL, (int32_t[]){10});
    cst(&c, "l", TD_DT_I32, 0, NULL, (int32_t[]){6});
    cst(&c, "d", TD_DT_I32, 0, NULL, (int32_t[]){-3});
    node(&c, "Range", 3, SLD, 1, Y);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(c.out[0].shape[0] == 2 && ((int32_t *)c.out[0].data)[1] == 7, "int range down");
    case_end(&c);
    case_begin(&c, 11);
    cst(&c, "s", TD_DT_I64, 0, NULL, (int64_t[]){0});
    cst(&c, "l", TD_DT_I64, 0, NULL, (int64_t[]){6});
    cst(&c, "d", TD_DT_I64, 0, NULL, (int64_t[]){0});
    node(&c, "Range", 3, SLD, 1, Y);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "delta is 0");
    case_end(&c);
    /* Expand [3,1] to [2,3,2]; a shape of lower rank keeps the input's dims */
    int64_t xs[2] = {3, 1}, three = 3, tgt[] = {2, 1, 2};
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, xs, F6);
    cst(&c, "s", TD_DT_I64, 1, &three, tgt);
    node(&c, "Expand", 2, XS, 1, Y);
    TD_CHECK_OK(run_last(&c));
    const float we[] = {0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2};
    int64_t ws[] = {2, 3, 2};
    TD_CHECK(shape_is(&c.out[0], 3, ws) && f32_eq(&c.out[0], we, 12), "expand");
    case_end(&c);
    int64_t tb[] = {2, 2};
    int64_t two = 2;
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, (int64_t[]){3, 2}, F6);
    cst(&c, "s", TD_DT_I64, 1, &two, tb);
    node(&c, "Expand", 2, XS, 1, Y);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "do not broadcast");
    case_end(&c);
    /* Tile [2,2] by [1,2] and [2,1] */
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_U8, 2, (int64_t[]){2, 2}, (uint8_t[]){1, 2, 3, 4});
    cst(&c, "s", TD_DT_I64, 1, &two, (int64_t[]){2, 3});
    node(&c, "Tile", 2, XS, 1, Y);
    TD_CHECK_OK(run_last(&c));
    const uint8_t wt[] = {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4};
    TD_CHECK(c.out[0].shape[0] == 4 && c.out[0].shape[1] == 6 && memcmp(c.out[0].data, wt, 24) == 0,
             "tile 2x3");
    case_end(&c);
    /* Split: sizes input, attribute, equal parts */
    static const char *Y2[] = {"y0", "y1"}, *Y3[] = {"y0", "y1", "y2"};
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 2, (int64_t[]){2, 3}, F6);
    cst(&c, "s", TD_DT_I64, 1, &two, (int64_t[]){1, 2});
    td_node_set_int(node(&c, "Split", 2, XS, 2, Y2), "axis", -1);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(f32_eq(&c.out[0], (float[]){0, 3}, 2) && f32_eq(&c.out[1], (float[]){1, 2, 4, 5}, 4),
             "split sizes input");
    case_end(&c);
    case_begin(&c, 11);
    cst(&c, "x", TD_DT_F32, 1, (int64_t[]){6}, F6);
    td_node_set_ints(node(&c, "Split", 1, X, 2, Y2), "split", (int64_t[]){4, 2}, 2);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(f32_eq(&c.out[1], F6 + 4, 2), "split attribute");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 1, (int64_t[]){6}, F6);
    node(&c, "Split", 1, X, 3, Y3);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(f32_eq(&c.out[2], F6 + 4, 2), "equal split");
    case_end(&c);
    case_begin(&c, 18);
    cst(&c, "x", TD_DT_F32, 1, (int64_t[]){5}, F6);
    td_node_set_int(node(&c, "Split", 1, X, 3, Y3), "num_outputs", 3);
    TD_CHECK_OK(run_last(&c));
    TD_CHECK(c.out[0].shape[0] == 2 && f32_eq(&c.out[2], F6 + 4, 1), "num_outputs, last smaller");
    case_end(&c);
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_F32, 1, (int64_t[]){5}, F6);
    node(&c, "Split", 1, X, 3, Y3);
    TD_CHECK_ERROR(run_last(&c), TD_CODE_INVALID_ARGUMENT, "does not split into 3 equal parts");
    case_end(&c);
}

/* A large strided copy (parallel path) against index arithmetic: Slice with steps on a
 * 3-D int8 tensor. */
static void test_large_slice(void)
{
    enum { A = 64, B = 96, C = 40 };
    static int8_t x[A * B * C];
    for (int i = 0; i < A * B * C; i++)
        x[i] = (int8_t)(i * 7);
    case_t c;
    case_begin(&c, 13);
    cst(&c, "x", TD_DT_I8, 3, (int64_t[]){A, B, C}, x);
    cst(&c, "st", TD_DT_I64, 1, (int64_t[]){2}, (int64_t[]){-1, 1});
    cst(&c, "en", TD_DT_I64, 1, (int64_t[]){2}, (int64_t[]){INT64_MIN, 39});
    cst(&c, "ax", TD_DT_I64, 1, (int64_t[]){2}, (int64_t[]){0, 2});
    cst(&c, "sp", TD_DT_I64, 1, (int64_t[]){2}, (int64_t[]){-1, 3});
    static const char *in[] = {"x", "st", "en", "ax", "sp"};
    node(&c, "Slice", 5, in, 1, Y);
    TD_CHECK_OK(run_last(&c));
    bool ok = c.out[0].shape[0] == A && c.out[0].shape[1] == B && c.out[0].shape[2] == 13;
    const int8_t *y = c.out[0].data;
    for (int i = 0; ok && i < A; i++)
        for (int j = 0; j < B; j++)
            for (int k = 0; k < 13; k++)
                ok &= y[(i * B + j) * 13 + k] == x[((A - 1 - i) * B + j) * C + 1 + 3 * k];
    TD_CHECK(ok, "large reversed, stepped slice");
    case_end(&c);
}

int main(void)
{
    test_reshape();
    test_flatten();
    test_squeeze_unsqueeze();
    test_transpose();
    test_concat();
    test_slice();
    test_gather();
    test_cast();
    test_shape_constant();
    test_range_expand_tile_split();
    test_large_slice();
    return td_test_finish("test_ops_data");
}
