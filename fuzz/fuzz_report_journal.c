/* libFuzzer: explore journals (JSON lines) from arbitrary bytes, through the whole report: any
 * input either fails with an error or parses into a journal whose page renders. The parser
 * must never accept an eval line without every objective metric. TD_FUZZ_MAX_LEN 4096 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "explore/report_internal.h"
#include "explore/report_journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_rj *j = NULL;
    td_status st = td_rj_parse((const char *)data, size, "fuzz.jsonl", &j);
    if (!st) {
        if (j->n_evals < 1 || j->n_objectives < 1)
            abort();
        for (int i = 0; i < j->n_evals; i++)
            for (int o = 0; o < j->n_objectives; o++)
                if (!isfinite(j->evals[i].metrics[j->objectives[o].metric]))
                    abort();
        td_report_view v;
        st = td_report_view_build(j, &v);
        if (!st) {
            td_sbuf page = {0};
            st = td_report_render(&v, &page);
            td_sb_free(&page);
            td_report_view_free(&v);
        }
        td_rj_free(j);
    }
    td_status_free(st);
    return 0;
}
