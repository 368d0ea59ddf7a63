/* Cost models per hardware template (first-order, documented in docs/HARDWARE.md).
 *
 * Every model returns compute cycles and the bytes moved at each memory level; latency is the
 * larger of compute time and DRAM time (transfers overlap compute), energy the sum of MACs,
 * SRAM and DRAM traffic at the technology's per-operation energies. The systolic template is
 * SCALE-Sim's model exactly (tandem/scalesim.h), per group of a grouped convolution. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/op.h"
#include "hw/energy.h"
#include "hw/eyeriss.h"
#include "tandem/estimate.h"
#include "tandem/scalesim.h"

/* ---- the layer, from the graph ---- */

static int format_bits(td_format f)
{
    return td_format_get(f)->code_bits;
}

static int act_bits(td_act_type a)
{
    return a == TD_ACT_INT8 ? 8 : a == TD_ACT_INT6 ? 6 : 32;
}

static void operand_widths(const td_node *n, td_layer_work *w)
{
    w->w_bits = 32;
    w->a_bits = 32;
    w->w_density = 1.0;
    w->is_float = true;
    if (!n->qweight)
        return;
    const td_qspec *s = td_qmatrix_spec(n->qweight);
    w->w_bits = format_bits(s->format);
    w->a_bits = act_bits(n->act);
    /* f32 activations with low-bit weights: the weights widen to f32 and the MACs are float */
    w->is_float = w->a_bits == 32;
    if (s->sparsity == TD_SPARSE_NM)
        w->w_density = (double)s->nm_n / (double)s->nm_m;
    else if (s->sparsity == TD_SPARSE_GROUP)
        w->w_density = 1.0 - s->group_prune;
}

static void gemm_dims(const td_graph *g, const td_node *n, td_layer_work *w)
{
    const td_value *out = &g->values[n->outputs[0]];
    const td_value *wt = n->n_inputs > 1 && n->inputs[1] >= 0 ? &g->values[n->inputs[1]] : NULL;
    int64_t on = out->ndim > 0 ? out->shape[out->ndim - 1] : 1;
    w->groups = 1;
    w->n = on;
    w->m = on > 0 ? td_shape_numel(out->ndim, out->shape) / on : 0;
    w->k = w->m * w->n > 0 ? w->macs / (w->m * w->n) : 0;
    if (wt && wt->kind != TD_VALUE_CONST && w->kind == TD_WORK_MATMUL && wt->ndim >= 2) {
        /* activation x activation: batch of (rows x k) x (k x cols) products */
        w->groups = td_shape_numel(wt->ndim - 2, wt->shape) > 0
                        ? td_shape_numel(out->ndim - 2, out->shape)
                        : 1;
        w->m = out->ndim >= 2 ? out->shape[out->ndim - 2] : 1;
        w->k = wt->shape[wt->ndim - 2];
    }
}

static void conv_dims(const td_graph *g, const td_node *n, td_layer_work *w)
{
    const td_value *x = &g->values[n->inputs[0]], *wt = &g->values[n->inputs[1]];
    const td_value *out = &g->values[n->outputs[0]];
    int64_t cin = x->ndim > 1 ? x->shape[1] : 1, cg = wt->ndim > 1 ? wt->shape[1] : 1;
    w->groups = cg > 0 && cin % cg == 0 ? cin / cg : 1;
    w->n = wt->shape[0] / (w->groups ? w->groups : 1);
    w->k = td_shape_numel(wt->ndim - 1, wt->shape + 1);
    w->m = td_shape_numel(out->ndim, out->shape) / (wt->shape[0] ? wt->shape[0] : 1);
    w->kernel_h = wt->ndim > 2 ? wt->shape[2] : 1;
    w->kernel_w = wt->ndim > 3 ? wt->shape[3] : 1;
    w->in_w = x->ndim > 3 ? x->shape[3] : 1;
    w->in_c = cin;
    w->in_h = x->ndim > 2 ? x->shape[2] : 1;
    int64_t d[2] = {1, 1};
    int nd = 0;
    if (td_attr_ints(n, "dilations", d, 2, &nd) || nd < 1)
        d[0] = 1;
    w->dilation_h = d[0];
    w->deformable = strcmp(n->def->name, "DeformConv") == 0;
    const td_attr *range = w->deformable ? td_node_attr(n, "tandem_offset_range") : NULL;
    w->offset_range = range && range->type == TD_ATTR_FLOAT && range->f >= 0 ? range->f : -1;
    w->batch = out->ndim > 0 ? out->shape[0] : 1;
    w->out_h = out->ndim > 2 ? out->shape[2] : 1;
    w->out_w = out->ndim > 3 ? out->shape[3] : 1;
    int64_t s[2] = {1, 1};
    int cnt = 0;
    if (td_attr_ints(n, "strides", s, 2, &cnt) || cnt < 1)
        s[0] = s[1] = 1;
    w->stride_h = s[0];
    w->stride_w = cnt > 1 ? s[1] : s[0];
}

