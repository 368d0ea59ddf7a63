/* `tandem bench sgemm`: the packed f32 GEMM (kernels/sgemm_packed.h) against OpenBLAS's
 * cblas_sgemm (RowMajor, NoTrans, Trans) on the shapes of all-MiniLM-L6-v2's Gemm nodes.
 * Both run on the same data, one block of calls each; the figures are medians. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "kernels/sgemm_packed.h"

void td_bench_sgemm_usage(void)
{
    printf("usage: tandem bench sgemm [--threads N] [--runs N] [--m M]\n\n"
           "Packed f32 GEMM vs OpenBLAS cblas_sgemm on M x (N, K) = (384, 384), (1536, 384),\n"
           "(384, 1536), 1 thread and N threads (default: all cores). GFLOP/s are medians.\n");
}

typedef struct shape {
    int64_t n, k;
} shape;

static float *random_floats(size_t count, uint64_t seed)
{
    float *v = malloc(count * sizeof *v);
    for (size_t i = 0; v && i < count; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = (float)((double)(seed >> 40) / (double)(1ull << 24) - 0.5);
    }
    return v;
}

static void blas_call(const float *x, const float *w, float *y, int64_t m, int64_t n, int64_t k)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m, (blasint)n, (blasint)k, 1.0f,
                x, (blasint)k, w, (blasint)k, 0.0f, y, (blasint)n);
}

/* Median seconds of td_sgemm_packed_run and of cblas_sgemm over `runs` alternating calls. */
static int time_shape(const td_ctx *ctx, int64_t m, shape s, int runs, double *t_td, double *t_blas,
                      double *maxdiff)
{
    float *x = random_floats((size_t)(m * s.k), 1), *w = random_floats((size_t)(s.n * s.k), 2);
    float *y = malloc((size_t)(m * s.n) * sizeof *y), *yb = malloc((size_t)(m * s.n) * sizeof *yb);
    double *a = malloc((size_t)runs * sizeof *a), *b = malloc((size_t)runs * sizeof *b);
    td_sgemm_packed p = {0};
    td_status st = (x && w && y && yb && a && b) ? td_sgemm_pack(w, s.n, s.k, &p)
                                                 : td_error_new(TD_CODE_OUT_OF_MEMORY, "bench");
    if (!st) {
        /* Separate blocks, not alternation: OpenBLAS's pthreads spin for a while after each
         * call and would steal the second core from the OpenMP threads that follow. */
        for (int r = -3; r < runs && !st; r++) {
            double t0 = td_bench_now();
            st = td_sgemm_packed_run(ctx, x, m, &p, NULL, y);
            if (r >= 0)
                a[r] = td_bench_now() - t0;
        }
        openblas_set_num_threads(ctx->threads);
        for (int r = -3; r < runs && !st; r++) {
            double t0 = td_bench_now();
            blas_call(x, w, yb, m, s.n, s.k);
            if (r >= 0)
                b[r] = td_bench_now() - t0;
        }
        openblas_set_num_threads(1);
        *maxdiff = 0;
        for (int64_t i = 0; i < m * s.n; i++)
            *maxdiff = fmax(*maxdiff, fabs((double)y[i] - (double)yb[i]));
        *t_td = td_bench_median(a, runs);
        *t_blas = td_bench_median(b, runs);
    }
    int rc = st ? 1 : 0;
    if (st)
        fprintf(stderr, "tandem bench sgemm: %s\n", td_status_message(st));
    td_status_free(st);
    td_sgemm_packed_free(&p);
    free(x), free(w), free(y), free(yb), free(a), free(b);
    return rc;
}

int td_bench_sgemm(int argc, char **argv)
{
    int threads = td_max_threads(), runs = 200;
    int64_t m = 128;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            td_bench_sgemm_usage();
            return 0;
        }
        if (i + 1 < argc && !strcmp(argv[i], "--threads"))
            threads = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--runs"))
            runs = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--m"))
            m = atoll(argv[++i]);
        else {
            fprintf(stderr, "tandem bench sgemm: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (threads < 1 || runs < 1 || m < 1) {
        fprintf(stderr, "tandem bench sgemm: --threads, --runs and --m must be >= 1\n");
        return 2;
    }
    static const shape shapes[] = {{384, 384}, {1536, 384}, {384, 1536}};
    td_ctx ctx = td_ctx_default();
    printf("isa %s, openblas core %s, m %lld, %d runs (medians)\n", td_isa_name(ctx.isa),
           openblas_get_corename(), (long long)m, runs);
    printf("%7s %5s %5s %10s %10s %7s %9s\n", "threads", "n", "k", "td GF/s", "blas GF/s", "ratio",
           "maxdiff");
    int counts[2] = {1, threads};
    for (int c = 0; c < (threads > 1 ? 2 : 1); c++) {
        if (td_ctx_set_threads(&ctx, counts[c]))
            return 1;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            double ta, tb, diff;
            if (time_shape(&ctx, m, shapes[s], runs, &ta, &tb, &diff))
                return 1;
            double flop = 2.0 * (double)m * (double)shapes[s].n * (double)shapes[s].k;
            printf("%7d %5lld %5lld %10.1f %10.1f %7.2f %9.2g\n", counts[c], (long long)shapes[s].n,
                   (long long)shapes[s].k, flop / ta * 1e-9, flop / tb * 1e-9, tb / ta, diff);
        }
    }
    return 0;
}
