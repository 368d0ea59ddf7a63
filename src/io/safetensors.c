/* safetensors reader (memory-mapped, validated up front) and atomic writer.
 * The rules the reader enforces are listed in include/tandem/safetensors.h. */
#include "tandem/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tandem/core.h"

static const struct {
    const char *name;
    size_t size;
} dtype_table[TD_ST_DTYPE_COUNT] = {
    [TD_ST_BOOL] = {"BOOL", 1},       [TD_ST_U8] = {"U8", 1},           [TD_ST_I8] = {"I8", 1},
    [TD_ST_F8_E5M2] = {"F8_E5M2", 1}, [TD_ST_F8_E4M3] = {"F8_E4M3", 1}, [TD_ST_I16] = {"I16", 2},
    [TD_ST_U16] = {"U16", 2},         [TD_ST_F16] = {"F16", 2},         [TD_ST_BF16] = {"BF16", 2},
    [TD_ST_I32] = {"I32", 4},         [TD_ST_U32] = {"U32", 4},         [TD_ST_F32] = {"F32", 4},
    [TD_ST_I64] = {"I64", 8},         [TD_ST_U64] = {"U64", 8},         [TD_ST_F64] = {"F64", 8},
};

const char *td_st_dtype_name(td_st_dtype dtype)
{
    return (unsigned)dtype < TD_ST_DTYPE_COUNT ? dtype_table[dtype].name : NULL;
}

size_t td_st_dtype_size(td_st_dtype dtype)
{
    return (unsigned)dtype < TD_ST_DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

td_status td_st_dtype_parse(const char *name, td_st_dtype *out)
{
    for (int i = 0; i < TD_ST_DTYPE_COUNT; i++) {
        if (strcmp(name, dtype_table[i].name) == 0) {
            *out = (td_st_dtype)i;
            return TD_OK;
        }
    }
    return td_error_new(TD_CODE_UNSUPPORTED, "unknown safetensors dtype \"%s\"", name);
}

/* ------------------------------------------------------------------------------------------ */
/* reader */

typedef struct st_entry {
    char *name;
    td_st_dtype dtype;
    int ndim;
    int64_t shape[TD_ST_MAX_DIMS];
    size_t nelem;
    size_t begin, end;
} st_entry;

typedef struct st_meta {
    char *key;
    char *value;
} st_meta;

struct td_safetensors {
    char *label; /* file name used in error messages */
    const uint8_t *data;
    size_t data_len;
    void *map; /* non-NULL when we own a mapping */
    size_t map_len;
    st_entry *tensors;
    size_t count;
    st_meta *meta;
    size_t nmeta;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static td_status oom(const char *label)
{
    return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory reading safetensors header",
                        label);
}

/* JSON numbers arrive as doubles; only integers that a double holds exactly are accepted. */
static bool json_size(const cJSON *item, size_t *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double d = item->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d)
        return false;
    if ((uint64_t)d > SIZE_MAX)
        return false;
    *out = (size_t)(uint64_t)d;
    return true;
}

static td_status parse_shape(const char *label, const char *name, const cJSON *shape, st_entry *e)
{
    if (!shape)
        return td_error_new(TD_CODE_BAD_DATA, "%s: tensor '%s': missing \"shape\"", label, name);
    if (!cJSON_IsArray(shape))
        return td_error_new(TD_CODE_BAD_DATA, "%s: tensor '%s': \"shape\" is not an array", label,
                            name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > TD_ST_MAX_DIMS)
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: tensor '%s': rank %d exceeds the limit of %d",
                            label, name, ndim, TD_ST_MAX_DIMS);
    e->ndim = ndim;
    size_t nelem = 1;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        size_t v;
        if (cJSON_IsNumber(d) && d->valuedouble < 0)
            return td_error_new(TD_CODE_BAD_DATA, "%s: tensor '%s': dimension %d is negative (%g)",
                                label, name, i, d->valuedouble);
        if (!json_size(d, &v))
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s: tensor '%s': dimension %d is not an integer in 0..2^53", label,
                                name, i);
        e->shape[i] = (int64_t)v;
        td_status st = td_size_mul(nelem, v, &nelem);
        if (st) {
            td_status_free(st);
            return td_error_new(TD_CODE_OVERFLOW, "%s: tensor '%s': element count overflows", label,
                                name);
        }
    }
    e->nelem = nelem;
    return TD_OK;
}

