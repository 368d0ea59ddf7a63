/* Hardware description files (YAML, through libyaml's document API).
 *
 * Every accelerator parameter is one row of `fields`: its key, type, place in td_hw_accel,
 * allowed range, and which templates use and require it. Adding a parameter or a template is
 * a row (and a bit), not new parsing code. */
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "hw/yaml_doc.h"
#include "tandem/core.h"
#include "tandem/hw.h"

#define MAX_ACCELS 64
#define MAX_ASSIGN 256

enum {
    SYS = 1 << TD_HW_SYSTOLIC,
    EYE = 1 << TD_HW_EYERISS,
    NVD = 1 << TD_HW_NVDLA,
    SHI = 1 << TD_HW_SHIDIANNAO,
    FPG = 1 << TD_HW_FPGA,
    MCU = 1 << TD_HW_MCU,
    CPU = 1 << TD_HW_CPU,
    ALL = (1 << TD_HW_TEMPLATE_COUNT) - 1,
    ARRAYS = SYS | EYE | NVD | SHI,
};

typedef enum field_kind { F_INT, F_DOUBLE, F_BOOL, F_DATAFLOW, F_TECH } field_kind;

typedef struct field {
    const char *key;
    field_kind kind;
    size_t offset;
    double lo, hi;     /* inclusive range for numbers */
    unsigned used;     /* templates that take the field */
    unsigned required; /* templates that need it */
} field;

#define AT(member) offsetof(td_hw_accel, member)

static const field fields[] = {
    {"clock_mhz", F_DOUBLE, AT(clock_mhz), 1e-3, 1e5, ALL, ALL},
    {"technology", F_TECH, AT(technology), 0, 0, ALL, 0},
    {"dram_gbps", F_DOUBLE, AT(dram_gbps), 1e-6, 1e5, ALL & ~MCU, ALL & ~MCU},
    {"rows", F_INT, AT(rows), 1, 4096, ARRAYS, ARRAYS},
    {"cols", F_INT, AT(cols), 1, 4096, ARRAYS, ARRAYS},
    {"dataflow", F_DATAFLOW, AT(dataflow), 0, 0, SYS | EYE, SYS},
    {"ifmap_kb", F_DOUBLE, AT(ifmap_kb), 1e-3, 1e6, SYS | SHI, SYS | SHI},
    {"filter_kb", F_DOUBLE, AT(filter_kb), 1e-3, 1e6, SYS | SHI, SYS | SHI},
    {"ofmap_kb", F_DOUBLE, AT(ofmap_kb), 1e-3, 1e6, SYS | SHI, SYS | SHI},
    {"glb_kb", F_DOUBLE, AT(glb_kb), 1e-3, 1e6, EYE | NVD, EYE | NVD},
    {"spad_ifmap", F_INT, AT(spad_ifmap), 1, 1 << 20, EYE, 0},
    {"spad_filter", F_INT, AT(spad_filter), 1, 1 << 20, EYE, 0},
    {"spad_psum", F_INT, AT(spad_psum), 1, 1 << 20, EYE, 0},
    {"sparse", F_BOOL, AT(sparse), 0, 0, ARRAYS | FPG, 0},
    {"min_bits", F_INT, AT(min_bits), 1, 32, ALL, 0},
    {"dsp", F_INT, AT(dsp), 1, 1000000, FPG, FPG},
    {"macs_per_dsp", F_INT, AT(macs_per_dsp), 1, 16, FPG, 0},
    {"bram_kb", F_DOUBLE, AT(bram_kb), 1e-3, 1e6, FPG, FPG},
    {"sram_kb", F_DOUBLE, AT(sram_kb), 1e-3, 1e6, MCU, MCU},
    {"flash_kb", F_DOUBLE, AT(flash_kb), 1e-3, 1e7, MCU, MCU},
    {"cycles_per_mac_int8", F_DOUBLE, AT(cycles_per_mac_int8), 1e-3, 1e4, MCU, MCU},
    {"cycles_per_mac_f32", F_DOUBLE, AT(cycles_per_mac_f32), 1e-3, 1e4, MCU, MCU},
    {"peak_gflops", F_DOUBLE, AT(peak_gflops), 1e-3, 1e7, CPU, CPU},
    {"peak_gops_int8", F_DOUBLE, AT(peak_gops_int8), 1e-3, 1e7, CPU, CPU},
};

#define N_FIELDS (sizeof fields / sizeof fields[0])

