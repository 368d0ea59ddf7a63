/* Reading and writing safetensors files.
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON (an object mapping tensor
 * names to {"dtype", "shape", "data_offsets": [begin, end]} plus an optional "__metadata__"
 * object of string values), then the data area. Offsets are relative to the data area.
 *
 * The reader is strict, and agrees with the reference (Hugging Face) loader where that one is
 * strict: the tensors, ordered by offsets, must tile the data area exactly (no overlaps, no
 * holes, no trailing bytes), every byte range must equal element count x dtype size, and the
 * header is limited to 100,000,000 bytes. Beyond the reference it also rejects duplicate tensor
 * names and metadata keys (the JSON would otherwise silently keep one). Unknown fields inside a
 * tensor entry are ignored, as the reference loader does. Integers in the header must be
 * exact in a double (at most 2^53), which every real file satisfies.
 *
 * Tensor data is returned as a pointer into the mapped file (or caller buffer): it is aligned
 * only as the file lays it out. Files written by td_safetensors_write align every tensor to its
 * element size; other writers may not, so read through memcpy when alignment matters. */
#ifndef TANDEM_SAFETENSORS_H
#define TANDEM_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_ST_MAX_DIMS 8
#define TD_ST_MAX_HEADER 100000000u /* the reference loader's limit */

typedef enum td_st_dtype {
    TD_ST_BOOL = 0,
    TD_ST_U8,
    TD_ST_I8,
    TD_ST_F8_E5M2,
    TD_ST_F8_E4M3,
    TD_ST_I16,
    TD_ST_U16,
    TD_ST_F16,
    TD_ST_BF16,
    TD_ST_I32,
    TD_ST_U32,
    TD_ST_F32,
    TD_ST_I64,
    TD_ST_U64,
    TD_ST_F64,
    TD_ST_DTYPE_COUNT
} td_st_dtype;

/* The dtype's name as written in the header ("F32"), or NULL when out of range. */
const char *td_st_dtype_name(td_st_dtype dtype);
/* Bytes per element, 0 when out of range. */
size_t td_st_dtype_size(td_st_dtype dtype);
/* Parses a header dtype name (case-sensitive, as the format requires). */
td_status td_st_dtype_parse(const char *name, td_st_dtype *out);

typedef struct td_st_tensor {
    const char *name; /* owned by the file object */
    td_st_dtype dtype;
    int ndim; /* 0 for a scalar */
    int64_t shape[TD_ST_MAX_DIMS];
    size_t nelem;
    const void *data; /* nbytes bytes; not necessarily aligned (see above) */
    size_t nbytes;
} td_st_tensor;

typedef struct td_safetensors td_safetensors;

/* Maps `path` read-only and validates its header. */
td_status td_safetensors_open(const char *path, td_safetensors **out);
/* Parses a buffer the caller keeps alive (and unchanged) until td_safetensors_close; nothing is
 * copied. `name_for_errors` (may be NULL) names the buffer in error messages. */
td_status td_safetensors_open_buffer(const void *buf, size_t len, const char *name_for_errors,
                                     td_safetensors **out);
void td_safetensors_close(td_safetensors *st);

/* Tensors are indexed 0..count-1 in byte order of their names. */
size_t td_safetensors_count(const td_safetensors *st);
/* NULL when index >= count. */
const char *td_safetensors_name(const td_safetensors *st, size_t index);
td_status td_safetensors_tensor(const td_safetensors *st, size_t index, td_st_tensor *out);
/* TD_CODE_INVALID_ARGUMENT naming the file and tensor when there is no such tensor. */
td_status td_safetensors_find(const td_safetensors *st, const char *name, td_st_tensor *out);

/* "__metadata__" values: NULL when the key is absent. Keys are indexed in byte order. */
const char *td_safetensors_metadata(const td_safetensors *st, const char *key);
size_t td_safetensors_metadata_count(const td_safetensors *st);
/* Returns false when index >= count. */
bool td_safetensors_metadata_at(const td_safetensors *st, size_t index, const char **key,
                                const char **value);

/* ---- writer ---- */
typedef struct td_safetensors_writer td_safetensors_writer;

td_status td_safetensors_writer_new(td_safetensors_writer **out);
void td_safetensors_writer_free(td_safetensors_writer *w);
/* Adds a tensor. The name and shape are copied; `data` is not: it must stay valid until
 * td_safetensors_write returns. nbytes must equal the element count x dtype size. Names must be
 * non-empty, unique and not "__metadata__". */
td_status td_safetensors_writer_add(td_safetensors_writer *w, const char *name, td_st_dtype dtype,
                                    int ndim, const int64_t *shape, const void *data,
                                    size_t nbytes);
/* Sets (or replaces) a metadata entry; both strings are copied. */
td_status td_safetensors_writer_set_metadata(td_safetensors_writer *w, const char *key,
                                             const char *value);
/* Writes the file atomically: into `path`.tmp.XXXXXX in the same folder, then renamed over
 * `path`; on failure the temporary is removed and `path` is untouched. Layout: the header is
 * padded with spaces so the data area starts at a 64-byte file offset, and tensors are stored
 * contiguously (the format forbids gaps), largest element size first, then by name, so each
 * tensor is aligned to its element size. The file gets mode 0644. */
td_status td_safetensors_write(const td_safetensors_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
