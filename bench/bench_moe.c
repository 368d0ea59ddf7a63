/* `tandem bench moe`: mixture-of-experts execution and the expert cache.
 *
 * (a) Execution orders: expert-major (tokens gathered per expert, one GEMM per expert, each
 *     expert's weights read once per batch) against token-major (each token's k experts as
 *     GEMVs, weights re-read per token), same layer and input, timed in alternation; the
 *     figures are medians and the ratio is token-major time / expert-major time.
 * (b) The expert cache: a stack of layers saved to a safetensors file and served through
 *     td_moe_cache under a budget of 25% and 50% of all experts, decode-like batches of a few
 *     tokens whose inputs drift slowly (an AR(1) process per token stream), with no prefetch,
 *     next-layer-router prefetch and previous-batch prefetch: demand hit rate, loads and bytes
 *     moved, against loading every expert access from the file.
 * Only the public API (tandem/moe.h) is used. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "tandem/moe.h"

void td_bench_moe_usage(void)
{
    printf(
        "usage: tandem bench moe [--threads N] [--runs N] [--quick] [--json FILE]\n\n"
        "Expert-major vs token-major execution (tokens 64..512, experts 8..64, k 1..2,\n"
        "d_model 512..1024, d_ff = 2 d_model, int8/A8 and f32 experts; median of --runs, default\n"
        "5, at --threads, default 2), then the expert cache over a memory-mapped model file\n"
        "(budgets of 25%% and 50%% of the experts, with and without prefetch). --quick runs\n"
        "small shapes only (the test suite's smoke run).\n");
}

typedef struct order_case {
    int64_t tokens;
    int experts, k;
    int64_t d;
    const char *spec;
    td_act_type act;
} order_case;

static const order_case full_cases[] = {
    {64, 8, 1, 512, "int8", TD_ACT_INT8},   {64, 8, 1, 512, "f32", TD_ACT_F32},
    {64, 8, 2, 512, "int8", TD_ACT_INT8},   {64, 8, 2, 512, "f32", TD_ACT_F32},
    {256, 8, 2, 512, "int8", TD_ACT_INT8},  {256, 8, 2, 512, "f32", TD_ACT_F32},
    {512, 8, 2, 512, "int8", TD_ACT_INT8},  {512, 8, 2, 512, "f32", TD_ACT_F32},
    {256, 32, 2, 512, "int8", TD_ACT_INT8}, {256, 32, 2, 512, "f32", TD_ACT_F32},
    {512, 64, 1, 512, "int8", TD_ACT_INT8}, {512, 64, 2, 512, "int8", TD_ACT_INT8},
    {512, 64, 2, 512, "f32", TD_ACT_F32},   {128, 16, 2, 1024, "int8", TD_ACT_INT8},
    {128, 16, 2, 1024, "f32", TD_ACT_F32},  {512, 16, 2, 1024, "int8", TD_ACT_INT8},
    {512, 16, 2, 1024, "f32", TD_ACT_F32},
};
static const order_case quick_cases[] = {
    {32, 8, 2, 128, "int8", TD_ACT_INT8},
    {32, 8, 2, 128, "f32", TD_ACT_F32},
};

typedef struct order_result {
    order_case c;
    double t_expert, t_token; /* median seconds */
    double bytes_expert, bytes_token;
} order_result;

typedef struct cache_result {
    double budget_share;
    const char *prefetch;
    td_moe_cache_stats st;
    int64_t accesses;
    double expert_bytes, seconds;
} cache_result;

typedef struct bench_record {
    int threads, runs;
    bool quick;
    order_result orders[32];
    int n_orders;
    cache_result cache[8];
    int n_cache;
    int64_t cache_layers, cache_experts, cache_tokens, cache_batches, cache_d;
} bench_record;

/* ---- data ---- */

static float *normal_floats(size_t n, uint64_t *seed, float scale)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++) {
        double s = 0;
        for (int j = 0; j < 4; j++) {
            *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
            s += (double)(*seed >> 11) * 0x1p-53 - 0.5;
        }
        v[i] = (float)(s * 1.7320508 * scale); /* variance 4/12 * 3 = 1 */
    }
    return v;
}

