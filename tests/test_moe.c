/* Mixture of experts: routing and outputs against numpy float64 fixtures
 * (tools/gen_moe_fixtures.py) and the C double-precision dense oracle, on every ISA; both
 * execution orders equal; capacity and overflow on crafted logits; task masks; the expert
 * cache's LRU on a crafted sequence, its counts against td_moe_weight_traffic, mmap-served
 * experts equal to in-memory ones; prefetch; bad input; the TandemMoE graph operator. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tandem/estimate.h"
#include "tandem/graph.h"
#include "tandem/moe.h"
#include "tandem/safetensors.h"
#include "td_test.h"

#define CHECK(cond) TD_CHECK(cond, "%s", #cond)

static char tmpdir[256];

/* ---- helpers ---- */

static float *rand_floats(td_rng *r, size_t n, float scale)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; p && i < n; i++)
        p[i] = scale * td_rng_normal(r);
    return p;
}

typedef struct layer_data {
    td_moe_config cfg;
    td_moe_weights w;
    float *mem[8];
} layer_data;

static void layer_data_free(layer_data *l)
{
    for (int i = 0; i < 8; i++)
        free(l->mem[i]);
    memset(l, 0, sizeof *l);
}

/* Random weights; the router is scaled so logits spread over a few units. */
static void random_layer(layer_data *l, int64_t d, int64_t f, int E, td_moe_activation act,
                         bool bias, uint64_t seed, float expert_scale)
{
    memset(l, 0, sizeof *l);
    td_rng r = {seed};
    l->cfg = (td_moe_config){.d_model = d, .d_ff = f, .experts = E, .activation = act};
    size_t mat = (size_t)E * (size_t)d * (size_t)f;
    l->mem[0] = rand_floats(&r, (size_t)d * E, 2.0f / sqrtf((float)d));
    l->mem[1] = rand_floats(&r, mat, expert_scale / sqrtf((float)d));
    l->mem[2] = rand_floats(&r, mat, expert_scale / sqrtf((float)f));
    l->w.router = l->mem[0];
    l->w.w_up = l->mem[1];
    l->w.w_down = l->mem[2];
    if (act == TD_MOE_SWIGLU)
        l->w.w_gate = l->mem[3] = rand_floats(&r, mat, 1.0f / sqrtf((float)d));
    if (bias) {
        l->w.b_up = l->mem[4] = rand_floats(&r, (size_t)E * f, 0.1f);
        l->w.b_down = l->mem[5] = rand_floats(&r, (size_t)E * d, 0.1f);
    }
}

static double max_abs_f(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i]));
    return m;
}

static double max_diff_fd(const float *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static int n_isas(td_isa *isas)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    int n = 0;
    for (int i = 0; i <= (int)cpu.best; i++)
        isas[n++] = (td_isa)i;
    return n;
}

static bool same_routing(const td_moe_routing *a, const td_moe_routing *b)
{
    size_t n = (size_t)a->tokens * (size_t)a->k;
    return a->tokens == b->tokens && a->k == b->k &&
           !memcmp(a->choice, b->choice, n * sizeof *a->choice) &&
           !memcmp(a->expert, b->expert, n * sizeof *a->expert) &&
           !memcmp(a->load, b->load, (size_t)a->experts * sizeof *a->load) &&
           a->dropped == b->dropped && a->rerouted == b->rerouted;
}

/* ---- fixtures ---- */

static void *copy_tensor(const td_safetensors *st, const char *name, td_st_dtype dt)
{
    td_st_tensor t;
    td_status s = td_safetensors_find(st, name, &t);
    if (s) {
        td_status_free(s);
        return NULL;
    }
    TD_CHECK(t.dtype == dt, "fixture tensor %s has dtype %s", name, td_st_dtype_name(t.dtype));
    void *p = malloc(t.nbytes ? t.nbytes : 1);
    memcpy(p, t.data, t.nbytes);
    return p;
}

static long meta_int(const td_safetensors *st, const char *key)
{
    const char *v = td_safetensors_metadata(st, key);
    TD_CHECK(v != NULL, "fixture metadata %s missing", key);
    return v ? strtol(v, NULL, 10) : 0;
}

static double meta_double(const td_safetensors *st, const char *key)
{
    const char *v = td_safetensors_metadata(st, key);
    TD_CHECK(v != NULL, "fixture metadata %s missing", key);
    return v ? strtod(v, NULL) : 0;
}

typedef struct fixture {
    td_safetensors *st;
    td_moe_config cfg;
    td_moe_weights w;
    td_moe_route_opts opts;
    float *x;
    double *y, *gate;
    int32_t *choice, *expert;
    int64_t *load;
    uint8_t *mask;
    void *owned[14];
} fixture;

static void fixture_free(fixture *f)
{
    for (int i = 0; i < 14; i++)
        free(f->owned[i]);
    td_safetensors_close(f->st);
}

static bool fixture_load(const char *name, fixture *f)
{
    memset(f, 0, sizeof *f);
    char path[512];
    snprintf(path, sizeof path, "%s/moe/%s.safetensors", TD_FIXTURE_DIR, name);
    td_status s = td_safetensors_open(path, &f->st);
    TD_CHECK(s == NULL, "open %s: %s", path, td_status_message(s));
    if (s) {
        td_status_free(s);
        return false;
    }
    const td_safetensors *st = f->st;
    f->cfg.d_model = meta_int(st, "d");
    f->cfg.d_ff = meta_int(st, "f");
    f->cfg.experts = (int)meta_int(st, "E");
    TD_CHECK_OK(td_moe_activation_parse(td_safetensors_metadata(st, "act"), &f->cfg.activation));
    f->opts = td_moe_route_defaults((int)meta_int(st, "k"));
    const char *g = td_safetensors_metadata(st, "gating");
    f->opts.gating = g && !strcmp(g, "softmax_topk") ? TD_MOE_SOFTMAX_TOPK : TD_MOE_TOPK_SOFTMAX;
    f->opts.renormalize = meta_int(st, "normalize") != 0;
    f->opts.capacity_factor = meta_double(st, "cf"); /* strtod reads "inf" */
    const char *o = td_safetensors_metadata(st, "overflow");
    f->opts.overflow = o && !strcmp(o, "reroute") ? TD_MOE_REROUTE : TD_MOE_DROP;
    f->opts.task = (int)meta_int(st, "task");
    void **p = f->owned;
    f->w.router = p[0] = copy_tensor(st, "router", TD_ST_F32);
    f->w.router_bias = p[1] = copy_tensor(st, "router_bias", TD_ST_F32);
    f->w.w_up = p[2] = copy_tensor(st, "w_up", TD_ST_F32);
    f->w.w_gate = p[3] = copy_tensor(st, "w_gate", TD_ST_F32);
    f->w.w_down = p[4] = copy_tensor(st, "w_down", TD_ST_F32);
    f->w.b_up = p[5] = copy_tensor(st, "b_up", TD_ST_F32);
    f->w.b_down = p[6] = copy_tensor(st, "b_down", TD_ST_F32);
    f->x = p[7] = copy_tensor(st, "x", TD_ST_F32);
    f->y = p[8] = copy_tensor(st, "y", TD_ST_F64);
    f->gate = p[9] = copy_tensor(st, "gate", TD_ST_F64);
    f->choice = p[10] = copy_tensor(st, "choice", TD_ST_I32);
    f->expert = p[11] = copy_tensor(st, "expert", TD_ST_I32);
    f->load = p[12] = copy_tensor(st, "load", TD_ST_I64);
    f->mask = p[13] = copy_tensor(st, "task_mask", TD_ST_U8);
    if (f->mask) {
        td_st_tensor t;
        TD_CHECK_OK(td_safetensors_find(st, "task_mask", &t));
        f->cfg.n_tasks = (int)t.shape[0];
        f->cfg.task_mask = f->mask;
    }
    return f->x && f->y && f->w.router && f->load;
}

