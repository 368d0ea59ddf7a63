/* AVX2 attention tiles: register blocks of up to 6 query rows x 16 lanes (2 ymm), 12
 * accumulators. Only f32 products: AVX2 has no instruction that beats FMA on int8 or bf16
 * pairs here, so quantized Q.K runs on the codes held as floats (exact for int8) and fp8 P.V on
 * dequantized values, through these same kernels. */
#include <immintrin.h>

#include "kernels/attention/attention_task.h"

#define TD_INLINE static inline __attribute__((always_inline))

enum { MR = 6 };

TD_INLINE void qk_f32_tile(const int R, const float *q, int64_t dp, const float *kt, int bk,
                           float *s)
{
    __m256 acc[MR][2];
    for (int r = 0; r < R; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t d = 0; d < dp; d++) {
        __m256 b0 = _mm256_loadu_ps(kt + d * bk), b1 = _mm256_loadu_ps(kt + d * bk + 8);
        for (int r = 0; r < R; r++) {
            __m256 a = _mm256_set1_ps(q[r * dp + d]);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(s + (int64_t)r * bk, acc[r][0]);
        _mm256_storeu_ps(s + (int64_t)r * bk + 8, acc[r][1]);
    }
}

static void qk_f32_avx2(const float *q, int64_t dp, int rows, const float *kt, int bk, float *s)
{
    for (int r0 = 0; r0 < rows; r0 += MR) {
        int R = rows - r0 < MR ? rows - r0 : MR;
        const float *qr = q + r0 * dp;
        for (int c0 = 0; c0 < bk; c0 += 16) {
            float *sr = s + (int64_t)r0 * bk + c0;
            switch (R) {
            case 1:
                qk_f32_tile(1, qr, dp, kt + c0, bk, sr);
                break;
            case 2:
                qk_f32_tile(2, qr, dp, kt + c0, bk, sr);
                break;
            case 3:
                qk_f32_tile(3, qr, dp, kt + c0, bk, sr);
                break;
            case 4:
                qk_f32_tile(4, qr, dp, kt + c0, bk, sr);
                break;
            case 5:
                qk_f32_tile(5, qr, dp, kt + c0, bk, sr);
                break;
            default:
                qk_f32_tile(6, qr, dp, kt + c0, bk, sr);
                break;
            }
        }
    }
}

TD_INLINE void pv_f32_tile(const int R, const float *p, int bk, const float *v, int64_t dvp,
                           const float *alpha, float *o)
{
    __m256 acc[MR][2];
    for (int r = 0; r < R; r++) {
        __m256 al = _mm256_set1_ps(alpha[r]);
        acc[r][0] = _mm256_mul_ps(_mm256_loadu_ps(o + r * dvp), al);
        acc[r][1] = _mm256_mul_ps(_mm256_loadu_ps(o + r * dvp + 8), al);
    }
    for (int x = 0; x < bk; x++) {
        __m256 b0 = _mm256_loadu_ps(v + x * dvp), b1 = _mm256_loadu_ps(v + x * dvp + 8);
        for (int r = 0; r < R; r++) {
            __m256 a = _mm256_set1_ps(p[(int64_t)r * bk + x]);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(o + r * dvp, acc[r][0]);
        _mm256_storeu_ps(o + r * dvp + 8, acc[r][1]);
    }
}

static void pv_f32_avx2(const float *p, int rows, int bk, const float *v, int64_t dvp,
                        const float *alpha, float *o)
{
    for (int r0 = 0; r0 < rows; r0 += MR) {
        int R = rows - r0 < MR ? rows - r0 : MR;
        const float *pr = p + (int64_t)r0 * bk;
        const float *al = alpha + r0;
        for (int64_t c0 = 0; c0 < dvp; c0 += 16) {
            float *orow = o + r0 * dvp + c0;
            switch (R) {
            case 1:
                pv_f32_tile(1, pr, bk, v + c0, dvp, al, orow);
                break;
            case 2:
                pv_f32_tile(2, pr, bk, v + c0, dvp, al, orow);
                break;
            case 3:
                pv_f32_tile(3, pr, bk, v + c0, dvp, al, orow);
                break;
            case 4:
                pv_f32_tile(4, pr, bk, v + c0, dvp, al, orow);
                break;
            case 5:
                pv_f32_tile(5, pr, bk, v + c0, dvp, al, orow);
                break;
            default:
                pv_f32_tile(6, pr, bk, v + c0, dvp, al, orow);
                break;
            }
        }
    }
}

/* ---- the softmax step: att_softmax_rows's operations, 16 lanes as two ymm ---- */

static inline __m256 exp2_avx2(__m256 x)
{
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 xc = _mm256_max_ps(x, _mm256_set1_ps(-127.0f));
    __m256 n = _mm256_sub_ps(_mm256_add_ps(xc, magic), magic);
    __m256 f = _mm256_sub_ps(xc, n);
    __m256 p = _mm256_set1_ps(1.5403530393381608e-4f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3333558146428443e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.6181291076284772e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5504108664821580e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4022650695910071e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.9314718055994531e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
}

static inline __m256 e4m3_pos_avx2(__m256 x)
{
    __m256i u = _mm256_castps_si256(x);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 20), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7ffff)), odd);
    r = _mm256_and_si256(r, _mm256_set1_epi32((int32_t)0xfff00000u));
    const __m256 c = _mm256_set1_ps(16384.0f);
    __m256 sub = _mm256_sub_ps(_mm256_add_ps(x, c), c);
    __m256 small = _mm256_cmp_ps(x, _mm256_set1_ps(0.015625f), _CMP_LT_OQ);
    return _mm256_blendv_ps(_mm256_castsi256_ps(r), sub, small);
}

