/* tandem bench attention: the tiled attention kernels (include/tandem/attention.h).
 *
 * (a) dense f32 against torch's CPU attention on the same shapes and thread count: the faster
 *     of F._scaled_dot_product_attention and softmax(Q K^T * scale) V with torch.bmm (torch
 *     1.13 has no fused CPU kernel; the private sdpa runs the same math path), each the median
 *     of --reps runs, torch run before and after ours with its faster median kept;
 * (b) block-sparse and low-precision variants against our own dense f32: kernel time, the
 *     predictor's time, the speedup of both together, and the error against the dense f32
 *     output (itself within 1e-6 of a float64 oracle, tests/test_attention.c).
 * Inputs are "clustered tokens" (runs of 96 similar queries and keys, as neighbouring patches
 * or words are), so that a predicted block mask has real attention to keep; timings do not
 * depend on the values beyond the mask. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "tandem/attention.h"

void td_bench_attention_usage(void)
{
    printf("usage: tandem bench attention [--threads N] [--reps N] [--python PY] [--no-peer]\n"
           "                              [--quick]\n"
           "  (a) dense f32 attention against torch's CPU attention (the faster of\n"
           "  F._scaled_dot_product_attention and softmax(QK^T)V with torch.bmm, run by PY,\n"
           "  default /usr/bin/python3, with the same threads); (b) block-sparse (predicted\n"
           "  masks) and int8/fp8 variants against our dense f32, with their error.\n"
           "  B=1, D=64, H=8..16, sequences 1024-4096, causal and not; --quick: small shapes\n"
           "  and one run. Defaults: 2 threads, medians of 5 runs.\n");
}

typedef struct aopts {
    td_ctx ctx;
    int reps, peer, quick;
    const char *python;
} aopts;

static int parse_int(const char *name, const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end || n < lo || n > hi) {
        fprintf(stderr, "tandem bench attention: %s '%s': expected %d..%d\n", name, v, lo, hi);
        return 0;
    }
    *out = (int)n;
    return 1;
}

static int parse_opts(int argc, char **argv, aopts *o)
{
    o->ctx = td_ctx_default();
    o->ctx.threads = 2;
    o->reps = 5;
    o->peer = 1;
    o->quick = 0;
    o->python = "/usr/bin/python3";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-peer")) {
            o->peer = 0;
            continue;
        }
        if (!strcmp(a, "--quick")) {
            o->quick = 1;
            o->reps = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "tandem bench attention: unknown or incomplete option '%s'\n", a);
            return 0;
        }
        if (!strcmp(a, "--threads")) {
            if (!parse_int("--threads", v, 1, 1024, &o->ctx.threads))
                return 0;
        } else if (!strcmp(a, "--reps")) {
            if (!parse_int("--reps", v, 1, 1000, &o->reps))
                return 0;
        } else if (!strcmp(a, "--python")) {
            o->python = v;
        } else {
            fprintf(stderr, "tandem bench attention: unknown option '%s'\n", a);
            return 0;
        }
        i++;
    }
    return 1;
}

typedef struct ashape {
    int64_t h, s;
    int causal;
} ashape;

/* ---- data ---- */

typedef struct abufs {
    float *q, *k, *v, *ref, *out;
} abufs;

