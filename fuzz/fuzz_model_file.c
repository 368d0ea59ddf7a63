/* libFuzzer target for Tandem's model file: any buffer either fails to load with an error or
 * yields a graph; a graph that prepares and is small is run once on all-zero inputs.
 * Seeds (fuzz/corpus/fuzz_model_file, made by tools/make_model_seeds.py) are a few hundred
 * bytes to 2 KB, above the default -max_len, hence the line below (read by CMakeLists.txt).
 * TD_FUZZ_MAX_LEN 4096 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/graph.h"
#include "tandem/model.h"
#include "tandem/tandem.h"

/* Running is only worth it while it stays fast: bound inputs and the intermediate arena. */
enum { MAX_INPUT_BYTES = 1 << 20, MAX_ARENA_BYTES = 16 << 20 };

static bool small_enough(td_graph *g)
{
    for (int i = 0; i < g->n_inputs; i++) {
        const td_value *v = &g->values[g->inputs[i]];
        td_view view = {v->dtype, v->ndim, {0}, NULL};
        memcpy(view.shape, v->shape, sizeof view.shape);
        size_t bytes;
        td_status st = td_view_bytes(&view, v->name, &bytes);
        if (st) {
            td_status_free(st);
            return false;
        }
        if (bytes > MAX_INPUT_BYTES)
            return false;
    }
    td_mem_plan plan;
    td_status st = td_mem_plan_build(g, &plan);
    if (st) {
        td_status_free(st);
        return false;
    }
    bool ok = plan.arena_bytes <= MAX_ARENA_BYTES;
    td_mem_plan_free(&plan);
    return ok;
}

static void run_zero(td_graph *g)
{
    td_ctx ctx = td_ctx_default();
    ctx.threads = 1;
    td_session *s;
    td_status st = td_session_new(g, &ctx, &s);
    void *zeros = calloc(1, MAX_INPUT_BYTES);
    for (int i = 0; !st && zeros && i < g->n_inputs; i++) {
        const td_value *v = &g->values[g->inputs[i]];
        if (v->kind != TD_VALUE_INPUT)
            continue;
        td_view in = {v->dtype, v->ndim, {0}, zeros};
        memcpy(in.shape, v->shape, sizeof in.shape);
        st = td_session_set_input(s, v->name, &in);
    }
    if (!st && zeros)
        st = td_session_run(s);
    td_status_free(st);
    free(zeros);
    td_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so reading one byte past the input is an ASan error. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    td_graph *g = NULL;
    td_status st = td_model_load_buffer(buf, size, "fuzz", &g);
    if (!st)
        st = td_graph_prepare(g);
    if (!st && small_enough(g))
        run_zero(g);
    td_status_free(st);
    td_graph_free(g);
    free(buf);
    return 0;
}
