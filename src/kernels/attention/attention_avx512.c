/* AVX-512 attention tiles: register blocks of up to 6 query rows x 64 lanes (4 zmm).
 *
 * Q.K puts keys in the lanes: per channel (f32), channel quad (VNNI) or channel pair (BF16)
 * one load per 16 keys of the packed K tile, and one broadcast of the query value per row,
 * so 24 accumulators do 24 FMA-type instructions per 4 loads and 6 broadcasts. P.V puts the
 * value channels in the lanes and broadcasts one probability (or a bf16 pair of them) per row
 * and key. int8 Q.K uses vpdpbusd (64 MACs per instruction against 16 for f32 FMA) and fp8
 * uses vdpbf16ps on the exact bf16 images of E4M3 values (32 MACs); both products are exact,
 * int8 sums are exact too. */
#include <immintrin.h>

#include "kernels/attention/attention_task.h"

#define TD_INLINE static inline __attribute__((always_inline))

enum { MR = 6 };

/* ---- f32 Q.K ---- */

TD_INLINE void qk_f32_tile(const int R, const int NC, const float *q, int64_t dp, const float *kt,
                           int bk, float *s)
{
    __m512 acc[MR][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < NC; c++)
            acc[r][c] = _mm512_setzero_ps();
    for (int64_t d = 0; d < dp; d++) {
        __m512 b[4];
        for (int c = 0; c < NC; c++)
            b[c] = _mm512_loadu_ps(kt + d * bk + 16 * c);
        for (int r = 0; r < R; r++) {
            __m512 a = _mm512_set1_ps(q[r * dp + d]);
            for (int c = 0; c < NC; c++)
                acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < NC; c++)
            _mm512_storeu_ps(s + (int64_t)r * bk + 16 * c, acc[r][c]);
}

TD_INLINE void qk_f32_rows(const int NC, int R, const float *q, int64_t dp, const float *kt, int bk,
                           float *s)
{
    switch (R) {
    case 1:
        qk_f32_tile(1, NC, q, dp, kt, bk, s);
        break;
    case 2:
        qk_f32_tile(2, NC, q, dp, kt, bk, s);
        break;
    case 3:
        qk_f32_tile(3, NC, q, dp, kt, bk, s);
        break;
    case 4:
        qk_f32_tile(4, NC, q, dp, kt, bk, s);
        break;
    case 5:
        qk_f32_tile(5, NC, q, dp, kt, bk, s);
        break;
    default:
        qk_f32_tile(6, NC, q, dp, kt, bk, s);
        break;
    }
}

static void qk_f32_avx512(const float *q, int64_t dp, int rows, const float *kt, int bk, float *s)
{
    for (int r0 = 0; r0 < rows; r0 += MR) {
        int R = rows - r0 < MR ? rows - r0 : MR;
        const float *qr = q + r0 * dp;
        float *sr = s + (int64_t)r0 * bk;
        for (int c0 = 0; c0 < bk; c0 += 64) {
            switch ((bk - c0) / 16) {
            case 1:
                qk_f32_rows(1, R, qr, dp, kt + c0, bk, sr + c0);
                break;
            case 2:
                qk_f32_rows(2, R, qr, dp, kt + c0, bk, sr + c0);
                break;
            case 3:
                qk_f32_rows(3, R, qr, dp, kt + c0, bk, sr + c0);
                break;
            default:
                qk_f32_rows(4, R, qr, dp, kt + c0, bk, sr + c0);
                break;
            }
        }
    }
}

/* ---- int8 Q.K (VNNI) ---- */

/* acc += u8 lanes of x times the signed dword at p broadcast ({1to16} memory operand). GCC 12
 * treats the intrinsics' accumulator as a separate input and copies it around every
 * instruction (see kernels/x86/gemm_int8_avx512.c); the asm ties it to the output. */
TD_INLINE __m512i dpbusd_bcast(__m512i acc, __m512i x, const void *p)
{
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(x), "m"(*(const int32_t *)p));
    return acc;
}

TD_INLINE void qk_vnni_tile(const int R, const int NC, const int8_t *q, int64_t dp,
                            const uint8_t *kp, int bk, const int32_t *qcorr, float f, float *s)
{
    __m512i acc[MR][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < NC; c++)
            acc[r][c] = _mm512_setzero_si512();
    for (int64_t d4 = 0; d4 < dp / 4; d4++) {
        __m512i b[4];
        for (int c = 0; c < NC; c++)
            b[c] = _mm512_loadu_si512(kp + d4 * bk * 4 + 64 * c);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < NC; c++)
                acc[r][c] = dpbusd_bcast(acc[r][c], b[c], q + r * dp + 4 * d4);
    }
    __m512 fv = _mm512_set1_ps(f);
    for (int r = 0; r < R; r++) {
        __m512i qc = _mm512_set1_epi32(qcorr[r]);
        for (int c = 0; c < NC; c++) {
            __m512 x = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][c], qc));
            _mm512_storeu_ps(s + (int64_t)r * bk + 16 * c, _mm512_mul_ps(x, fv));
        }
    }
}

