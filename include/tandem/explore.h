/* Co-exploration: search compression choices and hardware parameters together for the designs
 * that meet a spec, recorded in a journal and shown in a report.
 *
 * Journal (JSON lines, one object per line; the run's whole record):
 *
 *   {"type":"header", "tandem":VERSION, "commit":SHA, "machine":TEXT, "created":ISO8601,
 *    "space_file":PATH, "space_hash":HEX, "algo":"nsga2"|"random"|"exhaustive", "seed":N,
 *    "budget":N, "accuracy":"measured"|"proxy", "model":PATH,
 *    "knobs":[{"name":S, "kind":"algorithm"|"hardware", "values":[...]}...],
 *    "metrics":["accuracy","latency_ms","energy_uj","area_mm2","peak_mem_kb"],
 *    "objectives":[{"metric":S, "sense":"min"|"max"}...],
 *    "constraints":[{"metric":S, "op":"<="|">=", "value":X}...]}
 *   {"type":"eval", "n":INDEX, "x":[choice indices], "design":{knob: value...},
 *    "metrics":{metric: X...}, "baseline":{metric: X...}, "feasible":BOOL, "violation":X,
 *    "layers":[{"name":S, "format":S, "act":S, "sparsity":S}...]}      (one per evaluation)
 *   {"type":"end", "evals":N, "feasible":N, "hypervolume":X, "front":[n...], "seconds":X}
 *
 * "baseline" is the uncompressed model on the same hardware design. A journal without an "end"
 * line is a run that was stopped; `--resume` continues it. */
#ifndef TANDEM_EXPLORE_H
#define TANDEM_EXPLORE_H

#include "tandem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tandem report: one self-contained HTML file (inline SVG and CSS, no scripts or network)
 * from a journal: the front in each pair of objectives with the spec's limits drawn, the table
 * of Pareto designs with their per-layer choices, each compared with the uncompressed baseline
 * on the same hardware. Written to a temporary file and renamed. */
td_status td_report_write(const char *journal_path, const char *html_path);

#ifdef __cplusplus
}
#endif
#endif
