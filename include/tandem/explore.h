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

#include <stdbool.h>
#include <stdint.h>

#include "tandem/compress.h"
#include "tandem/hw.h"
#include "tandem/moo.h"
#include "tandem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- design spaces (YAML; docs/EXPLORE.md) ---- */

typedef enum td_metric {
    TD_METRIC_ACCURACY = 0, /* held-out accuracy, mean over tasks (0..1) */
    TD_METRIC_LATENCY_MS,   /* one inference of every task, one after another */
    TD_METRIC_ENERGY_UJ,
    TD_METRIC_AREA_MM2,    /* every accelerator present in the design */
    TD_METRIC_PEAK_MEM_KB, /* largest task: stored weights + planned activation arena */
    TD_METRIC_COUNT
} td_metric;

const char *td_metric_name(td_metric m);

typedef enum td_knob_kind {
    TD_KNOB_WEIGHTS = 0, /* a layer group's weight format ("f32", "int8", "int4:g32", ...) */
    TD_KNOB_ACT,         /* a layer group's activations (a8, a6, f32) */
    TD_KNOB_SPARSITY,   /* a layer group's N:M pattern or group sparsity ("none", "2:4", "gs0.5") */
    TD_KNOB_HW_FIELD,   /* an accelerator field (rows, dataflow, ...), or its template */
    TD_KNOB_HW_PRESENT, /* whether an optional sub-accelerator exists */
    TD_KNOB_ASSIGN,     /* which sub-accelerator a layer group runs on */
    TD_KNOB_VARIANT,    /* a layer group's DeformConv variant: \"free\" or \"limited:R\" */
    TD_KNOB_EXPERTS,    /* a layer group's active experts per token (TandemMoE k) */
} td_knob_kind;

#define TD_KNOB_MAX_VALUES 64
#define TD_SPACE_MAX_KNOBS 128

typedef struct td_knob {
    char name[96]; /* e.g. "mnist.early.weights", "hw.rows", "hw.little.present" */
    td_knob_kind kind;
    int task, group, accel; /* what it applies to (-1 where not) */
    char field[32];         /* TD_KNOB_HW_FIELD: the description field ("template" included) */
    int n_values;
    char values[TD_KNOB_MAX_VALUES][48];
    int line; /* in the space file */
} td_knob;

typedef struct td_limit {
    td_metric metric;
    bool is_max; /* value <= limit; otherwise value >= limit */
    double value;
} td_limit;

typedef struct td_objective {
    td_metric metric;
    bool maximize;
    double ref; /* hypervolume reference (worst value counted); NaN: taken from the limits */
} td_objective;

typedef struct td_space td_space; /* opaque: tasks, groups, accelerators, knobs, spec */

td_status td_space_load(const char *path, td_space **out);
/* `name` names the buffer in errors; relative model/data paths resolve against `base_dir`. */
td_status td_space_load_buffer(const char *buf, size_t len, const char *name, const char *base_dir,
                               td_space **out);
void td_space_free(td_space *s);

const char *td_space_name(const td_space *s);
uint64_t td_space_hash(const td_space *s); /* of the file's bytes: journals must match it */
int td_space_knobs(const td_space *s, const td_knob **knobs);
int td_space_objectives(const td_space *s, const td_objective **obj);
int td_space_limits(const td_space *s, const td_limit **lim);
/* Number of designs (product of the knobs' value counts; saturates at INT64_MAX). */
int64_t td_space_size(const td_space *s);
/* The search settings the file asks for (algorithm, budget, seed, population). */
void td_space_search_defaults(const td_space *s, td_moo_options *o);
bool td_space_proxy_accuracy(const td_space *s); /* accuracy: proxy in the file */

/* ---- evaluation ---- */

typedef struct td_design_eval {
    double metrics[TD_METRIC_COUNT];
    double baseline[TD_METRIC_COUNT]; /* uncompressed model on the same hardware */
    bool feasible;
    double violation; /* sum of relative limit excesses; 0 when feasible */
} td_design_eval;

typedef struct td_explorer td_explorer;

typedef struct td_explorer_options {
    int threads; /* for accuracy measurements; 0: all cores */
} td_explorer_options;

/* Loads every task's model and data (and measures its f32 accuracy unless the space says
 * `accuracy: none`). Accuracy is measured or proxied as the space's `accuracy` says. */
