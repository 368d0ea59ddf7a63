/* Tensors: shape, strides, element format, owned or borrowed data. */
#ifndef TANDEM_TENSOR_H
#define TANDEM_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "tandem/core.h"
#include "tandem/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_MAX_DIMS 8

typedef struct td_tensor {
    td_format format; /* element format of dense (unscaled) data: f32, bf16, f16, fp8, int8 */
    int ndim;
    int64_t shape[TD_MAX_DIMS];
    int64_t strides[TD_MAX_DIMS]; /* in elements */
    void *data;
    bool owned; /* data allocated by td_tensor_new and released by td_tensor_free */
} td_tensor;

/* Allocates a contiguous zero-filled tensor. Formats below 8 bits are not valid here:
 * they live in td_qmatrix with their scales. */
td_status td_tensor_new(td_format format, int ndim, const int64_t *shape, td_tensor *out);
/* Wraps caller memory (contiguous strides); the tensor does not free it. */
td_status td_tensor_wrap(td_format format, int ndim, const int64_t *shape, void *data,
                         td_tensor *out);
void td_tensor_free(td_tensor *t);
int64_t td_tensor_numel(const td_tensor *t);
bool td_tensor_is_contiguous(const td_tensor *t);
/* Size of one element in bytes (f32 4, bf16/f16 2, fp8/int8 1). */
td_status td_format_elem_size(td_format format, size_t *out);

#ifdef __cplusplus
}
#endif
#endif
