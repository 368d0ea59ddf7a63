/* tandem hw list | show */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli/cli.h"
#include "kernels/sgemm_packed.h"
#include "tandem/hw.h"

void td_usage_hw(void)
{
    printf("usage: tandem hw list [DIR]\n"
           "       tandem hw show FILE\n"
           "       tandem hw measure -o FILE\n\n"
           "list: the hardware templates, and the descriptions in DIR (default examples/hw).\n"
           "show: load a description (YAML) and print its accelerators and layer assignment.\n"
           "measure: this CPU as a `cpu` description (roofline): read bandwidth, f32 and int8\n"
           "         GEMM rates measured now with all threads (about 10 s).\n"
           "Descriptions are documented in include/tandem/hw.h and examples/hw/.\n");
}

static int show(const char *path)
{
    td_hw_desc *d;
    td_status st = td_hw_load(path, &d);
    if (st)
        return td_cli_fail(st);
    printf("%s: %d accelerator%s\n", d->name, d->n_accels, d->n_accels == 1 ? "" : "s");
    for (int i = 0; i < d->n_accels; i++) {
        char line[512];
        td_hw_describe(&d->accels[i], line, sizeof line);
        printf("  %-16s %s\n", d->accels[i].name, line);
    }
    for (int i = 0; i < d->n_assign; i++)
        printf("  layers matching '%s' -> %s\n", d->assign[i].match,
               d->accels[d->assign[i].accel].name);
    td_hw_free(d);
    return TD_EXIT_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list(const char *dir)
{
    printf("templates:");
    for (int t = 0; t < TD_HW_TEMPLATE_COUNT; t++)
        printf(" %s", td_hw_template_name((td_hw_template)t));
    printf("\n\n%s:\n", dir);
    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr, "tandem hw: %s: cannot open the folder\n", dir);
        return TD_EXIT_FAIL;
    }
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(dp)) != NULL && n < 256;) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(dp);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int rc = TD_EXIT_OK;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        td_hw_desc *d;
        td_status st = td_hw_load(path, &d);
        if (st) {
            fprintf(stderr, "tandem hw: %s\n", td_status_message(st));
            td_status_free(st);
            rc = TD_EXIT_FAIL;
        } else {
            char line[512];
            td_hw_describe(&d->accels[0], line, sizeof line);
            if (d->n_accels > 1)
                snprintf(line, sizeof line, "heterogeneous, %d accelerators", d->n_accels);
            printf("  %-24s %-14s %s\n", names[i], d->name, line);
            td_hw_free(d);
        }
        free(names[i]);
    }
    return rc;
}

typedef struct cpu_fig {
    double gbps, gflops, gops;
    int threads;
} cpu_fig;

/* Best of a few runs of a large f32 GEMM (the packed kernel) and an int8 W8A8 GEMM. */
static td_status measure_rates(const td_ctx *ctx, cpu_fig *f)
{
    enum { M = 256, N = 2048, K = 2048 };
    float *x, *w, *y;
    TD_TRY(td_alloc((size_t)M * K * sizeof(float), (void **)&x));
    TD_TRY(td_alloc((size_t)N * K * sizeof(float), (void **)&w));
    TD_TRY(td_alloc((size_t)M * N * sizeof(float), (void **)&y));
    for (size_t i = 0; i < (size_t)M * K; i++)
        x[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)N * K; i++)
        w[i] = (float)(i % 7) * 0.01f - 0.03f;
    td_sgemm_packed p;
    td_qmatrix *q = NULL;
    td_qspec spec = td_qspec_default(TD_INT8);
    td_status st = td_sgemm_pack(w, N, K, &p);
    if (!st)
        st = td_qmatrix_quantize(&spec, w, N, K, K, &q);
    double best_f = 1e9, best_i = 1e9;
    for (int r = 0; r < 5 && !st; r++) {
        double t0 = td_bench_now();
        st = td_sgemm_packed_run(ctx, x, M, &p, NULL, y);
        double t1 = td_bench_now();
        if (!st)
            st = td_gemm(ctx, q, TD_ACT_INT8, x, M, y);
        double t2 = td_bench_now();
        best_f = t1 - t0 < best_f ? t1 - t0 : best_f;
        best_i = t2 - t1 < best_i ? t2 - t1 : best_i;
    }
    f->gflops = 2.0 * M * N * K / best_f / 1e9;
    f->gops = 2.0 * M * N * K / best_i / 1e9;
    td_sgemm_packed_free(&p);
    td_qmatrix_free(q);
    td_free(x);
    td_free(w);
    td_free(y);
    return st;
}

static void write_cpu_yaml(FILE *out, void *arg)
{
    const cpu_fig *f = arg;
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    char date[32];
    td_bench_utc(date, sizeof date);
    fprintf(out,
            "# %s measured by `tandem hw measure` on %s with %d threads:\n"
            "# streaming read bandwidth, packed f32 GEMM and int8 W8A8 GEMM (256x2048x2048).\n"
            "name: cpu-measured\ntemplate: cpu\nclock_mhz: 1000\ndram_gbps: %.1f\n"
            "peak_gflops: %.1f\npeak_gops_int8: %.1f\n",
            cpu.model, date, f->threads, f->gbps, f->gflops, f->gops);
}

static int measure(int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 2; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output"))
            out = argv[i + 1];
    if (!out || argc != 4) {
        fprintf(stderr, "tandem hw measure: expected -o FILE\n");
        return TD_EXIT_USAGE;
    }
    td_ctx ctx = td_ctx_default();
    cpu_fig f = {0, 0, 0, ctx.threads};
    td_bench_stream *s = NULL;
    td_status st = td_bench_check_writable(out);
    if (!st)
        st = td_bench_stream_new((size_t)256 << 20, &s);
    if (!st) {
        f.gbps = td_bench_stream_gbps(s, ctx.threads, 5);
        td_bench_stream_free(s);
        st = measure_rates(&ctx, &f);
    }
    if (!st)
        st = td_bench_write_file(out, write_cpu_yaml, &f);
    if (st)
        return td_cli_fail(st);
    printf("%s: %.1f GB/s, %.1f GFLOP/s f32, %.1f GOP/s int8 (%d threads)\n", out, f.gbps, f.gflops,
           f.gops, f.threads);
    return TD_EXIT_OK;
}

int td_cmd_hw(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "measure"))
        return measure(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "list") && argc <= 3)
        return list(argc == 3 ? argv[2] : "examples/hw");
    if (argc == 3 && !strcmp(argv[1], "show"))
        return show(argv[2]);
    fprintf(stderr, "tandem hw: expected 'list [DIR]', 'show FILE' or 'measure -o FILE' (see "
                    "'tandem hw --help')\n");
    return TD_EXIT_USAGE;
}
