/* oneDNN int8 matmul peer: see peer_dnnl.h. */
#include "peer_dnnl.h"

#ifndef TD_HAVE_DNNL

td_status td_peer_dnnl_s8_gemm(int64_t M, int64_t N, int64_t K, int threads, int reps,
                               double *seconds_median)
{
    (void)M;
    (void)N;
    (void)K;
    (void)threads;
    (void)reps;
    *seconds_median = 0.0;
    return td_error_new(TD_CODE_UNSUPPORTED, "this build has no oneDNN (libdnnl-dev)");
}

#else

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dnnl.h>

#ifdef _OPENMP
#include <omp.h>
#endif

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Everything one run owns, so a single cleanup path releases it on any failure. */
typedef struct peer {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_attr_t attr;
    dnnl_primitive_desc_t mm_pd, re_pd;
    dnnl_primitive_t mm, re;
    dnnl_memory_t src, wplain, wpacked, dst;
    void *src_buf, *w_buf, *dst_buf;
    float *scales;
} peer;

static void peer_free(peer *p)
{
    if (p->mm)
        dnnl_primitive_destroy(p->mm);
    if (p->re)
        dnnl_primitive_destroy(p->re);
    if (p->mm_pd)
        dnnl_primitive_desc_destroy(p->mm_pd);
    if (p->re_pd)
        dnnl_primitive_desc_destroy(p->re_pd);
    if (p->attr)
        dnnl_primitive_attr_destroy(p->attr);
    if (p->src)
        dnnl_memory_destroy(p->src);
    if (p->wplain)
        dnnl_memory_destroy(p->wplain);
    if (p->wpacked)
        dnnl_memory_destroy(p->wpacked);
    if (p->dst)
        dnnl_memory_destroy(p->dst);
    if (p->stream)
        dnnl_stream_destroy(p->stream);
    if (p->engine)
        dnnl_engine_destroy(p->engine);
    free(p->src_buf);
    free(p->w_buf);
    free(p->dst_buf);
    free(p->scales);
}

#define DNNL_TRY(call)                                                                             \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success) {                                                                  \
            st = td_error_new(TD_CODE_INTERNAL, "oneDNN: %s failed (status %d)", #call, (int)s_);  \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

td_status td_peer_dnnl_s8_gemm(int64_t M, int64_t N, int64_t K, int threads, int reps,
                               double *seconds_median)
{
    *seconds_median = 0.0;
    if (M < 1 || N < 1 || K < 1 || threads < 1 || reps < 1 || reps > 10000)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "oneDNN peer: bad shape %lld x %lld x %lld, threads %d or reps %d",
                            (long long)M, (long long)N, (long long)K, threads, reps);
    td_status st = TD_OK;
    peer p;
    memset(&p, 0, sizeof p);
    double *times = NULL;
#ifdef _OPENMP
    int saved_threads = omp_get_max_threads();
    omp_set_num_threads(threads);
#endif
    p.src_buf = malloc((size_t)(M * K));
    p.w_buf = malloc((size_t)(N * K));
    p.dst_buf = malloc((size_t)(M * N) * sizeof(float));
    p.scales = malloc((size_t)N * sizeof(float));
    times = malloc((size_t)reps * sizeof(double));
    if (!p.src_buf || !p.w_buf || !p.dst_buf || !p.scales || !times) {
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "oneDNN peer: cannot allocate buffers");
        goto done;
    }
    /* Deterministic values in the ranges Tandem's quantizers produce. */
    uint32_t h = 12345;
    for (int64_t i = 0; i < M * K; i++) {
        h = h * 1664525u + 1013904223u;
        ((uint8_t *)p.src_buf)[i] = (uint8_t)(1 + (h >> 24) % 255);
    }
    for (int64_t i = 0; i < N * K; i++) {
        h = h * 1664525u + 1013904223u;
        ((int8_t *)p.w_buf)[i] = (int8_t)((int)((h >> 24) % 255) - 127);
    }
    for (int64_t i = 0; i < N; i++)
        p.scales[i] = 1e-4f * (float)(1 + i % 7);

    DNNL_TRY(dnnl_engine_create(&p.engine, dnnl_cpu, 0));
    DNNL_TRY(dnnl_stream_create(&p.stream, p.engine, dnnl_stream_default_flags));
    dnnl_memory_desc_t src_md, w_plain_md, w_any_md, dst_md;
    dnnl_dims_t src_dims = {M, K}, w_dims = {K, N}, dst_dims = {M, N};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_u8, dnnl_ab));
    /* W is N x K row-major, i.e. the K x N weights matrix in column-major (ba). */
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&w_plain_md, 2, w_dims, dnnl_s8, dnnl_ba));
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&w_any_md, 2, w_dims, dnnl_s8, dnnl_format_tag_any));
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_ab));
    DNNL_TRY(dnnl_primitive_attr_create(&p.attr));
    DNNL_TRY(dnnl_primitive_attr_set_output_scales(p.attr, N, 1 << 1, p.scales));
    dnnl_matmul_desc_t mm_d;
    DNNL_TRY(dnnl_matmul_desc_init(&mm_d, &src_md, &w_any_md, NULL, &dst_md));
    DNNL_TRY(dnnl_primitive_desc_create(&p.mm_pd, &mm_d, p.attr, p.engine, NULL));
    DNNL_TRY(dnnl_primitive_create(&p.mm, p.mm_pd));
    const dnnl_memory_desc_t *w_md =
        dnnl_primitive_desc_query_md(p.mm_pd, dnnl_query_weights_md, 0);

    DNNL_TRY(dnnl_memory_create(&p.src, &src_md, p.engine, p.src_buf));
    DNNL_TRY(dnnl_memory_create(&p.wplain, &w_plain_md, p.engine, p.w_buf));
    DNNL_TRY(dnnl_memory_create(&p.wpacked, w_md, p.engine, DNNL_MEMORY_ALLOCATE));
    DNNL_TRY(dnnl_memory_create(&p.dst, &dst_md, p.engine, p.dst_buf));

    /* Weight reorder into oneDNN's layout: once, untimed (load-time work). */
    DNNL_TRY(
        dnnl_reorder_primitive_desc_create(&p.re_pd, &w_plain_md, p.engine, w_md, p.engine, NULL));
    DNNL_TRY(dnnl_primitive_create(&p.re, p.re_pd));
    dnnl_exec_arg_t re_args[2] = {{DNNL_ARG_FROM, p.wplain}, {DNNL_ARG_TO, p.wpacked}};
    DNNL_TRY(dnnl_primitive_execute(p.re, p.stream, 2, re_args));
    DNNL_TRY(dnnl_stream_wait(p.stream));

    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, p.src}, {DNNL_ARG_WEIGHTS, p.wpacked}, {DNNL_ARG_DST, p.dst}};
    DNNL_TRY(dnnl_primitive_execute(p.mm, p.stream, 3, args)); /* warm-up */
    DNNL_TRY(dnnl_stream_wait(p.stream));
    for (int i = 0; i < reps; i++) {
        double t0 = now_seconds();
        DNNL_TRY(dnnl_primitive_execute(p.mm, p.stream, 3, args));
        DNNL_TRY(dnnl_stream_wait(p.stream));
        times[i] = now_seconds() - t0;
    }
    qsort(times, (size_t)reps, sizeof(double), cmp_double);
    *seconds_median = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
done:
#ifdef _OPENMP
    omp_set_num_threads(saved_threads);
#endif
    peer_free(&p);
    free(times);
    return st;
}

#endif
