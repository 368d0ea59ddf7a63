/* The attention driver: checks the arguments, packs K and V once per call, then runs every
 * (batch, head, query tile) task on OpenMP threads with the tile kernels of ctx->isa. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention/attention_internal.h"

static const char *const qk_names[TD_ATTN_QK_COUNT] = {"f32", "int8", "fp8"};
static const char *const pv_names[TD_ATTN_PV_COUNT] = {"f32", "fp8"};

const char *td_attn_qk_name(td_attn_qk qk)
{
    return qk >= 0 && qk < TD_ATTN_QK_COUNT ? qk_names[qk] : "?";
}

const char *td_attn_pv_name(td_attn_pv pv)
{
    return pv >= 0 && pv < TD_ATTN_PV_COUNT ? pv_names[pv] : "?";
}

td_status td_attn_qk_parse(const char *name, td_attn_qk *out)
{
    for (int i = 0; name && i < TD_ATTN_QK_COUNT; i++)
        if (strcmp(name, qk_names[i]) == 0) {
            *out = (td_attn_qk)i;
            return TD_OK;
        }
    return td_error_new(TD_CODE_INVALID_ARGUMENT,
                        "attention Q.K precision '%s': expected f32, int8 or fp8",
                        name ? name : "(null)");
}

td_status td_attn_pv_parse(const char *name, td_attn_pv *out)
{
    for (int i = 0; name && i < TD_ATTN_PV_COUNT; i++)
        if (strcmp(name, pv_names[i]) == 0) {
            *out = (td_attn_pv)i;
            return TD_OK;
        }
    return td_error_new(TD_CODE_INVALID_ARGUMENT,
                        "attention P.V precision '%s': expected f32 or fp8",
                        name ? name : "(null)");
}

td_attn_layout td_attn_layout_bhsd(int64_t heads, int64_t seq, int64_t dim)
{
    td_attn_layout l = {heads * seq * dim, seq * dim, dim};
    return l;
}

td_attn_layout td_attn_layout_bshd(int64_t heads, int64_t seq, int64_t dim)
{
    td_attn_layout l = {seq * heads * dim, dim, heads * dim};
    return l;
}

td_attn_opts td_attn_opts_default(void)
{
    td_attn_opts o;
    memset(&o, 0, sizeof o);
    return o;
}

/* ---- argument checks ---- */

static td_status check_shape(const td_attn_shape *s)
{
    const struct {
        const char *name;
        int64_t v;
    } dims[] = {{"batch", s->batch}, {"q_heads", s->q_heads}, {"kv_heads", s->kv_heads},
                {"q_len", s->q_len}, {"kv_len", s->kv_len},   {"head_dim", s->head_dim}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        if (dims[i].v == 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "attention: %s is 0; zero-length sequences and dimensions have "
                                "nothing to attend",
                                dims[i].name);
        if (dims[i].v < 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention: %s = %lld must be >= 1",
                                dims[i].name, (long long)dims[i].v);
    }
    if (s->v_dim < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention: v_dim = %lld must be >= 0",
                            (long long)s->v_dim);
    if (s->q_heads % s->kv_heads != 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "attention: q_heads = %lld is not a multiple of kv_heads = %lld",
                            (long long)s->q_heads, (long long)s->kv_heads);
    /* Every element count below must fit, with room for padding. */
    size_t n;
    int64_t dmax = s->head_dim > s->v_dim ? s->head_dim : s->v_dim;
    int64_t len = s->q_len > s->kv_len ? s->q_len : s->kv_len;
    TD_TRY(td_size_mul((size_t)s->batch, (size_t)s->q_heads, &n));
    TD_TRY(td_size_mul(n, (size_t)len + 512, &n));
    TD_TRY(td_size_mul(n, (size_t)dmax + 16, &n));
    TD_TRY(td_size_mul(n, 4, &n));
    if (n > (size_t)INT64_MAX / 4)
        return td_error_new(TD_CODE_OVERFLOW, "attention: operands are too large");
    return TD_OK;
}

static td_status tile_size(const char *name, int v, int *out)
{
    if (v == 0)
        v = 64;
    if (v < 16 || v > 512 || v % 16 != 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "attention: %s = %d must be a multiple of 16 in [16, 512]", name, v);
    *out = v;
    return TD_OK;
}

td_status td_attn_tiles(const td_attn_shape *shape, const td_attn_opts *opts, int64_t *nq,
                        int64_t *nk)
{
    if (!shape || !opts)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention: shape or opts is NULL");
    TD_TRY(check_shape(shape));
    int bq = 0, bk = 0;
    TD_TRY(tile_size("block_q", opts->block_q, &bq));
    TD_TRY(tile_size("block_k", opts->block_k, &bk));
    *nq = (shape->q_len + bq - 1) / bq;
    *nk = (shape->kv_len + bk - 1) / bk;
    return TD_OK;
}