TD_INLINE void qk_vnni_rows(const int NC, int R, const int8_t *q, int64_t dp, const uint8_t *kp,
                            int bk, const int32_t *qcorr, float f, float *s)
{
    switch (R) {
    case 1:
        qk_vnni_tile(1, NC, q, dp, kp, bk, qcorr, f, s);
        break;
    case 2:
        qk_vnni_tile(2, NC, q, dp, kp, bk, qcorr, f, s);
        break;
    case 3:
        qk_vnni_tile(3, NC, q, dp, kp, bk, qcorr, f, s);
        break;
    case 4:
        qk_vnni_tile(4, NC, q, dp, kp, bk, qcorr, f, s);
        break;
    case 5:
        qk_vnni_tile(5, NC, q, dp, kp, bk, qcorr, f, s);
        break;
    default:
        qk_vnni_tile(6, NC, q, dp, kp, bk, qcorr, f, s);
        break;
    }
}

static void qk_vnni_avx512(const int8_t *q, int64_t dp, int rows, const uint8_t *kp, int bk,
                           const int32_t *qcorr, float f, float *s)
{
    for (int r0 = 0; r0 < rows; r0 += MR) {
        int R = rows - r0 < MR ? rows - r0 : MR;
        const int8_t *qr = q + r0 * dp;
        const int32_t *qc = qcorr + r0;
        float *sr = s + (int64_t)r0 * bk;
        for (int c0 = 0; c0 < bk; c0 += 64) {
            const uint8_t *kc = kp + c0 * 4;
            switch ((bk - c0) / 16) {
            case 1:
                qk_vnni_rows(1, R, qr, dp, kc, bk, qc, f, sr + c0);
                break;
            case 2:
                qk_vnni_rows(2, R, qr, dp, kc, bk, qc, f, sr + c0);
                break;
            case 3:
                qk_vnni_rows(3, R, qr, dp, kc, bk, qc, f, sr + c0);
                break;
            default:
                qk_vnni_rows(4, R, qr, dp, kc, bk, qc, f, sr + c0);
                break;
            }
        }
    }
}

/* ---- fp8 Q.K (BF16 pairs) ---- */

/* acc += bf16 pairs of x times the pair at p broadcast; asm for the same reason as above. */
TD_INLINE __m512 dpbf16_bcast(__m512 acc, __m512i x, const void *p)
{
    __asm__("vdpbf16ps %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(x), "m"(*(const int32_t *)p));
    return acc;
}

TD_INLINE void qk_bf16_tile(const int R, const int NC, const uint16_t *q, int64_t dp,
                            const uint16_t *kp, int bk, float f, float *s)
{
    __m512 acc[MR][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < NC; c++)
            acc[r][c] = _mm512_setzero_ps();
    for (int64_t d2 = 0; d2 < dp / 2; d2++) {
        __m512i b[4];
        for (int c = 0; c < NC; c++)
            b[c] = _mm512_loadu_si512(kp + d2 * bk * 2 + 32 * c);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < NC; c++)
                acc[r][c] = dpbf16_bcast(acc[r][c], b[c], q + r * dp + 2 * d2);
    }
    __m512 fv = _mm512_set1_ps(f);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < NC; c++)
            _mm512_storeu_ps(s + (int64_t)r * bk + 16 * c, _mm512_mul_ps(acc[r][c], fv));
}

TD_INLINE void qk_bf16_rows(const int NC, int R, const uint16_t *q, int64_t dp, const uint16_t *kp,
                            int bk, float f, float *s)
{
    switch (R) {
    case 1:
        qk_bf16_tile(1, NC, q, dp, kp, bk, f, s);
        break;
    case 2:
        qk_bf16_tile(2, NC, q, dp, kp, bk, f, s);
        break;
    case 3:
        qk_bf16_tile(3, NC, q, dp, kp, bk, f, s);
        break;
    case 4:
        qk_bf16_tile(4, NC, q, dp, kp, bk, f, s);
        break;
    case 5:
        qk_bf16_tile(5, NC, q, dp, kp, bk, f, s);
        break;
    default:
        qk_bf16_tile(6, NC, q, dp, kp, bk, f, s);
        break;
    }
}

