/* int4 and int6 weights: code packing shared by the quantizers and the kernels, and the
 * GEMM/GEMV kernels of both formats (W4A8, W4A6, W4 with f32 activations, W6A8, W6A6,
 * W6 with f32 activations).
 *
 * Both formats store biased unsigned codes u = q + B (B = 8 for int4, 32 for int6)
 * so that u * x is an unsigned-by-signed byte product, exactly what AVX2's maddubs
 * and AVX-512 VNNI's vpdpbusd compute. The signed dot product of a scale group
 * comes back through the activations' group sum (td_act.gsum):
 *     sum((u - B - z) * x) = sum(u * x) - (B + z) * gsum
 * with z the zero point (asymmetric int4) or 0. The layouts are those of
 * formats/qmatrix_internal.h.
 *
 * INTEGER-ACTIVATION SEMANTICS (A8 and A6; identical in the reference and in every
 * vector kernel, so results compare bit for bit): for row r and token b,
 *     y = 0.0f
 *     for each scale group g in ascending order:
 *         acc = sum over the group of (q_w - z) * q_x   (exact int32)
 *         y = fmaf((float)acc, scale(r, g), y)
 *     y = y * a->scale[b]
 * Exactness needs |acc| < 2^31: the quantizers reject groups longer than
 * TD_LOWBIT_MAX_GROUP (|q - z| <= 32, |q_x| <= 127). The vector kernels may wrap
 * while summing u * x; the final value is exact modulo 2^32 and therefore exact.
 *
 * F32-ACTIVATION PATH: per group, acc = sum of (float)(q - z) * x by FMA in f32 (the
 * order of the sum depends on the ISA: lanes, then a final horizontal sum), then
 * y = fmaf(acc, scale, y). (q - z) is exact in f32, so every kernel is a chain of at
 * most gsize + ngroups + 8 roundings, and the tests bound the error against the exact
 * sum (double) by the recursive-summation bound
 *     |y - sum_k w_k x_k| <= (gsize + ngroups + 8) * 2^-24 * sum_k |w_k x_k|
 * (w = the dequantized weights; tests/test_kernels_int4.c, test_kernels_int6.c). */
#ifndef TANDEM_LOWBIT_KERNELS_H
#define TANDEM_LOWBIT_KERNELS_H

#include <stdint.h>

#include "formats/qmatrix_internal.h"

/* Longest scale group (and per-channel row) the integer kernels accumulate exactly:
 * 32 * 127 * 2^19 < 2^31. */
#define TD_LOWBIT_MAX_GROUP ((int64_t)1 << 19)

/* ---- packing (gsize % 32 == 0) ---- */

/* Packs gsize signed int4 codes q in [-8, 7] into gsize / 2 bytes (nibble layout). */
void td_int4_pack_group(const int8_t *q, int64_t gsize, uint8_t *dst);
/* Packs gsize signed int6 codes q in [-32, 31] into 3 * gsize / 4 bytes (4-bit plane
 * then 2-bit plane). */
void td_int6_pack_group(const int8_t *q, int64_t gsize, uint8_t *dst);

/* ---- shared per-ISA drivers (implemented in gemm_int4_<isa>.c, used by int6 too) ----
 * decode writes the biased codes u of elements [k0, k0 + n) of row r in natural order;
 * k0 and n are multiples of 32 and the range is whole groups or lies inside one group. */
typedef void (*td_lowbit_decode_fn)(const td_qmatrix *w, int64_t r, int64_t k0, int64_t n,
                                    uint8_t *u);

/* Integer activations, batch >= 2: weights decoded once per row block and token panel,
 * tokens in vector lanes (no horizontal sums). bias = B (8 or 32). */
void td_lowbit_panels_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1, td_lowbit_decode_fn decode, int bias);
void td_lowbit_panels_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                           int64_t r1, td_lowbit_decode_fn decode, int bias);
/* f32 activations, any batch. */
void td_lowbit_f32_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                          int64_t r1, td_lowbit_decode_fn decode, int bias);
void td_lowbit_f32_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                        int64_t r1, td_lowbit_decode_fn decode, int bias);

/* ---- kernels: one entry per format and ISA, for every activation type ---- */
void td_gemm_int4_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1);
void td_gemm_int6_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1);
void td_gemm_int4_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                       int64_t r1);
void td_gemm_int6_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                       int64_t r1);
void td_gemm_int4_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                         int64_t r1);
void td_gemm_int6_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                         int64_t r1);

#endif
