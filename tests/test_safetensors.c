/* safetensors: reading files written by the reference Python package, writer round trips,
 * atomic writes, and one rejection per kind of malformed header. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tandem/safetensors.h"
#include "td_test.h"

/* ---- files written by the reference implementation (tools/gen_safetensors_fixture.py) ---- */

static void check_shape(const td_st_tensor *t, td_st_dtype dtype, int ndim, const int64_t *shape)
{
    TD_CHECK(t->dtype == dtype, "%s: dtype %s", t->name, td_st_dtype_name(t->dtype));
    TD_CHECK(t->ndim == ndim, "%s: ndim %d, want %d", t->name, t->ndim, ndim);
    for (int i = 0; i < ndim && i < t->ndim; i++)
        TD_CHECK(t->shape[i] == shape[i], "%s: dim %d is %lld", t->name, i, (long long)t->shape[i]);
}

static void test_python_fixture(void)
{
    td_safetensors *st = NULL;
    TD_CHECK_OK(td_safetensors_open(TD_FIXTURE_DIR "/st_python.safetensors", &st));
    if (!st)
        return;
    TD_CHECK(td_safetensors_count(st) == 11, "count %zu", td_safetensors_count(st));
    TD_CHECK(strcmp(td_safetensors_name(st, 0), "bool") == 0, "names are sorted");
    TD_CHECK(td_safetensors_name(st, 11) == NULL, "index past the end");
    const char *fmt = td_safetensors_metadata(st, "format");
    TD_CHECK(fmt && strcmp(fmt, "np") == 0, "metadata format = %s", fmt ? fmt : "NULL");
    TD_CHECK(td_safetensors_metadata(st, "nope") == NULL, "absent metadata key");
    TD_CHECK(td_safetensors_metadata_count(st) == 2, "metadata count");
    const char *k, *v;
    TD_CHECK(td_safetensors_metadata_at(st, 1, &k, &v) && strcmp(k, "source") == 0,
             "metadata sorted by key");
    TD_CHECK(!td_safetensors_metadata_at(st, 2, &k, &v), "metadata index past the end");

    td_st_tensor t;
    TD_CHECK_OK(td_safetensors_find(st, "f32", &t));
    check_shape(&t, TD_ST_F32, 2, (int64_t[]){2, 3});
    float f[6];
    memcpy(f, t.data, sizeof f);
    for (int i = 0; i < 6; i++)
        TD_CHECK(f[i] == (float)i * 0.5f - 1, "f32[%d] = %g", i, f[i]);

    TD_CHECK_OK(td_safetensors_find(st, "f16", &t));
    uint16_t h[3];
    memcpy(h, t.data, sizeof h);
    TD_CHECK(t.nbytes == 6 && h[0] == 0x3E00 && h[1] == 0xC000 && h[2] == 0x7BFF,
             "f16 bits %04x %04x %04x", h[0], h[1], h[2]);

    TD_CHECK_OK(td_safetensors_find(st, "f64", &t));
    check_shape(&t, TD_ST_F64, 2, (int64_t[]){2, 1});
    double d[2];
    memcpy(d, t.data, sizeof d);
    TD_CHECK(d[0] == 1e300 && d[1] == -3.25, "f64 %g %g", d[0], d[1]);

    TD_CHECK_OK(td_safetensors_find(st, "i64", &t));
    int64_t l[2];
    memcpy(l, t.data, sizeof l);
    TD_CHECK(t.dtype == TD_ST_I64 && l[0] == -(INT64_C(1) << 40) && l[1] == 7, "i64");

    TD_CHECK_OK(td_safetensors_find(st, "i32", &t));
    int32_t i32[4];
    memcpy(i32, t.data, sizeof i32);
    TD_CHECK(t.dtype == TD_ST_I32 && i32[0] == -2 && i32[3] == 1, "i32");

    TD_CHECK_OK(td_safetensors_find(st, "i16", &t));
    int16_t i16[2];
    memcpy(i16, t.data, sizeof i16);
    TD_CHECK(t.dtype == TD_ST_I16 && i16[0] == -300 && i16[1] == 300, "i16");

    TD_CHECK_OK(td_safetensors_find(st, "i8", &t));
    const int8_t *i8 = t.data;
    TD_CHECK(t.dtype == TD_ST_I8 && i8[0] == -128 && i8[1] == 127, "i8");

    TD_CHECK_OK(td_safetensors_find(st, "u8", &t));
    const uint8_t *u8 = t.data;
    TD_CHECK(t.dtype == TD_ST_U8 && t.nelem == 5 && u8[4] == 4, "u8");

    TD_CHECK_OK(td_safetensors_find(st, "bool", &t));
    const uint8_t *b = t.data;
    TD_CHECK(t.dtype == TD_ST_BOOL && b[0] == 1 && b[1] == 0 && b[2] == 1, "bool");

    TD_CHECK_OK(td_safetensors_find(st, "scalar", &t));
    float s;
    memcpy(&s, t.data, 4);
    TD_CHECK(t.ndim == 0 && t.nelem == 1 && s == 42.0f, "scalar: ndim %d value %g", t.ndim, s);

    TD_CHECK_OK(td_safetensors_find(st, "empty", &t));
    check_shape(&t, TD_ST_F32, 2, (int64_t[]){0, 4});
    TD_CHECK(t.nelem == 0 && t.nbytes == 0, "empty tensor has no bytes");

    TD_CHECK_ERROR(td_safetensors_find(st, "missing", &t), TD_CODE_INVALID_ARGUMENT,
                   "no tensor named 'missing'");
    TD_CHECK_ERROR(td_safetensors_tensor(st, 11, &t), TD_CODE_INVALID_ARGUMENT, "out of range");
    td_safetensors_close(st);
}

