/* `tandem bench kernels`: GEMV/GEMM time per weight format on the shapes of a
 * 7B-parameter language model, with the ratios that say whether the kernels are any
 * good, all measured in the same run:
 *   (a) GEMV weight traffic / the machine's read bandwidth (streaming sum, bench_stream.c)
 *   (b) N:M (and group-sparse) GEMV over the dense kernel of the same value format
 *   (c) W8A8 GEMM at batch 128 over oneDNN's int8 matmul
 *   (d) dense f32 over OpenBLAS called directly: sgemv at batch 1, sgemm above (our f32
 *       path is OpenBLAS)
 * Only the public API is used. Formats whose quantizer or kernels are missing are
 * reported as n/a, never as a failure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>

#include "bench.h"
#include "cli/cli.h"

#if defined(TD_HAVE_DNNL) && defined(__has_include)
#if __has_include("peer_dnnl.h")
#include "peer_dnnl.h"
#define BENCH_DNNL 1
/* Weak, so that a build whose CMake does not compile bench/peer_dnnl.c still links
 * (the peer is then reported as missing instead of breaking the tandem command). */
#pragma weak td_peer_dnnl_s8_gemm
#endif
#endif

/* Why the oneDNN peer cannot run, or NULL when it can. */
static const char *dnnl_missing(void)
{
#ifdef BENCH_DNNL
    return td_peer_dnnl_s8_gemm ? NULL : "bench/peer_dnnl.c not compiled in";
#else
    return "oneDNN not found at build time";
#endif
}

#ifndef TD_GIT_COMMIT
#define TD_GIT_COMMIT "unknown"
#endif

enum {
    MAX_ITEMS = 64,
    MAX_THREADS_LIST = 16,
    MAX_MEAS = 4096,
    MAX_REPS = 1000,
    MIN_REPS = 3,
    MAX_COPIES = 64,
};

/* ---- what is measured ---- */

typedef struct shape {
    int64_t rows, k;
} shape;

/* A weight spec with an activation type, and the default sets it belongs to. */
enum { IN_GEMV = 1, IN_GEMM = 2 };
typedef struct item {
    char spec[64];
    td_qspec qs;
    td_act_type act;
    unsigned sets;
} item;

typedef struct builtin_item {
    const char *spec;
    td_act_type act;
    unsigned sets; /* 0: only with --full */
} builtin_item;

/* The 7B shapes (rows x K): attention projections, FFN up/gate, FFN down. */
static const shape shapes_7b[] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};

/* Activations: f32 for the float formats, dynamic int8 (A8) or int6 (A6) for the
 * integer ones, plus the "W4 f32" case. */
static const builtin_item builtin_items[] = {
    {"f32", TD_ACT_F32, IN_GEMV | IN_GEMM},
    {"bf16", TD_ACT_F32, IN_GEMV | IN_GEMM},
    {"f16", TD_ACT_F32, IN_GEMV},
    {"fp8_e4m3", TD_ACT_F32, IN_GEMV | IN_GEMM},
    {"fp8_e5m2", TD_ACT_F32, IN_GEMV},
    {"int8", TD_ACT_INT8, IN_GEMV | IN_GEMM},
    {"int8", TD_ACT_F32, 0},
    {"int6", TD_ACT_INT8, IN_GEMV | IN_GEMM},
    {"int6", TD_ACT_INT6, IN_GEMV | IN_GEMM},
    {"int4:g128", TD_ACT_INT8, IN_GEMV | IN_GEMM},
    {"int4:g128", TD_ACT_F32, IN_GEMV},
    {"int4:g128:asym", TD_ACT_INT8, 0},
    {"int4:g32", TD_ACT_INT8, IN_GEMV},
    {"int4:g32", TD_ACT_F32, 0},
    {"int8:2:4", TD_ACT_INT8, IN_GEMV | IN_GEMM},
    {"int8:2:8", TD_ACT_INT8, IN_GEMV},
    {"int4:g128:2:4", TD_ACT_INT8, 0},
    {"int4:g128:gs0.5", TD_ACT_INT8, IN_GEMV},
};
enum { NBUILTIN = sizeof builtin_items / sizeof builtin_items[0] };

typedef struct timing {
    double med, min; /* seconds per call */
    int reps;        /* 0: not measured */
} timing;

typedef struct meas {
    int64_t rows, k;
    int batch, threads;
    const item *it;
    bool ok;
    char note[200]; /* why it was not measured */
    td_isa isa;
    size_t bytes;
    double bits;
    int copies;
    double quant_s; /* seconds to quantize one copy */
    timing kern;    /* td_gemm_prepared only: activations prepared beforehand */
    timing whole;   /* td_act_prepare + td_gemm_prepared (batch > 1) */
    timing peer;    /* OpenBLAS for f32, oneDNN s8 matmul for W8A8 */
    const char *peer_name;
    char peer_note[200];
    timing stream;       /* batch 1: streaming read of the same byte count, alternated */
    size_t stream_bytes; /* bytes that read covers */
    double bw;           /* its rate in GB/s: the read bandwidth next to this GEMV */
} meas;

typedef struct ratio {
    char kind; /* 'a' .. 'd' */
    char what[256];
    double value;
    bool has_target;
    double lo, hi; /* target band: lo <= value <= hi */
    const char *basis;
    bool noisy; /* taken while other work slowed even a plain read: not representative */
} ratio;

typedef struct opts {
    int threads; /* 0: default list */
    bool full, quick;
    const char *json;
    int reps;        /* 0: repeat until min_time */
    double min_time; /* seconds of timed calls per measurement */
    int nitems;
    item items[MAX_ITEMS];
    bool user_items;
} opts;

typedef struct run {
    opts o;
    td_cpu_info cpu;
    td_ctx ctx;
    int threads[MAX_THREADS_LIST];
    int nthreads;
    double bw[MAX_THREADS_LIST]; /* whole-buffer read bandwidth per thread count */
    td_bench_stream *stream;     /* kept for the read next to each GEMV */
    size_t stream_bytes;
    int stream_runs;
    size_t min_ws; /* weights are rotated over copies totalling at least this */
    int gemm_batch;
    meas *m;
    int nm;
    ratio *r;
    int nr;
    int step, nsteps;
    char date[32];
    double t_start, wall;
    double load_start, load_end; /* 1-minute load average, -1 if unknown */
    FILE *out;                   /* human-readable report */
} run;

/* ---- options ---- */