td_status td_explorer_new(const td_space *s, const td_explorer_options *o, td_explorer **out);
void td_explorer_free(td_explorer *e);
/* Evaluates n designs, x = n x n_knobs choice indices. Accuracy of each distinct compression
 * choice is measured once and cached (keyed by the choices); the hardware part runs in
 * parallel over the designs. */
td_status td_explorer_eval(td_explorer *e, int n, const int *x, td_design_eval *out);
/* Accuracy measurements done so far (cache misses) and cache hits. */
void td_explorer_cache_stats(const td_explorer *e, int64_t *measured, int64_t *hits);
/* Spearman rank correlation between proxy and measured accuracy over `n` random compression
 * choices (seeded); both are computed, so this takes n accuracy measurements. */
td_status td_explorer_proxy_check(td_explorer *e, int n, uint64_t seed, double *spearman);

/* Per-layer choices of a design for a task, as the journal's "layers" records them: writes up
 * to cap entries, returns how many layers the task has. */
typedef struct td_layer_choice {
    char name[96], format[48], act[8], sparsity[16];
} td_layer_choice;
int td_explorer_layers(td_explorer *e, const int *x, td_layer_choice *out, int cap);

/* ---- runs: search, journal, resume ---- */

/* Evaluates a batch for the run (default: td_explorer_eval; the MPI driver distributes). */
typedef td_status (*td_explore_eval_fn)(void *user, int n, const int *x, td_design_eval *out);

typedef struct td_explore_options {
    td_moo_options search;                  /* start from td_space_search_defaults */
    const char *journal;                    /* JSON-lines record of every evaluation (required) */
    bool resume;                            /* continue the journal's run instead of starting one */
    bool progress;                          /* progress bar on stderr */
    const char *version, *commit, *machine; /* recorded in the header */
    td_explore_eval_fn eval;                /* NULL: the explorer, in this process */
    void *eval_user;
} td_explore_options;

typedef struct td_explore_result {
    int64_t evals, feasible, resumed; /* resumed: evaluations read back from the journal */
    double hypervolume;               /* normalized to the reference box (0..1) */
    double ref[TD_METRIC_COUNT];      /* reference values used, per objective */
    double seconds;
    int n_front;
    int64_t *front; /* journal indices of the Pareto designs, sorted by objective 1 */
    int *front_x;   /* n_front x n_knobs choices */
    td_design_eval *front_eval;
    int64_t closest[5]; /* no feasible design: the 5 with the smallest violation */
    int closest_x[5 * TD_SPACE_MAX_KNOBS];
    td_design_eval closest_eval[5];
    int n_closest;
} td_explore_result;

/* Runs (or resumes) a search of the space, evaluating through `e` (or o->eval), appending
 * every evaluation to the journal as it completes. */
td_status td_explore_run(const td_space *s, td_explorer *e, const td_explore_options *o,
                         td_explore_result *out);
void td_explore_result_free(td_explore_result *r);

/* Evaluation outside this process (batch schedulers): ask replays the journal (creating it if
 * absent) and returns the designs the search needs next (malloc'ed n x n_knobs; n = 0 when the
 * search is complete, which writes the journal's end line); tell appends results of asked
 * designs, in the asked order, and says whether the search is complete. */
td_status td_explore_ask(const td_space *s, const td_explore_options *o, int **x, int *n);
td_status td_explore_tell(const td_space *s, td_explorer *e, const td_explore_options *o, int n,
                          const int *x, const td_design_eval *ev, bool *complete);

/* Hypervolume of the feasible non-dominated designs among n evaluations, objectives
 * normalized to the box between the ideal point and `ref` (per objective, in metric units). */
td_status td_explore_hypervolume(const td_space *s, int n, const td_design_eval *ev,
                                 const double *ref, double *out);

/* Adds a number to a cJSON object (passed as void * to keep cJSON out of this header) with
 * 17 significant digits, so that it reads back bit-identical: cJSON's own printing may round
 * to 15 digits, and a resumed search must see exactly what the original one saw. */
void td_json_add_exact(void *cjson_object, const char *name, double v);

/* tandem report: one self-contained HTML file (inline SVG and CSS, no scripts or network)
 * from a journal: the front in each pair of objectives with the spec's limits drawn, the table
 * of Pareto designs with their per-layer choices, each compared with the uncompressed baseline
 * on the same hardware. Written to a temporary file and renamed. */
td_status td_report_write(const char *journal_path, const char *html_path);

#ifdef __cplusplus
}
#endif
#endif
