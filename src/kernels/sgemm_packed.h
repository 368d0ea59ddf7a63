/* f32 GEMM against a constant weight packed once into panels of NR output columns.
 *
 * Y[M, N] = X[M, K] * W^T (+ bias), W given as N x K (Gemm transB = 1) or K x N (transB = 0).
 * The packed layout, shared by every ISA: panel p holds output columns [32p, 32p + 32), stored
 * k-major, data[(p * k + kk) * 32 + j] = W[32p + j, kk], zero past n. A microkernel reads one
 * 128-byte row of a panel per k, two aligned zmm loads, and broadcasts X scalars against it.
 *
 * Rounding: every path computes each output as acc = 0; for kk ascending acc = fma(x, w, acc);
 * then y = acc + bias. The scalar reference (fmaf), AVX2 and AVX-512 paths are therefore bit for
 * bit identical, whatever the blocking or threading. */
#ifndef TANDEM_SGEMM_PACKED_H
#define TANDEM_SGEMM_PACKED_H

#include <stdint.h>

#include "tandem/core.h"

#define TD_SGEMM_NR 32

typedef struct td_sgemm_packed {
    int64_t n, k;    /* output features, reduction length */
    int64_t npanels; /* ceil(n / 32) */
    float *data;     /* npanels * k * 32 floats, 64-byte aligned (td_alloc) */
} td_sgemm_packed;

/* Packs W given as N x K row-major (ONNX Gemm transB = 1, nn.Linear). n, k >= 0; n = 0 or
 * k = 0 pack an empty weight (running it writes bias, or zeros). *out is overwritten; free
 * with td_sgemm_packed_free. */
td_status td_sgemm_pack(const float *w, int64_t n, int64_t k, td_sgemm_packed *out);
/* Packs W given as K x N row-major (Gemm transB = 0, MatMul with a constant B). */
td_status td_sgemm_pack_kn(const float *w, int64_t k, int64_t n, td_sgemm_packed *out);
/* Frees the panels and zeroes *p; NULL and zeroed structs are fine. */
void td_sgemm_packed_free(td_sgemm_packed *p);

/* y[M x N, ld n] = x[M x K, ld k] * W^T + bias (bias: n floats or NULL). m = 0 is a no-op.
 * Uses up to ctx->threads OpenMP threads and the kernel for ctx->isa. x and y must not
 * overlap. */
td_status td_sgemm_packed_run(const td_ctx *ctx, const float *x, int64_t m,
                              const td_sgemm_packed *w, const float *bias, float *y);

/* ---- per-ISA kernels (kernels/ref, kernels/x86) ----
 * Rows [0, m) of y, columns of panels [p0, p1): x and y point at row 0, ld k and n. */
typedef void (*td_sgemm_block_fn)(const td_sgemm_packed *w, const float *x, int64_t m, int64_t p0,
                                  int64_t p1, const float *bias, float *y);
void td_sgemm_block_ref(const td_sgemm_packed *w, const float *x, int64_t m, int64_t p0, int64_t p1,
                        const float *bias, float *y);
void td_sgemm_block_avx2(const td_sgemm_packed *w, const float *x, int64_t m, int64_t p0,
                         int64_t p1, const float *bias, float *y);
void td_sgemm_block_avx512(const td_sgemm_packed *w, const float *x, int64_t m, int64_t p0,
                           int64_t p1, const float *bias, float *y);

#endif
