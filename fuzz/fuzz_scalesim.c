/* libFuzzer target for SCALE-Sim config and topology files: any bytes either fail with an error
 * or parse into values within the documented limits, and every parsed layer can be estimated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/scalesim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The parsers take raw buffers, so no terminating NUL: ASan catches any over-read. */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    td_scalesim_config cfg;
    td_status st = td_scalesim_parse_config(buf, size, "fuzz.cfg", &cfg);
    if (!st && (cfg.array_rows == 0 || cfg.array_rows > TD_SCALESIM_MAX_ARRAY ||
                cfg.array_cols == 0 || cfg.array_cols > TD_SCALESIM_MAX_ARRAY))
        abort();
    td_status_free(st);
    td_scalesim_config any = {.array_rows = 7, .array_cols = 5, .dataflow = TD_SCALESIM_WS};
    td_scalesim_layer *layers = NULL;
    size_t n = 0;
    st = td_scalesim_parse_topology(buf, size, "fuzz.csv", TD_SCALESIM_TOPO_AUTO, &layers, &n);
    if (!st) {
        if (n == 0 || n > TD_SCALESIM_MAX_LAYERS)
            abort();
        for (size_t i = 0; i < n && i < 64; i++) {
            td_scalesim_result r;
            for (int df = 0; df < 3; df++) {
                any.dataflow = (td_scalesim_dataflow)df;
                td_status e = td_scalesim_layer_estimate(&any, &layers[i], &r);
                if (!e && r.total_cycles == 0)
                    abort();
                td_status_free(e);
            }
        }
    }
    td_status_free(st);
    free(layers);
    free(buf);
    return 0;
}
