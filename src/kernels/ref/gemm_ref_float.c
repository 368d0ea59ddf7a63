/* Scalar references for float weights (bf16, f16, fp8 E4M3/E5M2) with f32 activations.
 *
 * They decode the stored codes with the exact scalar conversions and accumulate in
 * double: for row r and token b, y = sum over scale groups g of scale(r, g) * (sum of
 * value(code) * x over the group), rounded to f32 once at the end. The vector kernels
 * compute the same sum in f32 and are tested against this within a rounding bound. */
#include <string.h>

#include "kernels/float_kernels.h"

/* Decodes n codes of a row, starting at element k, into doubles. */
typedef void (*decode_fn)(const uint8_t *row, int64_t k, int64_t n, double *out);

static void decode_bf16(const uint8_t *row, int64_t k, int64_t n, double *out)
{
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, row + 2 * (k + i), sizeof h);
        out[i] = td_bf16_to_f32(h);
    }
}

static void decode_f16(const uint8_t *row, int64_t k, int64_t n, double *out)
{
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, row + 2 * (k + i), sizeof h);
        out[i] = td_f16_to_f32(h);
    }
}

static void decode_e4m3(const uint8_t *row, int64_t k, int64_t n, double *out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = td_fp8_e4m3_to_f32(row[k + i]);
}

static void decode_e5m2(const uint8_t *row, int64_t k, int64_t n, double *out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = td_fp8_e5m2_to_f32(row[k + i]);
}

enum { REF_CHUNK = 256, REF_TOKENS = 64 };

/* Four partial sums only to shorten the dependency chain; in double the order does
 * not matter at f32 precision. */
static double dot(const double *w, const float *x, int64_t n)
{
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++)
            s[j] += w[i + j] * x[i + j];
    for (; i < n; i++)
        s[0] += w[i] * x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* Each row is decoded once per block of up to REF_TOKENS tokens, REF_CHUNK values at a
 * time, into bounded stack buffers (kernels never allocate). */
static void gemm_ref_float(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                           int64_t r1, decode_fn decode)
{
    double wbuf[REF_CHUNK], acc[REF_TOKENS], yr[REF_TOKENS];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w->codes + (size_t)r * w->row_bytes;
        for (int64_t b0 = 0; b0 < a->batch; b0 += REF_TOKENS) {
            int64_t nb = a->batch - b0 < REF_TOKENS ? a->batch - b0 : REF_TOKENS;
            for (int64_t t = 0; t < nb; t++)
                yr[t] = 0.0;
            for (int64_t g = 0; g < w->ngroups; g++) {
                for (int64_t t = 0; t < nb; t++)
                    acc[t] = 0.0;
                int64_t gend = (g + 1) * w->gsize;
                for (int64_t k0 = g * w->gsize; k0 < gend; k0 += REF_CHUNK) {
                    int64_t n = gend - k0 < REF_CHUNK ? gend - k0 : REF_CHUNK;
                    decode(row, k0, n, wbuf);
                    for (int64_t t = 0; t < nb; t++)
                        acc[t] += dot(wbuf, a->x + (b0 + t) * a->kpad + k0, n);
                }
                double scale = td_q_scale(w, r, g);
                for (int64_t t = 0; t < nb; t++)
                    yr[t] += scale * acc[t];
            }
            for (int64_t t = 0; t < nb; t++)
                y[(b0 + t) * ldy + r] = (float)yr[t];
        }
    }
}

void td_gemm_bf16_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1)
{
    gemm_ref_float(w, a, y, ldy, r0, r1, decode_bf16);
}

void td_gemm_f16_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                     int64_t r1)
{
    gemm_ref_float(w, a, y, ldy, r0, r1, decode_f16);
}

void td_gemm_fp8_e4m3_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                          int64_t r1)
{
    gemm_ref_float(w, a, y, ldy, r0, r1, decode_e4m3);
}

void td_gemm_fp8_e5m2_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                          int64_t r1)
{
    gemm_ref_float(w, a, y, ldy, r0, r1, decode_e5m2);
}
