/* libFuzzer target for the spec parser (the text users type after --scheme/--formats).
 * Any spec that parses must also quantize a small matrix and run a product without
 * crashing: the parser must never accept something the quantizer cannot handle. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/tandem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[200];
    if (size >= sizeof text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    td_qspec spec;
    td_status st = td_qspec_parse(text, &spec);
    if (st) {
        td_status_free(st);
        return 0;
    }
    char desc[128];
    td_qspec_describe(&spec, desc, sizeof desc);
    /* Huge groups are valid but make every run allocate and scan megabytes; they are
     * covered by the unit tests, and here they would only slow the search down. */
    if (spec.group > 256 || spec.tile_rows > 256)
        return 0;
    enum { R = 5, K = 37 };
    float w[R * K], x[2 * K], y[2 * R];
    for (int i = 0; i < R * K; i++)
        w[i] = (float)((i * 37) % 19) - 9.0f;
    for (int i = 0; i < 2 * K; i++)
        x[i] = (float)((i * 11) % 7) - 3.0f;
    td_qmatrix *q;
    st = td_qmatrix_quantize(&spec, w, R, K, K, &q);
    if (st) {
        td_status_free(st);
        return 0;
    }
    td_ctx ctx = td_ctx_default();
    ctx.threads = 1;
    for (int act = 0; act < TD_ACT_COUNT; act++)
        td_status_free(td_gemm(&ctx, q, (td_act_type)act, x, 2, y));
    td_qmatrix_free(q);
    return 0;
}
