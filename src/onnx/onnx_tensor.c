/* TensorProto decoding: element types, the storage fields, external data files.
 *
 * Every count and size read from the file is checked before it is used: a tensor file is
 * untrusted input. Errors name the tensor; the caller prefixes the file name. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph/op.h"
#include "onnx/onnx_internal.h"

/* ONNX stores raw_data little-endian; so does every machine Tandem targets. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX loader assumes a little-endian host"
#endif

td_status td_onnx_dtype(const td_onnx_src *src, int32_t onnx_type, const char *what, td_dtype *out)
{
    (void)src;
    switch (onnx_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        *out = TD_DT_F32;
        return TD_OK;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        *out = TD_DT_F64;
        return TD_OK;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
        *out = TD_DT_F16;
        return TD_OK;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16:
        *out = TD_DT_BF16;
        return TD_OK;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        *out = TD_DT_I64;
        return TD_OK;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
        *out = TD_DT_I32;
        return TD_OK;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
        *out = TD_DT_I16;
        return TD_OK;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
        *out = TD_DT_I8;
        return TD_OK;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
        *out = TD_DT_U8;
        return TD_OK;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        *out = TD_DT_BOOL;
        return TD_OK;
    case ONNX__TENSOR_PROTO__DATA_TYPE__STRING:
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: string tensors are not supported", what);
    case ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED:
        return td_error_new(TD_CODE_BAD_DATA, "%s: element type is undefined", what);
    default:
        if (onnx_type > 0 && onnx_type < 256)
            return td_error_new(TD_CODE_UNSUPPORTED,
                                "%s: element type %d (unsigned 16-64 bit, complex, 8-bit or "
                                "4-bit float, 4-bit int) is not supported",
                                what, (int)onnx_type);
        return td_error_new(TD_CODE_BAD_DATA, "%s: invalid element type %d", what, (int)onnx_type);
    }
}

/* Shape and byte count of a tensor, all checked. */
static td_status tensor_shape(const Onnx__TensorProto *t, const char *what, td_view *v,
                              size_t *numel, size_t *bytes)
{
    if (t->n_dims > TD_MAX_DIMS)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: %zu dimensions, at most %d supported", what,
                            t->n_dims, TD_MAX_DIMS);
    v->ndim = (int)t->n_dims;
    size_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        int64_t d = t->dims[i];
        if (d < 0 || d > TD_ONNX_MAX_DIM)
            return td_error_new(TD_CODE_BAD_DATA, "%s: dimension %zu is %lld", what, i,
                                (long long)d);
        v->shape[i] = d;
        td_status st = td_size_mul(n, (size_t)d, &n);
        if (st) {
            td_status_free(st);
            return td_error_new(TD_CODE_OVERFLOW, "%s: element count overflows", what);
        }
    }
    td_status st = td_size_mul(n, td_dtype_size(v->dtype), bytes);
    if (st || *bytes > TD_ONNX_MAX_FILE_BYTES * 4) {
        td_status_free(st);
        return td_error_new(TD_CODE_OVERFLOW, "%s: %zu elements is too large", what, n);
    }
    *numel = n;
    return TD_OK;
}

