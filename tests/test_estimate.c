/* Cost models: sanity and monotonicity properties on every template, the systolic template
 * equal to the SCALE-Sim model it wraps, zero-size layers rejected, and whole-graph estimates
 * of the bundled CNN on every example description (heterogeneous included). */
#include <math.h>
#include <string.h>

#include "hw/eyeriss.h"
#include "tandem/estimate.h"
#include "tandem/model.h"
#include "tandem/scalesim.h"
#include "td_test.h"
#include "moe_graph.h"

#define CHECK(cond) TD_CHECK(cond, "%s", #cond)

static td_hw_accel accel(td_hw_template t, int rows, int cols)
{
    td_hw_accel a;
    memset(&a, 0, sizeof a);
    a.tmpl = t;
    strcpy(a.technology, "45nm");
    a.clock_mhz = 1000;
    a.dram_gbps = 16;
    a.rows = rows;
    a.cols = cols;
    a.dataflow = t == TD_HW_EYERISS ? TD_DF_RS : t == TD_HW_SHIDIANNAO ? TD_DF_OS : TD_DF_WS;
    a.ifmap_kb = a.filter_kb = a.ofmap_kb = 64;
    a.glb_kb = 128;
    a.spad_ifmap = 12, a.spad_filter = 224, a.spad_psum = 24;
    a.min_bits = 8;
    a.dsp = rows * cols;
    a.macs_per_dsp = 1;
    a.bram_kb = 512;
    a.sram_kb = 256, a.flash_kb = 1024, a.cycles_per_mac_int8 = 1, a.cycles_per_mac_f32 = 2;
    a.peak_gflops = 100, a.peak_gops_int8 = 400;
    return a;
}

static td_layer_work gemm_work(int64_t m, int64_t n, int64_t k, int w_bits)
{
    td_layer_work w;
    memset(&w, 0, sizeof w);
    w.kind = TD_WORK_GEMM;
    w.m = m, w.n = n, w.k = k, w.groups = 1;
    w.macs = m * n * k;
    w.w_bits = w_bits, w.a_bits = 8, w.w_density = 1.0;
    w.weight_bytes = n * k * w_bits / 8;
    w.in_bytes = m * k * 4, w.out_bytes = m * n * 4;
    w.kernel_h = 3, w.in_w = 32, w.in_c = 16;
    return w;
}

static const td_hw_template array_templates[] = {TD_HW_SYSTOLIC, TD_HW_EYERISS, TD_HW_NVDLA,
                                                 TD_HW_SHIDIANNAO, TD_HW_FPGA};

/* More PEs never take more compute cycles for the same layer and mapping. */
static void test_more_pes(void)
{
    td_layer_work w = gemm_work(196, 256, 1152, 8);
    for (size_t t = 0; t < sizeof array_templates / sizeof array_templates[0]; t++) {
        double prev = INFINITY;
        for (int side = 4; side <= 64; side *= 2) {
            td_hw_accel a = accel(array_templates[t], side, side);
            td_layer_estimate e;
            TD_CHECK_OK(td_estimate_layer(&a, &w, &e));
            TD_CHECK(e.cycles <= prev, "%s: %dx%d PEs take %g cycles, more than %g with fewer",
                     td_hw_template_name(a.tmpl), side, side, e.cycles, prev);
            TD_CHECK(e.utilization > 0 && e.utilization <= 1.0 + 1e-9, "%s: utilization %g",
                     td_hw_template_name(a.tmpl), e.utilization);
            prev = e.cycles;
        }
    }
}

/* Fewer weight bits never move more bytes nor cost more energy. */
static void test_fewer_bits(void)
{
    for (int t = 0; t < TD_HW_TEMPLATE_COUNT; t++) {
        td_hw_accel a = accel((td_hw_template)t, 16, 16);
        double prev_bytes = INFINITY, prev_energy = INFINITY;
        for (int bits = 8; bits >= 4; bits -= 2) {
            td_layer_work w = gemm_work(128, 384, 384, bits);
            td_layer_estimate e;
            TD_CHECK_OK(td_estimate_layer(&a, &w, &e));
            double bytes = e.dram_bytes + e.sram_bytes;
            TD_CHECK(bytes <= prev_bytes && e.energy_j <= prev_energy,
                     "%s: %d-bit weights move %g bytes / %g J (before %g / %g)",
                     td_hw_template_name(a.tmpl), bits, bytes, e.energy_j, prev_bytes, prev_energy);
            prev_bytes = bytes;
            prev_energy = e.energy_j;
        }
    }
}

