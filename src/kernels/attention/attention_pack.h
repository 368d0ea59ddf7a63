/* Quantization and packing of attention operands (layouts in attention_internal.h), written
 * once and compiled by each ISA's file like the task loop, so that the loops vectorize to the
 * ISA's width. They use only operations every compilation rounds alike (division, additions,
 * comparisons, integer bit operations; fp8 through att_e4m3_round, or through the formats
 * module when j->formats_fp8, as for the scalar reference), so every ISA produces the same
 * codes and scales: tests/test_attention.c compares whole runs bit for bit. The work is
 * O(sequence x dim) per head, against O(sequence^2 x dim) for the products; values are
 * quantized 64 at a time into a small buffer, then stored into the kind's layout (K through a
 * row-major staging tile and a dword transpose, so that the layout's scattered stores move
 * 4 bytes at a time). */
#ifndef TD_ATTENTION_PACK_H
#define TD_ATTENTION_PACK_H

#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels/attention/attention_internal.h"
#include "tandem/formats.h"

enum { ATT_CHUNK = 64 };

/* Scale mapping amax onto qmax; an all-zero block gets 1 and tiny blocks are kept at
 * FLT_MIN so that x / scale never divides by a subnormal (as the formats module does). */
static inline float att_block_scale(float amax, float qmax)
{
    if (amax == 0.0f)
        return 1.0f;
    float s = amax / qmax;
    return s < FLT_MIN ? FLT_MIN : s;
}

/* max |x[r][i] - mean[i]| over rows r (leading dimension ld) and i < n (mean may be NULL), in
 * 16 lanes kept across rows. NaN and infinity set *nan (may be NULL): they are found through
 * y - y, which is 0 for every finite y and NaN otherwise, so that the loop stays plain
 * arithmetic the compiler vectorizes. */
static inline float att_absmax(const float *x, int64_t rows, int64_t ld, const float *mean,
                               int64_t n, int *nan)
{
    float lane[16] = {0}, chk[16] = {0};
    float m = 0.0f, c = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        int64_t i = 0;
        if (mean) {
            for (; i + 16 <= n; i += 16)
                for (int l = 0; l < 16; l++) {
                    float y = row[i + l] - mean[i + l], a = fabsf(y);
                    lane[l] = a > lane[l] ? a : lane[l];
                    chk[l] += y - y;
                }
        } else {
            for (; i + 16 <= n; i += 16)
                for (int l = 0; l < 16; l++) {
                    float y = row[i + l], a = fabsf(y);
                    lane[l] = a > lane[l] ? a : lane[l];
                    chk[l] += y - y;
                }
        }
        for (; i < n; i++) {
            float y = mean ? row[i] - mean[i] : row[i], a = fabsf(y);
            m = a > m ? a : m;
            c += y - y;
        }
    }
    for (int l = 0; l < 16; l++) {
        m = lane[l] > m ? lane[l] : m;
        c += chk[l];
    }
    if (nan && c != 0.0f)
        *nan = 1;
    return m;
}

/* t[i] = the quantized value of (x[i] - mean[i]) / scale for i < n (mean may be NULL), as a
 * float: an int8 code in [-127, 127], or an E4M3 value. */
static inline void att_quantize(const att_job *j, bool int8, const float *x, const float *mean,
                                float scale, int n, float *t)
{
    if (mean)
        for (int i = 0; i < n; i++)
            t[i] = (x[i] - mean[i]) / scale;
    else
        for (int i = 0; i < n; i++)
            t[i] = x[i] / scale;
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

static inline uint16_t att_bf16_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)(u >> 16); /* exact for E4M3 values: 4 significant bits */
}

static inline const float *att_k_row(const att_job *j, int64_t bh, int64_t key)
{
    int64_t b = bh / j->s.kv_heads, h = bh % j->s.kv_heads;
    return j->k + b * j->lk.batch + h * j->lk.head + key * j->lk.row;
}

static inline const float *att_v_row(const att_job *j, int64_t bh, int64_t key)
{
    int64_t b = bh / j->s.kv_heads, h = bh % j->s.kv_heads;
    return j->v + b * j->lv.batch + h * j->lv.head + key * j->lv.row;
}

/* Mean of K over the sequence for batch/kv head bh (kmean[bh * head_dim ...]). */
static inline void att_kmean(const att_job *j, int64_t bh)
{
    const int64_t d = j->s.head_dim;
    float *mean = j->kmean + bh * d;
    for (int64_t c0 = 0; c0 < d; c0 += ATT_CHUNK) {
        int n = (int)(d - c0 < ATT_CHUNK ? d - c0 : ATT_CHUNK);
        double acc[ATT_CHUNK] = {0};
        for (int64_t key = 0; key < j->s.kv_len; key++) {
            const float *row = att_k_row(j, bh, key) + c0;
            for (int c = 0; c < n; c++)
                acc[c] += row[c];
        }
        for (int c = 0; c < n; c++)
            mean[c0 + c] = (float)(acc[c] / (double)j->s.kv_len);
    }
}

