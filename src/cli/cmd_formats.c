/* tandem formats: the trait table, with bits per weight and error measured on a
 * seeded Gaussian matrix for a list of common specs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char *const default_specs[] = {
    "f32",           "bf16",     "f16",       "fp8_e4m3",     "fp8_e4m3:tile64",
    "fp8_e5m2",      "int8",     "int8:g128", "int8:g0:asym", "int6",
    "int6:g64",      "int4:g32", "int4:g64",  "int4:g128",    "int4:g128:asym",
    "int4:g128:mse", "int8:2:4", "int8:2:8",  "int4:g64:2:4", "int4:g64:gs0.5",
};

void td_usage_formats(void)
{
    printf("usage: tandem formats [SPEC ...] [--rows N] [--cols K] [--seed S]\n\n"
           "Lists each spec's bits per weight (scales and indices included) and the\n"
           "relative RMS error of quantize->dequantize on a seeded Gaussian matrix\n"
           "(default 256 x 4096). SPEC is e.g. int4:g64:asym, int8:2:4, fp8_e4m3:tile64,\n"
           "int4:g128:gs0.5 (50%% of groups pruned), int4:g128:mse (clipping search).\n");
}

static int parse_pos(const char *opt, const char *v, long max, long *out)
{
    char *end;
    long x = strtol(v ? v : "", &end, 10);
    if (!v || end == v || *end || x < 1 || x > max) {
        fprintf(stderr, "tandem formats: %s '%s': expected an integer from 1 to %ld\n", opt,
                v ? v : "", max);
        return 0;
    }
    *out = x;
    return 1;
}

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float gaussian(uint64_t *s)
{
    /* Box-Muller on two uniforms in (0, 1]. */
    double u1 = ((next(s) >> 11) + 1.0) / 9007199254740992.0;
    double u2 = (next(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static int report(const char *text, const float *w, float *back, long rows, long cols)
{
    td_qspec spec;
    td_status st = td_qspec_parse(text, &spec);
    if (st)
        return td_cli_fail(st);
    td_qmatrix *q;
    st = td_qmatrix_quantize(&spec, w, rows, cols, cols, &q);
    if (!st)
        st = td_qmatrix_dequantize(q, back);
    if (st) {
        printf("%-18s %s\n", text, td_status_message(st));
        td_status_free(st);
        return TD_EXIT_OK;
    }
    double num = 0, den = 0;
    for (long i = 0; i < rows * cols; i++) {
        double d = (double)back[i] - w[i];
        num += d * d;
        den += (double)w[i] * w[i];
    }
    printf("%-18s %8.3f %12.5f %12zu\n", text, td_qmatrix_bits_per_weight(q), sqrt(num / den),
           td_qmatrix_bytes(q));
    td_qmatrix_free(q);
    return TD_EXIT_OK;
}

int td_cmd_formats(int argc, char **argv)
{
    long rows = 256, cols = 4096, seed = 1;
    const char *specs[64];
    int nspecs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rows")) {
            if (!parse_pos("--rows", i + 1 < argc ? argv[++i] : NULL, 1 << 16, &rows))
                return TD_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--cols")) {
            if (!parse_pos("--cols", i + 1 < argc ? argv[++i] : NULL, 1 << 20, &cols))
                return TD_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--seed")) {
            if (!parse_pos("--seed", i + 1 < argc ? argv[++i] : NULL, 1L << 30, &seed))
                return TD_EXIT_USAGE;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "tandem formats: unknown option '%s'\n", argv[i]);
            return TD_EXIT_USAGE;
        } else if (nspecs < 64) {
            specs[nspecs++] = argv[i];
        }
    }
    size_t n = (size_t)rows * (size_t)cols;
    float *w = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float));
    if (!w || !back) {
        free(w);
        free(back);
        fprintf(stderr, "tandem formats: out of memory for %ld x %ld\n", rows, cols);
        return TD_EXIT_FAIL;
    }
    uint64_t s = (uint64_t)seed;
    for (size_t i = 0; i < n; i++)
        w[i] = gaussian(&s) * 0.02f;
    printf("%-18s %8s %12s %12s\n", "spec", "bits/w", "rel-rmse", "bytes");
    int rc = TD_EXIT_OK;
    if (nspecs == 0)
        for (size_t i = 0; i < sizeof default_specs / sizeof *default_specs && !rc; i++)
            rc = report(default_specs[i], w, back, rows, cols);
    for (int i = 0; i < nspecs && !rc; i++)
        rc = report(specs[i], w, back, rows, cols);
    free(w);
    free(back);
    return rc;
}