static void check_routing_vs_fixture(const char *what, const fixture *f, const td_moe_routing *r)
{
    int64_t T = meta_int(f->st, "T");
    size_t n = (size_t)T * (size_t)f->opts.k;
    TD_CHECK(r->tokens == T, "%s: tokens", what);
    TD_CHECK(!memcmp(r->choice, f->choice, n * sizeof *r->choice), "%s: choices differ", what);
    TD_CHECK(!memcmp(r->expert, f->expert, n * sizeof *r->expert), "%s: experts differ", what);
    TD_CHECK(!memcmp(r->load, f->load, (size_t)f->cfg.experts * sizeof *r->load),
             "%s: loads differ", what);
    double gd = 0;
    for (size_t i = 0; i < n; i++)
        gd = fmax(gd, fabs(r->gate[i] - f->gate[i]));
    TD_CHECK(gd < 1e-6, "%s: gates differ by %g", what, gd);
    TD_CHECK(r->capacity == meta_int(f->st, "capacity"), "%s: capacity %lld", what,
             (long long)r->capacity);
    TD_CHECK(r->dropped == meta_int(f->st, "dropped"), "%s: dropped %lld", what,
             (long long)r->dropped);
    TD_CHECK(r->rerouted == meta_int(f->st, "rerouted"), "%s: rerouted %lld", what,
             (long long)r->rerouted);
    TD_CHECK(fabs(r->load_cv - meta_double(f->st, "load_cv")) < 1e-12, "%s: load cv %.15g", what,
             r->load_cv);
    TD_CHECK(fabs(r->aux_loss - meta_double(f->st, "aux_loss")) < 1e-6, "%s: aux loss %.15g", what,
             r->aux_loss);
}

static void test_fixture(const char *name)
{
    fixture f;
    if (!fixture_load(name, &f)) {
        fixture_free(&f);
        return;
    }
    int64_t T = meta_int(f.st, "T"), d = f.cfg.d_model;
    size_t ny = (size_t)(T * d);
    double ymax = 0;
    for (size_t i = 0; i < ny; i++)
        ymax = fmax(ymax, fabs(f.y[i]));
    /* the C oracle: double logits, so gates match to rounding */
    double *yr = malloc(ny * sizeof *yr);
    td_moe_routing rr;
    TD_CHECK_OK(td_moe_reference(&f.cfg, &f.w, f.x, T, &f.opts, yr, &rr));
    check_routing_vs_fixture(name, &f, &rr);
    double dref = 0;
    for (size_t i = 0; i < ny; i++)
        dref = fmax(dref, fabs(yr[i] - f.y[i]));
    TD_CHECK(dref <= 1e-12 * ymax, "%s: C oracle vs numpy %g (max |y| %g)", name, dref, ymax);
    /* the f32 layer on every ISA and in both orders */
    td_moe *m;
    td_qspec spec = td_qspec_default(TD_F32);
    TD_CHECK_OK(td_moe_new(&f.cfg, &f.w, &spec, TD_ACT_F32, &m));
    float *y = malloc(ny * sizeof *y);
    td_isa isas[TD_ISA_COUNT];
    int ni = n_isas(isas);
    double worst = 0;
    for (int i = 0; m && i < ni; i++)
        for (int o = 0; o < 2; o++) {
            td_ctx ctx = {.threads = 2, .isa = isas[i]};
            td_moe_routing r;
            TD_CHECK_OK(td_moe_forward(&ctx, m, f.x, T, &f.opts, (td_moe_order)o, y, &r));
            char what[96];
            snprintf(what, sizeof what, "%s %s %s", name, td_isa_name(isas[i]),
                     o ? "token-major" : "expert-major");
            check_routing_vs_fixture(what, &f, &r);
            double dy = max_diff_fd(y, f.y, ny);
            worst = fmax(worst, dy);
            TD_CHECK(dy <= 2e-6 * ymax, "%s: f32 layer vs numpy %g (max |y| %g)", what, dy, ymax);
            td_moe_routing_free(&r);
        }
    printf("  %-22s: C oracle vs numpy %.2g, f32 layer vs numpy %.2g (max|y| %.3g), every ISA and "
           "order\n",
           name, dref, worst, ymax);
    td_moe_routing_free(&rr);
    td_moe_free(m);
    free(y);
    free(yr);
    fixture_free(&f);
}

/* ---- both orders, every format ---- */

