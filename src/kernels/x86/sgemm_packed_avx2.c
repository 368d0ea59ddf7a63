/* AVX2 packed f32 GEMM: each 32-column panel is done as two halves of 16 columns with
 * 6 x 16 register tiles (12 ymm accumulators, 2 weight vectors, 1 broadcast).
 *
 * Same scheme as the AVX-512 kernel (sgemm_packed_avx512.c): K blocks of KC with the partial
 * sums kept in y, k ascending per output, so the result is bit-identical to the reference.
 * Columns past n are masked off with vmaskmov. */
#include <immintrin.h>

#include "kernels/sgemm_packed.h"

#define TD_INLINE static inline __attribute__((always_inline))

enum { NR = TD_SGEMM_NR, MR = 6, KC = 256 };

TD_INLINE void tile(const int mr, const float *x, int64_t ldx, const float *b, int64_t kc, float *y,
                    int64_t ldy, __m256i m0, __m256i m1, int first, const float *bias)
{
    __m256 c0[MR], c1[MR];
    for (int i = 0; i < mr; i++) {
        if (first) {
            c0[i] = _mm256_setzero_ps();
            c1[i] = _mm256_setzero_ps();
        } else {
            c0[i] = _mm256_maskload_ps(y + i * ldy, m0);
            c1[i] = _mm256_maskload_ps(y + i * ldy + 8, m1);
        }
    }
    for (int64_t kk = 0; kk < kc; kk++) {
        __m256 b0 = _mm256_load_ps(b + kk * NR), b1 = _mm256_load_ps(b + kk * NR + 8);
        for (int i = 0; i < mr; i++) {
            __m256 a = _mm256_broadcast_ss(x + i * ldx + kk);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
    }
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (bias) {
        bias0 = _mm256_maskload_ps(bias, m0);
        bias1 = _mm256_maskload_ps(bias + 8, m1);
    }
    for (int i = 0; i < mr; i++) {
        if (bias) {
            c0[i] = _mm256_add_ps(c0[i], bias0);
            c1[i] = _mm256_add_ps(c1[i], bias1);
        }
        _mm256_maskstore_ps(y + i * ldy, m0, c0[i]);
        _mm256_maskstore_ps(y + i * ldy + 8, m1, c1[i]);
    }
}

typedef void (*tile_fn)(const float *x, int64_t ldx, const float *b, int64_t kc, float *y,
                        int64_t ldy, __m256i m0, __m256i m1, int first, const float *bias);

#define TILE(R)                                                                                    \
    static void tile##R(const float *x, int64_t ldx, const float *b, int64_t kc, float *y,         \
                        int64_t ldy, __m256i m0, __m256i m1, int first, const float *bias)         \
    {                                                                                              \
        tile(R, x, ldx, b, kc, y, ldy, m0, m1, first, bias);                                       \
    }
TILE(1)
TILE(2)
TILE(3)
TILE(4)
TILE(5)
TILE(6)

static const tile_fn tiles[MR + 1] = {NULL, tile1, tile2, tile3, tile4, tile5, tile6};

/* Lane mask of the first `cols` (clamped to 0..8) of 8 lanes. */
static __m256i lane_mask(int64_t cols)
{
    __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int c = cols < 0 ? 0 : cols > 8 ? 8 : (int)cols;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), lanes);
}

void td_sgemm_block_avx2(const td_sgemm_packed *w, const float *x, int64_t m, int64_t p0,
                         int64_t p1, const float *bias, float *y)
{
    int64_t n = w->n, k = w->k;
    for (int64_t p = p0; p < p1; p++) {
        int64_t cols = n - p * NR < NR ? n - p * NR : NR;
        const float *panel = w->data + p * k * NR;
        for (int h = 0; h < NR; h += 16) {
            if (h >= cols)
                break;
            __m256i m0 = lane_mask(cols - h), m1 = lane_mask(cols - h - 8);
            const float *pb = bias ? bias + p * NR + h : NULL;
            int64_t k0 = 0;
            do {
                int64_t kc = k - k0 < KC ? k - k0 : KC;
                int last = k0 + kc >= k;
                for (int64_t i = 0; i < m; i += MR) {
                    int mr = m - i < MR ? (int)(m - i) : MR;
                    tiles[mr](x + i * k + k0, k, panel + k0 * NR + h, kc, y + i * n + p * NR + h, n,
                              m0, m1, k0 == 0, last ? pb : NULL);
                }
                k0 += kc;
            } while (k0 < k);
        }
    }
}