void td_bench_kernels_usage(void)
{
    printf("usage: tandem bench kernels [options]\n\n"
           "Times y = W x for every weight format on 7B-LLM shapes (4096x4096, 11008x4096,\n"
           "4096x11008; rows x K) and prints time, GB/s of weight traffic and GFLOP/s, then\n"
           "ratios measured in the same run: GEMV traffic / measured read bandwidth, N:M over\n"
           "dense, W8A8 batch 128 over oneDNN int8 matmul, f32 over OpenBLAS sgemv/sgemm.\n"
           "Default: a ~2 minute subset (GEMV on 4096x4096 and 11008x4096, GEMM batch 128\n"
           "on 4096x4096, threads 1 and all cores). Progress goes to stderr.\n\n"
           "options:\n"
           "  --full           whole sweep: all shapes x batch 1, 16, 128 x formats x threads\n"
           "  --quick          tiny shapes, a few seconds (checks the command end to end)\n"
           "  --threads N      only this thread count\n"
           "  --formats LIST   comma-separated SPEC[/ACT], e.g. int8/a8,int4:g128/f32,fp8_e4m3\n"
           "                   (ACT f32, a8 or a6; default f32 for float formats, a8 otherwise)\n"
           "  --min-time S     seconds of timed calls per measurement (default 0.05)\n"
           "  --reps N         exactly N timed calls per measurement instead (1..%d)\n"
           "  --json FILE      also write machine-readable records to FILE ('-': stdout, and\n"
           "                   the report goes to stderr); written atomically\n\n"
           "Exit status 0 when the benchmark ran (figures below target are reported, not\n"
           "failures), 1 on a run-time failure, 2 on a usage error. For f32 figures at full\n"
           "speed run it as: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE tandem bench kernels\n",
           MAX_REPS);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "tandem bench kernels: ");
    fprintf(stderr, fmt, arg ? arg : "");
    fprintf(stderr, " (see 'tandem bench kernels --help')\n");
    return TD_EXIT_USAGE;
}

static int add_item(opts *o, const char *spec, td_act_type act, unsigned sets)
{
    if (o->nitems == MAX_ITEMS)
        return 0;
    item *it = &o->items[o->nitems];
    memset(it, 0, sizeof *it);
    td_status st = td_qspec_parse(spec, &it->qs);
    if (st) {
        fprintf(stderr, "tandem bench kernels: --formats: %s\n", td_status_message(st));
        td_status_free(st);
        return 0;
    }
    snprintf(it->spec, sizeof it->spec, "%s", spec);
    it->act = act;
    it->sets = sets;
    o->nitems++;
    return 1;
}

/* "int8/a8,int4:g128/f32,fp8_e4m3" */
static int parse_formats(opts *o, const char *list)
{
    char buf[1024];
    if (strlen(list) >= sizeof buf)
        return usage_error("--formats: list is too long", NULL);
    strcpy(buf, list);
    o->nitems = 0;
    o->user_items = true;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *slash = strchr(tok, '/');
        td_act_type act = TD_ACT_COUNT;
        if (slash) {
            *slash = '\0';
            td_status st = td_act_parse(slash + 1, &act);
            if (st) {
                fprintf(stderr, "tandem bench kernels: --formats '%s': %s\n", list,
                        td_status_message(st));
                td_status_free(st);
                return TD_EXIT_USAGE;
            }
        }
        if (!*tok)
            return usage_error("--formats '%s': empty format entry", list);
        if (o->nitems == MAX_ITEMS)
            return usage_error("--formats: more than 64 entries", NULL);
        if (!add_item(o, tok, TD_ACT_F32, IN_GEMV | IN_GEMM))
            return TD_EXIT_USAGE;
        item *it = &o->items[o->nitems - 1];
        if (act == TD_ACT_COUNT)
            act = td_format_get(it->qs.format)->is_float ? TD_ACT_F32 : TD_ACT_INT8;
        it->act = act;
    }
    if (o->nitems == 0)
        return usage_error("--formats '%s': no formats given", list);
    return TD_EXIT_OK;
}

static int parse_options(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->min_time = -1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--full")) {
            o->full = true;
        } else if (!strcmp(a, "--quick")) {
            o->quick = true;
        } else if (!strcmp(a, "--threads")) {
            td_ctx c = {.threads = 1};
            if (!v)
                return usage_error("--threads needs a value", NULL);
            if (!td_cli_parse_threads(v, &c))
                return TD_EXIT_USAGE;
            o->threads = c.threads;
            i++;
        } else if (!strcmp(a, "--json")) {
            if (!v || (v[0] == '-' && v[1] != '\0'))
                return usage_error("--json needs a file name (or '-' for stdout)", NULL);
            o->json = v;
            i++;
        } else if (!strcmp(a, "--reps")) {
            char *end;
            long n = strtol(v ? v : "", &end, 10);
            if (!v || end == v || *end || n < 1 || n > MAX_REPS)
                return usage_error("--reps '%s': expected an integer from 1 to 1000", v);
            o->reps = (int)n;
            i++;
        } else if (!strcmp(a, "--min-time")) {
            char *end;
            double s = strtod(v ? v : "", &end);
            if (!v || end == v || *end || !(s > 0.0 && s <= 60.0))
                return usage_error("--min-time '%s': expected seconds in (0, 60]", v);
            o->min_time = s;
            i++;
        } else if (!strcmp(a, "--formats")) {
            if (!v)
                return usage_error("--formats needs a list, e.g. int8/a8,int4:g128", NULL);
            int rc = parse_formats(o, v);
            if (rc)
                return rc;
            i++;
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    if (o->full && o->quick)
        return usage_error("--full and --quick cannot be combined", NULL);
    if (o->min_time < 0.0)
        o->min_time = o->quick ? 0.002 : 0.05;
    if (!o->user_items)
        for (int i = 0; i < NBUILTIN; i++)
            if (!add_item(o, builtin_items[i].spec, builtin_items[i].act, builtin_items[i].sets))
                return TD_EXIT_FAIL; /* the built-in list is valid: cannot happen */
    return TD_EXIT_OK;
}

/* ---- the plan: which shapes, batches, items and thread counts ---- */

typedef struct plan_shape {
    shape s;
    int batches[3];
    int nbatches;
} plan_shape;

static int make_plan(const run *R, plan_shape *ps)
{
    if (R->o.quick) {
        ps[0] = (plan_shape){{256, 1024}, {1, 128}, 2};
        return 1;
    }
    if (R->o.full) {
        for (int i = 0; i < 3; i++)
            ps[i] = (plan_shape){shapes_7b[i], {1, 16, 128}, 3};
        return 3;
    }
    ps[0] = (plan_shape){shapes_7b[0], {1, 128}, 2};
    ps[1] = (plan_shape){shapes_7b[1], {1}, 1};
    return 2;
}

/* Does this item run at this batch in this plan? */
static bool wanted(const run *R, const item *it, int batch)
{
    if (R->o.full || R->o.user_items)
        return true;
    return (it->sets & (batch == 1 ? IN_GEMV : IN_GEMM)) != 0;
}

static void make_threads(run *R)
{
    int max = td_max_threads();
    R->nthreads = 0;
    if (R->o.threads) {
        R->threads[R->nthreads++] = R->o.threads;
        return;
    }
    R->threads[R->nthreads++] = 1;
    if (R->o.full)
        for (int t = 2; t < max && R->nthreads < MAX_THREADS_LIST - 1; t *= 2)
            R->threads[R->nthreads++] = t;
    if (max > 1)
        R->threads[R->nthreads++] = max;
}

