/* tandem estimate MODEL --hw FILE: the per-layer cost table of a model on a hardware
 * description, with totals, and JSON / CSV records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli/cli_model.h"
#include "tandem/estimate.h"

typedef struct est_args {
    const char *model, *hw, *preset, *scheme, *json, *csv;
    int batch, seq;
} est_args;

static int parse(int argc, char **argv, est_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = !strcmp(k, "--hw")       ? &a->hw
                            : !strcmp(k, "--preset") ? &a->preset
                            : !strcmp(k, "--scheme") ? &a->scheme
                            : !strcmp(k, "--json")   ? &a->json
                            : !strcmp(k, "--csv")    ? &a->csv
                                                     : NULL;
        if (slot && v) {
            *slot = v;
            i++;
        } else if ((!strcmp(k, "--batch") || !strcmp(k, "--seq")) && v && atoi(v) > 0) {
            *(!strcmp(k, "--batch") ? &a->batch : &a->seq) = atoi(v);
            i++;
        } else if (k[0] != '-' && !a->model) {
            a->model = k;
        } else {
            fprintf(stderr, "tandem estimate: bad option '%s' (see 'tandem estimate --help')\n", k);
            return 0;
        }
    }
    if (!a->model || !a->hw || (a->preset && a->scheme)) {
        fprintf(stderr, "tandem estimate: expected MODEL --hw FILE [--preset NAME | --scheme FILE]"
                        " (see 'tandem estimate --help')\n");
        return 0;
    }
    return 1;
}

typedef struct est_out {
    const td_graph *g;
    const td_hw_desc *d;
    const td_estimate *e;
} est_out;

static void print_table(const est_out *o, FILE *f)
{
    fprintf(f, "%-28s %-12s %-12s %12s %12s %10s %6s %10s %10s %10s\n", "layer", "op", "on", "MACs",
            "cycles", "time us", "util", "SRAM kB", "DRAM kB", "energy uJ");
    for (int i = 0; i < o->e->n_layers; i++) {
        const td_layer_estimate *L = &o->e->layers[i];
        const td_node *n = &o->g->nodes[i];
        fprintf(f,
                "%-28.28s %-12.12s %-12.12s %12lld %12.0f %10.3f %5.1f%% %10.1f %10.1f %10.4f%s\n",
                n->name, n->op_type, o->d->accels[L->accel].name, (long long)n->cost.macs,
                L->cycles, L->latency_s * 1e6, 100.0 * L->utilization, L->sram_bytes / 1024.0,
                L->dram_bytes / 1024.0, L->energy_j * 1e6, L->fits ? "" : "  (does not fit)");
    }
    fprintf(f, "total: %lld MACs, %.4f ms, %.3f uJ, SRAM %.1f kB, DRAM %.1f kB, area %.3f mm^2%s\n",
            (long long)o->e->macs, o->e->latency_s * 1e3, o->e->energy_j * 1e6,
            o->e->sram_bytes / 1024.0, o->e->dram_bytes / 1024.0, o->e->area_mm2,
            o->e->fits ? "" : ", some layers do not fit on chip");
}

static void write_json(FILE *f, void *arg)
{
    const est_out *o = arg;
    td_json j;
    td_json_init(&j, f);
    td_json_begin_object(&j, NULL);
    td_json_str(&j, "hardware", o->d->name);
    td_json_num(&j, "latency_s", o->e->latency_s);
    td_json_num(&j, "energy_j", o->e->energy_j);
    td_json_num(&j, "area_mm2", o->e->area_mm2);
    td_json_int(&j, "macs", o->e->macs);
    td_json_bool(&j, "fits", o->e->fits);
    td_json_begin_array(&j, "layers");
    for (int i = 0; i < o->e->n_layers; i++) {
        const td_layer_estimate *L = &o->e->layers[i];
        td_json_begin_object(&j, NULL);
        td_json_str(&j, "name", o->g->nodes[i].name);
        td_json_str(&j, "op", o->g->nodes[i].op_type);
        td_json_str(&j, "accelerator", o->d->accels[L->accel].name);
        td_json_int(&j, "macs", o->g->nodes[i].cost.macs);
        td_json_num(&j, "cycles", L->cycles);
        td_json_num(&j, "latency_s", L->latency_s);
        td_json_num(&j, "utilization", L->utilization);
        td_json_num(&j, "sram_bytes", L->sram_bytes);
        td_json_num(&j, "dram_bytes", L->dram_bytes);
        td_json_num(&j, "energy_j", L->energy_j);
        td_json_bool(&j, "fits", L->fits);
        td_json_end_object(&j);
    }
    td_json_end_array(&j);
    td_json_end_object(&j);
    fputc('\n', f);
}

static void write_csv(FILE *f, void *arg)
{
    const est_out *o = arg;
    fprintf(f, "layer,op,accelerator,macs,cycles,latency_s,utilization,sram_bytes,dram_bytes,"
               "energy_j,fits\n");
    for (int i = 0; i < o->e->n_layers; i++) {
        const td_layer_estimate *L = &o->e->layers[i];
        fprintf(f, "\"%s\",%s,%s,%lld,%.0f,%.9g,%.6f,%.0f,%.0f,%.9g,%d\n", o->g->nodes[i].name,
                o->g->nodes[i].op_type, o->d->accels[L->accel].name,
                (long long)o->g->nodes[i].cost.macs, L->cycles, L->latency_s, L->utilization,
                L->sram_bytes, L->dram_bytes, L->energy_j, L->fits);
    }
}

static td_status run(const est_args *a)
{
    td_hw_desc *d = NULL;
    td_graph *g = NULL;
    td_estimate e;
    memset(&e, 0, sizeof e);
    td_model_opts mo = {a->batch ? a->batch : 1, a->seq};
    td_status st = td_hw_load(a->hw, &d);
    if (!st)
        st = td_model_open(a->model, &mo, &g);
    if (!st)
        st = td_graph_prepare(g);
    if (!st && (a->preset || a->scheme)) {
        td_scheme s;
        st = a->preset ? td_scheme_preset(a->preset, &s) : td_scheme_load(a->scheme, &s);
        if (!st)
            st = td_compress_apply(g, &s);
    }
    if (!st)
        st = td_estimate_graph(g, d, &e);
    est_out o = {g, d, &e};
    if (!st)
        print_table(&o, stdout);
    if (!st && a->json)
        st = td_bench_write_file(a->json, write_json, &o);
    if (!st && a->csv)
        st = td_bench_write_file(a->csv, write_csv, &o);
    td_estimate_free(&e);
    td_graph_free(g);
    td_hw_free(d);
    return st;
}

void td_usage_estimate_model(void)
{
    printf(
        "       tandem estimate MODEL --hw FILE [--preset NAME | --scheme FILE] [--batch N]\n"
        "                       [--json FILE] [--csv FILE]\n\n"
        "Per-layer cycles, latency, utilization, SRAM/DRAM traffic and energy of MODEL on the\n"
        "hardware description FILE (examples/hw/*.yaml), and totals with the area. MACs, shapes\n"
        "and bit widths come from the model (a compressed Tandem file carries its formats;\n"
        "--preset/--scheme apply one without calibration). Models: docs/HARDWARE.md.\n");
}

int td_estimate_model_cmd(int argc, char **argv)
{
    est_args a;
    if (!parse(argc, argv, &a))
        return TD_EXIT_USAGE;
    td_status st = run(&a);
    return st ? td_cli_fail(st) : TD_EXIT_OK;
}
