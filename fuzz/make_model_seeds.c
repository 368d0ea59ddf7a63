/* Writes small valid Tandem model files (seeds for fuzz_model_file), each well under 4 KB:
 *   cc -I include -I src fuzz/make_model_seeds.c -L<build> -ltandem -o /tmp/mk && /tmp/mk DIR
 * (not built by CMake: the fuzz/ glob only picks up fuzz_*.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/graph.h"
#include "tandem/model.h"
#include "tandem/tandem.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        td_status s_ = (x);                                                                        \
        if (s_) {                                                                                  \
            fprintf(stderr, "%s: %s\n", #x, td_status_message(s_));                                \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static float *ramp(int n)
{
    float *p = malloc((size_t)n * sizeof *p);
    for (int i = 0; i < n; i++)
        p[i] = (float)((i * 7) % 11 - 5) * 0.1f;
    return p;
}

/* x[1,8] -> Gemm(W[4,8], b[4], transB, W compressed to `spec`) -> Relu -> y */
static void gemm_model(const char *path, const char *spec_text, const char *act)
{
    td_graph *g;
    CHECK(td_graph_new("gemm", &g));
    int64_t xs[2] = {1, 8}, ws[2] = {4, 8}, bs[1] = {4};
    CHECK(td_graph_add_input(g, "x", TD_DT_F32, 2, xs, NULL));
    float *w = ramp(32), *b = ramp(4);
    CHECK(td_graph_add_const(g, "W", TD_DT_F32, 2, ws, w, false, NULL));
    CHECK(td_graph_add_const(g, "b", TD_DT_F32, 1, bs, b, false, NULL));
    const char *gin[] = {"x", "W", "b"}, *gout[] = {"h"}, *rout[] = {"y"};
    int gi;
    CHECK(td_graph_add_node(g, "fc", "Gemm", 3, gin, 1, gout, &gi));
    CHECK(td_node_set_int(&g->nodes[gi], "transB", 1));
    CHECK(td_graph_add_node(g, "relu", "Relu", 1, gout, 1, rout, NULL));
    CHECK(td_graph_mark_output(g, "y"));
    if (spec_text) {
        td_qspec spec;
        CHECK(td_qspec_parse(spec_text, &spec));
        CHECK(td_qmatrix_quantize(&spec, w, 4, 8, 8, &g->nodes[gi].qweight));
        CHECK(td_act_parse(act, &g->nodes[gi].act));
    }
    CHECK(td_model_save(g, path, NULL, NULL, 0));
    td_graph_free(g);
    free(w);
    free(b);
}

/* x[2,3] -> Reshape(shape const [3,2]) -> Add(c[2]) -> Softmax -> y */
static void reshape_model(const char *path)
{
    td_graph *g;
    CHECK(td_graph_new("reshape", &g));
    int64_t xs[2] = {2, 3}, ss[1] = {2}, cs[1] = {2};
    int64_t shape[2] = {3, 2};
    float c[2] = {0.5f, -1.0f};
    CHECK(td_graph_add_input(g, "x", TD_DT_F32, 2, xs, NULL));
    CHECK(td_graph_add_const(g, "shape", TD_DT_I64, 1, ss, shape, false, NULL));
    CHECK(td_graph_add_const(g, "c", TD_DT_F32, 1, cs, c, false, NULL));
    const char *rin[] = {"x", "shape"}, *rout[] = {"r"}, *ain[] = {"r", "c"}, *aout[] = {"a"},
               *sout[] = {"y"};
    int si;
    CHECK(td_graph_add_node(g, "reshape", "Reshape", 2, rin, 1, rout, NULL));
    CHECK(td_graph_add_node(g, "add", "Add", 2, ain, 1, aout, NULL));
    CHECK(td_graph_add_node(g, "softmax", "Softmax", 1, aout, 1, sout, &si));
    CHECK(td_node_set_int(&g->nodes[si], "axis", -1));
    CHECK(td_graph_mark_output(g, "y"));
    CHECK(td_model_save(g, path, NULL, NULL, 0));
    td_graph_free(g);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char p[4096];
    snprintf(p, sizeof p, "%s/gemm_int8", argv[1]);
    gemm_model(p, "int8", "a8");
    snprintf(p, sizeof p, "%s/gemm_int4", argv[1]);
    gemm_model(p, "int4", "f32");
    snprintf(p, sizeof p, "%s/gemm_f32", argv[1]);
    gemm_model(p, NULL, NULL);
    snprintf(p, sizeof p, "%s/reshape_add_softmax", argv[1]);
    reshape_model(p);
    return 0;
}