static td_status parse_offsets(const char *label, const char *name, const cJSON *off,
                               size_t data_len, st_entry *e)
{
    if (!off)
        return td_error_new(TD_CODE_BAD_DATA, "%s: tensor '%s': missing \"data_offsets\"", label,
                            name);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_size(off->child, &e->begin) ||
        !json_size(off->child->next, &e->end))
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: tensor '%s': \"data_offsets\" is not an array of two integers "
                            "in 0..2^53",
                            label, name);
    if (e->begin > e->end)
        return td_error_new(TD_CODE_BAD_DATA, "%s: tensor '%s': data_offsets begin %zu > end %zu",
                            label, name, e->begin, e->end);
    if (e->end > data_len)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: tensor '%s': data_offsets [%zu, %zu) exceed the data area "
                            "(%zu bytes)",
                            label, name, e->begin, e->end, data_len);
    return TD_OK;
}

static td_status parse_entry(const char *label, const cJSON *item, size_t data_len, st_entry *e)
{
    const char *name = item->string;
    if (name[0] == '\0')
        return td_error_new(TD_CODE_BAD_DATA, "%s: a tensor has an empty name", label);
    if (!cJSON_IsObject(item))
        return td_error_new(TD_CODE_BAD_DATA, "%s: tensor '%s': entry is not a JSON object", label,
                            name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!dt)
        return td_error_new(TD_CODE_BAD_DATA, "%s: tensor '%s': missing \"dtype\"", label, name);
    if (!cJSON_IsString(dt))
        return td_error_new(TD_CODE_BAD_DATA, "%s: tensor '%s': \"dtype\" is not a string", label,
                            name);
    td_status st = td_st_dtype_parse(dt->valuestring, &e->dtype);
    if (st) {
        td_status_free(st);
        return td_error_new(TD_CODE_UNSUPPORTED, "%s: tensor '%s': unknown dtype \"%s\"", label,
                            name, dt->valuestring);
    }
    TD_TRY(parse_shape(label, name, cJSON_GetObjectItemCaseSensitive(item, "shape"), e));
    TD_TRY(parse_offsets(label, name, cJSON_GetObjectItemCaseSensitive(item, "data_offsets"),
                         data_len, e));
    size_t nbytes;
    st = td_size_mul(e->nelem, td_st_dtype_size(e->dtype), &nbytes);
    if (st) {
        td_status_free(st);
        return td_error_new(TD_CODE_OVERFLOW, "%s: tensor '%s': byte size overflows", label, name);
    }
    if (nbytes != e->end - e->begin)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: tensor '%s': %zu elements of %s are %zu bytes but data_offsets "
                            "[%zu, %zu) span %zu",
                            label, name, e->nelem, dtype_table[e->dtype].name, nbytes, e->begin,
                            e->end, e->end - e->begin);
    e->name = dup_str(name);
    return e->name ? TD_OK : oom(label);
}

