/* One attention task (a batch, head and query tile) over its key tiles with an online
 * softmax, written once and compiled by each ISA's file (kernels/ref/attention_ref.c,
 * attention_avx2.c, attention_avx512.c) with that file's tile kernels (att_kernels). The
 * softmax step here (att_softmax_rows, plain C over 16 float lanes) is the reference; the
 * vector files implement the same float operations in the same order with intrinsics, so for
 * equal scores every ISA produces equal probabilities (tests/test_attention.c checks whole
 * runs bit for bit wherever the products are exact or summed in the same order). */
#ifndef TD_ATTENTION_TASK_H
#define TD_ATTENTION_TASK_H

#include <math.h>
#include <string.h>

#include "kernels/attention/attention_internal.h"
#include "kernels/attention/attention_pack.h"
#include "tandem/formats.h"

/* Number of keys of tile kt that query row q (absolute index) attends, before the bias. */
static inline int att_row_cols(const att_job *j, int64_t q, int64_t k0, int cols)
{
    if (!j->causal)
        return cols;
    int64_t lim = q + j->offset - k0 + 1; /* keys k0 .. q + offset */
    if (lim < 0)
        return 0;
    return lim < cols ? (int)lim : cols;
}

/* Scores past each row's visible keys become -inf; the bias (in log2 units, like the scores)
 * is added to the visible ones. */
static inline void att_mask_scores(const att_job *j, int64_t b, int64_t h, int64_t q0, int rows,
                                   int64_t k0, int cols, float *s)
{
    const float ninf = -__builtin_inff();
    for (int r = 0; r < rows; r++) {
        float *sr = s + (int64_t)r * j->bk;
        int c = att_row_cols(j, q0 + r, k0, cols);
        if (j->bias) {
            const float *br =
                j->bias + b * j->bs[0] + h * j->bs[1] + (q0 + r) * j->bs[2] + k0 * j->bs[3];
            int64_t st = j->bs[3];
            if (st == 1)
                for (int x = 0; x < c; x++)
                    sr[x] += br[x] * ATT_LOG2E;
            else
                for (int x = 0; x < c; x++)
                    sr[x] += br[x * st] * ATT_LOG2E;
        }
        for (int x = c; x < j->bk; x++)
            sr[x] = ninf;
    }
}

/* E4M3 value of 448 p, through the formats module (the reference's rounding). */
static inline float att_p_formats(float p)
{
    return td_fp8_e4m3_to_f32(td_f32_to_fp8_e4m3(p * ATT_P_SCALE, true));
}

/* Max and sum of 16 lanes as a tree (8 + 8, 4 + 4, ...): four dependent vector steps instead
 * of sixteen dependent scalar ones, and the same order in every compilation. */
static inline float att_lanes_max(float *lane)
{
    for (int w = 8; w >= 1; w /= 2)
        for (int x = 0; x < w; x++)
            lane[x] = lane[x + w] > lane[x] ? lane[x + w] : lane[x];
    return lane[0];
}

static inline float att_lanes_sum(float *lane)
{
    for (int w = 8; w >= 1; w /= 2)
        for (int x = 0; x < w; x++)
            lane[x] += lane[x + w];
    return lane[0];
}

/* The middle pass of the softmax step: buf->shift holds each row's new max on entry and the
 * shift to subtract on return (0 while the row has seen only -inf); alpha = 2^(m_old - shift)
 * rescales the row's running sum and output. */
static inline void att_softmax_alpha(int rows, att_buf *buf)
{
    const float ninf = -__builtin_inff();
    for (int r = 0; r < rows; r++) {
        float mx = buf->shift[r];
        float sh = mx == ninf ? 0.0f : mx;
        buf->alpha[r] = att_exp2(buf->m[r] - sh);
        buf->m[r] = mx;
        buf->shift[r] = sh;
    }
}

/* Online softmax step for one tile, scores in log2 units: new row max m, alpha =
 * 2^(m_old - m), p = 2^(s - m) (rounded to E4M3 after scaling by 448 for fp8 P.V), l = alpha *
 * l + sum p. A row whose scores are all -inf so far keeps shift 0, so its p are 2^-inf = 0 and
 * nothing is NaN. Three passes over the rows (maxima; shifts and rescale factors; exponentials)
 * keep each row's max -> exp dependency out of the next row's way. The vector files implement
 * the same operations with intrinsics (the compiler's vectorization of these lane loops was
 * poor), so every ISA gives the same bits. */