/* Skipping zero weights (a sparse-capable engine) cuts cycles in proportion. */
static void test_sparsity(void)
{
    td_hw_accel a = accel(TD_HW_SYSTOLIC, 32, 32);
    a.sparse = true;
    td_layer_work w = gemm_work(256, 256, 256, 8);
    td_layer_estimate dense, half;
    TD_CHECK_OK(td_estimate_layer(&a, &w, &dense));
    w.w_density = 0.5;
    TD_CHECK_OK(td_estimate_layer(&a, &w, &half));
    CHECK(fabs(half.cycles - 0.5 * dense.cycles) < 1e-6 * dense.cycles);
    CHECK(half.energy_compute_j < dense.energy_compute_j);
}

/* The systolic template is the SCALE-Sim model of the same GEMM. */
static void test_systolic_is_scalesim(void)
{
    td_hw_accel a = accel(TD_HW_SYSTOLIC, 32, 16);
    td_layer_work w = gemm_work(100, 70, 300, 8);
    td_layer_estimate e;
    TD_CHECK_OK(td_estimate_layer(&a, &w, &e));
    td_scalesim_config cfg = {"t", 32, 16, 64, 64, 64, TD_SCALESIM_WS, 0, 0};
    td_scalesim_layer l = {"l", 100, 300, 1, 300, 1, 70, 1, 1};
    td_scalesim_result s;
    TD_CHECK_OK(td_scalesim_layer_estimate(&cfg, &l, &s));
    CHECK(e.cycles == (double)s.total_cycles);
}

/* The Eyeriss-like engine of the Timeloop + Accelergy tutorial (ISPASS 2020 exercise
 * "timeloop+accelergy", reference output ref-output/int16/timeloop-mapper.stats.txt in
 * Accelergy-Project/timeloop-accelergy-exercises): 12 x 14 PEs, scratchpads of 12 (ifmap),
 * 192 (weights) and 16 (psum) 16-bit words, a 65,536-word global buffer, 16-bit operands; the
 * layer is C=128, M=256, 3x3, 56x56 outputs, stride 1 (924,844,032 MACs). Reference: 5,505,024
 * cycles and 5,382.31 uJ, of which MAC 2,034.66, psum spad 481.20, weight spad 1,493.00,
 * ifmap spad 223.92, global buffer 652.51, DRAM 497.03 uJ; DRAM words: weights 1,179,648,
 * inputs 1,900,544, outputs 802,816. */
static td_hw_accel timeloop_eyeriss(void)
{
    td_hw_accel a = accel(TD_HW_EYERISS, 12, 14);
    strcpy(a.technology, "65nm");
    a.glb_kb = 128;
    a.spad_ifmap = 12, a.spad_filter = 192, a.spad_psum = 16;
    a.min_bits = 16;
    return a;
}

static td_layer_work timeloop_layer(void)
{
    td_layer_work w = gemm_work(56 * 56, 256, 128 * 9, 16);
    w.kind = TD_WORK_CONV;
    w.a_bits = 16;
    w.kernel_h = 3, w.kernel_w = 3, w.in_w = 58, w.in_c = 128;
    w.batch = 1, w.out_h = 56, w.out_w = 56, w.stride_h = 1, w.stride_w = 1;
    w.weight_bytes = 256 * 128 * 9 * 2;
    return w;
}

static void check_near(const char *what, double got, double ref, double tol)
{
    double rel = (got - ref) / ref;
    printf("eyeriss vs Timeloop: %-12s %14.6g vs %14.6g (%+.2f%%)\n", what, got, ref, 100 * rel);
    TD_CHECK(fabs(rel) <= tol, "%s: %g, Timeloop %g", what, got, ref);
}