static void test_orders(void)
{
    static const struct {
        const char *spec;
        td_act_type act;
        double tol; /* relative L2 error against the double oracle on dequantized weights */
    } cases[] = {
        {"f32", TD_ACT_F32, 1e-6},       {"int8", TD_ACT_INT8, 0.03},
        {"int8", TD_ACT_F32, 1e-6},      {"int4:g32", TD_ACT_INT8, 0.03},
        {"int6:g32", TD_ACT_F32, 1e-6},  {"fp8_e4m3", TD_ACT_F32, 1e-6},
        {"int8:2:4", TD_ACT_INT8, 0.03}, {"bf16", TD_ACT_F32, 1e-6},
    };
    const int64_t T = 48, d = 64, f = 96;
    const int E = 12;
    layer_data l;
    random_layer(&l, d, f, E, TD_MOE_SWIGLU, true, 11, 1.0f);
    td_rng r = {12};
    float *x = rand_floats(&r, (size_t)(T * d), 1.0f);
    float *ye = malloc((size_t)(T * d) * sizeof *ye), *yt = malloc((size_t)(T * d) * sizeof *yt);
    double *yr = malloc((size_t)(T * d) * sizeof *yr);
    size_t mat = (size_t)E * d * f;
    float *du = malloc(mat * 4), *dg = malloc(mat * 4), *dd = malloc(mat * 4);
    td_moe_route_opts opts = td_moe_route_defaults(2);
    opts.capacity_factor = 1.25;
    opts.overflow = TD_MOE_REROUTE;
    td_isa isas[TD_ISA_COUNT];
    int ni = n_isas(isas);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        td_qspec spec;
        TD_CHECK_OK(td_qspec_parse(cases[c].spec, &spec));
        td_moe *m;
        TD_CHECK_OK(td_moe_new(&l.cfg, &l.w, &spec, cases[c].act, &m));
        if (!m)
            continue;
        /* the oracle on the weights the experts actually hold */
        TD_CHECK_OK(td_moe_dequantize(m, du, dg, dd, NULL, NULL));
        td_moe_weights dw = l.w;
        dw.w_up = du, dw.w_gate = dg, dw.w_down = dd;
        td_moe_routing rr;
        TD_CHECK_OK(td_moe_reference(&l.cfg, &dw, x, T, &opts, yr, &rr));
        for (int i = 0; i < ni; i++) {
            td_ctx ctx = {.threads = 2, .isa = isas[i]};
            td_moe_routing re, rt;
            TD_CHECK_OK(td_moe_forward(&ctx, m, x, T, &opts, TD_MOE_EXPERT_MAJOR, ye, &re));
            TD_CHECK_OK(td_moe_forward(&ctx, m, x, T, &opts, TD_MOE_TOKEN_MAJOR, yt, &rt));
            CHECK(same_routing(&re, &rt));
            CHECK(same_routing(&re, &rr));
            /* the bound include/tandem/moe.h states: 2^-20 * max|y| */
            double diff = 0, scale = max_abs_f(ye, (size_t)(T * d));
            for (int64_t j = 0; j < T * d; j++)
                diff = fmax(diff, fabs((double)ye[j] - (double)yt[j]));
            bool exact = !memcmp(ye, yt, (size_t)(T * d) * sizeof *ye);
            if (cases[c].act != TD_ACT_F32)
                TD_CHECK(exact,
                         "%s/%s %s: orders differ by %g (integer activations must agree "
                         "bit for bit)",
                         cases[c].spec, td_act_name(cases[c].act), td_isa_name(isas[i]), diff);
            else
                TD_CHECK(diff <= 0x1p-20 * scale, "%s %s: orders differ by %g (scale %g)",
                         cases[c].spec, td_isa_name(isas[i]), diff, scale);
            double num = 0, den = 0;
            for (int64_t j = 0; j < T * d; j++) {
                num += (ye[j] - yr[j]) * (ye[j] - yr[j]);
                den += yr[j] * yr[j];
            }
            double rel = sqrt(num / den);
            TD_CHECK(rel <= cases[c].tol, "%s/%s %s: relative L2 error %g vs oracle", cases[c].spec,
                     td_act_name(cases[c].act), td_isa_name(isas[i]), rel);
            if (i == ni - 1)
                printf("  %-9s %-3s: orders %s (max diff %.3g, scale %.3g), vs oracle %.3g\n",
                       cases[c].spec, td_act_name(cases[c].act), exact ? "bit-equal" : "differ",
                       diff, scale, rel);
            td_moe_routing_free(&re);
            td_moe_routing_free(&rt);
        }
        td_moe_routing_free(&rr);
        td_moe_free(m);
    }
    free(du), free(dg), free(dd), free(x), free(ye), free(yt), free(yr);
    layer_data_free(&l);
}

/* ---- routing on crafted logits ---- */

static void test_capacity(void)
{
    /* 4 tokens all preferring expert 0 over 1 over 2; k = 1, capacity ceil(1 * 4 / 3) = 2 */
    double l1[12] = {3, 2, 1, 3, 2, 1, 3, 2, 1, 3, 2, 1};
    td_moe_route_opts o = td_moe_route_defaults(1);
    o.capacity_factor = 1.0;
    td_moe_routing r;
    TD_CHECK_OK(td_moe_route(l1, 4, 3, NULL, &o, &r));
    CHECK(r.capacity == 2);
    CHECK(r.expert[0] == 0 && r.expert[1] == 0 && r.expert[2] == -1 && r.expert[3] == -1);
    CHECK(r.dropped == 2 && r.rerouted == 0 && r.gate[2] == 0.0 && r.gate[0] == 1.0);
    CHECK(r.load[0] == 2 && r.load[1] == 0 && r.load[2] == 0);
    /* load 2, 0, 0: mean 2/3, std sqrt(8/9) -> cv sqrt(2) */
    TD_CHECK(fabs(r.load_cv - sqrt(2.0)) < 1e-12, "cv %g", r.load_cv);
    td_moe_routing_free(&r);
    o.overflow = TD_MOE_REROUTE;
    TD_CHECK_OK(td_moe_route(l1, 4, 3, NULL, &o, &r));
    CHECK(r.expert[2] == 1 && r.expert[3] == 1 && r.rerouted == 2 && r.dropped == 0);
    CHECK(r.gate[2] == 1.0); /* the slot keeps its gate */
    td_moe_routing_free(&r);
    /* capacity 1 (cf 0.75 * 4 / 3 = 1): token 0 -> 0, token 1 -> 1, token 2 -> 2, token 3 none */
    o.capacity_factor = 0.75;
    TD_CHECK_OK(td_moe_route(l1, 4, 3, NULL, &o, &r));
    CHECK(r.capacity == 1 && r.expert[1] == 1 && r.expert[2] == 2 && r.expert[3] == -1);
    CHECK(r.rerouted == 2 && r.dropped == 1);
    td_moe_routing_free(&r);

    /* k = 2 over 4 experts, capacity 1: slot-major priority and the reroute exclusions.
     * token 0 ranks 0 > 1 > 2 > 3, token 1 ranks 0 > 2 > 1 > 3.
     * slot 0: t0 -> 0; t1 wants 0 (full): its other slot's choice is 2, so -> 1.
     * slot 1: t0 wants 1 (full, t1 took it): 0 is its own slot 0 -> 2;
     *         t1 wants 2 (full): 1 is its own slot, 0 full -> 3. */
    double l2[8] = {4, 3, 2, 1, 4, 2, 3, 1};
    o = td_moe_route_defaults(2);
    o.capacity_factor = 0.5; /* ceil(0.5 * 2 * 2 / 4) = 1 */
    o.overflow = TD_MOE_REROUTE;
    TD_CHECK_OK(td_moe_route(l2, 2, 4, NULL, &o, &r));
    CHECK(r.capacity == 1);
    TD_CHECK(r.expert[0] == 0 && r.expert[1] == 2 && r.expert[2] == 1 && r.expert[3] == 3,
             "experts %d %d %d %d", r.expert[0], r.expert[1], r.expert[2], r.expert[3]);
    CHECK(r.rerouted == 3 && r.dropped == 0);
    /* top-k then softmax: token 0's gates over logits 4 and 3 */
    double g0 = 1.0 / (1.0 + exp(-1.0));
    CHECK(fabs(r.gate[0] - g0) < 1e-15 && fabs(r.gate[1] - (1 - g0)) < 1e-15);
    /* aux loss: f = (2/4, 1/4, 1/4, 0) and P = mean softmax over all four experts */
    double p0[4], p1[4], s0 = 0, s1 = 0;
    for (int e = 0; e < 4; e++) {
        s0 += p0[e] = exp(l2[e] - 4);
        s1 += p1[e] = exp(l2[4 + e] - 4);
    }
    double f[4] = {0.5, 0.25, 0.25, 0}, aux = 0;
    for (int e = 0; e < 4; e++)
        aux += f[e] * (p0[e] / s0 + p1[e] / s1) / 2;
    TD_CHECK(fabs(r.aux_loss - 4 * aux) < 1e-12, "aux %g vs %g", r.aux_loss, 4 * aux);
    td_moe_routing_free(&r);
    /* softmax then top-k, with and without renormalization */
    o = td_moe_route_defaults(2);
    o.gating = TD_MOE_SOFTMAX_TOPK;
    TD_CHECK_OK(td_moe_route(l2, 2, 4, NULL, &o, &r));
    CHECK(fabs(r.gate[0] - p0[0] / s0) < 1e-15 && fabs(r.gate[1] - p0[1] / s0) < 1e-15);
    td_moe_routing_free(&r);
    o.renormalize = true;
    TD_CHECK_OK(td_moe_route(l2, 2, 4, NULL, &o, &r));
    CHECK(fabs(r.gate[0] - g0) < 1e-15);
    td_moe_routing_free(&r);
    /* ties go to the lower index; perfectly balanced routing has cv 0 and aux 1 */
    double l3[4] = {1, 1, 1, 1};
    o = td_moe_route_defaults(1);
    o.capacity_factor = 1.0;
    o.overflow = TD_MOE_REROUTE;
    TD_CHECK_OK(td_moe_route(l3, 2, 2, NULL, &o, &r));
    CHECK(r.choice[0] == 0 && r.choice[1] == 0 && r.expert[1] == 1);
    td_moe_routing_free(&r);
    double l4[4] = {2, 0, 0, 2};
    TD_CHECK_OK(td_moe_route(l4, 2, 2, NULL, &o, &r));
    CHECK(r.load_cv == 0.0 && fabs(r.aux_loss - 1.0) < 1e-15);
    td_moe_routing_free(&r);
}

