#include <cpuid.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/core.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static void read_model(char *buf, size_t len)
{
    unsigned int regs[12] = {0};
    char raw[49] = {0};
    if ((unsigned int)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        for (unsigned int i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2],
                        &regs[4 * i + 3]);
        memcpy(raw, regs, 48);
    }
    const char *s = raw;
    while (*s == ' ')
        s++;
    if (!*s)
        s = "unknown x86-64";
    strncpy(buf, s, len - 1);
    buf[len - 1] = '\0';
}

void td_cpu_detect(td_cpu_info *info)
{
    memset(info, 0, sizeof *info);
    read_model(info->model, sizeof info->model);
    __builtin_cpu_init();
    info->avx2 = __builtin_cpu_supports("avx2");
    info->fma = __builtin_cpu_supports("fma");
    info->avx512f = __builtin_cpu_supports("avx512f");
    info->avx512bw = __builtin_cpu_supports("avx512bw");
    info->avx512dq = __builtin_cpu_supports("avx512dq");
    info->avx512vl = __builtin_cpu_supports("avx512vl");
    info->avx512vnni = __builtin_cpu_supports("avx512vnni");
    info->avx512vbmi = __builtin_cpu_supports("avx512vbmi");
    /* F16C and AVX512-BF16 are not known to every compiler's __builtin_cpu_supports;
     * read CPUID directly. F16C: leaf 1 ECX bit 29. BF16: leaf 7 subleaf 1 EAX bit 5. */
    unsigned int a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d))
        info->f16c = (c >> 29) & 1;
    if ((unsigned int)__get_cpuid_max(0, NULL) >= 7u) {
        __cpuid_count(7, 1, a, b, c, d);
        info->avx512bf16 = (a >> 5) & 1;
    }
    info->best = TD_ISA_SCALAR;
    if (info->avx2 && info->fma && info->f16c)
        info->best = TD_ISA_AVX2;
    if (info->best == TD_ISA_AVX2 && info->avx512f && info->avx512bw && info->avx512dq &&
        info->avx512vl && info->avx512vnni)
        info->best = TD_ISA_AVX512;
}

const char *td_isa_name(td_isa isa)
{
    switch (isa) {
    case TD_ISA_SCALAR:
        return "scalar";
    case TD_ISA_AVX2:
        return "avx2";
    case TD_ISA_AVX512:
        return "avx512";
    default:
        return "unknown";
    }
}

td_status td_isa_parse(const char *name, const td_cpu_info *cpu, td_isa *out)
{
    td_isa want;
    if (!name || !strcmp(name, "auto"))
        want = cpu->best;
    else if (!strcmp(name, "scalar"))
        want = TD_ISA_SCALAR;
    else if (!strcmp(name, "avx2"))
        want = TD_ISA_AVX2;
    else if (!strcmp(name, "avx512"))
        want = TD_ISA_AVX512;
    else
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "unknown ISA '%s' (expected auto, scalar, avx2 or avx512)", name);
    if (want > cpu->best)
        return td_error_new(TD_CODE_UNSUPPORTED, "ISA '%s' is not supported by this CPU (%s)", name,
                            td_isa_name(cpu->best));
    *out = want;
    return TD_OK;
}

int td_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

td_ctx td_ctx_default(void)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    td_ctx ctx = {.threads = td_max_threads(), .isa = cpu.best};
    const char *env = getenv("TANDEM_ISA");
    if (env && *env) {
        td_isa isa;
        td_status st = td_isa_parse(env, &cpu, &isa);
        if (!st)
            ctx.isa = isa;
        td_status_free(st); /* an unusable request keeps the best ISA */
    }
    return ctx;
}

td_status td_ctx_set_threads(td_ctx *ctx, int threads)
{
    if (threads < 1 || threads > 1024)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "--threads %d: must be between 1 and 1024",
                            threads);
    ctx->threads = threads;
    return TD_OK;
}
