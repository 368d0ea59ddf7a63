/* SCALE-Sim compatibility: reads SCALE-Sim's own config (.cfg) and topology (.csv) files and
 * gives, per layer, the numbers of its COMPUTE_REPORT and DETAILED_ACCESS_REPORT in closed form.
 *
 * The model follows SCALE-Sim 3.0.0 (the `scalesim` PyPI package): a systolic array of
 * rows x cols PEs with output-, weight- or input-stationary dataflow, operands folded onto the
 * array, and output sizes by its ceiling rule ceil((in - filter + stride) / stride). Cycle counts,
 * utilizations and SRAM access counts equal SCALE-Sim's; stall cycles are 0 and DRAM counts are
 * the operands' footprints, which is what SCALE-Sim reports in its CALC bandwidth mode when every
 * operand fits in its SRAM (tests/fixtures/scalesim). */
#ifndef TANDEM_SCALESIM_H
#define TANDEM_SCALESIM_H

#include <stddef.h>
#include <stdint.h>

#include "tandem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_scalesim_dataflow {
    TD_SCALESIM_OS = 0,
    TD_SCALESIM_WS = 1,
    TD_SCALESIM_IS = 2,
} td_scalesim_dataflow;

/* Largest accepted array side and layer dimension: beyond them no real design exists and
 * products of counts could leave 64 bits. */
#define TD_SCALESIM_MAX_ARRAY 65536u
#define TD_SCALESIM_MAX_DIM 16777216u
#define TD_SCALESIM_MAX_LAYERS 1048576u
#define TD_SCALESIM_NAME_MAX 96

typedef struct td_scalesim_config {
    char run_name[TD_SCALESIM_NAME_MAX];
    uint64_t array_rows, array_cols;
    uint64_t ifmap_sram_kb, filter_sram_kb, ofmap_sram_kb;
    td_scalesim_dataflow dataflow;
    int user_bandwidth; /* InterfaceBandwidth USER (1) or CALC (0) */
    uint64_t bandwidth; /* first Bandwidth value, 0 if absent */
} td_scalesim_config;

/* A GEMM row M,N,K is stored as SCALE-Sim stores it: ifmap M x K, one 1 x K filter per output
 * column, N filters, stride 1. */
typedef struct td_scalesim_layer {
    char name[TD_SCALESIM_NAME_MAX];
    uint64_t ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride_h, stride_w;
} td_scalesim_layer;

typedef struct td_scalesim_result {
    uint64_t ofmap_h, ofmap_w, macs;
    uint64_t total_cycles, stall_cycles;
    double overall_util, mapping_eff, compute_util; /* percent, as SCALE-Sim reports them */
    uint64_t ifmap_sram_reads, filter_sram_reads, ofmap_sram_writes;
    uint64_t ifmap_dram_reads, filter_dram_reads, ofmap_dram_writes;
} td_scalesim_result;

/* Topology form: decided from the header row (Layer, M, N, K -> GEMM) or forced. */
typedef enum td_scalesim_topo_kind {
    TD_SCALESIM_TOPO_AUTO = 0,
    TD_SCALESIM_TOPO_CONV,
    TD_SCALESIM_TOPO_GEMM,
} td_scalesim_topo_kind;

/* `name` is the file name used in error messages ("FILE:LINE: field ..."). */
td_status td_scalesim_parse_config(const char *buf, size_t len, const char *name,
                                   td_scalesim_config *cfg);
/* Allocates *layers (free with free()); depthwise rows (name containing "DP") expand into one
 * single-channel layer per channel, named NAME"Channel_"i, as SCALE-Sim does. */
td_status td_scalesim_parse_topology(const char *buf, size_t len, const char *name,
                                     td_scalesim_topo_kind kind, td_scalesim_layer **layers,
                                     size_t *n_layers);
td_status td_scalesim_layer_estimate(const td_scalesim_config *cfg, const td_scalesim_layer *layer,
                                     td_scalesim_result *out);
/* Read a file (at most 64 MiB) and parse it as above; errors name the path. */
td_status td_scalesim_load_config(const char *path, td_scalesim_config *cfg);
td_status td_scalesim_load_topology(const char *path, td_scalesim_topo_kind kind,
                                    td_scalesim_layer **layers, size_t *n_layers);
const char *td_scalesim_dataflow_name(td_scalesim_dataflow df);

#ifdef __cplusplus
}
#endif
#endif