static td_status parse_metadata(td_safetensors *st, const cJSON *obj)
{
    if (!cJSON_IsObject(obj))
        return td_error_new(TD_CODE_BAD_DATA, "%s: \"__metadata__\" is not a JSON object",
                            st->label);
    size_t n = (size_t)cJSON_GetArraySize(obj);
    st->meta = calloc(n ? n : 1, sizeof *st->meta);
    if (!st->meta)
        return oom(st->label);
    for (const cJSON *m = obj->child; m; m = m->next) {
        if (!cJSON_IsString(m))
            return td_error_new(TD_CODE_BAD_DATA, "%s: metadata value of '%s' is not a string",
                                st->label, m->string);
        st_meta *dst = &st->meta[st->nmeta++];
        dst->key = dup_str(m->string);
        dst->value = dup_str(m->valuestring);
        if (!dst->key || !dst->value)
            return oom(st->label);
    }
    return TD_OK;
}

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static int cmp_meta_key(const void *a, const void *b)
{
    return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

/* Orders tensors by (begin, end), as the reference loader does before checking coverage. */
static int cmp_entry_offsets(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* The format requires the tensors to tile the data area exactly. */
static td_status check_coverage(const td_safetensors *st)
{
    const st_entry **order = malloc((st->count ? st->count : 1) * sizeof *order);
    if (!order)
        return oom(st->label);
    for (size_t i = 0; i < st->count; i++)
        order[i] = &st->tensors[i];
    qsort(order, st->count, sizeof *order, cmp_entry_offsets);
    td_status err = TD_OK;
    size_t pos = 0;
    for (size_t i = 0; i < st->count && !err; i++) {
        const st_entry *e = order[i];
        if (e->begin < pos)
            err = td_error_new(TD_CODE_BAD_DATA,
                               "%s: tensor '%s': bytes [%zu, %zu) overlap tensor '%s' [%zu, %zu)",
                               st->label, e->name, e->begin, e->end, order[i - 1]->name,
                               order[i - 1]->begin, order[i - 1]->end);
        else if (e->begin > pos)
            err = td_error_new(TD_CODE_BAD_DATA,
                               "%s: bytes [%zu, %zu) of the data area before tensor '%s' belong "
                               "to no tensor (holes are not allowed)",
                               st->label, pos, e->begin, e->name);
        pos = e->end;
    }
    if (!err && pos != st->data_len)
        err = td_error_new(TD_CODE_BAD_DATA,
                           "%s: bytes [%zu, %zu) at the end of the data area belong to no tensor "
                           "(holes are not allowed)",
                           st->label, pos, st->data_len);
    free(order);
    return err;
}

static td_status check_unique(const td_safetensors *st)
{
    for (size_t i = 1; i < st->count; i++)
        if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0)
            return td_error_new(TD_CODE_BAD_DATA, "%s: duplicate tensor name '%s'", st->label,
                                st->tensors[i].name);
    for (size_t i = 1; i < st->nmeta; i++)
        if (strcmp(st->meta[i - 1].key, st->meta[i].key) == 0)
            return td_error_new(TD_CODE_BAD_DATA, "%s: duplicate metadata key '%s'", st->label,
                                st->meta[i].key);
    return TD_OK;
}

static bool is_json_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static td_status parse_json(td_safetensors *st, const char *text, size_t n, cJSON **out)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: header is not valid JSON (error near header byte %zu)", st->label,
                            at);
    }
    /* Writers pad the header with spaces after the object. */
    for (size_t i = (size_t)(end - text); i < n; i++) {
        if (!is_json_space((uint8_t)text[i])) {
            cJSON_Delete(root);
            return td_error_new(TD_CODE_BAD_DATA,
                                "%s: header has bytes after the JSON object (header byte %zu)",
                                st->label, i);
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return td_error_new(TD_CODE_BAD_DATA, "%s: header is not a JSON object", st->label);
    }
    *out = root;
    return TD_OK;
}

static td_status parse_entries(td_safetensors *st, const cJSON *root)
{
    size_t n = (size_t)cJSON_GetArraySize(root);
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    if (!st->tensors)
        return oom(st->label);
    for (const cJSON *item = root->child; item; item = item->next) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (st->meta)
                return td_error_new(TD_CODE_BAD_DATA, "%s: duplicate \"__metadata__\"", st->label);
            TD_TRY(parse_metadata(st, item));
            continue;
        }
        TD_TRY(parse_entry(st->label, item, st->data_len, &st->tensors[st->count]));
        st->count++;
    }
    qsort(st->tensors, st->count, sizeof *st->tensors, cmp_entry_name);
    if (st->nmeta)
        qsort(st->meta, st->nmeta, sizeof *st->meta, cmp_meta_key);
    TD_TRY(check_unique(st));
    return check_coverage(st);
}

static td_status parse_buffer(td_safetensors *st, const uint8_t *buf, size_t len)
{
    if (len < 8)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: %zu bytes is shorter than the 8-byte safetensors header length",
                            st->label, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | buf[i];
    if (n > TD_ST_MAX_HEADER)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: header length %llu exceeds the limit of %u bytes", st->label,
                            (unsigned long long)n, TD_ST_MAX_HEADER);
    if (n > len - 8)
        return td_error_new(TD_CODE_BAD_DATA,
                            "%s: header length %llu is larger than the file (%zu bytes)", st->label,
                            (unsigned long long)n, len);
    st->data = buf + 8 + n;
    st->data_len = len - 8 - (size_t)n;
    cJSON *root = NULL;
    TD_TRY(parse_json(st, (const char *)buf + 8, (size_t)n, &root));
    td_status err = parse_entries(st, root);
    cJSON_Delete(root);
    return err;
}

static td_status st_new(const char *label, td_safetensors **out)
{
    td_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->label = dup_str(label ? label : "<buffer>"))) {
        free(st);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "out of memory opening safetensors '%s'",
                            label ? label : "<buffer>");
    }
    *out = st;
    return TD_OK;
}

