/* tandem bench moe: placeholder until the benchmark lands. */
#include <stdio.h>

#include "bench.h"

void td_bench_moe_usage(void)
{
    printf("usage: tandem bench moe\n");
}

int td_bench_moe(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tandem bench moe: not built yet\n");
    return 1;
}
