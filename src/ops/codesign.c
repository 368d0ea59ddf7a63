/* Co-design operators (deformable convolution, attention, mixture of experts, rotary
 * embeddings): their definitions live beside their kernels' callers in src/ops/codesign_*.c;
 * this is the family's list for the operator table. */
#include <stddef.h>

#include "graph/op.h"

const td_op_def *const td_ops_codesign[] = {NULL};
