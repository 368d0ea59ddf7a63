/* SCALE-Sim 3.0.0 compatible parsers and closed-form layer model (see tandem/scalesim.h). */
#include "tandem/scalesim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/core.h"

/* A view of one line or field: never NUL-terminated, since the input is a raw buffer. */
typedef struct {
    const char *p;
    size_t n;
} ss_span;

static ss_span ss_trim(ss_span s)
{
    while (s.n && isspace((unsigned char)s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && isspace((unsigned char)s.p[s.n - 1]))
        s.n--;
    return s;
}

static int ss_ieq(ss_span s, const char *word)
{
    size_t wn = strlen(word);
    if (s.n != wn)
        return 0;
    for (size_t i = 0; i < wn; i++)
        if (tolower((unsigned char)s.p[i]) != tolower((unsigned char)word[i]))
            return 0;
    return 1;
}

/* Copies a span into a bounded C string for messages and names, replacing control bytes. */
static void ss_copy(char *dst, size_t cap, ss_span s)
{
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = isprint((unsigned char)s.p[i]) ? s.p[i] : '?';
    dst[n] = '\0';
}

/* Parses a decimal in [lo, hi]; 1 on success. */
static int ss_uint(ss_span s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    s = ss_trim(s);
    if (s.n == 0 || s.n > 20)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(s.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

/* Returns the next line (without its end) and advances *pos. */
static ss_span ss_next_line(const char *buf, size_t len, size_t *pos)
{
    size_t start = *pos, i = start;
    while (i < len && buf[i] != '\n')
        i++;
    *pos = i < len ? i + 1 : i;
    ss_span s = {buf + start, i - start};
    return s;
}

const char *td_scalesim_dataflow_name(td_scalesim_dataflow df)
{
    switch (df) {
    case TD_SCALESIM_OS:
        return "os";
    case TD_SCALESIM_WS:
        return "ws";
    case TD_SCALESIM_IS:
        return "is";
    }
    return "?";
}

/* ---- config (.cfg, Python configparser syntax) ---- */

enum {
    K_ROWS,
    K_COLS,
    K_IFMAP_KB,
    K_FILTER_KB,
    K_OFMAP_KB,
    K_DATAFLOW,
    K_BANDWIDTH_MODE,
    K_BANDWIDTH,
    K_RUN_NAME,
    K_SPARSITY,
    K_IGNORED, /* keys SCALE-Sim reads that do not change the numbers Tandem reports */
};

static const struct {
    const char *key;
    int id;
} ss_cfg_keys[] = {
    {"ArrayHeight", K_ROWS},
    {"ArrayWidth", K_COLS},
    {"IfmapSramSzkB", K_IFMAP_KB},
    {"FilterSramSzkB", K_FILTER_KB},
    {"OfmapSramSzkB", K_OFMAP_KB},
    {"Dataflow", K_DATAFLOW},
    {"InterfaceBandwidth", K_BANDWIDTH_MODE},
    {"Bandwidth", K_BANDWIDTH},
    {"run_name", K_RUN_NAME},
    {"SparsitySupport", K_SPARSITY},
    {"IfmapOffset", K_IGNORED},
    {"FilterOffset", K_IGNORED},
    {"OfmapOffset", K_IGNORED},
    {"ReadRequestBuffer", K_IGNORED},
    {"WriteRequestBuffer", K_IGNORED},
    {"MemoryBanks", K_IGNORED},
    {"UseRamulatorTrace", K_IGNORED},
    {"TopologyCsvLoc", K_IGNORED},
    {"IfmapCustomLayout", K_IGNORED},
    {"IfmapSRAMBankBandwidth", K_IGNORED},
    {"IfmapSRAMBankNum", K_IGNORED},
    {"IfmapSRAMBankPort", K_IGNORED},
    {"FilterCustomLayout", K_IGNORED},
    {"FilterSRAMBankBandwidth", K_IGNORED},
    {"FilterSRAMBankNum", K_IGNORED},
    {"FilterSRAMBankPort", K_IGNORED},
    {"SparseRep", K_IGNORED},
    {"OptimizedMapping", K_IGNORED},
    {"BlockSize", K_IGNORED},
    {"RandomNumberGeneratorSeed", K_IGNORED},
};

static td_status ss_cfg_value(td_scalesim_config *cfg, int id, ss_span v, const char *name,
                              size_t line, const char *key)
{
    uint64_t *dst = NULL, hi = 1u << 30;
    switch (id) {
    case K_ROWS:
        dst = &cfg->array_rows;
        hi = TD_SCALESIM_MAX_ARRAY;
        break;
    case K_COLS:
        dst = &cfg->array_cols;
        hi = TD_SCALESIM_MAX_ARRAY;
        break;
    case K_IFMAP_KB:
        dst = &cfg->ifmap_sram_kb;
        break;
    case K_FILTER_KB:
        dst = &cfg->filter_sram_kb;
        break;
    case K_OFMAP_KB:
        dst = &cfg->ofmap_sram_kb;
        break;
    case K_DATAFLOW:
        if (ss_ieq(v, "os"))
            cfg->dataflow = TD_SCALESIM_OS;
        else if (ss_ieq(v, "ws"))
            cfg->dataflow = TD_SCALESIM_WS;
        else if (ss_ieq(v, "is"))
            cfg->dataflow = TD_SCALESIM_IS;
        else
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s:%zu: field %s: expected os, ws or is",
                                name, line, key);
        return TD_OK;
    case K_BANDWIDTH_MODE:
        if (ss_ieq(v, "USER"))
            cfg->user_bandwidth = 1;
        else if (ss_ieq(v, "CALC"))
            cfg->user_bandwidth = 0;
        else
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s:%zu: field %s: expected USER or CALC",
                                name, line, key);
        return TD_OK;
    case K_BANDWIDTH: {
        /* A comma-separated list; SCALE-Sim uses the first value. */
        ss_span first = v;
        for (size_t i = 0; i < v.n; i++)
            if (v.p[i] == ',') {
                first.n = i;
                break;
            }
        if (!ss_uint(first, 1, 1u << 30, &cfg->bandwidth))
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "%s:%zu: field %s: expected a positive integer list", name, line,
                                key);
        return TD_OK;
    }
    case K_RUN_NAME:
        ss_copy(cfg->run_name, sizeof cfg->run_name, v);
        return TD_OK;
    case K_SPARSITY:
        if (ss_ieq(v, "true"))
            return td_error_new(TD_CODE_UNSUPPORTED,
                                "%s:%zu: field %s: sparse SCALE-Sim runs are not modelled", name,
                                line, key);
        return TD_OK;
    default:
        return TD_OK;
    }
    if (!ss_uint(v, 1, hi, dst))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s:%zu: field %s: expected an integer in 1..%llu", name, line, key,
                            (unsigned long long)hi);
    return TD_OK;
}

