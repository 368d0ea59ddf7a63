/* Scalar reference row kernels of the rotary embedding (the oracle of the vector ones). */
#include <math.h>

#include "kernels/rope/rope_kernels.h"

void td_rope_row_interleaved_ref(const float *x, float *y, const float *c, const float *s,
                                 int64_t pairs)
{
    for (int64_t k = 0; k < pairs; k++) {
        float a = x[2 * k], b = x[2 * k + 1];
        y[2 * k] = fmaf(a, c[k], -(b * s[k]));
        y[2 * k + 1] = fmaf(b, c[k], a * s[k]);
    }
}

void td_rope_row_halves_ref(const float *x, float *y, const float *c, const float *s, int64_t pairs)
{
    for (int64_t k = 0; k < pairs; k++) {
        float a = x[k], b = x[k + pairs];
        y[k] = fmaf(a, c[k], -(b * s[k]));
        y[k + pairs] = fmaf(b, c[k], a * s[k]);
    }
}
