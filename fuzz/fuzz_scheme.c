/* libFuzzer target for compression-scheme files: any text either fails with an error or
 * parses into at most TD_SCHEME_MAX_RULES rules, each with a valid format spec. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    td_scheme sc;
    td_status st = td_scheme_parse(buf, size, "fuzz.json", &sc);
    if (!st && (sc.n_rules < 0 || sc.n_rules > TD_SCHEME_MAX_RULES))
        abort();
    td_status_free(st);
    free(buf);
    return 0;
}