td_status td_scalesim_parse_config(const char *buf, size_t len, const char *name,
                                   td_scalesim_config *cfg)
{
    if (!buf || !cfg)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "scalesim config: NULL argument");
    if (!name)
        name = "config";
    memset(cfg, 0, sizeof *cfg);
    cfg->dataflow = TD_SCALESIM_WS;
    int seen[K_IGNORED] = {0};
    size_t pos = 0, line_no = 0;
    while (pos < len) {
        ss_span line = ss_trim(ss_next_line(buf, len, &pos));
        line_no++;
        if (line.n == 0 || line.p[0] == '#' || line.p[0] == ';')
            continue;
        if (line.p[0] == '[') {
            if (line.p[line.n - 1] != ']')
                return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                    "%s:%zu: section header lacks its closing ']'", name, line_no);
            continue;
        }
        size_t sep = 0;
        while (sep < line.n && line.p[sep] != '=' && line.p[sep] != ':')
            sep++;
        if (sep == line.n)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "%s:%zu: expected 'key = value' or 'key : value'", name, line_no);
        ss_span key = ss_trim((ss_span){line.p, sep});
        ss_span val = ss_trim((ss_span){line.p + sep + 1, line.n - sep - 1});
        char key_text[64];
        ss_copy(key_text, sizeof key_text, key);
        int id = -1;
        for (size_t k = 0; k < sizeof ss_cfg_keys / sizeof ss_cfg_keys[0]; k++)
            if (ss_ieq(key, ss_cfg_keys[k].key)) {
                id = ss_cfg_keys[k].id;
                break;
            }
        if (id < 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s:%zu: unknown field '%s'", name,
                                line_no, key_text);
        TD_TRY(ss_cfg_value(cfg, id, val, name, line_no, key_text));
        if (id < K_IGNORED)
            seen[id] = 1;
    }
    static const struct {
        int id;
        const char *key;
    } required[] = {{K_ROWS, "ArrayHeight"},       {K_COLS, "ArrayWidth"},
                    {K_IFMAP_KB, "IfmapSramSzkB"}, {K_FILTER_KB, "FilterSramSzkB"},
                    {K_OFMAP_KB, "OfmapSramSzkB"}, {K_DATAFLOW, "Dataflow"}};
    for (size_t r = 0; r < sizeof required / sizeof required[0]; r++)
        if (!seen[required[r].id])
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: missing field %s", name,
                                required[r].key);
    if (cfg->user_bandwidth && !seen[K_BANDWIDTH])
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s: InterfaceBandwidth is USER but field Bandwidth is missing", name);
    return TD_OK;
}

