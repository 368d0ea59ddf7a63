/* Hostile Tandem model files: td_model_load_buffer must reject each with a clear error (bad
 * data or unsupported) that names the file and what is wrong, never crash. Files are built
 * with td_safetensors_writer, so only the part under test is broken. */
#include <stdio.h>
#include <unistd.h>

#include "td_test.h"
#include "tandem/graph.h"
#include "tandem/model.h"
#include "tandem/safetensors.h"

#define FILE_NAME "hostile.safetensors"

typedef struct tensor_spec {
    const char *name;
    td_st_dtype dtype;
    int ndim;
    int64_t shape[2];
    size_t nbytes;
} tensor_spec;

static const float zeros[256];

/* Writes a file with the given version/graph metadata (NULL: left out) and tensors (data all
 * zero), reads it back into memory and loads it under FILE_NAME. */
static td_status load(const char *version, const char *graph, const tensor_spec *t, int nt,
                      td_graph **g)
{
    char path[] = "/tmp/td_test_model_file_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return td_error_new(TD_CODE_IO, "mkstemp failed");
    close(fd);
    td_safetensors_writer *w;
    TD_TRY(td_safetensors_writer_new(&w));
    td_status st = TD_OK;
    for (int i = 0; i < nt && !st; i++)
        st = td_safetensors_writer_add(w, t[i].name, t[i].dtype, t[i].ndim, t[i].shape, zeros,
                                       t[i].nbytes);
    if (!st && version)
        st = td_safetensors_writer_set_metadata(w, "tandem.version", version);
    if (!st && graph)
        st = td_safetensors_writer_set_metadata(w, "tandem.graph", graph);
    if (!st)
        st = td_safetensors_write(w, path);
    td_safetensors_writer_free(w);
    if (st) {
        unlink(path);
        return st;
    }
    FILE *f = fopen(path, "rb");
    static char buf[1 << 16];
    size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    unlink(path);
    *g = NULL;
    st = td_model_load_buffer(buf, len, FILE_NAME, g);
    if (!st) {
        td_graph_free(*g);
        *g = NULL;
    }
    return st;
}

/* Checks that the error names the file, and (if given) a second thing, e.g. node or op. */
#define CHECK_LOAD_ERROR(code, needle, also, version, graph, tensors, nt)                          \
    do {                                                                                           \
        td_graph *g_ = NULL;                                                                       \
        td_status s_ = load(version, graph, tensors, nt, &g_);                                     \
        const char *m_ = td_status_message(s_);                                                    \
        TD_CHECK(td_status_code(s_) == (code), "got %s: %s", td_code_name(td_status_code(s_)),     \
                 m_);                                                                              \
        TD_CHECK(s_ &&strstr(m_, FILE_NAME), "message '%s' does not name the file", m_);           \
        TD_CHECK(s_ &&strstr(m_, needle), "message '%s' lacks '%s'", m_, needle);                  \
        TD_CHECK(s_ &&strstr(m_, also), "message '%s' lacks '%s'", m_, also);                      \
        TD_CHECK(g_ == NULL, "no graph on error");                                                 \
        td_status_free(s_);                                                                        \
    } while (0)

/* A valid graph for reference: x[1,8] -> Gemm(W[4,8] compressed int8, transB) -> y. Its
 * codes/scales sizes are those the int8 format needs for 4 x 8 (checked below). */
#define GEMM_GRAPH(wdecl, node_extra)                                                              \
    "{\"name\":\"g\",\"inputs\":[{\"name\":\"x\",\"dtype\":\"float32\",\"shape\":[1,8]}],"         \
    "\"constants\":[" wdecl "],\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"fc\",\"op\":\"Gemm\","   \
    "\"inputs\":[\"x\",\"W\"],\"outputs\":[\"y\"],\"attrs\":{\"transB\":{\"i\":1}}" node_extra     \
    "}]}"
#define W_UNSTORED "{\"name\":\"W\",\"dtype\":\"float32\",\"shape\":[4,8],\"stored\":false}"
#define W_STORED "{\"name\":\"W\",\"dtype\":\"float32\",\"shape\":[4,8],\"stored\":true}"
#define INT8_Q ",\"compressed\":{\"spec\":\"int8\",\"act\":\"a8\",\"rows\":4,\"cols\":8}"

static const tensor_spec int8_parts[] = {
    {"fc.tdq.codes", TD_ST_U8, 1, {256}, 256},
    {"fc.tdq.scales", TD_ST_U8, 1, {16}, 16},
};

