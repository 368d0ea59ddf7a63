/* int8-weight kernels for AVX2 + FMA.
 *
 * Same formulation as the AVX-512 kernels: dot products along K over a tile of
 * weight rows x tokens, lanes reduced at the end of each scale group, 32 bytes of K
 * per step. Tiles: 4 rows x 1 token for the GEMV, 2 rows x 3 tokens otherwise (the
 * most that fit AVX2's 16 registers); a tile with fewer real tokens repeats the last
 * one and does not store it.
 *
 * Integer activations use the sign trick: maddubs multiplies unsigned by signed
 * bytes, so  w * x = |w| * sign(x, w)  with |w| as the unsigned operand. Codes and
 * activations never hold -128, so |w| <= 127, the sign flip of x cannot overflow,
 * and a maddubs pair sum is at most 2 * 127 * 127 = 32258: no int16 saturation.
 * madd with ones widens the pairs to int32. Group sums are exact, then
 *   acc = dot - zero * gsum,  y = fmaf((float)acc, scale, y),  y *= token scale
 * exactly as the scalar reference does (kernels/int8_kernels.h). A group tail shorter
 * than 32 bytes is summed with scalar integer arithmetic (still exact). Between
 * groups the running float sum lives in y itself (stored and reloaded exactly).
 *
 * f32 activations: codes widen to f32 (minus the zero point, exact in int32) and FMA
 * against x into per-lane sums; at the end of each group the lanes are added and the
 * sum, times the group's scale, is added to y. */
#include <immintrin.h>
#include <math.h>

#include "kernels/int8_kernels.h"

#define NR_MAX 4
#define NT_MAX 3
#define L2_ACT_BYTES (512 * 1024)

#define ALWAYS_INLINE inline __attribute__((always_inline))
#define NOINLINE __attribute__((noinline))

static int64_t token_block(int64_t kpad, int64_t elem, int64_t nt, int64_t batch)
{
    int64_t tb = L2_ACT_BYTES / (kpad * elem) / nt * nt;
    if (tb < nt)
        tb = nt;
    return tb < batch ? tb : batch;
}

static ALWAYS_INLINE int32_t hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static ALWAYS_INLINE float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- integer activations ---- */

/* nr rows x nt tokens from (r, b) over all of K; nb <= nt tokens are real. */
static ALWAYS_INLINE void int_tile(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                   int64_t r, int64_t b, int nb, const int nr, const int nt)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const int8_t *wp[NR_MAX];
    const int8_t *xp[NT_MAX];
    int64_t srow[NR_MAX], tok[NT_MAX];
    for (int i = 0; i < nr; i++) {
        wp[i] = (const int8_t *)(w->codes + (size_t)(r + i) * w->row_bytes);
        srow[i] = (r + i) / w->tile_rows * w->ngroups;
    }
    for (int j = 0; j < nt; j++) {
        tok[j] = b + (j < nb ? j : nb - 1);
        xp[j] = a->q + tok[j] * a->kpad;
    }
    for (int64_t g = 0; g < w->ngroups; g++) {
        __m256i acc[NR_MAX][NT_MAX];
        for (int i = 0; i < nr; i++)
            for (int j = 0; j < nt; j++)
                acc[i][j] = _mm256_setzero_si256();
        int64_t k = g * w->gsize, k1 = k + w->gsize;
        for (; k + 32 <= k1; k += 32) {
            __m256i wv[NR_MAX], wa[NR_MAX];
            for (int i = 0; i < nr; i++) {
                wv[i] = _mm256_loadu_si256((const __m256i *)(wp[i] + k));
                wa[i] = _mm256_abs_epi8(wv[i]);
            }
            for (int j = 0; j < nt; j++) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)(xp[j] + k));
                for (int i = 0; i < nr; i++) {
                    __m256i p = _mm256_maddubs_epi16(wa[i], _mm256_sign_epi8(xv, wv[i]));
                    acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(p, ones));
                }
            }
        }
        for (int j = 0; j < nt && j < nb; j++)
            for (int i = 0; i < nr; i++) {
                int32_t dot = hsum_epi32(acc[i][j]);
                for (int64_t t = k; t < k1; t++)
                    dot += (int32_t)wp[i][t] * (int32_t)xp[j][t];
                int32_t z = w->zeros ? w->zeros[srow[i] + g] : 0;
                int32_t v = dot - z * a->gsum[tok[j] * a->ngroups + g];
                float *yo = y + (b + j) * ldy + r + i;
                float yv = fmaf((float)v, w->scales[srow[i] + g], g > 0 ? *yo : 0.0f);
                *yo = g == w->ngroups - 1 ? yv * a->scale[b + j] : yv;
            }
    }
}

/* The tile shapes, each compiled on its own so that register allocation sees one
 * loop nest at a time. */
static NOINLINE void int_tile_4x1(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb)
{
    int_tile(w, a, y, ldy, r, b, nb, 4, 1);
}

static NOINLINE void int_tile_2x3(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb)
{
    int_tile(w, a, y, ldy, r, b, nb, 2, 3);
}

static NOINLINE void int_tile_1x3(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb)
{
    int_tile(w, a, y, ldy, r, b, nb, 1, 3);
}

