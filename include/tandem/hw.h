/* Hardware descriptions: the targets cost models estimate for, read from short YAML files.
 *
 * A file describes one accelerator (a template plus its parameters) or a heterogeneous design
 * (several sub-accelerators and an assignment of layers to them):
 *
 *     name: edge-systolic
 *     template: systolic          # systolic | eyeriss | nvdla | shidiannao | fpga | mcu | cpu
 *     clock_mhz: 1000
 *     technology: 45nm            # energy/area table (45nm or 65nm)
 *     rows: 32                    # template parameters (see docs/HARDWARE.md)
 *     cols: 32
 *     dataflow: ws
 *     ...
 *
 *     name: two-engines           # heterogeneous
 *     accelerators:
 *       - {name: big, template: systolic, rows: 64, cols: 64, ...}
 *       - {name: small, template: eyeriss, ...}
 *     assignment:
 *       - {match: "*conv*", to: big}
 *       - {match: "*", to: small}
 *
 * Parsing is strict: unknown keys, missing required fields, wrong types and values outside
 * each field's range are errors naming the file, the line and the field. */
#ifndef TANDEM_HW_H
#define TANDEM_HW_H

#include <stdbool.h>
#include <stddef.h>

#include "tandem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_hw_template {
    TD_HW_SYSTOLIC = 0, /* R x C array, WS/OS/IS, three SRAM buffers (SCALE-Sim's model) */
    TD_HW_EYERISS,      /* row-stationary PE array with a global buffer and PE scratchpads */
    TD_HW_NVDLA,        /* atomic-C x atomic-K MAC cube, convolution buffer */
    TD_HW_SHIDIANNAO,   /* output-stationary 2-D PE mesh with neuron/synapse buffers */
    TD_HW_FPGA,         /* DSP-slice MAC engine, BRAM line buffers */
    TD_HW_MCU,          /* microcontroller: clock, SRAM, flash, cycles per MAC */
    TD_HW_CPU,          /* roofline from measured bandwidth and peak rates */
    TD_HW_TEMPLATE_COUNT
} td_hw_template;

typedef enum td_dataflow {
    TD_DF_WS = 0, /* weight stationary */
    TD_DF_OS,     /* output stationary */
    TD_DF_IS,     /* input stationary */
    TD_DF_RS,     /* row stationary (Eyeriss) */
    TD_DF_COUNT
} td_dataflow;

const char *td_hw_template_name(td_hw_template t);
const char *td_dataflow_name(td_dataflow d);

/* One accelerator. Fields a template does not use stay 0. */
typedef struct td_hw_accel {
    char name[64];
    td_hw_template tmpl;
    char technology[16]; /* "45nm" or "65nm" */
    double clock_mhz;
    double dram_gbps; /* off-chip bandwidth */
    /* PE arrays (systolic rows x cols; eyeriss PE rows x cols; nvdla atomic_c x atomic_k;
     * shidiannao rows x cols) */
    int rows, cols;
    td_dataflow dataflow;
    /* on-chip buffers, kB */
    double ifmap_kb, filter_kb, ofmap_kb;   /* systolic, shidiannao (neuron in/out, synapse) */
    double glb_kb;                          /* eyeriss global buffer, nvdla convolution buffer */
    int spad_ifmap, spad_filter, spad_psum; /* eyeriss per-PE scratchpads, entries */
    bool sparse;  /* the engine skips zero weights (N:M / group sparsity) */
    int min_bits; /* narrowest operand width the MACs pack (8, 6, 4, ...) */
    /* fpga */
    int dsp;          /* DSP slices */
    int macs_per_dsp; /* low-bit MACs packed per DSP per cycle at min_bits */
    double bram_kb;
    /* mcu */
    double sram_kb, flash_kb;
    double cycles_per_mac_int8, cycles_per_mac_f32;
    /* cpu (from `tandem bench`) */
    double peak_gflops, peak_gops_int8;
} td_hw_accel;

typedef struct td_hw_assign {
    char match[128]; /* shell glob over layer names */
    int accel;       /* index into accels */
} td_hw_assign;

typedef struct td_hw_desc {
    char name[64];
    td_hw_accel *accels;
    int n_accels;
    td_hw_assign *assign; /* heterogeneous designs only; first match wins */
    int n_assign;
} td_hw_desc;

td_status td_hw_load(const char *path, td_hw_desc **out);
/* `name` names the buffer in errors. */
td_status td_hw_load_buffer(const char *buf, size_t len, const char *name, td_hw_desc **out);
void td_hw_free(td_hw_desc *d);

/* Building an accelerator field by field (design spaces): a template with its defaults, then
 * fields by name from text, validated as in files (errors name the field and the value). */
td_status td_hw_accel_init(td_hw_accel *a, const char *tmpl);
td_status td_hw_accel_set(td_hw_accel *a, const char *key, const char *value);
/* Whether template t takes the field `key`, and whether it requires it. */
bool td_hw_field_applies(td_hw_template t, const char *key, bool *required);
/* The i-th description field's key (0, 1, ...; NULL past the last). */
const char *td_hw_field_name(int i);

/* One line describing an accelerator: template, clock, array, buffers or limits. */
void td_hw_describe(const td_hw_accel *a, char *buf, size_t len);

/* Index of the accelerator a layer runs on (the only one for single designs; -1 when no
 * assignment rule matches). */
int td_hw_accel_for(const td_hw_desc *d, const char *layer_name);

#ifdef __cplusplus
}
#endif
#endif