static td_status check_layout(const char *name, td_attn_layout *l, int64_t heads, int64_t seq,
                              int64_t dim)
{
    if (l->batch == 0 && l->head == 0 && l->row == 0) {
        *l = td_attn_layout_bhsd(heads, seq, dim);
        return TD_OK;
    }
    if (l->batch < 0 || l->head < 0 || l->row < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "attention: %s layout has a negative stride (%lld, %lld, %lld)", name,
                            (long long)l->batch, (long long)l->head, (long long)l->row);
    if (seq > 1 && l->row < dim)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "attention: %s row stride %lld is shorter than its %lld elements", name,
                            (long long)l->row, (long long)dim);
    return TD_OK;
}

static const att_isa *isa_of(td_isa isa)
{
    if (isa >= TD_ISA_AVX512)
        return &td_att_isa_avx512;
    return isa >= TD_ISA_AVX2 ? &td_att_isa_avx2 : &td_att_isa_ref;
}

/* Non-finite values: the first one's position is named. *amax receives max |x|. */
static td_status check_finite(const att_isa *isa, const char *name, const float *x,
                              td_attn_layout l, int64_t nb, int64_t nh, int64_t ns, int64_t nd,
                              float *amax)
{
    float m = 0.0f;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t h = 0; h < nh; h++) {
            const float *head = x + b * l.batch + h * l.head;
            int nan = 0;
            float a = isa->absmax(head, ns, l.row, nd, &nan);
            m = a > m ? a : m;
            if (!nan && a <= FLT_MAX)
                continue;
            for (int64_t s = 0; s < ns; s++)
                for (int64_t d = 0; d < nd; d++) {
                    float v = head[s * l.row + d];
                    if (!(fabsf(v) <= FLT_MAX))
                        return td_error_new(TD_CODE_BAD_DATA,
                                            "attention: %s[%lld, %lld, %lld, %lld] is %s", name,
                                            (long long)b, (long long)h, (long long)s, (long long)d,
                                            isnan(v) ? "NaN" : "infinite");
                }
        }
    *amax = m;
    return TD_OK;
}

/* The bias may hold -inf (masked) but no NaN or +inf. Broadcast dimensions are read once.
 * *amax receives the largest finite |bias|. */
static td_status check_bias(const td_attn_shape *s, const td_attn_opts *o, float *amax)
{
    float m = 0.0f;
    const int64_t *st = o->bias_stride;
    for (int i = 0; i < 4; i++)
        if (st[i] < 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "attention: bias stride %d is negative (%lld)", i,
                                (long long)st[i]);
    int64_t nb = st[0] ? s->batch : 1, nh = st[1] ? s->q_heads : 1;
    int64_t nq = st[2] ? s->q_len : 1, nk = st[3] ? s->kv_len : 1;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t h = 0; h < nh; h++)
            for (int64_t q = 0; q < nq; q++)
                for (int64_t k = 0; k < nk; k++) {
                    float x = o->bias[b * st[0] + h * st[1] + q * st[2] + k * st[3]];
                    if (fabsf(x) <= FLT_MAX && fabsf(x) > m)
                        m = fabsf(x);
                    if (x != x || x == __builtin_inff())
                        return td_error_new(TD_CODE_BAD_DATA,
                                            "attention: bias[%lld, %lld, %lld, %lld] is %s "
                                            "(only -inf may mask a score)",
                                            (long long)b, (long long)h, (long long)q, (long long)k,
                                            x != x ? "NaN" : "+inf");
                }
    *amax = m;
    return TD_OK;
}

