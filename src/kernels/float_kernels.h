/* Kernels for float weight formats (bf16, f16, fp8 E4M3/E5M2) with f32 activations:
 * a scalar reference and AVX2 / AVX-512 paths, all with the td_gemm_kernel signature
 * (rows [r0, r1) of Y = X * W^T for every token). Integer activations with these
 * weights use the generic reference. */
#ifndef TANDEM_FLOAT_KERNELS_H
#define TANDEM_FLOAT_KERNELS_H

#include "formats/qmatrix_internal.h"

void td_gemm_bf16_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1);
void td_gemm_f16_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                     int64_t r1);
void td_gemm_fp8_e4m3_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                          int64_t r1);
void td_gemm_fp8_e5m2_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                          int64_t r1);

void td_gemm_bf16_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                       int64_t r1);
void td_gemm_f16_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                      int64_t r1);
void td_gemm_fp8_e4m3_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                           int64_t r1);
void td_gemm_fp8_e5m2_avx2(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                           int64_t r1);

void td_gemm_bf16_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                         int64_t r1);
void td_gemm_f16_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                        int64_t r1);
void td_gemm_fp8_e4m3_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1);
void td_gemm_fp8_e5m2_avx512(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                             int64_t r0, int64_t r1);

/* K block of the vector GEMM kernels: the activations of every token over one K block
 * should stay in L2 while the kernel sweeps its rows, so the block shrinks as the batch
 * grows (at batch 1 it is the whole row: GEMV streams each row once, start to end).
 * A multiple of 64, at least 256. */
static inline int64_t td_float_kblock(int64_t batch, int64_t kpad)
{
    int64_t kb = ((int64_t)1 << 19) / (4 * batch); /* 512 KiB of activations */
    kb = kb / 64 * 64;
    if (kb < 256)
        kb = 256;
    return kb < kpad ? kb : kpad;
}

#endif
