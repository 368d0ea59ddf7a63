/* Deformable convolution (DCNv1, DCNv2) and its hardware-friendly variants.
 *
 * Layouts follow torchvision.ops.deform_conv2d and ONNX DeformConv (opset 19):
 *   x       N x C x H x W
 *   offset  N x 2*G*kh*kw x Ho x Wo, channel ((g*kh + i)*kw + j)*2 + {0: dy, 1: dx} for offset
 *           group g and kernel tap (i, j)
 *   mask    N x G*kh*kw x Ho x Wo, channel (g*kh + i)*kw + j (DCNv2; NULL means all ones)
 *   w       M x C/group x kh x kw
 *   b       M (NULL means zero)
 *   y       N x M x Ho x Wo
 * where G is the number of offset groups: channel c uses offset group c / (C/G).
 *
 * Tap (i, j) of output pixel (oy, ox) samples x at
 *   (oy*sh - pt + i*dh + dy,  ox*sw - pl + j*dw + dx)
 * by bilinear interpolation that reads zero outside the image: a sample at or beyond -1 or
 * H (W) in either coordinate is zero, as is a sample whose offset is NaN. The sample is
 * multiplied by the mask and then by the weight, as in a convolution. Gradients with respect
 * to offsets follow the floor convention at integer positions (the corners at and after the
 * position), including -1 itself, as torchvision's do.
 *
 * Variants (td_deform_shape.mode):
 *   TD_DEFORM_FREE     offsets as given.
 *   TD_DEFORM_LIMITED  offsets clamped to [-range, range] (NaN stays NaN: a zero sample). The
 *                      input rows a block of outputs can touch are then bounded (the block's
 *                      rows, the kernel extent and 2*range), so the kernel stages only that
 *                      band per block in a small zero-bordered buffer instead of the whole
 *                      image: its buffer does not grow with the image (CoDeNet's bounded
 *                      offsets; the same buffer an accelerator would keep on chip).
 *   TD_DEFORM_FIXED    "fixed shape": no free offsets. `offset` holds one scale per offset
 *                      group and output pixel (N x G x Ho x Wo) that stretches the square
 *                      kh x kw template about its centre: tap (i, j) gets the offset
 *                        dy = (s - 1) * (i - (kh-1)/2) * dh,  dx = (s - 1) * (j - (kw-1)/2) * dw
 *                      so s = 1 is an ordinary convolution and s = 2 doubles the dilation. A
 *                      static per-group scale is the case of a constant plane.
 * The depthwise variant (a 1x1 convolution, then a deformable convolution with one input
 * channel per group) is td_deform_depthwise_forward; any shape with C/group == 1 also takes
 * the direct depthwise kernel inside td_deform_forward.
 *
 * Every function validates its shape first (td_deform_shape_check) and returns a td_status
 * naming what is wrong; none reads outside x, whatever the offsets hold. */
#ifndef TANDEM_DEFORM_H
#define TANDEM_DEFORM_H

#include "tandem/core.h"
#include "tandem/formats.h"
#include "tandem/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_deform_mode {
    TD_DEFORM_FREE = 0,
    TD_DEFORM_LIMITED,
    TD_DEFORM_FIXED,
    TD_DEFORM_MODE_COUNT
} td_deform_mode;

const char *td_deform_mode_name(td_deform_mode mode); /* "free", "limited", "fixed" */

typedef struct td_deform_shape {
    int64_t n, c, h, w;          /* input */
    int64_t m;                   /* output channels */
    int64_t group, offset_group; /* both >= 1; group divides c and m, offset_group divides c */
    int64_t kh, kw;              /* kernel */
    int64_t sh, sw, dh, dw;      /* strides, dilations (>= 1) */
    int64_t pt, pl, pb, pr;      /* pads: top, left, bottom, right (>= 0) */
    td_deform_mode mode;
    float range;    /* TD_DEFORM_LIMITED: offsets clamped to [-range, range], range >= 0 */
    int64_t oh, ow; /* output size: filled by td_deform_shape_check */
} td_deform_shape;

/* Validates the shape (sizes >= 1, divisibility, sizes that fit the kernels' 32-bit plane
 * indices and exact float coordinates) and fills oh, ow. */
td_status td_deform_shape_check(td_deform_shape *s);

