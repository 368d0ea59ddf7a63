/* Scalar reference convolution: the oracle the fast Conv path (im2col + sgemm, depthwise
 * loops, compressed weights) is tested against. */
#ifndef TD_CONV_REF_H
#define TD_CONV_REF_H

#include <stdint.h>

/* 2-D convolution geometry, NCHW; a 1-D convolution is h = kh = oh = 1. */
typedef struct td_conv_shape {
    int64_t n, c, h, w;     /* input */
    int64_t m, group;       /* output channels, groups */
    int64_t kh, kw;         /* kernel */
    int64_t sh, sw, dh, dw; /* strides, dilations */
    int64_t pt, pl;         /* begin pads (top, left); end pads only change oh/ow */
    int64_t oh, ow;         /* output */
} td_conv_shape;

/* y[n, m, oh, ow] = b[m] + sum over c in m's group, ky, kx of x * w; b may be NULL.
 * Accumulates in double. */
void td_conv2d_ref(const td_conv_shape *s, const float *x, const float *w, const float *b,
                   float *y);

#endif