typedef struct layer_mem {
    float *router, *up, *down;
} layer_mem;

static td_status make_layer(int64_t d, int E, const char *spec_text, td_act_type act,
                            float expert_scale, uint64_t seed, td_moe **out)
{
    int64_t f = 2 * d;
    size_t mat = (size_t)E * (size_t)d * (size_t)f;
    layer_mem m = {normal_floats((size_t)d * E, &seed, 2.0f / sqrtf((float)d)),
                   normal_floats(mat, &seed, expert_scale / sqrtf((float)d)),
                   normal_floats(mat, &seed, expert_scale / sqrtf((float)f))};
    td_status st = TD_OK;
    td_qspec spec;
    if (!m.router || !m.up || !m.down)
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "bench moe: out of memory for %d experts", E);
    if (!st)
        st = td_qspec_parse(spec_text, &spec);
    if (!st) {
        td_moe_config cfg = {.d_model = d, .d_ff = f, .experts = E, .activation = TD_MOE_GELU};
        td_moe_weights w = {.router = m.router, .w_up = m.up, .w_down = m.down};
        st = td_moe_new(&cfg, &w, &spec, act, out);
    }
    free(m.router);
    free(m.up);
    free(m.down);
    return st;
}

/* ---- (a) execution orders ---- */

static td_status time_orders(const td_ctx *ctx, const order_case *c, int runs, order_result *r)
{
    memset(r, 0, sizeof *r);
    r->c = *c;
    td_moe *m = NULL;
    TD_TRY(make_layer(c->d, c->experts, c->spec, c->act, 1.0f, 1000 + (uint64_t)c->experts, &m));
    uint64_t seed = 7;
    size_t n = (size_t)c->tokens * (size_t)c->d;
    float *x = normal_floats(n, &seed, 1.0f), *y = malloc(n * sizeof *y);
    double *te = malloc((size_t)runs * sizeof *te), *tt = malloc((size_t)runs * sizeof *tt);
    td_status st =
        x && y && te && tt ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "bench moe: memory");
    td_moe_route_opts o = td_moe_route_defaults(c->k);
    td_moe_routing rt;
    if (!st)
        st = td_moe_forward(ctx, m, x, c->tokens, &o, TD_MOE_EXPERT_MAJOR, y, &rt);
    if (!st) {
        double eb = (double)td_moe_expert_bytes(m, 0);
        int used = 0;
        for (int e = 0; e < c->experts; e++)
            used += rt.load[e] > 0;
        r->bytes_expert = used * eb;
        r->bytes_token = (double)(c->tokens * c->k - rt.dropped) * eb;
        td_moe_routing_free(&rt);
    }
    /* alternate the orders so that a busy spell of the machine hits both */
    for (int i = -1; !st && i < runs; i++) {
        double t0 = td_bench_now();
        st = td_moe_forward(ctx, m, x, c->tokens, &o, TD_MOE_EXPERT_MAJOR, y, NULL);
        double t1 = td_bench_now();
        if (!st)
            st = td_moe_forward(ctx, m, x, c->tokens, &o, TD_MOE_TOKEN_MAJOR, y, NULL);
        double t2 = td_bench_now();
        if (i >= 0) {
            te[i] = t1 - t0;
            tt[i] = t2 - t1;
        }
    }
    if (!st) {
        r->t_expert = td_bench_median(te, runs);
        r->t_token = td_bench_median(tt, runs);
    }
    free(x), free(y), free(te), free(tt);
    td_moe_free(m);
    return st;
}

/* ---- (b) the cache ---- */

typedef struct cache_setup {
    int layers, experts, tokens, batches;
    int64_t d;
    char path[256];
    float *inputs; /* batches x tokens x d */
    size_t expert_bytes;
} cache_setup;