static void qk_bf16_avx512(const uint16_t *q, int64_t dp, int rows, const uint16_t *kp, int bk,
                           float f, float *s)
{
    for (int r0 = 0; r0 < rows; r0 += MR) {
        int R = rows - r0 < MR ? rows - r0 : MR;
        const uint16_t *qr = q + r0 * dp;
        float *sr = s + (int64_t)r0 * bk;
        for (int c0 = 0; c0 < bk; c0 += 64) {
            const uint16_t *kc = kp + c0 * 2;
            switch ((bk - c0) / 16) {
            case 1:
                qk_bf16_rows(1, R, qr, dp, kc, bk, f, sr + c0);
                break;
            case 2:
                qk_bf16_rows(2, R, qr, dp, kc, bk, f, sr + c0);
                break;
            case 3:
                qk_bf16_rows(3, R, qr, dp, kc, bk, f, sr + c0);
                break;
            default:
                qk_bf16_rows(4, R, qr, dp, kc, bk, f, sr + c0);
                break;
            }
        }
    }
}

/* ---- f32 P.V ---- */

TD_INLINE void pv_f32_tile(const int R, const int NC, const float *p, int bk, const float *v,
                           int64_t dvp, const float *alpha, float *o)
{
    __m512 acc[MR][4];
    for (int r = 0; r < R; r++) {
        __m512 al = _mm512_set1_ps(alpha[r]);
        for (int c = 0; c < NC; c++)
            acc[r][c] = _mm512_mul_ps(_mm512_loadu_ps(o + r * dvp + 16 * c), al);
    }
    for (int x = 0; x < bk; x++) {
        __m512 b[4];
        for (int c = 0; c < NC; c++)
            b[c] = _mm512_loadu_ps(v + x * dvp + 16 * c);
        for (int r = 0; r < R; r++) {
            __m512 a = _mm512_set1_ps(p[(int64_t)r * bk + x]);
            for (int c = 0; c < NC; c++)
                acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < NC; c++)
            _mm512_storeu_ps(o + r * dvp + 16 * c, acc[r][c]);
}

TD_INLINE void pv_f32_rows(const int NC, int R, const float *p, int bk, const float *v, int64_t dvp,
                           const float *alpha, float *o)
{
    switch (R) {
    case 1:
        pv_f32_tile(1, NC, p, bk, v, dvp, alpha, o);
        break;
    case 2:
        pv_f32_tile(2, NC, p, bk, v, dvp, alpha, o);
        break;
    case 3:
        pv_f32_tile(3, NC, p, bk, v, dvp, alpha, o);
        break;
    case 4:
        pv_f32_tile(4, NC, p, bk, v, dvp, alpha, o);
        break;
    case 5:
        pv_f32_tile(5, NC, p, bk, v, dvp, alpha, o);
        break;
    default:
        pv_f32_tile(6, NC, p, bk, v, dvp, alpha, o);
        break;
    }
}

static void pv_f32_avx512(const float *p, int rows, int bk, const float *v, int64_t dvp,
                          const float *alpha, float *o)
{
    for (int r0 = 0; r0 < rows; r0 += MR) {
        int R = rows - r0 < MR ? rows - r0 : MR;
        const float *pr = p + (int64_t)r0 * bk;
        float *orow = o + r0 * dvp;
        for (int64_t c0 = 0; c0 < dvp; c0 += 64) {
            switch ((dvp - c0) / 16) {
            case 1:
                pv_f32_rows(1, R, pr, bk, v + c0, dvp, alpha + r0, orow + c0);
                break;
            case 2:
                pv_f32_rows(2, R, pr, bk, v + c0, dvp, alpha + r0, orow + c0);
                break;
            case 3:
                pv_f32_rows(3, R, pr, bk, v + c0, dvp, alpha + r0, orow + c0);
                break;
            default:
                pv_f32_rows(4, R, pr, bk, v + c0, dvp, alpha + r0, orow + c0);
                break;
            }
        }
    }
}

/* ---- fp8 P.V (BF16 pairs of keys) ---- */

TD_INLINE void pv_bf16_tile(const int R, const int NC, const uint32_t *p2, int bk,
                            const uint16_t *vp, int64_t dvp, const float *alpha, const float *vs,
                            float *o)
{
    __m512 acc[MR][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < NC; c++)
            acc[r][c] = _mm512_setzero_ps();
    const int half = bk / 2;
    for (int m = 0; m < half; m++) {
        __m512i b[4];
        for (int c = 0; c < NC; c++)
            b[c] = _mm512_loadu_si512(vp + (m * dvp + 16 * c) * 2);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < NC; c++)
                acc[r][c] = dpbf16_bcast(acc[r][c], b[c], p2 + (int64_t)r * half + m);
    }
    for (int c = 0; c < NC; c++) {
        __m512 sc = _mm512_loadu_ps(vs + 16 * c);
        for (int r = 0; r < R; r++) {
            __m512 old =
                _mm512_mul_ps(_mm512_loadu_ps(o + r * dvp + 16 * c), _mm512_set1_ps(alpha[r]));
            _mm512_storeu_ps(o + r * dvp + 16 * c, _mm512_fmadd_ps(acc[r][c], sc, old));
        }
    }
}

