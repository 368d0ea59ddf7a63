/* Packed f32 GEMM (kernels/sgemm_packed.h): both packings, every ISA the CPU has, 1 and 2
 * threads, bias or not, edge shapes; the fast paths are bit-identical to the scalar reference,
 * which is within a K-scaled tolerance of a double-precision product. */
#include "td_test.h"

#include "kernels/sgemm_packed.h"

static float *rand_floats(td_rng *r, int64_t count)
{
    float *v = malloc((size_t)(count > 0 ? count : 1) * sizeof *v);
    for (int64_t i = 0; i < count; i++)
        v[i] = td_rng_uniform(r);
    return v;
}

/* y = x * w^T + bias in double, w N x K. */
static void naive(const float *x, const float *w, const float *bias, int64_t m, int64_t n,
                  int64_t k, double *y)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = bias ? bias[j] : 0.0;
            for (int64_t kk = 0; kk < k; kk++)
                s += (double)x[i * k + kk] * (double)w[j * k + kk];
            y[i * n + j] = s;
        }
}

static int bits_equal(const float *a, const float *b, int64_t count, int64_t *where)
{
    for (int64_t i = 0; i < count; i++)
        if (memcmp(&a[i], &b[i], sizeof(float))) {
            *where = i;
            return 0;
        }
    return 1;
}

/* One shape: reference (scalar, 1 thread) against double, then every ISA and thread count
 * bit for bit against the reference; both packings give identical panels. */
static void check_shape(const td_cpu_info *cpu, td_rng *r, int64_t m, int64_t n, int64_t k,
                        int with_bias)
{
    float *x = rand_floats(r, m * k), *w = rand_floats(r, n * k), *bias = rand_floats(r, n);
    float *wt = malloc((size_t)(n * k) * sizeof *wt);
    for (int64_t j = 0; j < n; j++)
        for (int64_t kk = 0; kk < k; kk++)
            wt[kk * n + j] = w[j * k + kk];
    const float *b = with_bias ? bias : NULL;
    float *ref = malloc((size_t)(m * n) * sizeof *ref), *y = malloc((size_t)(m * n) * sizeof *y);
    double *exact = malloc((size_t)(m * n) * sizeof *exact);
    td_sgemm_packed p, pt;
    TD_CHECK_OK(td_sgemm_pack(w, n, k, &p));
    TD_CHECK_OK(td_sgemm_pack_kn(wt, k, n, &pt));
    TD_CHECK(p.npanels == (n + 31) / 32 && p.n == n && p.k == k, "header %lld", (long long)n);
    TD_CHECK(!memcmp(p.data, pt.data, (size_t)(p.npanels * k * 32) * sizeof(float)),
             "pack and pack_kn differ at n=%lld k=%lld", (long long)n, (long long)k);

    td_ctx ctx = {.threads = 1, .isa = TD_ISA_SCALAR};
    TD_CHECK_OK(td_sgemm_packed_run(&ctx, x, m, &p, b, ref));
    naive(x, w, b, m, n, k, exact);
    /* Each of the k products and sums rounds once: |error| <= k * 2^-24 * sum |x w| <= k^2
     * 2^-24 for |x|, |w| <= 1; the bound used is far looser than typical but tight enough to
     * catch a wrong index or a lost term. */
    double tol = 1e-6 * (double)(k + 1) * 4;
    double worst = 0;
    for (int64_t i = 0; i < m * n; i++)
        worst = fmax(worst, fabs((double)ref[i] - exact[i]));
    TD_CHECK(worst <= tol, "m=%lld n=%lld k=%lld bias=%d: ref off by %g (tol %g)", (long long)m,
             (long long)n, (long long)k, with_bias, worst, tol);

    for (int isa = TD_ISA_SCALAR; isa <= (int)cpu->best; isa++)
        for (int threads = 1; threads <= 2; threads++) {
            ctx.isa = (td_isa)isa;
            ctx.threads = threads;
            for (int64_t i = 0; i < m * n; i++)
                y[i] = NAN; /* every output must be written */
            TD_CHECK_OK(td_sgemm_packed_run(&ctx, x, m, isa & 1 ? &pt : &p, b, y));
            int64_t at = -1;
            TD_CHECK(bits_equal(y, ref, m * n, &at),
                     "%s %d threads m=%lld n=%lld k=%lld bias=%d: y[%lld] = %.9g, ref %.9g",
                     td_isa_name(ctx.isa), threads, (long long)m, (long long)n, (long long)k,
                     with_bias, (long long)at, at >= 0 ? y[at] : 0.0, at >= 0 ? ref[at] : 0.0);
        }
    td_sgemm_packed_free(&p);
    td_sgemm_packed_free(&pt);
    free(x), free(w), free(wt), free(bias), free(ref), free(y), free(exact);
}

