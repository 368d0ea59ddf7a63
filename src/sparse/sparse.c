/* PLACEHOLDER: replaced by the N:M and group-sparsity implementation. */
#include "sparse/sparse_internal.h"

td_status td_sparse_quantize(td_qmatrix *q, const td_qspec *spec, const float *w, int64_t ld)
{
    (void)q;
    (void)w;
    (void)ld;
    return td_error_new(TD_CODE_UNSUPPORTED, "sparsity %d not implemented yet",
                        (int)spec->sparsity);
}

td_status td_sparse_dequantize(const td_qmatrix *q, float *out)
{
    (void)q;
    (void)out;
    return td_error_new(TD_CODE_UNSUPPORTED, "sparse dequantize not implemented yet");
}
