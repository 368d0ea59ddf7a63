/* tandem bench deform: deformable convolution variants against torchvision's CPU
 * deform_conv2d (run by a Python subprocess on the same shapes and thread count) and against
 * Tandem's own dense Conv on the same shape. Medians of several runs; the report prints
 * ratios: torchvision time / ours (>= 3 is the target for the full DCNv2 variant), and each
 * variant's time relative to our dense convolution. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli/cli.h"
#include "tandem/deform.h"
#include "tandem/graph.h"

void td_bench_deform_usage(void)
{
    printf("usage: tandem bench deform [--threads N] [--reps N] [--python PY] [--no-peer]\n"
           "                           [--quick] [--json FILE]\n\n"
           "Times deformable convolution (N=1, 3x3, C=M) on 56x56 and 28x28 feature maps:\n"
           "full DCNv2 (offsets + mask) and DCNv1, limited range (offsets clamped to [-8, 8],\n"
           "tiled kernel), fixed shape (one scale per pixel), the depthwise variant (1x1 conv\n"
           "+ depthwise deformable), int8 weights with A8 activations, and our dense Conv;\n"
           "torchvision.ops.deform_conv2d and torch's conv2d run in PY (default\n"
           "/usr/bin/python3) with the same threads. Prints medians of N runs (default 7)\n"
           "as ratios. --quick: one small shape, 3 runs (the test suite's smoke run).\n"
           "  --threads N  threads for both sides (default 2)\n");
}

typedef struct dshape {
    int64_t n, c, hw, m, k;
} dshape;

static const dshape SHAPES[] = {
    {1, 64, 56, 64, 3}, {1, 128, 56, 128, 3}, {1, 128, 28, 128, 3}, {1, 256, 28, 256, 3}};
static const dshape QUICK[] = {{1, 32, 20, 32, 3}};

enum { V_V2 = 0, V_V1, V_LIMITED, V_FIXED, V_DW, V_INT8, V_CONV, V_COUNT };
static const char *const VNAME[V_COUNT] = {"full DCNv2",  "full DCNv1",     "limited r=8 (tiled)",
                                           "fixed shape", "depthwise var.", "int8 DCNv2 (W8A8)",
                                           "dense conv"};

typedef struct dopts {
    td_ctx ctx;
    int reps, peer, quick;
    const char *python, *json;
} dopts;

typedef struct dresult {
    double ours[V_COUNT];         /* seconds, median */
    double tv_v2, tv_v1, tv_conv; /* torchvision / torch, seconds; < 0 when not run */
} dresult;

static int parse_opts(int argc, char **argv, dopts *o)
{
    o->ctx = td_ctx_default();
    o->ctx.threads = 2;
    o->reps = 7;
    o->peer = 1;
    o->quick = 0;
    o->python = "/usr/bin/python3";
    o->json = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-peer")) {
            o->peer = 0;
            continue;
        }
        if (!strcmp(a, "--quick")) {
            o->quick = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "tandem bench deform: unknown or incomplete option '%s'\n", a);
            return 0;
        }
        if (!strcmp(a, "--python")) {
            o->python = v;
        } else if (!strcmp(a, "--json")) {
            o->json = v;
        } else if (!strcmp(a, "--threads")) {
            if (!td_cli_parse_threads(v, &o->ctx))
                return 0;
        } else if (!strcmp(a, "--reps")) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 1000) {
                fprintf(stderr, "tandem bench deform: --reps: expected 1..1000, got '%s'\n", v);
                return 0;
            }
            o->reps = (int)n;
        } else {
            fprintf(stderr, "tandem bench deform: unknown option '%s'\n", a);
            return 0;
        }
        i++;
    }
    if (o->quick && o->reps > 3)
        o->reps = 3;
    return 1;
}

/* ---- our side ---- */

typedef struct dbufs {
    td_deform_shape s;
    float *x, *w, *b, *off, *mask, *scale, *pw, *y;
    td_qmatrix *qw;
    void *work;
    size_t work_bytes;
} dbufs;

static void fill(float *p, int64_t n, uint64_t seed, float lo, float hi)
{
    uint64_t z = seed;
    for (int64_t i = 0; i < n; i++) {
        z = z * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = lo + (hi - lo) * (float)((z >> 40) * (1.0 / 16777216.0));
    }
}