/* ---- topology (.csv) ---- */

#define SS_MAX_FIELDS 12

/* Splits on ','; a trailing empty field (SCALE-Sim rows end with ',') is dropped. */
static size_t ss_split(ss_span line, ss_span *fields)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= line.n; i++) {
        if (i == line.n || line.p[i] == ',') {
            if (n == SS_MAX_FIELDS)
                return SS_MAX_FIELDS + 1;
            fields[n++] = ss_trim((ss_span){line.p + start, i - start});
            start = i + 1;
        }
    }
    if (n > 1 && fields[n - 1].n == 0)
        n--;
    return n;
}

static int ss_contains(ss_span s, const char *word)
{
    size_t wn = strlen(word);
    for (size_t i = 0; i + wn <= s.n; i++)
        if (memcmp(s.p + i, word, wn) == 0)
            return 1;
    return 0;
}

/* "N:M" sparsity ratio; the dense model only checks that it is well formed. */
static int ss_ratio(ss_span s)
{
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] == ':') {
            uint64_t a, b;
            return ss_uint((ss_span){s.p, i}, 1, 1u << 20, &a) &&
                   ss_uint((ss_span){s.p + i + 1, s.n - i - 1}, 1, 1u << 20, &b) && a <= b;
        }
    return 0;
}

static td_status ss_push(td_scalesim_layer **layers, size_t *n, size_t *cap,
                         const td_scalesim_layer *l, const char *name, size_t line_no)
{
    if (*n >= TD_SCALESIM_MAX_LAYERS)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s:%zu: more than %u layers", name, line_no,
                            TD_SCALESIM_MAX_LAYERS);
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        td_scalesim_layer *p = realloc(*layers, nc * sizeof *p);
        if (!p)
            return td_error_new(TD_CODE_OUT_OF_MEMORY, "%s: out of memory for layers", name);
        *layers = p;
        *cap = nc;
    }
    (*layers)[(*n)++] = *l;
    return TD_OK;
}

static const char *ss_conv_fields[] = {"name",          "IFMAP height", "IFMAP width",
                                       "Filter height", "Filter width", "Channels",
                                       "Num filter",    "Strides"};
static const char *ss_gemm_fields[] = {"name", "M", "N", "K"};

