/* Cost estimates of a graph on a hardware description: per layer cycles, latency,
 * utilization, on- and off-chip traffic and energy; per design the totals and the area.
 *
 * Everything about a layer (MACs, shapes, bit widths, sparsity, bytes as stored) is read from
 * the prepared graph (td_node_cost, qweight, act); nothing is recomputed here. The templates'
 * models and the energy/area tables, with their sources, are in docs/HARDWARE.md. */
#ifndef TANDEM_ESTIMATE_H
#define TANDEM_ESTIMATE_H

#include "tandem/graph.h"
#include "tandem/hw.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_work_kind {
    TD_WORK_CONV = 0, /* Conv: a GEMM over im2col, per group */
    TD_WORK_GEMM,     /* Gemm / MatMul with a constant weight */
    TD_WORK_MATMUL,   /* MatMul of two activations */
    TD_WORK_VECTOR,   /* everything else: elementwise, norms, pools, data movement */
} td_work_kind;

/* A layer as the cost models see it, taken from the graph. GEMM form: M = output pixels x
 * batch (or rows), N = output features per group, K = reduction length, `groups` times. */
typedef struct td_layer_work {
    int node;
    td_work_kind kind;
    int64_t m, n, k, groups;
    int64_t macs;                 /* dense MACs (from the graph) */
    int64_t flops_other;          /* non-MAC arithmetic */
    int w_bits, a_bits;           /* weight and activation operand widths */
    bool is_float;                /* floating-point MACs (f32 model, or f32 activations) */
    double w_density;             /* kept weight fraction (N:M n/m, group sparsity) */
    int64_t weight_bytes;         /* as stored, compressed size and indices included */
    int64_t in_bytes, out_bytes;  /* activations at their widths */
    int64_t kernel_h, in_w, in_c; /* Conv: for line buffers */
    int64_t kernel_w, out_h, out_w, batch, stride_h, stride_w; /* Conv geometry (0: a GEMM) */
    int64_t in_h, dilation_h;
    /* DeformConv: its input window is not the kernel's rows but the offsets' reach (< 0:
     * unlimited, the whole input; ONNX DeformConv has no bound) */
    bool deformable;
    double offset_range;
    /* Weight bytes that cross DRAM per run when not all of weight_bytes does (mixture of
     * experts: only the routed experts load); 0 means weight_bytes. */
    double weight_traffic_bytes;
} td_layer_work;

td_status td_layer_work_of(const td_graph *g, int node, td_layer_work *out);

typedef struct td_layer_estimate {
    int accel; /* index into the description's accelerators */
    double cycles, latency_s;
    double utilization; /* MACs done / (PEs x compute cycles), 0..1 */
    double sram_bytes, dram_bytes;
    double energy_j, energy_compute_j, energy_sram_j, energy_dram_j;
    double energy_rf_j; /* PE-local register files (Eyeriss scratchpads), part of energy_sram_j */
    bool fits;          /* working set fits the on-chip memory (MCU: SRAM; FPGA: line buffers) */
} td_layer_estimate;

typedef struct td_estimate {
    td_layer_estimate *layers; /* one per graph node */
    int n_layers;
    double latency_s, energy_j, area_mm2;
    double sram_bytes, dram_bytes;
    int64_t macs;
    bool fits;
} td_estimate;

/* One layer on one accelerator. Errors: zero-size work, a template without a model yet. */
td_status td_estimate_layer(const td_hw_accel *a, const td_layer_work *w, td_layer_estimate *out);
/* The whole prepared graph; layers run one after another on their assigned accelerator. */
td_status td_estimate_graph(const td_graph *g, const td_hw_desc *d, td_estimate *out);
void td_estimate_free(td_estimate *e);

/* Weight traffic of a mixture-of-experts layer on an engine whose on-chip weight memory holds
 * `resident` experts, replaced least-recently-used. `routes` gives, per token in arrival order,
 * its k chosen experts (tokens x k, each in 0..experts-1). Token-major execution visits the
 * tokens in order, loading an expert whenever it is not resident; expert-major execution
 * groups the batch's tokens by expert, so each chosen expert is loaded at most once. Task
 * switches of task-conditioned experts are the same computation with each task's expert set
 * as the routes. */
typedef struct td_moe_traffic {
    int64_t loads; /* expert weight loads */
    double bytes;  /* loads x expert_bytes */
} td_moe_traffic;

td_status td_moe_weight_traffic(const int32_t *routes, int64_t tokens, int k, int experts,
                                double expert_bytes, int resident, bool expert_major,
                                td_moe_traffic *out);

/* On-chip input buffer of a (deformable) convolution computed row by row: a standard conv
 * needs (kernel_h - 1) * dilation + 1 input rows; a deformable one whose offsets are limited
 * to [-range, range] needs 2 * ceil(range) more (bilinear sampling reads one row past the
 * offset); range < 0 means unlimited offsets, which need the whole input. When the buffer
 * (buffer_bytes) is smaller, every output row re-reads its window from DRAM. */
typedef struct td_deform_buffer {
    int64_t rows_needed;
    double bytes_needed;
    bool fits;
    double dram_bytes; /* input traffic for the layer: once if it fits, else per output row */
} td_deform_buffer;

td_status td_deform_buffer_need(int64_t in_h, int64_t in_w, int64_t in_c, int a_bits,
                                int64_t kernel_h, int64_t dilation, int64_t out_h, double range,
                                double buffer_bytes, td_deform_buffer *out);

/* Area of an accelerator in mm^2 (PEs at its narrowest operand width + SRAM), from the tables
 * of its technology node. */
double td_hw_area_mm2(const td_hw_accel *a);

#ifdef __cplusplus
}
#endif
#endif
