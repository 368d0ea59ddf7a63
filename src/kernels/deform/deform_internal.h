/* Deformable convolution internals: the sampling table the fast paths share, the staged
 * (zero-bordered) input, the per-ISA kernels, the block driver, and the scalar double-precision
 * reference (the oracle of every fast path, itself checked against torchvision in
 * tests/test_deform.c). */
#ifndef TD_DEFORM_INTERNAL_H
#define TD_DEFORM_INTERNAL_H

#include <stdint.h>

#include "tandem/deform.h"

/* Sampling table of one block of `len` output pixels: one row per (offset group, tap), `ld`
 * entries apart (len rounded up to 16). A sample whose position lies in [-1, H) x [-1, W) has
 * fractions ly, lx in [0, 1] and either (generic layout) y0 = floor(y), x0 = floor(x), or
 * (staged layout) y0 = the index of pixel (floor(y), floor(x)) in a staged band. Any other
 * sample (outside, NaN) has ly = lx = 0 and y0 = x0 = -2 (generic: none of its corners is
 * read) or the index of the band's zero rows (staged). m is the mask (1 without one). */
typedef struct td_dsamp {
    int64_t len, ld, rows;
    int32_t *y0, *x0; /* staged: y0 holds the index, x0 is unused */
    float *ly, *lx, *m;
} td_dsamp;

/* Bytes of a table for `rows` rows of len entries (5 arrays of ld entries each). */
int64_t td_dsamp_bytes(int64_t rows, int64_t len);
/* Lays the table out in `mem` (64-byte aligned, td_dsamp_bytes bytes). */
void td_dsamp_init(td_dsamp *t, void *mem, int64_t rows, int64_t len);

/* A staged band: rows ys0 .. ys0+rows-1 of the image over columns -1 .. W (stride W + 2
 * pixels; rows and columns outside the image are zero), then two zero rows (zero_row). A
 * block of output pixels touches only its band under TD_DEFORM_LIMITED; the other modes use the
 * whole image, rows -1 .. H. Every corner of every table entry lies inside the band. */
typedef struct td_dband {
    int64_t ys0, rows, stride, zero_row;
} td_dband;
/* The band of output pixels [p0, p1). */
void td_dband_of(const td_deform_shape *s, int64_t p0, int64_t p1, td_dband *b);
/* Pixels of a staged band: (rows + 2) * stride. */
int64_t td_dband_pixels(const td_dband *b);
/* Stages band rows [r0, r1) (r1 may be rows + 2, the zero rows included) of image x (C x H x
 * W) channel-last: pixel k of the band holds channels 0..C-1 at buf[k * C]. */
void td_dband_stage_nhwc(const td_deform_shape *s, const td_dband *b, const float *x, float *buf,
                         int64_t r0, int64_t r1);

/* ---- per-ISA kernels ----
 * Each has a scalar version and AVX2 / AVX-512 versions that perform exactly the same float
 * operations in the same order, so results are bitwise equal across ISAs. The blend of a
 * sample is m * (hy*(hx*a + lx*b) + ly*(hx*c + lx*d)) with hy = 1 - ly, hx = 1 - lx and a, b,
 * c, d the corners (y0,x0), (y0,x0+1), (y0+1,x0), (y0+1,x0+1). */

/* One output row of one table row: entries for ow pixels from pixel p of the image. */
typedef struct td_dseg {
    const float *oy, *ox, *scale, *mask; /* at pixel p; oy/ox NULL under FIXED, mask may be NULL */
    float ty, tx;                        /* FIXED: template offsets of the tap */
    float range;                         /* LIMITED: clamp bound; < 0 means no clamp */
    int64_t by, bx0, sw, h, w, n; /* base row, base column of pixel 0, stride, plane, count */
    const td_dband *band;         /* NULL: generic layout */
    int32_t *y0, *x0;
    float *ly, *lx, *m;
} td_dseg;
typedef void (*td_dseg_fn)(const td_dseg *a);
void td_dseg_scalar(const td_dseg *a);
void td_dseg_avx2(const td_dseg *a);
void td_dseg_avx512(const td_dseg *a);

/* Generic layout over one channel plane (h x w): dst[p] = blend for the table row. */
typedef void (*td_dsamp_row_fn)(const float *plane, int32_t h, int32_t w, const int32_t *y0,
                                const int32_t *x0, const float *ly, const float *lx, const float *m,
                                int64_t len, float *dst);
void td_dsamp_row_scalar(const float *plane, int32_t h, int32_t w, const int32_t *y0,
                         const int32_t *x0, const float *ly, const float *lx, const float *m,
                         int64_t len, float *dst);
void td_dsamp_row_avx2(const float *plane, int32_t h, int32_t w, const int32_t *y0,
                       const int32_t *x0, const float *ly, const float *lx, const float *m,
                       int64_t len, float *dst);