/* TandemMoE: the experts' format and activations are attributes (the node compresses its
 * experts itself); with tokens routed uniformly to k of E experts, expert-major execution
 * loads E (1 - (1 - k/E)^T) distinct experts per run of T tokens (the expected count). */
static void moe_work(const td_graph *g, const td_node *n, td_layer_work *w)
{
    const td_attr *f = td_node_attr(n, "weight_format");
    const td_attr *a = td_node_attr(n, "act");
    td_qspec q;
    if (f && f->s && strcmp(f->s, "f32") && td_qspec_parse(f->s, &q) == TD_OK) {
        w->w_bits = td_format_get(q.format)->code_bits;
        w->is_float = false;
        if (q.sparsity == TD_SPARSE_NM)
            w->w_density = (double)q.nm_n / (double)q.nm_m;
    }
    td_act_type act = TD_ACT_F32;
    if (a && a->s && td_act_parse(a->s, &act) == TD_OK && act != TD_ACT_F32)
        w->a_bits = act_bits(act);
    w->is_float = w->a_bits == 32;
    int64_t k = 1;
    td_status st = td_attr_int(n, "k", 1, &k);
    td_status_free(st);
    const td_value *up = n->n_inputs > 2 && n->inputs[2] >= 0 ? &g->values[n->inputs[2]] : NULL;
    double experts = up && up->ndim == 3 ? (double)up->shape[0] : 1;
    double tokens = (double)(w->m > 0 ? w->m : 1);
    double loads = experts * (1.0 - pow(1.0 - (double)k / experts, tokens));
    const td_value *router = &g->values[n->inputs[1]];
    double router_bytes = (double)td_shape_numel(router->ndim, router->shape) * 4.0;
    double expert_bytes = ((double)w->weight_bytes - router_bytes) / experts;
    w->weight_traffic_bytes = router_bytes + loads * (expert_bytes > 0 ? expert_bytes : 0);
}

td_status td_layer_work_of(const td_graph *g, int node, td_layer_work *out)
{
    if (!g->prepared)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "estimate: graph '%s' is not prepared",
                            g->name);
    const td_node *n = &g->nodes[node];
    memset(out, 0, sizeof *out);
    out->node = node;
    out->macs = n->cost.macs;
    out->flops_other = n->cost.flops_other;
    out->weight_bytes = n->cost.weight_bytes;
    out->in_bytes = n->cost.in_bytes;
    out->out_bytes = n->cost.out_bytes;
    out->groups = 1;
    operand_widths(n, out);
    td_op_class c = n->def->cls;
    bool const_w =
        n->n_inputs > 1 && n->inputs[1] >= 0 && g->values[n->inputs[1]].kind == TD_VALUE_CONST;
    if (c == TD_OPC_CONV && n->n_inputs > 1) {
        out->kind = TD_WORK_CONV;
        conv_dims(g, n, out);
    } else if ((c == TD_OPC_GEMM || c == TD_OPC_MATMUL) && out->macs > 0) {
        out->kind = const_w ? TD_WORK_GEMM : TD_WORK_MATMUL;
        gemm_dims(g, n, out);
        if (strcmp(n->def->name, "TandemMoE") == 0)
            moe_work(g, n, out);
    } else {
        out->kind = TD_WORK_VECTOR;
    }
    return TD_OK;
}