static void bufs_free(abufs *b)
{
    td_free(b->q);
    td_free(b->k);
    td_free(b->v);
    td_free(b->ref);
    td_free(b->out);
    memset(b, 0, sizeof *b);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_normal(uint64_t *s)
{
    float t = 0;
    for (int i = 0; i < 4; i++)
        t += (float)((double)(rng_next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
    return t * 0.8660254f;
}

/* Runs of 96 tokens share a centroid; K carries a per-channel offset (smoothing matters). */
static td_status make_data(const ashape *sh, int64_t d, abufs *b)
{
    const int64_t n = sh->h * sh->s * d, run = 96, runs = (sh->s + run - 1) / run;
    memset(b, 0, sizeof *b);
    td_status st = td_alloc((size_t)n * 4, (void **)&b->q);
    if (!st)
        st = td_alloc((size_t)n * 4, (void **)&b->k);
    if (!st)
        st = td_alloc((size_t)n * 4, (void **)&b->v);
    if (!st)
        st = td_alloc((size_t)n * 4, (void **)&b->ref);
    if (!st)
        st = td_alloc((size_t)n * 4, (void **)&b->out);
    if (st) {
        bufs_free(b);
        return st;
    }
    uint64_t seed = 0xa77e2025u + (uint64_t)sh->s;
    float off[64];
    for (int64_t x = 0; x < d && x < 64; x++)
        off[x] = 1.5f * rng_normal(&seed);
    float *cent = malloc((size_t)(runs * d) * sizeof(float));
    if (!cent) {
        bufs_free(b);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "bench attention: out of memory");
    }
    for (int64_t h = 0; h < sh->h; h++) {
        for (int64_t i = 0; i < runs * d; i++)
            cent[i] = 0.8f * rng_normal(&seed);
        for (int64_t t = 0; t < sh->s; t++)
            for (int64_t x = 0; x < d; x++) {
                int64_t i = (h * sh->s + t) * d + x;
                float c = cent[(t / run) * d + x];
                b->q[i] = c + 0.8f * rng_normal(&seed);
                b->k[i] = c + 0.8f * rng_normal(&seed) + off[x % 64];
                b->v[i] = rng_normal(&seed);
            }
    }
    free(cent);
    return TD_OK;
}

/* ---- our runs ---- */

typedef struct variant {
    const char *name;
    td_attn_qk qk;
    td_attn_pv pv;
    float density, share, sim; /* density 0 and share 1: dense */
} variant;

static const variant variants[] = {
    {"f32 dense", TD_ATTN_QK_F32, TD_ATTN_PV_F32, 0, 1, 0},
    {"f32 density 0.5", TD_ATTN_QK_F32, TD_ATTN_PV_F32, 0.5f, 1, 0},
    {"int8 QK, f32 PV", TD_ATTN_QK_INT8, TD_ATTN_PV_F32, 0, 1, 0},
    {"int8 QK, fp8 PV", TD_ATTN_QK_INT8, TD_ATTN_PV_FP8, 0, 1, 0},
    {"fp8 QK, fp8 PV", TD_ATTN_QK_FP8, TD_ATTN_PV_FP8, 0, 1, 0},
    {"int8/fp8 density 0.5", TD_ATTN_QK_INT8, TD_ATTN_PV_FP8, 0.5f, 1, 0},
    {"fp8/fp8 density 0.5", TD_ATTN_QK_FP8, TD_ATTN_PV_FP8, 0.5f, 1, 0},
    {"int8/fp8 share 0.9", TD_ATTN_QK_INT8, TD_ATTN_PV_FP8, 0, 0.9f, 0.3f},
};
enum { NVAR = sizeof variants / sizeof variants[0] };

typedef struct vresult {
    double ms, predict_ms, density;
    td_attn_quality q;
} vresult;

typedef struct sresult {
    double ours_ms, sdpa_ms, bmm_ms; /* torch < 0: not measured */
    vresult v[NVAR];
} sresult;

/* Every variant's options; sparse ones get a predicted mask of their own (masks[i]), and
 * the predictor's median time over reps. */
static td_status prepare_variants(const aopts *o, const ashape *sh, const td_attn_args *a,
                                  uint8_t *masks, size_t mask_bytes, td_attn_opts *ops,
                                  sresult *res)
{
    double *t = malloc((size_t)o->reps * sizeof(double));
    if (!t)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "bench attention: out of memory");
    td_status st = TD_OK;
    for (int i = 0; i < NVAR && !st; i++) {
        const variant *var = &variants[i];
        vresult *r = &res->v[i];
        ops[i] = td_attn_opts_default();
        ops[i].causal = sh->causal;
        ops[i].qk = var->qk;
        ops[i].pv = var->pv;
        r->predict_ms = 0;
        r->density = 1;
        if (var->density == 0 && var->share >= 1)
            continue;
        td_attn_sparsity sp = {var->share, var->density, var->sim};
        td_attn_mask_stats ms;
        uint8_t *mask = masks + (size_t)i * mask_bytes;
        st = td_attn_predict(&o->ctx, a, &ops[i], &sp, mask, &ms); /* warm-up */
        for (int rep = 0; rep < o->reps && !st; rep++) {
            double t0 = td_bench_now();
            st = td_attn_predict(&o->ctx, a, &ops[i], &sp, mask, &ms);
            t[rep] = td_bench_now() - t0;
        }
        if (!st) {
            r->predict_ms = td_bench_median(t, o->reps) * 1e3;
            r->density = ms.density;
            ops[i].block_mask = mask;
        }
    }
    free(t);
    return st;
}

/* Times the variants in turn within each repetition, so that a busy spell of the machine
 * hits all of them alike; medians per variant. The dense f32 output is the reference. */
static td_status time_variants(const aopts *o, const ashape *sh, td_attn_args *a, abufs *b,
                               const td_attn_opts *ops, sresult *res)
{
    double *t = malloc((size_t)(o->reps * NVAR) * sizeof(double));
    if (!t)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "bench attention: out of memory");
    td_status st = TD_OK;
    for (int rep = -1; rep < o->reps && !st; rep++) /* rep -1: warm-up */
        for (int i = 0; i < NVAR && !st; i++) {
            td_bench_progress("H=%lld S=%lld%s: run %d of %d, %s", (long long)sh->h,
                              (long long)sh->s, sh->causal ? " causal" : "", rep + 2, o->reps + 1,
                              variants[i].name);
            a->out = i == 0 ? b->ref : b->out;
            double t0 = td_bench_now();
            st = td_attention(&o->ctx, a, &ops[i]);
            if (rep >= 0)
                t[i * o->reps + rep] = td_bench_now() - t0;
            if (!st && rep == o->reps - 1)
                td_attn_quality_of(a->out, b->ref, sh->h * sh->s * 64, &res->v[i].q);
        }
    for (int i = 0; i < NVAR && !st; i++)
        res->v[i].ms = td_bench_median(t + i * o->reps, o->reps) * 1e3;
    free(t);
    return st;
}

