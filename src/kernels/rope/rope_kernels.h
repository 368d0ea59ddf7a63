/* Row kernels of the rotary embedding: one head vector's rotated part, `pairs` rotation pairs,
 * cos/sin one table row. y may equal x. Every ISA computes, per pair (a, b) with (c, s):
 *     a' = fmaf(a, c, -(b * s))      b' = fmaf(b, c, a * s)
 * in that order, so the vector kernels match the scalar reference bit for bit. */
#ifndef TD_KERNELS_ROPE_KERNELS_H
#define TD_KERNELS_ROPE_KERNELS_H

#include <stdint.h>

#include "tandem/core.h"
#include "tandem/rope.h"

typedef void (*td_rope_row_fn)(const float *x, float *y, const float *c, const float *s,
                               int64_t pairs);

void td_rope_row_interleaved_ref(const float *x, float *y, const float *c, const float *s,
                                 int64_t pairs);
void td_rope_row_halves_ref(const float *x, float *y, const float *c, const float *s,
                            int64_t pairs);
void td_rope_row_interleaved_avx2(const float *x, float *y, const float *c, const float *s,
                                  int64_t pairs);
void td_rope_row_halves_avx2(const float *x, float *y, const float *c, const float *s,
                             int64_t pairs);
void td_rope_row_interleaved_avx512(const float *x, float *y, const float *c, const float *s,
                                    int64_t pairs);
void td_rope_row_halves_avx512(const float *x, float *y, const float *c, const float *s,
                               int64_t pairs);

/* The row kernel for an ISA (the highest present at or below it). */
td_rope_row_fn td_rope_row_kernel(td_isa isa, td_rope_pairing pairing);

#endif