static inline void att_softmax_rows(const att_job *j, int rows, float *s, att_buf *buf)
{
    const int bk = j->bk;
    const int quant = j->pv == TD_ATTN_PV_FP8;
    for (int r = 0; r < rows; r++) {
        const float *sr = s + (int64_t)r * bk;
        float lane[16];
        for (int x = 0; x < 16; x++)
            lane[x] = sr[x];
        for (int k = 16; k < bk; k += 16)
            for (int x = 0; x < 16; x++)
                lane[x] = sr[k + x] > lane[x] ? sr[k + x] : lane[x];
        float mx = att_lanes_max(lane);
        buf->shift[r] = buf->m[r] > mx ? buf->m[r] : mx;
    }
    att_softmax_alpha(rows, buf);
    for (int r = 0; r < rows; r++) {
        float *sr = s + (int64_t)r * bk;
        const float sh = buf->shift[r];
        float sum[16] = {0};
        for (int k = 0; k < bk; k += 16)
            for (int x = 0; x < 16; x++) {
                float p = att_exp2(sr[k + x] - sh);
                if (quant && j->formats_fp8)
                    p = att_p_formats(p);
                else if (quant)
                    p = att_e4m3_round_pos(p * ATT_P_SCALE);
                sr[k + x] = p;
                sum[x] += p;
            }
        float tot = att_lanes_sum(sum);
        if (quant)
            tot *= 1.0f / ATT_P_SCALE;
        buf->l[r] = buf->l[r] * buf->alpha[r] + tot;
    }
}

/* Last key tile (exclusive) that any row of the query tile may see. */
static inline int64_t att_tile_end(const att_job *j, int64_t q0, int rows)
{
    if (!j->causal)
        return j->nk;
    int64_t last = q0 + rows - 1 + j->offset; /* last key the last row attends */
    if (last < 0)
        return 0;
    int64_t e = last / j->bk + 1;
    return e < j->nk ? e : j->nk;
}

static inline void att_task(const att_job *j, int64_t t, att_buf *buf, const att_kernels *kn)
{
    const int64_t bh = t / j->nq, qt = j->nq - 1 - t % j->nq; /* heavy causal tiles first */
    const int64_t b = bh / j->s.q_heads, h = bh % j->s.q_heads;
    const int64_t kvh = h / j->group, bkv = b * j->s.kv_heads + kvh;
    const int64_t q0 = qt * j->bq;
    const int rows = (int)(j->s.q_len - q0 < j->bq ? j->s.q_len - q0 : j->bq);
    const int bk = j->bk;
    const int64_t dvp = j->dvp;

    float qscale = att_prepare_q(j, b, h, qt, rows, buf->q, buf->qcorr);
    for (int r = 0; r < rows; r++) {
        buf->m[r] = -__builtin_inff();
        buf->l[r] = 0.0f;
    }
    memset(buf->o, 0, (size_t)rows * (size_t)dvp * sizeof(float));

    const uint8_t *mrow = j->mask ? j->mask + (bh * j->nq + qt) * j->nk : NULL;
    int64_t kend = att_tile_end(j, q0, rows);
    for (int64_t kt = 0; kt < kend; kt++) {
        if (mrow && !mrow[kt])
            continue;
        int64_t k0 = kt * bk;
        int cols = (int)(j->s.kv_len - k0 < bk ? j->s.kv_len - k0 : bk);
        const uint8_t *kp = j->kpack + (size_t)(bkv * j->nk + kt) * j->ktile_bytes;
        const uint8_t *vp = j->vpack + (size_t)(bkv * j->nk + kt) * j->vtile_bytes;
        float f = qscale * j->kscale[bkv * j->nk + kt] * j->scale2;
        switch (j->qk_kind) {
        case ATT_QK_VNNI:
            kn->qk_vnni(buf->q, j->dp, rows, kp, bk, buf->qcorr, f, buf->s);
            break;
        case ATT_QK_BF16:
            kn->qk_bf16(buf->q, j->dp, rows, (const uint16_t *)kp, bk, f, buf->s);
            break;
        default:
            kn->qk_f32(buf->q, j->dp, rows, (const float *)kp, bk, buf->s);
            if (j->qk != TD_ATTN_QK_F32)
                for (int64_t x = 0; x < (int64_t)rows * bk; x++)
                    buf->s[x] *= f;
            break;
        }
        att_mask_scores(j, b, h, q0, rows, k0, cols, buf->s);
        kn->softmax(j, rows, buf->s, buf);
        if (j->pv_kind == ATT_PV_BF16) {
            kn->pack_p2(rows, bk, buf->s, buf->p2);
            kn->pv_bf16(buf->p2, rows, bk, (const uint16_t *)vp, dvp, buf->alpha,
                        j->vscale + (bkv * j->nk + kt) * dvp, buf->o);
        } else {
            kn->pv_f32(buf->s, rows, bk, (const float *)vp, dvp, buf->alpha, buf->o);
        }
    }

    const int64_t dv = j->s.v_dim;
    for (int r = 0; r < rows; r++) {
        float *dst = j->out + b * j->lo.batch + h * j->lo.head + (q0 + r) * j->lo.row;
        const float *src = buf->o + (int64_t)r * dvp;
        float l = buf->l[r];
        if (l > 0.0f) {
            float inv = 1.0f / l;
            for (int64_t c = 0; c < dv; c++)
                dst[c] = src[c] * inv;
        } else {
            for (int64_t c = 0; c < dv; c++)
                dst[c] = 0.0f;
        }
    }
}

#endif