/* Channels of `offset` (2*G*kh*kw, or G for TD_DEFORM_FIXED) and of `mask` (G*kh*kw). */
int64_t td_deform_offset_channels(const td_deform_shape *s);
int64_t td_deform_mask_channels(const td_deform_shape *s);

/* ---- f32 forward: the input staged channel-last with a zero border, then per block of output
 * pixels a deformable im2col (bilinear samples x mask) and one OpenBLAS sgemm per group; blocks
 * are spread over ctx->threads. The workspace holds the staged image (about the size of one
 * input image; the limited-range variant stages only each block's band instead), the
 * reordered weight and about 2 MB of columns per thread. `work` (64-byte aligned,
 * td_deform_forward_workspace bytes for the same ctx and shape) may be NULL: it is then
 * allocated and freed inside. ---- */
td_status td_deform_forward_workspace(const td_ctx *ctx, const td_deform_shape *s, size_t *bytes);
td_status td_deform_forward(const td_ctx *ctx, const td_deform_shape *s, const float *x,
                            const float *offset, const float *mask, const float *w, const float *b,
                            float *y, void *work, size_t work_bytes);

/* ---- compressed-weight forward (int8 per output channel, or any td_qmatrix format) ----
 * qw holds the weight as M rows x (C/group*kh*kw) columns (w reshaped, all groups stacked,
 * as td_qmatrix_quantize(spec, w, M, K, K, &qw) makes it). The sampled columns are laid out
 * pixel-major and go through td_gemm with activation type `act`: with TD_ACT_INT8 each output
 * pixel's column (its C/group*kh*kw samples) is quantized symmetrically with its own scale
 * (max |sample| / 127), finer than per sample or per tensor. With group > 1 each group's
 * product computes all M rows and keeps its own (as Conv does). `a` (may be NULL) keeps
 * activation buffers between calls.
 * Error against f32 (tests/test_deform.c): every output stays within the bound
 *   sum_k |dw_k||x_k| + |w_k||dx_k| + |dw_k||dx_k|, |dw_k| <= s_w/2, |dx_k| <= s_x/2
 * (s_w = max |w| of the output channel / 127, s_x = the pixel's activation scale), and the
 * relative RMS error is about 1% for Gaussian weights. */
td_status td_deform_forward_q_workspace(const td_ctx *ctx, const td_deform_shape *s, size_t *bytes);
td_status td_deform_forward_q(const td_ctx *ctx, const td_deform_shape *s, const float *x,
                              const float *offset, const float *mask, const td_qmatrix *qw,
                              td_act_type act, const float *b, float *y, td_act *a, void *work,
                              size_t work_bytes);

/* ---- depthwise variant: y = deform_dw(conv1x1(x, pw) + pw_b) ----
 * s describes the deformable depthwise part: s->c = s->m = s->group = mid channels; x has
 * `cin` channels (N x cin x H x W), pw is mid x cin (x 1 x 1), pw_b mid or NULL, dw is
 * mid x 1 x kh x kw, dw_b mid or NULL. */
td_status td_deform_depthwise_workspace(const td_ctx *ctx, const td_deform_shape *s, int64_t cin,
                                        size_t *bytes);
td_status td_deform_depthwise_forward(const td_ctx *ctx, const td_deform_shape *s, int64_t cin,
                                      const float *x, const float *pw, const float *pw_b,
                                      const float *offset, const float *mask, const float *dw,
                                      const float *dw_b, float *y, void *work, size_t work_bytes);

/* ---- backward: gradients of sum(dy * y) ----
 * Any output gradient may be NULL (not computed). dx, doffset, dmask, dw and db are
 * overwritten (not accumulated into). doffset has offset's shape: for TD_DEFORM_LIMITED the
 * gradient is zero where the clamp was active (|offset| > range); for TD_DEFORM_FIXED it is the
 * gradient of the scales (N x G x Ho x Wo). dmask requires mask != NULL. Work memory is
 * allocated inside: columns of one block per thread plus one dx and dw accumulator per
 * thread. The depthwise variant has no backward of its own: it is a 1x1 convolution followed
 * by a deformable convolution with group = C, whose gradients this function gives. */
td_status td_deform_backward(const td_ctx *ctx, const td_deform_shape *s, const float *x,
                             const float *offset, const float *mask, const float *w,
                             const float *dy, float *dx, float *doffset, float *dmask, float *dw,
                             float *db);

#ifdef __cplusplus
}
#endif
#endif