/* ---- per-template models ---- */

typedef struct raw {
    double cycles, pes, sram_bytes, dram_bytes, vector_ops;
    double sram_kb;    /* size the SRAM traffic is charged at */
    double rf_pj;      /* PE register-file energy, for models that count it */
    bool dram_counted; /* dram_bytes is the whole DRAM traffic, not extra re-reads */
    bool fits;
} raw;

static double weight_traffic(const td_layer_work *w)
{
    return w->weight_traffic_bytes > 0 ? w->weight_traffic_bytes : (double)w->weight_bytes;
}

static double footprint(const td_layer_work *w)
{
    return weight_traffic(w) + (double)w->in_bytes * w->a_bits / 32.0 + (double)w->out_bytes;
}

static td_scalesim_dataflow to_scalesim(td_dataflow d)
{
    return d == TD_DF_OS ? TD_SCALESIM_OS : d == TD_DF_IS ? TD_SCALESIM_IS : TD_SCALESIM_WS;
}

static td_status systolic(const td_hw_accel *a, const td_layer_work *w, raw *r)
{
    td_scalesim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.array_rows = (uint64_t)a->rows;
    cfg.array_cols = (uint64_t)a->cols;
    cfg.ifmap_sram_kb = (uint64_t)ceil(a->ifmap_kb);
    cfg.filter_sram_kb = (uint64_t)ceil(a->filter_kb);
    cfg.ofmap_sram_kb = (uint64_t)ceil(a->ofmap_kb);
    cfg.dataflow = to_scalesim(a->dataflow);
    /* A GEMM as SCALE-Sim stores it: ifmap M x K, N filters of 1 x K. */
    td_scalesim_layer l = {
        "layer", (uint64_t)w->m, (uint64_t)w->k, 1, (uint64_t)w->k, 1, (uint64_t)w->n, 1, 1};
    td_scalesim_result s;
    TD_TRY(td_scalesim_layer_estimate(&cfg, &l, &s));
    double skip = a->sparse ? w->w_density : 1.0; /* zero weights skipped by the array */
    r->cycles = (double)s.total_cycles * (double)w->groups * skip;
    r->pes = (double)a->rows * a->cols;
    r->sram_bytes =
        ((double)s.ifmap_sram_reads * w->a_bits / 8.0 +
         (double)s.filter_sram_reads * w->w_bits / 8.0 * skip + (double)s.ofmap_sram_writes * 4.0) *
        (double)w->groups;
    r->sram_kb = (a->ifmap_kb + a->filter_kb + a->ofmap_kb) / 3;
    return TD_OK;
}

/* Share of a dimension of length `len` used when tiled by `tile`. */
static double fill(double len, double tile)
{
    if (len <= 0 || tile <= 0)
        return 0;
    double tiles = ceil(len / tile);
    return len / (tiles * tile);
}

static void eyeriss(const td_hw_accel *a, const td_layer_work *w, raw *r)
{
    /* Row stationary: a PE column holds one filter row (kernel_h PEs tall) sliding over output
     * rows; sets of kernel_h rows stack in the array height, output rows spread across it. */
    double R = w->kernel_h > 0 ? (double)w->kernel_h : 1;
    double rows_used = R <= a->rows ? floor(a->rows / R) * R : a->rows;
    double util = (rows_used / a->rows) * fill((double)w->m, a->cols);
    r->pes = (double)a->rows * a->cols;
    r->cycles = (double)w->macs * w->w_density / (r->pes * (util > 0 ? util : 1));
    /* accesses per level from the row-stationary mapping (hw/eyeriss.c), at operand widths;
     * weight words as stored (indices included), partial sums at least 16 bits wide */
    td_eyeriss_counts c;
    td_eyeriss_counts_of(a, w, &c);
    const td_tech *t = td_tech_get(a->technology);
    double a_b = w->a_bits / 8.0, p_b = (w->a_bits > 16 ? w->a_bits : 16) / 8.0;
    double w_elems = (double)w->n * (double)w->k * (double)(w->groups > 0 ? w->groups : 1);
    double w_b = w->weight_bytes > 0 && w_elems > 0 ? (double)w->weight_bytes / w_elems : 1;
    r->rf_pj = c.ifmap_spad * a_b * td_regfile_pj_per_byte(t, a->spad_ifmap) +
               c.weight_spad * (w->w_bits / 8.0) * td_regfile_pj_per_byte(t, a->spad_filter) +
               c.psum_spad * p_b * td_regfile_pj_per_byte(t, a->spad_psum);
    r->sram_bytes = c.glb_in * a_b + c.glb_out * p_b;
    r->sram_kb = a->glb_kb;
    r->dram_bytes = c.dram_w * w_b + (c.dram_in + c.dram_out) * a_b;
    r->dram_counted = true;
    r->fits = c.glb_fits;
}

