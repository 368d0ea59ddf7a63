/* PLACEHOLDER: `tandem bench kernels` is being written. */
#include <stdio.h>

#include "cli/cli.h"

void td_usage_bench(void)
{
    printf("usage: tandem bench kernels [--json] [--full] [--threads N]\n");
}

int td_cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tandem bench: not implemented yet\n");
    return TD_EXIT_FAIL;
}