static void test_noise(void)
{
    /* the normal samples */
    double s = 0, s2 = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        double v = td_moe_noise_normal(7, i / 16, i % 16);
        s += v;
        s2 += v * v;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    TD_CHECK(fabs(mean) < 0.03 && fabs(var - 1) < 0.05, "noise mean %g var %g", mean, var);
    CHECK(td_moe_noise_normal(7, 3, 4) == td_moe_noise_normal(7, 3, 4));
    CHECK(td_moe_noise_normal(7, 3, 4) != td_moe_noise_normal(8, 3, 4));
    /* logits with noise = logits + std * sample, with and without a noise projection */
    layer_data l;
    random_layer(&l, 16, 24, 6, TD_MOE_GELU, false, 21, 1.0f);
    td_rng r = {22};
    float *rn = rand_floats(&r, 16 * 6, 0.3f), *x = rand_floats(&r, 8 * 16, 1.0f);
    double lc[48], ln[48], lp[48];
    td_ctx ctx = td_ctx_default();
    td_qspec spec = td_qspec_default(TD_F32);
    td_moe *m, *mp;
    TD_CHECK_OK(td_moe_new(&l.cfg, &l.w, &spec, TD_ACT_F32, &m));
    l.w.router_noise = rn;
    TD_CHECK_OK(td_moe_new(&l.cfg, &l.w, &spec, TD_ACT_F32, &mp));
    td_moe_route_opts o = td_moe_route_defaults(2);
    TD_CHECK_OK(td_moe_logits(&ctx, m, x, 8, &o, lc));
    o.noise = true;
    o.noise_seed = 99;
    o.noise_std = 0.5f;
    TD_CHECK_OK(td_moe_logits(&ctx, m, x, 8, &o, ln));
    TD_CHECK_OK(td_moe_logits(&ctx, mp, x, 8, &o, lp));
    double dn = 0, dp = 0;
    for (int t = 0; t < 8; t++)
        for (int e = 0; e < 6; e++) {
            double z = 0;
            for (int i = 0; i < 16; i++)
                z += (double)x[t * 16 + i] * rn[i * 6 + e];
            double nz = td_moe_noise_normal(99, t, e);
            dn = fmax(dn, fabs(ln[t * 6 + e] - lc[t * 6 + e] - 0.5 * nz));
            dp = fmax(dp, fabs(lp[t * 6 + e] - lc[t * 6 + e] - 0.5 * log1p(exp(z)) * nz));
        }
    TD_CHECK(dn < 1e-6 && dp < 1e-5, "noise: %g %g", dn, dp);
    /* the oracle draws the same noise: same routing */
    double *yr = malloc(8 * 16 * sizeof *yr);
    float *y = malloc(8 * 16 * sizeof *y);
    td_moe_routing ra, rb;
    TD_CHECK_OK(td_moe_reference(&l.cfg, &l.w, x, 8, &o, yr, &ra));
    TD_CHECK_OK(td_moe_forward(&ctx, mp, x, 8, &o, TD_MOE_EXPERT_MAJOR, y, &rb));
    CHECK(same_routing(&ra, &rb));
    CHECK(max_diff_fd(y, yr, 8 * 16) < 1e-5);
    td_moe_routing_free(&ra);
    td_moe_routing_free(&rb);
    free(yr), free(y), free(rn), free(x);
    td_moe_free(m);
    td_moe_free(mp);
    layer_data_free(&l);
}

/* ---- task-conditioned experts ---- */

