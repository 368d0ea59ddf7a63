/* Internal layout of compressed matrices and prepared activations: the contract
 * between the quantizers (src/formats, src/sparse) and the kernels (src/kernels).
 *
 * DENSE LAYOUT
 *   K is padded to kpad = ngroups * gsize, where gsize is the scale group length
 *   (the whole padded row for per-channel / per-tensor scales). Padding holds the
 *   code of the value 0, so kernels never need a K tail.
 *   Row r's codes start at codes + r * row_bytes; row_bytes = kpad * code_bits / 8.
 *     f32/bf16/f16/fp8: plain little-endian arrays of the element type.
 *     int8:  signed codes in [-127, 127] (never -128: keeps AVX2's sign trick exact).
 *     int4:  biased unsigned codes u = q + 8 in [0, 15], value q in [-8, 7]. Within each
 *            group of gsize elements (gsize % 32 == 0), byte j (0 <= j < gsize/2) holds
 *            element j in its low nibble and element j + gsize/2 in its high nibble.
 *     int6:  biased unsigned codes u = q + 32 in [0, 63], q in [-32, 31] (symmetric
 *            quantization uses [-31, 31]). Each group (gsize % 32 == 0) is gsize/2 bytes
 *            of low 4 bits (nibble layout as int4) followed by gsize/4 bytes of high
 *            2 bits: byte j holds bits 4..5 of elements j, j+gsize/4, j+2*gsize/4,
 *            j+3*gsize/4 in its bit pairs 0-1, 2-3, 4-5, 6-7.
 *   Scales: f32 grid of scale_rows x ngroups, scale_rows = ceil(rows / tile_rows);
 *   weight (r, k) uses scales[(r / tile_rows) * ngroups + k / gsize]. NULL for
 *   f32/bf16/f16. Value = scale * (q - zero) with zero from `zeros` (same grid,
 *   int8, NULL when symmetric). For fp8, value = scale * fp8_decode(code).
 *   wsum: int32 rows x ngroups, sum of the signed codes q of each group (int formats);
 *   VNNI kernels use it to undo the +128 bias they add to activations.
 *
 * N:M LAYOUT (TD_SPARSE_NM)
 *   K is padded to a multiple of M (and of the value format's group), giving
 *   kpad; each row keeps N values per M-block, so the kept values form a dense
 *   rows x kc matrix (kc = kpad / M * N) stored exactly as the dense layout above
 *   in the value format (its groups run over kept values). `idx` holds, for each
 *   kept value in order, its position within its M-block (0..M-1) in idx_bits
 *   bits, packed LSB-first, idx_row_bytes per row.
 *
 * GROUP-SPARSE LAYOUT (TD_SPARSE_GROUP)
 *   Dense layout per kept group; row r's kept groups are gs_row_ptr[r] ..
 *   gs_row_ptr[r+1]-1, group index gs_group[i], codes at codes + i * group_bytes,
 *   scale scales[i] (and zeros[i] if asym). */
#ifndef TANDEM_QMATRIX_INTERNAL_H
#define TANDEM_QMATRIX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tandem/kernels.h"

struct td_qmatrix {
    td_qspec spec; /* spec.importance is cleared after quantization */
    int64_t rows, cols;
    int64_t gsize;   /* scale group length after resolving "per-channel" */
    int64_t ngroups; /* per row (dense: over kpad; N:M: over kc) */
    int64_t kpad;    /* padded K in the original (uncompressed) index space */
    int64_t tile_rows, scale_rows;
    uint8_t *codes;
    size_t row_bytes; /* bytes of codes per row (dense and N:M) */
    float *scales;
    int8_t *zeros;
    int32_t *wsum;
    /* N:M */
    int64_t kc; /* kept values per row */
    int idx_bits;
    uint8_t *idx;
    size_t idx_row_bytes;
    /* group sparsity */
    int64_t *gs_row_ptr; /* rows + 1 */
    int32_t *gs_group;
    size_t group_bytes;
    int64_t gs_kept; /* total kept groups */
    /* bookkeeping */
    size_t bytes; /* what td_qmatrix_bytes reports */
};

/* Prepared activations. x is padded to kpad (zeros beyond K). For quantized types
 * q = round(x / scale) per token, scale = max|x| / qmax (qmax 127 for A8, 31 for A6;
 * scale 1 for an all-zero token), and gsum[b * ngroups + g] = sum of q over weight
 * group g (gsize taken from the weight; for N:M weights the groups run over the
 * original K in blocks of gsize * M / N, i.e. the K span of one kept-value group). */
struct td_act {
    td_act_type type;
    int64_t batch, k, kpad;
    float *x;      /* batch x kpad, f32 (always filled: fallback kernels use it) */
    int8_t *q;     /* batch x kpad (quantized types) */
    float *scale;  /* batch */
    int32_t *gsum; /* batch x ngroups */
    int64_t ngroups, gsize;
    size_t cap_x, cap_q, cap_s, cap_g; /* allocated bytes, for reuse */
};

/* A kernel computes Y rows [r0, r1) for every token: y[b * ldy + r]. The driver
 * guarantees r0 and r1 are multiples of 16 (or r1 == rows). */
typedef void (*td_gemm_kernel)(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy,
                               int64_t r0, int64_t r1);

/* One entry per value format. quantize fills an already laid-out qmatrix (codes,
 * scales, zeros allocated by the generic driver) from f32 rows; dequantize_row
 * writes kpad floats (dense layout) or kc floats (N:M: the kept values). */
typedef struct td_format_traits {
    td_format_info info;
    td_status (*quantize)(td_qmatrix *q, const float *w, int64_t ld);
    void (*dequantize_row)(const td_qmatrix *q, int64_t r, float *out);
    /* kernels[sparsity][isa][act]; NULL where no kernel of that ISA exists: the
     * dispatcher falls back to a lower ISA and finally to the generic reference. */
    td_gemm_kernel kernels[TD_SPARSITY_COUNT][TD_ISA_COUNT][TD_ACT_COUNT];
    /* The kernels call OpenBLAS (the f32 path): the driver keeps OpenBLAS single-
     * threaded and splits rows over its own OpenMP threads like any other kernel. */
    bool uses_blas;
} td_format_traits;

const td_format_traits *td_format_traits_get(td_format fmt);

/* Scale/zero lookup for weight (r, group g) in the dense layout. */
static inline float td_q_scale(const td_qmatrix *q, int64_t r, int64_t g)
{
    return q->scales ? q->scales[(r / q->tile_rows) * q->ngroups + g] : 1.0f;
}
static inline int td_q_zero(const td_qmatrix *q, int64_t r, int64_t g)
{
    return q->zeros ? q->zeros[(r / q->tile_rows) * q->ngroups + g] : 0;
}

#endif
