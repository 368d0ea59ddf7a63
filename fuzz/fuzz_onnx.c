/* libFuzzer target: the ONNX loader on arbitrary bytes, then shape inference on whatever
 * loads (symbolic dimensions fixed to 1). Any outcome but a crash, leak or sanitizer report
 * is fine; errors are expected for almost every input. */
#include <stddef.h>
#include <stdint.h>

#include "tandem/graph.h"
#include "tandem/onnx.h"

static void prepare(td_graph *g)
{
    for (int i = 0; i < g->n_inputs; i++) {
        td_value *v = &g->values[g->inputs[i]];
        if (v->kind != TD_VALUE_INPUT || v->ndim < 0)
            continue;
        int64_t shape[TD_MAX_DIMS];
        for (int d = 0; d < v->ndim; d++)
            shape[d] = v->shape[d] < 0 ? 1 : v->shape[d];
        td_status st = td_graph_set_input_shape(g, v->name, v->ndim, shape);
        if (st) {
            td_status_free(st);
            return;
        }
    }
    td_status_free(td_graph_prepare(g));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_graph *g = NULL;
    td_status st = td_onnx_load_buffer(data, size, NULL, "fuzz.onnx", &g);
    if (!st)
        prepare(g);
    td_status_free(st);
    td_graph_free(g);
    td_view t;
    st = td_onnx_load_tensor_buffer(data, size, "fuzz.pb", &t);
    if (!st)
        td_free(t.data);
    td_status_free(st);
    return 0;
}
