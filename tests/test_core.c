/* Core services: status objects, checked sizes, aligned allocation, CPU features,
 * contexts and tensors. */
#include <string.h>

#include "td_test.h"

static void status_carries_code_and_message(void)
{
    td_status st = td_error_new(TD_CODE_INVALID_ARGUMENT, "group size %d", 0);
    TD_CHECK(td_status_code(st) == TD_CODE_INVALID_ARGUMENT, "code");
    TD_CHECK(strcmp(td_status_message(st), "group size 0") == 0, "message '%s'",
             td_status_message(st));
    td_status_free(st);
    TD_CHECK(td_status_code(TD_OK) == TD_CODE_OK, "ok code");
    TD_CHECK(strcmp(td_status_message(TD_OK), "ok") == 0, "ok message");
}

static void sizes_reject_overflow(void)
{
    size_t n;
    TD_CHECK_ERROR(td_size_mul(SIZE_MAX / 2, 3, &n), TD_CODE_OVERFLOW, "overflows");
    TD_CHECK_ERROR(td_size_add(SIZE_MAX, 1, &n), TD_CODE_OVERFLOW, "overflows");
    TD_CHECK_OK(td_size_mul(1 << 20, 1 << 20, &n));
    TD_CHECK(n == (size_t)1 << 40, "1M x 1M");
    TD_CHECK_ERROR(td_elem_count(0, 5, "weights", &n), TD_CODE_INVALID_ARGUMENT, "weights");
    TD_CHECK_ERROR(td_elem_count(-3, 5, "weights", &n), TD_CODE_INVALID_ARGUMENT, "positive");
    TD_CHECK_ERROR(td_elem_count((int64_t)1 << 50, 5, "weights", &n), TD_CODE_OVERFLOW, "large");
}

static void allocation_is_aligned_and_zeroed(void)
{
    for (size_t bytes = 1; bytes < 5000; bytes = bytes * 3 + 1) {
        unsigned char *p;
        TD_CHECK_OK(td_alloc(bytes, (void **)&p));
        TD_CHECK(((uintptr_t)p % TD_ALIGN) == 0, "alignment of %zu bytes", bytes);
        int zero = 1;
        for (size_t i = 0; i < bytes; i++)
            zero &= p[i] == 0;
        TD_CHECK(zero, "zero-filled");
        td_free(p);
    }
    void *p;
    TD_CHECK_ERROR(td_alloc((size_t)1 << 60, &p), TD_CODE_OVERFLOW, "absurdly");
}

static void cpu_and_context(void)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    TD_CHECK(cpu.model[0] != '\0', "model string");
    TD_CHECK(cpu.best >= TD_ISA_SCALAR && cpu.best < TD_ISA_COUNT, "best isa");
    td_isa isa;
    TD_CHECK_OK(td_isa_parse("scalar", &cpu, &isa));
    TD_CHECK(isa == TD_ISA_SCALAR, "scalar");
    TD_CHECK_OK(td_isa_parse("auto", &cpu, &isa));
    TD_CHECK(isa == cpu.best, "auto");
    TD_CHECK_ERROR(td_isa_parse("neon", &cpu, &isa), TD_CODE_INVALID_ARGUMENT, "neon");
    td_ctx ctx = td_ctx_default();
    TD_CHECK(ctx.threads >= 1, "threads");
    TD_CHECK(ctx.isa <= cpu.best, "ctx isa");
    TD_CHECK_ERROR(td_ctx_set_threads(&ctx, 0), TD_CODE_INVALID_ARGUMENT, "--threads");
    TD_CHECK_ERROR(td_ctx_set_threads(&ctx, 100000), TD_CODE_INVALID_ARGUMENT, "--threads");
    TD_CHECK_OK(td_ctx_set_threads(&ctx, 2));
    TD_CHECK(ctx.threads == 2, "set threads");
}

static void tensors(void)
{
    td_tensor t;
    int64_t shape[3] = {2, 3, 5};
    TD_CHECK_OK(td_tensor_new(TD_F32, 3, shape, &t));
    TD_CHECK(td_tensor_numel(&t) == 30, "numel");
    TD_CHECK(t.strides[0] == 15 && t.strides[1] == 5 && t.strides[2] == 1, "strides");
    TD_CHECK(td_tensor_is_contiguous(&t), "contiguous");
    TD_CHECK(t.owned, "owned");
    td_tensor_free(&t);
    float buf[6];
    td_tensor v;
    int64_t s2[2] = {2, 3};
    TD_CHECK_OK(td_tensor_wrap(TD_F32, 2, s2, buf, &v));
    TD_CHECK(!v.owned && v.data == buf, "borrowed");
    td_tensor_free(&v);
    int64_t bad[2] = {2, 0};
    TD_CHECK_ERROR(td_tensor_new(TD_F32, 2, bad, &t), TD_CODE_INVALID_ARGUMENT, "dimension 1");
    TD_CHECK_ERROR(td_tensor_new(TD_INT4, 2, s2, &t), TD_CODE_INVALID_ARGUMENT, "sub-byte");
    int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    TD_CHECK_ERROR(td_tensor_new(TD_F32, 2, huge, &t), TD_CODE_OVERFLOW, "overflow");
}

int main(void)
{
    status_carries_code_and_message();
    sizes_reject_overflow();
    allocation_is_aligned_and_zeroed();
    cpu_and_context();
    tensors();
    return td_test_finish("test_core");
}