/* Parses a non-negative decimal integer, rejecting signs, spaces and overflow. */
static bool parse_size(const char *s, size_t *out)
{
    if (!s || !*s)
        return false;
    size_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        size_t d = (size_t)(*s - '0');
        if (v > (SIZE_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Resolves `location` inside base_dir; the resolved file must stay inside base_dir even
 * through symlinks. Returns a malloc'ed resolved path. */
static td_status external_path(const char *base_dir, const char *location, const char *what,
                               char **out)
{
    if (!*location)
        return td_error_new(TD_CODE_BAD_DATA, "%s: external data location is empty", what);
    if (location[0] == '/')
        return td_error_new(TD_CODE_BAD_DATA, "%s: external data location '%s' is an absolute path",
                            what, location);
    size_t n = strlen(base_dir) + strlen(location) + 2;
    char *joined = malloc(n);
    if (!joined)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", what);
    snprintf(joined, n, "%s/%s", base_dir, location);
    char *rbase = realpath(base_dir, NULL);
    char *rfile = realpath(joined, NULL);
    free(joined);
    td_status st = TD_OK;
    if (!rbase || !rfile) {
        st = td_error_new(TD_CODE_IO, "%s: cannot open external data file '%s': %s", what, location,
                          strerror(errno));
    } else {
        size_t bl = strlen(rbase);
        bool root = bl == 1 && rbase[0] == '/';
        if (!root && (strncmp(rfile, rbase, bl) != 0 || rfile[bl] != '/'))
            st = td_error_new(TD_CODE_BAD_DATA,
                              "%s: external data location '%s' leaves the model's folder", what,
                              location);
    }
    free(rbase);
    if (st) {
        free(rfile);
        return st;
    }
    *out = rfile;
    return TD_OK;
}

static td_status read_at(int fd, void *dst, size_t bytes, size_t offset, const char *what)
{
    char *p = dst;
    while (bytes > 0) {
        ssize_t r = pread(fd, p, bytes, (off_t)offset);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return td_error_new(TD_CODE_IO, "%s: external data file is truncated", what);
        p += r;
        bytes -= (size_t)r;
        offset += (size_t)r;
    }
    return TD_OK;
}

static td_status read_external(const td_onnx_src *src, const Onnx__TensorProto *t, const char *what,
                               size_t bytes, void **dst)
{
    if (!src->base_dir)
        return td_error_new(TD_CODE_UNSUPPORTED,
                            "%s: external data needs the model's folder (load it from a file)",
                            what);
    const char *location = NULL;
    size_t offset = 0, length = bytes;
    bool has_length = false;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        const char *k = e->key ? e->key : "";
        if (strcmp(k, "location") == 0) {
            location = e->value ? e->value : "";
        } else if (strcmp(k, "offset") == 0) {
            if (!parse_size(e->value, &offset))
                return td_error_new(TD_CODE_BAD_DATA, "%s: external data offset '%s' is invalid",
                                    what, e->value ? e->value : "");
        } else if (strcmp(k, "length") == 0) {
            if (!parse_size(e->value, &length))
                return td_error_new(TD_CODE_BAD_DATA, "%s: external data length '%s' is invalid",
                                    what, e->value ? e->value : "");
            has_length = true;
        }
    }
    if (!location)
        return td_error_new(TD_CODE_BAD_DATA, "%s: external data has no location", what);
    if (has_length && length != bytes)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: external data length %zu, but the shape needs %zu bytes", what,
                            length, bytes);
    char *path = NULL;
    TD_TRY(external_path(src->base_dir, location, what, &path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return td_error_new(TD_CODE_IO, "%s: cannot open external data file '%s': %s", what,
                            location, strerror(errno));
    struct stat sb;
    td_status st = TD_OK;
    size_t end;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = td_error_new(TD_CODE_IO, "%s: external data '%s' is not a regular file", what,
                          location);
    else if (td_size_add(offset, bytes, &end) != TD_OK || end > (size_t)sb.st_size)
        st = td_error_new(TD_CODE_BAD_DATA,
                          "%s: external data needs bytes %zu..%zu+%zu of '%s', which has %lld",
                          what, offset, offset, bytes, location, (long long)sb.st_size);
    else
        st = td_alloc(bytes, dst); /* only once the file is known to hold the bytes */
    if (!st && *dst)
        st = read_at(fd, *dst, bytes, offset, what);
    close(fd);
    return st;
}

/* The typed field holding this element type, and its length. */
static size_t typed_count(const Onnx__TensorProto *t, td_dtype dt)
{
    switch (dt) {
    case TD_DT_F32:
        return t->n_float_data;
    case TD_DT_F64:
        return t->n_double_data;
    case TD_DT_I64:
        return t->n_int64_data;
    default:
        return t->n_int32_data;
    }
}

static size_t all_typed_count(const Onnx__TensorProto *t)
{
    return t->n_float_data + t->n_double_data + t->n_int64_data + t->n_int32_data +
           t->n_uint64_data + t->n_string_data;
}

/* Narrows int32_data into the element type, rejecting out-of-range values. */
static td_status narrow_int32(const Onnx__TensorProto *t, td_dtype dt, size_t n, const char *what,
                              void *dst)
{
    int32_t lo = INT32_MIN, hi = INT32_MAX;
    switch (dt) {
    case TD_DT_I16:
        lo = INT16_MIN, hi = INT16_MAX;
        break;
    case TD_DT_I8:
        lo = INT8_MIN, hi = INT8_MAX;
        break;
    case TD_DT_U8:
        lo = 0, hi = UINT8_MAX;
        break;
    case TD_DT_F16:
    case TD_DT_BF16:
        lo = 0, hi = UINT16_MAX;
        break; /* the 16-bit pattern */
    default:
        break;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t v = t->int32_data[i];
        if (dt == TD_DT_BOOL) {
            ((uint8_t *)dst)[i] = v != 0;
            continue;
        }
        if (v < lo || v > hi)
            return td_error_new(TD_CODE_BAD_DATA, "%s: value %d at %zu is out of range for %s",
                                what, (int)v, i, td_dtype_name(dt));
        switch (dt) {
        case TD_DT_I32:
            ((int32_t *)dst)[i] = v;
            break;
        case TD_DT_I16:
            ((int16_t *)dst)[i] = (int16_t)v;
            break;
        case TD_DT_I8:
            ((int8_t *)dst)[i] = (int8_t)v;
            break;
        case TD_DT_U8:
            ((uint8_t *)dst)[i] = (uint8_t)v;
            break;
        default:
            ((uint16_t *)dst)[i] = (uint16_t)v;
            break;
        }
    }
    return TD_OK;
}

static td_status decode_typed(const Onnx__TensorProto *t, td_dtype dt, size_t numel, size_t bytes,
                              const char *what, void **out)
{
    size_t have = typed_count(t, dt);
    if (all_typed_count(t) != have)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: data is stored in a field that does not match "
                            "its element type %s",
                            what, td_dtype_name(dt));
    if (have != numel)
        return td_error_new(TD_CODE_BAD_DATA, "%s: %zu stored values, but the shape has %zu", what,
                            have, numel);
    TD_TRY(td_alloc(bytes, out));
    void *dst = *out;
    if (numel == 0)
        return TD_OK; /* the fields may be NULL */
    switch (dt) {
    case TD_DT_F32:
        memcpy(dst, t->float_data, bytes);
        return TD_OK;
    case TD_DT_F64:
        memcpy(dst, t->double_data, bytes);
        return TD_OK;
    case TD_DT_I64:
        memcpy(dst, t->int64_data, bytes);
        return TD_OK;
    default:
        return narrow_int32(t, dt, numel, what, dst);
    }
}

static td_status decode_data(const td_onnx_src *src, const Onnx__TensorProto *t, td_dtype dt,
                             size_t numel, size_t bytes, const char *what, void **dst)
{
    if (t->segment)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: segmented tensors are not supported", what);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (t->has_raw_data || all_typed_count(t))
            return td_error_new(TD_CODE_BAD_DATA, "%s: external tensor also has inline data", what);
        return read_external(src, t, what, bytes, dst);
    }
    if (t->has_data_location && t->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT)
        return td_error_new(TD_CODE_BAD_DATA, "%s: invalid data location %d", what,
                            (int)t->data_location);
    if (t->has_raw_data) {
        if (all_typed_count(t))
            return td_error_new(TD_CODE_BAD_DATA, "%s: both raw_data and typed data", what);
        if (t->raw_data.len != bytes)
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s: raw_data has %zu bytes, but %zu %s elements need %zu", what,
                                t->raw_data.len, numel, td_dtype_name(dt), bytes);
        TD_TRY(td_alloc(bytes, dst));
        uint8_t *p = *dst;
        if (bytes)
            memcpy(p, t->raw_data.data, bytes);
        if (dt == TD_DT_BOOL)
            for (size_t i = 0; i < bytes; i++)
                p[i] = p[i] != 0;
        return TD_OK;
    }
    return decode_typed(t, dt, numel, bytes, what, dst);
}

