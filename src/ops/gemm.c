/* Gemm and MatMul: f32 through single-threaded OpenBLAS calls spread over OpenMP threads;
 * a compressed constant weight (n->qweight) through td_gemm. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/blas.h"
#include "kernels/sgemm_packed.h"
#include "ops/nn_internal.h"

/* Y[m0..m1) = op(A) rows m0..m1 times B (K x N row-major, or N x K when transB); beta 0 or 1. */
static void sgemm_rows(bool ta, bool tb, int64_t m0, int64_t m1, int64_t M, int64_t N, int64_t K,
                       float alpha, const float *a, const float *b, float beta, float *y)
{
    int64_t rows = m1 - m0;
    if (rows <= 0 || N == 0)
        return;
    const float *ar = ta ? a + m0 : a + m0 * K;
    int64_t lda = ta ? M : K;
    float *yr = y + m0 * N;
    if (K == 0) {
        for (int64_t i = 0; i < rows * N; i++)
            yr[i] = beta == 0 ? 0.0f : yr[i];
        return;
    }
    if (rows == 1 && !ta) {
        /* OpenBLAS's sgemm with one row is several times slower than its sgemv. */
        cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, (blasint)(tb ? N : K),
                    (blasint)(tb ? K : N), alpha, b, (blasint)(tb ? K : N), ar, 1, beta, yr, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)rows, (blasint)N, (blasint)K, alpha, ar, (blasint)lda, b,
                (blasint)(tb ? K : N), beta, yr, (blasint)N);
}

/* Y[:, n0..n1) = op(A) times columns n0..n1 of B; beta 0 or 1. Splitting the columns (the
 * weight's output features) between threads lets each pack only its share of B: with the
 * short, wide products of a transformer at batch 1 (M = 128 tokens, B 384 x 1536), splitting
 * rows made every thread pack all of B. */
static void sgemm_cols(bool ta, bool tb, int64_t n0, int64_t n1, int64_t M, int64_t N, int64_t K,
                       float alpha, const float *a, const float *b, float beta, float *y)
{
    int64_t cols = n1 - n0;
    if (cols <= 0 || M == 0 || K == 0)
        return;
    const float *bc = tb ? b + n0 * K : b + n0;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)M, (blasint)cols, (blasint)K, alpha, a, (blasint)(ta ? M : K), bc,
                (blasint)(tb ? K : N), beta, y + n0, (blasint)N);
}

/* ---- Gemm ---- */

typedef struct gemm_params {
    float alpha, beta;
    int64_t ta, tb;
    int64_t m, n, k;
    /* A constant f32 weight packed once at prepare for td_sgemm_packed_run, when the product
     * has the form it serves: no transposed A, alpha 1, C absent or a bias row with beta 1. */
    bool packed_ok;
    td_sgemm_packed packed;
    const float *bias; /* C's data when it is an [N] or [1, N] constant bias, else NULL */
} gemm_params;

static void gemm_free_params(void *params)
{
    gemm_params *p = params;
    td_sgemm_packed_free(&p->packed);
    free(p);
}

/* A C that is one row of N values added to every output row. */
static bool is_bias_row(const td_value *c, int64_t n)
{
    return c && c->kind == TD_VALUE_CONST && c->data &&
           ((c->ndim == 1 && c->shape[0] == n) ||
            (c->ndim == 2 && c->shape[0] == 1 && c->shape[1] == n));
}

/* Packs B when it is a constant and the product is big enough for the packing to pay. */
static td_status maybe_pack(td_graph *g, const td_node *n, gemm_params *p)
{
    const td_value *b = td_node_in(g, n, 1), *c = td_node_in(g, n, 2);
    p->packed_ok = false;
    memset(&p->packed, 0, sizeof p->packed);
    bool c_ok = !c || p->beta == 0.0f || (p->beta == 1.0f && is_bias_row(c, p->n));
    if (b->kind != TD_VALUE_CONST || !b->data || p->ta || p->alpha != 1.0f || !c_ok || p->n < 16 ||
        p->k < 8 || p->m * p->n * p->k < (1 << 16))
        return TD_OK;
    td_status st = p->tb ? td_sgemm_pack(b->data, p->n, p->k, &p->packed)
                         : td_sgemm_pack_kn(b->data, p->k, p->n, &p->packed);
    if (st) {
        td_status e = td_node_error(n, td_status_code(st), "%s", td_status_message(st));
        td_status_free(st);
        return e;
    }
    p->bias = (c && p->beta != 0.0f) ? c->data : NULL;
    p->packed_ok = true;
    return TD_OK;
}