static const char *const template_names[TD_HW_TEMPLATE_COUNT] = {
    "systolic", "eyeriss", "nvdla", "shidiannao", "fpga", "mcu", "cpu"};
static const char *const dataflow_names[TD_DF_COUNT] = {"ws", "os", "is", "rs"};

const char *td_hw_template_name(td_hw_template t)
{
    return (t >= 0 && t < TD_HW_TEMPLATE_COUNT) ? template_names[t] : "?";
}

const char *td_dataflow_name(td_dataflow d)
{
    return (d >= 0 && d < TD_DF_COUNT) ? dataflow_names[d] : "?";
}

/* ---- parsing ---- */

typedef struct parse {
    yaml_document_t doc;
    const char *file;
    td_hw_desc *d;
} parse;

static td_status err_at(const parse *p, const yaml_node_t *n, const char *fmt, const char *a,
                        const char *b)
{
    char msg[300];
    snprintf(msg, sizeof msg, fmt, a, b);
    return td_error_new(TD_CODE_BAD_DATA, "%s:%lu: %s", p->file,
                        n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *node(parse *p, int id)
{
    return yaml_document_get_node(&p->doc, id);
}

static const field *find_field(const char *key)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp(fields[i].key, key) == 0)
            return &fields[i];
    return NULL;
}

/* Field values from text, shared by description files and design spaces: on failure `why` says
 * what is wrong with the value. */
static bool parse_number(const field *f, const char *s, double *out, char *why, size_t cap)
{
    char *end = NULL;
    double x = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || !isfinite(x)) {
        snprintf(why, cap, "field '%s': expected a number, got '%s'", f->key,
                 s ? s : "(not a scalar)");
        return false;
    }
    if (f->kind == F_INT && x != floor(x)) {
        snprintf(why, cap, "field '%s': expected an integer, got '%s'", f->key, s);
        return false;
    }
    if (x < f->lo || x > f->hi) {
        snprintf(why, cap, "field '%s': value %s (allowed %g to %g) is out of range", f->key, s,
                 f->lo, f->hi);
        return false;
    }
    *out = x;
    return true;
}

static bool parse_word(const field *f, const char *s, const char *const *words, int n, int *out,
                       char *why, size_t cap)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, words[i]) == 0) {
            *out = i;
            return true;
        }
    snprintf(why, cap, "field '%s': unknown value '%s'", f->key, s ? s : "(not a scalar)");
    return false;
}

static bool set_field(td_hw_accel *a, const field *f, const char *s, char *why, size_t cap)
{
    char *dst = (char *)a + f->offset;
    double x = 0;
    int w = 0;
    switch (f->kind) {
    case F_INT:
        if (!parse_number(f, s, &x, why, cap))
            return false;
        *(int *)dst = (int)x;
        return true;
    case F_DOUBLE:
        if (!parse_number(f, s, &x, why, cap))
            return false;
        *(double *)dst = x;
        return true;
    case F_BOOL: {
        static const char *const b[4] = {"false", "true", "no", "yes"};
        if (!parse_word(f, s, b, 4, &w, why, cap))
            return false;
        *(bool *)dst = (w & 1) != 0;
        return true;
    }
    case F_DATAFLOW:
        if (!parse_word(f, s, dataflow_names, TD_DF_COUNT, &w, why, cap))
            return false;
        if ((a->tmpl == TD_HW_EYERISS) != (w == TD_DF_RS)) {
            snprintf(why, cap, "field '%s': '%s' does not fit this template", f->key,
                     dataflow_names[w]);
            return false;
        }
        *(td_dataflow *)dst = (td_dataflow)w;
        return true;
    case F_TECH: {
        static const char *const t[2] = {"45nm", "65nm"};
        if (!parse_word(f, s, t, 2, &w, why, cap))
            return false;
        snprintf(dst, sizeof a->technology, "%s", t[w]);
        return true;
    }
    }
    return true;
}

/* Defaults for optional fields (Eyeriss v1 scratchpads, 8-bit MACs, 45 nm tables). */
static void defaults(td_hw_accel *a)
{
    snprintf(a->technology, sizeof a->technology, "45nm");
    a->min_bits = 8;
    a->macs_per_dsp = 1;
    if (a->tmpl == TD_HW_SHIDIANNAO)
        a->dataflow = TD_DF_OS; /* its PEs keep their outputs */
    if (a->tmpl == TD_HW_EYERISS) {
        a->dataflow = TD_DF_RS;
        a->spad_ifmap = 12;
        a->spad_filter = 224;
        a->spad_psum = 24;
    }
}

