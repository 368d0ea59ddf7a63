/* Block-sparse mask prediction from mean-pooled Q and K tiles, mask statistics, and the
 * per-layer, per-step schedule hook. The prediction costs O(seq x dim) for the pooling and
 * O(nq x nk x dim) for the pooled scores per head: small next to the attention itself. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention/attention_internal.h"

/* Key tiles [0, end) that query tile qt may see (the causal frontier of its last row). */
static int64_t tile_end(const att_job *j, int64_t qt)
{
    if (!j->causal)
        return j->nk;
    int64_t q0 = qt * j->bq, rows = j->s.q_len - q0 < j->bq ? j->s.q_len - q0 : j->bq;
    int64_t last = q0 + rows - 1 + j->offset;
    if (last < 0)
        return 0;
    int64_t e = last / j->bk + 1;
    return e < j->nk ? e : j->nk;
}

/* First key tile holding a diagonal key (q0 + offset) of query tile qt. */
static int64_t diag_first(const att_job *j, int64_t qt)
{
    int64_t first = qt * j->bq + j->offset;
    return first <= 0 ? 0 : first / j->bk;
}

static td_status check_sparsity(const td_attn_sparsity *sp)
{
    if (!sp)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention sparsity: NULL");
    if (!(sp->density >= 0.0f && sp->density <= 1.0f))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "attention sparsity: density %g is outside [0, 1]",
                            (double)sp->density);
    if (!(sp->min_similarity >= 0.0f && sp->min_similarity <= 1.0f))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "attention sparsity: min_similarity %g is outside [0, 1]",
                            (double)sp->min_similarity);
    if (sp->density == 0.0f && !(sp->mass_share > 0.0f && sp->mass_share <= 1.0f))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "attention sparsity: mass_share %g is outside (0, 1]",
                            (double)sp->mass_share);
    return TD_OK;
}

/* Mean of rows [r0, r0 + n) of one head of an operand, minus `mean` when not NULL, into
 * out[0, d); scratch holds 2d floats. Returns the rows' mean pairwise cosine similarity,
 * (|sum u_i|^2 - n) / (n (n - 1)) with u_i the unit rows (1 for a single row; all-zero rows
 * count as orthogonal to everything). Float sums in lanes: this is an estimate, and the loops
 * stay vectorizable. */
static double pool_rows(const float *x, td_attn_layout l, int64_t b, int64_t h, int64_t r0,
                        int64_t n, int64_t d, const float *mean, float *out, float *scratch)
{
    float *unit = scratch, *y = scratch + d;
    int64_t nonzero = 0;
    for (int64_t c = 0; c < d; c++)
        out[c] = unit[c] = 0.0f;
    for (int64_t r = 0; r < n; r++) {
        const float *row = x + b * l.batch + h * l.head + (r0 + r) * l.row;
        if (mean)
            for (int64_t c = 0; c < d; c++)
                y[c] = row[c] - mean[c];
        else
            memcpy(y, row, (size_t)d * sizeof(float));
        float lane[8] = {0}, norm = 0.0f;
        int64_t c = 0;
        for (; c + 8 <= d; c += 8)
            for (int k = 0; k < 8; k++)
                lane[k] += y[c + k] * y[c + k];
        for (; c < d; c++)
            norm += y[c] * y[c];
        for (int k = 0; k < 8; k++)
            norm += lane[k];
        for (c = 0; c < d; c++)
            out[c] += y[c];
        if (!(norm > 0.0f))
            continue;
        nonzero++;
        float inv = 1.0f / sqrtf(norm);
        for (c = 0; c < d; c++)
            unit[c] += y[c] * inv;
    }
    double sq = 0.0;
    for (int64_t c = 0; c < d; c++) {
        out[c] /= (float)n;
        sq += (double)unit[c] * unit[c];
    }
    return n > 1 ? (sq - (double)nonzero) / ((double)n * (double)(n - 1)) : 1.0;
}