static td_status falloc(int64_t n, float **out)
{
    size_t bytes;
    TD_TRY(td_size_mul((size_t)n, sizeof(float), &bytes));
    return td_alloc(bytes, (void **)out);
}

static td_status bufs_make(const dopts *o, const dshape *d, dbufs *b)
{
    memset(b, 0, sizeof *b);
    td_deform_shape *s = &b->s;
    *s = (td_deform_shape){.n = d->n,
                           .c = d->c,
                           .h = d->hw,
                           .w = d->hw,
                           .m = d->m,
                           .group = 1,
                           .offset_group = 1,
                           .kh = d->k,
                           .kw = d->k,
                           .sh = 1,
                           .sw = 1,
                           .dh = 1,
                           .dw = 1,
                           .pt = d->k / 2,
                           .pl = d->k / 2,
                           .pb = d->k / 2,
                           .pr = d->k / 2,
                           .mode = TD_DEFORM_FREE,
                           .range = 8.0f};
    TD_TRY(td_deform_shape_check(s));
    int64_t np = s->oh * s->ow, kk = s->kh * s->kw, k = s->c * kk;
    TD_TRY(falloc(s->n * s->c * s->h * s->w, &b->x));
    TD_TRY(falloc(s->m * k, &b->w));
    TD_TRY(falloc(s->m, &b->b));
    TD_TRY(falloc(s->n * 2 * kk * np, &b->off));
    TD_TRY(falloc(s->n * kk * np, &b->mask));
    TD_TRY(falloc(s->n * np, &b->scale));
    TD_TRY(falloc(s->c * s->c, &b->pw));
    TD_TRY(falloc(s->n * s->m * np, &b->y));
    fill(b->x, s->n * s->c * s->h * s->w, 1, -1, 1);
    fill(b->w, s->m * k, 2, -0.05f, 0.05f);
    fill(b->b, s->m, 3, -1, 1);
    fill(b->off, s->n * 2 * kk * np, 4, -3, 3); /* a few pixels, as trained DCN offsets */
    fill(b->mask, s->n * kk * np, 5, 0, 1);
    fill(b->scale, s->n * np, 6, 0.5f, 2.0f);
    fill(b->pw, s->c * s->c, 7, -0.1f, 0.1f);
    td_qspec spec;
    TD_TRY(td_qspec_parse("int8", &spec));
    TD_TRY(td_qmatrix_quantize(&spec, b->w, s->m, k, k, &b->qw));
    /* One workspace for every variant. */
    size_t need = 0, t;
    td_deform_shape v = *s;
    for (int mode = 0; mode < TD_DEFORM_MODE_COUNT; mode++) {
        v.mode = (td_deform_mode)mode;
        TD_TRY(td_deform_forward_workspace(&o->ctx, &v, &t));
        need = t > need ? t : need;
    }
    TD_TRY(td_deform_forward_q_workspace(&o->ctx, s, &t));
    need = t > need ? t : need;
    td_deform_shape dw = *s;
    dw.group = dw.m = dw.c;
    TD_TRY(td_deform_depthwise_workspace(&o->ctx, &dw, s->c, &t));
    need = t > need ? t : need;
    b->work_bytes = need;
    return td_alloc(need, &b->work);
}

static void bufs_free(dbufs *b)
{
    td_free(b->x);
    td_free(b->w);
    td_free(b->b);
    td_free(b->off);
    td_free(b->mask);
    td_free(b->scale);
    td_free(b->pw);
    td_free(b->y);
    td_free(b->work);
    td_qmatrix_free(b->qw);
}

static td_status run_variant(const dopts *o, dbufs *b, int v, td_act *act)
{
    td_deform_shape s = b->s;
    switch (v) {
    case V_V2:
        return td_deform_forward(&o->ctx, &s, b->x, b->off, b->mask, b->w, b->b, b->y, b->work,
                                 b->work_bytes);
    case V_V1:
        return td_deform_forward(&o->ctx, &s, b->x, b->off, NULL, b->w, b->b, b->y, b->work,
                                 b->work_bytes);
    case V_LIMITED:
        s.mode = TD_DEFORM_LIMITED;
        return td_deform_forward(&o->ctx, &s, b->x, b->off, b->mask, b->w, b->b, b->y, b->work,
                                 b->work_bytes);
    case V_FIXED:
        s.mode = TD_DEFORM_FIXED;
        return td_deform_forward(&o->ctx, &s, b->x, b->scale, b->mask, b->w, b->b, b->y, b->work,
                                 b->work_bytes);
    case V_DW:
        s.group = s.m = s.c;
        return td_deform_depthwise_forward(&o->ctx, &s, s.c, b->x, b->pw, b->b, b->off, b->mask,
                                           b->w, b->b, b->y, b->work, b->work_bytes);
    case V_INT8:
        return td_deform_forward_q(&o->ctx, &s, b->x, b->off, b->mask, b->qw, TD_ACT_INT8, b->b,
                                   b->y, act, b->work, b->work_bytes);
    default:
        return td_error_new(TD_CODE_INTERNAL, "variant %d", v);
    }
}

