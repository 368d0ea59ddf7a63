/* AVX-512 packed f32 GEMM: 12 x 32 register tiles (24 zmm accumulators).
 *
 * Per k a tile loads one 128-byte row of the weight panel (two aligned zmm) and does 24 FMAs,
 * each with an X scalar broadcast from memory ({1to16} operand), so it is bound by the two FMA
 * pipes, not by loads. Rows past the last multiple of 12 use a tile of the remaining height;
 * columns past n (the zero padding of the last panel) are masked off at the stores.
 *
 * K is cut into blocks of KC, between which the partial sums wait in y, only so that a very
 * long K keeps a panel block (KC x 128 bytes) in L2. Smaller blocks meant to keep it in L1
 * (KC = 128..512) measured 2-5% slower on MiniLM's shapes (K = 384, 1536): the panel streams
 * from L2 fast enough, and every block costs a load and store of the tile. Each output is
 * still accumulated over k in ascending order with one rounding per FMA,
 * which is what makes this bit-identical to the scalar reference. */
#include <immintrin.h>

#include "kernels/sgemm_packed.h"

#define TD_INLINE static inline __attribute__((always_inline))

static const float zeros[TD_SGEMM_NR] __attribute__((aligned(64)));

enum { NR = TD_SGEMM_NR, MR = 12, KC = 2048 };

/* One mr x 32 tile over k in [0, kc): first starts from 0 instead of y, last adds the bias. */
TD_INLINE void tile(const int mr, const float *x, int64_t ldx, const float *b, int64_t kc, float *y,
                    int64_t ldy, __mmask16 m0, __mmask16 m1, int first, const float *bias)
{
    __m512 c0[MR], c1[MR];
    /* Starting from a row of zeros rather than branching on `first` keeps the prologue
     * free of stack round trips. */
    const float *src = first ? zeros : y;
    int64_t lds = first ? 0 : ldy;
    for (int i = 0; i < mr; i++) {
        c0[i] = _mm512_maskz_loadu_ps(m0, src + i * lds);
        c1[i] = _mm512_maskz_loadu_ps(m1, src + i * lds + 16);
    }
    for (int64_t kk = 0; kk < kc; kk++) {
        __m512 b0 = _mm512_load_ps(b + kk * NR), b1 = _mm512_load_ps(b + kk * NR + 16);
        for (int i = 0; i < mr; i++) {
            __m512 a = _mm512_set1_ps(x[i * ldx + kk]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
    }
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (bias) {
        bias0 = _mm512_maskz_loadu_ps(m0, bias);
        bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
    for (int i = 0; i < mr; i++) {
        if (bias) {
            c0[i] = _mm512_add_ps(c0[i], bias0);
            c1[i] = _mm512_add_ps(c1[i], bias1);
        }
        _mm512_mask_storeu_ps(y + i * ldy, m0, c0[i]);
        _mm512_mask_storeu_ps(y + i * ldy + 16, m1, c1[i]);
    }
}

typedef void (*tile_fn)(const float *x, int64_t ldx, const float *b, int64_t kc, float *y,
                        int64_t ldy, __mmask16 m0, __mmask16 m1, int first, const float *bias);

#define TILE(R)                                                                                    \
    static void tile##R(const float *x, int64_t ldx, const float *b, int64_t kc, float *y,         \
                        int64_t ldy, __mmask16 m0, __mmask16 m1, int first, const float *bias)     \
    {                                                                                              \
        tile(R, x, ldx, b, kc, y, ldy, m0, m1, first, bias);                                       \
    }
TILE(1)
TILE(2)
TILE(3)
TILE(4)
TILE(5)
TILE(6)
TILE(7)
TILE(8)
TILE(9)
TILE(10)
TILE(11)
TILE(12)

static const tile_fn tiles[MR + 1] = {NULL,  tile1, tile2, tile3,  tile4,  tile5, tile6,
                                      tile7, tile8, tile9, tile10, tile11, tile12};

void td_sgemm_block_avx512(const td_sgemm_packed *w, const float *x, int64_t m, int64_t p0,
                           int64_t p1, const float *bias, float *y)
{
    int64_t n = w->n, k = w->k;
    for (int64_t p = p0; p < p1; p++) {
        int64_t cols = n - p * NR < NR ? n - p * NR : NR;
        __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
        __mmask16 m1 = (__mmask16)(cols >= 32 ? 0xffff : cols > 16 ? (1u << (cols - 16)) - 1 : 0);
        const float *panel = w->data + p * k * NR;
        const float *pb = bias ? bias + p * NR : NULL;
        int64_t k0 = 0;
        do {
            int64_t kc = k - k0 < KC ? k - k0 : KC;
            int last = k0 + kc >= k;
            for (int64_t i = 0; i < m; i += MR) {
                int mr = m - i < MR ? (int)(m - i) : MR;
                tiles[mr](x + i * k + k0, k, panel + k0 * NR, kc, y + i * n + p * NR, n, m0, m1,
                          k0 == 0, last ? pb : NULL);
            }
            k0 += kc;
        } while (k0 < k);
    }
}
