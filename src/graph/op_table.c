/* The operator table: the families of src/ops/ each export a NULL-terminated list. */
#include <string.h>

#include "graph/op.h"

extern const td_op_def *const td_ops_nn[];          /* src/ops/nn.c: Conv, Gemm, MatMul, pools */
extern const td_op_def *const td_ops_elementwise[]; /* src/ops/elementwise.c */
extern const td_op_def *const td_ops_data[];        /* src/ops/data.c: shapes and movement */
extern const td_op_def *const td_ops_norm[];        /* src/ops/norm.c: norms, softmax, reduce */
extern const td_op_def *const td_ops_codesign[];    /* src/ops/codesign.c: deform, attention, MoE */

static const td_op_def *const *const families[] = {td_ops_nn, td_ops_elementwise, td_ops_data,
                                                   td_ops_norm, td_ops_codesign};

/* Filled on first use would be global mutable state; the table is small enough to search. */
const td_op_def *td_op_find(const char *op_type)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const td_op_def *const *d = families[f]; *d; d++)
            if (strcmp((*d)->name, op_type) == 0)
                return *d;
    return NULL;
}

int td_op_count(void)
{
    int n = 0;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const td_op_def *const *d = families[f]; *d; d++)
            n++;
    return n;
}

const td_op_def *td_op_at(int index)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const td_op_def *const *d = families[f]; *d; d++)
            if (index-- == 0)
                return *d;
    return NULL;
}