typedef struct pred_ctx {
    const att_job *j;
    const td_attn_sparsity *sp;
    const float *pk;    /* [B * Hkv][nk][d]: pooled keys */
    const double *ksim; /* [B * Hkv][nk]: key tiles' self-similarity */
} pred_ctx;

/* Predicts the mask row of query tile qt of (b, h). */
static void predict_row(const pred_ctx *pc, int64_t b, int64_t h, int64_t qt, float *pq,
                        double *score, int64_t *order, uint8_t *row)
{
    const att_job *j = pc->j;
    const int64_t d = j->s.head_dim, nk = j->nk;
    memset(row, 0, (size_t)nk);
    int64_t end = tile_end(j, qt);
    if (end == 0)
        return;
    int64_t q0 = qt * j->bq, rows = j->s.q_len - q0 < j->bq ? j->s.q_len - q0 : j->bq;
    double qsim = pool_rows(j->q, j->lq, b, h, q0, rows, d, NULL, pq, pq + d);
    const int64_t bkv = b * j->s.kv_heads + h / j->group;
    const float *pk = pc->pk + bkv * nk * d;
    const double *ksim = pc->ksim + bkv * nk;
    const td_attn_sparsity *sp = pc->sp;
    if (qsim < sp->min_similarity) {
        /* The mean does not represent these queries: keep every visible tile. */
        memset(row, 1, (size_t)end);
        return;
    }
    double mx = -INFINITY;
    for (int64_t t = 0; t < end; t++) {
        double dot = 0.0;
        for (int64_t c = 0; c < d; c++)
            dot += (double)pq[c] * pk[t * d + c];
        int64_t cols = j->s.kv_len - t * j->bk < j->bk ? j->s.kv_len - t * j->bk : j->bk;
        score[t] = dot * j->scale + log((double)cols);
        mx = score[t] > mx ? score[t] : mx;
        order[t] = t;
    }
    double sum = 0.0;
    for (int64_t t = 0; t < end; t++) {
        score[t] = exp(score[t] - mx);
        sum += score[t];
    }
    /* Insertion sort by mass, descending, ties to the lower tile: nk is at most a few
     * hundred and this runs once per query tile. */
    for (int64_t a = 1; a < end; a++) {
        int64_t x = order[a], p = a;
        while (p > 0 && score[order[p - 1]] < score[x]) {
            order[p] = order[p - 1];
            p--;
        }
        order[p] = x;
    }
    int64_t kept = 0;
    double mass = 0.0;
    for (int64_t t = j->causal ? diag_first(j, qt) : end; t < end; t++)
        row[t] = 1;
    for (int64_t t = 0; t < end; t++)
        row[t] |= ksim[t] < sp->min_similarity; /* keys the mean does not represent */
    for (int64_t t = 0; t < end; t++)
        if (row[t]) {
            kept++;
            mass += score[t] / sum;
        }
    int64_t budget = sp->density > 0.0f ? (int64_t)ceil((double)sp->density * (double)end) : end;
    if (budget < 1)
        budget = 1;
    for (int64_t a = 0; a < end; a++) {
        int64_t t = order[a];
        if (row[t])
            continue;
        if (sp->density > 0.0f ? kept >= budget : (kept > 0 && mass >= sp->mass_share))
            break;
        row[t] = 1;
        kept++;
        mass += score[t] / sum;
    }
}