static NOINLINE void int_tile_1x1(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb)
{
    int_tile(w, a, y, ldy, r, b, nb, 1, 1);
}

/* The four tile shapes of one kernel family: 4x1, 2x3, 1x3 and 1x1 (rows x tokens). */
typedef void (*tile_fn)(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r,
                        int64_t b, int nb);
typedef struct {
    tile_fn t4x1, t2x3, t1x3, t1x1;
} tile_set;

/* Token block (activations of elem bytes each, in L2) > 4-row tile row > token tile over
 * all of K. Shared by the integer- and f32-activation kernels. */
static void drive_tiles(const tile_set *ts, int64_t elem, const td_qmatrix *w, const td_act *a,
                        float *y, int64_t ldy, int64_t r0, int64_t r1)
{
    int64_t tb = token_block(a->kpad, elem, NT_MAX, a->batch);
    for (int64_t b0 = 0; b0 < a->batch; b0 += tb) {
        int64_t b1 = b0 + tb < a->batch ? b0 + tb : a->batch;
        for (int64_t r = r0; r < r1;) {
            int nr = r1 - r >= 4 ? 4 : 1;
            for (int64_t b = b0; b < b1; b += NT_MAX) {
                int nb = b1 - b >= NT_MAX ? NT_MAX : (int)(b1 - b);
                if (nr == 4 && nb == 1) {
                    ts->t4x1(w, a, y, ldy, r, b, nb);
                } else if (nr == 4) {
                    ts->t2x3(w, a, y, ldy, r, b, nb);
                    ts->t2x3(w, a, y, ldy, r + 2, b, nb);
                } else if (nb == 1) {
                    ts->t1x1(w, a, y, ldy, r, b, nb);
                } else {
                    ts->t1x3(w, a, y, ldy, r, b, nb);
                }
            }
            r += nr;
        }
    }
}

void td_gemm_int8_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                       int64_t r1)
{
    static const tile_set ts = {int_tile_4x1, int_tile_2x3, int_tile_1x3, int_tile_1x1};
    drive_tiles(&ts, 1, w, a, y, ldy, r0, r1);
}

/* ---- f32 activations ---- */

static ALWAYS_INLINE __m256 widen8(const int8_t *p, __m256i zero)
{
    __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(v, zero));
}

/* nr rows x nt tokens from (r, b) over all of K; nb <= nt tokens are real. */
static ALWAYS_INLINE void f32_tile(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                   int64_t r, int64_t b, int nb, const int nr, const int nt)
{
    const int8_t *wp[NR_MAX];
    const float *xp[NT_MAX];
    int64_t srow[NR_MAX];
    for (int i = 0; i < nr; i++) {
        wp[i] = (const int8_t *)(w->codes + (size_t)(r + i) * w->row_bytes);
        srow[i] = (r + i) / w->tile_rows * w->ngroups;
    }
    for (int j = 0; j < nt; j++)
        xp[j] = a->x + (b + (j < nb ? j : nb - 1)) * a->kpad;
    for (int64_t g = 0; g < w->ngroups; g++) {
        __m256 acc[NR_MAX][NT_MAX];
        __m256i zv[NR_MAX];
        int32_t z[NR_MAX];
        for (int i = 0; i < nr; i++) {
            z[i] = w->zeros ? w->zeros[srow[i] + g] : 0;
            zv[i] = _mm256_set1_epi32(z[i]);
            for (int j = 0; j < nt; j++)
                acc[i][j] = _mm256_setzero_ps();
        }
        int64_t k = g * w->gsize, k1 = k + w->gsize;
        for (; k + 8 <= k1; k += 8) {
            __m256 wv[NR_MAX];
            for (int i = 0; i < nr; i++)
                wv[i] = widen8(wp[i] + k, zv[i]);
            for (int j = 0; j < nt; j++) {
                __m256 xv = _mm256_loadu_ps(xp[j] + k);
                for (int i = 0; i < nr; i++)
                    acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
            }
        }
        for (int j = 0; j < nt && j < nb; j++)
            for (int i = 0; i < nr; i++) {
                float sum = hsum_ps(acc[i][j]);
                for (int64_t t = k; t < k1; t++)
                    sum = fmaf((float)(wp[i][t] - z[i]), xp[j][t], sum);
                float *yo = y + (b + j) * ldy + r + i;
                sum *= w->scales[srow[i] + g];
                *yo = g > 0 ? *yo + sum : sum;
            }
    }
}

static NOINLINE void f32_tile_4x1(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb)
{
    f32_tile(w, a, y, ldy, r, b, nb, 4, 1);
}

static NOINLINE void f32_tile_2x3(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb)
{
    f32_tile(w, a, y, ldy, r, b, nb, 2, 3);
}

static NOINLINE void f32_tile_1x3(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb)
{
    f32_tile(w, a, y, ldy, r, b, nb, 1, 3);
}

static NOINLINE void f32_tile_1x1(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                  int64_t r, int64_t b, int nb)
{
    f32_tile(w, a, y, ldy, r, b, nb, 1, 1);
}

void td_gemm_int8_f32_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                           int64_t r1)
{
    static const tile_set ts = {f32_tile_4x1, f32_tile_2x3, f32_tile_1x3, f32_tile_1x1};
    drive_tiles(&ts, 4, w, a, y, ldy, r0, r1);
}
