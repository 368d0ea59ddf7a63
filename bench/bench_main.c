/* `tandem bench <subject>`: one subject per bench/bench_<subject>.c. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli/cli.h"

typedef struct bench_subject {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subject name */
    void (*usage)(void);
} bench_subject;

static const bench_subject subjects[] = {
    {"kernels", "GEMV/GEMM per format vs read bandwidth, dense kernels, oneDNN and OpenBLAS",
     td_bench_kernels, td_bench_kernels_usage},
    {"cnn", "bundled MNIST CNN: held-out accuracy of f32 and every compression preset",
     td_bench_cnn, td_bench_cnn_usage},
    {"sgemm", "packed f32 GEMM vs OpenBLAS cblas_sgemm on MiniLM shapes", td_bench_sgemm,
     td_bench_sgemm_usage},
    {"estimate", "hardware cost-model layer estimates per second, per template", td_bench_estimate,
     td_bench_estimate_usage},
    {"scalesim", "closed-form SCALE-Sim model vs the scalesim package on one topology",
     td_bench_scalesim, td_bench_scalesim_usage},
    {"moo", "NSGA-II on ZDT1/ZDT2/DTLZ2: hypervolume vs pymoo's fixtures, evaluations per second",
     td_bench_moo, td_bench_moo_usage},
    {"explore", "co-design search: NSGA-II vs random hypervolume, hardware-only evaluations/s",
     td_bench_explore, td_bench_explore_usage},
    {"deform", "deformable convolution variants vs torchvision's deform_conv2d (and our conv)",
     td_bench_deform, td_bench_deform_usage},
    {"attention", "tiled attention: dense f32 vs torch, block-sparse low-precision vs dense",
     td_bench_attention, td_bench_attention_usage},
    {"moe", "mixture of experts: expert-major vs token-major execution, expert cache", td_bench_moe,
     td_bench_moe_usage},
    {"minilm", "all-MiniLM-L6-v2 latency (f32 and presets) vs onnxruntime, embedding quality",
     td_bench_minilm, td_bench_minilm_usage},
};
enum { NSUBJECTS = sizeof subjects / sizeof subjects[0] };

void td_usage_bench(void)
{
    printf("usage: tandem bench <subject> [options]\n\nsubjects:\n");
    for (int i = 0; i < NSUBJECTS; i++)
        printf("  %-10s %s\n", subjects[i].name, subjects[i].summary);
    printf("\nRun 'tandem bench <subject> --help' for its options.\n\n");
    td_bench_kernels_usage();
}

int td_cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "tandem bench: missing subject (try 'tandem bench kernels')\n");
        return TD_EXIT_USAGE;
    }
    for (int i = 0; i < NSUBJECTS; i++) {
        if (strcmp(argv[1], subjects[i].name))
            continue;
        for (int a = 2; a < argc; a++)
            if (td_cli_is_help(argv[a])) {
                subjects[i].usage();
                return TD_EXIT_OK;
            }
        return subjects[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "tandem bench: unknown subject '%s' (expected:", argv[1]);
    for (int i = 0; i < NSUBJECTS; i++)
        fprintf(stderr, " %s", subjects[i].name);
    fprintf(stderr, ")\n");
    return TD_EXIT_USAGE;
}