td_status td_onnx_tensor_decode(const td_onnx_src *src, const Onnx__TensorProto *t,
                                const char *what, td_view *out)
{
    memset(out, 0, sizeof *out);
    if (!t->has_data_type)
        return td_error_new(TD_CODE_BAD_DATA, "%s: no element type", what);
    td_view v = {0};
    TD_TRY(td_onnx_dtype(src, t->data_type, what, &v.dtype));
    size_t numel = 0, bytes = 0;
    TD_TRY(tensor_shape(t, what, &v, &numel, &bytes));
    /* decode_data allocates only after checking that the file holds that much data, so a
     * tiny file cannot make the loader allocate gigabytes. */
    td_status st = decode_data(src, t, v.dtype, numel, bytes, what, &v.data);
    if (st) {
        td_free(v.data);
        return st;
    }
    *out = v;
    return TD_OK;
}

td_status td_onnx_read_file(const char *path, size_t cap, void **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return td_error_new(TD_CODE_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    td_status st = TD_OK;
    char *p = NULL;
    size_t size = 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = td_error_new(TD_CODE_IO, "%s: not a regular file", path);
    else if ((uint64_t)sb.st_size > cap)
        st = td_error_new(TD_CODE_UNSUPPORTED, "%s: %lld bytes, larger than the %zu-byte limit",
                          path, (long long)sb.st_size, cap);
    if (!st) {
        size = (size_t)sb.st_size;
        p = malloc(size ? size : 1);
        if (!p)
            st = td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, size);
    }
    /* A file that shrinks while being read is reported, not silently parsed short. */
    for (size_t got = 0; !st && got < size;) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            st = td_error_new(TD_CODE_IO, "%s: truncated while reading (%zu of %zu bytes)", path,
                              got, size);
        else
            got += (size_t)r;
    }
    close(fd);
    if (st) {
        free(p);
        return st;
    }
    *buf = p;
    *len = size;
    return TD_OK;
}

