/* The parsed design space, shared by the space parser, the evaluator and the journal. */
#ifndef TD_EXPLORE_SPACE_INTERNAL_H
#define TD_EXPLORE_SPACE_INTERNAL_H

#include "tandem/explore.h"

#define TD_SPACE_MAX_TASKS 8
#define TD_SPACE_MAX_GROUPS 16
#define TD_SPACE_MAX_MATCH 8
#define TD_SPACE_MAX_ACCELS 8
#define TD_SPACE_MAX_FIELDS 32

/* A setting that is either fixed (knob < 0, value) or chosen by knob `knob`. */
typedef struct td_setting {
    int knob;
    char value[48];
} td_setting;

typedef struct td_group {
    char name[48];
    char match[TD_SPACE_MAX_MATCH][128]; /* layer-name globs */
    int n_match;
    td_setting weights, act, sparsity, assign;
    td_setting variant, experts; /* operator knobs; "model" keeps the model's own setting */
} td_group;

typedef struct td_task {
    char name[48];
    char model[512], test[512], calib[512];
    td_group groups[TD_SPACE_MAX_GROUPS];
    int n_groups;
    bool op_knobs; /* some group sets variant or experts: graphs are rebuilt per choice */
} td_task;

typedef struct td_space_field {
    char key[32];
    td_setting v;
} td_space_field;

typedef struct td_space_accel {
    char name[64];
    td_setting tmpl;
    bool optional;
    int present_knob; /* optional accelerators: knob over {yes, no}; else -1 */
    td_space_field fields[TD_SPACE_MAX_FIELDS];
    int n_fields;
} td_space_accel;

struct td_space {
    char name[64];
    char file[512];
    uint64_t hash;
    td_task tasks[TD_SPACE_MAX_TASKS];
    int n_tasks;
    td_space_accel accels[TD_SPACE_MAX_ACCELS];
    int n_accels;
    td_knob knobs[TD_SPACE_MAX_KNOBS];
    int n_knobs;
    td_limit limits[2 * TD_METRIC_COUNT];
    int n_limits;
    td_objective obj[TD_METRIC_COUNT];
    int n_obj;
    td_moo_options search;
    enum { TD_ACC_MEASURED, TD_ACC_PROXY, TD_ACC_NONE } accuracy;
};

/* The value a setting takes in design x (choice indices, one per knob). */
const char *td_setting_value(const td_space *s, const td_setting *v, const int *x);

#endif