/* ---- writer ---- */

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static uint8_t pattern(size_t i, int salt)
{
    return (uint8_t)(i * 31 + (size_t)salt * 7 + 1);
}

static void test_round_trip(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    static uint8_t bufs[TD_ST_DTYPE_COUNT][3 * 5 * 8];
    td_safetensors_writer *w = NULL;
    TD_CHECK_OK(td_safetensors_writer_new(&w));
    if (!w)
        return;
    char name[32];
    /* One odd-sized tensor per dtype, so only the writer's ordering keeps them aligned. */
    for (int dt = 0; dt < TD_ST_DTYPE_COUNT; dt++) {
        size_t es = td_st_dtype_size((td_st_dtype)dt);
        for (size_t i = 0; i < 15 * es; i++)
            bufs[dt][i] = pattern(i, dt);
        snprintf(name, sizeof name, "t_%s", td_st_dtype_name((td_st_dtype)dt));
        TD_CHECK_OK(td_safetensors_writer_add(w, name, (td_st_dtype)dt, 2, (int64_t[]){3, 5},
                                              bufs[dt], 15 * es));
    }
    double scalar = -0.125;
    TD_CHECK_OK(td_safetensors_writer_add(w, "scalar", TD_ST_F64, 0, NULL, &scalar, 8));
    TD_CHECK_OK(td_safetensors_writer_add(w, "empty", TD_ST_F32, 3, (int64_t[]){2, 0, 3}, NULL, 0));
    TD_CHECK_OK(
        td_safetensors_writer_add(w, "we\"ird\\name\n", TD_ST_U8, 1, (int64_t[]){1}, "z", 1));
    TD_CHECK_OK(td_safetensors_writer_set_metadata(w, "format", "pt"));
    TD_CHECK_OK(td_safetensors_writer_set_metadata(w, "note", "first"));
    TD_CHECK_OK(td_safetensors_writer_set_metadata(w, "note", "line1\nline2 \"q\""));
    TD_CHECK_OK(td_safetensors_write(w, path));
    td_safetensors_writer_free(w);
    TD_CHECK(count_files(dir) == 1, "no temporary file is left behind (%d files)",
             count_files(dir));

    td_safetensors *st = NULL;
    TD_CHECK_OK(td_safetensors_open(path, &st));
    if (!st)
        return;
    TD_CHECK(td_safetensors_count(st) == TD_ST_DTYPE_COUNT + 3, "count %zu",
             td_safetensors_count(st));
    const char *note = td_safetensors_metadata(st, "note");
    TD_CHECK(note && strcmp(note, "line1\nline2 \"q\"") == 0, "metadata replaced and escaped");
    td_st_tensor t;
    for (int dt = 0; dt < TD_ST_DTYPE_COUNT; dt++) {
        snprintf(name, sizeof name, "t_%s", td_st_dtype_name((td_st_dtype)dt));
        TD_CHECK_OK(td_safetensors_find(st, name, &t));
        size_t es = td_st_dtype_size((td_st_dtype)dt);
        check_shape(&t, (td_st_dtype)dt, 2, (int64_t[]){3, 5});
        TD_CHECK(t.nbytes == 15 * es && memcmp(t.data, bufs[dt], t.nbytes) == 0, "%s bytes", name);
        TD_CHECK((uintptr_t)t.data % es == 0, "%s aligned to its element size", name);
    }
    TD_CHECK_OK(td_safetensors_find(st, "scalar", &t));
    TD_CHECK(t.ndim == 0 && t.nbytes == 8 && memcmp(t.data, &scalar, 8) == 0, "scalar");
    TD_CHECK_OK(td_safetensors_find(st, "empty", &t));
    check_shape(&t, TD_ST_F32, 3, (int64_t[]){2, 0, 3});
    TD_CHECK(t.nbytes == 0, "empty");
    TD_CHECK_OK(td_safetensors_find(st, "we\"ird\\name\n", &t));
    TD_CHECK(t.nbytes == 1 && ((const char *)t.data)[0] == 'z', "escaped name");
    /* The data area starts 64-aligned: the first tensor is an 8-byte one at a mapped page. */
    TD_CHECK_OK(td_safetensors_find(st, "scalar", &t));
    uint64_t hlen = 0;
    FILE *f = fopen(path, "rb");
    TD_CHECK(f && fread(&hlen, 8, 1, f) == 1, "read header length");
    if (f)
        fclose(f);
    TD_CHECK((8 + hlen) % 64 == 0, "data area at file offset %llu", (unsigned long long)(8 + hlen));
    td_safetensors_close(st);

    /* Rewriting replaces the file whole. */
    TD_CHECK_OK(td_safetensors_writer_new(&w));
    TD_CHECK_OK(td_safetensors_write(w, path));
    td_safetensors_writer_free(w);
    TD_CHECK_OK(td_safetensors_open(path, &st));
    TD_CHECK(st && td_safetensors_count(st) == 0 && td_safetensors_metadata_count(st) == 0,
             "empty file replaces the old one");
    td_safetensors_close(st);
    unlink(path);
}