static void test_eyeriss_timeloop(void)
{
    td_hw_accel a = timeloop_eyeriss();
    td_layer_work w = timeloop_layer();
    CHECK(w.macs == 924844032);
    td_layer_estimate e;
    TD_CHECK_OK(td_estimate_layer(&a, &w, &e));
    check_near("cycles", e.cycles, 5505024.0, 0.0);
    check_near("energy uJ", e.energy_j * 1e6, 5382.308, 0.10);
    check_near("MAC uJ", e.energy_compute_j * 1e6, 2034.657, 0.10);
    check_near("spads uJ", e.energy_rf_j * 1e6, 481.198 + 1492.996 + 223.918, 0.10);
    check_near("GLB uJ", (e.energy_sram_j - e.energy_rf_j) * 1e6, 652.515, 0.10);
    check_near("DRAM uJ", e.energy_dram_j * 1e6, 497.025, 0.10);
    /* the DRAM tiling the model picks is the mapper's: the word counts agree exactly */
    td_eyeriss_counts c;
    td_eyeriss_counts_of(&a, &w, &c);
    CHECK(c.dram_w == 1179648 && c.dram_in == 1900544 && c.dram_out == 802816);
    CHECK(c.glb_in == 19955712 + 1900544);
    CHECK(c.glb_out == 5619712 + 6422528 + 802816);
    CHECK(c.c_pe == 4 && c.m_pe == 16 && c.c_spatial == 4 && c.q_tiles == 4 && c.m_tiles == 4);
}

/* A smaller global buffer never lowers DRAM traffic; a layer whose smallest tile overflows it is
 * flagged as not fitting. */
static void test_eyeriss_buffer(void)
{
    td_layer_work w = timeloop_layer();
    double prev = 0;
    for (double kb = 1024; kb >= 16; kb /= 2) {
        td_hw_accel a = timeloop_eyeriss();
        a.glb_kb = kb;
        td_layer_estimate e;
        TD_CHECK_OK(td_estimate_layer(&a, &w, &e));
        TD_CHECK(e.dram_bytes >= prev, "glb %g kB: %g DRAM bytes < %g", kb, e.dram_bytes, prev);
        prev = e.dram_bytes;
    }
    td_hw_accel a = timeloop_eyeriss();
    a.glb_kb = 4;
    td_layer_estimate e;
    TD_CHECK_OK(td_estimate_layer(&a, &w, &e));
    CHECK(!e.fits);
}

/* TandemMoE: the experts' format comes from the node's attributes, and only the routed experts
 * cross DRAM: with one token and k = 2 of 8 experts, two experts load (plus the router); with
 * many tokens nearly all of them. */
static td_graph *moe_graph(int64_t tokens)
{
    td_graph *g = td_test_moe_graph(tokens, 2);
    TD_CHECK_OK(td_node_set_string(&g->nodes[0], "weight_format", "int8"));
    TD_CHECK_OK(td_node_set_string(&g->nodes[0], "act", "a8"));
    TD_CHECK_OK(td_graph_prepare(g));
    return g;
}

static void test_moe_layer(void)
{
    td_graph *one = moe_graph(1), *many = moe_graph(256);
    td_layer_work w1, wm;
    TD_CHECK_OK(td_layer_work_of(one, 0, &w1));
    TD_CHECK_OK(td_layer_work_of(many, 0, &wm));
    CHECK(w1.w_bits == 8 && w1.a_bits == 8 && !w1.is_float);
    double router = 16 * 8 * 4.0, expert = ((double)w1.weight_bytes - router) / 8;
    TD_CHECK(fabs(w1.weight_traffic_bytes - (router + 2 * expert)) < 1e-6 * w1.weight_bytes,
             "one token: %g weight bytes moved, expected router + 2 experts = %g",
             w1.weight_traffic_bytes, router + 2 * expert);
    TD_CHECK(wm.weight_traffic_bytes > router + 7.99 * expert &&
                 wm.weight_traffic_bytes <= (double)wm.weight_bytes + 1e-6,
             "256 tokens: %g of %lld weight bytes moved", wm.weight_traffic_bytes,
             (long long)wm.weight_bytes);
    td_hw_accel a = accel(TD_HW_NVDLA, 16, 16);
    td_layer_estimate e1;
    TD_CHECK_OK(td_estimate_layer(&a, &w1, &e1));
    CHECK(e1.dram_bytes < (double)w1.weight_bytes); /* six experts never load */
    td_graph_free(one);
    td_graph_free(many);
}

