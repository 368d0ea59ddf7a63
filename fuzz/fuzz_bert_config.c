/* libFuzzer target for the BERT config.json parser: any text either fails with an error or
 * gives a config; the input is not NUL-terminated, so reading past `len` is an ASan error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/models.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    td_bert_config cfg;
    td_status_free(td_bert_config_parse(buf, size, "fuzz/config.json", &cfg));
    free(buf);
    return 0;
}
