/* libFuzzer: hardware description files (YAML) from arbitrary bytes. TD_FUZZ_MAX_LEN 1024 */
#include <stddef.h>
#include <stdint.h>

#include "tandem/hw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_hw_desc *d = NULL;
    td_status st = td_hw_load_buffer((const char *)data, size, "fuzz.yaml", &d);
    if (!st) {
        for (int i = 0; i < d->n_accels; i++)
            (void)td_hw_accel_for(d, d->accels[i].name);
        td_hw_free(d);
    }
    td_status_free(st);
    return 0;
}
