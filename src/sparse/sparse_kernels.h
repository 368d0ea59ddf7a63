/* Kernels for sparse weights (N:M and group sparsity) and the element decoders the
 * reference kernels use.
 *
 * Registration: the value formats' trait entries own kernels[sparsity][isa][act];
 * td_sparse_kernel() is the same table for the sparse rows, consulted by the GEMM
 * dispatcher when a format's entry has no sparse kernel of its own. */
#ifndef TANDEM_SPARSE_KERNELS_H
#define TANDEM_SPARSE_KERNELS_H

#include <string.h>

#include "sparse/sparse_internal.h"
#include "tandem/formats.h"

/* Kernel for (value format, sparsity, exactly this ISA, activation type), or NULL. */
td_gemm_kernel td_sparse_kernel(td_format fmt, td_sparsity sp, td_isa isa, td_act_type act);

/* ---- scalar references (src/kernels/ref/gemm_ref_sparse.c) ---- */
/* N:M over any value format and any activation type. */
void td_gemm_nm_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                    int64_t r1);
/* Group sparsity over any integer format. */
void td_gemm_gs_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                    int64_t r1);

/* ---- x86 (src/kernels/x86/gemm_sparse_avx2.c, gemm_sparse_avx512.c) ---- */
/* N:M int8 weights; _a8 serves int8 and int6 activations (both stored as int8). */
void td_gemm_nm_int8_f32_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                              int64_t r0, int64_t r1);
void td_gemm_nm_int8_a8_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1);
void td_gemm_nm_int8_f32_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                int64_t r0, int64_t r1);
void td_gemm_nm_int8_a8_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                               int64_t r0, int64_t r1);
/* Group-sparse int4 weights. */
void td_gemm_gs_int4_f32_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                              int64_t r0, int64_t r1);
void td_gemm_gs_int4_a8_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1);
void td_gemm_gs_int4_f32_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                                int64_t r0, int64_t r1);
void td_gemm_gs_int4_a8_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                               int64_t r0, int64_t r1);

/* ---- element decoders (the layout contract, read directly) ---- */

/* Signed integer code q of element e (0 <= e < gsize) of one scale group whose codes
 * start at c, for the integer formats' dense layout: int8 plain signed bytes, int4
 * biased nibbles (element e in byte e % (gsize/2), low nibble for the first half),
 * int6 nibble plane plus 2-bit plane. Returns 0 for float formats. */
static inline int td_sparse_int_code(td_format fmt, const uint8_t *c, int64_t gsize, int64_t e)
{
    if (fmt == TD_INT8)
        return (int8_t)c[e];
    int64_t h = gsize / 2;
    int lo = e < h ? (c[e % h] & 15) : (c[e % h] >> 4);
    if (fmt == TD_INT4)
        return lo - 8;
    if (fmt == TD_INT6) {
        int64_t quarter = gsize / 4;
        int hi = (c[h + e % quarter] >> (2 * (e / quarter))) & 3;
        return (lo | hi << 4) - 32;
    }
    return 0;
}

/* Value of element e of one group (scale s, zero z) for any format. */
static inline float td_sparse_elem_value(td_format fmt, const uint8_t *c, int64_t gsize, int64_t e,
                                         float s, int z)
{
    switch (fmt) {
    case TD_F32: {
        float v;
        memcpy(&v, c + 4 * e, 4);
        return v;
    }
    case TD_BF16:
        return td_bf16_to_f32((uint16_t)(c[2 * e] | c[2 * e + 1] << 8));
    case TD_F16:
        return td_f16_to_f32((uint16_t)(c[2 * e] | c[2 * e + 1] << 8));
    case TD_FP8_E4M3:
        return s * td_fp8_e4m3_to_f32(c[e]);
    case TD_FP8_E5M2:
        return s * td_fp8_e5m2_to_f32(c[e]);
    default:
        return s * (float)(td_sparse_int_code(fmt, c, gsize, e) - z);
    }
}

#endif
