/* Co-design operators (deformable convolution, attention, mixture of experts, rotary
 * embeddings): their definitions live beside their kernels' callers in src/ops/codesign_*.c;
 * this is the family's list for the operator table. */
#include <stddef.h>

#include "graph/op.h"

extern const td_op_def td_op_rotary_embedding; /* codesign_rope.c */
extern const td_op_def td_op_tandem_moe;       /* codesign_moe.c */
extern const td_op_def td_op_deform_conv;      /* codesign_deform.c */
extern const td_op_def td_op_attention;        /* codesign_attention.c */

const td_op_def *const td_ops_codesign[] = {&td_op_deform_conv, &td_op_tandem_moe,
                                            &td_op_rotary_embedding, &td_op_attention, NULL};
