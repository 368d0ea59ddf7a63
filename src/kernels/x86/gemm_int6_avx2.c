/* int6 kernels for AVX2 + FMA. Semantics: kernels/lowbit_kernels.h; structure as in
 * gemm_int6_avx512.c with 8 rows per block. The two-bit pair of quarter qi moves to
 * bits 4..5 with a 16-bit shift left by 4 - 2*qi (or right by 2 for qi = 3) and a
 * mask; bits shifted in from the neighbouring byte land outside 0x30. */
#include <immintrin.h>
#include <string.h>

#include "kernels/lowbit_kernels.h"

#define TD_AI static inline __attribute__((always_inline))

enum { GEMV_MAX_BATCH = 8, GCH = 128 }; /* batch limit: measured crossover with the panels */

TD_AI int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Shift counts that move bit pair qi of each byte to bits 4..5. */
TD_AI __m128i left_count(int64_t qi)
{
    return _mm_cvtsi32_si128(qi < 2 ? (int)(4 - 2 * qi) : 0);
}
TD_AI __m128i right_count(int64_t qi)
{
    return _mm_cvtsi32_si128(qi > 2 ? (int)(2 * qi - 4) : 0);
}

static void int6_decode(const td_qmatrix *w, int64_t r, int64_t k0, int64_t n, uint8_t *u)
{
    const int64_t gs = w->gsize, h = gs / 2, qtr = gs / 4, gb = qtr * 3;
    const uint8_t *grp = w->codes + r * w->row_bytes + k0 / gs * gb;
    const __m128i m0f = _mm_set1_epi8(0x0F), m30 = _mm_set1_epi8(0x30);
    int64_t o = k0 % gs;                 /* position inside the current group */
    int64_t qi = o / qtr, qs = qi * qtr; /* quarter of o and its start */
    for (int64_t done = 0; done < n;) {  /* pieces inside one quarter, multiples of 8 */
        int high = o >= h;
        int64_t len = min64(qtr - (o - qs), n - done);
        const uint8_t *nib = grp + (high ? o - h : o);
        const uint8_t *two = grp + h + (o - qs);
        __m128i lc = left_count(qi), rc = right_count(qi);
        uint8_t *dst = u + done;
        for (int64_t j = 0; j < len;) {
            int wide = len - j >= 16;
            __m128i v = wide ? _mm_loadu_si128((const __m128i *)(nib + j))
                             : _mm_loadl_epi64((const __m128i *)(nib + j));
            __m128i t = wide ? _mm_loadu_si128((const __m128i *)(two + j))
                             : _mm_loadl_epi64((const __m128i *)(two + j));
            v = _mm_and_si128(high ? _mm_srli_epi16(v, 4) : v, m0f);
            t = _mm_and_si128(_mm_srl_epi16(_mm_sll_epi16(t, lc), rc), m30);
            v = _mm_or_si128(v, t);
            if (wide)
                _mm_storeu_si128((__m128i *)(dst + j), v);
            else
                _mm_storel_epi64((__m128i *)(dst + j), v);
            j += wide ? 16 : 8;
        }
        done += len;
        o += len;
        if (o == qs + qtr) { /* next quarter */
            qi++;
            qs += qtr;
        }
        if (o == gs) {
            o = 0;
            grp += gb;
            qi = 0;
            qs = 0;
        }
    }
}

TD_AI void reduce8_lanes(const __m256i p[8], __m256i v[2])
{
    __m256i q[4], u[2];
    for (int i = 0; i < 4; i++)
        q[i] = _mm256_add_epi32(_mm256_unpacklo_epi32(p[2 * i], p[2 * i + 1]),
                                _mm256_unpackhi_epi32(p[2 * i], p[2 * i + 1]));
    for (int i = 0; i < 2; i++)
        u[i] = _mm256_add_epi32(_mm256_unpacklo_epi64(q[2 * i], q[2 * i + 1]),
                                _mm256_unpackhi_epi64(q[2 * i], q[2 * i + 1]));
    v[0] = _mm256_permute2x128_si256(u[0], u[1], 0x20);
    v[1] = _mm256_permute2x128_si256(u[0], u[1], 0x31);
}

/* Sequential L2 prefetch of the block after next (see gemm_int4_avx512.c): a step
 * consumes 8 rows x 48 code bytes, so it requests 6 lines of codes and 1 of scales. */
typedef struct prefetcher {
    const char *code, *scale; /* bases; offsets below stay integers, never wild pointers */
    int64_t p, end, sp, send;
} prefetcher;

TD_AI prefetcher next_block(const td_qmatrix *w, int64_t rb, int64_t r1, int on)
{
    prefetcher pf = {(const char *)w->codes, (const char *)w->scales, 0, 0, 0, 0};
    if (on && rb + 16 < r1) {
        int64_t n0 = rb + 16, n1 = min64(r1, rb + 24);
        pf.p = n0 * (int64_t)w->row_bytes;
        pf.end = n1 * (int64_t)w->row_bytes;
        pf.sp = n0 / w->tile_rows * w->ngroups * (int64_t)sizeof(float);
        pf.send = ((n1 - 1) / w->tile_rows + 1) * w->ngroups * (int64_t)sizeof(float);
    }
    return pf;
}