static void nvdla(const td_hw_accel *a, const td_layer_work *w, raw *r)
{
    /* atomic-C (rows) input channels x atomic-K (cols) output channels per cycle */
    double util = fill((double)w->k, a->rows) * fill((double)w->n, a->cols);
    r->pes = (double)a->rows * a->cols;
    r->cycles = (double)w->macs * w->w_density / (r->pes * (util > 0 ? util : 1));
    r->sram_bytes =
        footprint(w) + (double)w->in_bytes * w->a_bits / 32.0 * ceil((double)w->n / a->cols);
    r->sram_kb = a->glb_kb;
}

static void shidiannao(const td_hw_accel *a, const td_layer_work *w, raw *r)
{
    /* output stationary: each PE owns one output pixel; tiles of rows x cols outputs */
    double util = fill((double)w->m, (double)a->rows * a->cols);
    r->pes = (double)a->rows * a->cols;
    r->cycles = (double)w->macs * w->w_density / (r->pes * (util > 0 ? util : 1));
    r->sram_bytes = footprint(w) + (double)w->weight_bytes * ceil((double)w->m / r->pes);
    r->sram_kb = (a->ifmap_kb + a->filter_kb + a->ofmap_kb) / 3;
}

static void fpga(const td_hw_accel *a, const td_layer_work *w, raw *r)
{
    bool is_float = w->is_float;
    /* low-bit packing doubles the MACs per DSP once weights reach 4 bits; an f32 MAC takes
     * about three DSP slices */
    double pack = (w->w_bits <= 4 && a->min_bits <= 4) ? 2.0 : 1.0;
    double per_cycle = is_float ? a->dsp / 3.0 : (double)a->dsp * a->macs_per_dsp * pack;
    r->pes = per_cycle;
    r->cycles = (double)w->macs * w->w_density / per_cycle;
    double line = (double)w->kernel_h * (double)w->in_w * (double)w->in_c * w->a_bits / 8.0;
    r->fits = line <= a->bram_kb * 1024.0;
    if (w->deformable && w->in_h > 0 && w->out_h > 0) {
        /* the offsets' reach sets the rows to hold (operator_traffic.c) */
        td_deform_buffer b;
        td_status st = td_deform_buffer_need(w->in_h, w->in_w, w->in_c, w->a_bits, w->kernel_h,
                                             w->dilation_h > 0 ? w->dilation_h : 1, w->out_h,
                                             w->offset_range, a->bram_kb * 1024.0, &b);
        if (!st) {
            r->fits = b.fits;
            double once = (double)w->in_h * (double)w->in_w * (double)w->in_c * w->a_bits / 8.0;
            double batch = (double)(w->batch > 0 ? w->batch : 1);
            r->dram_bytes += b.dram_bytes > once ? (b.dram_bytes - once) * batch : 0;
        }
        td_status_free(st);
    } else if (!r->fits) { /* inputs re-read from DRAM once per kernel row */
        r->dram_bytes += (double)w->in_bytes * w->a_bits / 32.0 * (double)(w->kernel_h - 1);
    }
    r->sram_bytes = footprint(w) + (double)w->in_bytes * w->a_bits / 32.0 * w->kernel_h;
    r->sram_kb = a->bram_kb / 8;
}