static void test_valid_reference(void)
{
    td_graph *g = NULL;
    TD_CHECK_OK(load(TD_MODEL_FILE_VERSION, GEMM_GRAPH(W_UNSTORED, INT8_Q), int8_parts, 2, &g));
    tensor_spec w = {"W", TD_ST_F32, 2, {4, 8}, 128};
    TD_CHECK_OK(load(TD_MODEL_FILE_VERSION, GEMM_GRAPH(W_STORED, ""), &w, 1, &g));
}

static void test_not_tandem(void)
{
    tensor_spec t = {"a", TD_ST_F32, 1, {2}, 8};
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "not a Tandem model file", "tandem.graph", NULL, NULL, &t,
                     1);
    /* not even safetensors */
    td_graph *g = NULL;
    td_status st = td_model_load_buffer("hello, world", 12, FILE_NAME, &g);
    TD_CHECK(td_status_code(st) == TD_CODE_BAD_DATA, "%s", td_status_message(st));
    TD_CHECK(st && strstr(td_status_message(st), FILE_NAME), "%s", td_status_message(st));
    td_status_free(st);
}

static void test_wrong_version(void)
{
    CHECK_LOAD_ERROR(TD_CODE_UNSUPPORTED, "version 99", "reads " TD_MODEL_FILE_VERSION, "99",
                     GEMM_GRAPH(W_UNSTORED, INT8_Q), int8_parts, 2);
}

static void test_malformed_json(void)
{
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "not a JSON object", "tandem.graph", "1",
                     "{\"name\": ", NULL, 0);
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "not a JSON object", "tandem.graph", "1", "[1, 2]", NULL, 0);
    /* well-formed JSON, wrong structure */
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "outputs must be names", "tandem.graph", "1",
                     "{\"outputs\":[1]}", NULL, 0);
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "no name or op", "node", "1", "{\"nodes\":[{\"op\":1}]}",
                     NULL, 0);
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "output 'nope'", "never defined", "1",
                     "{\"outputs\":[\"nope\"]}", NULL, 0);
}

static void test_unknown_op(void)
{
    CHECK_LOAD_ERROR(TD_CODE_UNSUPPORTED, "node 'weird'", "'Frobnicate'", "1",
                     "{\"inputs\":[{\"name\":\"x\",\"dtype\":\"float32\",\"shape\":[1]}],"
                     "\"nodes\":[{\"name\":\"weird\",\"op\":\"Frobnicate\",\"inputs\":[\"x\"],"
                     "\"outputs\":[\"y\"]}],\"outputs\":[\"y\"]}",
                     NULL, 0);
    /* a node reading a tensor nobody defines */
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "node 'r'", "'ghost'", "1",
                     "{\"nodes\":[{\"name\":\"r\",\"op\":\"Relu\",\"inputs\":[\"ghost\"],"
                     "\"outputs\":[\"y\"]}],\"outputs\":[\"y\"]}",
                     NULL, 0);
}

static void test_compressed_part_wrong_size(void)
{
    tensor_spec parts[2] = {int8_parts[0], int8_parts[1]};
    parts[0].shape[0] = 255;
    parts[0].nbytes = 255;
    td_graph *g = NULL;
    td_status st = load("1", GEMM_GRAPH(W_UNSTORED, INT8_Q), parts, 2, &g);
    td_code c = td_status_code(st);
    TD_CHECK(c == TD_CODE_BAD_DATA, "got %s: %s", td_code_name(c), td_status_message(st));
    TD_CHECK(st && strstr(td_status_message(st), FILE_NAME) &&
                 strstr(td_status_message(st), "node 'fc'"),
             "%s", td_status_message(st));
    td_status_free(st);
    /* a part missing altogether */
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "node 'fc'", "", "1", GEMM_GRAPH(W_UNSTORED, INT8_Q),
                     int8_parts, 1);
    /* rows x cols disagreeing with the weight's shape */
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "node 'fc'", "", "1",
                     GEMM_GRAPH(W_UNSTORED, ",\"compressed\":{\"spec\":\"int8\",\"act\":\"a8\","
                                            "\"rows\":8,\"cols\":4}"),
                     int8_parts, 2);
    /* rows not an integer */
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "compressed node", "rows", "1",
                     GEMM_GRAPH(W_UNSTORED, ",\"compressed\":{\"spec\":\"int8\",\"act\":\"a8\","
                                            "\"rows\":1e300,\"cols\":8}"),
                     int8_parts, 2);
}

static void test_stored_constant_missing(void)
{
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "constant 'W'", "declared stored", "1",
                     GEMM_GRAPH(W_STORED, ""), NULL, 0);
    /* not stored, and no compressed node supplies it */
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "constant 'W'", "no compressed node", "1",
                     GEMM_GRAPH(W_UNSTORED, ""), NULL, 0);
}