/* The lane trees of att_lanes_max / att_lanes_sum over lanes lo (0..7) and hi (8..15). */
static inline float max16(__m256 lo, __m256 hi)
{
    __m256 a = _mm256_max_ps(hi, lo);
    __m128 b = _mm_max_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
    b = _mm_max_ps(_mm_movehl_ps(b, b), b);
    b = _mm_max_ss(_mm_shuffle_ps(b, b, 1), b);
    return _mm_cvtss_f32(b);
}

static inline float sum16(__m256 lo, __m256 hi)
{
    __m256 a = _mm256_add_ps(hi, lo);
    __m128 b = _mm_add_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
    b = _mm_add_ps(_mm_movehl_ps(b, b), b);
    b = _mm_add_ss(_mm_shuffle_ps(b, b, 1), b);
    return _mm_cvtss_f32(b);
}

static void softmax_avx2(const att_job *j, int rows, float *s, att_buf *buf)
{
    const int bk = j->bk;
    const int quant = j->pv == TD_ATTN_PV_FP8;
    for (int r = 0; r < rows; r++) {
        const float *sr = s + (int64_t)r * bk;
        __m256 lo = _mm256_loadu_ps(sr), hi = _mm256_loadu_ps(sr + 8);
        for (int k = 16; k < bk; k += 16) {
            lo = _mm256_max_ps(_mm256_loadu_ps(sr + k), lo);
            hi = _mm256_max_ps(_mm256_loadu_ps(sr + k + 8), hi);
        }
        float mx = max16(lo, hi);
        buf->shift[r] = buf->m[r] > mx ? buf->m[r] : mx;
    }
    att_softmax_alpha(rows, buf);
    const __m256 p_scale = _mm256_set1_ps(ATT_P_SCALE);
    for (int r = 0; r < rows; r++) {
        float *sr = s + (int64_t)r * bk;
        const __m256 sh = _mm256_set1_ps(buf->shift[r]);
        __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
        for (int k = 0; k < bk; k += 16) {
            __m256 p0 = exp2_avx2(_mm256_sub_ps(_mm256_loadu_ps(sr + k), sh));
            __m256 p1 = exp2_avx2(_mm256_sub_ps(_mm256_loadu_ps(sr + k + 8), sh));
            if (quant) {
                p0 = e4m3_pos_avx2(_mm256_mul_ps(p0, p_scale));
                p1 = e4m3_pos_avx2(_mm256_mul_ps(p1, p_scale));
            }
            _mm256_storeu_ps(sr + k, p0);
            _mm256_storeu_ps(sr + k + 8, p1);
            lo = _mm256_add_ps(lo, p0);
            hi = _mm256_add_ps(hi, p1);
        }
        float tot = sum16(lo, hi);
        if (quant)
            tot *= 1.0f / ATT_P_SCALE;
        buf->l[r] = buf->l[r] * buf->alpha[r] + tot;
    }
}

static const att_kernels avx2_kernels = {qk_f32_avx2, NULL, NULL,        pv_f32_avx2,
                                         NULL,        NULL, softmax_avx2};

static void task_avx2(const att_job *j, int64_t t, att_buf *b)
{
    att_task(j, t, b, &avx2_kernels);
}

static void kmean_avx2(const att_job *j, int64_t bh)
{
    att_kmean(j, bh);
}

static void pack_kv_avx2(const att_job *j, int64_t bh, int64_t kt, void *stage)
{
    att_pack_k(j, bh, kt, stage);
    att_pack_v(j, bh, kt);
}

/* att_absmax with intrinsics (the compiler left the lane loop scalar): the input checks read
 * every element of Q, K and V on each call. */
static float absmax_avx2(const float *x, int64_t rows, int64_t ld, int64_t n, int *nan)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 mx = _mm256_setzero_ps(), chk = _mm256_setzero_ps();
    float m = 0.0f, c = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 y = _mm256_loadu_ps(row + i);
            mx = _mm256_max_ps(_mm256_andnot_ps(sign, y), mx);
            chk = _mm256_add_ps(chk, _mm256_sub_ps(y, y));
        }
        for (; i < n; i++) {
            float a = fabsf(row[i]);
            m = a > m ? a : m;
            c += row[i] - row[i];
        }
    }
    float lanes[8], checks[8];
    _mm256_storeu_ps(lanes, mx);
    _mm256_storeu_ps(checks, chk);
    for (int l = 0; l < 8; l++) {
        m = lanes[l] > m ? lanes[l] : m;
        c += checks[l];
    }
    if (c != 0.0f)
        *nan = 1;
    return m;
}

const att_isa td_att_isa_avx2 = {task_avx2, kmean_avx2, pack_kv_avx2, absmax_avx2};