static td_status find_template(parse *p, yaml_node_t *map, td_hw_accel *a)
{
    for (yaml_node_pair_t *kv = map->data.mapping.pairs.start; kv < map->data.mapping.pairs.top;
         kv++) {
        const char *k = scalar(node(p, kv->key));
        if (k && strcmp(k, "template") == 0) {
            static const field tf = {"template", F_INT, 0, 0, 0, 0, 0};
            int w = 0;
            char why[200];
            if (!parse_word(&tf, scalar(node(p, kv->value)), template_names, TD_HW_TEMPLATE_COUNT,
                            &w, why, sizeof why))
                return err_at(p, node(p, kv->value), "%s%s", why, "");
            a->tmpl = (td_hw_template)w;
            return TD_OK;
        }
    }
    return err_at(p, map, "missing field '%s'%s", "template", "");
}

static td_status parse_name(parse *p, const yaml_node_t *v, char *dst, size_t cap)
{
    const char *s = scalar(v);
    if (!s || !*s || strlen(s) >= cap)
        return err_at(p, v, "field '%s': expected a non-empty name shorter than 64 bytes%s", "name",
                      "");
    snprintf(dst, cap, "%s", s);
    return TD_OK;
}

static td_status check_required(parse *p, yaml_node_t *map, const td_hw_accel *a, const bool *seen)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if ((fields[i].required & (1u << a->tmpl)) && !seen[i])
            return err_at(p, map, "missing field '%s' (required by template %s)", fields[i].key,
                          template_names[a->tmpl]);
    return TD_OK;
}

static td_status parse_accel(parse *p, yaml_node_t *map, td_hw_accel *a)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return err_at(p, map, "an accelerator must be a mapping%s%s", "", "");
    memset(a, 0, sizeof *a);
    TD_TRY(find_template(p, map, a));
    defaults(a);
    bool seen[N_FIELDS] = {false};
    for (yaml_node_pair_t *kv = map->data.mapping.pairs.start; kv < map->data.mapping.pairs.top;
         kv++) {
        yaml_node_t *kn = node(p, kv->key), *vn = node(p, kv->value);
        const char *k = scalar(kn);
        if (!k)
            return err_at(p, kn, "keys must be plain words%s%s", "", "");
        if (strcmp(k, "template") == 0)
            continue;
        if (strcmp(k, "name") == 0) {
            TD_TRY(parse_name(p, vn, a->name, sizeof a->name));
            continue;
        }
        const field *f = find_field(k);
        if (!f)
            return err_at(p, kn, "unknown field '%s'%s", k, "");
        if (!(f->used & (1u << a->tmpl)))
            return err_at(p, kn, "field '%s' does not apply to template %s", k,
                          template_names[a->tmpl]);
        if (seen[f - fields])
            return err_at(p, kn, "field '%s' given twice%s", k, "");
        seen[f - fields] = true;
        char why[200];
        if (!set_field(a, f, scalar(vn), why, sizeof why))
            return err_at(p, vn, "%s%s", why, "");
    }
    return check_required(p, map, a, seen);
}

static td_status parse_assign(parse *p, yaml_node_t *seq)
{
    td_hw_desc *d = p->d;
    if (!seq || seq->type != YAML_SEQUENCE_NODE)
        return err_at(p, seq, "'assignment' must be a list%s%s", "", "");
    int n = (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n < 1 || n > MAX_ASSIGN)
        return err_at(p, seq, "'assignment' needs 1 to 256 rules%s%s", "", "");
    d->assign = calloc((size_t)n, sizeof *d->assign);
    if (!d->assign)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", p->file);
    for (int i = 0; i < n; i++) {
        yaml_node_t *r = node(p, seq->data.sequence.items.start[i]);
        const char *match = NULL, *to = NULL;
        for (yaml_node_pair_t *kv = r && r->type == YAML_MAPPING_NODE ? r->data.mapping.pairs.start
                                                                      : NULL;
             kv && kv < r->data.mapping.pairs.top; kv++) {
            const char *k = scalar(node(p, kv->key)), *v = scalar(node(p, kv->value));
            if (k && strcmp(k, "match") == 0)
                match = v;
            else if (k && strcmp(k, "to") == 0)
                to = v;
            else
                return err_at(p, node(p, kv->key), "assignment: unknown field '%s'%s", k ? k : "?",
                              "");
        }
        if (!match || !to || strlen(match) >= sizeof d->assign[i].match)
            return err_at(p, r, "assignment: each rule needs 'match' and 'to'%s%s", "", "");
        int idx = -1;
        for (int a = 0; a < d->n_accels; a++)
            if (strcmp(d->accels[a].name, to) == 0)
                idx = a;
        if (idx < 0)
            return err_at(p, r, "assignment: no accelerator named '%s'%s", to, "");
        snprintf(d->assign[i].match, sizeof d->assign[i].match, "%s", match);
        d->assign[i].accel = idx;
        d->n_assign = i + 1;
    }
    return TD_OK;
}

