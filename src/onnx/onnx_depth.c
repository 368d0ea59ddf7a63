/* Nesting-depth check of a serialized ModelProto, run before protobuf-c unpacks it.
 *
 * protobuf-c unpacks submessages recursively without a depth limit, and ONNX messages can
 * nest without bound (a graph attribute holds a graph whose nodes hold graph attributes...;
 * a sequence type holds a type). A few bytes per level are enough for a crafted file to
 * overflow the stack, so the recursive paths of the schema are walked here first, with a
 * limit far above anything real. Malformed wire data is left for protobuf-c to reject. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "onnx/onnx_internal.h"

typedef enum msg_kind {
    M_NONE = 0, /* not followed */
    M_MODEL,
    M_GRAPH,
    M_NODE,
    M_ATTR,
    M_VALUE_INFO,
    M_TYPE,
    M_TYPE_ELEM, /* TypeProto.Sequence / Optional: field 1 is a TypeProto */
    M_TYPE_MAP,  /* TypeProto.Map: field 2 is a TypeProto */
    M_TRAINING,  /* TrainingInfoProto: fields 1 and 2 are graphs */
    M_FUNCTION,  /* FunctionProto: field 7 holds nodes */
} msg_kind;

/* The message kind a length-delimited field of `parent` holds, among the recursive paths. */
static msg_kind child_kind(msg_kind parent, uint64_t field)
{
    switch (parent) {
    case M_MODEL:
        return field == 7 ? M_GRAPH : field == 20 ? M_TRAINING : field == 25 ? M_FUNCTION : M_NONE;
    case M_GRAPH:
        return field == 1                                    ? M_NODE
               : (field == 11 || field == 12 || field == 13) ? M_VALUE_INFO
                                                             : M_NONE;
    case M_NODE:
        return field == 5 ? M_ATTR : M_NONE;
    case M_ATTR:
        return (field == 6 || field == 11)    ? M_GRAPH
               : (field == 14 || field == 15) ? M_TYPE
                                              : M_NONE;
    case M_VALUE_INFO:
        return field == 2 ? M_TYPE : M_NONE;
    case M_TYPE:
        return (field == 4 || field == 9) ? M_TYPE_ELEM : field == 5 ? M_TYPE_MAP : M_NONE;
    case M_TYPE_ELEM:
        return field == 1 ? M_TYPE : M_NONE;
    case M_TYPE_MAP:
        return field == 2 ? M_TYPE : M_NONE;
    case M_TRAINING:
        return (field == 1 || field == 2) ? M_GRAPH : M_NONE;
    case M_FUNCTION:
        return field == 7 ? M_NODE : M_NONE;
    default:
        return M_NONE;
    }
}

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Returns false only when the depth limit is exceeded; wire errors end the walk quietly. */
static bool walk(const uint8_t *p, const uint8_t *end, msg_kind kind, int depth)
{
    if (depth > TD_ONNX_MAX_DEPTH)
        return false;
    while (p < end) {
        uint64_t tag, len;
        if (!varint(&p, end, &tag))
            return true;
        switch (tag & 7) {
        case 0:
            if (!varint(&p, end, &len))
                return true;
            break;
        case 1:
            if (end - p < 8)
                return true;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return true;
            p += 4;
            break;
        case 2: {
            if (!varint(&p, end, &len) || len > (uint64_t)(end - p))
                return true;
            msg_kind k = child_kind(kind, tag >> 3);
            if (k != M_NONE && !walk(p, p + len, k, depth + 1))
                return false;
            p += len;
            break;
        }
        default:
            return true; /* groups or garbage: protobuf-c rejects them */
        }
    }
    return true;
}

td_status td_onnx_check_depth(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    if (!walk(p, p + len, M_MODEL, 0))
        return td_error_new(TD_CODE_UNSUPPORTED,
                            "messages nested more than %d deep (subgraphs or types)",
                            TD_ONNX_MAX_DEPTH);
    return TD_OK;
}