static void test_writer_errors(const char *dir)
{
    td_safetensors_writer *w = NULL;
    TD_CHECK_OK(td_safetensors_writer_new(&w));
    if (!w)
        return;
    float x[4] = {0};
    TD_CHECK_OK(td_safetensors_writer_add(w, "a", TD_ST_F32, 1, (int64_t[]){4}, x, 16));
    TD_CHECK_ERROR(td_safetensors_writer_add(w, "a", TD_ST_F32, 1, (int64_t[]){4}, x, 16),
                   TD_CODE_INVALID_ARGUMENT, "duplicate tensor name 'a'");
    TD_CHECK_ERROR(td_safetensors_writer_add(w, "", TD_ST_F32, 1, (int64_t[]){4}, x, 16),
                   TD_CODE_INVALID_ARGUMENT, "invalid tensor name");
    TD_CHECK_ERROR(td_safetensors_writer_add(w, "__metadata__", TD_ST_U8, 0, NULL, x, 1),
                   TD_CODE_INVALID_ARGUMENT, "__metadata__");
    TD_CHECK_ERROR(td_safetensors_writer_add(w, "b", TD_ST_F32, 1, (int64_t[]){4}, x, 12),
                   TD_CODE_INVALID_ARGUMENT, "need 16 bytes, got 12");
    TD_CHECK_ERROR(td_safetensors_writer_add(w, "b", TD_ST_F32, 1, (int64_t[]){-1}, x, 0),
                   TD_CODE_INVALID_ARGUMENT, "dimension 0 is -1");
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    TD_CHECK_ERROR(td_safetensors_writer_add(w, "b", TD_ST_F32, 9, nine, x, 4),
                   TD_CODE_INVALID_ARGUMENT, "rank 9");
    TD_CHECK_ERROR(td_safetensors_writer_add(w, "b", TD_ST_F32, 1, (int64_t[]){1}, NULL, 4),
                   TD_CODE_INVALID_ARGUMENT, "data is NULL");
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", dir);
    TD_CHECK_ERROR(td_safetensors_write(w, path), TD_CODE_IO, "cannot create");
    /* A directory in the way makes the final rename fail after the data was written. */
    snprintf(path, sizeof path, "%s/in_the_way", dir);
    TD_CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);
    TD_CHECK_ERROR(td_safetensors_write(w, path), TD_CODE_IO, "cannot rename");
    td_safetensors_writer_free(w);
    TD_CHECK(count_files(dir) == 1, "failed writes leave no temporary (%d files)",
             count_files(dir));
    rmdir(path);
}

