/* PLACEHOLDER: replaced by the real format implementation. */
#include "formats/qmatrix_internal.h"

static td_status placeholder_quantize(td_qmatrix *q, const float *w, int64_t ld)
{
    (void)w;
    (void)ld;
    return td_error_new(TD_CODE_UNSUPPORTED, "format %d not implemented yet", (int)q->spec.format);
}

const td_format_traits td_traits_f16 = {
    .info = {.name = "f16",
             .code_bits = 16,
             .group_multiple = 1,
             .has_scale = false,
             .allows_asym = false,
             .is_float = true},
    .quantize = placeholder_quantize,
};