static char *tmp_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static void test_tasks(void)
{
    const int E = 8;
    uint8_t mask[3 * 8] = {1, 1, 0, 0, 0, 0, 0, 0, /* task 0: experts 0, 1 */
                           0, 0, 1, 1, 1, 0, 0, 0, /* task 1: 2, 3, 4 */
                           0, 0, 0, 0, 0, 1, 1, 1};
    layer_data l;
    random_layer(&l, 32, 48, E, TD_MOE_GELU, true, 31, 1.0f);
    l.cfg.n_tasks = 3;
    l.cfg.task_mask = mask;
    td_rng r = {32};
    const int64_t T = 24;
    float *x = rand_floats(&r, (size_t)T * 32, 1.0f), *y = malloc((size_t)T * 32 * 4);
    double *yr = malloc((size_t)T * 32 * 8);
    td_qspec spec = td_qspec_default(TD_INT8);
    td_moe *m;
    TD_CHECK_OK(td_moe_new(&l.cfg, &l.w, &spec, TD_ACT_INT8, &m));
    td_ctx ctx = td_ctx_default();
    TD_CHECK_OK(td_moe_save(tmp_path("tasks.safetensors"), &m, 1));
    for (int task = 0; task < 3; task++) {
        td_moe_route_opts o = td_moe_route_defaults(2);
        o.task = task;
        td_moe_routing rt;
        TD_CHECK_OK(td_moe_forward(&ctx, m, x, T, &o, TD_MOE_EXPERT_MAJOR, y, &rt));
        bool inside = true;
        for (int64_t s = 0; s < T * 2; s++)
            inside = inside && rt.expert[s] >= 0 && mask[task * E + rt.expert[s]];
        TD_CHECK(inside, "task %d routes outside its experts", task);
        CHECK(rt.allowed == (task == 0 ? 2 : 3));
        /* single-task inference through the cache touches only the task's experts */
        td_moe_cache *c;
        TD_CHECK_OK(td_moe_cache_open(tmp_path("tasks.safetensors"), (size_t)1 << 30, &c));
        td_moe *cm;
        TD_CHECK_OK(td_moe_cache_layer(c, 0, &cm));
        float *yc = malloc((size_t)T * 32 * 4);
        TD_CHECK_OK(td_moe_forward(&ctx, cm, x, T, &o, TD_MOE_TOKEN_MAJOR, yc, NULL));
        CHECK(!memcmp(y, yc, (size_t)T * 32 * 4));
        for (int e = 0; e < E; e++)
            TD_CHECK(td_moe_cache_is_resident(c, 0, e) == (mask[task * E + e] && rt.load[e] > 0),
                     "task %d: expert %d residency", task, e);
        td_moe_cache_stats st;
        td_moe_cache_get_stats(c, &st);
        CHECK(st.misses <= rt.allowed);
        free(yc);
        td_moe_free(cm);
        td_moe_cache_close(c);
        td_moe_routing_free(&rt);
    }
    /* task switches as td_moe_weight_traffic models them: each task's expert set in turn */
    td_moe_cache *c;
    size_t eb = td_moe_expert_bytes(m, 0);
    TD_CHECK_OK(td_moe_cache_open(tmp_path("tasks.safetensors"), 3 * eb, &c));
    int seq[] = {0, 1, 0, 2, 1};
    int32_t routes[64];
    int64_t nr = 0;
    for (int i = 0; i < 5; i++)
        for (int e = 0; e < E; e++)
            if (mask[seq[i] * E + e]) {
                TD_CHECK_OK(td_moe_cache_use(c, 0, e));
                routes[nr++] = e;
            }
    td_moe_traffic tr;
    TD_CHECK_OK(td_moe_weight_traffic(routes, nr, 1, E, (double)eb, 3, false, &tr));
    td_moe_cache_stats st;
    td_moe_cache_get_stats(c, &st);
    TD_CHECK(st.misses == tr.loads && st.bytes_moved == tr.bytes,
             "task switches: cache %lld loads, model %lld", (long long)st.misses,
             (long long)tr.loads);
    td_moe_cache_close(c);
    /* k above the task's experts */
    td_moe_route_opts o = td_moe_route_defaults(3);
    o.task = 0;
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, T, &o, TD_MOE_EXPERT_MAJOR, y, NULL),
                   TD_CODE_INVALID_ARGUMENT, "exceeds the 2 experts");
    o.task = 3;
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, T, &o, TD_MOE_EXPERT_MAJOR, y, NULL),
                   TD_CODE_INVALID_ARGUMENT, "task 3 out of range");
    /* the oracle honours the mask too */
    o = td_moe_route_defaults(2);
    o.task = 2;
    TD_CHECK_OK(td_moe_forward(&ctx, m, x, T, &o, TD_MOE_EXPERT_MAJOR, y, NULL));
    size_t mat = (size_t)E * 32 * 48;
    float *du = malloc(mat * 4), *dd = malloc(mat * 4);
    TD_CHECK_OK(td_moe_dequantize(m, du, NULL, dd, NULL, NULL));
    td_moe_weights dw = l.w;
    dw.w_up = du, dw.w_down = dd;
    TD_CHECK_OK(td_moe_reference(&l.cfg, &dw, x, T, &o, yr, NULL));
    double num = 0, den = 0;
    for (int64_t i = 0; i < T * 32; i++) {
        num += (y[i] - yr[i]) * (y[i] - yr[i]);
        den += yr[i] * yr[i];
    }
    TD_CHECK(sqrt(num / den) < 0.03, "task 2 vs oracle %g", sqrt(num / den));
    free(du), free(dd), free(x), free(y), free(yr);
    td_moe_free(m);
    layer_data_free(&l);
}

/* ---- the cache ---- */

static td_moe *small_layer(int E, const char *spec_text, td_act_type act, td_moe_activation a,
                           uint64_t seed, layer_data *l)
{
    random_layer(l, 32, 64, E, a, true, seed, 1.0f);
    td_qspec spec;
    TD_CHECK_OK(td_qspec_parse(spec_text, &spec));
    td_moe *m = NULL;
    TD_CHECK_OK(td_moe_new(&l->cfg, &l->w, &spec, act, &m));
    return m;
}

static void test_cache_lru(void)
{
    layer_data l;
    td_moe *m = small_layer(6, "int8", TD_ACT_INT8, TD_MOE_GELU, 41, &l);
    const char *path = tmp_path("lru.safetensors");
    TD_CHECK_OK(td_moe_save(path, &m, 1));
    size_t eb = td_moe_expert_bytes(m, 0);
    td_moe_cache *c;
    /* room for two experts, not three */
    TD_CHECK_OK(td_moe_cache_open(path, 3 * eb - 1, &c));
    CHECK(td_moe_cache_expert_bytes(c, 0, 5) == eb);
    int seq[] = {0, 1, 0, 2, 1, 3, 0};
    bool hit[] = {false, false, true, false, false, false, false};
    for (int i = 0; i < 7; i++) {
        td_moe_cache_stats before, after;
        td_moe_cache_get_stats(c, &before);
        TD_CHECK_OK(td_moe_cache_use(c, 0, seq[i]));
        td_moe_cache_get_stats(c, &after);
        TD_CHECK((after.hits - before.hits == 1) == hit[i], "access %d (expert %d)", i, seq[i]);
    }
    td_moe_cache_stats st;
    td_moe_cache_get_stats(c, &st);
    CHECK(st.hits == 1 && st.misses == 6 && st.evictions == 4);
    CHECK(st.bytes_moved == 6.0 * (double)eb && st.resident_bytes == 2 * eb);
    CHECK(st.peak_bytes == 2 * eb);
    CHECK(td_moe_cache_is_resident(c, 0, 3) && td_moe_cache_is_resident(c, 0, 0));
    CHECK(!td_moe_cache_is_resident(c, 0, 1) && !td_moe_cache_is_resident(c, 0, 2));
    int32_t routes[7];
    for (int i = 0; i < 7; i++)
        routes[i] = seq[i];
    td_moe_traffic tr;
    TD_CHECK_OK(td_moe_weight_traffic(routes, 7, 1, 6, (double)eb, 2, false, &tr));
    CHECK(tr.loads == st.misses);
    /* prefetch: 4 and 5 replace 3 and 0; then demand hits count as prefetch used */
    td_moe_cache_reset_stats(c);
    TD_CHECK_OK(td_moe_cache_prefetch(c, 0, (int32_t[]){4, 5}, 2));
    TD_CHECK_OK(td_moe_cache_use(c, 0, 5));
    TD_CHECK_OK(td_moe_cache_use(c, 0, 4));
    td_moe_cache_get_stats(c, &st);
    CHECK(st.prefetched == 2 && st.prefetch_used == 2 && st.hits == 2 && st.misses == 0);
    CHECK(st.bytes_moved == 2.0 * (double)eb);
    /* a list longer than the budget stops when it would evict its own loads; the most
     * important (first) prefetch is evicted last */
    TD_CHECK_OK(td_moe_cache_prefetch(c, 0, (int32_t[]){1, 2, 3}, 3));
    CHECK(td_moe_cache_is_resident(c, 0, 1) && td_moe_cache_is_resident(c, 0, 2));
    CHECK(!td_moe_cache_is_resident(c, 0, 3));
    TD_CHECK_OK(td_moe_cache_use(c, 0, 0));
    CHECK(td_moe_cache_is_resident(c, 0, 1) && !td_moe_cache_is_resident(c, 0, 2));
    td_moe_cache_get_stats(c, &st);
    CHECK(st.prefetched == 4 && st.prefetch_used == 2 && st.misses == 1);
    /* errors */
    TD_CHECK_ERROR(td_moe_cache_use(c, 0, 6), TD_CODE_INVALID_ARGUMENT, "expert 6 out of range");
    TD_CHECK_ERROR(td_moe_cache_use(c, 1, 0), TD_CODE_INVALID_ARGUMENT, "layer 1 out of range");
    td_moe_cache_close(c);
    td_moe_cache *c2 = NULL;
    TD_CHECK_ERROR(td_moe_cache_open(path, eb - 1, &c2), TD_CODE_INVALID_ARGUMENT,
                   "cannot hold expert");
    TD_CHECK_ERROR(td_moe_cache_open(tmp_path("missing.safetensors"), eb, &c2), TD_CODE_IO,
                   "missing.safetensors");
    char st_path[512];
    snprintf(st_path, sizeof st_path, "%s/st_python.safetensors", TD_FIXTURE_DIR);
    TD_CHECK_ERROR(td_moe_cache_open(st_path, eb, &c2), TD_CODE_BAD_DATA, "tandem.moe.layers");
    td_moe_free(m);
    layer_data_free(&l);
}