static td_status run_shape(const aopts *o, const ashape *sh, sresult *res)
{
    const int64_t d = 64;
    abufs b;
    TD_TRY(make_data(sh, d, &b));
    td_attn_args a;
    memset(&a, 0, sizeof a);
    td_attn_shape shape = {1, sh->h, sh->h, sh->s, sh->s, d, d};
    a.shape = shape;
    a.q = b.q;
    a.k = b.k;
    a.v = b.v;
    int64_t nq, nk;
    td_attn_opts o0 = td_attn_opts_default();
    td_status st = td_attn_tiles(&shape, &o0, &nq, &nk);
    size_t mask_bytes = (size_t)(sh->h * nq * nk);
    uint8_t *masks = st ? NULL : malloc(mask_bytes * NVAR);
    td_attn_opts ops[NVAR];
    if (!st && !masks)
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "bench attention: out of memory");
    if (!st)
        st = prepare_variants(o, sh, &a, masks, mask_bytes, ops, res);
    if (!st)
        st = time_variants(o, sh, &a, &b, ops, res);
    td_bench_progress_clear();
    res->ours_ms = res->v[0].ms;
    free(masks);
    bufs_free(&b);
    return st;
}

/* ---- torch ---- */

static const char PEER_PY[] =
    "import json, sys, time\n"
    "import torch\n"
    "import torch.nn.functional as F\n"
    "threads, reps, shapes = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])\n"
    "torch.set_num_threads(threads)\n"
    "torch.manual_seed(0)\n"
    "def med(f):\n"
    "    f()\n"
    "    ts = []\n"
    "    for _ in range(reps):\n"
    "        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)\n"
    "    ts.sort()\n"
    "    return ts[len(ts) // 2] * 1e3\n"
    "out = []\n"
    "with torch.no_grad():\n"
    "    for h, s, causal in shapes:\n"
    "        d = 64\n"
    "        q, k, v = (torch.randn(1, h, s, d) for _ in range(3))\n"
    "        fut = torch.ones(s, s, dtype=torch.bool).triu(1)\n"
    "        def sdpa():\n"
    "            return F._scaled_dot_product_attention(q, k, v, None, 0.0, False,\n"
    "                                                   bool(causal))[0]\n"
    "        def bmm():\n"
    "            sc = torch.bmm(q.view(h, s, d) * d ** -0.5, k.view(h, s, d).transpose(1, 2))\n"
    "            if causal:\n"
    "                sc.masked_fill_(fut, float('-inf'))\n"
    "            return torch.bmm(torch.softmax(sc, -1), v.view(h, s, d))\n"
    "        out.append({'sdpa': med(sdpa), 'bmm': med(bmm)})\n"
    "print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(),\n"
    "                  'results': out}))\n";

