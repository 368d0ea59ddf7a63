/* tandem bench estimate: layer estimates per second on one core, per template, over a spread
 * of GEMM shapes (the rate a design-space search can evaluate hardware points at). */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli/cli.h"
#include "tandem/estimate.h"

void td_bench_estimate_usage(void)
{
    printf("usage: tandem bench estimate\n\nLayer estimates per second on one core for each "
           "hardware template (target: >= 1,000,000).\n");
}

static td_hw_accel make(td_hw_template t)
{
    td_hw_accel a;
    memset(&a, 0, sizeof a);
    a.tmpl = t;
    strcpy(a.technology, "45nm");
    a.clock_mhz = 1000, a.dram_gbps = 16, a.rows = 32, a.cols = 32;
    a.dataflow = t == TD_HW_EYERISS ? TD_DF_RS : TD_DF_WS;
    a.ifmap_kb = a.filter_kb = a.ofmap_kb = 64, a.glb_kb = 128, a.min_bits = 8;
    a.dsp = 1024, a.macs_per_dsp = 2, a.bram_kb = 512;
    a.sram_kb = 256, a.flash_kb = 1024, a.cycles_per_mac_int8 = 1, a.cycles_per_mac_f32 = 2;
    a.peak_gflops = 100, a.peak_gops_int8 = 400;
    return a;
}

int td_bench_estimate(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "tandem bench estimate: takes no options\n");
        return TD_EXIT_USAGE;
    }
    enum { SHAPES = 64, REPS = 20000 };
    td_layer_work w[SHAPES];
    for (int i = 0; i < SHAPES; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].kind = TD_WORK_GEMM;
        w[i].m = 49 + 97 * i, w[i].n = 16 + 24 * (i % 13), w[i].k = 9 + 37 * (i % 29);
        w[i].groups = 1, w[i].macs = w[i].m * w[i].n * w[i].k;
        w[i].w_bits = 8, w[i].a_bits = 8, w[i].w_density = 1;
        w[i].weight_bytes = w[i].n * w[i].k, w[i].in_bytes = 4 * w[i].m * w[i].k;
        w[i].out_bytes = 4 * w[i].m * w[i].n, w[i].kernel_h = 3, w[i].in_w = 56, w[i].in_c = 64;
    }
    printf("%-12s %16s\n", "template", "estimates/s");
    double sink = 0;
    for (int t = 0; t < TD_HW_TEMPLATE_COUNT; t++) {
        td_hw_accel a = make((td_hw_template)t);
        double t0 = td_bench_now();
        for (int r = 0; r < REPS; r++)
            for (int i = 0; i < SHAPES; i++) {
                td_layer_estimate e;
                td_status st = td_estimate_layer(&a, &w[i], &e);
                if (st)
                    return td_cli_fail(st);
                sink += e.cycles;
            }
        double s = td_bench_now() - t0;
        printf("%-12s %16.0f\n", td_hw_template_name(a.tmpl), (double)REPS * SHAPES / s);
    }
    return sink > 0 ? TD_EXIT_OK : TD_EXIT_FAIL;
}
