/* Scalar reference for int6 weights (4-bit + 2-bit planes): the oracle the AVX2 and
 * AVX-512 kernels are tested against. Semantics as in kernels/lowbit_kernels.h. */
#include <math.h>

#include "kernels/lowbit_kernels.h"

/* Signed code q = u - 32 of element k of a group, read from both planes. */
static inline int int6_code(const uint8_t *src, int64_t gsize, int64_t k)
{
    int64_t h = gsize / 2, qtr = gsize / 4;
    int nib = k < h ? (src[k] & 0x0F) : (src[k - h] >> 4);
    int two = (src[h + k % qtr] >> (2 * (k / qtr))) & 3;
    return (nib | (two << 4)) - 32;
}

void td_gemm_int6_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1)
{
    int64_t gs = w->gsize, gbytes = gs / 4 * 3;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w->codes + r * w->row_bytes;
        for (int64_t b = 0; b < a->batch; b++) {
            float acc = 0.0f;
            for (int64_t g = 0; g < w->ngroups; g++) {
                float s = td_q_scale(w, r, g);
                const uint8_t *src = row + g * gbytes;
                if (a->type == TD_ACT_F32) {
                    const float *x = a->x + b * a->kpad + g * gs;
                    float d = 0.0f;
                    for (int64_t k = 0; k < gs; k++)
                        d = fmaf((float)int6_code(src, gs, k), x[k], d);
                    acc = fmaf(d, s, acc);
                } else {
                    /* |q| <= 32, |x| <= 127, gs <= 2^19: exact in int32. */
                    const int8_t *x = a->q + b * a->kpad + g * gs;
                    int32_t d = 0;
                    for (int64_t k = 0; k < gs; k++)
                        d += int6_code(src, gs, k) * x[k];
                    acc = fmaf((float)d, s, acc);
                }
            }
            y[b * ldy + r] = a->type == TD_ACT_F32 ? acc : acc * a->scale[b];
        }
    }
}
