/* AVX2 packed f32 GEMM: each 32-column panel is done as two halves of 16 columns with
 * 6 x 16 register tiles (12 ymm accumulators, 2 weight vectors, 1 broadcast).
 *
 * Same scheme as the AVX-512 kernel (sgemm_packed_avx512.c): K blocks of KC with the partial
 * sums kept in y, k ascending per output, so the result is bit-identical to the reference.
 * The tile itself never masks: with 15 of 16 ymm registers taken by the loop, mask vectors
 * live across it made GCC store the accumulators to the stack on every k. A half panel that
 * runs past n works on a 16-column copy of its rows instead. */
#include <immintrin.h>
#include <string.h>

#include "kernels/sgemm_packed.h"

#define TD_INLINE static inline __attribute__((always_inline))

enum { NR = TD_SGEMM_NR, HALF = 16, MR = 6, KC = 2048 };

/* Row r of a tile: its two accumulators (named, not an array: GCC kept an array's
 * elements in memory and stored them on every k). */
#define ROW_INIT(r)                                                                                \
    __m256 a##r##0 = _mm256_setzero_ps(), a##r##1 = _mm256_setzero_ps();                           \
    if (mr > r && !first) {                                                                        \
        a##r##0 = _mm256_loadu_ps(y + r * ldy);                                                    \
        a##r##1 = _mm256_loadu_ps(y + r * ldy + 8);                                                \
    }
#define ROW_FMA(r)                                                                                 \
    if (mr > r) {                                                                                  \
        __m256 xs = _mm256_broadcast_ss(x + r * ldx + kk);                                         \
        a##r##0 = _mm256_fmadd_ps(xs, b0, a##r##0);                                                \
        a##r##1 = _mm256_fmadd_ps(xs, b1, a##r##1);                                                \
    }
#define ROW_STORE(r)                                                                               \
    if (mr > r) {                                                                                  \
        if (bias) {                                                                                \
            a##r##0 = _mm256_add_ps(a##r##0, _mm256_loadu_ps(bias));                               \
            a##r##1 = _mm256_add_ps(a##r##1, _mm256_loadu_ps(bias + 8));                           \
        }                                                                                          \
        _mm256_storeu_ps(y + r * ldy, a##r##0);                                                    \
        _mm256_storeu_ps(y + r * ldy + 8, a##r##1);                                                \
    }

/* One mr x 16 tile over k in [0, kc): starts from 0 (first) or from y; adds bias if given. */
TD_INLINE void tile(const int mr, const float *x, int64_t ldx, const float *b, int64_t kc, float *y,
                    int64_t ldy, int first, const float *bias)
{
    ROW_INIT(0)
    ROW_INIT(1) ROW_INIT(2) ROW_INIT(3) ROW_INIT(4) ROW_INIT(5) for (int64_t kk = 0; kk < kc; kk++)
    {
        __m256 b0 = _mm256_load_ps(b + kk * NR), b1 = _mm256_load_ps(b + kk * NR + 8);
        ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3) ROW_FMA(4) ROW_FMA(5)
    }
    ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3) ROW_STORE(4) ROW_STORE(5)
}

typedef void (*tile_fn)(const float *x, int64_t ldx, const float *b, int64_t kc, float *y,
                        int64_t ldy, int first, const float *bias);

#define TILE(R)                                                                                    \
    static void tile##R(const float *x, int64_t ldx, const float *b, int64_t kc, float *y,         \
                        int64_t ldy, int first, const float *bias)                                 \
    {                                                                                              \
        tile(R, x, ldx, b, kc, y, ldy, first, bias);                                               \
    }
TILE(1)
TILE(2)
TILE(3)
TILE(4)
TILE(5)
TILE(6)

static const tile_fn tiles[MR + 1] = {NULL, tile1, tile2, tile3, tile4, tile5, tile6};

/* A tile whose half panel has only `cols` < 16 columns of y: runs on a zero-padded copy. */
static void tile_part(int mr, int cols, const float *x, int64_t ldx, const float *b, int64_t kc,
                      float *y, int64_t ldy, int first, const float *bias)
{
    float tmp[MR * HALF] __attribute__((aligned(32))) = {0};
    float bt[HALF] = {0};
    size_t bytes = (size_t)cols * sizeof(float);
    for (int i = 0; i < mr && !first; i++)
        memcpy(tmp + i * HALF, y + i * ldy, bytes);
    if (bias)
        memcpy(bt, bias, bytes);
    tiles[mr](x, ldx, b, kc, tmp, HALF, first, bias ? bt : NULL);
    for (int i = 0; i < mr; i++)
        memcpy(y + i * ldy, tmp + i * HALF, bytes);
}

void td_sgemm_block_avx2(const td_sgemm_packed *w, const float *x, int64_t m, int64_t p0,
                         int64_t p1, const float *bias, float *y)
{
    int64_t n = w->n, k = w->k;
    for (int64_t p = p0; p < p1; p++) {
        const float *panel = w->data + p * k * NR;
        for (int64_t h = 0; h < NR && p * NR + h < n; h += HALF) {
            int64_t col0 = p * NR + h;
            int cols = n - col0 < HALF ? (int)(n - col0) : HALF;
            const float *pb = bias ? bias + col0 : NULL;
            int64_t k0 = 0;
            do {
                int64_t kc = k - k0 < KC ? k - k0 : KC;
                const float *bb = k0 + kc >= k ? pb : NULL;
                for (int64_t i = 0; i < m; i += MR) {
                    int mr = m - i < MR ? (int)(m - i) : MR;
                    const float *xt = x + i * k + k0, *wt = panel + k0 * NR + h;
                    float *yt = y + i * n + col0;
                    if (cols == HALF)
                        tiles[mr](xt, k, wt, kc, yt, n, k0 == 0, bb);
                    else
                        tile_part(mr, cols, xt, k, wt, kc, yt, n, k0 == 0, bb);
                }
                k0 += kc;
            } while (k0 < k);
        }
    }
}