TD_INLINE void pv_bf16_rows(const int NC, int R, const uint32_t *p2, int bk, const uint16_t *vp,
                            int64_t dvp, const float *alpha, const float *vs, float *o)
{
    switch (R) {
    case 1:
        pv_bf16_tile(1, NC, p2, bk, vp, dvp, alpha, vs, o);
        break;
    case 2:
        pv_bf16_tile(2, NC, p2, bk, vp, dvp, alpha, vs, o);
        break;
    case 3:
        pv_bf16_tile(3, NC, p2, bk, vp, dvp, alpha, vs, o);
        break;
    case 4:
        pv_bf16_tile(4, NC, p2, bk, vp, dvp, alpha, vs, o);
        break;
    case 5:
        pv_bf16_tile(5, NC, p2, bk, vp, dvp, alpha, vs, o);
        break;
    default:
        pv_bf16_tile(6, NC, p2, bk, vp, dvp, alpha, vs, o);
        break;
    }
}

static void pv_bf16_avx512(const uint32_t *p2, int rows, int bk, const uint16_t *vp, int64_t dvp,
                           const float *alpha, const float *vs, float *o)
{
    for (int r0 = 0; r0 < rows; r0 += MR) {
        int R = rows - r0 < MR ? rows - r0 : MR;
        const uint32_t *pr = p2 + (int64_t)r0 * (bk / 2);
        float *orow = o + r0 * dvp;
        for (int64_t c0 = 0; c0 < dvp; c0 += 64) {
            const uint16_t *vc = vp + c0 * 2;
            const float *al = alpha + r0;
            switch ((dvp - c0) / 16) {
            case 1:
                pv_bf16_rows(1, R, pr, bk, vc, dvp, al, vs + c0, orow + c0);
                break;
            case 2:
                pv_bf16_rows(2, R, pr, bk, vc, dvp, al, vs + c0, orow + c0);
                break;
            case 3:
                pv_bf16_rows(3, R, pr, bk, vc, dvp, al, vs + c0, orow + c0);
                break;
            default:
                pv_bf16_rows(4, R, pr, bk, vc, dvp, al, vs + c0, orow + c0);
                break;
            }
        }
    }
}

/* E4M3 probabilities are exact in bf16, so the rounding conversion is exact; consecutive
 * probabilities land in consecutive bf16 slots, which is the pair layout pv_bf16 reads. */
static void pack_p2_avx512(int rows, int bk, const float *s, uint32_t *p2)
{
    for (int r = 0; r < rows; r++) {
        const float *sr = s + (int64_t)r * bk;
        uint32_t *pr = p2 + (int64_t)r * (bk / 2);
        for (int k = 0; k < bk; k += 32) {
            __m512 lo = _mm512_loadu_ps(sr + k);
            __m512 hi = k + 16 < bk ? _mm512_loadu_ps(sr + k + 16) : _mm512_setzero_ps();
            __m512bh b = _mm512_cvtne2ps_pbh(hi, lo);
            if (k + 16 >= bk)
                _mm256_storeu_si256((__m256i *)(pr + k / 2), _mm512_castsi512_si256((__m512i)b));
            else
                _mm512_storeu_si512(pr + k / 2, (__m512i)b);
        }
    }
}

/* ---- the softmax step: att_softmax_rows's operations, 16 lanes per zmm ---- */

static inline __m512 exp2_avx512(__m512 x)
{
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 xc = _mm512_max_ps(x, _mm512_set1_ps(-127.0f));
    __m512 n = _mm512_sub_ps(_mm512_add_ps(xc, magic), magic);
    __m512 f = _mm512_sub_ps(xc, n);
    __m512 p = _mm512_set1_ps(1.5403530393381608e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291076284772e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504108664821580e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650695910071e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718055994531e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32(e, 23)));
}

