/* Hardware description files: every bundled example loads; each template's fields land in
 * the right place; heterogeneous assignments pick accelerators by layer name; and every kind
 * of bad file is refused with an error naming the file, line and field. */
#include <string.h>

#include "tandem/hw.h"
#include "td_test.h"

#define CHECK(cond) TD_CHECK(cond, "%s", #cond)

static td_hw_desc *load_text(const char *text)
{
    td_hw_desc *d = NULL;
    TD_CHECK_OK(td_hw_load_buffer(text, strlen(text), "t.yaml", &d));
    return d;
}

static void test_examples(void)
{
    static const char *const files[] = {"systolic_32x32", "eyeriss",          "nvdla_small",
                                        "shidiannao",     "fpga_zcu104",      "mcu_cortex_m7",
                                        "cpu_dev",        "hetero_big_little"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/../../examples/hw/%s.yaml", TD_FIXTURE_DIR, files[i]);
        td_hw_desc *d = NULL;
        TD_CHECK_OK(td_hw_load(path, &d));
        TD_CHECK(d && d->n_accels >= 1, "%s: no accelerator", files[i]);
        td_hw_free(d);
    }
}

static void test_systolic_fields(void)
{
    td_hw_desc *d = load_text("name: s\ntemplate: systolic\nclock_mhz: 700\ndram_gbps: 12.5\n"
                              "rows: 16\ncols: 64\ndataflow: os\nifmap_kb: 8\nfilter_kb: 16\n"
                              "ofmap_kb: 4\nsparse: true\nmin_bits: 4\n");
    if (!d)
        return;
    const td_hw_accel *a = &d->accels[0];
    CHECK(d->n_accels == 1 && a->tmpl == TD_HW_SYSTOLIC);
    CHECK(a->rows == 16 && a->cols == 64 && a->dataflow == TD_DF_OS);
    CHECK(a->clock_mhz == 700 && a->dram_gbps == 12.5);
    CHECK(a->ifmap_kb == 8 && a->filter_kb == 16 && a->ofmap_kb == 4);
    CHECK(a->sparse && a->min_bits == 4 && !strcmp(a->technology, "45nm"));
    CHECK(td_hw_accel_for(d, "anything") == 0);
    td_hw_free(d);
}

static void test_eyeriss_defaults(void)
{
    td_hw_desc *d = load_text("name: e\ntemplate: eyeriss\nclock_mhz: 200\ndram_gbps: 1\n"
                              "rows: 12\ncols: 14\nglb_kb: 108\ntechnology: 65nm\n");
    if (!d)
        return;
    const td_hw_accel *a = &d->accels[0];
    CHECK(a->dataflow == TD_DF_RS && a->spad_filter == 224 && a->spad_ifmap == 12);
    CHECK(!strcmp(a->technology, "65nm"));
    td_hw_free(d);
}

static void test_assignment(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/../../examples/hw/hetero_big_little.yaml", TD_FIXTURE_DIR);
    td_hw_desc *d = NULL;
    TD_CHECK_OK(td_hw_load(path, &d));
    if (!d)
        return;
    CHECK(d->n_accels == 2 && d->n_assign == 3);
    CHECK(td_hw_accel_for(d, "/conv1/Conv") == 0);
    CHECK(td_hw_accel_for(d, "/fc/Gemm") == 1);
    CHECK(d->accels[0].dataflow == TD_DF_OS && d->accels[1].tmpl == TD_HW_EYERISS);
    td_hw_free(d);
}

typedef struct bad_case {
    const char *text;
    const char *needle; /* must appear in the message */
} bad_case;

