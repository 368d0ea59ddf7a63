/* The machine's read bandwidth, measured the way a memory-bound GEMV uses memory:
 * every thread streams through its own contiguous slice of a buffer far larger than
 * the caches, summing it with full-width vector loads. Bench files are compiled
 * without ISA flags, so the vector paths use target attributes and are only called
 * when the CPU has the feature. */
#include <immintrin.h>
#include <stdlib.h>

#include "bench.h"

#ifdef _OPENMP
#include <omp.h>
#endif

struct td_bench_stream {
    uint64_t *buf;
    size_t n;      /* elements, a multiple of 64 */
    uint64_t sink; /* the sums are stored here, so the reads cannot be optimized away */
};

/* Integer adds (latency 1) in four independent chains: the loop is bound by loads. */
__attribute__((target("avx512f"))) static uint64_t sum_avx512(const uint64_t *p, size_t n)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 32) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)(p + i)));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *)(p + i + 8)));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *)(p + i + 16)));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *)(p + i + 24)));
    }
    a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    return (uint64_t)_mm512_reduce_add_epi64(a0);
}

__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint64_t *p, size_t n)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 12)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, a0);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

static uint64_t sum_c(const uint64_t *p, size_t n)
{
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t i = 0; i < n; i += 4) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
    }
    return a0 + a1 + a2 + a3;
}

static int stream_level(void)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    return cpu.avx512f ? 2 : cpu.avx2 ? 1 : 0;
}

const char *td_bench_stream_isa(void)
{
    static const char *const names[] = {"c", "avx2", "avx512"};
    return names[stream_level()];
}

td_status td_bench_stream_new(size_t bytes, td_bench_stream **out)
{
    *out = NULL;
    td_bench_stream *s = calloc(1, sizeof *s);
    if (!s)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "cannot allocate the bandwidth buffer header");
    s->n = bytes / sizeof(uint64_t) / 64 * 64;
    if (s->n == 0)
        s->n = 64;
    td_status st = td_alloc(s->n * sizeof(uint64_t), (void **)&s->buf);
    if (st) {
        free(s);
        return st;
    }
    /* Non-zero contents so nothing can shortcut the reads (e.g. shared zero pages). */
    for (size_t i = 0; i < s->n; i++)
        s->buf[i] = i;
    *out = s;
    return TD_OK;
}

void td_bench_stream_free(td_bench_stream *s)
{
    if (!s)
        return;
    td_free(s->buf);
    free(s);
}

size_t td_bench_stream_bytes(const td_bench_stream *s)
{
    return s->n * sizeof(uint64_t);
}

/* One streaming pass over elements [e0, e0 + n) (both multiples of 64) by `threads`
 * threads, each summing its own contiguous slice. */
static void pass(td_bench_stream *s, size_t e0, size_t n, int threads)
{
    int level = stream_level();
    uint64_t total = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        size_t tid = (size_t)omp_get_thread_num(), nth = (size_t)omp_get_num_threads();
#else
    {
        size_t tid = 0, nth = 1;
        (void)threads;
#endif
        /* Slices in whole 512-byte blocks so every vector load stays aligned. */
        size_t blocks = n / 64;
        size_t b0 = blocks * tid / nth, b1 = blocks * (tid + 1) / nth;
        const uint64_t *p = s->buf + e0 + b0 * 64;
        size_t m = (b1 - b0) * 64;
        total += level == 2 ? sum_avx512(p, m) : level == 1 ? sum_avx2(p, m) : sum_c(p, m);
    }
    s->sink += total;
}

void td_bench_stream_read(td_bench_stream *s, size_t offset, size_t bytes, int threads)
{
    size_t n = (bytes / sizeof(uint64_t) + 63) / 64 * 64;
    if (n > s->n)
        n = s->n;
    size_t e0 = offset / sizeof(uint64_t) / 64 * 64;
    if (e0 > s->n - n)
        e0 = (s->n - n) / 64 * 64;
    pass(s, e0, n, threads);
}

double td_bench_stream_gbps(td_bench_stream *s, int threads, int runs)
{
    double rates[64];
    if (runs > 64)
        runs = 64;
    if (runs < 1)
        runs = 1;
    for (int run = 0; run < runs; run++) {
        double t0 = td_bench_now();
        pass(s, 0, s->n, threads);
        double t1 = td_bench_now();
        rates[run] = (double)(s->n * sizeof(uint64_t)) / (t1 - t0) * 1e-9;
    }
    return td_bench_median(rates, runs);
}