/* Quantized K tile: codes into a row-major staging tile (stage: bk rows of dp elements of 1
 * or 2 bytes), then one dword per (key, channel group) into the kind's layout. */
static inline void att_pack_k_quantized(const att_job *j, int64_t bh, int64_t kt, int cols,
                                        uint8_t *dst, void *stage)
{
    const int64_t d = j->s.head_dim, dp = j->dp, bk = j->bk, k0 = kt * bk;
    const int64_t tile = bh * j->nk + kt;
    const float *mean = j->kmean + bh * d;
    float amax = att_absmax(att_k_row(j, bh, k0), cols, j->lk.row, mean, d, NULL);
    const bool int8 = j->qk == TD_ATTN_QK_INT8;
    const float scale = att_block_scale(amax, int8 ? 127.0f : 448.0f);
    j->kscale[tile] = scale;
    float t[ATT_CHUNK];
    for (int x = 0; x < cols; x++) {
        const float *row = att_k_row(j, bh, k0 + x);
        for (int64_t c0 = 0; c0 < dp; c0 += ATT_CHUNK) {
            int n = (int)(dp - c0 < ATT_CHUNK ? dp - c0 : ATT_CHUNK);
            int nv = (int)(d - c0 < n ? d - c0 : n); /* real channels; the rest are zero */
            if (nv > 0)
                att_quantize(j, int8, row + c0, mean + c0, scale, nv, t);
            for (int i = nv > 0 ? nv : 0; i < n; i++)
                t[i] = 0.0f;
            if (j->qk_kind == ATT_QK_VNNI) {
                uint8_t *s8 = (uint8_t *)stage + x * dp + c0;
                for (int i = 0; i < n; i++)
                    s8[i] = (uint8_t)((int)t[i] + 128);
            } else if (j->qk_kind == ATT_QK_BF16) {
                uint16_t *s16 = (uint16_t *)stage + x * dp + c0;
                for (int i = 0; i < n; i++)
                    s16[i] = att_bf16_bits(t[i]);
            } else {
                float *kt = (float *)dst + c0 * bk + x;
                for (int i = 0; i < n; i++)
                    kt[i * bk] = t[i];
            }
        }
    }
    if (j->qk_kind == ATT_QK_F32)
        return;
    /* dword c of key x: channels 4c..4c+3 (VNNI) or 2c..2c+1 (BF16) */
    const int64_t groups = j->qk_kind == ATT_QK_VNNI ? dp / 4 : dp / 2;
    uint32_t *out = (uint32_t *)dst;
    for (int x = 0; x < cols; x++) {
        const uint32_t *in = (const uint32_t *)stage + x * groups;
        for (int64_t c = 0; c < groups; c++)
            out[c * bk + x] = in[c];
    }
}

/* Packs K tile kt of batch/kv head bh; stage is the thread's staging tile. */
static inline void att_pack_k(const att_job *j, int64_t bh, int64_t kt, void *stage)
{
    const int64_t d = j->s.head_dim, k0 = kt * j->bk, bk = j->bk;
    const int cols = (int)(j->s.kv_len - k0 < bk ? j->s.kv_len - k0 : bk);
    const int64_t tile = bh * j->nk + kt;
    uint8_t *dst = j->kpack + (size_t)tile * j->ktile_bytes;
    memset(dst, 0, j->ktile_bytes);
    if (j->qk != TD_ATTN_QK_F32) {
        att_pack_k_quantized(j, bh, kt, cols, dst, stage);
        return;
    }
    j->kscale[tile] = 1.0f;
    for (int x = 0; x < cols; x++) {
        const float *row = att_k_row(j, bh, k0 + x);
        float *kt_col = (float *)dst + x;
        for (int64_t c = 0; c < d; c++)
            kt_col[c * bk] = row[c];
    }
}