static td_status cache_setup_make(bool quick, cache_setup *cs)
{
    memset(cs, 0, sizeof *cs);
    cs->layers = 4;
    cs->experts = quick ? 8 : 32;
    cs->tokens = 4;
    cs->batches = quick ? 6 : 48;
    cs->d = quick ? 64 : 256;
    char dir[] = "/tmp/td_bench_moe.XXXXXX";
    if (!mkdtemp(dir))
        return td_error_new(TD_CODE_IO, "bench moe: cannot create a temporary folder");
    snprintf(cs->path, sizeof cs->path, "%s/moe.safetensors", dir);
    td_moe *layers[8] = {0};
    td_status st = TD_OK;
    for (int l = 0; !st && l < cs->layers; l++)
        st = make_layer(cs->d, cs->experts, "int8", TD_ACT_INT8, 0.5f, 2000 + (uint64_t)l,
                        &layers[l]);
    if (!st)
        st = td_moe_save(cs->path, layers, cs->layers);
    if (!st)
        cs->expert_bytes = td_moe_expert_bytes(layers[0], 0);
    for (int l = 0; l < cs->layers; l++)
        td_moe_free(layers[l]);
    /* token streams drifting slowly: x_b = 0.9 x_(b-1) + sqrt(1 - 0.81) noise */
    size_t per = (size_t)cs->tokens * (size_t)cs->d;
    uint64_t seed = 99;
    cs->inputs = st ? NULL : normal_floats(per * (size_t)cs->batches, &seed, 1.0f);
    if (!st && !cs->inputs)
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "bench moe: memory");
    for (int b = 1; !st && b < cs->batches; b++)
        for (size_t i = 0; i < per; i++)
            cs->inputs[b * per + i] =
                0.9f * cs->inputs[(b - 1) * per + i] + 0.43589f * cs->inputs[b * per + i];
    return st;
}

static void cache_setup_free(cache_setup *cs)
{
    free(cs->inputs);
    if (cs->path[0]) {
        unlink(cs->path);
        char *slash = strrchr(cs->path, '/');
        if (slash) {
            *slash = '\0';
            rmdir(cs->path);
        }
    }
}

static td_status run_cache(const td_ctx *ctx, const cache_setup *cs, double share,
                           td_moe_prefetch pf, cache_result *r)
{
    static const char *const names[] = {"none", "next-router", "previous"};
    memset(r, 0, sizeof *r);
    r->budget_share = share;
    r->prefetch = names[pf];
    r->expert_bytes = (double)cs->expert_bytes;
    size_t total = (size_t)cs->layers * (size_t)cs->experts;
    size_t budget = (size_t)floor(share * (double)total) * cs->expert_bytes;
    td_moe_cache *c;
    TD_TRY(td_moe_cache_open(cs->path, budget, &c));
    td_moe *layers[8] = {0};
    td_status st = TD_OK;
    for (int l = 0; !st && l < cs->layers; l++)
        st = td_moe_cache_layer(c, l, &layers[l]);
    size_t per = (size_t)cs->tokens * (size_t)cs->d;
    float *h = malloc(per * sizeof *h);
    if (!st && !h)
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "bench moe: memory");
    td_moe_route_opts o = td_moe_route_defaults(2);
    double t0 = td_bench_now();
    for (int b = 0; !st && b < cs->batches; b++) {
        memcpy(h, cs->inputs + b * per, per * sizeof *h);
        st = td_moe_stack_forward(ctx, layers, cs->layers, h, cs->tokens, &o, TD_MOE_EXPERT_MAJOR,
                                  pf);
    }
    r->seconds = td_bench_now() - t0;
    td_moe_cache_get_stats(c, &r->st);
    r->accesses = r->st.hits + r->st.misses;
    free(h);
    for (int l = 0; l < cs->layers; l++)
        td_moe_free(layers[l]);
    td_moe_cache_close(c);
    return st;
}

/* ---- output ---- */

static void print_orders_header(void)
{
    printf("(a) execution orders: d_ff = 2 d_model, GELU experts, no capacity limit; ratio = "
           "token-major / expert-major time\n");
    printf("%6s %7s %2s %6s %-5s %12s %12s %7s %14s %14s\n", "tokens", "experts", "k", "d", "fmt",
           "expert ms", "token ms", "ratio", "expert MB rd", "token MB rd");
}

