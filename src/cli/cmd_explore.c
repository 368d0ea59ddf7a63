/* tandem explore: placeholder. */
#include <stdio.h>

#include "cli/cli.h"

void td_usage_explore(void)
{
    printf("usage: tandem explore SPACE.yaml\n");
}

int td_cmd_explore(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tandem explore: not built yet\n");
    return TD_EXIT_FAIL;
}