static td_status ss_parse_row(ss_span *f, size_t nf, int gemm, const char *name, size_t line_no,
                              td_scalesim_layer *l)
{
    size_t need = gemm ? 4 : 8;
    const char **names = gemm ? ss_gemm_fields : ss_conv_fields;
    if (nf < need || nf > need + 1)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s:%zu: expected %zu fields (%s form), got %zu", name, line_no, need,
                            gemm ? "GEMM name,M,N,K" : "convolution", nf);
    if (nf == need + 1 && !ss_ratio(f[need]))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s:%zu: field %zu (sparsity): expected N:M with N <= M", name, line_no,
                            need + 1);
    if (f[0].n == 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s:%zu: field name is empty", name, line_no);
    uint64_t v[8] = {0};
    for (size_t i = 1; i < need; i++)
        if (!ss_uint(f[i], 1, TD_SCALESIM_MAX_DIM, &v[i]))
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "%s:%zu: field %s: expected an integer in 1..%u", name, line_no,
                                names[i], TD_SCALESIM_MAX_DIM);
    memset(l, 0, sizeof *l);
    ss_copy(l->name, sizeof l->name, f[0]);
    if (gemm) {
        l->ifmap_h = v[1];
        l->ifmap_w = v[3];
        l->filter_h = 1;
        l->filter_w = v[3];
        l->channels = 1;
        l->num_filters = v[2];
        l->stride_h = l->stride_w = 1;
        return TD_OK;
    }
    l->ifmap_h = v[1];
    l->ifmap_w = v[2];
    l->filter_h = v[3];
    l->filter_w = v[4];
    l->channels = v[5];
    l->num_filters = v[6];
    l->stride_h = l->stride_w = v[7];
    if (l->filter_h > l->ifmap_h)
        return td_error_new(
            TD_CODE_INVALID_ARGUMENT, "%s:%zu: field Filter height: %llu exceeds IFMAP height %llu",
            name, line_no, (unsigned long long)l->filter_h, (unsigned long long)l->ifmap_h);
    if (l->filter_w > l->ifmap_w)
        return td_error_new(
            TD_CODE_INVALID_ARGUMENT, "%s:%zu: field Filter width: %llu exceeds IFMAP width %llu",
            name, line_no, (unsigned long long)l->filter_w, (unsigned long long)l->ifmap_w);
    return TD_OK;
}

static td_status ss_parse_rows(const char *buf, size_t len, const char *name,
                               td_scalesim_topo_kind kind, td_scalesim_layer **layers, size_t *n,
                               size_t *cap)
{
    size_t pos = 0, line_no = 0;
    int gemm = kind == TD_SCALESIM_TOPO_GEMM, header = 1;
    while (pos < len) {
        ss_span line = ss_trim(ss_next_line(buf, len, &pos));
        line_no++;
        ss_span f[SS_MAX_FIELDS];
        if (header) {
            /* SCALE-Sim skips the first line whatever it holds; its columns tell the form. */
            header = 0;
            size_t nf = ss_split(line, f);
            if (kind == TD_SCALESIM_TOPO_AUTO && nf >= 4 && nf <= SS_MAX_FIELDS &&
                ss_ieq(f[1], "M") && ss_ieq(f[2], "N") && ss_ieq(f[3], "K"))
                gemm = 1;
            continue;
        }
        if (line.n == 0)
            continue;
        size_t nf = ss_split(line, f);
        if (nf > SS_MAX_FIELDS)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s:%zu: too many fields", name, line_no);
        td_scalesim_layer l;
        TD_TRY(ss_parse_row(f, nf, gemm, name, line_no, &l));
        if (!gemm && ss_contains(f[0], "DP")) {
            uint64_t channels = l.channels;
            l.channels = 1;
            char base[TD_SCALESIM_NAME_MAX];
            ss_copy(base, sizeof base, f[0]);
            for (uint64_t c = 0; c < channels; c++) {
                snprintf(l.name, sizeof l.name, "%.60sChannel_%llu", base, (unsigned long long)c);
                TD_TRY(ss_push(layers, n, cap, &l, name, line_no));
            }
        } else {
            TD_TRY(ss_push(layers, n, cap, &l, name, line_no));
        }
    }
    return TD_OK;
}