/* ---- data ---- */

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform values in [-1, 1), a fixed function of (seed, index) so runs are repeatable. */
static void fill_uniform(float *p, size_t n, uint64_t seed)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((double)(mix(seed ^ (i * 0x2545f4914f6cdd1dull)) >> 11) *
                           (2.0 / 9007199254740992.0) -
                       1.0);
}

/* Last-level cache size. sysfs first: in virtual machines sysconf() can report the
 * host's figure (320 MiB here for a 32 MiB L3). */
static size_t l3_bytes(void)
{
    static size_t cached;
    if (cached)
        return cached;
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
    if (f) {
        unsigned long long v = 0;
        char unit = 0;
        if (fscanf(f, "%llu%c", &v, &unit) >= 1)
            cached = (size_t)v << (unit == 'K' ? 10 : unit == 'M' ? 20 : unit == 'G' ? 30 : 0);
        fclose(f);
    }
    if (!cached) {
        long v = sysconf(_SC_LEVEL3_CACHE_SIZE);
        cached = v > 0 ? (size_t)v : (size_t)32 << 20;
    }
    return cached;
}

/* ---- timing ---- */

typedef td_status (*call_fn)(void *arg, int rep);

static bool enough(const opts *o, int n, double total)
{
    if (n >= MAX_REPS)
        return true;
    if (o->reps)
        return n >= o->reps;
    return n >= MIN_REPS && total >= o->min_time;
}

static void summarize(double *t, int n, timing *out)
{
    double mn = t[0];
    for (int i = 1; i < n; i++)
        mn = t[i] < mn ? t[i] : mn;
    out->min = mn;
    out->med = td_bench_median(t, n);
    out->reps = n;
}

/* Up to three call kinds (ours and its peers) in alternation, call by call, so that a
 * change in the machine's load hits all alike. One untimed warm-up call each (which
 * also reports errors), then rounds until every kind has enough timed calls; the
 * median is the figure. */
typedef struct timed {
    call_fn fn;
    void *arg;
    timing *out;
} timed;

static td_status time_group(const opts *o, const timed *g, int n)
{
    static double t[3][MAX_REPS];
    double tot[3] = {0};
    for (int i = 0; i < n; i++)
        TD_TRY(g[i].fn(g[i].arg, 0));
    int reps = 0;
    for (;;) {
        double least = tot[0];
        for (int i = 1; i < n; i++)
            least = tot[i] < least ? tot[i] : least;
        if (enough(o, reps, least))
            break;
        for (int i = 0; i < n; i++) {
            double t0 = td_bench_now();
            TD_TRY(g[i].fn(g[i].arg, reps + 1));
            t[i][reps] = td_bench_now() - t0;
            tot[i] += t[i][reps];
        }
        reps++;
    }
    for (int i = 0; i < n; i++)
        summarize(t[i], reps, g[i].out);
    return TD_OK;
}

/* Our product. Each call uses the next copy of W, so that at batch 1 the weights
 * come from DRAM as they do in real decoding, not from a warm cache. */
typedef struct gemm_call {
    const td_ctx *ctx;
    td_qmatrix **w;
    int ncopies;
    td_act *a;  /* prepared once (kernel-only timing) */
    td_act *a2; /* prepared inside each call (whole timing) */
    td_act_type act;
    const float *x;
    int64_t batch, k;
    float *y;
} gemm_call;

static td_status call_kernel(void *arg, int rep)
{
    gemm_call *c = arg;
    const td_qmatrix *w = c->w[rep % c->ncopies];
    return td_gemm_prepared(c->ctx, w, c->a, c->y, td_qmatrix_rows(w));
}

static td_status call_whole(void *arg, int rep)
{
    gemm_call *c = arg;
    const td_qmatrix *w = c->w[rep % c->ncopies];
    TD_TRY(td_act_prepare(c->a2, w, c->act, c->x, c->batch, c->k));
    return td_gemm_prepared(c->ctx, w, c->a2, c->y, td_qmatrix_rows(w));
}

/* The peer for f32: OpenBLAS on plain copies of W, Y = X W^T, through the entry point
 * OpenBLAS is fastest with: sgemv for one token (its sgemm with M = 1 runs about 4x
 * slower here), sgemm for a batch. */
typedef struct blas_call {
    float **w;
    int ncopies;
    int threads;
    const float *x;
    int64_t rows, k, batch;
    float *y;
} blas_call;

static td_status call_blas(void *arg, int rep)
{
    blas_call *c = arg;
    openblas_set_num_threads(c->threads);
    if (c->batch == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)c->rows, (blasint)c->k, 1.0f,
                    c->w[rep % c->ncopies], (blasint)c->k, c->x, 1, 0.0f, c->y, 1);
        return TD_OK;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)c->batch, (blasint)c->rows,
                (blasint)c->k, 1.0f, c->x, (blasint)c->k, c->w[rep % c->ncopies], (blasint)c->k,
                0.0f, c->y, (blasint)c->rows);
    return TD_OK;
}

/* The bandwidth reference for a GEMV: a streaming read of as many bytes as the
 * weights, each call from a new offset of the 1 GiB buffer, so it is cold too. */
typedef struct stream_call {
    td_bench_stream *s;
    size_t bytes;
    int threads;
} stream_call;

static td_status call_stream(void *arg, int rep)
{
    stream_call *c = arg;
    size_t total = td_bench_stream_bytes(c->s);
    size_t span = total > c->bytes ? total - c->bytes : 1;
    td_bench_stream_read(c->s, (size_t)rep * c->bytes % span, c->bytes, c->threads);
    return TD_OK;
}

/* ---- measurement records ---- */

static meas *new_meas(run *R, const plan_shape *ps, const item *it, int batch, int threads)
{
    if (R->nm == MAX_MEAS)
        return NULL;
    meas *m = &R->m[R->nm++];
    memset(m, 0, sizeof *m);
    m->rows = ps->s.rows;
    m->k = ps->s.k;
    m->batch = batch;
    m->threads = threads;
    m->it = it;
    return m;
}

/* "n/a (not implemented)" for a format still being written, else the message. */
static void set_na(meas *m, td_status st)
{
    const char *msg = td_status_message(st);
    if (strstr(msg, "not implemented"))
        snprintf(m->note, sizeof m->note, "n/a (not implemented)");
    else
        snprintf(m->note, sizeof m->note, "n/a (%s)", msg);
    m->ok = false;
}

static void progress(run *R, const item *it, const plan_shape *ps, int batch, int threads)
{
    R->step++;
    td_bench_progress("[%d/%d] %s %s %lldx%lld b%d t%d", R->step, R->nsteps, it->spec,
                      td_act_name(it->act), (long long)ps->s.rows, (long long)ps->s.k, batch,
                      threads);
}

static bool is_w8a8(const item *it)
{
    return it->qs.format == TD_INT8 && it->qs.sparsity == TD_DENSE && it->qs.group == 0 &&
           !it->qs.asym && it->act == TD_ACT_INT8;
}

static bool is_f32(const item *it)
{
    return it->qs.format == TD_F32 && it->act == TD_ACT_F32 && it->qs.sparsity == TD_DENSE;
}