/* Cache counts against td_moe_weight_traffic for the same routing, from an empty cache. */
static void test_cache_traffic(void)
{
    layer_data l;
    const int E = 16;
    const int64_t T = 40;
    td_moe *m = small_layer(E, "int4:g32", TD_ACT_INT8, TD_MOE_SILU, 51, &l);
    const char *path = tmp_path("traffic.safetensors");
    TD_CHECK_OK(td_moe_save(path, &m, 1));
    size_t eb = td_moe_expert_bytes(m, 0);
    td_rng r = {52};
    float *x = rand_floats(&r, (size_t)T * 32, 1.0f), *y = malloc((size_t)T * 32 * 4);
    float *yc = malloc((size_t)T * 32 * 4);
    td_ctx ctx = td_ctx_default();
    td_moe_route_opts o = td_moe_route_defaults(2);
    td_moe_routing rm;
    TD_CHECK_OK(td_moe_forward(&ctx, m, x, T, &o, TD_MOE_EXPERT_MAJOR, y, &rm));
    int slots[] = {1, 2, 3, 5, 8, 16};
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++)
        for (int major = 0; major < 2; major++) {
            td_moe_cache *c;
            TD_CHECK_OK(td_moe_cache_open(path, (size_t)slots[i] * eb, &c));
            td_moe *cm;
            TD_CHECK_OK(td_moe_cache_layer(c, 0, &cm));
            td_moe_routing rc;
            td_moe_order ord = major ? TD_MOE_EXPERT_MAJOR : TD_MOE_TOKEN_MAJOR;
            TD_CHECK_OK(td_moe_forward(&ctx, cm, x, T, &o, ord, yc, &rc));
            CHECK(same_routing(&rm, &rc));
            CHECK(!memcmp(y, yc, (size_t)T * 32 * 4));
            td_moe_traffic tr;
            TD_CHECK_OK(
                td_moe_weight_traffic(rc.expert, T, 2, E, (double)eb, slots[i], major != 0, &tr));
            td_moe_cache_stats st;
            td_moe_cache_get_stats(c, &st);
            TD_CHECK(st.misses == tr.loads && st.bytes_moved == tr.bytes,
                     "%d slots, %s: cache %lld loads %g bytes, model %lld loads %g bytes", slots[i],
                     major ? "expert-major" : "token-major", (long long)st.misses, st.bytes_moved,
                     (long long)tr.loads, tr.bytes);
            CHECK(st.hits + st.misses == (major ? tr.loads : T * 2));
            CHECK(st.peak_bytes <= (size_t)slots[i] * eb);
            if (i == 0 || i == 3)
                printf("  cache %2d slots %-12s: %lld loads = model %lld\n", slots[i],
                       major ? "expert-major" : "token-major", (long long)st.misses,
                       (long long)tr.loads);
            td_moe_routing_free(&rc);
            td_moe_free(cm);
            td_moe_cache_close(c);
        }
    td_moe_routing_free(&rm);
    free(x), free(y), free(yc);
    td_moe_free(m);
    layer_data_free(&l);
}

/* mmap-served experts give the same bits as in-memory ones, for several formats. */
static void test_mmap_equal(void)
{
    static const char *specs[] = {"f32", "int4:g32:asym", "fp8_e4m3", "int8:2:4", "int4:gs0.25"};
    const int64_t T = 20;
    td_rng r = {61};
    float *x = rand_floats(&r, (size_t)T * 32, 1.0f), *y = malloc((size_t)T * 32 * 4);
    float *yc = malloc((size_t)T * 32 * 4);
    td_ctx ctx = td_ctx_default();
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        layer_data l;
        td_act_type act = s % 2 ? TD_ACT_INT8 : TD_ACT_F32;
        td_moe *m = small_layer(6, specs[s], act, TD_MOE_SWIGLU, 62 + s, &l);
        if (!m) {
            layer_data_free(&l);
            continue;
        }
        const char *path = tmp_path("mmap.safetensors");
        TD_CHECK_OK(td_moe_save(path, &m, 1));
        size_t eb = td_moe_expert_bytes(m, 0);
        td_moe_route_opts o = td_moe_route_defaults(2);
        o.capacity_factor = 1.0;
        for (int order = 0; order < 2; order++) {
            TD_CHECK_OK(td_moe_forward(&ctx, m, x, T, &o, (td_moe_order)order, y, NULL));
            td_moe_cache *c;
            TD_CHECK_OK(td_moe_cache_open(path, eb, &c)); /* one expert at a time */
            td_moe *cm;
            TD_CHECK_OK(td_moe_cache_layer(c, 0, &cm));
            CHECK(td_moe_cache_expert_bytes(c, 0, 3) == td_moe_expert_bytes(m, 3));
            TD_CHECK_OK(td_moe_forward(&ctx, cm, x, T, &o, (td_moe_order)order, yc, NULL));
            TD_CHECK(!memcmp(y, yc, (size_t)T * 32 * 4), "%s: mmap-served experts differ",
                     specs[s]);
            td_moe_free(cm);
            td_moe_cache_close(c);
        }
        td_moe_free(m);
        layer_data_free(&l);
    }
    free(x), free(y), free(yc);
}

/* A stack of cache-served layers: prefetch never changes the output, and with hidden states
 * that drift little between layers the next router predicts well. */
