/* Compression schemes: presets and the JSON scheme file. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/compress.h"

typedef struct preset {
    const char *name;
    const char *weights; /* NULL: f32 */
    const char *act;     /* "a8", "a6", "f32", "auto" */
    double a8_budget;
} preset;

static const preset presets[] = {
    {"f32", NULL, "f32", 1.0},
    {"w8a8", "int8", "a8", 1.0},
    {"w6a8", "int6:g32", "a8", 1.0},
    {"w6a6", "int6:g32", "a6", 1.0},
    /* INT6 serving: 6-bit activations except where they hurt most, a quarter of the MACs at
     * 8 bits at most. */
    {"w6-auto", "int6:g32", "auto", 0.25},
    {"w4a8", "int4:g32", "a8", 1.0},
    {"w4a8-g128", "int4:g128", "a8", 1.0},
    {"nm24", "int8:2:4", "a8", 1.0},
    {"fp8", "fp8_e4m3", "f32", 1.0},
    {"gs50", "int4:g32:gs0.5", "a8", 1.0},
};

#define N_PRESETS (sizeof presets / sizeof presets[0])

const char *const *td_scheme_preset_names(int *count)
{
    static const char *const names[N_PRESETS] = {"f32",  "w8a8",      "w6a8", "w6a6", "w6-auto",
                                                 "w4a8", "w4a8-g128", "nm24", "fp8",  "gs50"};
    *count = (int)N_PRESETS;
    return names;
}

static td_status set_act(td_rule *r, const char *act, const char *where)
{
    if (strcmp(act, "auto") == 0) {
        r->act_mode = TD_ACTM_AUTO;
        r->act = TD_ACT_INT8;
        return TD_OK;
    }
    r->act_mode = TD_ACTM_FIXED;
    td_status st = td_act_parse(act, &r->act);
    if (st) {
        td_status_free(st);
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s: activation \"%s\" is not one of f32, a8, a6, auto", where, act);
    }
    return TD_OK;
}

static td_status set_weights(td_rule *r, const char *weights, const char *where)
{
    if (!weights || strcmp(weights, "f32") == 0 || strcmp(weights, "none") == 0) {
        r->keep_f32 = true;
        return TD_OK;
    }
    td_status st = td_qspec_parse(weights, &r->spec);
    if (st) {
        td_status e = td_error_new(td_status_code(st), "%s: weights \"%s\": %s", where, weights,
                                   td_status_message(st));
        td_status_free(st);
        return e;
    }
    return TD_OK;
}

td_status td_scheme_preset(const char *name, td_scheme *out)
{
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (strcmp(presets[i].name, name) != 0)
            continue;
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "%s", name);
        out->a8_budget = presets[i].a8_budget;
        out->n_rules = 1;
        td_rule *r = &out->rules[0];
        strcpy(r->pattern, "*");
        TD_TRY(set_weights(r, presets[i].weights, name));
        return set_act(r, presets[i].act, name);
    }
    char list[256] = "";
    for (size_t i = 0; i < N_PRESETS; i++) {
        strncat(list, presets[i].name, sizeof list - strlen(list) - 1);
        if (i + 1 < N_PRESETS)
            strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    return td_error_new(TD_CODE_INVALID_ARGUMENT, "unknown preset \"%s\" (known: %s)", name, list);
}

static td_status copy_field(const cJSON *o, const char *key, char *dst, size_t cap,
                            const char *where, bool required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (required)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: missing \"%s\"", where, key);
        dst[0] = 0;
        return TD_OK;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: \"%s\" must be a string of < %zu bytes",
                            where, key, cap);
    strcpy(dst, v->valuestring);
    return TD_OK;
}

static td_status check_keys(const cJSON *o, const char *const *allowed, int n, const char *where)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        bool ok = false;
        for (int i = 0; i < n && !ok; i++)
            ok = strcmp(it->string, allowed[i]) == 0;
        if (!ok)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: unknown key \"%s\"", where,
                                it->string);
    }
    return TD_OK;
}

static td_status parse_rule(const cJSON *o, td_rule *r, const char *where)
{
    static const char *const keys[] = {"match", "op", "weights", "act"};
    if (!cJSON_IsObject(o))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: a rule must be an object", where);
    TD_TRY(check_keys(o, keys, 4, where));
    memset(r, 0, sizeof *r);
    TD_TRY(copy_field(o, "match", r->pattern, sizeof r->pattern, where, true));
    TD_TRY(copy_field(o, "op", r->op, sizeof r->op, where, false));
    char weights[64], act[16];
    TD_TRY(copy_field(o, "weights", weights, sizeof weights, where, true));
    TD_TRY(copy_field(o, "act", act, sizeof act, where, false));
    TD_TRY(set_weights(r, weights, where));
    return set_act(r, act[0] ? act : (r->keep_f32 ? "f32" : "a8"), where);
}

static td_status parse_root(const cJSON *root, const char *name, td_scheme *out)
{
    static const char *const keys[] = {"name", "a8_budget", "layers"};
    TD_TRY(check_keys(root, keys, 3, name));
    TD_TRY(copy_field(root, "name", out->name, sizeof out->name, name, false));
    if (!out->name[0])
        snprintf(out->name, sizeof out->name, "custom");
    out->a8_budget = 0.25;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "a8_budget");
    if (b) {
        if (!cJSON_IsNumber(b) || !(b->valuedouble >= 0.0 && b->valuedouble <= 1.0))
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: a8_budget must be in [0, 1]", name);
        out->a8_budget = b->valuedouble;
    }
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers"), *o;
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) == 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: \"layers\" must be a non-empty list",
                            name);
    if (cJSON_GetArraySize(layers) > TD_SCHEME_MAX_RULES)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: more than %d rules", name,
                            TD_SCHEME_MAX_RULES);
    cJSON_ArrayForEach(o, layers)
    {
        char where[300];
        snprintf(where, sizeof where, "%s: rule %d", name, out->n_rules + 1);
        TD_TRY(parse_rule(o, &out->rules[out->n_rules], where));
        out->n_rules++;
    }
    return TD_OK;
}

td_status td_scheme_parse(const char *json, size_t len, const char *name, td_scheme *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: not a JSON object", name);
    }
    td_status st = parse_root(root, name, out);
    cJSON_Delete(root);
    return st;
}

td_status td_scheme_load(const char *path, td_scheme *out)
{
    char *buf;
    size_t n;
    TD_TRY(td_file_read(path, 65536, &buf, &n));
    td_status st = td_scheme_parse(buf, n, path, out);
    free(buf);
    return st;
}
