/* Row-stationary (Eyeriss-like) access counts per memory level, internal to the cost models. */
#ifndef TD_HW_EYERISS_H
#define TD_HW_EYERISS_H

#include "tandem/estimate.h"

/* Accesses in operand words (reads + fills + updates) at each level of an Eyeriss-like engine:
 * per-PE ifmap, filter and psum scratchpads, the global buffer (inputs and partial sums; weights
 * bypass it, as in the Timeloop exercise architecture) and DRAM. */
typedef struct td_eyeriss_counts {
    double ifmap_spad, weight_spad, psum_spad;
    double glb_in, glb_out;
    double dram_w, dram_in, dram_out;
    int64_t c_pe, m_pe, c_spatial; /* channels and output channels per PE, channels per column */
    int64_t q_tiles, m_tiles;      /* DRAM-level tiles of output columns and output channels */
    bool glb_fits;                 /* the smallest tile fits the global buffer */
} td_eyeriss_counts;

void td_eyeriss_counts_of(const td_hw_accel *a, const td_layer_work *w, td_eyeriss_counts *out);

#endif
