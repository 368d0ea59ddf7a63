/* tandem bench moo: placeholder until the NSGA-II benchmark lands. */
#include <stdio.h>

#include "bench.h"

void td_bench_moo_usage(void)
{
    printf("usage: tandem bench moo\n");
}

int td_bench_moo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tandem bench moo: not built yet\n");
    return 1;
}