static void mcu(const td_hw_accel *a, const td_layer_work *w, raw *r)
{
    bool int8 = w->w_bits <= 8 && w->a_bits <= 8;
    r->pes = 1;
    r->cycles = (double)w->macs * (int8 ? a->cycles_per_mac_int8 : a->cycles_per_mac_f32);
    r->sram_bytes = footprint(w);
    r->sram_kb = a->sram_kb;
    r->fits = (double)(w->in_bytes + w->out_bytes) * (w->a_bits < 32 ? w->a_bits / 32.0 : 1) <=
              a->sram_kb * 1024.0;
    r->dram_bytes = 0; /* weights stream from flash: charged as SRAM-like reads */
}

static void cpu(const td_hw_accel *a, const td_layer_work *w, raw *r)
{
    bool int8 = w->w_bits <= 8 && w->a_bits <= 8;
    double peak = (int8 ? a->peak_gops_int8 : a->peak_gflops) * 1e9;
    double s = 2.0 * (double)w->macs * w->w_density / peak;
    r->pes = peak / (2.0 * a->clock_mhz * 1e6);
    r->cycles = s * a->clock_mhz * 1e6;
    r->sram_bytes = footprint(w);
    r->sram_kb = 1024;
}

static td_status compute_raw(const td_hw_accel *a, const td_layer_work *w, raw *r)
{
    memset(r, 0, sizeof *r);
    r->fits = true;
    switch (a->tmpl) {
    case TD_HW_SYSTOLIC:
        return systolic(a, w, r);
    case TD_HW_EYERISS:
        eyeriss(a, w, r);
        return TD_OK;
    case TD_HW_NVDLA:
        nvdla(a, w, r);
        return TD_OK;
    case TD_HW_SHIDIANNAO:
        shidiannao(a, w, r);
        return TD_OK;
    case TD_HW_FPGA:
        fpga(a, w, r);
        return TD_OK;
    case TD_HW_MCU:
        mcu(a, w, r);
        return TD_OK;
    case TD_HW_CPU:
        cpu(a, w, r);
        return TD_OK;
    default:
        return td_error_new(TD_CODE_UNSUPPORTED, "estimate: template %d has no model", a->tmpl);
    }
}

/* Layers without MACs (elementwise, norms, movement) stream their operands once and do one
 * operation per element on the engine's vector width (its array columns). */
static void vector_layer(const td_hw_accel *a, const td_layer_work *w, raw *r)
{
    memset(r, 0, sizeof *r);
    r->fits = true;
    double lanes = a->tmpl == TD_HW_MCU   ? 1
                   : a->tmpl == TD_HW_CPU ? 16
                                          : (a->cols > 0 ? a->cols : 1);
    r->vector_ops = (double)w->flops_other;
    r->cycles = ceil((double)w->flops_other / lanes);
    r->sram_bytes = (double)(w->in_bytes + w->out_bytes);
    r->sram_kb = a->tmpl == TD_HW_MCU ? a->sram_kb : 64;
}

