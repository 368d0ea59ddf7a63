/* Quantization and packing of attention operands (layouts in attention_internal.h). One
 * compilation for every ISA, so that the codes and scales a fast kernel sees are exactly the
 * ones the scalar reference sees (fp8 through att_e4m3_round, or through the formats module
 * for the scalar reference: tests check the two agree). The work is O(sequence x dim) per
 * head, against O(sequence^2 x dim) for the products; values are quantized 64 at a time
 * into a small buffer by loops that vectorize, then stored into the kind's layout. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels/attention/attention_internal.h"
#include "tandem/formats.h"

enum { CHUNK = 64 };

/* Scale mapping amax onto qmax; an all-zero block gets 1 and tiny blocks are kept at
 * FLT_MIN so that x / scale never divides by a subnormal (as the formats module does). */
static float block_scale(float amax, float qmax)
{
    if (amax == 0.0f)
        return 1.0f;
    float s = amax / qmax;
    return s < FLT_MIN ? FLT_MIN : s;
}

/* t[i] = quantized value of (x[i] - mean[i]) / scale[i * sstride] (mean may be NULL), as a
 * float: an int8 code in [-127, 127] or an E4M3 value. */
static void quantize(const att_job *j, bool int8, const float *x, const float *mean,
                     const float *scale, int64_t sstride, int n, float *t)
{
    for (int i = 0; i < n; i++)
        t[i] = (mean ? x[i] - mean[i] : x[i]) / scale[i * sstride];
    if (int8) {
        for (int i = 0; i < n; i++) {
            float c = att_round(t[i]);
            c = c > 127.0f ? 127.0f : c;
            t[i] = c < -127.0f ? -127.0f : c;
        }
    } else if (j->formats_fp8) {
        for (int i = 0; i < n; i++)
            t[i] = td_fp8_e4m3_to_f32(td_f32_to_fp8_e4m3(t[i], true));
    } else {
        for (int i = 0; i < n; i++)
            t[i] = att_e4m3_round(t[i]);
    }
}

/* max |x[i] - mean[i]| over n values (mean may be NULL), in 16 lanes. */
static float absmax(const float *x, const float *mean, int64_t n)
{
    float lane[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) {
            float a = fabsf(mean ? x[i + l] - mean[i + l] : x[i + l]);
            lane[l] = a > lane[l] ? a : lane[l];
        }
    float m = 0.0f;
    for (int l = 0; l < 16; l++)
        m = lane[l] > m ? lane[l] : m;
    for (; i < n; i++) {
        float a = fabsf(mean ? x[i] - mean[i] : x[i]);
        m = a > m ? a : m;
    }
    return m;
}

static uint16_t bf16_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)(u >> 16); /* exact for E4M3 values: 4 significant bits */
}

static const float *k_row(const att_job *j, int64_t bh, int64_t key)
{
    int64_t b = bh / j->s.kv_heads, h = bh % j->s.kv_heads;
    return j->k + b * j->lk.batch + h * j->lk.head + key * j->lk.row;
}

static const float *v_row(const att_job *j, int64_t bh, int64_t key)
{
    int64_t b = bh / j->s.kv_heads, h = bh % j->s.kv_heads;
    return j->v + b * j->lv.batch + h * j->lv.head + key * j->lv.row;
}

void td_att_kmean(const att_job *j, int64_t bh)
{
    const int64_t d = j->s.head_dim;
    float *mean = j->kmean + bh * d;
    for (int64_t c0 = 0; c0 < d; c0 += CHUNK) {
        int n = (int)(d - c0 < CHUNK ? d - c0 : CHUNK);
        double acc[CHUNK] = {0};
        for (int64_t key = 0; key < j->s.kv_len; key++) {
            const float *row = k_row(j, bh, key) + c0;
            for (int c = 0; c < n; c++)
                acc[c] += row[c];
        }
        for (int c = 0; c < n; c++)
            mean[c0 + c] = (float)(acc[c] / (double)j->s.kv_len);
    }
}

/* K tile: smoothed (quantized kinds) and quantized into the kind's layout. */
static void pack_k(const att_job *j, int64_t bh, int64_t kt)
{
    const int64_t d = j->s.head_dim, k0 = kt * j->bk, bk = j->bk;
    const int cols = (int)(j->s.kv_len - k0 < bk ? j->s.kv_len - k0 : bk);
    const int64_t tile = bh * j->nk + kt;
    uint8_t *dst = j->kpack + (size_t)tile * j->ktile_bytes;
    memset(dst, 0, j->ktile_bytes);
    if (j->qk == TD_ATTN_QK_F32) {
        j->kscale[tile] = 1.0f;
        for (int x = 0; x < cols; x++) {
            const float *row = k_row(j, bh, k0 + x);
            for (int64_t c = 0; c < d; c++)
                ((float *)dst)[c * bk + x] = row[c];
        }
        return;
    }
    const float *mean = j->kmean + bh * d;
    float amax = 0.0f;
    for (int x = 0; x < cols; x++) {
        float a = absmax(k_row(j, bh, k0 + x), mean, d);
        amax = a > amax ? a : amax;
    }
    const bool int8 = j->qk == TD_ATTN_QK_INT8;
    const float scale = block_scale(amax, int8 ? 127.0f : 448.0f);
    j->kscale[tile] = scale;
    float t[CHUNK];
    for (int x = 0; x < cols; x++) {
        const float *row = k_row(j, bh, k0 + x);
        for (int64_t c0 = 0; c0 < d; c0 += CHUNK) {
            int n = (int)(d - c0 < CHUNK ? d - c0 : CHUNK);
            quantize(j, int8, row + c0, mean + c0, &scale, 0, n, t);
            for (int i = 0; i < n; i++) {
                int64_t c = c0 + i;
                if (j->qk_kind == ATT_QK_VNNI) {
                    dst[(c / 4) * bk * 4 + x * 4 + c % 4] = (uint8_t)((int)t[i] + 128);
                } else if (j->qk_kind == ATT_QK_BF16) {
                    ((uint16_t *)dst)[(c / 2) * bk * 2 + x * 2 + c % 2] = bf16_bits(t[i]);
                } else {
                    ((float *)dst)[c * bk + x] = t[i];
                }
            }
        }
    }
}

