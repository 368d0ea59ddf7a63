/* Shared integer quantizer: scale/zero-point choice per block and the walk over
 * a matrix's scale grid. Used by every integer format (int8, int6, int4).
 *
 * Convention: a weight w is stored as an integer code q in [qmin, qmax] and
 * represents w ~= scale * (q - zero); zero is 0 for symmetric quantization.
 * Rounding is round-to-nearest-even (as nearbyintf under the default rounding mode). */
#ifndef TANDEM_QUANT_COMMON_H
#define TANDEM_QUANT_COMMON_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "formats/qmatrix_internal.h"

/* Chooses scale (and zero point when asym) for the n contiguous values v.
 *   symmetric:  scale = amax / qmax, zero = 0 (qmin is the lower clamp, usually -qmax).
 *   asymmetric: the range [min(v, 0), max(v, 0)] maps onto [qmin, qmax]:
 *               scale = (hi - lo) / (qmax - qmin), zero = round(qmin - lo / scale).
 *               The range always contains 0 so that 0 (and the K padding) is exact.
 *   TD_CLIP_MSE: the range is shrunk by a ratio in 1.00, 0.99, ..., 0.50 and the ratio
 *               with the smallest squared round-trip error wins (ties keep the larger
 *               ratio, and 1.00 is a candidate, so MSE is never worse than absmax).
 * An all-zero block gets scale 1, zero 0. Scales never go below FLT_MIN, so
 * 1 / scale is finite. Fails only on bad arguments (n < 1, qmin >= qmax). */
td_status td_quant_choose_scale(const float *v, int64_t n, int qmin, int qmax, bool asym,
                                td_clip clip, float *scale, int *zero);

/* Same for a strided 2-D block: rows x cols values, row i starting at v + i * ld. */
td_status td_quant_choose_scale_2d(const float *v, int64_t rows, int64_t cols, int64_t ld, int qmin,
                                   int qmax, bool asym, td_clip clip, float *scale, int *zero);

/* Code of one value: clamp(round(v * inv_scale) + zero, qmin, qmax), rounding to
 * nearest even exactly as nearbyintf does in the default rounding mode. Clamping
 * before rounding gives the same code (the bounds are integers) and leaves
 * |t| <= 255, where adding and subtracting 1.5 * 2^23 rounds: plain arithmetic that
 * compilers vectorize, unlike a libm call. v must not be NaN. */
/* 1.5 * 2^23: adding and subtracting it rounds |t| < 2^22 to nearest, ties to even. */
#define TD_ROUND_MAGIC 12582912.0f

static inline int td_quant_round(float v, float inv_scale, int zero, int qmin, int qmax)
{
    float t = v * inv_scale;
    float lo = (float)(qmin - zero), hi = (float)(qmax - zero);
    t = t < lo ? lo : t;
    t = t > hi ? hi : t;
    t = (t + TD_ROUND_MAGIC) - TD_ROUND_MAGIC;
    return (int)t + zero;
}

/* Receives the codes of row r, scale group g: q->gsize codes, positions past the
 * row's values (the K padding) already hold the code of 0 (= zero). The callback
 * packs them into q->codes; calls for distinct (r, g) may run on different threads. */
typedef void (*td_quant_store_fn)(td_qmatrix *q, int64_t r, int64_t g, const int8_t *codes);

/* Quantizes the whole matrix w (q->rows x n values, leading dimension ld, where n is
 * q->kc for N:M matrices and q->cols otherwise) over the dense scale grid described
 * in qmatrix_internal.h: for each block of tile_rows rows x gsize columns it chooses
 * scale/zero from all the block's values (q->spec.asym, q->spec.clip), writes
 * q->scales and q->zeros (if allocated), fills q->wsum (if allocated: sum of the
 * signed codes of each row's group, padding included) and hands each row-group's
 * codes to `store`. Runs on OpenMP threads over scale-row tiles. */
td_status td_quant_grid(td_qmatrix *q, const float *w, int64_t ld, int qmin, int qmax,
                        td_quant_store_fn store);

#endif
