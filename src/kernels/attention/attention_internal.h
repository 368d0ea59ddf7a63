/* Shared between the attention driver (attention.c), the predictor (attention_predict.c), the
 * scalar reference tiles (kernels/ref/attention_ref.c) and the per-ISA tiles
 * (attention_avx2.c, attention_avx512.c); the task loop and the packing that every ISA file
 * compiles are in attention_task.h and attention_pack.h.
 *
 * ---- Packed operands (one copy per batch and kv head, made once per call) ----
 * K tiles, kind ATT_QK_F32: float kt[d][block_k], key j of the tile in column j (zero past
 *   kv_len). Holds f32 keys, int8 codes as floats (exact: every partial sum of products of
 *   codes stays below 2^24 for head_dim <= 1040) or decoded E4M3 values.
 * K tiles, ATT_QK_VNNI: uint8 kp[dp / 4][block_k][4]: codes + 128 (vpdpbusd's unsigned
 *   operand), the dword of key j holding channels 4c..4c+3, so one 64-byte load feeds 16 keys
 *   and each query dword is a broadcast memory operand.
 * K tiles, ATT_QK_BF16: uint16 kp[dp / 2][block_k][2]: bf16 images of E4M3 values (exact).
 * V tiles, ATT_PV_F32: float v[block_k][dvp] rows, zero past kv_len and past v_dim. For fp8 P.V
 *   without BF16 these hold the dequantized E4M3 values times vscale / 448.
 * V tiles, ATT_PV_BF16: uint16 vp[block_k / 2][dvp][2]: keys 2m and 2m+1 of channel c side by
 *   side, so vdpbf16ps sums two keys per lane; vscale[dvp] per tile is scale / 448.
 *
 * ---- Query tiles (made per task, in the thread's buffer) ----
 * ATT_QK_F32: float [block_q][dp] (f32 queries times the softmax scale, or int8 codes, or
 * decoded E4M3 values); ATT_QK_VNNI: int8 [block_q][dp] codes, with qcorr[r] = 128 * the sum
 * of row r's codes, which undoes the +128 of the keys; ATT_QK_BF16: uint16 [block_q][dp].
 * Channels past head_dim are zero. The score of a quantized tile pair is
 * dot * (q scale * k scale * softmax scale * log2(e)). */
#ifndef TD_ATTENTION_INTERNAL_H
#define TD_ATTENTION_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem/attention.h"

#define ATT_P_SCALE 448.0f /* P (<= 1) times this fills E4M3's range */

typedef enum att_qk_kind { ATT_QK_F32 = 0, ATT_QK_VNNI, ATT_QK_BF16 } att_qk_kind;
typedef enum att_pv_kind { ATT_PV_F32 = 0, ATT_PV_BF16 } att_pv_kind;

typedef struct att_job {
    td_attn_shape s; /* v_dim resolved */
    const float *q, *k, *v;
    float *out;
    td_attn_layout lq, lk, lv, lo;
    const float *bias;
    int64_t bs[4];
    const uint8_t *mask;
    float scale;      /* of the scores (natural units) */
    float scale2;     /* scale * log2(e): the kernels keep scores in log2 units */
    bool formats_fp8; /* quantize through the formats module (scalar reference) */
    bool causal;
    int64_t offset;
    int bq, bk;
    int64_t nq, nk;
    td_attn_qk qk;
    td_attn_pv pv;
    att_qk_kind qk_kind;
    att_pv_kind pv_kind;
    int64_t dp;    /* head_dim padded for the kind: 1, 4 (VNNI) or 2 (BF16) */
    int64_t dvp;   /* v_dim padded to 16 */
    int64_t group; /* q_heads / kv_heads */
    /* packed K and V, per (b * kv_heads + kvh) nk tiles */
    uint8_t *kpack, *vpack;
    size_t ktile_bytes, vtile_bytes;
    float *kscale; /* [B * Hkv * nk]: K tile scales (1 for f32) */
    float *kmean;  /* quantized QK: [B * Hkv * head_dim] */
    float *vscale; /* fp8 PV: [B * Hkv * nk * dvp] */
} att_job;

/* One thread's working memory for a task. */
typedef struct att_buf {
    void *q;              /* query tile, bq * dp * 4 bytes */
    float *s;             /* scores / probabilities, bq * bk */
    uint32_t *p2;         /* bf16 pairs of probabilities, bq * bk / 2 */
    float *o;             /* output accumulator, bq * dvp */
    float *m, *l, *alpha; /* per row: running max, running sum, this tile's rescale */
    float *shift;         /* per row: the max subtracted in this tile */
    int32_t *qcorr;       /* VNNI: per row, 128 * sum of the query codes */
    void *stage;          /* packing: staging tile, bk * dp * 2 bytes */
} att_buf;

/* The tile kernels of one ISA. Rows are the query rows of the task (<= bq); all work over the
 * full bk columns of a tile (padding keys are masked afterwards). */