static td_status parse_hetero(parse *p, yaml_node_t *root, yaml_node_t *list, yaml_node_t *assign)
{
    td_hw_desc *d = p->d;
    if (list->type != YAML_SEQUENCE_NODE)
        return err_at(p, list, "'accelerators' must be a list%s%s", "", "");
    int n = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (n < 1 || n > MAX_ACCELS)
        return err_at(p, list, "'accelerators' needs 1 to 64 entries%s%s", "", "");
    d->accels = calloc((size_t)n, sizeof *d->accels);
    if (!d->accels)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", p->file);
    for (int i = 0; i < n; i++) {
        yaml_node_t *m = node(p, list->data.sequence.items.start[i]);
        TD_TRY(parse_accel(p, m, &d->accels[i]));
        d->n_accels = i + 1;
        if (!d->accels[i].name[0])
            return err_at(p, m, "each accelerator needs a '%s'%s", "name", "");
        for (int j = 0; j < i; j++)
            if (strcmp(d->accels[j].name, d->accels[i].name) == 0)
                return err_at(p, m, "accelerator name '%s' used twice%s", d->accels[i].name, "");
    }
    if (assign)
        return parse_assign(p, assign);
    if (n > 1)
        return err_at(p, root, "several accelerators need an 'assignment' of layers%s%s", "", "");
    return TD_OK;
}

static td_status parse_root(parse *p, yaml_node_t *root)
{
    if (!root || root->type != YAML_MAPPING_NODE)
        return err_at(p, root, "the file must be a mapping (name, template, ...)%s%s", "", "");
    yaml_node_t *list = NULL, *assign = NULL, *name = NULL;
    for (yaml_node_pair_t *kv = root->data.mapping.pairs.start; kv < root->data.mapping.pairs.top;
         kv++) {
        const char *k = scalar(node(p, kv->key));
        if (k && strcmp(k, "accelerators") == 0)
            list = node(p, kv->value);
        else if (k && strcmp(k, "assignment") == 0)
            assign = node(p, kv->value);
        else if (k && strcmp(k, "name") == 0)
            name = node(p, kv->value);
    }
    if (!name)
        return err_at(p, root, "missing field '%s'%s", "name", "");
    TD_TRY(parse_name(p, name, p->d->name, sizeof p->d->name));
    if (list) {
        if (root->data.mapping.pairs.top - root->data.mapping.pairs.start > 2 + (assign != NULL))
            return err_at(p, root,
                          "a design with 'accelerators' has only name, accelerators and "
                          "assignment at the top%s%s",
                          "", "");
        return parse_hetero(p, root, list, assign);
    }
    if (assign)
        return err_at(p, assign, "'assignment' needs an 'accelerators' list%s%s", "", "");
    p->d->accels = calloc(1, sizeof *p->d->accels);
    if (!p->d->accels)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", p->file);
    p->d->n_accels = 1;
    TD_TRY(parse_accel(p, root, &p->d->accels[0]));
    snprintf(p->d->accels[0].name, sizeof p->d->accels[0].name, "%s", p->d->name);
    return TD_OK;
}

td_status td_yaml_load(const char *buf, size_t len, const char *file, yaml_document_t *doc)
{
    if (len > TD_YAML_MAX_FILE)
        return td_error_new(TD_CODE_BAD_DATA, "%s: larger than 1 MB", file);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: cannot start the YAML parser", file);
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    td_status st = TD_OK;
    if (!yaml_parser_load(&parser, doc))
        st = td_error_new(TD_CODE_BAD_DATA, "%s:%lu: YAML: %s", file,
                          (unsigned long)parser.problem_mark.line + 1,
                          parser.problem ? parser.problem : "malformed");
    yaml_parser_delete(&parser);
    return st;
}