/* oneDNN's s8 x s8 matmul with the same M (batch), N (rows), K and threads. */
static void measure_dnnl(run *R, meas *m)
{
    m->peer_name = "oneDNN s8 matmul";
    if (dnnl_missing()) {
        snprintf(m->peer_note, sizeof m->peer_note, "%s", dnnl_missing());
        return;
    }
#ifdef BENCH_DNNL
    /* The peer takes a repetition count: enough for --min-time at our own speed. */
    int reps = R->o.reps;
    if (!reps) {
        double want = R->o.min_time / m->kern.med;
        reps = want < MIN_REPS ? MIN_REPS : want > MAX_REPS ? MAX_REPS : (int)ceil(want);
    }
    double med = 0.0;
    td_status st = td_peer_dnnl_s8_gemm(m->batch, m->rows, m->k, m->threads, reps, &med);
    if (st) {
        snprintf(m->peer_note, sizeof m->peer_note, "%s", td_status_message(st));
        td_status_free(st);
        return;
    }
    m->peer.med = med;
    m->peer.min = NAN; /* the peer reports its median only */
    m->peer.reps = reps;
#else
    (void)R;
#endif
}

/* Times one (item, batch, threads) on prepared copies of W. */
static void measure_one(run *R, meas *m, gemm_call *c, blas_call *bc)
{
    td_ctx ctx = R->ctx;
    ctx.threads = m->threads;
    c->ctx = &ctx;
    m->isa = td_gemm_isa(&ctx, c->w[0], m->it->act);
    /* A missing fast kernel falls back to the scalar reference, which would take
     * minutes on the big GEMMs: time it only where it is quick. */
    double macs = (double)m->rows * (double)m->k * (double)m->batch;
    if (m->isa == TD_ISA_SCALAR && ctx.isa > TD_ISA_SCALAR && macs > 134217728.0) {
        snprintf(m->note, sizeof m->note, "skipped (no %s kernel yet: scalar reference only)",
                 td_isa_name(ctx.isa));
        return;
    }
    timed g[3] = {{call_kernel, c, &m->kern}};
    int n = 1;
    if (bc) {
        bc->threads = m->threads;
        m->peer_name = m->batch == 1 ? "OpenBLAS sgemv" : "OpenBLAS sgemm";
        g[n++] = (timed){call_blas, bc, &m->peer};
    }
    size_t total = td_bench_stream_bytes(R->stream);
    stream_call sc = {R->stream, m->bytes < total ? m->bytes : total, m->threads};
    if (m->batch == 1)
        g[n++] = (timed){call_stream, &sc, &m->stream};
    td_status st = time_group(&R->o, g, n);
    if (!st && m->batch > 1)
        st = time_group(&R->o, &(timed){call_whole, c, &m->whole}, 1);
    if (st) {
        set_na(m, st);
        td_status_free(st);
        return;
    }
    m->ok = true;
    if (m->stream.reps) {
        m->stream_bytes = (sc.bytes + 511) / 512 * 512;
        m->stream_bytes = m->stream_bytes < total ? m->stream_bytes : total;
        m->bw = (double)m->stream_bytes / m->stream.med * 1e-9;
    }
    if (is_w8a8(m->it) && m->batch == R->gemm_batch)
        measure_dnnl(R, m);
}

/* All batches and thread counts of one item on one shape. */
static td_status measure_item(run *R, const plan_shape *ps, const item *it, td_qmatrix **w,
                              int ncopies, double quant_s, td_status qst, const float *x, float *y)
{
    float *wf[MAX_COPIES] = {0};
    td_status st = TD_OK;
    if (!qst && is_f32(it)) {
        /* Plain f32 copies for the direct OpenBLAS call, rotated the same way. */
        for (int i = 0; i < ncopies && !st; i++) {
            st = td_alloc((size_t)ps->s.rows * (size_t)ps->s.k * sizeof(float), (void **)&wf[i]);
            if (!st)
                fill_uniform(wf[i], (size_t)ps->s.rows * (size_t)ps->s.k, 1);
        }
    }
    for (int bi = 0; bi < ps->nbatches && !st; bi++) {
        int batch = ps->batches[bi];
        if (!wanted(R, it, batch))
            continue;
        td_act *a = NULL, *a2 = NULL;
        td_status ast = qst ? TD_OK : td_act_new(&a);
        if (!ast && !qst)
            ast = td_act_new(&a2);
        if (!ast && !qst)
            ast = td_act_prepare(a, w[0], it->act, x, batch, ps->s.k);
        for (int ti = 0; ti < R->nthreads; ti++) {
            progress(R, it, ps, batch, R->threads[ti]);
            meas *m = new_meas(R, ps, it, batch, R->threads[ti]);
            if (!m)
                continue;
            if (qst || ast) {
                set_na(m, qst ? qst : ast);
                continue;
            }
            m->bytes = td_qmatrix_bytes(w[0]);
            m->bits = td_qmatrix_bits_per_weight(w[0]);
            m->copies = ncopies;
            m->quant_s = quant_s;
            gemm_call c = {.w = w,
                           .ncopies = ncopies,
                           .a = a,
                           .a2 = a2,
                           .act = it->act,
                           .x = x,
                           .batch = batch,
                           .k = ps->s.k,
                           .y = y};
            blas_call bc = {.w = wf,
                            .ncopies = ncopies,
                            .x = x,
                            .rows = ps->s.rows,
                            .k = ps->s.k,
                            .batch = batch,
                            .y = y};
            measure_one(R, m, &c, wf[0] ? &bc : NULL);
        }
        td_status_free(ast);
        td_act_free(a);
        td_act_free(a2);
    }
    if (wf[0]) {
        /* OpenBLAS worker threads spin for a while after a call; let them go to sleep
         * before the next format's OpenMP threads need the cores. */
        usleep(300000);
    }
    for (int i = 0; i < ncopies; i++)
        td_free(wf[i]);
    return st;
}

/* Quantizes enough copies of W that cycling through them defeats the caches. The
 * copies are quantized in parallel (quantization dominates the run time otherwise);
 * quantizers keep no global state, so concurrent calls are independent. */
static td_status quantize_copies(run *R, const plan_shape *ps, const item *it, const float *wsrc,
                                 td_qmatrix **w, int *ncopies, double *quant_s)
{
    *ncopies = 0;
    td_bench_progress("[%d/%d] quantizing %s %lldx%lld", R->step + 1, R->nsteps, it->spec,
                      (long long)ps->s.rows, (long long)ps->s.k);
    double t0 = td_bench_now();
    TD_TRY(td_qmatrix_quantize(&it->qs, wsrc, ps->s.rows, ps->s.k, ps->s.k, &w[0]));
    *quant_s = td_bench_now() - t0;
    *ncopies = 1;
    size_t bytes = td_qmatrix_bytes(w[0]);
    size_t want = bytes ? (R->min_ws + bytes - 1) / bytes : 1;
    if (want > MAX_COPIES)
        want = MAX_COPIES;
    if (want <= 1)
        return TD_OK;
    td_bench_progress("[%d/%d] quantizing %s %lldx%lld (%zu copies)", R->step + 1, R->nsteps,
                      it->spec, (long long)ps->s.rows, (long long)ps->s.k, want);
    td_status errs[MAX_COPIES] = {0};
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 1; i < (int)want; i++)
        errs[i] = td_qmatrix_quantize(&it->qs, wsrc, ps->s.rows, ps->s.k, ps->s.k, &w[i]);
    td_status st = TD_OK;
    for (int i = 1; i < (int)want; i++) {
        if (errs[i] && !st)
            st = errs[i];
        else
            td_status_free(errs[i]);
    }
    *ncopies = (int)want; /* failed copies are NULL and freed by the caller */
    return st;
}

