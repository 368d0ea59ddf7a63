/* Number formats, sparse encodings and compressed weight matrices.
 *
 * A weight matrix W has `rows` output channels and `cols` (= K) input channels.
 * td_qmatrix_quantize() turns an f32 W into a td_qmatrix in the format described
 * by a td_qspec: a value format (f32 ... int4), a scale granularity, optional zero
 * points, and optional structured sparsity (N:M or whole-group pruning). Every
 * format is one entry in the trait table (src/formats/format_table.c). */
#ifndef TANDEM_FORMATS_H
#define TANDEM_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_format {
    TD_F32 = 0,
    TD_BF16,
    TD_F16,
    TD_FP8_E4M3, /* OCP E4M3: bias 7, no infinities, NaN = S.1111.111, max 448 */
    TD_FP8_E5M2, /* OCP E5M2: bias 15, IEEE-style inf/NaN, max 57344 */
    TD_INT8,
    TD_INT6, /* 4-bit + 2-bit planes per group, unpacks cheaply to int8 */
    TD_INT4,
    TD_FORMAT_COUNT
} td_format;

typedef enum td_sparsity {
    TD_DENSE = 0,
    TD_SPARSE_NM,    /* N of every M consecutive weights along K kept */
    TD_SPARSE_GROUP, /* whole scale groups pruned, the rest kept (block-sparse) */
    TD_SPARSITY_COUNT
} td_sparsity;

typedef enum td_clip {
    TD_CLIP_ABSMAX = 0, /* round-to-nearest with scale from the group's max |w| */
    TD_CLIP_MSE,        /* search the clipping scale minimizing squared error per group */
} td_clip;

typedef struct td_qspec {
    td_format format;
    /* Scale granularity. group = number of consecutive K elements sharing a scale;
     * 0 means the whole row (per-channel). tile_rows = rows sharing a scale: 1 for
     * per-channel/per-group, 0 for all rows (with group 0: per-tensor). fp8 per-tile
     * 64x64 is group 64, tile_rows 64. Formats without scales (f32, bf16, f16)
     * ignore both. */
    int group;
    int tile_rows;
    bool asym;     /* zero points (int8, int4) */
    bool saturate; /* fp8: clamp out-of-range values to max normal instead of NaN/inf */
    td_clip clip;
    /* structured sparsity */
    td_sparsity sparsity;
    int nm_n, nm_m;          /* N:M, 1 <= N < M <= 16 */
    double group_prune;      /* TD_SPARSE_GROUP: fraction of groups pruned, [0, 1) */
    const float *importance; /* optional per-input-channel importance (length cols) used
                                by N:M pruning: score = |w| * importance[k] */
} td_qspec;

/* A spec with sane defaults for the format: int4/int6 group 128 symmetric, int8 and fp8
 * per-channel, dense. */
td_qspec td_qspec_default(td_format format);

typedef struct td_format_info {
    const char *name;   /* "int4", "fp8_e4m3", ... */
    int code_bits;      /* bits per stored value, excluding scales */
    int group_multiple; /* group sizes must be a multiple of this (1 = any) */
    bool has_scale;
    bool allows_asym;
    bool is_float;
} td_format_info;

const td_format_info *td_format_get(td_format fmt);
td_status td_format_parse(const char *name, td_format *out);

/* Parses a compact description used by the CLI and benchmarks:
 * "int4", "int4:g64", "int4:g32:asym", "int8:2:4", "int4:gs0.5" (50% groups pruned),
 * "fp8_e4m3:tile64", "int8:g0" (per-channel), "int8:2:8:mse". */
td_status td_qspec_parse(const char *text, td_qspec *out);
/* Inverse of parse, for printing. */
void td_qspec_describe(const td_qspec *spec, char *buf, size_t len);

typedef struct td_qmatrix td_qmatrix; /* opaque */

/* Quantizes (and prunes/compresses) W (rows x cols, row-major with leading dimension ld).
 * Rejects NaN/Inf, zero or negative sizes, malformed specs and overflowing byte counts. */
td_status td_qmatrix_quantize(const td_qspec *spec, const float *w, int64_t rows, int64_t cols,
                              int64_t ld, td_qmatrix **out);
void td_qmatrix_free(td_qmatrix *q);
/* Writes the dense f32 matrix the compressed one represents (rows x cols, ld = cols);
 * pruned weights come back as 0. */
td_status td_qmatrix_dequantize(const td_qmatrix *q, float *out);

int64_t td_qmatrix_rows(const td_qmatrix *q);
int64_t td_qmatrix_cols(const td_qmatrix *q);
const td_qspec *td_qmatrix_spec(const td_qmatrix *q);
/* All bytes the kernels read for the weights: codes, scales, zero points and indices. */
size_t td_qmatrix_bytes(const td_qmatrix *q);
/* td_qmatrix_bytes * 8 / (rows * cols). */
double td_qmatrix_bits_per_weight(const td_qmatrix *q);

/* ---- compressed matrices as byte parts (for model files) ---- */
#define TD_QMATRIX_MAX_PARTS 6
typedef struct td_qpart {
    const char *name; /* "codes", "scales", "zeros", "idx", "row_ptr", "groups" */
    void *data;
    size_t bytes;
} td_qpart;

/* Lists the stored parts of q (pointers into q); returns how many (<= TD_QMATRIX_MAX_PARTS). */
int td_qmatrix_parts(const td_qmatrix *q, td_qpart *parts);
/* Rebuilds a matrix from its parts. Every part the layout of (spec, rows, cols) needs must be
 * present with exactly its size; indices and scales are validated. `what` names the tensor in
 * errors. */
td_status td_qmatrix_from_parts(const td_qspec *spec, int64_t rows, int64_t cols,
                                const td_qpart *parts, int n_parts, const char *what,
                                td_qmatrix **out);

/* ---- scalar conversions (exact, round-to-nearest-even) ---- */
float td_bf16_to_f32(uint16_t h);
uint16_t td_f32_to_bf16(float f);
float td_f16_to_f32(uint16_t h);
uint16_t td_f32_to_f16(float f);
float td_fp8_e4m3_to_f32(uint8_t v);
uint8_t td_f32_to_fp8_e4m3(float f, bool saturate);
float td_fp8_e5m2_to_f32(uint8_t v);
uint8_t td_f32_to_fp8_e5m2(float f, bool saturate);

#ifdef __cplusplus
}
#endif
#endif
