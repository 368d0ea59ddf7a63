/* tandem bench deform: placeholder until the benchmark lands. */
#include <stdio.h>

#include "bench.h"

void td_bench_deform_usage(void)
{
    printf("usage: tandem bench deform\n");
}

int td_bench_deform(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tandem bench deform: not built yet\n");
    return 1;
}
