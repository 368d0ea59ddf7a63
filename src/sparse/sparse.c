/* Entry points of the sparse module: compression of N:M and group-sparse matrices
 * (nm.c, group_sparse.c, prune.c) and the table of sparse kernels. */
#include "sparse/sparse_internal.h"
#include "sparse/sparse_kernels.h"

td_status td_sparse_quantize(td_qmatrix *q, const td_qspec *spec, const float *w, int64_t ld)
{
    /* The generic driver already validated N:M / fraction ranges and finite weights. */
    TD_TRY(td_sparse_check_importance(spec->importance, q->cols));
    if (spec->sparsity == TD_SPARSE_NM)
        return td_nm_quantize(q, w, ld, spec->importance);
    if (spec->sparsity == TD_SPARSE_GROUP)
        return td_gs_quantize(q, w, ld, spec->importance);
    return td_error_new(TD_CODE_INVALID_ARGUMENT, "sparsity %d is not a sparse layout",
                        (int)spec->sparsity);
}

td_status td_sparse_dequantize(const td_qmatrix *q, float *out)
{
    if (q->spec.sparsity == TD_SPARSE_NM)
        return td_nm_dequantize(q, out);
    if (q->spec.sparsity == TD_SPARSE_GROUP)
        return td_gs_dequantize(q, out);
    return td_error_new(TD_CODE_INVALID_ARGUMENT, "matrix is not sparse");
}

/* The AVX-512 N:M kernels decode indices and gather activations with VBMI byte
 * permutes, which the AVX-512 ISA level does not promise. */
static bool have_vbmi(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vbmi");
}

td_gemm_kernel td_sparse_kernel(td_format fmt, td_sparsity sp, td_isa isa, td_act_type act)
{
    if ((int)act < 0 || act >= TD_ACT_COUNT)
        return NULL;
    bool f32 = act == TD_ACT_F32;
    if (sp == TD_SPARSE_NM) {
        if (isa == TD_ISA_SCALAR)
            return td_gemm_nm_ref;
        if (fmt != TD_INT8)
            return NULL;
        if (isa == TD_ISA_AVX2)
            return f32 ? td_gemm_nm_int8_f32_avx2 : td_gemm_nm_int8_a8_avx2;
        if (isa == TD_ISA_AVX512 && have_vbmi())
            return f32 ? td_gemm_nm_int8_f32_avx512 : td_gemm_nm_int8_a8_avx512;
        return NULL;
    }
    if (sp == TD_SPARSE_GROUP) {
        if (isa == TD_ISA_SCALAR)
            return td_gemm_gs_ref;
        if (fmt != TD_INT4)
            return NULL;
        if (isa == TD_ISA_AVX2)
            return f32 ? td_gemm_gs_int4_f32_avx2 : td_gemm_gs_int4_a8_avx2;
        if (isa == TD_ISA_AVX512)
            return f32 ? td_gemm_gs_int4_f32_avx512 : td_gemm_gs_int4_a8_avx512;
        return NULL;
    }
    return NULL;
}
