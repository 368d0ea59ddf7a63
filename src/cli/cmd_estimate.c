/* tandem estimate --scalesim CONFIG.cfg TOPOLOGY.csv [--csv OUT] [--gemm | --conv] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tandem/scalesim.h"

void td_usage_estimate(void)
{
    printf(
        "usage: tandem estimate --scalesim CONFIG.cfg TOPOLOGY.csv [--csv OUT] [--gemm|--conv]\n");
    td_usage_estimate_model();
    printf("\n--scalesim reads SCALE-Sim's own config and topology files and prints, per layer,\n"
           "its COMPUTE_REPORT columns (total and stall cycles, overall, mapping and compute\n"
           "utilization in %%) and the SRAM/DRAM access counts, from a closed-form model that\n"
           "matches SCALE-Sim 3.0.0. The topology form (convolution or GEMM M,N,K) follows the\n"
           "header row unless --gemm or --conv says otherwise. --csv writes the table to OUT.\n");
}

static const char ss_csv_header[] =
    "LayerID,Layer,Total Cycles,Stall Cycles,Overall Util %,Mapping Efficiency %,"
    "Compute Util %,SRAM IFMAP Reads,SRAM Filter Reads,SRAM OFMAP Writes,DRAM IFMAP Reads,"
    "DRAM Filter Reads,DRAM OFMAP Writes\n";

static void write_row(FILE *f, size_t i, const td_scalesim_layer *l, const td_scalesim_result *r)
{
    fprintf(f, "%zu,%s,%llu,%llu,%.6f,%.6f,%.6f,%llu,%llu,%llu,%llu,%llu,%llu\n", i, l->name,
            (unsigned long long)r->total_cycles, (unsigned long long)r->stall_cycles,
            r->overall_util, r->mapping_eff, r->compute_util,
            (unsigned long long)r->ifmap_sram_reads, (unsigned long long)r->filter_sram_reads,
            (unsigned long long)r->ofmap_sram_writes, (unsigned long long)r->ifmap_dram_reads,
            (unsigned long long)r->filter_dram_reads, (unsigned long long)r->ofmap_dram_writes);
}

static int run_scalesim(const char *cfg_path, const char *topo_path, const char *csv_path,
                        td_scalesim_topo_kind kind)
{
    td_scalesim_config cfg;
    td_status st = td_scalesim_load_config(cfg_path, &cfg);
    if (st)
        return td_cli_fail(st);
    td_scalesim_layer *layers;
    size_t n;
    st = td_scalesim_load_topology(topo_path, kind, &layers, &n);
    if (st)
        return td_cli_fail(st);
    FILE *csv = NULL;
    if (csv_path) {
        csv = fopen(csv_path, "w");
        if (!csv) {
            free(layers);
            fprintf(stderr, "tandem estimate: %s: cannot write\n", csv_path);
            return TD_EXIT_FAIL;
        }
        fputs(ss_csv_header, csv);
    }
    printf("SCALE-Sim model: %llux%llu array, dataflow %s, %zu layers\n",
           (unsigned long long)cfg.array_rows, (unsigned long long)cfg.array_cols,
           td_scalesim_dataflow_name(cfg.dataflow), n);
    printf("%-20s %14s %8s %8s %8s %8s %12s %12s %12s %12s %12s %12s\n", "layer", "cycles", "stall",
           "util%", "map%", "comp%", "sram_if_rd", "sram_flt_rd", "sram_of_wr", "dram_if_rd",
           "dram_flt_rd", "dram_of_wr");
    unsigned long long total = 0, macs = 0;
    for (size_t i = 0; i < n; i++) {
        td_scalesim_result r;
        st = td_scalesim_layer_estimate(&cfg, &layers[i], &r);
        if (st) {
            free(layers);
            if (csv)
                fclose(csv);
            return td_cli_fail(st);
        }
        printf("%-20.20s %14llu %8llu %8.2f %8.2f %8.2f %12llu %12llu %12llu %12llu %12llu "
               "%12llu\n",
               layers[i].name, (unsigned long long)r.total_cycles,
               (unsigned long long)r.stall_cycles, r.overall_util, r.mapping_eff, r.compute_util,
               (unsigned long long)r.ifmap_sram_reads, (unsigned long long)r.filter_sram_reads,
               (unsigned long long)r.ofmap_sram_writes, (unsigned long long)r.ifmap_dram_reads,
               (unsigned long long)r.filter_dram_reads, (unsigned long long)r.ofmap_dram_writes);
        if (csv)
            write_row(csv, i, &layers[i], &r);
        total += r.total_cycles;
        macs += r.macs;
    }
    printf("total: %llu cycles, %llu MACs\n", total, macs);
    free(layers);
    if (csv && fclose(csv) != 0) {
        fprintf(stderr, "tandem estimate: %s: write failed\n", csv_path);
        return TD_EXIT_FAIL;
    }
    return TD_EXIT_OK;
}

int td_cmd_estimate(int argc, char **argv)
{
    /* Only the --scalesim form is handled here; MODEL --hw FILE lives in cmd_estimate_model.c. */
    int has_scalesim = 0, help = 0;
    for (int i = 1; i < argc; i++) {
        has_scalesim |= strcmp(argv[i], "--scalesim") == 0;
        help |= td_cli_is_help(argv[i]);
    }
    if (help) {
        td_usage_estimate();
        return TD_EXIT_OK;
    }
    if (!has_scalesim)
        return td_estimate_model_cmd(argc, argv);
    const char *cfg = NULL, *topo = NULL, *csv = NULL;
    td_scalesim_topo_kind kind = TD_SCALESIM_TOPO_AUTO;
    int scalesim = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--scalesim") == 0 && i + 2 < argc) {
            scalesim = 1;
            cfg = argv[++i];
            topo = argv[++i];
        } else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
            csv = argv[++i];
        } else if (strcmp(argv[i], "--gemm") == 0) {
            kind = TD_SCALESIM_TOPO_GEMM;
        } else if (strcmp(argv[i], "--conv") == 0) {
            kind = TD_SCALESIM_TOPO_CONV;
        } else {
            fprintf(stderr, "tandem estimate: unknown or incomplete option '%s'\n", argv[i]);
            td_usage_estimate();
            return TD_EXIT_USAGE;
        }
    }
    if (!scalesim) {
        fprintf(stderr, "tandem estimate: --scalesim CONFIG.cfg TOPOLOGY.csv is required\n");
        td_usage_estimate();
        return TD_EXIT_USAGE;
    }
    return run_scalesim(cfg, topo, csv, kind);
}