static void test_shapes(const td_cpu_info *cpu)
{
    static const int64_t sizes[] = {1, 2, 7, 13, 31, 32, 33, 64, 100};
    td_rng r = {7};
    int count = sizeof sizes / sizeof sizes[0];
    /* every combination of the small sizes, bias alternating */
    for (int a = 0; a < count; a++)
        for (int b = 0; b < count; b++)
            for (int c = 0; c < count; c += 2)
                check_shape(cpu, &r, sizes[a], sizes[b], sizes[c], (a + b + c) & 1);
    /* the MiniLM shapes (M = 128 tokens) and K across several K blocks, with an N tail */
    check_shape(cpu, &r, 128, 384, 384, 1);
    check_shape(cpu, &r, 128, 1536, 384, 0);
    check_shape(cpu, &r, 128, 384, 1536, 1);
    check_shape(cpu, &r, 37, 100, 1536, 1);
    check_shape(cpu, &r, 1, 1536, 384, 1);
    check_shape(cpu, &r, 300, 33, 13, 0);
    /* one panel and over a million multiply-adds: 2 threads split the rows */
    check_shape(cpu, &r, 601, 20, 100, 1);
    /* K past one K block of the AVX kernels (2048): partial sums go through y */
    check_shape(cpu, &r, 13, 40, 2500, 1);
    check_shape(cpu, &r, 7, 33, 4097, 0);
}

/* K = 0: y is the bias (or 0); N = 0 and M = 0 write nothing. */
static void test_degenerate(void)
{
    td_ctx ctx = td_ctx_default();
    float bias[3] = {1, 2, 3}, y[6] = {9, 9, 9, 9, 9, 9}, w = 1;
    td_sgemm_packed p;
    TD_CHECK_OK(td_sgemm_pack(NULL, 3, 0, &p));
    TD_CHECK_OK(td_sgemm_packed_run(&ctx, NULL, 2, &p, bias, y));
    TD_CHECK(y[0] == 1 && y[2] == 3 && y[3] == 1 && y[5] == 3, "k=0 gives %g %g", y[0], y[5]);
    TD_CHECK_OK(td_sgemm_packed_run(&ctx, NULL, 2, &p, NULL, y));
    TD_CHECK(y[0] == 0 && y[5] == 0, "k=0 without bias gives %g", y[0]);
    td_sgemm_packed_free(&p);

    TD_CHECK_OK(td_sgemm_pack(NULL, 0, 5, &p));
    TD_CHECK(p.npanels == 0, "n=0 has %lld panels", (long long)p.npanels);
    y[0] = 9;
    TD_CHECK_OK(td_sgemm_packed_run(&ctx, &w, 1, &p, NULL, y));
    TD_CHECK(y[0] == 9, "n=0 wrote y");
    td_sgemm_packed_free(&p);

    TD_CHECK_OK(td_sgemm_pack(&w, 1, 1, &p));
    TD_CHECK_OK(td_sgemm_packed_run(&ctx, NULL, 0, &p, NULL, NULL));
    td_sgemm_packed_free(&p);
    td_sgemm_packed_free(&p); /* freeing twice is harmless: free zeroes */
    td_sgemm_packed_free(NULL);
}

static void test_bad_input(void)
{
    float w[4] = {0}, x[4] = {0}, y[4];
    td_sgemm_packed p;
    TD_CHECK_ERROR(td_sgemm_pack(w, -1, 2, &p), TD_CODE_INVALID_ARGUMENT, "negative");
    TD_CHECK(p.data == NULL, "failed pack left data");
    TD_CHECK_ERROR(td_sgemm_pack_kn(w, 2, -3, &p), TD_CODE_INVALID_ARGUMENT, "negative");
    TD_CHECK_ERROR(td_sgemm_pack(NULL, 2, 2, &p), TD_CODE_INVALID_ARGUMENT, "NULL");
    TD_CHECK_ERROR(td_sgemm_pack(w, 2, 2, NULL), TD_CODE_INVALID_ARGUMENT, "NULL");
    TD_CHECK_ERROR(td_sgemm_pack(w, INT64_MAX / 2, 4, &p), TD_CODE_OVERFLOW, "");
    TD_CHECK_ERROR(td_sgemm_pack(w, (int64_t)1 << 40, (int64_t)1 << 30, &p), TD_CODE_OVERFLOW, "");

    td_ctx ctx = td_ctx_default();
    TD_CHECK_OK(td_sgemm_pack(w, 2, 2, &p));
    TD_CHECK_ERROR(td_sgemm_packed_run(&ctx, x, -1, &p, NULL, y), TD_CODE_INVALID_ARGUMENT,
                   "negative m");
    TD_CHECK_ERROR(td_sgemm_packed_run(NULL, x, 1, &p, NULL, y), TD_CODE_INVALID_ARGUMENT,
                   "context");
    TD_CHECK_ERROR(td_sgemm_packed_run(&ctx, x, 1, NULL, NULL, y), TD_CODE_INVALID_ARGUMENT,
                   "packed weight");
    TD_CHECK_ERROR(td_sgemm_packed_run(&ctx, NULL, 1, &p, NULL, y), TD_CODE_INVALID_ARGUMENT,
                   "input");
    TD_CHECK_ERROR(td_sgemm_packed_run(&ctx, x, 1, &p, NULL, NULL), TD_CODE_INVALID_ARGUMENT,
                   "output");
    TD_CHECK_ERROR(td_sgemm_packed_run(&ctx, x, INT64_MAX / 2, &p, NULL, y), TD_CODE_OVERFLOW, "");
    td_sgemm_packed bad = p;
    bad.npanels = 7;
    TD_CHECK_ERROR(td_sgemm_packed_run(&ctx, x, 1, &bad, NULL, y), TD_CODE_INVALID_ARGUMENT,
                   "not from td_sgemm_pack");
    td_sgemm_packed_free(&p);
}

int main(void)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    test_shapes(&cpu);
    test_degenerate();
    test_bad_input();
    return td_test_finish("test_sgemm_packed");
}
