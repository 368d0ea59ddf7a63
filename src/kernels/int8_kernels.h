/* int8-weight kernels (dense layout of qmatrix_internal.h), one per ISA and per
 * activation kind. The integer kernels serve both TD_ACT_INT8 and TD_ACT_INT6
 * (int6 activations are int8 storage in [-31, 31]).
 *
 * Integer-activation semantics, identical in every ISA so results match bit for bit:
 *   for row r, token b:  y = 0.0f
 *     for each scale group g in ascending order:
 *       acc = sum over the group of (q_w - zero) * q_x      exact int32
 *       y = fmaf((float)acc, scale_w(r, g), y)
 *     y = y * a->scale[b]
 * Integer sums are exact in any order, so vector kernels may split them across lanes;
 * the float steps run per (row, token) in exactly this order.
 *
 * f32 activations: y = sum_g scale_w(r, g) * sum_k (q_w - zero) * x_k. The reference
 * sums in double; fast paths sum in float (error bound stated in the tests). */
#ifndef TANDEM_INT8_KERNELS_H
#define TANDEM_INT8_KERNELS_H

#include "formats/qmatrix_internal.h"

/* Largest scale group the int32 accumulators can hold without overflow. */
#define TD_INT8_MAX_GROUP 65536

void td_gemm_int8_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1);
void td_gemm_int8_f32_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                          int64_t r1);

void td_gemm_int8_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                       int64_t r1);
void td_gemm_int8_f32_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                           int64_t r1);

void td_gemm_int8_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                         int64_t r1);
void td_gemm_int8_f32_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1);

#endif