static td_status check_qweight(const td_node *n, int64_t rows, int64_t cols)
{
    if (!n->qweight)
        return TD_OK;
    if (td_qmatrix_rows(n->qweight) != rows || td_qmatrix_cols(n->qweight) != cols)
        return td_node_error(
            n, TD_CODE_INVALID_ARGUMENT, "compressed weight is %lld x %lld, expected %lld x %lld",
            (long long)td_qmatrix_rows(n->qweight), (long long)td_qmatrix_cols(n->qweight),
            (long long)rows, (long long)cols);
    return TD_OK;
}

static td_status gemm_prepare(td_graph *g, td_node *n)
{
    TD_TRY(td_ops_require_f32(g, n, 0));
    TD_TRY(td_ops_require_f32(g, n, 1));
    gemm_params p;
    memset(&p, 0, sizeof p);
    TD_TRY(td_attr_float(n, "alpha", 1.0f, &p.alpha));
    TD_TRY(td_attr_float(n, "beta", 1.0f, &p.beta));
    TD_TRY(td_attr_int(n, "transA", 0, &p.ta));
    TD_TRY(td_attr_int(n, "transB", 0, &p.tb));
    const td_value *a = td_node_in(g, n, 0), *b = td_node_in(g, n, 1), *c = td_node_in(g, n, 2);
    if (a->ndim != 2 || b->ndim != 2)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "A and B must be 2-D (got rank %d and %d)", a->ndim, b->ndim);
    p.m = p.ta ? a->shape[1] : a->shape[0];
    p.k = p.ta ? a->shape[0] : a->shape[1];
    int64_t kb = p.tb ? b->shape[1] : b->shape[0];
    p.n = p.tb ? b->shape[0] : b->shape[1];
    if (kb != p.k)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "weight shape mismatch: A gives K = %lld, B gives K = %lld",
                             (long long)p.k, (long long)kb);
    int64_t shape[2] = {p.m, p.n};
    if (c) {
        TD_TRY(td_ops_require_f32(g, n, 2));
        int nd;
        int64_t bs[TD_MAX_DIMS];
        TD_TRY(td_broadcast_shape(n, 2, shape, c->ndim, c->shape, &nd, bs));
        if (nd != 2 || bs[0] != p.m || bs[1] != p.n)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "C ('%s') does not broadcast to [%lld, %lld]", c->name,
                                 (long long)p.m, (long long)p.n);
    }
    TD_TRY(check_qweight(n, p.n, p.k));
    gemm_params *pp = calloc(1, sizeof *pp);
    if (!pp)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    *pp = p;
    td_ops_set_params(n, pp);
    TD_TRY(maybe_pack(g, n, pp));
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, 2, shape);
    return TD_OK;
}

/* y = scale * y + beta * C (broadcast), or y = beta * C when overwrite. */
static void add_c(const td_view *c, float beta, float scale, bool overwrite, td_view *y)
{
    const td_view *ins[1] = {c};
    td_bcast bc;
    td_status st = td_bcast_init(&bc, 1, ins, y);
    td_status_free(st); /* shapes were checked at prepare */
    float *yd = y->data;
    const float *cd = c->data;
    for (int64_t r = 0; r < bc.outer; r++) {
        int64_t off;
        td_bcast_run_offsets(&bc, r, &off);
        float *yr = yd + r * bc.inner;
        for (int64_t i = 0; i < bc.inner; i++) {
            float cv = beta * cd[off + i * bc.inner_step[0]];
            yr[i] = overwrite ? cv : scale * yr[i] + cv;
        }
    }
}

static int row_blocks(td_op_run *rc, int64_t batch, int64_t m, int64_t work, int *threads)
{
    *threads = td_ops_threads(rc, work);
    int64_t blocks = batch >= *threads ? 1 : (*threads + batch - 1) / batch;
    if (blocks > m)
        blocks = m > 0 ? m : 1;
    return (int)blocks;
}