td_status td_scalesim_parse_topology(const char *buf, size_t len, const char *name,
                                     td_scalesim_topo_kind kind, td_scalesim_layer **layers,
                                     size_t *n_layers)
{
    if (!buf || !layers || !n_layers)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "scalesim topology: NULL argument");
    if (!name)
        name = "topology";
    *layers = NULL;
    *n_layers = 0;
    td_scalesim_layer *out = NULL;
    size_t n = 0, cap = 0;
    td_status st = ss_parse_rows(buf, len, name, kind, &out, &n, &cap);
    if (!st && n == 0)
        st = td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: no layers after the header line", name);
    if (st) {
        free(out);
        return st;
    }
    *layers = out;
    *n_layers = n;
    return TD_OK;
}

/* ---- closed-form model ---- */

static uint64_t ss_ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/* Input rows (or columns) some window touches; windows past the edge (the ceiling rule) are
 * clipped, as SCALE-Sim marks their addresses invalid. */
static uint64_t ss_touched(uint64_t in, uint64_t filt, uint64_t stride, uint64_t out)
{
    if (stride < filt) {
        uint64_t end = (out - 1) * stride + filt;
        return end < in ? end : in;
    }
    uint64_t last = (out - 1) * stride;
    uint64_t tail = last >= in ? 0 : in - last;
    return (out - 1) * filt + (tail < filt ? tail : filt);
}

typedef struct {
    size_t v;
    td_status st;
} ss_acc;

static size_t ss_mul(ss_acc *a, size_t x, size_t y)
{
    size_t r = 0;
    if (!a->st)
        a->st = td_size_mul(x, y, &r);
    return r;
}