td_status td_safetensors_open_buffer(const void *buf, size_t len, const char *name_for_errors,
                                     td_safetensors **out)
{
    *out = NULL;
    if (!buf && len)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "safetensors buffer is NULL");
    td_safetensors *st = NULL;
    TD_TRY(st_new(name_for_errors, &st));
    td_status err = parse_buffer(st, buf ? buf : "", len);
    if (err) {
        td_safetensors_close(st);
        return err;
    }
    *out = st;
    return TD_OK;
}

static td_status map_file(const char *path, void **map, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return td_error_new(TD_CODE_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    td_status err = TD_OK;
    if (fstat(fd, &sb) != 0)
        err = td_error_new(TD_CODE_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        err = td_error_new(TD_CODE_IO, "%s: not a regular file", path);
    else if (sb.st_size < 8)
        err = td_error_new(TD_CODE_BAD_DATA,
                           "%s: %lld bytes is shorter than the 8-byte safetensors header length",
                           path, (long long)sb.st_size);
    else if ((uint64_t)sb.st_size > SIZE_MAX)
        err = td_error_new(TD_CODE_OVERFLOW, "%s: file too large to map", path);
    if (!err) {
        *len = (size_t)sb.st_size;
        *map = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (*map == MAP_FAILED)
            err = td_error_new(TD_CODE_IO, "%s: cannot map: %s", path, strerror(errno));
    }
    close(fd);
    return err;
}

td_status td_safetensors_open(const char *path, td_safetensors **out)
{
    *out = NULL;
    td_safetensors *st = NULL;
    TD_TRY(st_new(path, &st));
    td_status err = map_file(path, &st->map, &st->map_len);
    if (!err)
        err = parse_buffer(st, st->map, st->map_len);
    else
        st->map = NULL;
    if (err) {
        td_safetensors_close(st);
        return err;
    }
    *out = st;
    return TD_OK;
}

void td_safetensors_close(td_safetensors *st)
{
    if (!st)
        return;
    if (st->map)
        munmap(st->map, st->map_len);
    if (st->tensors)
        for (size_t i = 0; i < st->count; i++)
            free(st->tensors[i].name);
    for (size_t i = 0; i < st->nmeta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->tensors);
    free(st->meta);
    free(st->label);
    free(st);
}

size_t td_safetensors_count(const td_safetensors *st)
{
    return st->count;
}

const char *td_safetensors_name(const td_safetensors *st, size_t index)
{
    return index < st->count ? st->tensors[index].name : NULL;
}

static void fill_tensor(const td_safetensors *st, const st_entry *e, td_st_tensor *out)
{
    memset(out, 0, sizeof *out);
    out->name = e->name;
    out->dtype = e->dtype;
    out->ndim = e->ndim;
    memcpy(out->shape, e->shape, sizeof e->shape);
    out->nelem = e->nelem;
    out->data = st->data + e->begin;
    out->nbytes = e->end - e->begin;
}

td_status td_safetensors_tensor(const td_safetensors *st, size_t index, td_st_tensor *out)
{
    if (index >= st->count)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: tensor index %zu out of range (%zu)",
                            st->label, index, st->count);
    fill_tensor(st, &st->tensors[index], out);
    return TD_OK;
}

td_status td_safetensors_find(const td_safetensors *st, const char *name, td_st_tensor *out)
{
    st_entry key = {.name = (char *)name};
    /* bsearch's base is declared nonnull: a file without tensors has tensors == NULL. */
    const st_entry *e =
        st->count ? bsearch(&key, st->tensors, st->count, sizeof key, cmp_entry_name) : NULL;
    if (!e)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: no tensor named '%s'", st->label, name);
    fill_tensor(st, e, out);
    return TD_OK;
}

const char *td_safetensors_metadata(const td_safetensors *st, const char *key)
{
    st_meta k = {.key = (char *)key};
    const st_meta *m = st->nmeta ? bsearch(&k, st->meta, st->nmeta, sizeof k, cmp_meta_key) : NULL;
    return m ? m->value : NULL;
}

size_t td_safetensors_metadata_count(const td_safetensors *st)
{
    return st->nmeta;
}

bool td_safetensors_metadata_at(const td_safetensors *st, size_t index, const char **key,
                                const char **value)
{
    if (index >= st->nmeta)
        return false;
    *key = st->meta[index].key;
    *value = st->meta[index].value;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* writer */

typedef struct wr_tensor {
    char *name;
    td_st_dtype dtype;
    int ndim;
    int64_t shape[TD_ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
    size_t begin; /* assigned by the layout */
} wr_tensor;

struct td_safetensors_writer {
    wr_tensor *t;
    size_t n, cap;
    st_meta *m;
    size_t nm, mcap;
};

td_status td_safetensors_writer_new(td_safetensors_writer **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? TD_OK
                : td_error_new(TD_CODE_OUT_OF_MEMORY, "out of memory creating safetensors writer");
}

void td_safetensors_writer_free(td_safetensors_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].name);
    for (size_t i = 0; i < w->nm; i++) {
        free(w->m[i].key);
        free(w->m[i].value);
    }
    free(w->t);
    free(w->m);
    free(w);
}

/* Doubles *cap when n reaches it; elements are `size` bytes. */
static bool grow(void **arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 16, bytes;
    td_status st = td_size_mul(nc, size, &bytes);
    if (st) {
        td_status_free(st);
        return false;
    }
    void *p = realloc(*arr, bytes);
    if (!p)
        return false;
    *arr = p;
    *cap = nc;
    return true;
}

static td_status check_new_tensor(const td_safetensors_writer *w, const char *name,
                                  td_st_dtype dtype, int ndim, const int64_t *shape,
                                  const void *data, size_t nbytes)
{
    if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "safetensors writer: invalid tensor name "
                            "'%s' (empty or \"__metadata__\")",
                            name ? name : "(null)");
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "safetensors writer: duplicate tensor name '%s'", name);
    if ((unsigned)dtype >= TD_ST_DTYPE_COUNT)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "safetensors writer: tensor '%s': bad dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > TD_ST_MAX_DIMS || (ndim > 0 && !shape))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "safetensors writer: tensor '%s': rank %d outside 0..%d", name, ndim,
                            TD_ST_MAX_DIMS);
    size_t nelem = 1, bytes;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "safetensors writer: tensor '%s': dimension %d is %lld", name, i,
                                (long long)shape[i]);
        TD_TRY(td_size_mul(nelem, (size_t)shape[i], &nelem));
    }
    TD_TRY(td_size_mul(nelem, td_st_dtype_size(dtype), &bytes));
    if (bytes != nbytes)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "safetensors writer: tensor '%s': shape and %s need %zu bytes, got %zu",
                            name, td_st_dtype_name(dtype), bytes, nbytes);
    if (nbytes && !data)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "safetensors writer: tensor '%s': data is NULL", name);
    return TD_OK;
}