void td_dsamp_row_avx512(const float *plane, int32_t h, int32_t w, const int32_t *y0,
                         const int32_t *x0, const float *ly, const float *lx, const float *m,
                         int64_t len, float *dst);

/* Staged channel-last band: for each entry q, nc channels starting at buf (already offset to
 * the first channel), pixel k at buf + k * pix, written to dst + q * ldd. row = stride * pix. */
typedef struct td_dnhwc {
    const float *buf;
    int64_t pix, row, nc;
    const int32_t *idx;
    const float *ly, *lx, *m;
    int64_t len;
} td_dnhwc;
typedef void (*td_dnhwc_fn)(const td_dnhwc *a, float *dst, int64_t ldd);
void td_dnhwc_scalar(const td_dnhwc *a, float *dst, int64_t ldd);
void td_dnhwc_avx2(const td_dnhwc *a, float *dst, int64_t ldd);
void td_dnhwc_avx512(const td_dnhwc *a, float *dst, int64_t ldd);
/* Depthwise: acc[q * lda + c] += wt[c] * blend (one input channel per output channel). */
typedef void (*td_dnhwc_dw_fn)(const td_dnhwc *a, const float *wt, float *acc, int64_t lda);
void td_dnhwc_dw_scalar(const td_dnhwc *a, const float *wt, float *acc, int64_t lda);
void td_dnhwc_dw_avx2(const td_dnhwc *a, const float *wt, float *acc, int64_t lda);
void td_dnhwc_dw_avx512(const td_dnhwc *a, const float *wt, float *acc, int64_t lda);

typedef struct td_deform_sampler {
    td_dseg_fn seg;
    td_dsamp_row_fn row;
    td_dnhwc_fn nhwc;
    td_dnhwc_dw_fn nhwc_dw;
} td_deform_sampler;
/* The kernels for ctx's ISA (the scalar ones for TD_ISA_SCALAR or a NULL ctx). */
void td_deform_sampler_init(const td_ctx *ctx, td_deform_sampler *sm);

/* Fills the table of image n, output pixels [p0, p1) (row-major over oh x ow): generic layout
 * when band is NULL, staged (indices into `band`) otherwise. */
void td_dsamp_build(const td_deform_sampler *sm, const td_deform_shape *s, const float *offset,
                    const float *mask, int64_t n, int64_t p0, int64_t p1, const td_dband *band,
                    td_dsamp *t);

/* Effective offset of tap (i, j) for pixel p of image n, offset group g, as float, exactly as
 * the fast paths use it (clamped under LIMITED, derived from the scale under FIXED). */
void td_deform_tap_offset(const td_deform_shape *s, const float *offset, int64_t n, int64_t g,
                          int64_t i, int64_t j, int64_t p, float *dy, float *dx);

/* ---- block driver shared by the forward, compressed and backward paths ---- */

/* Work split: blocks of `len` consecutive output pixels of one image (the last may be shorter),
 * nblocks per image, items = n x nblocks spread over `threads`. */
typedef struct td_dplan {
    int threads;
    int64_t nblocks, items, len;
} td_dplan;
/* col_rows: column rows per block (C/group*kh*kw for the GEMM); target: column floats per
 * block to aim at. */
void td_dplan_make(const td_ctx *ctx, const td_deform_shape *s, int64_t col_rows, int64_t target,
                   td_dplan *pl);
int td_deform_thread_id(void);
/* The kh*kw sampled rows of one channel plane (offset group og) for a generic-layout table,
 * `ld` floats apart. */
void td_dblock_sample_channel(const td_deform_sampler *sm, const td_deform_shape *s,
                              const td_dsamp *t, const float *plane, int64_t og, float *dst,
                              int64_t ld);
/* NULL checks shared by the entry points (s already checked). */
td_status td_deform_check_inputs(const td_deform_shape *s, const float *x, const float *offset,
                                 const void *w, const float *y);

/* ---- scalar reference, double precision (src/kernels/ref/deform_ref.c) ---- */
/* col[((c*kh + i)*kw + j)*P + p] = mask * sample for image n (P = oh*ow). */
td_status td_deform_columns_ref(const td_deform_shape *s, const float *x, const float *offset,
                                const float *mask, int64_t n, double *col);
td_status td_deform_forward_ref(const td_deform_shape *s, const float *x, const float *offset,
                                const float *mask, const float *w, const float *b, double *y);
/* Same contract as td_deform_backward (outputs overwritten, any may be NULL). */
td_status td_deform_backward_ref(const td_deform_shape *s, const float *x, const float *offset,
                                 const float *mask, const float *w, const float *dy, double *dx,
                                 double *doffset, double *dmask, double *dw, double *db);

#endif