static bool same_spec(const td_qspec *a, const td_qspec *b)
{
    return a->format == b->format && a->group == b->group && a->tile_rows == b->tile_rows &&
           a->asym == b->asym && a->saturate == b->saturate && a->clip == b->clip &&
           a->sparsity == b->sparsity && a->nm_n == b->nm_n && a->nm_m == b->nm_m &&
           a->group_prune == b->group_prune;
}

static bool item_used_on(const run *R, const plan_shape *ps, const item *it)
{
    for (int bi = 0; bi < ps->nbatches; bi++)
        if (wanted(R, it, ps->batches[bi]))
            return true;
    return false;
}

static void print_shape(run *R, const plan_shape *ps, int first);

/* One shape: each distinct spec is quantized once (with its copies) and shared by all
 * items, batches and thread counts that use it. */
static td_status measure_shape(run *R, const plan_shape *ps)
{
    size_t nw = (size_t)ps->s.rows * (size_t)ps->s.k;
    int maxb = ps->batches[ps->nbatches - 1];
    float *wsrc = NULL, *x = NULL, *y = NULL;
    td_status st = td_alloc(nw * sizeof(float), (void **)&wsrc);
    if (!st)
        st = td_alloc((size_t)maxb * (size_t)ps->s.k * sizeof(float), (void **)&x);
    if (!st)
        st = td_alloc((size_t)maxb * (size_t)ps->s.rows * sizeof(float), (void **)&y);
    if (st)
        goto done;
    fill_uniform(wsrc, nw, 1);
    fill_uniform(x, (size_t)maxb * (size_t)ps->s.k, 2);
    int first = R->nm;
    bool done_item[MAX_ITEMS] = {0};
    for (int i = 0; i < R->o.nitems && !st; i++) {
        if (done_item[i] || !item_used_on(R, ps, &R->o.items[i]))
            continue;
        td_qmatrix *w[MAX_COPIES] = {0};
        int ncopies = 0;
        double quant_s = 0.0;
        td_status qst = quantize_copies(R, ps, &R->o.items[i], wsrc, w, &ncopies, &quant_s);
        for (int j = i; j < R->o.nitems && !st; j++) {
            if (done_item[j] || !same_spec(&R->o.items[i].qs, &R->o.items[j].qs) ||
                !item_used_on(R, ps, &R->o.items[j]))
                continue;
            done_item[j] = true;
            st = measure_item(R, ps, &R->o.items[j], w, ncopies, quant_s, qst, x, y);
        }
        td_status_free(qst);
        for (int c = 0; c < MAX_COPIES; c++)
            td_qmatrix_free(w[c]);
    }
    td_bench_progress_clear();
    print_shape(R, ps, first);
done:
    td_free(wsrc);
    td_free(x);
    td_free(y);
    return st;
}

/* ---- ratios ---- */

static const char *shape_name(const meas *m, char *buf, size_t len)
{
    snprintf(buf, len, "%lldx%lld", (long long)m->rows, (long long)m->k);
    return buf;
}

