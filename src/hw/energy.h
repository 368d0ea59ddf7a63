/* Energy and area reference tables per technology node (sources in docs/HARDWARE.md). */
#ifndef TD_HW_ENERGY_H
#define TD_HW_ENERGY_H

#include <stdbool.h>

typedef struct td_tech {
    const char *name;
    /* integer multiply-accumulate: multiplier energy for a reference width product
     * (mult_ref_bits x mult_ref_bits), scaled by the product of the operand widths; plus a
     * 32-bit accumulate */
    double mult_pj, mult_ref_bits, acc_pj;
    double fmac32_pj, fmac16_pj; /* float multiply + add */
    double sram_pj_per_byte_8kb; /* SRAM read or write per byte for an 8 kB array; grows as
                                    sqrt(size) (wire length) */
    double dram_pj_per_byte;
    double mult_area_um2, acc_area_um2; /* at the reference width / 32-bit */
    double fmac32_area_um2;
    double sram_mm2_per_kb;
} td_tech;

const td_tech *td_tech_get(const char *name); /* "45nm" (default) or "65nm" */
/* Energy of one MAC with the given operand widths; float when either side is >= 16 bits and
 * `is_float`. */
double td_mac_pj(const td_tech *t, int w_bits, int a_bits, bool is_float);
double td_sram_pj_per_byte(const td_tech *t, double kb);
/* PE-local register file (scratchpad) of `entries` words, pJ per byte accessed. */
double td_regfile_pj_per_byte(const td_tech *t, double entries);
double td_pe_area_um2(const td_tech *t, int w_bits, int a_bits, bool is_float);

#endif