/* ---- malformed input ---- */

/* Builds 8-byte length + json + data_len zero bytes. */
static size_t build(uint8_t *buf, const char *json, size_t data_len)
{
    size_t n = strlen(json);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, json, n);
    memset(buf + 8 + n, 0, data_len);
    return 8 + n + data_len;
}

static td_status open_json(const char *json, size_t data_len)
{
    static uint8_t buf[4096];
    size_t len = build(buf, json, data_len);
    td_safetensors *st = NULL;
    td_status err = td_safetensors_open_buffer(buf, len, "bad.st", &st);
    TD_CHECK(err ? st == NULL : st != NULL, "output set only on success");
    td_safetensors_close(st);
    return err;
}

#define T1(body) "{\"a\":{" body "}}"
#define F32_1 "\"dtype\":\"F32\",\"shape\":[1]"

static void test_good_buffers(void)
{
    TD_CHECK_OK(open_json("{}", 0));
    TD_CHECK_OK(open_json("  {\"a\":{" F32_1 ",\"data_offsets\":[0,4]}}        ", 4));
    TD_CHECK_OK(open_json("{\"a\":{" F32_1 ",\"data_offsets\":[0,4],\"extra\":[1]},"
                          "\"e\":{\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[4,4]},"
                          "\"b\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[4,6]}}",
                          6));
}

static void test_bad_framing(void)
{
    uint8_t buf[64] = {0};
    td_safetensors *st = NULL;
    TD_CHECK_ERROR(td_safetensors_open_buffer(buf, 5, "bad.st", &st), TD_CODE_BAD_DATA,
                   "bad.st: 5 bytes is shorter than the 8-byte");
    buf[0] = 100;
    TD_CHECK_ERROR(td_safetensors_open_buffer(buf, 20, "bad.st", &st), TD_CODE_BAD_DATA,
                   "header length 100 is larger than the file (20 bytes)");
    uint64_t big = 200000000;
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(big >> (8 * i));
    TD_CHECK_ERROR(td_safetensors_open_buffer(buf, 64, "bad.st", &st), TD_CODE_BAD_DATA,
                   "exceeds the limit of 100000000");
    memset(buf, 0xff, 8);
    TD_CHECK_ERROR(td_safetensors_open_buffer(buf, 64, "bad.st", &st), TD_CODE_BAD_DATA,
                   "exceeds the limit");
    TD_CHECK_ERROR(open_json("", 0), TD_CODE_BAD_DATA, "bad.st: header is not valid JSON");
    TD_CHECK_ERROR(open_json("{\"a\":", 0), TD_CODE_BAD_DATA, "not valid JSON");
    TD_CHECK_ERROR(open_json("[1,2]", 0), TD_CODE_BAD_DATA, "bad.st: header is not a JSON object");
    TD_CHECK_ERROR(open_json("{} x", 0), TD_CODE_BAD_DATA, "bytes after the JSON object");
}