static void test_stack_prefetch(void)
{
    const int L = 4, E = 16;
    const int64_t T = 4, d = 32;
    td_moe *layers[4];
    layer_data ld[4];
    for (int i = 0; i < L; i++) {
        random_layer(&ld[i], d, 64, E, TD_MOE_GELU, false, 70 + i, 0.2f);
        td_qspec spec = td_qspec_default(TD_INT8);
        TD_CHECK_OK(td_moe_new(&ld[i].cfg, &ld[i].w, &spec, TD_ACT_INT8, &layers[i]));
    }
    const char *path = tmp_path("stack.safetensors");
    TD_CHECK_OK(td_moe_save(path, layers, L));
    size_t eb = td_moe_expert_bytes(layers[0], 0);
    td_ctx ctx = td_ctx_default();
    td_moe_route_opts o = td_moe_route_defaults(2);
    const int batches = 6;
    td_rng r = {80};
    float *x0 = rand_floats(&r, (size_t)(batches * T * d), 1.0f);
    float *ref = malloc((size_t)(batches * T * d) * 4), *h = malloc((size_t)(T * d) * 4);
    /* in memory, no cache */
    for (int b = 0; b < batches; b++) {
        memcpy(h, x0 + b * T * d, (size_t)(T * d) * 4);
        TD_CHECK_OK(td_moe_stack_forward(&ctx, layers, L, h, T, &o, TD_MOE_EXPERT_MAJOR,
                                         TD_MOE_PREFETCH_NONE));
        memcpy(ref + b * T * d, h, (size_t)(T * d) * 4);
    }
    td_moe_cache_stats st[3];
    for (int p = 0; p < 3; p++) {
        td_moe_cache *c;
        TD_CHECK_OK(td_moe_cache_open(path, 16 * eb, &c)); /* a quarter of the 64 experts */
        td_moe *cl[4];
        for (int i = 0; i < L; i++)
            TD_CHECK_OK(td_moe_cache_layer(c, i, &cl[i]));
        bool same = true;
        for (int b = 0; b < batches; b++) {
            memcpy(h, x0 + b * T * d, (size_t)(T * d) * 4);
            TD_CHECK_OK(td_moe_stack_forward(&ctx, cl, L, h, T, &o, TD_MOE_EXPERT_MAJOR,
                                             (td_moe_prefetch)p));
            same = same && !memcmp(h, ref + b * T * d, (size_t)(T * d) * 4);
        }
        TD_CHECK(same, "prefetch %d changed the output", p);
        td_moe_cache_get_stats(c, &st[p]);
        for (int i = 0; i < L; i++)
            td_moe_free(cl[i]);
        td_moe_cache_close(c);
    }
    printf("  stack prefetch none/next-router/previous: hits %lld/%lld/%lld misses "
           "%lld/%lld/%lld prefetched -/%lld/%lld used -/%lld/%lld\n",
           (long long)st[0].hits, (long long)st[1].hits, (long long)st[2].hits,
           (long long)st[0].misses, (long long)st[1].misses, (long long)st[2].misses,
           (long long)st[1].prefetched, (long long)st[2].prefetched, (long long)st[1].prefetch_used,
           (long long)st[2].prefetch_used);
    CHECK(st[0].prefetched == 0 && st[1].prefetched > 0);
    /* demand accesses are the same routing each time */
    CHECK(st[0].hits + st[0].misses == st[1].hits + st[1].misses);
    CHECK(st[1].misses < st[0].misses && st[1].prefetch_used > 0);
    CHECK(st[1].bytes_moved == (double)(st[1].misses + st[1].prefetched) * (double)eb);
    free(x0), free(ref), free(h);
    for (int i = 0; i < L; i++) {
        td_moe_free(layers[i]);
        layer_data_free(&ld[i]);
    }
}

/* ---- bad input ---- */

static void test_bad_input(void)
{
    layer_data l;
    random_layer(&l, 16, 24, 4, TD_MOE_GELU, false, 91, 1.0f);
    td_qspec spec = td_qspec_default(TD_INT8);
    td_moe *m;
    TD_CHECK_OK(td_moe_new(&l.cfg, &l.w, &spec, TD_ACT_F32, &m));
    td_ctx ctx = td_ctx_default();
    td_rng r = {92};
    float *x = rand_floats(&r, 4 * 16, 1.0f), y[64];
    td_moe_route_opts o = td_moe_route_defaults(5);
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, 4, &o, TD_MOE_EXPERT_MAJOR, y, NULL),
                   TD_CODE_INVALID_ARGUMENT, "k = 5 exceeds");
    o.k = 0;
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, 4, &o, TD_MOE_EXPERT_MAJOR, y, NULL),
                   TD_CODE_INVALID_ARGUMENT, "k = 0");
    o.k = 2;
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, 0, &o, TD_MOE_EXPERT_MAJOR, y, NULL),
                   TD_CODE_INVALID_ARGUMENT, "0 tokens");
    o.capacity_factor = 0;
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, 4, &o, TD_MOE_EXPERT_MAJOR, y, NULL),
                   TD_CODE_INVALID_ARGUMENT, "capacity factor");
    o.capacity_factor = -1;
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, 4, &o, TD_MOE_EXPERT_MAJOR, y, NULL),
                   TD_CODE_INVALID_ARGUMENT, "capacity factor");
    o.capacity_factor = NAN;
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, 4, &o, TD_MOE_EXPERT_MAJOR, y, NULL),
                   TD_CODE_INVALID_ARGUMENT, "capacity factor");
    o.capacity_factor = 1;
    x[17] = NAN;
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, 4, &o, TD_MOE_TOKEN_MAJOR, y, NULL), TD_CODE_BAD_DATA,
                   "x[1][1] is not finite");
    double yd[64];
    TD_CHECK_ERROR(td_moe_reference(&l.cfg, &l.w, x, 4, &o, yd, NULL), TD_CODE_BAD_DATA,
                   "not finite");
    x[17] = INFINITY;
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, 4, &o, TD_MOE_TOKEN_MAJOR, y, NULL), TD_CODE_BAD_DATA,
                   "not finite");
    x[17] = 0;
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, 4, &o, (td_moe_order)7, y, NULL),
                   TD_CODE_INVALID_ARGUMENT, "order");
    o.noise = true;
    o.noise_std = NAN;
    TD_CHECK_ERROR(td_moe_forward(&ctx, m, x, 4, &o, TD_MOE_TOKEN_MAJOR, y, NULL),
                   TD_CODE_INVALID_ARGUMENT, "noise std");
    o = td_moe_route_defaults(1);
    double lg[8] = {1, NAN, 0, 0, 1, 2, 3, 4};
    td_moe_routing rt;
    TD_CHECK_ERROR(td_moe_route(lg, 2, 4, NULL, &o, &rt), TD_CODE_BAD_DATA,
                   "token 0, expert 1 is not finite");
    uint8_t allow[4] = {1, 0, 1, 1}; /* a NaN on an expert the task cannot use is harmless */
    TD_CHECK_OK(td_moe_route(lg, 2, 4, allow, &o, &rt));
    td_moe_routing_free(&rt);
    td_moe_free(m);
    /* weights */
    td_moe *bad = NULL;
    float *up = (float *)l.w.w_up;
    float keep = up[5];
    up[5] = NAN;
    TD_CHECK_ERROR(td_moe_new(&l.cfg, &l.w, &spec, TD_ACT_F32, &bad), TD_CODE_BAD_DATA,
                   "w_up of expert 0");
    up[5] = keep;
    l.cfg.activation = TD_MOE_SWIGLU;
    TD_CHECK_ERROR(td_moe_new(&l.cfg, &l.w, &spec, TD_ACT_F32, &bad), TD_CODE_INVALID_ARGUMENT,
                   "SwiGLU needs the gate");
    l.cfg.activation = TD_MOE_GELU;
    uint8_t none[4] = {0, 0, 0, 0};
    l.cfg.n_tasks = 1;
    l.cfg.task_mask = none;
    TD_CHECK_ERROR(td_moe_new(&l.cfg, &l.w, &spec, TD_ACT_F32, &bad), TD_CODE_INVALID_ARGUMENT,
                   "task 0 allows no expert");
    l.cfg.n_tasks = 0;
    l.cfg.experts = 0;
    TD_CHECK_ERROR(td_moe_new(&l.cfg, &l.w, &spec, TD_ACT_F32, &bad), TD_CODE_INVALID_ARGUMENT,
                   "experts must be >= 1");
    CHECK(bad == NULL);
    free(x);
    layer_data_free(&l);
}