/* DeformConv on an FPGA: unbounded offsets need the whole input in BRAM; when it does not fit,
 * every output row re-reads its window. */
static void test_deform_layer(void)
{
    td_graph *g = NULL;
    td_model_opts mo = {0, 0};
    TD_CHECK_OK(td_model_open(TD_FIXTURE_DIR "/deform/deform_conv.onnx", &mo, &g));
    if (!g)
        return;
    TD_CHECK_OK(td_graph_prepare(g));
    int node = -1;
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].op_type, "DeformConv") == 0)
            node = i;
    CHECK(node >= 0);
    td_layer_work w;
    TD_CHECK_OK(td_layer_work_of(g, node, &w));
    CHECK(w.deformable && w.kind == TD_WORK_CONV && w.in_h > 0);
    td_hw_accel big = accel(TD_HW_FPGA, 16, 16), small = big;
    small.bram_kb = 0.01;
    td_layer_estimate eb, es;
    TD_CHECK_OK(td_estimate_layer(&big, &w, &eb));
    TD_CHECK_OK(td_estimate_layer(&small, &w, &es));
    CHECK(eb.fits && !es.fits);
    TD_CHECK(es.dram_bytes > eb.dram_bytes, "overflowing BRAM: %g DRAM bytes vs %g", es.dram_bytes,
             eb.dram_bytes);
    td_graph_free(g);
}

static void test_bad_layers(void)
{
    td_hw_accel a = accel(TD_HW_SYSTOLIC, 8, 8);
    td_layer_work w = gemm_work(0, 8, 8, 8);
    td_layer_estimate e;
    TD_CHECK_ERROR(td_estimate_layer(&a, &w, &e), TD_CODE_INVALID_ARGUMENT, "empty product");
    w = gemm_work(8, 8, 0, 8);
    TD_CHECK_ERROR(td_estimate_layer(&a, &w, &e), TD_CODE_INVALID_ARGUMENT, "empty product");
}

/* A microcontroller reports when activations do not fit its SRAM. */
static void test_mcu_fit(void)
{
    td_hw_accel a = accel(TD_HW_MCU, 1, 1);
    a.sram_kb = 1;
    td_layer_work w = gemm_work(64, 64, 64, 8);
    td_layer_estimate e;
    TD_CHECK_OK(td_estimate_layer(&a, &w, &e));
    CHECK(!e.fits);
    a.sram_kb = 1024;
    TD_CHECK_OK(td_estimate_layer(&a, &w, &e));
    CHECK(e.fits && e.cycles == 64.0 * 64 * 64);
}

static void test_graph_on_examples(void)
{
    static const char *const files[] = {"systolic_32x32", "eyeriss",          "nvdla_small",
                                        "shidiannao",     "fpga_zcu104",      "mcu_cortex_m7",
                                        "cpu_dev",        "hetero_big_little"};
    td_graph *g = NULL;
    td_model_opts o = {1, 0};
    TD_CHECK_OK(td_model_open(TD_FIXTURE_DIR "/../../models/mnist_cnn.onnx", &o, &g));
    if (!g)
        return;
    TD_CHECK_OK(td_graph_prepare(g));
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/../../examples/hw/%s.yaml", TD_FIXTURE_DIR, files[i]);
        td_hw_desc *d = NULL;
        TD_CHECK_OK(td_hw_load(path, &d));
        if (!d)
            continue;
        td_estimate e;
        TD_CHECK_OK(td_estimate_graph(g, d, &e));
        TD_CHECK(e.latency_s > 0 && e.energy_j > 0 && e.macs == 1250176,
                 "%s: latency %g energy %g MACs %lld", files[i], e.latency_s, e.energy_j,
                 (long long)e.macs);
        if (d->n_accels > 1) { /* convolutions on the big array, the rest on the little one */
            int on_big = 0;
            for (int l = 0; l < e.n_layers; l++)
                on_big += e.layers[l].accel == 0;
            CHECK(on_big == 5);
        }
        td_estimate_free(&e);
        td_hw_free(d);
    }
    td_graph_free(g);
}

