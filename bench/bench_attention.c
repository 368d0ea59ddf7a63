/* tandem bench attention: placeholder until the benchmark lands. */
#include <stdio.h>

#include "bench.h"

void td_bench_attention_usage(void)
{
    printf("usage: tandem bench attention\n");
}

int td_bench_attention(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tandem bench attention: not built yet\n");
    return 1;
}