static td_status gemm_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const gemm_params *p = n->params;
    if (!p)
        return td_node_error(n, TD_CODE_INTERNAL, "run before prepare");
    const float *a = in[0].data, *b = in[1].data;
    bool has_c = n->n_inputs > 2 && in[2].data && p->beta != 0.0f;
    float *y = out[0].data;
    if (p->m * p->n == 0)
        return TD_OK;
    if (n->qweight) {
        TD_TRY(check_qweight(n, p->n, p->k));
        const float *x = a;
        if (p->ta) {
            float *t;
            TD_TRY(td_op_scratch(rc, (size_t)(p->m * p->k) * sizeof(float), (void **)&t));
            for (int64_t i = 0; i < p->m; i++)
                for (int64_t j = 0; j < p->k; j++)
                    t[i * p->k + j] = a[j * p->m + i];
            x = t;
        }
        TD_TRY(td_op_qgemm(rc, n->qweight, n->act, x, p->m, y));
        if (has_c)
            add_c(&in[2], p->beta, p->alpha, false, &out[0]);
        else if (p->alpha != 1.0f)
            for (int64_t i = 0; i < p->m * p->n; i++)
                y[i] *= p->alpha;
        return TD_OK;
    }
    if (p->packed_ok) {
        return td_sgemm_packed_run(rc->ctx, a, p->m, &p->packed, p->bias, y);
    }
    if (has_c)
        add_c(&in[2], p->beta, 0.0f, true, &out[0]);
    int threads;
    td_blas_set_threads(1);
    if (p->m > 1 && p->k > 0 && p->n >= p->m && p->n >= 64) {
        int nc = row_blocks(rc, 1, p->n / 16, p->m * p->n * p->k, &threads);
#pragma omp parallel for num_threads(threads) if (threads > 1)
        for (int blk = 0; blk < nc; blk++) /* column blocks, multiples of 16 */
            sgemm_cols(p->ta, p->tb, p->n * blk / nc / 16 * 16,
                       blk + 1 == nc ? p->n : p->n * (blk + 1) / nc / 16 * 16, p->m, p->n, p->k,
                       p->alpha, a, b, has_c ? 1.0f : 0.0f, y);
        return TD_OK;
    }
    int nb = row_blocks(rc, 1, p->m, p->m * p->n * p->k, &threads);
#pragma omp parallel for num_threads(threads) if (threads > 1)
    for (int blk = 0; blk < nb; blk++)
        sgemm_rows(p->ta, p->tb, p->m * blk / nb, p->m * (blk + 1) / nb, p->m, p->n, p->k, p->alpha,
                   a, b, has_c ? 1.0f : 0.0f, y);
    return TD_OK;
}

static void gemm_cost(const td_graph *g, td_node *n)
{
    const gemm_params *p = n->params;
    n->cost.params = td_ops_const_params(g, n);
    n->cost.macs = p ? p->m * p->n * p->k : 0;
    n->cost.flops_other = 0;
}

const td_op_def td_op_gemm = {"Gemm",    TD_OPC_GEMM,     2, 3, 1, 1, 0, gemm_prepare, gemm_run,
                              gemm_cost, gemm_free_params};

/* ---- MatMul (numpy semantics) ---- */

typedef struct matmul_params {
    int64_t m, n, k;
    /* Leading (batch) dims of A, B and the output, right-aligned to the output's. */
    int nb;
    td_view ba, bb, bo; /* shapes only */
    int64_t batch;
} matmul_params;

static td_status matmul_prepare(td_graph *g, td_node *n)
{
    TD_TRY(td_ops_require_f32(g, n, 0));
    TD_TRY(td_ops_require_f32(g, n, 1));
    const td_value *a = td_node_in(g, n, 0), *b = td_node_in(g, n, 1);
    if (a->ndim < 1 || b->ndim < 1)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "inputs must have rank >= 1");
    matmul_params p;
    memset(&p, 0, sizeof p);
    p.k = a->shape[a->ndim - 1];
    p.m = a->ndim >= 2 ? a->shape[a->ndim - 2] : 1;
    int64_t kb = b->ndim >= 2 ? b->shape[b->ndim - 2] : b->shape[0];
    p.n = b->ndim >= 2 ? b->shape[b->ndim - 1] : 1;
    if (kb != p.k)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "weight shape mismatch: A has K = %lld, B has K = %lld",
                             (long long)p.k, (long long)kb);
    int na = a->ndim >= 2 ? a->ndim - 2 : 0, nbd = b->ndim >= 2 ? b->ndim - 2 : 0;
    p.ba.ndim = na;
    memcpy(p.ba.shape, a->shape, (size_t)na * sizeof(int64_t));
    p.bb.ndim = nbd;
    memcpy(p.bb.shape, b->shape, (size_t)nbd * sizeof(int64_t));
    TD_TRY(td_broadcast_shape(n, na, a->shape, nbd, b->shape, &p.nb, p.bo.shape));
    p.bo.ndim = p.nb;
    p.batch = td_shape_numel(p.nb, p.bo.shape);
    int64_t shape[TD_MAX_DIMS];
    int nd = p.nb;
    memcpy(shape, p.bo.shape, (size_t)nd * sizeof(int64_t));
    if (a->ndim >= 2)
        shape[nd++] = p.m;
    if (b->ndim >= 2)
        shape[nd++] = p.n;
    if (n->qweight) {
        if (b->ndim != 2)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                                 "a compressed weight needs a 2-D B (got rank %d)", b->ndim);
        TD_TRY(check_qweight(n, p.n, p.k));
    }
    matmul_params *pp = malloc(sizeof *pp);
    if (!pp)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory");
    *pp = p;
    td_ops_set_params(n, pp);
    td_value_set_shape(td_node_out(g, n, 0), TD_DT_F32, nd, shape);
    return TD_OK;
}

