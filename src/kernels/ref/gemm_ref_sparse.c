/* Scalar references for sparse weights: N:M over any value format, group sparsity
 * over any integer format. They read the layouts element by element (the decoders
 * in sparse/sparse_kernels.h follow formats/qmatrix_internal.h), allocate nothing,
 * and are the oracle the AVX2/AVX-512 sparse kernels are tested against.
 *
 * f32 activations: sum of value * x in double, rounded once to float.
 * Integer activations with integer weights, the semantics every fast path matches
 * bit for bit: for row r, token b,
 *     y = 0.0f
 *     for each scale group g in ascending order (N:M: groups of kept values;
 *                                               group sparsity: kept groups):
 *         acc = sum over the group of q_w * q_x          (exact, int32)
 *               - zero_g * sum over the group of q_x     (asymmetric weights)
 *         y = fmaf((float)acc, scale_g, y)
 *     y = y * act_scale[b]
 * where q_x is the activation at the weight's original position k. Sums wrap modulo
 * 2^32 like the vector instructions; the formats cap group sizes so they never do.
 * Integer activations with float weights (f32, bf16, f16, fp8): double sum of
 * value * q_x, times the token's scale. */
#include <math.h>

#include "kernels/kernels_internal.h"
#include "sparse/sparse_kernels.h"

static float nm_row_int(const td_qmatrix *w, int64_t r, const int8_t *qx, float xscale)
{
    int n = w->spec.nm_n, m = w->spec.nm_m;
    int64_t gbytes = w->gsize * td_format_get(w->spec.format)->code_bits / 8;
    const uint8_t *row = w->codes + (size_t)r * w->row_bytes;
    float y = 0.0f;
    for (int64_t g = 0; g < w->ngroups; g++) {
        uint32_t acc = 0, xsum = 0;
        for (int64_t e = 0; e < w->gsize; e++) {
            int64_t j = g * w->gsize + e;
            int x = qx[j / n * m + td_nm_index(w, r, j)];
            int c = td_sparse_int_code(w->spec.format, row + g * gbytes, w->gsize, e);
            acc += (uint32_t)(c * x);
            xsum += (uint32_t)x;
        }
        acc -= (uint32_t)td_q_zero(w, r, g) * xsum;
        y = fmaf((float)(int32_t)acc, td_q_scale(w, r, g), y);
    }
    return y * xscale;
}

/* Double dot of row r's kept values with x (f32) or q (int8 codes times xscale). */
static float nm_row_double(const td_qmatrix *w, int64_t r, const float *x, const int8_t *qx,
                           float xscale)
{
    int n = w->spec.nm_n, m = w->spec.nm_m;
    int64_t gbytes = w->gsize * td_format_get(w->spec.format)->code_bits / 8;
    const uint8_t *row = w->codes + (size_t)r * w->row_bytes;
    double acc = 0.0;
    for (int64_t g = 0; g < w->ngroups; g++) {
        float s = td_q_scale(w, r, g);
        int z = td_q_zero(w, r, g);
        for (int64_t e = 0; e < w->gsize; e++) {
            int64_t j = g * w->gsize + e;
            int64_t k = j / n * m + td_nm_index(w, r, j);
            double v = td_sparse_elem_value(w->spec.format, row + g * gbytes, w->gsize, e, s, z);
            acc += v * (x ? (double)x[k] : (double)qx[k]);
        }
    }
    return x ? (float)acc : (float)(acc * xscale);
}

void td_gemm_nm_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                    int64_t r1)
{
    bool int_w = !td_format_get(w->spec.format)->is_float;
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t b = 0; b < a->batch; b++) {
            float v;
            if (a->type == TD_ACT_F32)
                v = nm_row_double(w, r, a->x + b * a->kpad, NULL, 1.0f);
            else if (int_w)
                v = nm_row_int(w, r, a->q + b * a->kpad, a->scale[b]);
            else
                v = nm_row_double(w, r, NULL, a->q + b * a->kpad, a->scale[b]);
            y[b * ldy + r] = v;
        }
    }
}

void td_gemm_gs_ref(const td_qmatrix *w, const td_act *a, float *y, int64_t ldy, int64_t r0,
                    int64_t r1)
{
    td_format fmt = w->spec.format;
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t b = 0; b < a->batch; b++) {
            const float *x = a->x + b * a->kpad;
            const int8_t *qx = a->q ? a->q + b * a->kpad : NULL;
            double dacc = 0.0;
            float fy = 0.0f;
            for (int64_t i = w->gs_row_ptr[r]; i < w->gs_row_ptr[r + 1]; i++) {
                const uint8_t *c = w->codes + (size_t)i * w->group_bytes;
                int64_t k0 = (int64_t)w->gs_group[i] * w->gsize;
                int z = w->zeros ? w->zeros[i] : 0;
                if (a->type == TD_ACT_F32) {
                    for (int64_t e = 0; e < w->gsize; e++)
                        dacc += (double)td_sparse_elem_value(fmt, c, w->gsize, e, w->scales[i], z) *
                                x[k0 + e];
                    continue;
                }
                uint32_t acc = 0, xsum = 0;
                for (int64_t e = 0; e < w->gsize; e++) {
                    int q = td_sparse_int_code(fmt, c, w->gsize, e);
                    acc += (uint32_t)(q * qx[k0 + e]);
                    xsum += (uint32_t)qx[k0 + e];
                }
                acc -= (uint32_t)z * xsum;
                fy = fmaf((float)(int32_t)acc, w->scales[i], fy);
            }
            y[b * ldy + r] = a->type == TD_ACT_F32 ? (float)dacc : fy * a->scale[b];
        }
    }
}