td_status td_safetensors_writer_add(td_safetensors_writer *w, const char *name, td_st_dtype dtype,
                                    int ndim, const int64_t *shape, const void *data, size_t nbytes)
{
    TD_TRY(check_new_tensor(w, name, dtype, ndim, shape, data, nbytes));
    wr_tensor t = {.dtype = dtype, .ndim = ndim, .data = data, .nbytes = nbytes};
    if (ndim)
        memcpy(t.shape, shape, (size_t)ndim * sizeof *shape);
    if (!grow((void **)&w->t, w->n, &w->cap, sizeof *w->t) || !(t.name = dup_str(name)))
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "safetensors writer: out of memory adding '%s'",
                            name);
    w->t[w->n++] = t;
    return TD_OK;
}

td_status td_safetensors_writer_set_metadata(td_safetensors_writer *w, const char *key,
                                             const char *value)
{
    if (!key || !value)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "safetensors writer: NULL metadata key or "
                                                      "value");
    char *v = dup_str(value);
    if (!v)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "safetensors writer: out of memory");
    for (size_t i = 0; i < w->nm; i++) {
        if (strcmp(w->m[i].key, key) == 0) {
            free(w->m[i].value);
            w->m[i].value = v;
            return TD_OK;
        }
    }
    char *k = dup_str(key);
    if (!k || !grow((void **)&w->m, w->nm, &w->mcap, sizeof *w->m)) {
        free(k);
        free(v);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "safetensors writer: out of memory");
    }
    w->m[w->nm++] = (st_meta){k, v};
    return TD_OK;
}