td_status td_estimate_layer(const td_hw_accel *a, const td_layer_work *w, td_layer_estimate *out)
{
    memset(out, 0, sizeof *out);
    raw r;
    if (w->kind == TD_WORK_VECTOR) {
        vector_layer(a, w, &r);
    } else {
        if (w->m <= 0 || w->n <= 0 || w->k <= 0 || w->macs <= 0 || w->groups <= 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "estimate: node %d has an empty product (%lld x %lld x %lld)",
                                w->node, (long long)w->m, (long long)w->n, (long long)w->k);
        TD_TRY(compute_raw(a, w, &r));
    }
    /* DRAM: every operand crosses once (plus what the model added), on engines with DRAM */
    if (a->tmpl != TD_HW_MCU && !r.dram_counted)
        r.dram_bytes += w->kind == TD_WORK_VECTOR ? 0 : footprint(w);
    const td_tech *t = td_tech_get(a->technology);
    bool is_float = w->is_float;
    double f = a->clock_mhz * 1e6;
    double t_compute = r.cycles / f;
    double t_dram = a->dram_gbps > 0 ? r.dram_bytes / (a->dram_gbps * 1e9) : 0;
    out->cycles = r.cycles;
    out->latency_s = t_compute > t_dram ? t_compute : t_dram;
    out->utilization =
        r.pes > 0 && r.cycles > 0 ? (double)w->macs * w->w_density / (r.pes * r.cycles) : 0;
    out->sram_bytes = r.sram_bytes;
    out->dram_bytes = r.dram_bytes;
    out->energy_compute_j =
        ((double)w->macs * w->w_density * td_mac_pj(t, w->w_bits, w->a_bits, is_float) +
         r.vector_ops * t->acc_pj) *
        1e-12;
    out->energy_rf_j = r.rf_pj * 1e-12;
    out->energy_sram_j =
        r.sram_bytes * td_sram_pj_per_byte(t, r.sram_kb) * 1e-12 + out->energy_rf_j;
    out->energy_dram_j = r.dram_bytes * t->dram_pj_per_byte * 1e-12;
    out->energy_j = out->energy_compute_j + out->energy_sram_j + out->energy_dram_j;
    out->fits = r.fits;
    return TD_OK;
}

td_status td_estimate_graph(const td_graph *g, const td_hw_desc *d, td_estimate *out)
{
    memset(out, 0, sizeof *out);
    out->layers = calloc((size_t)g->n_nodes + 1, sizeof *out->layers);
    if (!out->layers)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "estimate: out of memory");
    out->n_layers = g->n_nodes;
    out->fits = true;
    for (int i = 0; i < g->n_nodes; i++) {
        int ai = td_hw_accel_for(d, g->nodes[i].name);
        if (ai < 0) {
            td_estimate_free(out);
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "estimate: no assignment rule of '%s' matches layer '%s'", d->name,
                                g->nodes[i].name);
        }
        td_layer_work w;
        td_status st = td_layer_work_of(g, i, &w);
        if (!st)
            st = td_estimate_layer(&d->accels[ai], &w, &out->layers[i]);
        if (st) {
            td_estimate_free(out);
            return st;
        }
        td_layer_estimate *L = &out->layers[i];
        L->accel = ai;
        out->latency_s += L->latency_s;
        out->energy_j += L->energy_j;
        out->sram_bytes += L->sram_bytes;
        out->dram_bytes += L->dram_bytes;
        out->macs += w.macs;
        out->fits &= L->fits;
    }
    for (int a = 0; a < d->n_accels; a++)
        out->area_mm2 += td_hw_area_mm2(&d->accels[a]);
    return TD_OK;
}

void td_estimate_free(td_estimate *e)
{
    free(e->layers);
    memset(e, 0, sizeof *e);
}

double td_hw_area_mm2(const td_hw_accel *a)
{
    const td_tech *t = td_tech_get(a->technology);
    int b = a->min_bits > 0 ? a->min_bits : 8;
    double pes = 0, kb = 0;
    switch (a->tmpl) {
    case TD_HW_SYSTOLIC:
    case TD_HW_SHIDIANNAO:
        pes = (double)a->rows * a->cols;
        kb = a->ifmap_kb + a->filter_kb + a->ofmap_kb;
        break;
    case TD_HW_EYERISS:
        pes = (double)a->rows * a->cols;
        /* scratchpads: 16-bit entries */
        kb = a->glb_kb + pes * (a->spad_ifmap + a->spad_filter + a->spad_psum) * 2.0 / 1024.0;
        break;
    case TD_HW_NVDLA:
        pes = (double)a->rows * a->cols;
        kb = a->glb_kb;
        break;
    default:
        return 0; /* FPGA, MCU and CPU are bought, not drawn: no silicon area to add */
    }
    return (pes * td_pe_area_um2(t, b, b, false) * 1e-6) + kb * t->sram_mm2_per_kb;
}
