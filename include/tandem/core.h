/* Core services: checked sizes, aligned memory, CPU features, execution context. */
#ifndef TANDEM_CORE_H
#define TANDEM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_VERSION_STRING "0.1.0"
#define TD_ALIGN 64 /* one cache line and one AVX-512 register */

/* ---- checked arithmetic: every byte count derived from user shapes goes through these ---- */
td_status td_size_mul(size_t a, size_t b, size_t *out);
td_status td_size_add(size_t a, size_t b, size_t *out);
/* rows*cols as a size_t element count, rejecting negatives and overflow; `what` names the
 * object in the error message. */
td_status td_elem_count(int64_t rows, int64_t cols, const char *what, size_t *out);

/* ---- aligned memory (64-byte aligned, zero-filled) ---- */
td_status td_alloc(size_t bytes, void **out);
void td_free(void *p);

/* ---- files ---- */
/* Reads a whole file into a malloc'ed buffer with a terminating NUL (not counted in *len).
 * Files larger than max_bytes are refused (TD_CODE_BAD_DATA) naming the file. */
td_status td_file_read(const char *path, size_t max_bytes, char **out, size_t *len);

/* Writes `len` bytes to `path` through a temporary file beside it (mode 0644, fsynced) and a
 * rename, so that readers never see a half-written file; on error nothing is left behind. */
td_status td_file_write_atomic(const char *path, const void *data, size_t len);

/* Seconds on a monotonic clock (for durations). */
double td_seconds(void);

/* ---- instruction sets, best first is the highest value ---- */
typedef enum td_isa {
    TD_ISA_SCALAR = 0, /* the portable reference kernels */
    TD_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    TD_ISA_AVX512 = 2, /* AVX-512 F/BW/DQ/VL + VNNI (+VBMI, BF16 when present) */
    TD_ISA_COUNT
} td_isa;

typedef struct td_cpu_info {
    char model[64];
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512dq, avx512vl, avx512vnni, avx512vbmi, avx512bf16;
    td_isa best; /* highest td_isa fully supported */
} td_cpu_info;

/* Detects features once per call (cheap: a few CPUID reads). */
void td_cpu_detect(td_cpu_info *info);
const char *td_isa_name(td_isa isa);
/* Parses "scalar", "avx2", "avx512" or "auto" (auto yields `best`). */
td_status td_isa_parse(const char *name, const td_cpu_info *cpu, td_isa *out);

/* ---- execution context: passed to every kernel driver; there is no hidden global state ---- */
typedef struct td_ctx {
    int threads; /* >= 1 */
    td_isa isa;  /* ISA the kernels may use (<= cpu best); tests force lower ones */
} td_ctx;

/* Context using every available core and the best ISA. Environment variable TANDEM_ISA
 * (scalar|avx2|avx512) lowers the ISA, which is how the test suite forces each path. */
td_ctx td_ctx_default(void);
td_status td_ctx_set_threads(td_ctx *ctx, int threads);
int td_max_threads(void);

#ifdef __cplusplus
}
#endif
#endif
