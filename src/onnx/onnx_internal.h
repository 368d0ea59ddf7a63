/* Shared pieces of the ONNX loader: element types, tensor decoding, file reading. */
#ifndef TD_ONNX_INTERNAL_H
#define TD_ONNX_INTERNAL_H

#include <stddef.h>

#include "onnx.pb-c.h"
#include "tandem/graph.h"
#include "tandem/onnx.h"

/* Where a tensor comes from, for error messages and external data. */
typedef struct td_onnx_src {
    const char *file;     /* names the model or tensor file in every error */
    const char *base_dir; /* folder of external data files; NULL forbids external data */
} td_onnx_src;

/* Dimensions beyond this are treated as corrupt (keeps int64 index arithmetic safe). */
#define TD_ONNX_MAX_DIM ((int64_t)1 << 40)

/* Maps an ONNX TensorProto.DataType to a td_dtype; `what` names the tensor in errors. */
td_status td_onnx_dtype(const td_onnx_src *src, int32_t onnx_type, const char *what, td_dtype *out);

/* Decodes a TensorProto (raw_data, typed fields or external data) into a td_alloc'ed
 * contiguous view. `what` names the tensor ("initializer 'w'", "node 'n' attribute 'value'"). */
td_status td_onnx_tensor_decode(const td_onnx_src *src, const Onnx__TensorProto *t,
                                const char *what, td_view *out);

/* Reads a whole regular file of at most `cap` bytes into a malloc'ed buffer. */
td_status td_onnx_read_file(const char *path, size_t cap, void **buf, size_t *len);

/* The folder part of a path ("." when it has none), malloc'ed; NULL when out of memory. */
char *td_onnx_dirname(const char *path);

/* Deepest nesting of messages accepted (each subgraph level costs 3). */
#define TD_ONNX_MAX_DEPTH 64

/* Rejects models nested deeper than TD_ONNX_MAX_DEPTH before protobuf-c, which recurses
 * without limit, unpacks them. */
td_status td_onnx_check_depth(const void *buf, size_t len);

/* Prefixes an error with the file it concerns, keeping its code. */
td_status td_onnx_wrap(const char *file, td_status st);

#endif