static void pack_v(const att_job *j, int64_t bh, int64_t kt)
{
    const int64_t dv = j->s.v_dim, dvp = j->dvp, k0 = kt * j->bk, bk = j->bk;
    const int cols = (int)(j->s.kv_len - k0 < bk ? j->s.kv_len - k0 : bk);
    const int64_t tile = bh * j->nk + kt;
    uint8_t *dst = j->vpack + (size_t)tile * j->vtile_bytes;
    memset(dst, 0, j->vtile_bytes);
    if (j->pv == TD_ATTN_PV_F32) {
        for (int x = 0; x < cols; x++)
            memcpy((float *)dst + x * dvp, v_row(j, bh, k0 + x), (size_t)dv * sizeof(float));
        return;
    }
    float *vs = j->vscale + tile * dvp;
    for (int64_t c = dv; c < dvp; c++)
        vs[c] = 0.0f;
    for (int64_t c0 = 0; c0 < dv; c0 += CHUNK) {
        int n = (int)(dv - c0 < CHUNK ? dv - c0 : CHUNK);
        float amax[CHUNK] = {0}, scale[CHUNK], t[CHUNK];
        for (int x = 0; x < cols; x++) {
            const float *row = v_row(j, bh, k0 + x) + c0;
            for (int i = 0; i < n; i++) {
                float a = fabsf(row[i]);
                amax[i] = a > amax[i] ? a : amax[i];
            }
        }
        /* The probabilities come scaled by 448 too: both fold into one factor per channel. */
        for (int i = 0; i < n; i++) {
            scale[i] = block_scale(amax[i], 448.0f);
            vs[c0 + i] = scale[i] / ATT_P_SCALE;
        }
        for (int x = 0; x < cols; x++) {
            quantize(j, false, v_row(j, bh, k0 + x) + c0, NULL, scale, 1, n, t);
            if (j->pv_kind == ATT_PV_BF16) {
                uint16_t *pair = (uint16_t *)dst + (x / 2) * dvp * 2 + x % 2;
                for (int i = 0; i < n; i++)
                    pair[(c0 + i) * 2] = bf16_bits(t[i]);
            } else {
                float *out = (float *)dst + x * dvp + c0;
                for (int i = 0; i < n; i++)
                    out[i] = t[i] * vs[c0 + i];
            }
        }
    }
}

void td_att_pack_kv(const att_job *j, int64_t bh, int64_t kt)
{
    pack_k(j, bh, kt);
    pack_v(j, bh, kt);
}

float td_att_prepare_q(const att_job *j, int64_t b, int64_t h, int64_t qt, int rows, void *buf,
                       int32_t *qcorr)
{
    const int64_t d = j->s.head_dim, dp = j->dp, q0 = qt * j->bq;
    const float *base = j->q + b * j->lq.batch + h * j->lq.head + q0 * j->lq.row;
    if (j->qk == TD_ATTN_QK_F32) {
        for (int r = 0; r < rows; r++) {
            float *dst = (float *)buf + r * dp;
            const float *src = base + r * j->lq.row;
            for (int64_t c = 0; c < d; c++)
                dst[c] = src[c] * j->scale2;
        }
        return 1.0f;
    }
    float amax = 0.0f;
    for (int r = 0; r < rows; r++) {
        float a = absmax(base + r * j->lq.row, NULL, d);
        amax = a > amax ? a : amax;
    }
    const bool int8 = j->qk == TD_ATTN_QK_INT8;
    const float scale = block_scale(amax, int8 ? 127.0f : 448.0f);
    float t[CHUNK];
    for (int r = 0; r < rows; r++) {
        const float *src = base + r * j->lq.row;
        for (int64_t c0 = 0; c0 < dp; c0 += CHUNK) {
            int n = (int)(dp - c0 < CHUNK ? dp - c0 : CHUNK);
            int nv = (int)(d - c0 < n ? d - c0 : n); /* real channels; the rest pad with 0 */
            if (nv > 0)
                quantize(j, int8, src + c0, NULL, &scale, 0, nv, t);
            for (int i = nv < 0 ? 0 : nv; i < n; i++)
                t[i] = 0.0f;
            if (j->qk_kind == ATT_QK_VNNI) {
                int8_t *dst = (int8_t *)buf + r * dp + c0;
                int32_t sum = 0;
                for (int i = 0; i < n; i++) {
                    dst[i] = (int8_t)t[i];
                    sum += (int32_t)t[i];
                }
                qcorr[r] = (c0 == 0 ? 0 : qcorr[r]) + 128 * sum;
            } else if (j->qk_kind == ATT_QK_BF16) {
                uint16_t *dst = (uint16_t *)buf + r * dp + c0;
                for (int i = 0; i < n; i++)
                    dst[i] = bf16_bits(t[i]);
            } else {
                memcpy((float *)buf + r * dp + c0, t, (size_t)n * sizeof(float));
            }
        }
    }
    return scale;
}
