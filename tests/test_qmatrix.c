/* The compressed-matrix driver and the GEMM driver, independent of any one low-bit
 * format: spec text, validation of bad input, the f32 path (OpenBLAS and the generic
 * reference), activation preparation and thread splitting. */
#include <string.h>

#include "td_test.h"
#include "formats/qmatrix_internal.h"

static void spec_text_round_trips(void)
{
    const char *cases[][2] = {
        {"int4", "int4:g128"},
        {"int4:g64:asym", "int4:g64:asym"},
        {"int8:2:4", "int8:g0:2:4"},
        {"fp8_e4m3:tile64", "fp8_e4m3:tile64"},
        {"int8:tensor", "int8:tensor"},
        {"int4:g128:gs0.5", "int4:g128:gs0.5"},
        {"int8:2:8:mse", "int8:g0:mse:2:8"},
        {"bf16", "bf16"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        td_qspec s;
        TD_CHECK_OK(td_qspec_parse(cases[i][0], &s));
        char buf[64];
        td_qspec_describe(&s, buf, sizeof buf);
        TD_CHECK(!strcmp(buf, cases[i][1]), "'%s' described as '%s', expected '%s'", cases[i][0],
                 buf, cases[i][1]);
        td_qspec t;
        TD_CHECK_OK(td_qspec_parse(buf, &t));
        TD_CHECK(t.format == s.format && t.group == s.group && t.tile_rows == s.tile_rows &&
                     t.asym == s.asym && t.sparsity == s.sparsity && t.nm_n == s.nm_n &&
                     t.nm_m == s.nm_m && t.clip == s.clip,
                 "round trip of '%s'", buf);
    }
}

static void bad_specs_are_named(void)
{
    td_qspec s;
    TD_CHECK_ERROR(td_qspec_parse("int5", &s), TD_CODE_INVALID_ARGUMENT, "int5");
    TD_CHECK_ERROR(td_qspec_parse("int8:4:4", &s), TD_CODE_INVALID_ARGUMENT, "N < M");
    TD_CHECK_ERROR(td_qspec_parse("int8:2:17", &s), TD_CODE_INVALID_ARGUMENT, "M");
    TD_CHECK_ERROR(td_qspec_parse("int8:0:4", &s), TD_CODE_INVALID_ARGUMENT, "N");
    TD_CHECK_ERROR(td_qspec_parse("int4:g20", &s), TD_CODE_INVALID_ARGUMENT, "group size 20");
    TD_CHECK_ERROR(td_qspec_parse("int4:g-5", &s), TD_CODE_INVALID_ARGUMENT, "group size");
    TD_CHECK_ERROR(td_qspec_parse("int6:asym", &s), TD_CODE_INVALID_ARGUMENT, "asymmetric");
    TD_CHECK_ERROR(td_qspec_parse("int4:gs1.0", &s), TD_CODE_INVALID_ARGUMENT, "[0, 1)");
    TD_CHECK_ERROR(td_qspec_parse("int4:gsx", &s), TD_CODE_INVALID_ARGUMENT, "gsx");
    TD_CHECK_ERROR(td_qspec_parse("fp8_e4m3:gs0.5", &s), TD_CODE_UNSUPPORTED, "integer");
    TD_CHECK_ERROR(td_qspec_parse("int8:wat", &s), TD_CODE_INVALID_ARGUMENT, "wat");
    TD_CHECK_ERROR(td_qspec_parse("int8:2", &s), TD_CODE_INVALID_ARGUMENT, "N:M");
    char longspec[300];
    memset(longspec, 'a', sizeof longspec - 1);
    longspec[sizeof longspec - 1] = '\0';
    TD_CHECK_ERROR(td_qspec_parse(longspec, &s), TD_CODE_INVALID_ARGUMENT, "too long");
}

static void bad_matrices_are_rejected(void)
{
    float w[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    td_qspec s = td_qspec_default(TD_F32);
    td_qmatrix *q = (td_qmatrix *)1;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 0, 4, 4, &q), TD_CODE_INVALID_ARGUMENT, "positive");
    TD_CHECK(q == NULL, "output cleared on error");
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 3, -4, 4, &q), TD_CODE_INVALID_ARGUMENT, "positive");
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 3, 4, 3, &q), TD_CODE_INVALID_ARGUMENT,
                   "leading dimension");
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, (int64_t)1 << 45, 4, 4, &q), TD_CODE_OVERFLOW,
                   "large");
    w[5] = NAN;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 3, 4, 4, &q), TD_CODE_BAD_DATA, "(1, 1) is NaN");
    w[5] = INFINITY;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 3, 4, 4, &q), TD_CODE_BAD_DATA, "infinite");
    w[5] = 6;
    s.format = (td_format)99;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 3, 4, 4, &q), TD_CODE_INVALID_ARGUMENT,
                   "unknown format");
    s = td_qspec_default(TD_INT4);
    s.group = 0;
    s.sparsity = TD_SPARSE_NM;
    s.nm_n = 4;
    s.nm_m = 4;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 3, 4, 4, &q), TD_CODE_INVALID_ARGUMENT, "N < M");
}