TD_AI void prefetch_line(const prefetcher *pf, int i)
{
    if (i < 6 && pf->p + 64 * i < pf->end)
        _mm_prefetch(pf->code + pf->p + 64 * i, _MM_HINT_T1);
    if (i == 6 && pf->sp < pf->send)
        _mm_prefetch(pf->scale + pf->sp, _MM_HINT_T1);
}

/* Groups that are multiples of 128 codes: 32 nibble bytes per step; the 32 low and the
 * 32 high nibbles each form one run of 32 elements inside one quarter. */
static void int6_gemv(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1)
{
    const int64_t gs = w->gsize, h = gs / 2, qtr = gs / 4, gb = 3 * qtr, ng = w->ngroups;
    const __m256i m0f = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    const __m256i ones = _mm256_set1_epi16(1);
    float sc[GCH][8] __attribute__((aligned(32)));
    for (int64_t rb = r0; rb < r1; rb += 8) {
        int nr = (int)min64(8, r1 - rb);
        const uint8_t *row[8];
        int64_t ridx[8];
        for (int i = 0; i < 8; i++) {
            ridx[i] = rb + (i < nr ? i : nr - 1);
            row[i] = w->codes + ridx[i] * w->row_bytes;
        }
        for (int64_t b = 0; b < a->batch; b++) {
            const int8_t *x = a->q + b * a->kpad;
            const int32_t *gsum = a->gsum + b * ng;
            __m256 yv = _mm256_setzero_ps();
            prefetcher pf = next_block(w, rb, r1, b == 0);
            for (int64_t g0 = 0; g0 < ng; g0 += GCH) {
                int64_t g1 = min64(ng, g0 + GCH);
                for (int i = 0; i < 8; i++) {
                    const float *s = w->scales + (ridx[i] / w->tile_rows) * ng;
                    for (int64_t g = g0; g < g1; g++)
                        sc[g - g0][i] = s[g];
                }
                for (int64_t g = g0; g < g1; g++) {
                    __m256i p[8];
                    for (int i = 0; i < 8; i++)
                        p[i] = _mm256_setzero_si256();
                    const int8_t *xg = x + g * gs;
                    /* quarter and offset of the 32-code runs of the low and high nibbles,
                     * stepped without dividing */
                    int64_t qa = 0, ra0 = 0, qb = 2, rb0 = 0;
                    for (int64_t c = 0; c < h; c += 32) {
                        int64_t offa = h + ra0, offb = h + rb0;
                        __m128i la = left_count(qa), ra = right_count(qa);
                        __m128i lb = left_count(qb), rb2 = right_count(qb);
                        __m256i xa = _mm256_loadu_si256((const __m256i *)(xg + c));
                        __m256i xb = _mm256_loadu_si256((const __m256i *)(xg + h + c));
                        for (int i = 0; i < 8; i++) {
                            prefetch_line(&pf, i);
                            const uint8_t *grp = row[i] + g * gb;
                            __m256i v = _mm256_loadu_si256((const __m256i *)(grp + c));
                            __m256i ta = _mm256_loadu_si256((const __m256i *)(grp + offa));
                            __m256i tb = _mm256_loadu_si256((const __m256i *)(grp + offb));
                            ta = _mm256_and_si256(_mm256_srl_epi16(_mm256_sll_epi16(ta, la), ra),
                                                  m30);
                            tb = _mm256_and_si256(_mm256_srl_epi16(_mm256_sll_epi16(tb, lb), rb2),
                                                  m30);
                            __m256i lo = _mm256_or_si256(_mm256_and_si256(v, m0f), ta);
                            __m256i hi =
                                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m0f), tb);
                            __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xa),
                                                           _mm256_maddubs_epi16(hi, xb));
                            p[i] = _mm256_add_epi32(p[i], _mm256_madd_epi16(s16, ones));
                        }
                        pf.p += 6 * 64;
                        pf.sp += 64;
                        if ((ra0 += 32) == qtr) {
                            ra0 = 0;
                            qa++;
                        }
                        if ((rb0 += 32) == qtr) {
                            rb0 = 0;
                            qb++;
                        }
                    }
                    __m256i v2[2];
                    reduce8_lanes(p, v2);
                    __m256i t = _mm256_sub_epi32(_mm256_add_epi32(v2[0], v2[1]),
                                                 _mm256_set1_epi32(32 * gsum[g]));
                    yv = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_load_ps(sc[g - g0]), yv);
                }
            }
            yv = _mm256_mul_ps(yv, _mm256_set1_ps(a->scale[b]));
            if (nr == 8) {
                _mm256_storeu_ps(y + b * ldy + rb, yv);
            } else {
                float tmp[8];
                _mm256_storeu_ps(tmp, yv);
                memcpy(y + b * ldy + rb, tmp, (size_t)nr * sizeof(float));
            }
        }
    }
}

void td_gemm_int6_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                       int64_t r1)
{
    if (a->type == TD_ACT_F32)
        td_lowbit_f32_avx2(w, a, y, ldy, r0, r1, int6_decode, 32);
    else if (a->batch <= GEMV_MAX_BATCH && w->gsize % 128 == 0)
        int6_gemv(w, a, y, ldy, r0, r1);
    else
        td_lowbit_panels_avx2(w, a, y, ldy, r0, r1, int6_decode, 32);
}