static ratio *add_ratio(run *R, char kind, double value)
{
    ratio *r = &R->r[R->nr++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->value = value;
    r->hi = INFINITY;
    return r;
}

/* A GEMV whose neighbouring streaming read ran at under half the machine's
 * whole-buffer rate was measured while other processes held the cores. */
static bool noisy(const run *R, const meas *m)
{
    for (int i = 0; i < R->nthreads; i++)
        if (R->threads[i] == m->threads)
            return m->bw > 0 && m->bw < 0.5 * R->bw[i];
    return false;
}

static const meas *find_dense(const run *R, const meas *s)
{
    td_qspec want = s->it->qs;
    want.sparsity = TD_DENSE;
    want.nm_n = want.nm_m = 0;
    want.group_prune = 0.0;
    for (int i = 0; i < R->nm; i++) {
        const meas *m = &R->m[i];
        if (m->ok && m->rows == s->rows && m->k == s->k && m->batch == s->batch &&
            m->threads == s->threads && m->it->act == s->it->act && same_spec(&m->it->qs, &want))
            return m;
    }
    return NULL;
}

static void compute_ratios(run *R)
{
    char sh[48];
    for (int i = 0; i < R->nm; i++) {
        const meas *m = &R->m[i];
        const item *it = m->it;
        td_format f = it->qs.format;
        if (!m->ok)
            continue;
        /* (a) bandwidth fraction of the memory-bound GEMV */
        bool bw_target =
            it->qs.sparsity == TD_DENSE &&
            (f == TD_INT8 || f == TD_INT6 || f == TD_INT4 || f == TD_FP8_E4M3 || f == TD_FP8_E5M2);
        if (m->batch == 1 && bw_target && m->bw > 0) {
            ratio *r = add_ratio(R, 'a', (double)m->bytes / m->kern.med * 1e-9 / m->bw);
            snprintf(r->what, sizeof r->what, "%s %s %s t%d", it->spec, td_act_name(it->act),
                     shape_name(m, sh, sizeof sh), m->threads);
            r->has_target = true;
            r->lo = 0.8;
            r->noisy = noisy(R, m);
            r->basis = "streaming-read time / GEMV time for the same byte count, same thread "
                       "count, calls alternated (= weight GB/s over read GB/s)";
        }
        /* (b) sparse over dense of the same value format */
        if (m->batch == 1 && it->qs.sparsity != TD_DENSE) {
            const meas *d = find_dense(R, m);
            if (d) {
                ratio *r = add_ratio(R, 'b', d->kern.med / m->kern.med);
                snprintf(r->what, sizeof r->what, "%s over %s, %s %s t%d", it->spec, d->it->spec,
                         td_act_name(it->act), shape_name(m, sh, sizeof sh), m->threads);
                r->basis = "dense GEMV time / sparse GEMV time, batch 1";
                r->noisy = noisy(R, m) || noisy(R, d);
                if (f == TD_INT8 && it->qs.sparsity == TD_SPARSE_NM && it->qs.nm_n == 2 &&
                    (it->qs.nm_m == 4 || it->qs.nm_m == 8)) {
                    r->has_target = true;
                    r->lo = it->qs.nm_m == 4 ? 1.5 : 2.5;
                }
            }
        }
        /* (c) W8A8 over oneDNN */
        if (m->peer.reps && is_w8a8(it)) {
            ratio *r = add_ratio(R, 'c', m->peer.med / m->kern.med);
            snprintf(r->what, sizeof r->what, "kernel only, %s b%d t%d",
                     shape_name(m, sh, sizeof sh), m->batch, m->threads);
            r->has_target = true;
            r->lo = 1.0;
            r->basis = "oneDNN time / td_gemm_prepared time; both given int8 activations "
                       "(ours quantized beforehand, outside the timing): like for like";
            if (m->whole.reps) {
                r = add_ratio(R, 'c', m->peer.med / m->whole.med);
                snprintf(r->what, sizeof r->what, "with act. quantization, %s b%d t%d",
                         shape_name(m, sh, sizeof sh), m->batch, m->threads);
                r->has_target = true;
                r->lo = 1.0;
                r->basis = "oneDNN time / (td_act_prepare + td_gemm_prepared) time: ours "
                           "also quantizes the f32 activations per token, oneDNN does not";
            }
        }
        /* (d) f32 over OpenBLAS */
        if (m->peer.reps && is_f32(it)) {
            ratio *r = add_ratio(R, 'd', m->peer.med / m->kern.med);
            snprintf(r->what, sizeof r->what, "f32 %s b%d t%d", shape_name(m, sh, sizeof sh),
                     m->batch, m->threads);
            r->has_target = true;
            r->lo = 0.9;
            r->hi = 1.1;
            r->basis = m->batch == 1 ? "cblas_sgemv time / td_gemm_prepared time, same data, "
                                       "alternating calls"
                                     : "cblas_sgemm time / td_gemm_prepared time, same data, "
                                       "alternating calls";
        }
    }
}

/* ---- report ---- */

static const char *target_text(const ratio *r, char *buf, size_t len)
{
    if (!r->has_target)
        snprintf(buf, len, "none");
    else if (isinf(r->hi))
        snprintf(buf, len, ">= %.2f", r->lo);
    else
        snprintf(buf, len, "%.2f..%.2f", r->lo, r->hi);
    return buf;
}

static int ratio_pass(const ratio *r)
{
    if (!r->has_target)
        return -1;
    return r->value >= r->lo && r->value <= r->hi;
}

static double load_avg(void)
{
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : -1.0;
}

/* Other processes on the cores stall the OpenMP threads at every barrier; say so
 * rather than let such figures pass for the machine's. */
static void print_load(run *R, const char *when, double load)
{
    if (load < 0.0)
        return;
    fprintf(R->out, "load     %.1f (1-minute average %s, %d CPUs)", load, when, td_max_threads());
    if (load > 0.5)
        fprintf(R->out, ": a busy machine; figures are lower\n"
                        "         and noisier than on an idle one, above all with every core\n");
    else
        fprintf(R->out, "\n");
}

static void print_header(run *R)
{
    FILE *o = R->out;
    const char *ct = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    fprintf(o, "tandem bench kernels   commit %s   %s\n", TD_GIT_COMMIT, R->date);
    fprintf(o, "cpu      %s\n", R->cpu.model);
    fprintf(o, "isa      %s (best on this CPU: %s)   threads", td_isa_name(R->ctx.isa),
            td_isa_name(R->cpu.best));
    for (int i = 0; i < R->nthreads; i++)
        fprintf(o, " %d", R->threads[i]);
    fprintf(o, " of %d\n", td_max_threads());
    fprintf(o, "openblas core %s", openblas_get_corename());
    if (ct || l2)
        fprintf(o,
                "   NOTE: OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s are set. OpenBLAS reads\n"
                "         them at load time; they can halve its speed on this CPU, so the f32\n"
                "         figures are low. Run 'env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE\n"
                "         tandem bench kernels' for fair f32 figures.\n",
                ct ? ct : "(unset)", l2 ? l2 : "(unset)");
    else
        fprintf(o, "   (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset: f32 at full speed)\n");
    const char *wp = getenv("OMP_WAIT_POLICY");
    if (!wp || strcasecmp(wp, "passive") != 0)
        fprintf(
            o, "openmp   NOTE: OMP_WAIT_POLICY is not 'passive': idle OpenMP workers spin and\n"
               "         steal the cores from the OpenBLAS and oneDNN peers' own threads, so\n"
               "         the peers' 2-thread figures come out low. scripts/run-main.sh sets it.\n");
    else
        fprintf(o, "openmp   OMP_WAIT_POLICY=passive (peers' threads are not starved)\n");
    fprintf(o, "peers    OpenBLAS cblas_sgemv/sgemm, oneDNN s8 matmul%s%s%s\n",
            dnnl_missing() ? " (n/a: " : "", dnnl_missing() ? dnnl_missing() : "",
            dnnl_missing() ? ")" : "");
    fprintf(o, "timing   median of calls after one warm-up; %s\n",
            R->o.reps ? "fixed repetition count" : "repeated until >= --min-time per figure");
    if (R->min_ws)
        fprintf(o,
                "         at batch 1 each call reads the next of several copies of W (>= %zu\n"
                "         MiB in all, L3 %zu MiB) so weights stream from DRAM as in decoding\n",
                R->min_ws >> 20, l3_bytes() >> 20);
    else
        fprintf(o, "         --quick: one copy of W, so small weights stay in cache\n");
    print_load(R, "before the run", R->load_start);
    fprintf(o,
            "\nread bandwidth (streaming %s sum over %zu MiB, median of %d; the GEMV tables\n"
            "use a read of the weights' size from this buffer, timed alternately with each call)\n",
            td_bench_stream_isa(), R->stream_bytes >> 20, R->stream_runs);
    for (int i = 0; i < R->nthreads; i++)
        fprintf(o, "  threads %-3d %7.1f GB/s\n", R->threads[i], R->bw[i]);
    fflush(o);
}

static void print_shape(run *R, const plan_shape *ps, int first)
{
    FILE *o = R->out;
    for (int bi = 0; bi < ps->nbatches; bi++) {
        int batch = ps->batches[bi];
        bool any = false;
        for (int i = first; i < R->nm; i++)
            any |= R->m[i].batch == batch;
        if (!any)
            continue;
        fprintf(o, "\n%lldx%lld  batch %d%s\n", (long long)ps->s.rows, (long long)ps->s.k, batch,
                batch == 1 ? " (GEMV)" : " (GEMM)");
        if (batch == 1)
            fprintf(o, "  %-18s %-3s %3s %-7s %6s %9s %9s %7s %8s %8s %7s\n", "format", "act",
                    "thr", "isa", "bits/w", "weight MB", "ms/call", "GB/s", "GFLOP/s", "read GB/s",
                    "of read");
        else
            fprintf(o, "  %-18s %-3s %3s %-7s %6s %9s %9s %7s %8s %10s\n", "format", "act", "thr",
                    "isa", "bits/w", "weight MB", "ms/call", "GB/s", "GFLOP/s", "ms w/ prep");
        for (int i = first; i < R->nm; i++) {
            const meas *m = &R->m[i];
            if (m->batch != batch)
                continue;
            fprintf(o, "  %-18s %-3s %3d ", m->it->spec, td_act_name(m->it->act), m->threads);
            if (!m->ok) {
                fprintf(o, "%s\n", m->note[0] ? m->note : "n/a");
                continue;
            }
            double t = m->kern.med;
            double flops = 2.0 * (double)m->rows * (double)m->k * (double)m->batch;
            fprintf(o, "%-7s %6.2f %9.2f %9.3f %7.1f %8.1f ", td_isa_name(m->isa), m->bits,
                    (double)m->bytes * 1e-6, t * 1e3, (double)m->bytes / t * 1e-9,
                    flops / t * 1e-9);
            if (batch == 1)
                fprintf(o, "%9.1f %7.2f\n", m->bw, (double)m->bytes / t * 1e-9 / m->bw);
            else if (m->whole.reps)
                fprintf(o, "%10.3f\n", m->whole.med * 1e3);
            else
                fprintf(o, "%10s\n", "-");
            if (m->peer_name && m->peer.reps)
                fprintf(o, "  %-18s %-3s %3d %-7s %6s %9s %9.3f %7s %8.1f\n", m->peer_name, "",
                        m->threads, "peer", "", "", m->peer.med * 1e3, "",
                        flops / m->peer.med * 1e-9);
            else if (m->peer_name && m->peer_note[0])
                fprintf(o, "  %-18s %-3s %3d n/a (%s)\n", m->peer_name, "", m->threads,
                        m->peer_note);
        }
    }
    fflush(o);
}

static void print_ratios(run *R)
{
    static const char *const titles[] = {
        "(a) GEMV weight traffic / read bandwidth: a streaming read of as many bytes, same\n"
        "    threads, timed call by call in alternation with the GEMV",
        "(b) sparse over dense GEMV of the same value format, batch 1",
        "(c) W8A8 GEMM over oneDNN's int8 matmul (oneDNN is given int8 inputs, so the\n"
        "    kernel-only figure is the like-for-like one)",
        "(d) dense f32 over OpenBLAS called directly (sgemv at batch 1, sgemm above; our f32\n"
        "    path is OpenBLAS, so this should be ~1.0)",
    };
    FILE *o = R->out;
    char tt[32];
    fprintf(o, "\nratios (measured in this run)\n");
    for (int k = 0; k < 4; k++) {
        fprintf(o, "%s\n", titles[k]);
        int shown = 0;
        for (int i = 0; i < R->nr; i++) {
            const ratio *r = &R->r[i];
            if (r->kind != 'a' + k)
                continue;
            int pass = ratio_pass(r);
            const char *verdict = pass < 0 ? "" : pass ? "PASS" : "BELOW";
            fprintf(o, "    %-52s %6.2f%s  target %-10s %s%s\n", r->what, r->value,
                    k == 0 ? " " : "x", target_text(r, tt, sizeof tt), verdict,
                    r->noisy ? " (noisy: machine busy)" : "");
            shown++;
        }
        if (!shown) {
            const char *why = "no measurement (format not implemented or not selected)";
            if (k == 2 && dnnl_missing())
                why = dnnl_missing();
            fprintf(o, "    n/a: %s\n", why);
        }
    }
    fprintf(o, "\n");
    print_load(R, "at the end, this run included", R->load_end);
    fprintf(o, "wall time %.1f s\n", R->wall);
    fflush(o);
}

/* ---- JSON ---- */

static void json_timing(td_json *j, const char *key, const timing *t)
{
    if (!t->reps) {
        td_json_null(j, key);
        return;
    }
    td_json_begin_object(j, key);
    td_json_num(j, "median_s", t->med);
    td_json_num(j, "min_s", t->min);
    td_json_int(j, "reps", t->reps);
    td_json_end_object(j);
}

static void write_json(FILE *f, void *arg)
{
    run *R = arg;
    td_json j;
    char tt[32], sh[48];
    td_json_init(&j, f);
    td_json_begin_object(&j, NULL);
    td_json_str(&j, "tool", "tandem bench kernels");
    td_json_str(&j, "version", TD_VERSION_STRING);
    td_json_str(&j, "commit", TD_GIT_COMMIT);
    td_json_str(&j, "date", R->date);
    td_json_begin_object(&j, "machine");
    td_json_str(&j, "cpu", R->cpu.model);
    td_json_str(&j, "isa", td_isa_name(R->ctx.isa));
    td_json_str(&j, "isa_best", td_isa_name(R->cpu.best));
    td_json_int(&j, "max_threads", td_max_threads());
    td_json_int(&j, "l3_bytes", (long long)l3_bytes());
    td_json_num(&j, "load_avg_start", R->load_start);
    td_json_num(&j, "load_avg_end", R->load_end);
    td_json_str(&j, "openblas_core", openblas_get_corename());
    td_json_str(&j, "OPENBLAS_CORETYPE", getenv("OPENBLAS_CORETYPE"));
    td_json_str(&j, "OMP_WAIT_POLICY", getenv("OMP_WAIT_POLICY"));
    td_json_str(&j, "OPENBLAS_L2_SIZE", getenv("OPENBLAS_L2_SIZE"));
    td_json_bool(&j, "onednn", dnnl_missing() == NULL);
    td_json_end_object(&j);
    td_json_begin_object(&j, "options");
    td_json_str(&j, "mode", R->o.quick ? "quick" : R->o.full ? "full" : "default");
    td_json_begin_array(&j, "threads");
    for (int i = 0; i < R->nthreads; i++)
        td_json_int(&j, NULL, R->threads[i]);
    td_json_end_array(&j);
    td_json_num(&j, "min_time_s", R->o.min_time);
    td_json_int(&j, "reps", R->o.reps);
    td_json_int(&j, "weights_working_set_bytes", (long long)R->min_ws);
    td_json_end_object(&j);
    td_json_begin_array(&j, "bandwidth");
    for (int i = 0; i < R->nthreads; i++) {
        td_json_begin_object(&j, NULL);
        td_json_int(&j, "threads", R->threads[i]);
        td_json_num(&j, "read_gb_s", R->bw[i]);
        td_json_int(&j, "buffer_bytes", (long long)R->stream_bytes);
        td_json_int(&j, "runs", R->stream_runs);
        td_json_str(&j, "loads", td_bench_stream_isa());
        td_json_end_object(&j);
    }
    td_json_end_array(&j);
    td_json_begin_array(&j, "measurements");
    for (int i = 0; i < R->nm; i++) {
        const meas *m = &R->m[i];
        double flops = 2.0 * (double)m->rows * (double)m->k * (double)m->batch;
        td_json_begin_object(&j, NULL);
        td_json_str(&j, "shape", shape_name(m, sh, sizeof sh));
        td_json_int(&j, "rows", m->rows);
        td_json_int(&j, "k", m->k);
        td_json_int(&j, "batch", m->batch);
        td_json_str(&j, "format", m->it->spec);
        td_json_str(&j, "act", td_act_name(m->it->act));
        td_json_int(&j, "threads", m->threads);
        td_json_str(&j, "status", m->ok ? "ok" : "n/a");
        td_json_str(&j, "note", m->ok ? NULL : m->note);
        if (m->ok) {
            td_json_str(&j, "isa", td_isa_name(m->isa));
            td_json_int(&j, "weight_bytes", (long long)m->bytes);
            td_json_num(&j, "bits_per_weight", m->bits);
            td_json_int(&j, "weight_copies", m->copies);
            td_json_num(&j, "quantize_s", m->quant_s);
            json_timing(&j, "kernel", &m->kern);
            json_timing(&j, "with_act_prepare", &m->whole);
            td_json_num(&j, "time_s", m->kern.med);
            td_json_num(&j, "weight_gb_s", (double)m->bytes / m->kern.med * 1e-9);
            td_json_num(&j, "gflop_s", flops / m->kern.med * 1e-9);
            if (m->batch == 1) {
                td_json_begin_object(&j, "adjacent_read");
                json_timing(&j, "timing", &m->stream);
                td_json_int(&j, "bytes", (long long)m->stream_bytes);
                td_json_num(&j, "gb_s", m->bw);
                td_json_end_object(&j);
                td_json_num(&j, "read_bw_fraction", (double)m->bytes / m->kern.med * 1e-9 / m->bw);
                for (int i = 0; i < R->nthreads; i++)
                    if (R->threads[i] == m->threads)
                        td_json_num(&j, "read_bw_fraction_of_whole_buffer_read",
                                    (double)m->bytes / m->kern.med * 1e-9 / R->bw[i]);
            }
            if (m->peer_name) {
                td_json_begin_object(&j, "peer");
                td_json_str(&j, "name", m->peer_name);
                json_timing(&j, "timing", &m->peer);
                td_json_str(&j, "note", m->peer_note[0] ? m->peer_note : NULL);
                td_json_end_object(&j);
            }
        }
        td_json_end_object(&j);
    }
    td_json_end_array(&j);
    td_json_begin_array(&j, "ratios");
    for (int i = 0; i < R->nr; i++) {
        const ratio *r = &R->r[i];
        static const char *const kinds[] = {"read_bw_fraction", "sparse_over_dense",
                                            "w8a8_over_onednn", "f32_over_openblas"};
        int pass = ratio_pass(r);
        td_json_begin_object(&j, NULL);
        td_json_str(&j, "kind", kinds[r->kind - 'a']);
        td_json_str(&j, "what", r->what);
        td_json_num(&j, "value", r->value);
        td_json_str(&j, "target", r->has_target ? target_text(r, tt, sizeof tt) : NULL);
        if (r->has_target) {
            td_json_num(&j, "target_min", r->lo);
            if (isinf(r->hi))
                td_json_null(&j, "target_max");
            else
                td_json_num(&j, "target_max", r->hi);
            td_json_bool(&j, "pass", pass == 1);
        }
        td_json_str(&j, "basis", r->basis);
        td_json_bool(&j, "noisy", r->noisy);
        td_json_end_object(&j);
    }
    td_json_end_array(&j);
    td_json_num(&j, "wall_s", R->wall);
    td_json_end_object(&j);
}

/* ---- entry ---- */

static int count_steps(const run *R, const plan_shape *ps, int nps)
{
    int n = 0;
    for (int s = 0; s < nps; s++)
        for (int i = 0; i < R->o.nitems; i++)
            for (int b = 0; b < ps[s].nbatches; b++)
                if (wanted(R, &R->o.items[i], ps[s].batches[b]))
                    n += R->nthreads;
    return n;
}

static td_status measure_bandwidth(run *R)
{
    R->stream_bytes = R->o.quick ? (size_t)64 << 20 : (size_t)1 << 30;
    R->stream_runs = R->o.quick ? 3 : 5;
    td_bench_progress("measuring read bandwidth (%zu MiB buffer)", R->stream_bytes >> 20);
    td_status st = td_bench_stream_new(R->stream_bytes, &R->stream);
    if (st && !R->o.quick) { /* a small machine: 256 MiB is still far beyond any L3 */
        td_status_free(st);
        R->stream_bytes = (size_t)256 << 20;
        st = td_bench_stream_new(R->stream_bytes, &R->stream);
    }
    if (st)
        return st;
    /* warm-up: page tables, clocks */
    td_bench_stream_gbps(R->stream, R->threads[R->nthreads - 1], 1);
    for (int i = 0; i < R->nthreads; i++)
        R->bw[i] = td_bench_stream_gbps(R->stream, R->threads[i], R->stream_runs);
    td_bench_progress_clear();
    return TD_OK;
}

int td_bench_kernels(int argc, char **argv)
{
    static run R; /* large tables: keep them off the stack */
    memset(&R, 0, sizeof R);
    int rc = parse_options(argc, argv, &R.o);
    if (rc)
        return rc;
    R.t_start = td_bench_now();
    R.out = R.o.json && !strcmp(R.o.json, "-") ? stderr : stdout;
    td_cpu_detect(&R.cpu);
    R.ctx = td_ctx_default();
    td_bench_utc(R.date, sizeof R.date);
    R.load_start = load_avg();
    make_threads(&R);
    R.gemm_batch = 128;
    /* Three times the L3 (64 MiB .. 1 GiB) of distinct weights per rotation. */
    R.min_ws = 3 * l3_bytes();
    if (R.min_ws < ((size_t)64 << 20))
        R.min_ws = (size_t)64 << 20;
    if (R.min_ws > ((size_t)1 << 30))
        R.min_ws = (size_t)1 << 30;
    if (R.o.quick)
        R.min_ws = 0;
    R.m = calloc(MAX_MEAS, sizeof *R.m);
    R.r = calloc(MAX_MEAS * 2, sizeof *R.r);
    if (!R.m || !R.r) {
        free(R.m);
        free(R.r);
        fprintf(stderr, "tandem bench kernels: out of memory\n");
        return TD_EXIT_FAIL;
    }
    plan_shape ps[3];
    int nps = make_plan(&R, ps);
    R.nsteps = count_steps(&R, ps, nps);

    td_status st = R.o.json ? td_bench_check_writable(R.o.json) : TD_OK;
    if (!st)
        st = measure_bandwidth(&R);
    if (!st)
        print_header(&R);
    for (int s = 0; s < nps && !st; s++)
        st = measure_shape(&R, &ps[s]);
    if (!st) {
        compute_ratios(&R);
        R.wall = td_bench_now() - R.t_start;
        R.load_end = load_avg();
        print_ratios(&R);
        if (R.o.json)
            st = td_bench_write_file(R.o.json, write_json, &R);
    }
    free(R.m);
    free(R.r);
    td_bench_stream_free(R.stream);
    if (st) {
        td_bench_progress_clear();
        fprintf(stderr, "tandem bench kernels: %s\n", td_status_message(st));
        td_status_free(st);
        return TD_EXIT_FAIL;
    }
    return TD_EXIT_OK;
}