/* Our dense Conv through the graph and a session, as a model would run it. */
static td_status conv_graph(const dopts *o, dbufs *b, td_graph **gout, td_session **sout)
{
    const td_deform_shape *s = &b->s;
    td_graph *g;
    TD_TRY(td_graph_new("conv", &g));
    *gout = g;
    int64_t xs[4] = {s->n, s->c, s->h, s->w}, ws[4] = {s->m, s->c, s->kh, s->kw};
    int64_t pads[4] = {s->pt, s->pl, s->pb, s->pr};
    const char *ins[3] = {"x", "w", "b"}, *outs[1] = {"y"};
    int idx;
    TD_TRY(td_graph_add_input(g, "x", TD_DT_F32, 4, xs, NULL));
    TD_TRY(td_graph_add_const(g, "w", TD_DT_F32, 4, ws, b->w, false, NULL));
    TD_TRY(td_graph_add_const(g, "b", TD_DT_F32, 1, &s->m, b->b, false, NULL));
    TD_TRY(td_graph_add_node(g, "conv", "Conv", 3, ins, 1, outs, &idx));
    TD_TRY(td_node_set_ints(&g->nodes[idx], "pads", pads, 4));
    TD_TRY(td_graph_mark_output(g, "y"));
    TD_TRY(td_graph_prepare(g));
    TD_TRY(td_session_new(g, &o->ctx, sout));
    td_view v = {TD_DT_F32, 4, {s->n, s->c, s->h, s->w}, b->x};
    return td_session_set_input(*sout, "x", &v);
}

static td_status time_ours(const dopts *o, const dshape *d, dresult *r)
{
    dbufs b;
    td_status st = bufs_make(o, d, &b);
    td_act *act = NULL;
    td_graph *g = NULL;
    td_session *ses = NULL;
    if (!st)
        st = td_act_new(&act);
    if (!st)
        st = conv_graph(o, &b, &g, &ses);
    double *t = malloc((size_t)o->reps * sizeof *t);
    for (int v = 0; v < V_COUNT && !st && t; v++) {
        td_bench_progress("deform C=%lld %lldx%lld: %s", (long long)d->c, (long long)d->hw,
                          (long long)d->hw, VNAME[v]);
        for (int i = -1; i < o->reps && !st; i++) { /* i = -1: warm-up */
            double t0 = td_bench_now();
            st = v == V_CONV ? td_session_run(ses) : run_variant(o, &b, v, act);
            if (i >= 0)
                t[i] = td_bench_now() - t0;
        }
        if (!st)
            r->ours[v] = td_bench_median(t, o->reps);
    }
    td_bench_progress_clear();
    free(t);
    td_session_free(ses);
    td_graph_free(g);
    td_act_free(act);
    bufs_free(&b);
    return st;
}

/* ---- torchvision ---- */

static const char PEER_PY[] =
    "import json, sys, time\n"
    "import torch\n"
    "import torch.nn.functional as F\n"
    "from torchvision.ops import deform_conv2d\n"
    "threads, reps, shapes = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])\n"
    "torch.set_num_threads(threads)\n"
    "torch.manual_seed(0)\n"
    "def med(f):\n"
    "    f()\n"
    "    ts = []\n"
    "    for _ in range(reps):\n"
    "        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)\n"
    "    ts.sort()\n"
    "    return ts[len(ts) // 2]\n"
    "out = []\n"
    "with torch.no_grad():\n"
    "    for n, c, hw, m, k in shapes:\n"
    "        p = k // 2\n"
    "        x = torch.rand(n, c, hw, hw) * 2 - 1\n"
    "        w = (torch.rand(m, c, k, k) - 0.5) * 0.1\n"
    "        b = torch.rand(m)\n"
    "        off = (torch.rand(n, 2 * k * k, hw, hw) - 0.5) * 6\n"
    "        mask = torch.rand(n, k * k, hw, hw)\n"
    "        r = {'v2': med(lambda: deform_conv2d(x, off, w, b, padding=(p, p), mask=mask)),\n"
    "             'v1': med(lambda: deform_conv2d(x, off, w, b, padding=(p, p))),\n"
    "             'conv': med(lambda: F.conv2d(x, w, b, padding=p))}\n"
    "        out.append(r)\n"
    "print(json.dumps({'threads': torch.get_num_threads(), 'results': out}))\n";