td_status td_att_check_args(const td_attn_args *a, const td_attn_opts *o, bool full, td_isa isa,
                            att_job *j)
{
    const att_isa *fns = isa_of(isa);
    if (!a || !o)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention: args or opts is NULL");
    if (!a->q || !a->k || (full && (!a->v || !a->out)))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention: %s is NULL",
                            !a->q   ? "Q"
                            : !a->k ? "K"
                            : !a->v ? "V"
                                    : "the output");
    memset(j, 0, sizeof *j);
    j->s = a->shape;
    TD_TRY(check_shape(&j->s));
    if (j->s.v_dim == 0)
        j->s.v_dim = j->s.head_dim;
    const td_attn_shape *s = &j->s;
    TD_TRY(tile_size("block_q", o->block_q, &j->bq));
    TD_TRY(tile_size("block_k", o->block_k, &j->bk));
    if (o->qk < 0 || o->qk >= TD_ATTN_QK_COUNT)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention: unknown Q.K precision %d",
                            (int)o->qk);
    if (o->pv < 0 || o->pv >= TD_ATTN_PV_COUNT)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention: unknown P.V precision %d",
                            (int)o->pv);
    if (!isfinite(o->scale))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention: scale %g is not finite",
                            (double)o->scale);
    j->lq = a->lq;
    j->lk = a->lk;
    j->lv = a->lv;
    j->lo = a->lo;
    TD_TRY(check_layout("Q", &j->lq, s->q_heads, s->q_len, s->head_dim));
    TD_TRY(check_layout("K", &j->lk, s->kv_heads, s->kv_len, s->head_dim));
    TD_TRY(check_layout("V", &j->lv, s->kv_heads, s->kv_len, s->v_dim));
    TD_TRY(check_layout("output", &j->lo, s->q_heads, s->q_len, s->v_dim));
    float aq, ak, av = 0.0f, ab = 0.0f;
    TD_TRY(check_finite(fns, "Q", a->q, j->lq, s->batch, s->q_heads, s->q_len, s->head_dim, &aq));
    TD_TRY(check_finite(fns, "K", a->k, j->lk, s->batch, s->kv_heads, s->kv_len, s->head_dim, &ak));
    if (full)
        TD_TRY(
            check_finite(fns, "V", a->v, j->lv, s->batch, s->kv_heads, s->kv_len, s->v_dim, &av));
    if (o->bias)
        TD_TRY(check_bias(s, o, &ab));
    /* A score is at most |Q| |K| D scale + |bias| (twice |K| after smoothing); past f32's
     * range the softmax would silently drop NaN scores, so such inputs are refused here. */
    double scale = o->scale != 0.0f ? fabs((double)o->scale) : 1.0 / sqrt((double)s->head_dim);
    double bound = 2.0 * aq * ak * (double)s->head_dim * scale + ab;
    /* The output accumulates up to kv_len probabilities (each <= 1) times V. */
    if (bound * 2.0 > FLT_MAX || (double)av * (double)s->kv_len * 2.0 > FLT_MAX)
        return td_error_new(TD_CODE_BAD_DATA,
                            "attention: scores or sums could overflow f32 (max |Q| %g, max |K| "
                            "%g, head_dim %lld, scale %g, max |bias| %g, max |V| %g, kv_len %lld)",
                            (double)aq, (double)ak, (long long)s->head_dim, scale, (double)ab,
                            (double)av, (long long)s->kv_len);
    j->q = a->q;
    j->k = a->k;
    j->v = a->v;
    j->out = a->out;
    j->bias = o->bias;
    memcpy(j->bs, o->bias_stride, sizeof j->bs);
    j->mask = o->block_mask;
    j->scale = o->scale != 0.0f ? o->scale : (float)(1.0 / sqrt((double)s->head_dim));
    j->scale2 = j->scale * ATT_LOG2E;
    j->causal = o->causal;
    j->offset = o->causal_offset;
    j->nq = (s->q_len + j->bq - 1) / j->bq;
    j->nk = (s->kv_len + j->bk - 1) / j->bk;
    j->qk = o->qk;
    j->pv = o->pv;
    j->group = s->q_heads / s->kv_heads;
    return TD_OK;
}

/* ---- buffers ---- */

static size_t round64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

typedef struct att_mem {
    void *packs;   /* K and V tiles, scales, means */
    void *threads; /* per-thread buffers */
    size_t per_thread;
} att_mem;

static void choose_kernels(const td_ctx *ctx, att_job *j)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    bool bf16 = ctx->isa >= TD_ISA_AVX512 && cpu.avx512bf16;
    const int64_t d = j->s.head_dim;
    j->qk_kind = ATT_QK_F32;
    j->dp = d;
    if (j->qk == TD_ATTN_QK_INT8 && ctx->isa >= TD_ISA_AVX512) {
        j->qk_kind = ATT_QK_VNNI;
        j->dp = (d + 3) / 4 * 4;
    } else if (j->qk == TD_ATTN_QK_FP8 && bf16) {
        j->qk_kind = ATT_QK_BF16;
        j->dp = (d + 1) / 2 * 2;
    }
    j->pv_kind = j->pv == TD_ATTN_PV_FP8 && bf16 ? ATT_PV_BF16 : ATT_PV_F32;
    j->formats_fp8 = ctx->isa == TD_ISA_SCALAR;
    j->dvp = (j->s.v_dim + 15) / 16 * 16;
}