/* ---- the graph operator ---- */

static td_graph *moe_graph(const layer_data *l, int64_t T, const char *fmt, const char *act,
                           float cf, int64_t k, const char *activation)
{
    td_graph *g;
    TD_CHECK_OK(td_graph_new("moe", &g));
    int64_t d = l->cfg.d_model, f = l->cfg.d_ff, E = l->cfg.experts;
    TD_CHECK_OK(td_graph_add_input(g, "x", TD_DT_F32, 2, (int64_t[]){T, d}, NULL));
    TD_CHECK_OK(td_graph_add_const(g, "router", TD_DT_F32, 2, (int64_t[]){d, E},
                                   (void *)l->w.router, false, NULL));
    TD_CHECK_OK(td_graph_add_const(g, "w_up", TD_DT_F32, 3, (int64_t[]){E, f, d}, (void *)l->w.w_up,
                                   false, NULL));
    TD_CHECK_OK(td_graph_add_const(g, "w_down", TD_DT_F32, 3, (int64_t[]){E, d, f},
                                   (void *)l->w.w_down, false, NULL));
    TD_CHECK_OK(td_graph_add_const(g, "b_up", TD_DT_F32, 2, (int64_t[]){E, f}, (void *)l->w.b_up,
                                   false, NULL));
    TD_CHECK_OK(td_graph_add_const(g, "b_down", TD_DT_F32, 2, (int64_t[]){E, d},
                                   (void *)l->w.b_down, false, NULL));
    const char *in[7] = {"x", "router", "w_up", "w_down", "", "b_up", "b_down"};
    const char *out[1] = {"y"};
    int idx;
    TD_CHECK_OK(td_graph_add_node(g, "moe0", "TandemMoE", 7, in, 1, out, &idx));
    td_node *n = &g->nodes[idx];
    TD_CHECK_OK(td_node_set_int(n, "k", k));
    if (cf != 0)
        TD_CHECK_OK(td_node_set_float(n, "capacity_factor", cf));
    TD_CHECK_OK(td_node_set_string(n, "activation", activation));
    TD_CHECK_OK(td_node_set_string(n, "overflow", "reroute"));
    TD_CHECK_OK(td_node_set_string(n, "order", "token_major"));
    TD_CHECK_OK(td_node_set_string(n, "weight_format", fmt));
    TD_CHECK_OK(td_node_set_string(n, "act", act));
    TD_CHECK_OK(td_graph_mark_output(g, "y"));
    return g;
}

static void test_graph_op(void)
{
    layer_data l;
    const int64_t T = 16, d = 32, f = 48;
    const int E = 8;
    random_layer(&l, d, f, E, TD_MOE_GELU, true, 101, 1.0f);
    td_graph *g = moe_graph(&l, T, "int8", "a8", 1.25f, 2, "gelu");
    TD_CHECK_OK(td_graph_prepare(g));
    const td_node *n = &g->nodes[0];
    CHECK(n->cost.macs == T * 2 * 2 * d * f + T * d * E);
    td_qspec spec = td_qspec_default(TD_INT8);
    td_moe *m;
    TD_CHECK_OK(td_moe_new(&l.cfg, &l.w, &spec, TD_ACT_INT8, &m));
    int64_t wb = d * E * 4;
    for (int e = 0; e < E; e++)
        wb += (int64_t)td_moe_expert_bytes(m, e);
    TD_CHECK(n->cost.weight_bytes == wb, "weight bytes %lld vs %lld",
             (long long)n->cost.weight_bytes, (long long)wb);
    CHECK(n->cost.params == d * E + 2 * E * d * f + E * (d + f));
    td_rng r = {102};
    float *x = rand_floats(&r, (size_t)(T * d), 1.0f), *y = malloc((size_t)(T * d) * 4);
    td_session *s;
    TD_CHECK_OK(td_session_new(g, NULL, &s));
    td_view in = {TD_DT_F32, 2, {T, d}, x};
    TD_CHECK_OK(td_session_set_input(s, "x", &in));
    TD_CHECK_OK(td_session_run(s));
    td_view out;
    TD_CHECK_OK(td_session_get(s, "y", &out));
    td_moe_route_opts o = td_moe_route_defaults(2);
    o.capacity_factor = 1.25;
    o.overflow = TD_MOE_REROUTE;
    td_ctx ctx = td_ctx_default();
    TD_CHECK_OK(td_moe_forward(&ctx, m, x, T, &o, TD_MOE_TOKEN_MAJOR, y, NULL));
    CHECK(out.ndim == 2 && out.shape[0] == T && out.shape[1] == d);
    CHECK(!memcmp(out.data, y, (size_t)(T * d) * 4));
    td_session_free(s);
    td_graph_free(g);
    /* bad attributes */
    g = moe_graph(&l, T, "int8", "a8", -1.0f, 2, "gelu");
    TD_CHECK_ERROR(td_graph_prepare(g), TD_CODE_INVALID_ARGUMENT, "capacity_factor");
    td_graph_free(g);
    g = moe_graph(&l, T, "int8", "a8", 0, 9, "gelu");
    TD_CHECK_ERROR(td_graph_prepare(g), TD_CODE_INVALID_ARGUMENT, "k = 9");
    td_graph_free(g);
    g = moe_graph(&l, T, "int9", "a8", 0, 1, "gelu");
    TD_CHECK_ERROR(td_graph_prepare(g), TD_CODE_INVALID_ARGUMENT, "moe0");
    td_graph_free(g);
    g = moe_graph(&l, T, "int8", "a8", 0, 1, "relu");
    TD_CHECK_ERROR(td_graph_prepare(g), TD_CODE_INVALID_ARGUMENT, "unknown value 'relu'");
    td_graph_free(g);
    free(x), free(y);
    td_moe_free(m);
    layer_data_free(&l);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/td_test_moe.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    double t0 = td_seconds();
    test_fixture("gelu_topk_drop");
    test_fixture("swiglu_softmax_reroute");
    test_fixture("silu_task_k1");
    test_fixture("gelu_nocap_k3");
    test_orders();
    test_capacity();
    test_noise();
    test_tasks();
    test_cache_lru();
    test_cache_traffic();
    test_mmap_equal();
    test_stack_prefetch();
    test_bad_input();
    test_graph_op();
    static const char *files[] = {"tasks", "lru", "traffic", "mmap", "stack"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s.safetensors", tmpdir, files[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    printf("  %.2f s\n", td_seconds() - t0);
    return td_test_finish("test_moe");
}