static int run_peer(const dopts *o, const dshape *sh, int count, dresult *r)
{
    char shapes[1024] = "[";
    for (int i = 0; i < count; i++) {
        size_t l = strlen(shapes);
        snprintf(shapes + l, sizeof shapes - l, "%s[%lld,%lld,%lld,%lld,%lld]", i ? "," : "",
                 (long long)sh[i].n, (long long)sh[i].c, (long long)sh[i].hw, (long long)sh[i].m,
                 (long long)sh[i].k);
    }
    strcat(shapes, "]");
    char args[1200], out[8192];
    snprintf(args, sizeof args, "%d %d '%s'", o->ctx.threads, o->reps, shapes);
    td_bench_progress("torchvision (%s)", o->python);
    int ok = td_bench_run_python(o->python, PEER_PY, args, out, sizeof out);
    td_bench_progress_clear();
    if (!ok || !strstr(out, "\"results\""))
        return 0;
    const char *cur = strstr(out, "\"results\"");
    for (int i = 0; i < count; i++) {
        r[i].tv_v2 = td_bench_json_next_num(&cur, "\"v2\"");
        r[i].tv_v1 = td_bench_json_next_num(&cur, "\"v1\"");
        r[i].tv_conv = td_bench_json_next_num(&cur, "\"conv\"");
    }
    return 1;
}

/* ---- report ---- */

static double load_avg(void)
{
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : -1.0;
}

static double gflops(const dshape *d, double secs)
{
    double macs = (double)d->n * (double)d->m * (double)(d->hw * d->hw) * (double)d->c *
                  (double)(d->k * d->k);
    return secs > 0 ? 2 * macs / secs / 1e9 : 0;
}

static void print_shape(const dopts *o, const dshape *d, const dresult *r)
{
    printf("\nN=%lld C=%lld->%lld %lldx%lld kernel %lldx%lld, %d threads (%.3f GFLOP per "
           "conv)\n",
           (long long)d->n, (long long)d->c, (long long)d->m, (long long)d->hw, (long long)d->hw,
           (long long)d->k, (long long)d->k, o->ctx.threads, gflops(d, 1.0) * 1.0);
    printf("  %-20s %9s %10s %16s %14s\n", "variant", "ms", "GFLOP/s*", "torchvision/ours",
           "ours/dense");
    for (int v = 0; v < V_COUNT; v++) {
        double peer = v == V_V1 ? r->tv_v1 : v == V_CONV ? r->tv_conv : r->tv_v2;
        char ratio[32] = "-";
        if (peer > 0 && r->ours[v] > 0)
            snprintf(ratio, sizeof ratio, "%.2fx%s", peer / r->ours[v],
                     v == V_V2 || v == V_V1 || v == V_CONV ? "" : " (v2)");
        printf("  %-20s %9.3f %10.1f %16s %13.2fx\n", VNAME[v], r->ours[v] * 1e3,
               gflops(d, r->ours[v]), ratio, r->ours[v] / r->ours[V_CONV]);
    }
    if (r->tv_v2 > 0)
        printf("  torchvision: DCNv2 %.1f, DCNv1 %.1f, torch conv2d %.1f GFLOP/s\n",
               gflops(d, r->tv_v2), gflops(d, r->tv_v1), gflops(d, r->tv_conv));
}

typedef struct jrec {
    const dopts *o;
    const dshape *sh;
    const dresult *r;
    int count;
} jrec;