/* Packs V tile kt of batch/kv head bh: f32 rows, or E4M3 with a scale per channel. */
static inline void att_pack_v(const att_job *j, int64_t bh, int64_t kt)
{
    const int64_t dv = j->s.v_dim, dvp = j->dvp, k0 = kt * j->bk, bk = j->bk;
    const int cols = (int)(j->s.kv_len - k0 < bk ? j->s.kv_len - k0 : bk);
    const int64_t tile = bh * j->nk + kt;
    uint8_t *dst = j->vpack + (size_t)tile * j->vtile_bytes;
    memset(dst, 0, j->vtile_bytes);
    if (j->pv == TD_ATTN_PV_F32) {
        for (int x = 0; x < cols; x++)
            memcpy((float *)dst + x * dvp, att_v_row(j, bh, k0 + x), (size_t)dv * sizeof(float));
        return;
    }
    float *vs = j->vscale + tile * dvp;
    for (int64_t c = dv; c < dvp; c++)
        vs[c] = 0.0f;
    for (int64_t c0 = 0; c0 < dv; c0 += ATT_CHUNK) {
        int n = (int)(dv - c0 < ATT_CHUNK ? dv - c0 : ATT_CHUNK);
        float amax[ATT_CHUNK] = {0}, scale[ATT_CHUNK], t0[ATT_CHUNK], t1[ATT_CHUNK];
        for (int x = 0; x < cols; x++) {
            const float *row = att_v_row(j, bh, k0 + x) + c0;
            for (int i = 0; i < n; i++) {
                float a = fabsf(row[i]);
                amax[i] = a > amax[i] ? a : amax[i];
            }
        }
        /* The probabilities come scaled by 448 too: both fold into one factor per channel. */
        for (int i = 0; i < n; i++) {
            scale[i] = att_block_scale(amax[i], 448.0f);
            vs[c0 + i] = scale[i] / ATT_P_SCALE;
        }
        /* keys two at a time: the BF16 layout pairs them in one dword per channel */
        for (int x = 0; x < cols; x += 2) {
            const float *r0 = att_v_row(j, bh, k0 + x) + c0;
            for (int i = 0; i < n; i++)
                t0[i] = r0[i] / scale[i];
            for (int i = 0; i < n; i++)
                t1[i] = 0.0f;
            if (x + 1 < cols) {
                const float *r1 = att_v_row(j, bh, k0 + x + 1) + c0;
                for (int i = 0; i < n; i++)
                    t1[i] = r1[i] / scale[i];
            }
            if (j->formats_fp8) {
                for (int i = 0; i < n; i++) {
                    t0[i] = td_fp8_e4m3_to_f32(td_f32_to_fp8_e4m3(t0[i], true));
                    t1[i] = td_fp8_e4m3_to_f32(td_f32_to_fp8_e4m3(t1[i], true));
                }
            } else {
                for (int i = 0; i < n; i++) {
                    t0[i] = att_e4m3_round(t0[i]);
                    t1[i] = att_e4m3_round(t1[i]);
                }
            }
            if (j->pv_kind == ATT_PV_BF16) {
                uint32_t *pair = (uint32_t *)dst + (x / 2) * dvp + c0;
                for (int i = 0; i < n; i++)
                    pair[i] = (uint32_t)att_bf16_bits(t0[i]) | (uint32_t)att_bf16_bits(t1[i]) << 16;
            } else {
                float *o0 = (float *)dst + x * dvp + c0;
                for (int i = 0; i < n; i++)
                    o0[i] = t0[i] * vs[c0 + i];
                if (x + 1 < cols)
                    for (int i = 0; i < n; i++)
                        o0[dvp + i] = t1[i] * vs[c0 + i];
            }
        }
    }
}

/* Fills the query tile of (b, h, qt) into buf (rows = valid rows) and, for VNNI, qcorr;
 * returns the tile's scale (1 for f32, whose queries are multiplied by the softmax scale and
 * log2(e) here). */
static inline float att_prepare_q(const att_job *j, int64_t b, int64_t h, int64_t qt, int rows,
                                  void *buf, int32_t *qcorr)
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
    float amax = att_absmax(base, rows, j->lq.row, NULL, d, NULL);
    const bool int8 = j->qk == TD_ATTN_QK_INT8;
    const float scale = att_block_scale(amax, int8 ? 127.0f : 448.0f);
    float t[ATT_CHUNK];
    for (int r = 0; r < rows; r++) {
        const float *src = base + r * j->lq.row;
        int32_t sum = 0;
        for (int64_t c0 = 0; c0 < dp; c0 += ATT_CHUNK) {
            int n = (int)(dp - c0 < ATT_CHUNK ? dp - c0 : ATT_CHUNK);
            int nv = (int)(d - c0 < n ? d - c0 : n); /* real channels; the rest pad with 0 */
            if (nv > 0)
                att_quantize(j, int8, src + c0, NULL, scale, nv, t);
            for (int i = nv > 0 ? nv : 0; i < n; i++)
                t[i] = 0.0f;
            if (j->qk_kind == ATT_QK_VNNI) {
                int8_t *dst = (int8_t *)buf + r * dp + c0;
                for (int i = 0; i < n; i++) {
                    dst[i] = (int8_t)t[i];
                    sum += (int32_t)t[i];
                }
            } else if (j->qk_kind == ATT_QK_BF16) {
                uint16_t *dst = (uint16_t *)buf + r * dp + c0;
                for (int i = 0; i < n; i++)
                    dst[i] = att_bf16_bits(t[i]);
            } else {
                memcpy((float *)buf + r * dp + c0, t, (size_t)n * sizeof(float));
            }
        }
        qcorr[r] = 128 * sum;
    }
    return scale;
}

#endif