/* A growable text buffer; `failed` sticks once an allocation fails. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1 && nc < SIZE_MAX / 2)
            nc *= 2;
        char *p = nc >= b->len + n + 1 ? realloc(b->p, nc) : NULL;
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_fmt_u64(sbuf *b, unsigned long long v)
{
    char tmp[24];
    sb_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%llu", v));
}

/* Writes s as a JSON string; bytes >= 0x80 pass through, so UTF-8 names stay as they are. */
static void sb_json_str(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*c;
            sb_put(b, esc, 2);
        } else if (*c < 0x20) {
            sb_put(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", *c));
        } else {
            sb_put(b, (const char *)c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* Largest element size first keeps every tensor aligned to its element size, because each
 * tensor before it has a byte length that is a multiple of that size. */
static int cmp_layout(const void *a, const void *b)
{
    const wr_tensor *x = *(const wr_tensor *const *)a, *y = *(const wr_tensor *const *)b;
    size_t sx = td_st_dtype_size(x->dtype), sy = td_st_dtype_size(y->dtype);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static td_status build_header(const td_safetensors_writer *w, wr_tensor **order, sbuf *b)
{
    size_t pos = 0;
    for (size_t i = 0; i < w->n; i++) {
        order[i]->begin = pos;
        TD_TRY(td_size_add(pos, order[i]->nbytes, &pos));
    }
    sb_str(b, "{");
    if (w->nm) {
        sb_str(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->nm; i++) {
            sb_str(b, i ? "," : "");
            sb_json_str(b, w->m[i].key);
            sb_str(b, ":");
            sb_json_str(b, w->m[i].value);
        }
        sb_str(b, w->n ? "}," : "}");
    }
    for (size_t i = 0; i < w->n; i++) {
        const wr_tensor *t = order[i];
        sb_str(b, i ? "," : "");
        sb_json_str(b, t->name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, td_st_dtype_name(t->dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            sb_str(b, d ? "," : "");
            sb_fmt_u64(b, (unsigned long long)t->shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_fmt_u64(b, t->begin);
        sb_str(b, ",");
        sb_fmt_u64(b, t->begin + t->nbytes);
        sb_str(b, "]}");
    }
    sb_str(b, "}");
    /* Spaces so that the data area starts at a 64-byte file offset. */
    while (!b->failed && (8 + b->len) % TD_ALIGN)
        sb_str(b, " ");
    if (b->failed)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "safetensors writer: out of memory");
    if (b->len > TD_ST_MAX_HEADER)
        return td_error_new(TD_CODE_OVERFLOW,
                            "safetensors writer: header of %zu bytes exceeds the limit of %u",
                            b->len, TD_ST_MAX_HEADER);
    return TD_OK;
}

static bool write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        c += k;
        n -= (size_t)k;
    }
    return true;
}

static td_status write_contents(int fd, const char *tmp, const sbuf *hdr, wr_tensor **order,
                                size_t n)
{
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)hdr->len >> (8 * i));
    bool ok = fchmod(fd, 0644) == 0 && write_all(fd, len, 8) && write_all(fd, hdr->p, hdr->len);
    for (size_t i = 0; ok && i < n; i++)
        ok = write_all(fd, order[i]->data, order[i]->nbytes);
    /* Data must be on disk before the rename makes it visible under the final name. */
    ok = ok && fsync(fd) == 0;
    return ok ? TD_OK : td_error_new(TD_CODE_IO, "%s: write failed: %s", tmp, strerror(errno));
}

static td_status write_atomic(const char *path, const sbuf *hdr, wr_tensor **order, size_t n)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 12);
    if (!tmp)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        td_status err = td_error_new(TD_CODE_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return err;
    }
    td_status err = write_contents(fd, tmp, hdr, order, n);
    if (close(fd) != 0 && !err)
        err = td_error_new(TD_CODE_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (!err && rename(tmp, path) != 0)
        err = td_error_new(TD_CODE_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (err)
        unlink(tmp);
    free(tmp);
    return err;
}

td_status td_safetensors_write(const td_safetensors_writer *w, const char *path)
{
    wr_tensor **order = malloc((w->n ? w->n : 1) * sizeof *order);
    if (!order)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", path);
    for (size_t i = 0; i < w->n; i++)
        order[i] = &w->t[i];
    qsort(order, w->n, sizeof *order, cmp_layout);
    sbuf hdr = {0};
    td_status err = build_header(w, order, &hdr);
    if (!err)
        err = write_atomic(path, &hdr, order, w->n);
    free(hdr.p);
    free(order);
    return err;
}
