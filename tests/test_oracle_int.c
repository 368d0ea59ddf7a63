/* Integer formats against an outside oracle: tests/fixtures/int_gemm.txt holds weights,
 * activations, the dequantized weights and the W*A8/W*A6 products computed independently
 * with numpy by tools/gen_int_fixtures.py. Dequantized weights must match bit for bit; the
 * products within 2 ulps (the oracle emulates fmaf in float64), on every ISA. */
#include <string.h>

#include "td_test.h"

static float *read_floats(FILE *f, const char *tag, size_t n)
{
    char word[16];
    if (fscanf(f, "%15s", word) != 1 || strcmp(word, tag) != 0)
        return NULL;
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        unsigned int bits;
        if (fscanf(f, "%x", &bits) != 1) {
            free(v);
            return NULL;
        }
        memcpy(&v[i], &bits, 4);
    }
    return v;
}

static int32_t ulp_distance(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if ((ia < 0) != (ib < 0))
        return (a == b) ? 0 : INT32_MAX;
    return ia > ib ? ia - ib : ib - ia;
}

static void check_case(FILE *f, const char *spec_text, int64_t rows, int64_t cols, int64_t batch,
                       const char *act_text)
{
    float *w = read_floats(f, "w", (size_t)(rows * cols));
    float *x = read_floats(f, "x", (size_t)(batch * cols));
    float *deq = read_floats(f, "deq", (size_t)(rows * cols));
    float *yref = read_floats(f, "y", (size_t)(batch * rows));
    TD_CHECK(w && x && deq && yref, "fixture for %s is malformed", spec_text);
    if (!(w && x && deq && yref))
        return;
    td_qspec spec;
    td_act_type act;
    TD_CHECK_OK(td_qspec_parse(spec_text, &spec));
    TD_CHECK_OK(td_act_parse(act_text, &act));
    td_qmatrix *q;
    td_status st = td_qmatrix_quantize(&spec, w, rows, cols, cols, &q);
    TD_CHECK(st == NULL, "%s: %s", spec_text, td_status_message(st));
    if (st) {
        td_status_free(st);
        return;
    }
    float *back = malloc(sizeof(float) * rows * cols);
    TD_CHECK_OK(td_qmatrix_dequantize(q, back));
    int64_t bad = 0;
    for (int64_t i = 0; i < rows * cols; i++)
        bad += memcmp(&back[i], &deq[i], 4) != 0;
    TD_CHECK(bad == 0, "%s: %lld dequantized weights differ from numpy", spec_text, (long long)bad);
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    float *y = malloc(sizeof(float) * batch * rows);
    for (int isa = 0; isa <= (int)cpu.best; isa++) {
        td_ctx ctx = {.threads = 1, .isa = (td_isa)isa};
        TD_CHECK_OK(td_gemm(&ctx, q, act, x, batch, y));
        int32_t worst = 0;
        for (int64_t i = 0; i < batch * rows; i++) {
            int32_t d = ulp_distance(y[i], yref[i]);
            worst = d > worst ? d : worst;
        }
        TD_CHECK(worst <= 2, "%s %s on %s: %d ulps from numpy", spec_text, act_text,
                 td_isa_name((td_isa)isa), worst);
    }
    printf("%-16s %s: matches numpy on %d ISAs\n", spec_text, act_text, (int)cpu.best + 1);
    free(y);
    free(back);
    td_qmatrix_free(q);
    free(w);
    free(x);
    free(deq);
    free(yref);
}

int main(void)
{
    const char *path = TD_FIXTURE_DIR "/int_gemm.txt";
    FILE *f = fopen(path, "r");
    TD_CHECK(f != NULL, "cannot open %s", path);
    if (!f)
        return td_test_finish("test_oracle_int");
    char line[256];
    int cases = 0;
    while (fscanf(f, "%255s", line) == 1) {
        if (line[0] == '#') {
            int c;
            while ((c = fgetc(f)) != '\n' && c != EOF)
                ;
            continue;
        }
        TD_CHECK(!strcmp(line, "case"), "unexpected token '%s'", line);
        char spec[64], act[8];
        long long rows, cols, batch;
        if (fscanf(f, "%63s %lld %lld %lld %7s", spec, &rows, &cols, &batch, act) != 5)
            break;
        check_case(f, spec, rows, cols, batch, act);
        cases++;
    }
    fclose(f);
    TD_CHECK(cases == 6, "expected 6 fixture cases, read %d", cases);
    return td_test_finish("test_oracle_int");
}