char *td_onnx_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash && n == 0)
        n = 1; /* "/model.onnx" lives in "/" */
    char *d = malloc(n ? n + 1 : 2);
    if (!d)
        return NULL;
    if (n) {
        memcpy(d, path, n);
        d[n] = 0;
    } else {
        strcpy(d, ".");
    }
    return d;
}

td_status td_onnx_wrap(const char *file, td_status st)
{
    if (!st)
        return st;
    td_status w = td_error_new(td_status_code(st), "%s: %s", file, td_status_message(st));
    td_status_free(st);
    return w;
}

td_status td_onnx_load_tensor_buffer(const void *buf, size_t len, const char *name_for_errors,
                                     td_view *out)
{
    const char *file = name_for_errors ? name_for_errors : "tensor";
    memset(out, 0, sizeof *out);
    if (len > TD_ONNX_MAX_FILE_BYTES)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: %zu bytes, larger than the %zu-byte limit",
                            file, len, TD_ONNX_MAX_FILE_BYTES);
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, len, buf);
    if (!t)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: not a valid ONNX TensorProto (protobuf parse failed)", file);
    char what[300];
    snprintf(what, sizeof what, "tensor '%s'", t->name ? t->name : "");
    td_onnx_src src = {file, NULL};
    td_status st = td_onnx_tensor_decode(&src, t, what, out);
    onnx__tensor_proto__free_unpacked(t, NULL);
    return td_onnx_wrap(file, st);
}

td_status td_onnx_load_tensor(const char *path, td_view *out)
{
    void *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    TD_TRY(td_onnx_read_file(path, TD_ONNX_MAX_FILE_BYTES, &buf, &len));
    td_status st = td_onnx_load_tensor_buffer(buf, len, path, out);
    free(buf);
    return st;
}
