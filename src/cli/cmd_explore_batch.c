/* tandem explore ask|eval|tell: placeholder until the batch commands land. */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/explore_mpi.h"

int td_explore_batch_cmd(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "tandem explore %s: not built yet\n", argv[0]);
    return TD_EXIT_FAIL;
}
