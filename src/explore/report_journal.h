/* The explore journal as the report reads it (format: include/tandem/explore.h).
 *
 * One pass validates every line and keeps what the plots and the Pareto front need (the numbers
 * of every evaluation); the details shown only for a few designs (knob values, baseline,
 * per-layer choices) are parsed again from the kept text for those designs alone, so a long
 * journal costs a few doubles per evaluation. */
#ifndef TD_REPORT_JOURNAL_H
#define TD_REPORT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "tandem/status.h"

/* Limits that keep a hostile or runaway journal from exhausting memory. */
#define TD_REPORT_MAX_BYTES ((size_t)256 << 20)
#define TD_REPORT_MAX_EVALS 1000000
#define TD_REPORT_MAX_NAMES 64 /* knobs, metrics, objectives or constraints */

typedef struct td_rj_objective {
    int metric; /* index into td_rj.metrics */
    bool maximize;
} td_rj_objective;

typedef struct td_rj_constraint {
    int metric;
    bool at_least; /* ">=" (else "<=") */
    double value;
} td_rj_constraint;

typedef struct td_rj_eval {
    long long n;
    int line;
    size_t offset, len; /* the line's text in td_rj.text */
    bool feasible;
    double violation;
    double *metrics; /* n_metrics values; NAN where the line lacks the metric */
} td_rj_eval;

typedef struct td_rj {
    char *name; /* the file name used in messages */
    char *text; /* the whole journal */
    size_t text_len;
    /* header strings ("" when an optional one is absent) */
    char *tandem, *commit, *machine, *created, *space_file, *algo, *accuracy, *model;
    long long seed, budget; /* budget -1 when absent */
    int n_knobs;
    char **knob_names, **knob_kinds;
    int n_metrics;
    char **metrics; /* the header's metrics, then objective/constraint metrics it omitted */
    int n_objectives;
    td_rj_objective *objectives;
    int n_constraints;
    td_rj_constraint *constraints;
    int n_evals;
    td_rj_eval *evals;
    double *metric_store; /* n_evals x n_metrics, behind the evals' pointers */
    /* the end line */
    bool has_end, has_hypervolume, has_seconds;
    long long end_evals, end_feasible;
    double hypervolume, seconds;
    int n_end_front;
    long long *end_front;
} td_rj;

/* Parses a journal held in memory; `name` names it in messages ("run.jsonl:12: ..."). */
td_status td_rj_parse(const char *text, size_t len, const char *name, td_rj **out);
/* Reads and parses a journal file (size capped at TD_REPORT_MAX_BYTES). */
td_status td_rj_load(const char *path, td_rj **out);
void td_rj_free(td_rj *j);

typedef struct td_rj_kv {
    char *key, *value; /* value as text: strings verbatim, numbers %g, booleans, null */
} td_rj_kv;

typedef struct td_rj_layer {
    char *name, *format, *act, *sparsity; /* "" when absent */
} td_rj_layer;

/* What only the table needs, for one evaluation. */
typedef struct td_rj_detail {
    int n_design;
    td_rj_kv *design;
    double *baseline; /* n_metrics values, NAN where absent */
    int n_layers;
    td_rj_layer *layers;
} td_rj_detail;

td_status td_rj_detail_get(const td_rj *j, const td_rj_eval *e, td_rj_detail *out);
void td_rj_detail_free(td_rj_detail *d);

#endif
