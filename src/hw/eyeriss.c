/* Row-stationary access counts, after the mapping Timeloop's mapper finds for the Eyeriss-like
 * architecture of the Timeloop + Accelergy exercises (ISPASS 2020 tutorial, reference output
 * int16/timeloop-mapper.stats.txt):
 *
 *   PE array Y (rows):  kernel columns S x c_spatial input channels
 *   PE array X (cols):  output columns Q
 *   in each PE:         kernel rows R (temporal), c_pe input channels, m_pe output channels
 *                       (the filter spad holds R x c_pe x m_pe weights, the psum spad m_pe sums,
 *                       the ifmap spad R x c_pe inputs)
 *   global buffer:      the inputs of a tile of output columns and c_spatial x c_pe channels,
 *                       and the partial sums of that tile for a block of output channels;
 *                       weights bypass it, straight from DRAM to the PE spads (multicast)
 *   DRAM loop:          output-column tiles, then output-channel blocks, then channel chunks
 *
 * The DRAM tiling is chosen here, as the mapper would, to minimize DRAM traffic under the global
 * buffer capacity (over output-column tiles of the array width times powers of two); the counts
 * then follow in closed form. Counts are operand words. */
#include <math.h>
#include <string.h>

#include "hw/eyeriss.h"

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t cdiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* The layer as a convolution of one group: GEMMs are 1x1 convolutions over m output columns. */
typedef struct geometry {
    int64_t n, p, q, r, s, c, m, stride_w, in_rows;
} geometry;

static geometry geometry_of(const td_layer_work *w)
{
    geometry g;
    bool conv = w->kind == TD_WORK_CONV && w->out_w > 0;
    g.n = conv ? max64(w->batch, 1) : 1;
    g.p = conv ? max64(w->out_h, 1) : 1;
    g.q = conv ? w->out_w : w->m;
    g.r = conv ? max64(w->kernel_h, 1) : 1;
    g.s = conv ? max64(w->kernel_w, 1) : 1;
    g.c = max64(w->k / (g.r * g.s), 1);
    g.m = w->n;
    g.stride_w = conv ? max64(w->stride_w, 1) : 1;
    int64_t stride_h = conv ? max64(w->stride_h, 1) : 1;
    g.in_rows = (g.p - 1) * stride_h + g.r;
    return g;
}

/* DRAM bytes for one choice of output-column tile, or -1 when it does not fit the buffer; with
 * `overflow`, a tile that does not fit is costed with one output channel per block. */
static double dram_cost(const geometry *g, int64_t q_cols, int64_t c_chunk, double glb_bytes,
                        double a_bytes, double p_bytes, double w_bytes, bool overflow,
                        td_eyeriss_counts *out)
{
    double in_tile = (double)((q_cols - 1) * g->stride_w + g->s) * (double)g->in_rows *
                     (double)min64(c_chunk, g->c);
    double per_m = (double)q_cols * (double)g->p * p_bytes;
    double room = glb_bytes - in_tile * a_bytes;
    if (room < per_m && !overflow)
        return -1;
    double fit = room >= per_m ? floor(room / per_m) : 1;
    int64_t m_block = fit >= (double)g->m ? g->m : (int64_t)fit;
    int64_t q_tiles = cdiv(g->q, q_cols), m_tiles = cdiv(g->m, m_block);
    int64_t c_tiles = cdiv(g->c, c_chunk);
    double weights = (double)(g->m * g->c * g->r * g->s);
    out->q_tiles = q_tiles;
    out->m_tiles = m_tiles;
    out->dram_w = weights * (double)q_tiles;
    out->dram_in = (double)(q_tiles * m_tiles * c_tiles) * in_tile;
    out->dram_out = (double)(g->p * g->q * g->m);
    return out->dram_w * w_bytes + out->dram_in * a_bytes + out->dram_out * a_bytes;
}

static void choose_dram_tiles(const td_hw_accel *a, const td_layer_work *w, const geometry *g,
                              int64_t c_chunk, td_eyeriss_counts *out)
{
    double a_bytes = w->a_bits / 8.0, p_bytes = (w->a_bits > 16 ? w->a_bits : 16) / 8.0;
    double w_bytes = w->w_bits / 8.0;
    double glb = a->glb_kb * 1024.0, best = -1;
    td_eyeriss_counts trial = *out, chosen = *out;
    int64_t step = max64(a->cols, 1);
    /* output-column tiles: the array width times a power of two, or all of Q (a log-size
     * search keeps an estimate well under a microsecond) */
    for (int64_t q_cols = min64(step, g->q);; q_cols = min64(q_cols * 2, g->q)) {
        double cost = dram_cost(g, q_cols, c_chunk, glb, a_bytes, p_bytes, w_bytes, false, &trial);
        if (cost >= 0 && (best < 0 || cost < best)) {
            best = cost;
            chosen = trial;
        }
        if (q_cols == g->q)
            break;
    }
    out->glb_fits = best >= 0;
    if (!out->glb_fits) /* nothing fits: the smallest tile, with the buffer overflowing */
        dram_cost(g, min64(step, g->q), c_chunk, glb, a_bytes, p_bytes, w_bytes, true, &chosen);
    out->q_tiles = chosen.q_tiles;
    out->m_tiles = chosen.m_tiles;
    out->dram_w = chosen.dram_w;
    out->dram_in = chosen.dram_in;
    out->dram_out = chosen.dram_out;
}

void td_eyeriss_counts_of(const td_hw_accel *a, const td_layer_work *w, td_eyeriss_counts *out)
{
    memset(out, 0, sizeof *out);
    geometry g = geometry_of(w);
    int64_t s_fold = min64(g.s, max64(a->rows, 1));
    out->c_spatial = min64(max64(a->rows / s_fold, 1), g.c);
    out->m_pe = max64(min64(g.m, a->spad_psum), 1);
    int64_t by_filter = a->spad_filter / (g.r * out->m_pe), by_ifmap = a->spad_ifmap / g.r;
    out->c_pe = max64(min64(min64(by_filter, by_ifmap), cdiv(g.c, out->c_spatial)), 1);
    int64_t c_chunk = out->c_spatial * out->c_pe;
    int64_t c_tiles = cdiv(g.c, c_chunk), m_pe_tiles = cdiv(g.m, out->m_pe);
    int64_t rows_used = out->c_spatial * s_fold;

    double macs = (double)(g.p * g.q * g.r * g.s * g.c * g.m) * w->w_density;
    double outputs = (double)(g.p * g.q * g.m);
    double weights = (double)(g.m * g.c * g.r * g.s);
    /* every input column a PE column needs, S taps of it, over all input rows, once per block
     * of m_pe output channels (the psum spad's capacity) */
    out->glb_in = (double)(g.q * g.s * g.in_rows * g.c * m_pe_tiles);
    out->ifmap_spad = macs + out->glb_in;
    out->weight_spad = macs + weights * (double)g.q * w->w_density;
    out->psum_spad = 2.0 * macs + outputs * (double)(c_tiles * rows_used);
    /* partial sums: one update per channel chunk, a read for all but the first, one drain */
    out->glb_out = outputs * 2.0 * (double)c_tiles;
    choose_dram_tiles(a, w, &g, c_chunk, out);
    out->glb_in += out->dram_in; /* fills from DRAM */

    double reps = (double)g.n * (double)max64(w->groups, 1);
    double *v[] = {&out->ifmap_spad, &out->weight_spad, &out->psum_spad, &out->glb_in,
                   &out->glb_out,    &out->dram_in,     &out->dram_out};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        *v[i] *= reps;
    out->dram_w *= (double)max64(w->groups, 1) * (double)g.n;
}