static int run_peer(const aopts *o, const ashape *sh, int count, sresult *r, char *version,
                    size_t vlen)
{
    char shapes[1024] = "[";
    for (int i = 0; i < count; i++) {
        size_t l = strlen(shapes);
        snprintf(shapes + l, sizeof shapes - l, "%s[%lld,%lld,%d]", i ? "," : "",
                 (long long)sh[i].h, (long long)sh[i].s, sh[i].causal);
    }
    strcat(shapes, "]");
    char args[1200], out[8192];
    snprintf(args, sizeof args, "%d %d '%s'", o->ctx.threads, o->reps, shapes);
    td_bench_progress("torch (%s)", o->python);
    int ok = td_bench_run_python(o->python, PEER_PY, args, out, sizeof out);
    td_bench_progress_clear();
    if (!ok || !strstr(out, "\"results\""))
        return 0;
    const char *ver = strstr(out, "\"torch\": \"");
    if (ver && version) {
        ver += 10;
        size_t n = strcspn(ver, "\"");
        snprintf(version, vlen, "%.*s", (int)(n < 40 ? n : 40), ver);
    }
    const char *cur = strstr(out, "\"results\"");
    for (int i = 0; i < count; i++) {
        double s = td_bench_json_next_num(&cur, "\"sdpa\""),
               b = td_bench_json_next_num(&cur, "\"bmm\"");
        if (s > 0 && (r[i].sdpa_ms < 0 || s < r[i].sdpa_ms))
            r[i].sdpa_ms = s;
        if (b > 0 && (r[i].bmm_ms < 0 || b < r[i].bmm_ms))
            r[i].bmm_ms = b;
    }
    return 1;
}

/* ---- report ---- */

static double load_avg(void)
{
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : -1.0;
}

static double shape_gflop(const ashape *sh)
{
    double pairs = sh->causal ? (double)sh->s * (double)(sh->s + 1) / 2 : (double)sh->s * sh->s;
    return 4.0 * (double)sh->h * pairs * 64 / 1e9; /* Q.K and P.V, 2 FLOP per MAC */
}

static void print_torch(const aopts *o, const ashape *sh, const sresult *r, int n,
                        const char *version)
{
    if (o->peer)
        printf("(a) dense f32 vs torch %s CPU attention, %d threads, medians of %d runs "
               "(B=1, D=64)\n",
               version, o->ctx.threads, o->reps);
    else
        printf("(a) dense f32, %d threads, medians of %d runs (B=1, D=64; torch not run: "
               "--no-peer)\n",
               o->ctx.threads, o->reps);
    printf("  %-22s %10s %9s %12s %12s %8s\n", "shape", "ours ms", "GFLOP/s", "torch sdpa",
           "torch bmm", "ratio");
    for (int i = 0; i < n; i++) {
        char name[48];
        snprintf(name, sizeof name, "H=%lld S=%lld%s", (long long)sh[i].h, (long long)sh[i].s,
                 sh[i].causal ? " causal" : "");
        double best = r[i].sdpa_ms;
        if (r[i].bmm_ms > 0 && (best < 0 || r[i].bmm_ms < best))
            best = r[i].bmm_ms;
        printf("  %-22s %10.2f %9.1f", name, r[i].ours_ms,
               shape_gflop(&sh[i]) / (r[i].ours_ms * 1e-3));
        if (best > 0)
            printf(" %12.2f %12.2f %7.2fx\n", r[i].sdpa_ms, r[i].bmm_ms, best / r[i].ours_ms);
        else
            printf(" %12s %12s %8s\n", "-", "-", "-");
    }
}

static void print_variants(const ashape *sh, const sresult *r, int n)
{
    printf("\n(b) variants vs our dense f32 (speedup includes the predictor; error vs the dense "
           "f32 output)\n");
    for (int i = 0; i < n; i++) {
        printf("  H=%lld S=%lld%s\n", (long long)sh[i].h, (long long)sh[i].s,
               sh[i].causal ? " causal" : "");
        printf("    %-22s %9s %10s %8s %9s %11s %10s\n", "variant", "ms", "predict", "density",
               "speedup", "cosine", "rel L1");
        for (int v = 0; v < NVAR; v++) {
            const vresult *x = &r[i].v[v];
            printf("    %-22s %9.2f %10.2f %8.3f %8.2fx %11.7f %10.2e\n", variants[v].name, x->ms,
                   x->predict_ms, x->density, r[i].v[0].ms / (x->ms + x->predict_ms), x->q.cosine,
                   x->q.rel_l1);
        }
    }
}