static void print_order(const order_result *r)
{
    printf("%6lld %7d %2d %6lld %-5s %12.3f %12.3f %7.2f %14.1f %14.1f\n", (long long)r->c.tokens,
           r->c.experts, r->c.k, (long long)r->c.d, r->c.spec, r->t_expert * 1e3, r->t_token * 1e3,
           r->t_token / r->t_expert, r->bytes_expert / 1e6, r->bytes_token / 1e6);
}

static void print_cache(const cache_result *r)
{
    double rate = r->accesses ? (double)r->st.hits / (double)r->accesses : 0;
    double nocache = (double)r->accesses * r->expert_bytes;
    printf("%5.0f%% %-12s %8.3f %7lld %7lld %9lld %8lld %10.1f %9.2f %9.2f\n",
           r->budget_share * 100, r->prefetch, rate, (long long)r->st.hits, (long long)r->st.misses,
           (long long)r->st.prefetched, (long long)r->st.prefetch_used, r->st.bytes_moved / 1e6,
           r->st.bytes_moved / nocache, r->seconds * 1e3);
}

static void write_json(FILE *f, void *arg)
{
    const bench_record *b = arg;
    td_json j;
    td_json_init(&j, f);
    td_json_begin_object(&j, NULL);
    td_json_str(&j, "bench", "moe");
    char utc[32];
    td_bench_utc(utc, sizeof utc);
    td_json_str(&j, "utc", utc);
    td_json_int(&j, "threads", b->threads);
    td_json_int(&j, "runs", b->runs);
    td_json_bool(&j, "quick", b->quick);
    td_json_begin_array(&j, "orders");
    for (int i = 0; i < b->n_orders; i++) {
        const order_result *r = &b->orders[i];
        td_json_begin_object(&j, NULL);
        td_json_int(&j, "tokens", r->c.tokens);
        td_json_int(&j, "experts", r->c.experts);
        td_json_int(&j, "k", r->c.k);
        td_json_int(&j, "d_model", r->c.d);
        td_json_int(&j, "d_ff", 2 * r->c.d);
        td_json_str(&j, "format", r->c.spec);
        td_json_str(&j, "act", r->c.act == TD_ACT_INT8 ? "a8" : "f32");
        td_json_num(&j, "expert_major_s", r->t_expert);
        td_json_num(&j, "token_major_s", r->t_token);
        td_json_num(&j, "ratio", r->t_token / r->t_expert);
        td_json_num(&j, "expert_major_weight_bytes", r->bytes_expert);
        td_json_num(&j, "token_major_weight_bytes", r->bytes_token);
        td_json_end_object(&j);
    }
    td_json_end_array(&j);
    td_json_begin_object(&j, "cache");
    td_json_int(&j, "layers", b->cache_layers);
    td_json_int(&j, "experts", b->cache_experts);
    td_json_int(&j, "tokens_per_batch", b->cache_tokens);
    td_json_int(&j, "batches", b->cache_batches);
    td_json_int(&j, "d_model", b->cache_d);
    td_json_begin_array(&j, "runs");
    for (int i = 0; i < b->n_cache; i++) {
        const cache_result *r = &b->cache[i];
        td_json_begin_object(&j, NULL);
        td_json_num(&j, "budget_share", r->budget_share);
        td_json_str(&j, "prefetch", r->prefetch);
        td_json_int(&j, "hits", r->st.hits);
        td_json_int(&j, "misses", r->st.misses);
        td_json_num(&j, "hit_rate", r->accesses ? (double)r->st.hits / (double)r->accesses : 0);
        td_json_int(&j, "prefetched", r->st.prefetched);
        td_json_int(&j, "prefetch_used", r->st.prefetch_used);
        td_json_num(&j, "bytes_moved", r->st.bytes_moved);
        td_json_num(&j, "expert_bytes", r->expert_bytes);
        td_json_num(&j, "seconds", r->seconds);
        td_json_end_object(&j);
    }
    td_json_end_array(&j);
    td_json_end_object(&j);
    td_json_end_object(&j);
    fputc('\n', f);
}

/* ---- driver ---- */

