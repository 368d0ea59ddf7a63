/* Scalar reference kernels for int8 weights: the oracle the vector kernels are tested
 * against. Semantics in kernels/int8_kernels.h. */
#include <math.h>

#include "kernels/int8_kernels.h"

/* Integer activations (A8 and A6): exact int32 group sums, one fmaf per group. */
void td_gemm_int8_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        const int8_t *wr = (const int8_t *)(w->codes + (size_t)r * w->row_bytes);
        for (int64_t b = 0; b < a->batch; b++) {
            const int8_t *xb = a->q + b * a->kpad;
            float acc_f = 0.0f;
            for (int64_t g = 0; g < w->ngroups; g++) {
                int32_t z = td_q_zero(w, r, g);
                int32_t acc = 0;
                for (int64_t k = g * w->gsize; k < (g + 1) * w->gsize; k++)
                    acc += ((int32_t)wr[k] - z) * (int32_t)xb[k];
                acc_f = fmaf((float)acc, td_q_scale(w, r, g), acc_f);
            }
            y[b * ldy + r] = acc_f * a->scale[b];
        }
    }
}

/* f32 activations: each group's sum in double, scaled and summed in double. */
void td_gemm_int8_f32_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                          int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        const int8_t *wr = (const int8_t *)(w->codes + (size_t)r * w->row_bytes);
        for (int64_t b = 0; b < a->batch; b++) {
            const float *xb = a->x + b * a->kpad;
            double acc = 0.0;
            for (int64_t g = 0; g < w->ngroups; g++) {
                int32_t z = td_q_zero(w, r, g);
                double sum = 0.0;
                for (int64_t k = g * w->gsize; k < (g + 1) * w->gsize; k++)
                    sum += (double)(wr[k] - z) * (double)xb[k];
                acc += sum * (double)td_q_scale(w, r, g);
            }
            y[b * ldy + r] = (float)acc;
        }
    }
}