static void test_bad_entries(void)
{
    TD_CHECK_ERROR(open_json("{\"a\":3}", 0), TD_CODE_BAD_DATA,
                   "bad.st: tensor 'a': entry is not a JSON object");
    TD_CHECK_ERROR(open_json(T1("\"shape\":[1],\"data_offsets\":[0,4]"), 4), TD_CODE_BAD_DATA,
                   "tensor 'a': missing \"dtype\"");
    TD_CHECK_ERROR(open_json(T1("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), 4), TD_CODE_BAD_DATA,
                   "tensor 'a': missing \"shape\"");
    TD_CHECK_ERROR(open_json(T1(F32_1), 4), TD_CODE_BAD_DATA,
                   "tensor 'a': missing \"data_offsets\"");
    TD_CHECK_ERROR(open_json(T1("\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]"), 4),
                   TD_CODE_BAD_DATA, "\"dtype\" is not a string");
    TD_CHECK_ERROR(open_json(T1("\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]"), 4),
                   TD_CODE_BAD_DATA, "\"shape\" is not an array");
    TD_CHECK_ERROR(open_json(T1("\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]"), 4),
                   TD_CODE_BAD_DATA, "dimension 0 is not an integer");
    TD_CHECK_ERROR(open_json(T1(F32_1 ",\"data_offsets\":[0]"), 4), TD_CODE_BAD_DATA,
                   "\"data_offsets\" is not an array of two integers");
    TD_CHECK_ERROR(open_json(T1(F32_1 ",\"data_offsets\":[\"0\",4]"), 4), TD_CODE_BAD_DATA,
                   "\"data_offsets\" is not an array of two integers");
    TD_CHECK_ERROR(open_json(T1(F32_1 ",\"data_offsets\":{}"), 4), TD_CODE_BAD_DATA,
                   "\"data_offsets\" is not an array");
    TD_CHECK_ERROR(open_json(T1("\"dtype\":\"F4\",\"shape\":[1],\"data_offsets\":[0,4]"), 4),
                   TD_CODE_UNSUPPORTED, "tensor 'a': unknown dtype \"F4\"");
    TD_CHECK_ERROR(open_json(T1("\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4),
                   TD_CODE_UNSUPPORTED, "unknown dtype");
    TD_CHECK_ERROR(open_json(T1("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4),
                   TD_CODE_BAD_DATA, "tensor 'a': dimension 0 is negative");
    TD_CHECK_ERROR(
        open_json(T1("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]"), 4),
        TD_CODE_UNSUPPORTED, "tensor 'a': rank 9 exceeds the limit of 8");
    TD_CHECK_ERROR(open_json("{\"\":{" F32_1 ",\"data_offsets\":[0,4]}}", 4), TD_CODE_BAD_DATA,
                   "empty name");
}

static void test_bad_sizes(void)
{
    TD_CHECK_ERROR(open_json(T1("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                                "\"data_offsets\":[0,4]"),
                             4),
                   TD_CODE_OVERFLOW, "tensor 'a': element count overflows");
    TD_CHECK_ERROR(open_json(T1("\"dtype\":\"F64\",\"shape\":[2147483648,2147483648],"
                                "\"data_offsets\":[0,4]"),
                             4),
                   TD_CODE_OVERFLOW, "tensor 'a': byte size overflows");
    TD_CHECK_ERROR(open_json(T1("\"dtype\":\"F32\",\"shape\":[100000000000000000],"
                                "\"data_offsets\":[0,4]"),
                             4),
                   TD_CODE_BAD_DATA, "not an integer in 0..2^53");
    TD_CHECK_ERROR(open_json(T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), 4),
                   TD_CODE_BAD_DATA,
                   "2 elements of F32 are 8 bytes but data_offsets [0, 4) span 4");
    TD_CHECK_ERROR(open_json(T1(F32_1 ",\"data_offsets\":[0,8]"), 4), TD_CODE_BAD_DATA,
                   "tensor 'a': data_offsets [0, 8) exceed the data area (4 bytes)");
    TD_CHECK_ERROR(open_json(T1(F32_1 ",\"data_offsets\":[4,0]"), 4), TD_CODE_BAD_DATA,
                   "tensor 'a': data_offsets begin 4 > end 0");
}

static void test_bad_layout(void)
{
    TD_CHECK_ERROR(open_json("{\"a\":{" F32_1 ",\"data_offsets\":[0,4]},"
                             "\"b\":{" F32_1 ",\"data_offsets\":[2,6]}}",
                             6),
                   TD_CODE_BAD_DATA, "bad.st: tensor 'b': bytes [2, 6) overlap tensor 'a' [0, 4)");
    TD_CHECK_ERROR(open_json("{\"a\":{" F32_1 ",\"data_offsets\":[0,4]},"
                             "\"b\":{" F32_1 ",\"data_offsets\":[0,4]}}",
                             4),
                   TD_CODE_BAD_DATA, "overlap");
    TD_CHECK_ERROR(open_json("{\"a\":{" F32_1 ",\"data_offsets\":[0,4]},"
                             "\"b\":{" F32_1 ",\"data_offsets\":[8,12]}}",
                             12),
                   TD_CODE_BAD_DATA,
                   "bytes [4, 8) of the data area before tensor 'b' belong to no");
    TD_CHECK_ERROR(open_json(T1(F32_1 ",\"data_offsets\":[0,4]"), 8), TD_CODE_BAD_DATA,
                   "bytes [4, 8) at the end of the data area belong to no tensor");
    TD_CHECK_ERROR(open_json("{\"a\":{" F32_1 ",\"data_offsets\":[0,4]},"
                             "\"a\":{" F32_1 ",\"data_offsets\":[4,8]}}",
                             8),
                   TD_CODE_BAD_DATA, "bad.st: duplicate tensor name 'a'");
}

static void test_bad_metadata(void)
{
    TD_CHECK_ERROR(open_json("{\"__metadata__\":{\"k\":1}}", 0), TD_CODE_BAD_DATA,
                   "bad.st: metadata value of 'k' is not a string");
    TD_CHECK_ERROR(open_json("{\"__metadata__\":[\"k\"]}", 0), TD_CODE_BAD_DATA,
                   "\"__metadata__\" is not a JSON object");
    TD_CHECK_ERROR(open_json("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0), TD_CODE_BAD_DATA,
                   "duplicate metadata key 'k'");
    TD_CHECK_ERROR(open_json("{\"__metadata__\":{},\"__metadata__\":{}}", 0), TD_CODE_BAD_DATA,
                   "duplicate \"__metadata__\"");
}

static void test_open_errors(const char *dir)
{
    td_safetensors *st = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    TD_CHECK_ERROR(td_safetensors_open(path, &st), TD_CODE_IO, "missing.safetensors: cannot open");
    TD_CHECK_ERROR(td_safetensors_open(dir, &st), TD_CODE_IO, "not a regular file");
    snprintf(path, sizeof path, "%s/short.safetensors", dir);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("abc", f);
        fclose(f);
    }
    TD_CHECK_ERROR(td_safetensors_open(path, &st), TD_CODE_BAD_DATA,
                   "short.safetensors: 3 bytes is shorter");
    unlink(path);
    TD_CHECK(st == NULL, "no object on failure");
}

static void test_dtype_table(void)
{
    td_st_dtype d;
    for (int i = 0; i < TD_ST_DTYPE_COUNT; i++) {
        TD_CHECK_OK(td_st_dtype_parse(td_st_dtype_name((td_st_dtype)i), &d));
        TD_CHECK(d == (td_st_dtype)i, "dtype %d parses back", i);
    }
    TD_CHECK(td_st_dtype_size(TD_ST_BF16) == 2 && td_st_dtype_size(TD_ST_F8_E4M3) == 1 &&
                 td_st_dtype_size(TD_ST_U64) == 8,
             "dtype sizes");
    TD_CHECK(td_st_dtype_name(TD_ST_DTYPE_COUNT) == NULL && td_st_dtype_size(-1) == 0,
             "out of range dtype");
}

int main(void)
{
    char dir[] = "/tmp/td_st_testXXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_dtype_table();
    test_python_fixture();
    test_round_trip(dir);
    test_writer_errors(dir);
    test_good_buffers();
    test_bad_framing();
    test_bad_entries();
    test_bad_sizes();
    test_bad_layout();
    test_bad_metadata();
    test_open_errors(dir);
    rmdir(dir);
    return td_test_finish("test_safetensors");
}
