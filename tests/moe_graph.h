/* A small TandemMoE graph for tests of the layers around the operator (cost models, explore):
 * `tokens` x 16 inputs, 8 experts of 16 -> 32 -> 16 with fixed pseudo-random weights, one node
 * "moe0" (x, router, w_up, w_down -> y) with attribute k; not prepared, so callers can add
 * attributes. Include after td_test.h. */
#ifndef TD_TEST_MOE_GRAPH_H
#define TD_TEST_MOE_GRAPH_H

#include "tandem/graph.h"

static td_graph *td_test_moe_graph(int64_t tokens, int64_t k)
{
    const int64_t d = 16, f = 32, E = 8;
    static float router[16 * 8], up[8 * 32 * 16], down[8 * 16 * 32];
    for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
        up[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
        down[i] = (float)((i * 17) % 13) / 13.0f - 0.5f;
    }
    for (size_t i = 0; i < sizeof router / sizeof router[0]; i++)
        router[i] = (float)((i * 7) % 5) / 5.0f - 0.4f;
    td_graph *g = NULL;
    TD_CHECK_OK(td_graph_new("moe", &g));
    if (!g)
        return NULL;
    TD_CHECK_OK(td_graph_add_input(g, "x", TD_DT_F32, 2, (int64_t[]){tokens, d}, NULL));
    TD_CHECK_OK(
        td_graph_add_const(g, "router", TD_DT_F32, 2, (int64_t[]){d, E}, router, false, NULL));
    TD_CHECK_OK(td_graph_add_const(g, "w_up", TD_DT_F32, 3, (int64_t[]){E, f, d}, up, false, NULL));
    TD_CHECK_OK(
        td_graph_add_const(g, "w_down", TD_DT_F32, 3, (int64_t[]){E, d, f}, down, false, NULL));
    const char *in[4] = {"x", "router", "w_up", "w_down"}, *out[1] = {"y"};
    int idx = 0;
    TD_CHECK_OK(td_graph_add_node(g, "moe0", "TandemMoE", 4, in, 1, out, &idx));
    TD_CHECK_OK(td_node_set_int(&g->nodes[idx], "k", k));
    TD_CHECK_OK(td_graph_mark_output(g, "y"));
    return g;
}

#endif
