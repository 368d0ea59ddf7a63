/* The format trait table: one entry per number format. Adding a format means adding
 * its traits object (in its own file beside this one), its kernels, and one line here. */
#include <string.h>

#include "formats/qmatrix_internal.h"

extern const td_format_traits td_traits_f32;
extern const td_format_traits td_traits_bf16;
extern const td_format_traits td_traits_f16;
extern const td_format_traits td_traits_fp8_e4m3;
extern const td_format_traits td_traits_fp8_e5m2;
extern const td_format_traits td_traits_int8;
extern const td_format_traits td_traits_int6;
extern const td_format_traits td_traits_int4;

static const td_format_traits *const format_table[TD_FORMAT_COUNT] = {
    [TD_F32] = &td_traits_f32,           [TD_BF16] = &td_traits_bf16,
    [TD_F16] = &td_traits_f16,           [TD_FP8_E4M3] = &td_traits_fp8_e4m3,
    [TD_FP8_E5M2] = &td_traits_fp8_e5m2, [TD_INT8] = &td_traits_int8,
    [TD_INT6] = &td_traits_int6,         [TD_INT4] = &td_traits_int4,
};

const td_format_traits *td_format_traits_get(td_format fmt)
{
    if ((int)fmt < 0 || fmt >= TD_FORMAT_COUNT)
        return NULL;
    return format_table[fmt];
}

const td_format_info *td_format_get(td_format fmt)
{
    const td_format_traits *t = td_format_traits_get(fmt);
    return t ? &t->info : NULL;
}

td_status td_format_parse(const char *name, td_format *out)
{
    for (int f = 0; f < TD_FORMAT_COUNT; f++) {
        if (name && !strcmp(name, format_table[f]->info.name)) {
            *out = (td_format)f;
            return TD_OK;
        }
    }
    return td_error_new(TD_CODE_INVALID_ARGUMENT,
                        "unknown format '%s' (expected f32, bf16, f16, fp8_e4m3, fp8_e5m2, "
                        "int8, int6 or int4)",
                        name ? name : "(null)");
}
