/* Loading a YAML document for the strict parsers (hardware descriptions, design spaces). */
#ifndef TD_HW_YAML_DOC_H
#define TD_HW_YAML_DOC_H

#include <stddef.h>
#include <yaml.h>

#include "tandem/status.h"

#define TD_YAML_MAX_FILE (1u << 20)

/* Parses buf into doc (the caller deletes it on success); errors name `file` and the line. */
td_status td_yaml_load(const char *buf, size_t len, const char *file, yaml_document_t *doc);

#endif