td_status td_attn_predict(const td_ctx *ctx, const td_attn_args *args, const td_attn_opts *opts,
                          const td_attn_sparsity *sp, uint8_t *mask, td_attn_mask_stats *stats)
{
    att_job j;
    TD_TRY(check_sparsity(sp));
    TD_TRY(td_att_check_args(args, opts, false, ctx ? ctx->isa : TD_ISA_SCALAR, &j));
    if (!ctx || !mask)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention predict: %s is NULL",
                            !ctx ? "ctx" : "mask");
    const int64_t d = j.s.head_dim, nk = j.nk, nq = j.nq;
    const int64_t bkv = j.s.batch * j.s.kv_heads, bh = j.s.batch * j.s.q_heads;
    int threads = ctx->threads > 0 ? ctx->threads : 1;
    /* pooled keys, key means, per-thread pooling scratch (3d floats each); similarities; per
     * thread scores and order (nk each) */
    float *pk = malloc((size_t)(bkv * nk * d + bkv * d + threads * 3 * d) * sizeof(float));
    double *ksim = malloc((size_t)(bkv * nk + threads * 2 * nk) * sizeof(double));
    if (!pk || !ksim) {
        free(pk);
        free(ksim);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "attention predict: out of memory");
    }
    float *kmean = pk + bkv * nk * d, *fwork = kmean + bkv * d;
    double *dwork = ksim + bkv * nk;
    /* Keys are centred on their mean over the sequence first: that shifts every pooled score
     * of a query tile by the same amount (the softmax over key tiles does not change), and it
     * keeps a large common component of K from making every key tile look self-similar. */
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (int64_t t = 0; t < bkv; t++) {
        float *mean = kmean + t * d;
        for (int64_t c = 0; c < d; c++)
            mean[c] = 0.0f;
        for (int64_t key = 0; key < j.s.kv_len; key++) {
            const float *row =
                j.k + t / j.s.kv_heads * j.lk.batch + t % j.s.kv_heads * j.lk.head + key * j.lk.row;
            for (int64_t c = 0; c < d; c++)
                mean[c] += row[c];
        }
        for (int64_t c = 0; c < d; c++)
            mean[c] /= (float)j.s.kv_len;
    }
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (int64_t t = 0; t < bkv * nk; t++) {
        int64_t k0 = (t % nk) * j.bk, n = j.s.kv_len - k0 < j.bk ? j.s.kv_len - k0 : j.bk;
        float *scratch = fwork + (size_t)omp_get_thread_num() * 3 * (size_t)d;
        ksim[t] = pool_rows(j.k, j.lk, t / nk / j.s.kv_heads, t / nk % j.s.kv_heads, k0, n, d,
                            kmean + t / nk * d, pk + t * d, scratch);
    }
    pred_ctx pc = {&j, sp, pk, ksim};
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(dynamic, 4)
    for (int64_t t = 0; t < bh * nq; t++) {
        int th = omp_get_thread_num();
        double *w = dwork + (size_t)th * 2 * (size_t)nk;
        int64_t qt = t % nq, b = t / nq / j.s.q_heads, h = t / nq % j.s.q_heads;
        predict_row(&pc, b, h, qt, fwork + (size_t)th * 3 * (size_t)d, w, (int64_t *)(w + nk),
                    mask + t * nk);
    }
    free(pk);
    free(ksim);
    return stats ? td_attn_mask_stats_of(&args->shape, opts, mask, stats) : TD_OK;
}

td_status td_attn_mask_stats_of(const td_attn_shape *shape, const td_attn_opts *opts,
                                const uint8_t *mask, td_attn_mask_stats *stats)
{
    if (!shape || !opts || !stats)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention mask stats: NULL argument");
    att_job j;
    memset(&j, 0, sizeof j);
    j.s = *shape;
    TD_TRY(td_attn_tiles(shape, opts, &j.nq, &j.nk));
    j.bq = opts->block_q ? opts->block_q : 64;
    j.bk = opts->block_k ? opts->block_k : 64;
    j.causal = opts->causal;
    j.offset = opts->causal_offset;
    int64_t visible = 0, kept = 0;
    for (int64_t bh = 0; bh < shape->batch * shape->q_heads; bh++)
        for (int64_t qt = 0; qt < j.nq; qt++) {
            int64_t end = tile_end(&j, qt);
            visible += end;
            const uint8_t *row = mask ? mask + (bh * j.nq + qt) * j.nk : NULL;
            for (int64_t t = 0; t < end; t++)
                kept += !row || row[t];
        }
    stats->visible = visible;
    stats->kept = kept;
    stats->density = visible ? (double)kept / (double)visible : 1.0;
    return TD_OK;
}