static void test_bad_files(void)
{
    static const bad_case cases[] = {
        {"name: x\ntemplate: systolic\nclock_mhz: 1\ndram_gbps: 1\nrows: 8\ncols: 8\n"
         "dataflow: ws\nifmap_kb: 1\nfilter_kb: 1\nofmap_kb: 1\ncolour: red\n",
         "t.yaml:11: unknown field 'colour'"},
        {"name: x\ntemplate: systolic\nclock_mhz: 1\ndram_gbps: 1\nrows: 8\n"
         "dataflow: ws\nifmap_kb: 1\nfilter_kb: 1\nofmap_kb: 1\n",
         "missing field 'cols'"},
        {"name: x\ntemplate: systolic\nclock_mhz: 1\ndram_gbps: 1\nrows: 1000000000\ncols: 8\n"
         "dataflow: ws\nifmap_kb: 1\nfilter_kb: 1\nofmap_kb: 1\n",
         "t.yaml:5: field 'rows': value 1000000000 (allowed 1 to 4096) is out of range"},
        {"name: x\ntemplate: systolic\nclock_mhz: 1\ndram_gbps: 1\nrows: -3\ncols: 8\n"
         "dataflow: ws\nifmap_kb: 1\nfilter_kb: 1\nofmap_kb: 1\n",
         "field 'rows'"},
        {"name: x\ntemplate: systolic\nclock_mhz: 1\ndram_gbps: 1\nrows: 0\ncols: 8\n"
         "dataflow: ws\nifmap_kb: 1\nfilter_kb: 1\nofmap_kb: 1\n",
         "out of range"},
        {"name: x\ntemplate: systolic\nclock_mhz: 1\ndram_gbps: 1\nrows: 8.5\ncols: 8\n"
         "dataflow: ws\nifmap_kb: 1\nfilter_kb: 1\nofmap_kb: 1\n",
         "expected an integer"},
        {"name: x\ntemplate: systolic\nclock_mhz: fast\n", "t.yaml:3: field 'clock_mhz'"},
        {"name: x\ntemplate: tpu\n", "field 'template': unknown value 'tpu'"},
        {"name: x\nclock_mhz: 1\n", "missing field 'template'"},
        {"template: mcu\n", "missing field 'name'"},
        {"name: x\ntemplate: mcu\nclock_mhz: 1\nsram_kb: 1\nflash_kb: 1\n"
         "cycles_per_mac_int8: 1\ncycles_per_mac_f32: 1\nrows: 4\n",
         "field 'rows' does not apply to template mcu"},
        {"name: x\ntemplate: systolic\ndataflow: rs\n", "'rs' does not fit"},
        {"name: x\ntemplate: [a, b]\n", "field 'template'"},
        {"name: x\ntemplate: systolic\nrows: 4\nrows: 5\n", "given twice"},
        {"- a\n- b\n", "must be a mapping"},
        {"name: x\ntemplate: systolic\n  rows: : 4\n", "YAML"},
        {"name: h\naccelerators:\n  - {name: a, template: cpu, clock_mhz: 1, dram_gbps: 1, "
         "peak_gflops: 1, peak_gops_int8: 1}\n  - {name: a, template: cpu, clock_mhz: 1, "
         "dram_gbps: 1, peak_gflops: 1, peak_gops_int8: 1}\nassignment:\n  - {match: '*', to: a}\n",
         "used twice"},
        {"name: h\naccelerators:\n  - {name: a, template: cpu, clock_mhz: 1, dram_gbps: 1, "
         "peak_gflops: 1, peak_gops_int8: 1}\n  - {name: b, template: cpu, clock_mhz: 1, "
         "dram_gbps: 1, peak_gflops: 1, peak_gops_int8: 1}\n",
         "need an 'assignment'"},
        {"name: h\naccelerators:\n  - {name: a, template: cpu, clock_mhz: 1, dram_gbps: 1, "
         "peak_gflops: 1, peak_gops_int8: 1}\nassignment:\n  - {match: '*', to: zz}\n",
         "no accelerator named 'zz'"},
        {"", "must be a mapping"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        td_hw_desc *d = NULL;
        TD_CHECK_ERROR(td_hw_load_buffer(cases[i].text, strlen(cases[i].text), "t.yaml", &d),
                       TD_CODE_BAD_DATA, cases[i].needle);
        CHECK(d == NULL);
    }
    td_hw_desc *d = NULL;
    TD_CHECK_ERROR(td_hw_load("/nonexistent/hw.yaml", &d), TD_CODE_IO, "/nonexistent/hw.yaml");
}

int main(void)
{
    test_examples();
    test_systolic_fields();
    test_eyeriss_defaults();
    test_assignment();
    test_bad_files();
    return td_test_finish("hw_desc");
}
