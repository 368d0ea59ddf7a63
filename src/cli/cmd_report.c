/* tandem report: placeholder until the report generator lands. */
#include <stdio.h>

#include "cli/cli.h"

void td_usage_report(void)
{
    printf("usage: tandem report RUN.jsonl -o REPORT.html\n");
}

int td_cmd_report(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tandem report: not built yet\n");
    return TD_EXIT_FAIL;
}