typedef struct att_kernels {
    /* s[r][j] = sum_d q[r][d] * kt[d][j] for r < rows, j < bk (ld of s: bk) */
    void (*qk_f32)(const float *q, int64_t dp, int rows, const float *kt, int bk, float *s);
    /* s[r][j] = (sum_d q[r][d] * (k[j][d] + 128) - qcorr[r]) * f, q signed codes */
    void (*qk_vnni)(const int8_t *q, int64_t dp, int rows, const uint8_t *kp, int bk,
                    const int32_t *qcorr, float f, float *s);
    /* s[r][j] = (sum_d q[r][d] * k[j][d]) * f over bf16 pairs */
    void (*qk_bf16)(const uint16_t *q, int64_t dp, int rows, const uint16_t *kp, int bk, float f,
                    float *s);
    /* o[r][:] = alpha[r] * o[r][:] + sum_j p[r][j] * v[j][:] (ld of o and v: dvp) */
    void (*pv_f32)(const float *p, int rows, int bk, const float *v, int64_t dvp,
                   const float *alpha, float *o);
    /* o[r][c] = alpha[r] * o[r][c] + vs[c] * sum_j p[r][j] * v[j][c] over bf16 pairs */
    void (*pv_bf16)(const uint32_t *p2, int rows, int bk, const uint16_t *vp, int64_t dvp,
                    const float *alpha, const float *vs, float *o);
    /* p2 = bf16 images of rows x bk probabilities (exact: they are E4M3 values) */
    void (*pack_p2)(int rows, int bk, const float *s, uint32_t *p2);
    /* the online softmax step over rows x bk scores (see att_softmax_rows) */
    void (*softmax)(const att_job *j, int rows, float *s, att_buf *buf);
} att_kernels;

/* Checks args and opts (shapes, layouts, tile sizes, finite inputs that cannot overflow;
 * V and the output only when full, the predictor needs neither) and fills the job's shape,
 * operands, masks and tile grid (attention.c). */
td_status td_att_check_args(const td_attn_args *a, const td_attn_opts *o, bool full, td_isa isa,
                            att_job *j);

/* What each ISA's file provides (kernels/ref/attention_ref.c, attention_avx2.c,
 * attention_avx512.c): the task loop and the packing, both compiled for that ISA. */
typedef struct att_isa {
    /* runs task t (a batch, head and query tile) of the job */
    void (*task)(const att_job *j, int64_t t, att_buf *b);
    /* K's mean over the sequence for batch/kv head bh (quantized Q.K) */
    void (*kmean)(const att_job *j, int64_t bh);
    /* packs K and V tile kt of batch/kv head bh; stage: bk * dp * 2 bytes of the thread's */
    void (*pack_kv)(const att_job *j, int64_t bh, int64_t kt, void *stage);
    /* max |x| over rows of n floats (leading dimension ld); NaNs set *nan */
    float (*absmax)(const float *x, int64_t rows, int64_t ld, int64_t n, int *nan);
} att_isa;

extern const att_isa td_att_isa_ref, td_att_isa_avx2, td_att_isa_avx512;

/* The E4M3 value nearest x (round to nearest even, subnormals included, saturating at
 * +-448), as a float: equal to td_fp8_e4m3_to_f32(td_f32_to_fp8_e4m3(x, true)) for finite x.
 * Written with arithmetic and selects only, so that loops over it vectorize; the scalar
 * reference uses the formats module's conversion instead and tests/test_attention.c checks
 * the two agree on a dense sweep of floats and through whole attention runs. */
static inline float att_e4m3_round(float x)
{
    union {
        float f;
        uint32_t u;
    } b = {x};
    uint32_t sign = b.u & 0x80000000u;
    b.u ^= sign;
    /* normal range: round the mantissa to 3 bits, ties to even */
    union {
        float f;
        uint32_t u;
    } n = {.u = (b.u + 0x7ffffu + ((b.u >> 20) & 1u)) & 0xfff00000u};
    /* below 2^-6 the E4M3 grid is uniform, 2^-9: adding 2^14 rounds to that grid exactly */
    float sub = (b.f + 16384.0f) - 16384.0f;
    float y = b.f < 0.015625f ? sub : n.f;
    y = y < 448.0f ? y : 448.0f;
    union {
        float f;
        uint32_t u;
    } out = {y};
    out.u |= sign;
    return out.f;
}

/* att_e4m3_round for x in [0, 448] (the scaled probabilities): no sign, no saturation. */
static inline float att_e4m3_round_pos(float x)
{
    union {
        float f;
        uint32_t u;
    } n = {x};
    n.u = (n.u + 0x7ffffu + ((n.u >> 20) & 1u)) & 0xfff00000u;
    float sub = (x + 16384.0f) - 16384.0f;
    return x < 0.015625f ? sub : n.f;
}

/* Round to nearest even integer for |x| < 2^22 (the 1.5 * 2^23 trick): plain additions, so it
 * vectorizes on every ISA and gives the same result everywhere. */
static inline float att_round(float x)
{
    return (x + 12582912.0f) - 12582912.0f;
}

#define ATT_LOG2E 1.44269504088896341f

/* 2^x for x <= 0 (scores are kept in log2 units, max already subtracted). Below -127 (and
 * -inf) the exponent field is 0, which makes the result exactly 0, so masked keys weigh
 * nothing. 2^f on [-1/2, 1/2] is the degree-6 Taylor polynomial of e^(f ln 2) (truncation
 * below 1.2e-7 relative) evaluated with fmaf, which every ISA turns into one fused
 * multiply-add, so all compilations give the same bits. */
static inline float att_exp2(float x)
{
    float xc = x > -127.0f ? x : -127.0f;
    float n = att_round(xc);
    float f = xc - n;
    float p = 1.5403530393381608e-4f;
    p = fmaf(p, f, 1.3333558146428443e-3f);
    p = fmaf(p, f, 9.6181291076284772e-3f);
    p = fmaf(p, f, 5.5504108664821580e-2f);
    p = fmaf(p, f, 2.4022650695910071e-1f);
    p = fmaf(p, f, 6.9314718055994531e-1f);
    p = fmaf(p, f, 1.0f);
    union {
        float f;
        int32_t i;
    } e = {.i = ((int32_t)n + 127) << 23};
    return p * e.f;
}

#endif