/* The two targets of the issue, checked on the figures just printed. */
static void print_targets(const ashape *sh, const sresult *r, int n, int peer)
{
    printf("\ntargets\n");
    if (peer) {
        double worst = 1e30;
        int at = -1;
        for (int i = 0; i < n; i++) {
            double best = r[i].sdpa_ms;
            if (r[i].bmm_ms > 0 && (best < 0 || r[i].bmm_ms < best))
                best = r[i].bmm_ms;
            if (best > 0 && best / r[i].ours_ms < worst) {
                worst = best / r[i].ours_ms;
                at = i;
            }
        }
        if (at >= 0)
            printf("  dense f32 >= 1.0x torch: %s (lowest %.2fx at H=%lld S=%lld%s)\n",
                   worst >= 1.0 ? "met" : "NOT met", worst, (long long)sh[at].h,
                   (long long)sh[at].s, sh[at].causal ? " causal" : "");
    }
    double worst = 1e30;
    int at = -1;
    const char *best_name = "";
    for (int i = 0; i < n; i++) {
        /* the better of the two half-density low-precision variants, per shape */
        double best = 0;
        const char *name = "";
        for (int v = 0; v < NVAR; v++) {
            if (variants[v].density != 0.5f || variants[v].qk == TD_ATTN_QK_F32)
                continue;
            const vresult *x = &r[i].v[v];
            double s = r[i].v[0].ms / (x->ms + x->predict_ms);
            if (s > best) {
                best = s;
                name = variants[v].name;
            }
        }
        if (best < worst) {
            worst = best;
            at = i;
            best_name = name;
        }
    }
    if (at >= 0)
        printf("  density 0.5 with int8/fp8 tiles >= 1.8x our dense f32: %s (lowest %.2fx, %s, "
               "at H=%lld S=%lld%s)\n",
               worst >= 1.8 ? "met" : "NOT met", worst, best_name, (long long)sh[at].h,
               (long long)sh[at].s, sh[at].causal ? " causal" : "");
}

int td_bench_attention(int argc, char **argv)
{
    aopts o;
    if (!parse_opts(argc, argv, &o)) {
        td_bench_attention_usage();
        return 2;
    }
    static const ashape full[] = {
        {8, 1024, 0}, {8, 1024, 1}, {16, 2048, 0}, {8, 4096, 0}, {8, 4096, 1}};
    static const ashape quick[] = {{2, 256, 0}, {2, 256, 1}};
    const ashape *sh = o.quick ? quick : full;
    int n = o.quick ? 2 : (int)(sizeof full / sizeof full[0]);
    sresult *res = calloc((size_t)n, sizeof *res);
    if (!res)
        return 1;
    for (int i = 0; i < n; i++)
        res[i].sdpa_ms = res[i].bmm_ms = -1;
    char version[48] = "?";
    double load0 = load_avg();
    int peer_ok = o.peer ? run_peer(&o, sh, n, res, version, sizeof version) : 0;
    if (o.peer && !peer_ok) {
        fprintf(stderr,
                "tandem bench attention: running torch failed; is torch installed for %s? "
                "(--python PY, or --no-peer)\n",
                o.python);
        free(res);
        return 1;
    }
    td_status st = TD_OK;
    for (int i = 0; i < n && !st; i++)
        st = run_shape(&o, &sh[i], &res[i]);
    if (o.peer)
        peer_ok = run_peer(&o, sh, n, res, version, sizeof version);
    double load1 = load_avg();
    if (st) {
        fprintf(stderr, "tandem bench attention: %s\n", td_status_message(st));
        td_status_free(st);
        free(res);
        return 1;
    }
    printf("tandem bench attention: isa %s, load average %.2f before, %.2f after%s\n\n",
           td_isa_name(o.ctx.isa), load0, load1,
           load0 > 0.5 || load1 > 0.5 ? ": a busy machine, figures are noisy" : "");
    if (o.peer && !peer_ok)
        fprintf(stderr, "tandem bench attention: the second torch run failed; its first figures "
                        "are shown\n");
    print_torch(&o, sh, res, n, version);
    print_variants(sh, res, n);
    print_targets(sh, res, n, o.peer);
    free(res);
    return 0;
}