static td_status matmul_run(td_op_run *rc, const td_node *n, const td_view *in, td_view *out)
{
    const matmul_params *p = n->params;
    if (!p)
        return td_node_error(n, TD_CODE_INTERNAL, "run before prepare");
    const float *a = in[0].data, *b = in[1].data;
    float *y = out[0].data;
    int64_t mn = p->m * p->n;
    if (p->batch * mn == 0)
        return TD_OK;
    if (n->qweight) {
        TD_TRY(check_qweight(n, p->n, p->k));
        if (in[1].ndim != 2)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "a compressed weight needs a 2-D B");
        return td_op_qgemm(rc, n->qweight, n->act, a, p->batch * p->m, y);
    }
    const td_view *ins[2] = {&p->ba, &p->bb};
    td_bcast bc;
    td_status st = td_bcast_init(&bc, 2, ins, &p->bo);
    if (st) {
        td_status e = td_node_error(n, TD_CODE_INTERNAL, "%s", td_status_message(st));
        td_status_free(st);
        return e;
    }
    int threads;
    int nb = row_blocks(rc, p->batch, p->m, p->batch * mn * p->k, &threads);
    int64_t items = p->batch * nb;
    td_blas_set_threads(1);
#pragma omp parallel for num_threads(threads) if (threads > 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t bi = it / nb, blk = it % nb;
        int64_t run = bi / bc.inner, j = bi % bc.inner, off[2];
        td_bcast_run_offsets(&bc, run, off);
        const float *ab = a + (off[0] + j * bc.inner_step[0]) * p->m * p->k;
        const float *bb = b + (off[1] + j * bc.inner_step[1]) * p->k * p->n;
        sgemm_rows(false, false, p->m * blk / nb, p->m * (blk + 1) / nb, p->m, p->n, p->k, 1.0f, ab,
                   bb, 0.0f, y + bi * mn);
    }
    return TD_OK;
}

static void matmul_cost(const td_graph *g, td_node *n)
{
    const matmul_params *p = n->params;
    n->cost.params = td_ops_const_params(g, n);
    n->cost.macs = p ? p->batch * p->m * p->n * p->k : 0;
    n->cost.flops_other = 0;
}

const td_op_def td_op_matmul = {"MatMul", TD_OPC_GEMM,    2,          2,           1,   1,
                                0,        matmul_prepare, matmul_run, matmul_cost, NULL};

/* ---- the weight as the compressor sees it ---- */

td_status td_node_weight_matrix(const td_graph *g, const td_node *n, float **w, int64_t *rows,
                                int64_t *cols)
{
    *w = NULL;
    if (n->n_inputs < 2 || n->inputs[1] < 0)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "no weight input");
    const td_value *v = &g->values[n->inputs[1]];
    if (v->dtype != TD_DT_F32 || !v->data || v->ndim < 1)
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT,
                             "weight '%s' is not a constant f32 tensor", v->name);
    const char *op = n->def ? n->def->name : n->op_type;
    bool transpose;
    if (strcmp(op, "Conv") == 0 || strcmp(op, "DeformConv") == 0) { /* same weight layout */
        if (v->ndim < 3)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "weight '%s' has rank %d", v->name,
                                 v->ndim);
        *rows = v->shape[0];
        *cols = td_shape_numel(v->ndim - 1, v->shape + 1);
        transpose = false;
    } else if (strcmp(op, "Gemm") == 0 || strcmp(op, "MatMul") == 0) {
        int64_t tb = 0;
        if (op[0] == 'G')
            TD_TRY(td_attr_int(n, "transB", 0, &tb));
        if (v->ndim != 2)
            return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "weight '%s' must be 2-D (rank %d)",
                                 v->name, v->ndim);
        transpose = !tb;
        *rows = tb ? v->shape[0] : v->shape[1];
        *cols = tb ? v->shape[1] : v->shape[0];
    } else {
        return td_node_error(n, TD_CODE_INVALID_ARGUMENT, "not a Conv, DeformConv, Gemm or MatMul");
    }
    size_t count, bytes;
    TD_TRY(td_elem_count(*rows, *cols, n->name, &count));
    TD_TRY(td_size_mul(count, sizeof(float), &bytes));
    float *m = malloc(bytes ? bytes : 1);
    if (!m)
        return td_node_error(n, TD_CODE_OUT_OF_MEMORY, "out of memory for the weight matrix");
    const float *src = v->data;
    if (!transpose)
        memcpy(m, src, bytes);
    else
        for (int64_t r = 0; r < *rows; r++)
            for (int64_t c = 0; c < *cols; c++)
                m[r * *cols + c] = src[c * *rows + r];
    *w = m;
    return TD_OK;
}