/* Mixture of experts: expert-major order loads each chosen expert once and never more than
 * token-major; token-major with every expert resident loads each once too; alternating
 * experts with one slot reload on every switch. */
static void test_moe_traffic(void)
{
    int32_t alt[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    td_moe_traffic t;
    TD_CHECK_OK(td_moe_weight_traffic(alt, 8, 1, 4, 1000, 1, false, &t));
    CHECK(t.loads == 8 && t.bytes == 8000);
    TD_CHECK_OK(td_moe_weight_traffic(alt, 8, 1, 4, 1000, 2, false, &t));
    CHECK(t.loads == 2);
    TD_CHECK_OK(td_moe_weight_traffic(alt, 8, 1, 4, 1000, 1, true, &t));
    CHECK(t.loads == 2);
    td_rng r = {9};
    int32_t routes[256 * 2];
    for (int trial = 0; trial < 20; trial++) {
        for (int i = 0; i < 256; i++) {
            routes[2 * i] = (int32_t)(td_rng_next(&r) % 16);
            routes[2 * i + 1] = (routes[2 * i] + 1 + (int32_t)(td_rng_next(&r) % 15)) % 16;
        }
        td_moe_traffic tm, em;
        int slots = 1 + trial % 8;
        TD_CHECK_OK(td_moe_weight_traffic(routes, 256, 2, 16, 1, slots, false, &tm));
        TD_CHECK_OK(td_moe_weight_traffic(routes, 256, 2, 16, 1, slots, true, &em));
        TD_CHECK(em.loads <= tm.loads && em.loads <= 16, "expert-major %lld > token-major %lld",
                 (long long)em.loads, (long long)tm.loads);
    }
    int32_t bad[2] = {0, 7};
    TD_CHECK_ERROR(td_moe_weight_traffic(bad, 1, 2, 4, 1, 1, false, &t), TD_CODE_INVALID_ARGUMENT,
                   "expert 7 of 4");
    TD_CHECK_ERROR(td_moe_weight_traffic(bad, 1, 5, 4, 1, 1, false, &t), TD_CODE_INVALID_ARGUMENT,
                   "k = 5 exceeds");
}

/* Deformable convolution: a larger offset range needs more buffer rows, never fewer; once
 * the buffer is too small the input is re-read per output row. */
static void test_deform_buffer(void)
{
    td_deform_buffer b;
    TD_CHECK_OK(td_deform_buffer_need(56, 56, 64, 8, 3, 1, 56, 0, 1e9, &b));
    CHECK(b.rows_needed == 3 && b.fits && b.dram_bytes == 56.0 * 56 * 64);
    int64_t prev = 0;
    for (int range = 0; range <= 16; range += 4) {
        TD_CHECK_OK(td_deform_buffer_need(56, 56, 64, 8, 3, 1, 56, range, 1e9, &b));
        CHECK(b.rows_needed >= prev);
        prev = b.rows_needed;
    }
    TD_CHECK_OK(td_deform_buffer_need(56, 56, 64, 8, 3, 1, 56, -1, 1e9, &b));
    CHECK(b.rows_needed == 56); /* unlimited offsets: the whole input */
    TD_CHECK_OK(td_deform_buffer_need(56, 56, 64, 8, 3, 1, 56, 8, 10000, &b));
    CHECK(!b.fits && b.dram_bytes == 56.0 * b.bytes_needed);
    TD_CHECK_ERROR(td_deform_buffer_need(0, 56, 64, 8, 3, 1, 56, 8, 1, &b),
                   TD_CODE_INVALID_ARGUMENT, "positive");
}

int main(void)
{
    test_moe_traffic();
    test_deform_buffer();
    test_more_pes();
    test_fewer_bits();
    test_sparsity();
    test_systolic_is_scalesim();
    test_eyeriss_timeloop();
    test_eyeriss_buffer();
    test_moe_layer();
    test_deform_layer();
    test_bad_layers();
    test_mcu_fit();
    test_graph_on_examples();
    return td_test_finish("estimate");
}