typedef struct options {
    int threads, runs;
    bool quick;
    const char *json;
} options;

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.threads = 2, .runs = 5};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            td_bench_moe_usage();
            return 0;
        }
        if (i + 1 < argc && !strcmp(argv[i], "--threads"))
            o->threads = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--runs"))
            o->runs = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--json"))
            o->json = argv[++i];
        else if (!strcmp(argv[i], "--quick"))
            o->quick = true;
        else {
            fprintf(stderr, "tandem bench moe: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (o->threads < 1 || o->runs < 1 || o->runs > 1000) {
        fprintf(stderr, "tandem bench moe: --threads must be >= 1 and --runs 1..1000\n");
        return 2;
    }
    return -1;
}

static td_status bench_orders(const td_ctx *ctx, const options *o, bench_record *b)
{
    const order_case *cases = o->quick ? quick_cases : full_cases;
    int n = o->quick ? (int)(sizeof quick_cases / sizeof quick_cases[0])
                     : (int)(sizeof full_cases / sizeof full_cases[0]);
    print_orders_header();
    for (int i = 0; i < n; i++) {
        td_bench_progress("moe orders %d/%d", i + 1, n);
        TD_TRY(time_orders(ctx, &cases[i], o->runs, &b->orders[b->n_orders]));
        td_bench_progress_clear();
        print_order(&b->orders[b->n_orders++]);
    }
    return TD_OK;
}

static td_status bench_cache(const td_ctx *ctx, const options *o, bench_record *b)
{
    cache_setup cs;
    td_status st = cache_setup_make(o->quick, &cs);
    if (!st) {
        b->cache_layers = cs.layers;
        b->cache_experts = cs.experts;
        b->cache_tokens = cs.tokens;
        b->cache_batches = cs.batches;
        b->cache_d = cs.d;
        printf("\n(b) expert cache: %d layers x %d experts (int8, %.1f KB each), %d tokens per "
               "batch, %d batches, k 2, expert-major;\n    bytes ratio = bytes moved / bytes "
               "of loading every expert access\n",
               cs.layers, cs.experts, (double)cs.expert_bytes / 1024, cs.tokens, cs.batches);
        printf("%6s %-12s %8s %7s %7s %9s %8s %10s %9s %9s\n", "budget", "prefetch", "hit rate",
               "hits", "misses", "prefetch", "used", "MB moved", "bytes rt", "ms");
    }
    static const double shares[] = {0.25, 0.5};
    for (int s = 0; !st && s < 2; s++)
        for (int p = 0; !st && p < 3; p++) {
            td_bench_progress("moe cache %d/6", s * 3 + p + 1);
            st = run_cache(ctx, &cs, shares[s], (td_moe_prefetch)p, &b->cache[b->n_cache]);
            td_bench_progress_clear();
            if (!st)
                print_cache(&b->cache[b->n_cache++]);
        }
    cache_setup_free(&cs);
    return st;
}

int td_bench_moe(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.json) {
        td_status st = td_bench_check_writable(o.json);
        if (st) {
            fprintf(stderr, "tandem bench moe: %s\n", td_status_message(st));
            td_status_free(st);
            return 1;
        }
    }
    td_ctx ctx = td_ctx_default();
    td_status ts = td_ctx_set_threads(&ctx, o.threads);
    if (ts) {
        fprintf(stderr, "tandem bench moe: --threads %d: %s\n", o.threads, td_status_message(ts));
        td_status_free(ts);
        return 2;
    }
    bench_record *b = calloc(1, sizeof *b);
    if (!b)
        return 1;
    b->threads = o.threads;
    b->runs = o.runs;
    b->quick = o.quick;
    double load[1];
    printf("tandem bench moe: isa %s, %d threads, %d runs (medians), load average %.2f\n",
           td_isa_name(ctx.isa), o.threads, o.runs, getloadavg(load, 1) == 1 ? load[0] : -1.0);
    td_status st = bench_orders(&ctx, &o, b);
    if (!st)
        st = bench_cache(&ctx, &o, b);
    if (!st && o.json)
        st = td_bench_write_file(o.json, write_json, b);
    if (st)
        fprintf(stderr, "tandem bench moe: %s\n", td_status_message(st));
    rc = st ? 1 : 0;
    td_status_free(st);
    free(b);
    return rc;
}