/* Naive product in double: the oracle for the f32 path. */
static void naive(const float *w, const float *x, int64_t rows, int64_t k, int64_t batch, double *y)
{
    for (int64_t b = 0; b < batch; b++)
        for (int64_t r = 0; r < rows; r++) {
            double acc = 0;
            for (int64_t i = 0; i < k; i++)
                acc += (double)w[r * k + i] * x[b * k + i];
            y[b * rows + r] = acc;
        }
}

static void f32_path_matches_naive_product(void)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    td_rng rng = {42};
    const int64_t shapes[][3] = {{1, 1, 1},     {3, 7, 2},      {17, 33, 3},
                                 {100, 129, 7}, {257, 500, 16}, {64, 4096, 33}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int64_t rows = shapes[si][0], k = shapes[si][1], batch = shapes[si][2];
        float *w = malloc(sizeof(float) * rows * k), *x = malloc(sizeof(float) * batch * k);
        float *y = malloc(sizeof(float) * batch * rows);
        double *ref = malloc(sizeof(double) * batch * rows);
        for (int64_t i = 0; i < rows * k; i++)
            w[i] = td_rng_uniform(&rng);
        for (int64_t i = 0; i < batch * k; i++)
            x[i] = td_rng_uniform(&rng);
        naive(w, x, rows, k, batch, ref);
        td_qspec s = td_qspec_default(TD_F32);
        td_qmatrix *q;
        TD_CHECK_OK(td_qmatrix_quantize(&s, w, rows, k, k, &q));
        for (int isa = 0; isa <= (int)cpu.best; isa++)
            for (int threads = 1; threads <= 2; threads++) {
                td_ctx ctx = {.threads = threads, .isa = (td_isa)isa};
                memset(y, 0, sizeof(float) * batch * rows);
                TD_CHECK_OK(td_gemm(&ctx, q, TD_ACT_F32, x, batch, y));
                double worst = 0;
                for (int64_t i = 0; i < batch * rows; i++) {
                    double e = fabs(y[i] - ref[i]) / (double)k;
                    worst = e > worst ? e : worst;
                }
                /* |x|,|w| <= 1: error per term is bounded by a few f32 ulps. */
                TD_CHECK(worst < 1e-6, "f32 %lldx%lld b%lld isa %s t%d: error/K %g",
                         (long long)rows, (long long)k, (long long)batch, td_isa_name((td_isa)isa),
                         threads, worst);
            }
        float *back = malloc(sizeof(float) * rows * k);
        TD_CHECK_OK(td_qmatrix_dequantize(q, back));
        TD_CHECK(!memcmp(back, w, sizeof(float) * rows * k), "f32 dequantize is exact");
        TD_CHECK(td_qmatrix_bytes(q) >= (size_t)(rows * k * 4), "bytes");
        free(back);
        td_qmatrix_free(q);
        free(w);
        free(x);
        free(y);
        free(ref);
    }
}

