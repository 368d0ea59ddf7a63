/* Scalar reference for attention: the tile kernels every fast path is tested against, and
 * the float64 oracle.
 *
 * The f32 tile kernels accumulate with fmaf in the order the vector kernels use (over d
 * ascending for Q.K, over keys ascending for P.V, after one multiply by the rescale factor),
 * so the f32 path of every ISA gives the same bits. Quantized Q.K runs here on the codes held
 * as floats (exact for int8 up to head_dim 1040; E4M3 products are exact and only the sums
 * round). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "kernels/attention/attention_task.h"

static void qk_f32_ref(const float *q, int64_t dp, int rows, const float *kt, int bk, float *s)
{
    for (int r = 0; r < rows; r++)
        for (int x = 0; x < bk; x++) {
            float acc = 0.0f;
            for (int64_t c = 0; c < dp; c++)
                acc = fmaf(q[r * dp + c], kt[c * bk + x], acc);
            s[(int64_t)r * bk + x] = acc;
        }
}

static void pv_f32_ref(const float *p, int rows, int bk, const float *v, int64_t dvp,
                       const float *alpha, float *o)
{
    for (int r = 0; r < rows; r++) {
        float *orow = o + (int64_t)r * dvp;
        for (int64_t c = 0; c < dvp; c++) {
            float acc = orow[c] * alpha[r];
            for (int x = 0; x < bk; x++)
                acc = fmaf(p[(int64_t)r * bk + x], v[x * dvp + c], acc);
            orow[c] = acc;
        }
    }
}

/* P rounds to E4M3 through the formats module here (j->formats_fp8 is set for the scalar
 * ISA); the vector files use att_e4m3_round_pos, and tests require the same bits. */
static void softmax_ref(const att_job *j, int rows, float *s, att_buf *buf)
{
    att_softmax_rows(j, rows, s, buf);
}

static const att_kernels ref_kernels = {qk_f32_ref, NULL, NULL,       pv_f32_ref,
                                        NULL,       NULL, softmax_ref};

static void task_ref(const att_job *j, int64_t t, att_buf *b)
{
    att_task(j, t, b, &ref_kernels);
}

static void kmean_ref(const att_job *j, int64_t bh)
{
    att_kmean(j, bh);
}

static void pack_kv_ref(const att_job *j, int64_t bh, int64_t kt, void *stage)
{
    att_pack_k(j, bh, kt, stage);
    att_pack_v(j, bh, kt);
}

static float absmax_ref(const float *x, int64_t rows, int64_t ld, int64_t n, int *nan)
{
    return att_absmax(x, rows, ld, NULL, n, nan);
}

const att_isa td_att_isa_ref = {task_ref, kmean_ref, pack_kv_ref, absmax_ref};

/* ---- float64 oracle ---- */

/* Does query q of (b, h) see key k? Causal frontier and block mask; the bias comes later. */
static int visible(const att_job *j, const td_attn_opts *o, int64_t bh, int64_t q, int64_t k)
{
    if (j->causal && k > q + j->offset)
        return 0;
    if (o->block_mask && !o->block_mask[(bh * j->nq + q / j->bq) * j->nk + k / j->bk])
        return 0;
    return 1;
}

static void ref_row(const att_job *j, const td_attn_opts *o, int64_t b, int64_t h, int64_t q,
                    double *sc)
{
    const td_attn_shape *s = &j->s;
    const int64_t kvh = h / (s->q_heads / s->kv_heads), bh = b * s->q_heads + h;
    const float *qr = j->q + b * j->lq.batch + h * j->lq.head + q * j->lq.row;
    double mx = -INFINITY;
    for (int64_t k = 0; k < s->kv_len; k++) {
        sc[k] = -INFINITY;
        if (!visible(j, o, bh, q, k))
            continue;
        const float *kr = j->k + b * j->lk.batch + kvh * j->lk.head + k * j->lk.row;
        double dot = 0.0;
        for (int64_t c = 0; c < s->head_dim; c++)
            dot += (double)qr[c] * kr[c];
        dot *= j->scale;
        if (o->bias)
            dot += o->bias[b * o->bias_stride[0] + h * o->bias_stride[1] + q * o->bias_stride[2] +
                           k * o->bias_stride[3]];
        sc[k] = dot;
        mx = dot > mx ? dot : mx;
    }
    float *out = j->out + b * j->lo.batch + h * j->lo.head + q * j->lo.row;
    double sum = 0.0;
    for (int64_t k = 0; k < s->kv_len; k++) {
        sc[k] = mx == -INFINITY ? 0.0 : exp(sc[k] - mx);
        sum += sc[k];
    }
    for (int64_t c = 0; c < s->v_dim; c++) {
        double acc = 0.0;
        for (int64_t k = 0; k < s->kv_len && sum > 0; k++)
            if (sc[k] != 0.0)
                acc += sc[k] * j->v[b * j->lv.batch + kvh * j->lv.head + k * j->lv.row + c];
        out[c] = sum > 0 ? (float)(acc / sum) : 0.0f;
    }
}

td_status td_attention_ref_f64(const td_attn_args *args, const td_attn_opts *opts)
{
    /* The checks and defaults of td_attention, without its packing. */
    att_job j;
    TD_TRY(td_att_check_args(args, opts, true, TD_ISA_SCALAR, &j));
    const td_attn_shape *s = &j.s;
    double *scores = malloc((size_t)s->kv_len * sizeof(double) * (size_t)omp_get_max_threads());
    if (!scores)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "attention oracle: out of memory");
    const int64_t rows = s->batch * s->q_heads * s->q_len;
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t r = 0; r < rows; r++) {
        int64_t q = r % s->q_len, bh = r / s->q_len;
        ref_row(&j, opts, bh / s->q_heads, bh % s->q_heads, q,
                scores + (size_t)omp_get_thread_num() * (size_t)s->kv_len);
    }
    free(scores);
    return TD_OK;
}
