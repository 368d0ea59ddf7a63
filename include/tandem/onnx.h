/* ONNX import: a ModelProto file becomes a td_graph; a TensorProto file becomes a td_view.
 *
 * Supported: the default ONNX domain at opset 7 and later (g->opset records it; some operators
 * differ before opset 13), tensor element types float32/64, float16, bfloat16, int8/16/32/64,
 * uint8 and bool, initializers in raw_data or the typed fields, external data files next to the
 * model, and attributes of the types td_attr can hold. Everything else (other domains, string
 * tensors, graph attributes of If/Loop, sparse tensors, sequence inputs) is reported as
 * TD_CODE_UNSUPPORTED with the node or tensor named; malformed files are TD_CODE_BAD_DATA. */
#ifndef TANDEM_ONNX_H
#define TANDEM_ONNX_H

#include <stddef.h>

#include "tandem/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Files larger than this are refused before they are read. */
#define TD_ONNX_MAX_FILE_BYTES ((size_t)2 << 30)

/* Loads a model. External data files are looked up relative to the model's directory and
 * must stay inside it. The graph is not prepared. */
td_status td_onnx_load(const char *path, td_graph **out);

/* Loads a model held in memory. base_dir is the folder external data is read from; NULL
 * forbids external data. name_for_errors names the model in error messages (NULL: "model"). */
td_status td_onnx_load_buffer(const void *buf, size_t len, const char *base_dir,
                              const char *name_for_errors, td_graph **out);

/* Reads a serialized TensorProto (the input_N.pb / output_N.pb files of the ONNX backend
 * tests). out->data is allocated with td_alloc (release it with td_free), even when empty. */
td_status td_onnx_load_tensor(const char *path, td_view *out);
td_status td_onnx_load_tensor_buffer(const void *buf, size_t len, const char *name_for_errors,
                                     td_view *out);

#ifdef __cplusplus
}
#endif
#endif