static inline __m512 e4m3_pos_avx512(__m512 x)
{
    __m512i u = _mm512_castps_si512(x);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 20), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7ffff)), odd);
    r = _mm512_and_si512(r, _mm512_set1_epi32((int32_t)0xfff00000u));
    const __m512 c = _mm512_set1_ps(16384.0f);
    __m512 sub = _mm512_sub_ps(_mm512_add_ps(x, c), c);
    __mmask16 small = _mm512_cmp_ps_mask(x, _mm512_set1_ps(0.015625f), _CMP_LT_OQ);
    return _mm512_mask_blend_ps(small, _mm512_castsi512_ps(r), sub);
}

/* The lane trees of att_lanes_max / att_lanes_sum: lanes x and x + 8, then x + 4, x + 2, x + 1
 * (max as "a > b ? a : b" with a the upper lane, which is what vmaxps computes). */
static inline float max16(__m512 v)
{
    __m256 a = _mm256_max_ps(_mm512_extractf32x8_ps(v, 1), _mm512_castps512_ps256(v));
    __m128 b = _mm_max_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
    b = _mm_max_ps(_mm_movehl_ps(b, b), b);
    b = _mm_max_ss(_mm_shuffle_ps(b, b, 1), b);
    return _mm_cvtss_f32(b);
}

static inline float sum16(__m512 v)
{
    __m256 a = _mm256_add_ps(_mm512_extractf32x8_ps(v, 1), _mm512_castps512_ps256(v));
    __m128 b = _mm_add_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
    b = _mm_add_ps(_mm_movehl_ps(b, b), b);
    b = _mm_add_ss(_mm_shuffle_ps(b, b, 1), b);
    return _mm_cvtss_f32(b);
}

static void softmax_avx512(const att_job *j, int rows, float *s, att_buf *buf)
{
    const int bk = j->bk;
    const int quant = j->pv == TD_ATTN_PV_FP8;
    for (int r = 0; r < rows; r++) {
        const float *sr = s + (int64_t)r * bk;
        __m512 lane = _mm512_loadu_ps(sr);
        for (int k = 16; k < bk; k += 16)
            lane = _mm512_max_ps(_mm512_loadu_ps(sr + k), lane);
        float mx = max16(lane);
        buf->shift[r] = buf->m[r] > mx ? buf->m[r] : mx;
    }
    att_softmax_alpha(rows, buf);
    const __m512 p_scale = _mm512_set1_ps(ATT_P_SCALE);
    for (int r = 0; r < rows; r++) {
        float *sr = s + (int64_t)r * bk;
        const __m512 sh = _mm512_set1_ps(buf->shift[r]);
        __m512 sum = _mm512_setzero_ps();
        for (int k = 0; k < bk; k += 16) {
            __m512 p = exp2_avx512(_mm512_sub_ps(_mm512_loadu_ps(sr + k), sh));
            if (quant)
                p = e4m3_pos_avx512(_mm512_mul_ps(p, p_scale));
            _mm512_storeu_ps(sr + k, p);
            sum = _mm512_add_ps(sum, p);
        }
        float tot = sum16(sum);
        if (quant)
            tot *= 1.0f / ATT_P_SCALE;
        buf->l[r] = buf->l[r] * buf->alpha[r] + tot;
    }
}

static const att_kernels avx512_kernels = {qk_f32_avx512, qk_vnni_avx512, qk_bf16_avx512,
                                           pv_f32_avx512, pv_bf16_avx512, pack_p2_avx512,
                                           softmax_avx512};

static void task_avx512(const att_job *j, int64_t t, att_buf *b)
{
    att_task(j, t, b, &avx512_kernels);
}

static void kmean_avx512(const att_job *j, int64_t bh)
{
    att_kmean(j, bh);
}

static void pack_kv_avx512(const att_job *j, int64_t bh, int64_t kt, void *stage)
{
    att_pack_k(j, bh, kt, stage);
    att_pack_v(j, bh, kt);
}

/* att_absmax with intrinsics (the compiler left the lane loop scalar): the input checks read
 * every element of Q, K and V on each call. */
static float absmax_avx512(const float *x, int64_t rows, int64_t ld, int64_t n, int *nan)
{
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 mx = _mm512_setzero_ps(), chk = _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        for (int64_t i = 0; i < n; i += 16) {
            __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
            __m512 y = _mm512_maskz_loadu_ps(k, row + i);
            mx = _mm512_max_ps(_mm512_andnot_ps(sign, y), mx);
            chk = _mm512_add_ps(chk, _mm512_sub_ps(y, y));
        }
    }
    if (_mm512_reduce_add_ps(chk) != 0.0f)
        *nan = 1;
    return _mm512_reduce_max_ps(mx);
}

const att_isa td_att_isa_avx512 = {task_avx512, kmean_avx512, pack_kv_avx512, absmax_avx512};
