#include <math.h>
#include <stdlib.h>

#include "kernels/kernels_internal.h"

void td_gemm_ref_generic(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                         int64_t r1)
{
    const td_format_traits *t = td_format_traits_get(w->spec.format);
    float *row = malloc((size_t)w->kpad * sizeof(float));
    if (!row) {
        /* Kernels cannot return a status. One row of floats is far smaller than the
         * activations the driver already holds, so this is near impossible; answer NaN
         * rather than crash or return plausible garbage. */
        for (int64_t b = 0; b < a->batch; b++)
            for (int64_t r = r0; r < r1; r++)
                y[b * ldy + r] = NAN;
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        t->dequantize_row(w, r, row);
        for (int64_t b = 0; b < a->batch; b++) {
            double acc = 0.0;
            if (a->type == TD_ACT_F32) {
                const float *x = a->x + b * a->kpad;
                for (int64_t k = 0; k < w->kpad; k++)
                    acc += (double)row[k] * x[k];
            } else {
                const int8_t *q = a->q + b * a->kpad;
                for (int64_t k = 0; k < w->kpad; k++)
                    acc += (double)row[k] * q[k];
                acc *= a->scale[b];
            }
            y[b * ldy + r] = (float)acc;
        }
    }
    free(row);
}