static void activations_are_quantized_per_token(void)
{
    float w[2 * 70] = {0};
    td_qspec s = td_qspec_default(TD_F32);
    td_qmatrix *q;
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 2, 70, 70, &q));
    float x[2 * 70];
    for (int i = 0; i < 70; i++) {
        x[i] = (float)(i - 35) / 10.0f; /* amax 3.5 */
        x[70 + i] = 0.0f;               /* all-zero token */
    }
    td_act *a;
    TD_CHECK_OK(td_act_new(&a));
    TD_CHECK_OK(td_act_prepare(a, q, TD_ACT_INT8, x, 2, 70));
    TD_CHECK(a->kpad >= 70 && a->kpad % 64 == 0, "padded K %lld", (long long)a->kpad);
    TD_CHECK(fabsf(a->scale[0] - 3.5f / 127) < 1e-7f, "A8 scale %g", a->scale[0]);
    TD_CHECK(a->scale[1] == 1.0f, "zero token scale 1");
    TD_CHECK(a->q[0] == -127 && a->q[69] == (int8_t)nearbyintf(3.4f / (3.5f / 127)), "codes");
    int pad_zero = 1;
    for (int64_t k = 70; k < a->kpad; k++)
        pad_zero &= a->q[k] == 0 && a->x[k] == 0.0f;
    TD_CHECK(pad_zero, "padding is zero");
    int32_t sum = 0;
    for (int64_t k = 0; k < a->kpad; k++)
        sum += a->q[k];
    TD_CHECK(a->ngroups == 1 && a->gsum[0] == sum, "group sum %d vs %d", a->gsum[0], sum);
    TD_CHECK_OK(td_act_prepare(a, q, TD_ACT_INT6, x, 2, 70));
    int in_range = 1;
    for (int64_t k = 0; k < a->kpad; k++)
        in_range &= a->q[k] >= -31 && a->q[k] <= 31;
    TD_CHECK(in_range && a->q[0] == -31, "A6 range");
    x[3] = NAN;
    TD_CHECK_ERROR(td_act_prepare(a, q, TD_ACT_INT8, x, 2, 70), TD_CODE_BAD_DATA, "(0, 3)");
    x[3] = 0;
    TD_CHECK_ERROR(td_act_prepare(a, q, TD_ACT_INT8, x, 0, 70), TD_CODE_INVALID_ARGUMENT, "batch");
    TD_CHECK_ERROR(td_act_prepare(a, q, TD_ACT_INT8, x, 2, 69), TD_CODE_INVALID_ARGUMENT,
                   "leading dimension");
    TD_CHECK_ERROR(td_act_prepare(a, q, (td_act_type)7, x, 2, 70), TD_CODE_INVALID_ARGUMENT,
                   "activation type");
    /* A weight with another K must not accept these activations. */
    td_qmatrix *q2;
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 1, 140, 140, &q2));
    TD_CHECK_OK(td_act_prepare(a, q, TD_ACT_F32, x, 2, 70));
    float y[4];
    td_ctx ctx = td_ctx_default();
    TD_CHECK_ERROR(td_gemm_prepared(&ctx, q2, a, y, 1), TD_CODE_INVALID_ARGUMENT, "K = 140");
    TD_CHECK_ERROR(td_gemm_prepared(&ctx, q, a, y, 1), TD_CODE_INVALID_ARGUMENT,
                   "leading dimension");
    td_qmatrix_free(q2);
    td_act_free(a);
    td_qmatrix_free(q);
}

int main(void)
{
    spec_text_round_trips();
    bad_specs_are_named();
    bad_matrices_are_rejected();
    f32_path_matches_naive_product();
    activations_are_quantized_per_token();
    return td_test_finish("test_qmatrix");
}