static td_status alloc_job(att_job *j, int threads, att_mem *mem)
{
    const size_t bk = (size_t)j->bk, bq = (size_t)j->bq;
    size_t kelem = j->qk_kind == ATT_QK_VNNI ? 1 : j->qk_kind == ATT_QK_BF16 ? 2 : 4;
    size_t velem = j->pv_kind == ATT_PV_BF16 ? 2 : 4;
    j->ktile_bytes = round64((size_t)j->dp * bk * kelem);
    j->vtile_bytes = round64(bk * (size_t)j->dvp * velem);
    size_t tiles = (size_t)(j->s.batch * j->s.kv_heads * j->nk);
    size_t off_v = tiles * j->ktile_bytes;
    size_t off_ks = off_v + tiles * j->vtile_bytes;
    size_t off_km = off_ks + round64(tiles * sizeof(float));
    size_t off_vs = off_km + round64((size_t)(j->s.batch * j->s.kv_heads * j->s.head_dim) * 4);
    size_t total = off_vs + (j->pv == TD_ATTN_PV_FP8 ? round64(tiles * (size_t)j->dvp * 4) : 0);
    TD_TRY(td_alloc(total, &mem->packs));
    uint8_t *p = mem->packs;
    j->kpack = p;
    j->vpack = p + off_v;
    j->kscale = (float *)(p + off_ks);
    j->kmean = (float *)(p + off_km);
    j->vscale = j->pv == TD_ATTN_PV_FP8 ? (float *)(p + off_vs) : NULL;

    mem->per_thread = round64(bq * (size_t)j->dp * 4) + round64(bq * bk * 4) +
                      round64(bq * bk / 2 * 4) + round64(bq * (size_t)j->dvp * 4) +
                      5 * round64(bq * 4) + round64(bk * (size_t)j->dp * 2);
    td_status st = td_alloc((size_t)threads * mem->per_thread, &mem->threads);
    if (st) {
        td_free(mem->packs);
        mem->packs = NULL;
    }
    return st;
}

static void thread_buf(const att_job *j, const att_mem *mem, int t, att_buf *b)
{
    const size_t bk = (size_t)j->bk, bq = (size_t)j->bq;
    uint8_t *p = (uint8_t *)mem->threads + (size_t)t * mem->per_thread;
    b->q = p;
    p += round64(bq * (size_t)j->dp * 4);
    b->s = (float *)p;
    p += round64(bq * bk * 4);
    b->p2 = (uint32_t *)p;
    p += round64(bq * bk / 2 * 4);
    b->o = (float *)p;
    p += round64(bq * (size_t)j->dvp * 4);
    b->m = (float *)p;
    p += round64(bq * 4);
    b->l = (float *)p;
    p += round64(bq * 4);
    b->alpha = (float *)p;
    p += round64(bq * 4);
    b->shift = (float *)p;
    p += round64(bq * 4);
    b->qcorr = (int32_t *)p;
    p += round64(bq * 4);
    b->stage = p;
}

td_status td_attention(const td_ctx *ctx, const td_attn_args *args, const td_attn_opts *opts)
{
    if (!ctx)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "attention: ctx is NULL");
    att_job j;
    TD_TRY(td_att_check_args(args, opts, true, ctx->isa, &j));
    choose_kernels(ctx, &j);
    const int64_t bkv = j.s.batch * j.s.kv_heads;
    const int64_t tasks = j.s.batch * j.s.q_heads * j.nq;
    int threads = ctx->threads > 0 ? ctx->threads : 1;
    if (threads > tasks)
        threads = (int)tasks;
    att_mem mem;
    TD_TRY(alloc_job(&j, threads, &mem));

    const att_isa *isa = isa_of(ctx->isa);
    if (j.qk != TD_ATTN_QK_F32) {
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
        for (int64_t bh = 0; bh < bkv; bh++)
            isa->kmean(&j, bh);
    }
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        att_buf buf;
        thread_buf(&j, &mem, omp_get_thread_num(), &buf);
#pragma omp for schedule(static)
        for (int64_t t = 0; t < bkv * j.nk; t++)
            isa->pack_kv(&j, t / j.nk, t % j.nk, buf.stage);
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < tasks; t++)
            isa->task(&j, t, &buf);
    }
    td_free(mem.packs);
    td_free(mem.threads);
    return TD_OK;
}

void td_attn_quality_of(const float *x, const float *ref, int64_t n, td_attn_quality *q)
{
    double dot = 0, nx = 0, nr = 0, l1 = 0, l1r = 0, sq = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = x[i], b = ref[i], d = fabs(a - b);
        dot += a * b;
        nx += a * a;
        nr += b * b;
        l1 += d;
        l1r += fabs(b);
        sq += d * d;
        mx = d > mx ? d : mx;
    }
    if (nx == 0 || nr == 0)
        q->cosine = nx == nr ? 1.0 : 0.0;
    else
        q->cosine = dot / (sqrt(nx) * sqrt(nr));
    q->rel_l1 = l1r > 0 ? l1 / l1r : l1;
    q->rmse = n > 0 ? sqrt(sq / (double)n) : 0.0;
    q->max_abs = mx;
}