/* ---- schedules ---- */

static int in_range(int v, int first, int last)
{
    return (first < 0 || v >= first) && (last < 0 || v <= last);
}

td_status td_attn_schedule_table_pick(void *table, int layer, int step, td_attn_plan *plan)
{
    const td_attn_schedule_table *t = table;
    if (!t || !plan || (t->n_rules > 0 && !t->rules) || t->n_rules < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention schedule table: bad table");
    for (int i = 0; i < t->n_rules; i++) {
        const td_attn_schedule_rule *r = &t->rules[i];
        if (in_range(layer, r->layer_first, r->layer_last) &&
            in_range(step, r->step_first, r->step_last)) {
            *plan = r->plan;
            return TD_OK;
        }
    }
    *plan = t->fallback;
    return TD_OK;
}

static bool plan_dense(const td_attn_plan *p)
{
    return p->density >= 1.0f || (p->density == 0.0f && p->mass_share >= 1.0f);
}

static td_status check_plan(const td_attn_plan *p, int layer, int step)
{
    if (p->qk < 0 || p->qk >= TD_ATTN_QK_COUNT || p->pv < 0 || p->pv >= TD_ATTN_PV_COUNT)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "attention schedule (layer %d, step %d): unknown precision "
                            "(qk %d, pv %d)",
                            layer, step, (int)p->qk, (int)p->pv);
    if (!(p->density >= 0.0f && p->density <= 1.0f))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "attention schedule (layer %d, step %d): density %g is outside "
                            "[0, 1]",
                            layer, step, (double)p->density);
    if (!(p->min_similarity >= 0.0f && p->min_similarity <= 1.0f))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "attention schedule (layer %d, step %d): min_similarity %g is "
                            "outside [0, 1]",
                            layer, step, (double)p->min_similarity);
    if (p->density == 0.0f && !(p->mass_share > 0.0f))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "attention schedule (layer %d, step %d): mass_share %g must be > 0 "
                            "(>= 1 is dense)",
                            layer, step, (double)p->mass_share);
    return TD_OK;
}

td_status td_attention_scheduled(const td_ctx *ctx, td_attn_schedule_fn fn, void *user, int layer,
                                 int step, const td_attn_args *args, const td_attn_opts *base,
                                 td_attn_step_report *report)
{
    if (!fn || !base || !args)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention schedule: %s is NULL",
                            !fn     ? "the schedule function"
                            : !base ? "opts"
                                    : "args");
    td_attn_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.mass_share = 1.0f;
    TD_TRY(fn(user, layer, step, &plan));
    TD_TRY(check_plan(&plan, layer, step));
    td_attn_opts o = *base;
    o.qk = plan.qk;
    o.pv = plan.pv;
    uint8_t *mask = NULL;
    td_status st = TD_OK;
    if (!plan_dense(&plan)) {
        int64_t nq, nk;
        TD_TRY(td_attn_tiles(&args->shape, base, &nq, &nk));
        size_t n;
        TD_TRY(
            td_size_mul((size_t)(args->shape.batch * args->shape.q_heads), (size_t)(nq * nk), &n));
        mask = malloc(n ? n : 1);
        if (!mask)
            return td_error_new(TD_CODE_OUT_OF_MEMORY, "attention schedule: out of memory");
        td_attn_sparsity sp = {plan.mass_share < 1.0f ? plan.mass_share : 1.0f, plan.density,
                               plan.min_similarity};
        o.block_mask = NULL;
        st = td_attn_predict(ctx, args, &o, &sp, mask, NULL);
        o.block_mask = mask;
    }
    if (!st && report) {
        report->plan = plan;
        st = td_attn_mask_stats_of(&args->shape, &o, o.block_mask, &report->mask);
    }
    if (!st)
        st = td_attention(ctx, args, &o);
    free(mask);
    return st;
}