td_status td_scalesim_layer_estimate(const td_scalesim_config *cfg, const td_scalesim_layer *l,
                                     td_scalesim_result *out)
{
    if (!cfg || !l || !out)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "scalesim estimate: NULL argument");
    uint64_t R = cfg->array_rows, C = cfg->array_cols;
    if (R == 0 || C == 0 || R > TD_SCALESIM_MAX_ARRAY || C > TD_SCALESIM_MAX_ARRAY)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "scalesim estimate: array %llux%llu",
                            (unsigned long long)R, (unsigned long long)C);
    const uint64_t dims[] = {l->ifmap_h,  l->ifmap_w,     l->filter_h, l->filter_w,
                             l->channels, l->num_filters, l->stride_h, l->stride_w};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i] == 0 || dims[i] > TD_SCALESIM_MAX_DIM)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "scalesim estimate: layer '%s' has a dimension of %llu", l->name,
                                (unsigned long long)dims[i]);
    if (l->filter_h > l->ifmap_h || l->filter_w > l->ifmap_w)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "scalesim estimate: layer '%s' has a filter larger than its input",
                            l->name);
    memset(out, 0, sizeof *out);
    /* SCALE-Sim's ceiling rule: ceil((in - filter + stride) / stride). */
    out->ofmap_h = ss_ceil_div(l->ifmap_h - l->filter_h + l->stride_h, l->stride_h);
    out->ofmap_w = ss_ceil_div(l->ifmap_w - l->filter_w + l->stride_w, l->stride_w);
    ss_acc a = {0, NULL};
    uint64_t px = ss_mul(&a, out->ofmap_h, out->ofmap_w);
    uint64_t win = ss_mul(&a, ss_mul(&a, l->filter_h, l->filter_w), l->channels);
    uint64_t nf = l->num_filters;
    out->macs = ss_mul(&a, ss_mul(&a, px, nf), win);
    /* Spatial rows Sr and columns Sc folded onto the array, temporal length T. */
    uint64_t Sr, Sc, T, lines, util_cycles;
    switch (cfg->dataflow) {
    case TD_SCALESIM_OS:
        Sr = px, Sc = nf, T = win;
        lines = R + C + T - 2;
        util_cycles = lines;
        break;
    case TD_SCALESIM_IS:
        Sr = win, Sc = px, T = nf;
        lines = 2 * R + C + T - 2;
        util_cycles = lines + C - 1;
        break;
    case TD_SCALESIM_WS:
    default:
        Sr = win, Sc = nf, T = px;
        lines = 2 * R + C + T - 2;
        util_cycles = lines + C - 1;
        break;
    }
    uint64_t fr = ss_ceil_div(Sr, R), fc = ss_ceil_div(Sc, C);
    uint64_t folds = ss_mul(&a, fr, fc);
    uint64_t demand_lines = ss_mul(&a, folds, lines);
    uint64_t SrSc = ss_mul(&a, Sr, Sc);
    uint64_t rowT = ss_mul(&a, ss_mul(&a, fr, T), Sc); /* per row fold: T x Sc */
    uint64_t colT = ss_mul(&a, ss_mul(&a, fc, T), Sr); /* per column fold: T x Sr */
    ss_mul(&a, ss_mul(&a, R, C), ss_mul(&a, folds, util_cycles));
    if (a.st) {
        td_status_free(a.st);
        return td_error_new(TD_CODE_OVERFLOW, "scalesim estimate: layer '%s' is too large",
                            l->name);
    }
    out->total_cycles = demand_lines - 1;
    out->stall_cycles = 0;
    double rc = (double)R * (double)C;
    out->overall_util = (double)out->macs * 100.0 / ((double)out->total_cycles * rc);
    out->mapping_eff = (double)SrSc / (rc * (double)folds) * 100.0;
    out->compute_util =
        (double)SrSc * (double)T / (rc * (double)util_cycles * (double)folds) * 100.0;
    switch (cfg->dataflow) {
    case TD_SCALESIM_OS:
        out->ifmap_sram_reads = colT;
        out->filter_sram_reads = rowT;
        /* SCALE-Sim 3.0.0 also counts R + C writes per fold in OS; reproduced on purpose. */
        out->ofmap_sram_writes = SrSc + folds * (R + C);
        out->ofmap_dram_writes = SrSc;
        break;
    case TD_SCALESIM_IS:
        out->ifmap_sram_reads = SrSc;
        out->filter_sram_reads = colT;
        out->ofmap_sram_writes = rowT;
        out->ofmap_dram_writes = rowT;
        break;
    case TD_SCALESIM_WS:
    default:
        out->ifmap_sram_reads = colT;
        out->filter_sram_reads = SrSc;
        out->ofmap_sram_writes = rowT;
        out->ofmap_dram_writes = rowT;
        break;
    }
    out->filter_dram_reads = win * nf;
    out->ifmap_dram_reads = ss_touched(l->ifmap_h, l->filter_h, l->stride_h, out->ofmap_h) *
                            ss_touched(l->ifmap_w, l->filter_w, l->stride_w, out->ofmap_w) *
                            l->channels;
    return TD_OK;
}

/* ---- files ---- */

#define SS_FILE_CAP ((size_t)64 << 20)

td_status td_scalesim_load_config(const char *path, td_scalesim_config *cfg)
{
    char *buf;
    size_t len;
    TD_TRY(td_file_read(path, SS_FILE_CAP, &buf, &len));
    td_status st = td_scalesim_parse_config(buf, len, path, cfg);
    free(buf);
    return st;
}

td_status td_scalesim_load_topology(const char *path, td_scalesim_topo_kind kind,
                                    td_scalesim_layer **layers, size_t *n_layers)
{
    char *buf;
    size_t len;
    TD_TRY(td_file_read(path, SS_FILE_CAP, &buf, &len));
    td_status st = td_scalesim_parse_topology(buf, len, path, kind, layers, n_layers);
    free(buf);
    return st;
}
