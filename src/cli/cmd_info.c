/* tandem version | cpu | formats */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

void td_usage_version(void)
{
    printf("usage: tandem version\n\nPrints the version and the commit it was built from.\n");
}

int td_cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "tandem version: takes no arguments\n");
        return TD_EXIT_USAGE;
    }
#ifndef TD_GIT_COMMIT
#define TD_GIT_COMMIT "unknown"
#endif
    printf("tandem %s (commit %s)\n", TD_VERSION_STRING, TD_GIT_COMMIT);
    return TD_EXIT_OK;
}

void td_usage_cpu(void)
{
    printf("usage: tandem cpu\n\nShows the CPU model, the instruction-set features Tandem uses\n"
           "and the kernel ISA it will choose (TANDEM_ISA=scalar|avx2|avx512 lowers it).\n");
}

int td_cmd_cpu(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "tandem cpu: takes no arguments\n");
        return TD_EXIT_USAGE;
    }
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    td_ctx ctx = td_ctx_default();
    printf("model:    %s\n", cpu.model);
    printf("features: avx2=%d fma=%d f16c=%d avx512f=%d bw=%d dq=%d vl=%d vnni=%d vbmi=%d "
           "bf16=%d\n",
           cpu.avx2, cpu.fma, cpu.f16c, cpu.avx512f, cpu.avx512bw, cpu.avx512dq, cpu.avx512vl,
           cpu.avx512vnni, cpu.avx512vbmi, cpu.avx512bf16);
    printf("best isa: %s\nchosen:   %s\nthreads:  %d\n", td_isa_name(cpu.best),
           td_isa_name(ctx.isa), ctx.threads);
    return TD_EXIT_OK;
}
