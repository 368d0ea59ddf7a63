/* libFuzzer: design-space files (YAML) from arbitrary bytes. TD_FUZZ_MAX_LEN 4096 */
#include <stddef.h>
#include <stdint.h>

#include "tandem/explore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_space *s = NULL;
    td_status st = td_space_load_buffer((const char *)data, size, "fuzz.yaml", NULL, &s);
    if (!st) {
        const td_knob *k;
        (void)td_space_knobs(s, &k);
        (void)td_space_size(s);
        td_space_free(s);
    }
    td_status_free(st);
    return 0;
}