static void test_dtype_mismatch(void)
{
    tensor_spec w = {"W", TD_ST_I32, 2, {4, 8}, 128};
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "tensor 'W'", "does not match its declaration", "1",
                     GEMM_GRAPH(W_STORED, ""), &w, 1);
    tensor_spec w2 = {"W", TD_ST_F32, 2, {4, 4}, 64};
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "tensor 'W'", "does not match its declaration", "1",
                     GEMM_GRAPH(W_STORED, ""), &w2, 1);
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "tensor 'W'", "unknown dtype 'float33'", "1",
                     GEMM_GRAPH("{\"name\":\"W\",\"dtype\":\"float33\",\"shape\":[4,8]}", ""), NULL,
                     0);
}

static void test_bad_dims(void)
{
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "'W'", "bad integer list", "1",
                     GEMM_GRAPH("{\"name\":\"W\",\"dtype\":\"float32\",\"shape\":[-4,8]}", ""),
                     NULL, 0);
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "'W'", "bad integer list", "1",
                     GEMM_GRAPH("{\"name\":\"W\",\"dtype\":\"float32\",\"shape\":[1e300]}", ""),
                     NULL, 0);
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "'W'", "bad integer list", "1",
                     GEMM_GRAPH("{\"name\":\"W\",\"dtype\":\"float32\",\"shape\":[1.5]}", ""), NULL,
                     0);
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "'W'", "bad integer list", "1",
                     GEMM_GRAPH("{\"name\":\"W\",\"dtype\":\"float32\",\"shape\":[1,1,1,1,1,1,1,1,"
                                "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}",
                                ""),
                     NULL, 0);
    /* each dimension fine, the product too large */
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "constant 'W'", "too large", "1",
                     GEMM_GRAPH("{\"name\":\"W\",\"dtype\":\"float32\",\"shape\":[9e15,9e15],"
                                "\"stored\":true}",
                                ""),
                     NULL, 0);
    /* huge but representable, not stored: no allocation happens, nothing supplies it */
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "constant 'W'", "no compressed node", "1",
                     GEMM_GRAPH("{\"name\":\"W\",\"dtype\":\"float32\",\"shape\":[1000000,"
                                "1000000],\"stored\":false}",
                                ""),
                     NULL, 0);
    /* an input with a dimension below -1 (-1 means "given at run time") */
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "'x'", "bad integer list", "1",
                     "{\"inputs\":[{\"name\":\"x\",\"dtype\":\"float32\",\"shape\":[-2]}]}", NULL,
                     0);
}

static void test_compressed_weight_not_a_constant(void)
{
    /* The compressed weight names a graph input: there is no buffer to dequantize into. */
    CHECK_LOAD_ERROR(TD_CODE_BAD_DATA, "node 'fc'", "compressed weight does not match", "1",
                     "{\"inputs\":[{\"name\":\"x\",\"dtype\":\"float32\",\"shape\":[1,8]},"
                     "{\"name\":\"W\",\"dtype\":\"float32\",\"shape\":[4,8]}],\"outputs\":[\"y\"],"
                     "\"nodes\":[{\"name\":\"fc\",\"op\":\"Gemm\",\"inputs\":[\"x\",\"W\"],"
                     "\"outputs\":[\"y\"],\"attrs\":{\"transB\":{\"i\":1}}" INT8_Q "}]}",
                     int8_parts, 2);
}

static void test_out_of_range_attribute(void)
{
    /* 1e300 does not fit an int64 attribute (and casting it would be undefined) */
    CHECK_LOAD_ERROR(
        TD_CODE_BAD_DATA, "integer attribute", "out of range", "1",
        "{\"inputs\":[{\"name\":\"x\",\"dtype\":\"float32\",\"shape\":[2]}],"
        "\"nodes\":[{\"name\":\"s\",\"op\":\"Softmax\",\"inputs\":[\"x\"],"
        "\"outputs\":[\"y\"],\"attrs\":{\"axis\":{\"i\":1e300}}}],\"outputs\":[\"y\"]}",
        NULL, 0);
}

int main(void)
{
    test_valid_reference();
    test_not_tandem();
    test_wrong_version();
    test_malformed_json();
    test_unknown_op();
    test_compressed_part_wrong_size();
    test_stored_constant_missing();
    test_dtype_mismatch();
    test_bad_dims();
    test_compressed_weight_not_a_constant();
    test_out_of_range_attribute();
    return td_test_finish("test_model_file");
}
