/* Energy and area tables.
 *
 * 45 nm: M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014:
 * 8-bit integer multiply 0.2 pJ, 32-bit add 0.1 pJ, 32-bit float multiply 3.7 pJ + add 0.9 pJ,
 * 16-bit float multiply 1.1 pJ + add 0.4 pJ; SRAM 64-bit read 10 pJ (8 kB), 20 pJ (32 kB),
 * 100 pJ (1 MB); DRAM 1.3-2.6 nJ per 64 bits (2 nJ used); areas 8-bit multiply 282 um^2,
 * 32-bit add 137 um^2, 32-bit float multiply 7700 + add 4184 um^2.
 * 65 nm: the Eyeriss-like architecture of the Timeloop + Accelergy exercises, per-access
 * energies of its Accelergy table as printed in the ISPASS 2020 reference output
 * (exercises/timeloop+accelergy/ref-output/int16/timeloop-mapper.stats.txt): 16-bit integer MAC
 * 2.20 pJ; per 16-bit word: 128 kB global buffer 18.80 pJ, DRAM 128 pJ (512 pJ per 64 bits),
 * scratchpads of 12, 16 and 192 entries 0.237, 0.251 and 1.586 pJ; areas scaled from 45 nm by
 * (65/45)^2.
 * SRAM area: about 0.006 mm^2 per kB at 45 nm (a 0.35 um^2 6T cell, doubled for periphery) -
 * an assumption, not a measured macro. Multiplier energy and area grow with the product of the
 * operand widths (an array multiplier has w x a partial-product cells). */
#include <math.h>
#include <string.h>

#include "hw/energy.h"

static const td_tech techs[] = {
    {"45nm", 0.2, 8, 0.1, 4.6, 1.5, 10.0 / 8, 2000.0 / 8, 282, 137, 11884, 0.006},
    {"65nm", 2.20 * 0.9, 16, 2.20 * 0.1, 9.6, 3.1, 18.80 / 2 / 4, 128.0 / 2, 282 * 2.09, 137 * 2.09,
     11884 * 2.09, 0.006 * 2.09},
};

const td_tech *td_tech_get(const char *name)
{
    for (size_t i = 0; i < sizeof techs / sizeof techs[0]; i++)
        if (name && strcmp(techs[i].name, name) == 0)
            return &techs[i];
    return &techs[0];
}

double td_mac_pj(const td_tech *t, int w_bits, int a_bits, bool is_float)
{
    if (is_float)
        return (w_bits >= 32 || a_bits >= 32) ? t->fmac32_pj : t->fmac16_pj;
    double scale = (double)w_bits * (double)a_bits / (t->mult_ref_bits * t->mult_ref_bits);
    return t->mult_pj * scale + t->acc_pj;
}

double td_sram_pj_per_byte(const td_tech *t, double kb)
{
    return t->sram_pj_per_byte_8kb * sqrt((kb > 1 ? kb : 1) / 8.0);
}

/* Register files (PE scratchpads) at 65 nm, pJ per 16-bit access by number of entries: the
 * three sizes of the Timeloop exercise's Eyeriss table, joined by straight lines and extended
 * along the end segments. Other nodes scale by the ratio of their 16-bit MAC energy. */
double td_regfile_pj_per_byte(const td_tech *t, double entries)
{
    static const double n[3] = {12, 16, 192}, pj[3] = {0.237, 0.251, 1.586};
    int i = entries <= n[1] ? 0 : 1;
    double e = pj[i] + (pj[i + 1] - pj[i]) * (entries - n[i]) / (n[i + 1] - n[i]);
    if (e < 0.5 * pj[0])
        e = 0.5 * pj[0];
    double node = td_mac_pj(t, 16, 16, false) / td_mac_pj(td_tech_get("65nm"), 16, 16, false);
    return e / 2.0 * node;
}

double td_pe_area_um2(const td_tech *t, int w_bits, int a_bits, bool is_float)
{
    if (is_float)
        return t->fmac32_area_um2 * ((w_bits >= 32 || a_bits >= 32) ? 1.0 : 0.35);
    return t->mult_area_um2 * (double)w_bits * (double)a_bits / 64.0 + t->acc_area_um2;
}
