/* Scalar reference for int4 weights: the oracle the AVX2 and AVX-512 kernels are
 * tested against. Integer activations follow the exact semantics documented in
 * kernels/lowbit_kernels.h (per group an exact int32 sum, then one fmaf with the
 * group scale); f32 activations accumulate (q - zero) * x in f32 per group. */
#include <math.h>

#include "kernels/lowbit_kernels.h"

/* Exact int32 sum over one group of (q - zero) * x; |result| < 2^31 is guaranteed by
 * the group length limit, and so is every partial sum. */
static int32_t group_dot_int(const uint8_t *src, int64_t gsize, int zb, const int8_t *x)
{
    int64_t h = gsize / 2;
    int32_t acc = 0;
    for (int64_t j = 0; j < h; j++)
        acc += ((src[j] & 0x0F) - zb) * x[j];
    for (int64_t j = 0; j < h; j++)
        acc += ((src[j] >> 4) - zb) * x[j + h];
    return acc;
}

static float group_dot_f32(const uint8_t *src, int64_t gsize, int zb, const float *x)
{
    int64_t h = gsize / 2;
    float acc = 0.0f;
    for (int64_t j = 0; j < h; j++)
        acc = fmaf((float)((src[j] & 0x0F) - zb), x[j], acc);
    for (int64_t j = 0; j < h; j++)
        acc = fmaf((float)((src[j] >> 4) - zb), x[j + h], acc);
    return acc;
}

void td_gemm_int4_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1)
{
    int64_t gs = w->gsize, gbytes = gs / 2;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w->codes + r * w->row_bytes;
        for (int64_t b = 0; b < a->batch; b++) {
            float acc = 0.0f;
            for (int64_t g = 0; g < w->ngroups; g++) {
                float s = td_q_scale(w, r, g);
                int zb = 8 + td_q_zero(w, r, g);
                const uint8_t *src = row + g * gbytes;
                if (a->type == TD_ACT_F32) {
                    const float *x = a->x + b * a->kpad + g * gs;
                    acc = fmaf(group_dot_f32(src, gs, zb, x), s, acc);
                } else {
                    const int8_t *x = a->q + b * a->kpad + g * gs;
                    acc = fmaf((float)group_dot_int(src, gs, zb, x), s, acc);
                }
            }
            y[b * ldy + r] = a->type == TD_ACT_F32 ? acc : acc * a->scale[b];
        }
    }
}