static void write_json(FILE *f, void *arg)
{
    const jrec *j = arg;
    td_json js;
    td_json_init(&js, f);
    td_json_begin_object(&js, NULL);
    td_json_str(&js, "bench", "deform");
    td_json_int(&js, "threads", j->o->ctx.threads);
    td_json_int(&js, "reps", j->o->reps);
    td_json_begin_array(&js, "shapes");
    for (int i = 0; i < j->count; i++) {
        td_json_begin_object(&js, NULL);
        td_json_int(&js, "n", j->sh[i].n);
        td_json_int(&js, "c", j->sh[i].c);
        td_json_int(&js, "hw", j->sh[i].hw);
        td_json_int(&js, "m", j->sh[i].m);
        td_json_int(&js, "k", j->sh[i].k);
        td_json_begin_object(&js, "seconds");
        for (int v = 0; v < V_COUNT; v++)
            td_json_num(&js, VNAME[v], j->r[i].ours[v]);
        td_json_num(&js, "torchvision DCNv2", j->r[i].tv_v2);
        td_json_num(&js, "torchvision DCNv1", j->r[i].tv_v1);
        td_json_num(&js, "torch conv2d", j->r[i].tv_conv);
        td_json_end_object(&js);
        td_json_num(&js, "speedup_v2", j->r[i].tv_v2 > 0 ? j->r[i].tv_v2 / j->r[i].ours[V_V2] : 0);
        td_json_end_object(&js);
    }
    td_json_end_array(&js);
    td_json_end_object(&js);
    fputc('\n', f);
}

int td_bench_deform(int argc, char **argv)
{
    dopts o;
    if (!parse_opts(argc, argv, &o)) {
        td_bench_deform_usage();
        return 2;
    }
    if (o.json) {
        td_status st = td_bench_check_writable(o.json);
        if (st)
            return td_cli_fail(st);
    }
    double load0 = load_avg();
    const dshape *sh = o.quick ? QUICK : SHAPES;
    int count = o.quick ? 1 : (int)(sizeof SHAPES / sizeof SHAPES[0]);
    dresult r[8];
    for (int i = 0; i < count; i++)
        r[i] = (dresult){{0}, -1, -1, -1};
    /* torchvision runs before and after ours; its faster median of the two is kept, so a busy
     * moment counts against us, not against it. */
    int peer_ok = 0;
    if (o.peer) {
        peer_ok = run_peer(&o, sh, count, r);
        if (!peer_ok)
            fprintf(stderr,
                    "tandem bench deform: running torchvision with %s failed; is torchvision "
                    "installed there? (--python PY, or --no-peer)\n",
                    o.python);
    }
    for (int i = 0; i < count; i++) {
        td_status st = time_ours(&o, &sh[i], &r[i]);
        if (st)
            return td_cli_fail(st);
    }
    if (peer_ok) {
        dresult again[8];
        if (run_peer(&o, sh, count, again))
            for (int i = 0; i < count; i++) {
                r[i].tv_v2 =
                    again[i].tv_v2 > 0 && again[i].tv_v2 < r[i].tv_v2 ? again[i].tv_v2 : r[i].tv_v2;
                r[i].tv_v1 =
                    again[i].tv_v1 > 0 && again[i].tv_v1 < r[i].tv_v1 ? again[i].tv_v1 : r[i].tv_v1;
                r[i].tv_conv = again[i].tv_conv > 0 && again[i].tv_conv < r[i].tv_conv
                                   ? again[i].tv_conv
                                   : r[i].tv_conv;
            }
    }
    printf("tandem bench deform: medians of %d runs (torchvision: the faster of two runs' "
           "medians);\nGFLOP/s* counts 2 x the convolution's MACs for every variant\n",
           o.reps);
    double load1 = load_avg();
    printf("load %.1f at start, %.1f at end (1-minute average, %d CPUs)%s\n", load0, load1,
           td_max_threads(),
           load0 > 0.5 || load1 > 0.5 ? ": a busy machine, figures are noisy" : "");
    double worst = 1e30;
    for (int i = 0; i < count; i++) {
        print_shape(&o, &sh[i], &r[i]);
        if (r[i].tv_v2 > 0)
            worst = r[i].tv_v2 / r[i].ours[V_V2] < worst ? r[i].tv_v2 / r[i].ours[V_V2] : worst;
    }
    if (peer_ok)
        printf("\nfull DCNv2 vs torchvision: worst speed-up %.2fx, target 3x: %s\n", worst,
               worst >= 3 ? "met" : "NOT met");
    if (o.json) {
        jrec j = {&o, sh, r, count};
        td_status st = td_bench_write_file(o.json, write_json, &j);
        if (st)
            return td_cli_fail(st);
    }
    return o.peer && !peer_ok ? 1 : 0;
}