td_status td_hw_load_buffer(const char *buf, size_t len, const char *name, td_hw_desc **out)
{
    *out = NULL;
    const char *file = name ? name : "hardware description";
    parse p = {.file = file};
    TD_TRY(td_yaml_load(buf, len, file, &p.doc));
    p.d = calloc(1, sizeof *p.d);
    td_status st = p.d ? parse_root(&p, yaml_document_get_root_node(&p.doc))
                       : td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory", file);
    yaml_document_delete(&p.doc);
    if (st) {
        td_hw_free(p.d);
        return st;
    }
    *out = p.d;
    return TD_OK;
}

td_status td_hw_load(const char *path, td_hw_desc **out)
{
    *out = NULL;
    char *buf;
    size_t n;
    TD_TRY(td_file_read(path, TD_YAML_MAX_FILE, &buf, &n));
    td_status st = td_hw_load_buffer(buf, n, path, out);
    free(buf);
    return st;
}

void td_hw_free(td_hw_desc *d)
{
    if (!d)
        return;
    free(d->accels);
    free(d->assign);
    free(d);
}

td_status td_hw_accel_init(td_hw_accel *a, const char *tmpl)
{
    memset(a, 0, sizeof *a);
    for (int t = 0; t < TD_HW_TEMPLATE_COUNT; t++)
        if (tmpl && strcmp(tmpl, template_names[t]) == 0) {
            a->tmpl = (td_hw_template)t;
            defaults(a);
            return TD_OK;
        }
    return td_error_new(TD_CODE_INVALID_ARGUMENT, "unknown hardware template '%s'",
                        tmpl ? tmpl : "(none)");
}

td_status td_hw_accel_set(td_hw_accel *a, const char *key, const char *value)
{
    const field *f = find_field(key);
    if (!f)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "unknown field '%s'", key);
    if (!(f->used & (1u << a->tmpl)))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "field '%s' does not apply to template %s",
                            key, template_names[a->tmpl]);
    char why[200];
    if (!set_field(a, f, value, why, sizeof why))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s", why);
    return TD_OK;
}

bool td_hw_field_applies(td_hw_template t, const char *key, bool *required)
{
    const field *f = find_field(key);
    if (required)
        *required = f && (f->required & (1u << t));
    return f && (f->used & (1u << t));
}

const char *td_hw_field_name(int i)
{
    return i >= 0 && i < (int)N_FIELDS ? fields[i].key : NULL;
}

int td_hw_accel_for(const td_hw_desc *d, const char *layer_name)
{
    if (d->n_assign == 0)
        return d->n_accels > 0 ? 0 : -1;
    for (int i = 0; i < d->n_assign; i++)
        if (fnmatch(d->assign[i].match, layer_name, 0) == 0)
            return d->assign[i].accel;
    return -1;
}

void td_hw_describe(const td_hw_accel *a, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s, %g MHz", template_names[a->tmpl], a->clock_mhz);
    size_t used = n > 0 && (size_t)n < len ? (size_t)n : len;
    char *p = buf + used;
    size_t left = len - used;
    switch (a->tmpl) {
    case TD_HW_SYSTOLIC:
    case TD_HW_SHIDIANNAO:
        snprintf(p, left, ", %dx%d PEs, %s, buffers %g/%g/%g kB (ifmap/filter/ofmap), DRAM %g GB/s",
                 a->rows, a->cols, dataflow_names[a->dataflow], a->ifmap_kb, a->filter_kb,
                 a->ofmap_kb, a->dram_gbps);
        break;
    case TD_HW_EYERISS:
    case TD_HW_NVDLA:
        snprintf(p, left, ", %dx%d PEs, global buffer %g kB, DRAM %g GB/s, %s", a->rows, a->cols,
                 a->glb_kb, a->dram_gbps, a->technology);
        break;
    case TD_HW_FPGA:
        snprintf(p, left, ", %d DSPs x %d MACs, BRAM %g kB, DRAM %g GB/s", a->dsp, a->macs_per_dsp,
                 a->bram_kb, a->dram_gbps);
        break;
    case TD_HW_MCU:
        snprintf(p, left, ", SRAM %g kB, flash %g kB, %g / %g cycles per int8 / f32 MAC",
                 a->sram_kb, a->flash_kb, a->cycles_per_mac_int8, a->cycles_per_mac_f32);
        break;
    case TD_HW_CPU:
        snprintf(p, left, ", %g GFLOP/s f32, %g GOP/s int8, %g GB/s", a->peak_gflops,
                 a->peak_gops_int8, a->dram_gbps);
        break;
    default:
        break;
    }
}
