#include "kernels/ref/conv_ref.h"

void td_conv2d_ref(const td_conv_shape *s, const float *x, const float *w, const float *b, float *y)
{
    int64_t cg = s->c / s->group, mg = s->m / s->group;
    for (int64_t n = 0; n < s->n; n++)
        for (int64_t m = 0; m < s->m; m++) {
            int64_t g = m / mg;
            for (int64_t oy = 0; oy < s->oh; oy++)
                for (int64_t ox = 0; ox < s->ow; ox++) {
                    double acc = b ? b[m] : 0.0;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t ky = 0; ky < s->kh; ky++) {
                            int64_t iy = oy * s->sh - s->pt + ky * s->dh;
                            if (iy < 0 || iy >= s->h)
                                continue;
                            for (int64_t kx = 0; kx < s->kw; kx++) {
                                int64_t ix = ox * s->sw - s->pl + kx * s->dw;
                                if (ix < 0 || ix >= s->w)
                                    continue;
                                double xv = x[((n * s->c + g * cg + c) * s->h + iy) * s->w + ix];
                                double wv = w[((m * cg + c) * s->kh + ky) * s->kw + kx];
                                acc += xv * wv;
                            }
                        }
                    y[((n * s->m + m) * s->oh + oy) * s->ow + ox] = (float)acc;
                }
        }
}
