/* tandem report RUN.jsonl -o REPORT.html */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "explore/report_internal.h"
#include "tandem/explore.h"

void td_usage_report(void)
{
    printf("usage: tandem report RUN.jsonl -o REPORT.html\n\n"
           "One self-contained HTML page (inline SVG and CSS; no scripts, no network) from a\n"
           "journal written by `tandem explore`: the run (model, space, algorithm, seed,\n"
           "evaluations, hypervolume), a scatter plot per pair of objectives with every design,\n"
           "the feasible ones, the Pareto front and the spec's limits, and a table of the Pareto\n"
           "designs with their knobs, metrics, comparison with the uncompressed model on the same\n"
           "hardware, and per-layer choices. A stopped run (no end line) is reported as such.\n"
           "The page is written to a temporary file and renamed, never left half-written.\n\n"
           "  -o, --output FILE   the HTML file to write (required)\n");
}

int td_cmd_report(int argc, char **argv)
{
    const char *journal = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tandem report: %s needs a file name\n", argv[i]);
                return TD_EXIT_USAGE;
            }
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "tandem report: unknown option '%s' (see 'tandem report --help')\n",
                    argv[i]);
            return TD_EXIT_USAGE;
        } else if (journal) {
            fprintf(stderr, "tandem report: one journal at a time ('%s' and '%s')\n", journal,
                    argv[i]);
            return TD_EXIT_USAGE;
        } else {
            journal = argv[i];
        }
    }
    if (!journal || !out) {
        fprintf(stderr, "tandem report: expected RUN.jsonl -o REPORT.html (see 'tandem report "
                        "--help')\n");
        return TD_EXIT_USAGE;
    }
    td_report_summary sum;
    td_status st = td_report_write_summary(journal, out, &sum);
    if (st)
        return td_cli_fail(st);
    printf("%s: %d evaluations, %d feasible, %d Pareto designs%s\n", out, sum.evals, sum.feasible,
           sum.front, sum.finished ? "" : " (run stopped before the end)");
    return TD_EXIT_OK;
}
