/* Rotary embeddings, frequency scaling and tile grids (include/tandem/rope.h), and the
 * RotaryEmbedding operator (src/ops/codesign_rope.c).
 *
 * Hand-checked tables and rotations, the properties RoPE exists for (norms kept, q.k
 * depending only on the offset per axis), scaling that must reduce to plain RoPE at s = 1,
 * YaRN's ramp, tile grids on a table of aspect ratios, every ISA bit-identical to the scalar
 * reference, and comparisons with tools/rope_reference.py (numpy) and onnxruntime through
 * the fixtures in tests/fixtures/rope. */
#include "graph/op.h"
#include "kernels/rope/rope_kernels.h"
#include "tandem/graph.h"
#include "tandem/onnx.h"
#include "tandem/rope.h"
#include "td_test.h"

#define FIX TD_FIXTURE_DIR "/rope"

/* ---- fixture files: "case NAME", "key v1 v2 ...", "end" ---- */

#define MAX_FIELDS 24
#define MAX_CASES 32

typedef struct field {
    char key[32];
    double *v;
    int n;
} field;

typedef struct fcase {
    char name[64];
    field f[MAX_FIELDS];
    int nf;
} fcase;

static void parse_values(char *rest, field *f)
{
    int cap = 16;
    f->v = malloc(sizeof *f->v * (size_t)cap);
    f->n = 0;
    char *end;
    for (double d = strtod(rest, &end); end != rest; d = strtod(rest, &end)) {
        if (f->n == cap)
            f->v = realloc(f->v, sizeof *f->v * (size_t)(cap *= 2));
        f->v[f->n++] = d;
        rest = end;
    }
}

/* Reads every case of a fixture file; returns the count (-1 when unreadable). */
static int load_cases(const char *path, fcase *cases)
{
    char *text = NULL;
    size_t len = 0;
    td_status st = td_file_read(path, 1 << 24, &text, &len);
    TD_CHECK(st == NULL, "read %s: %s", path, td_status_message(st));
    td_status_free(st);
    if (!text)
        return -1;
    int n = 0;
    fcase *cur = NULL;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        if (strncmp(line, "case ", 5) == 0 && n < MAX_CASES) {
            cur = &cases[n++];
            memset(cur, 0, sizeof *cur);
            snprintf(cur->name, sizeof cur->name, "%s", line + 5);
        } else if (strcmp(line, "end") == 0) {
            cur = NULL;
        } else if (cur && cur->nf < MAX_FIELDS) {
            field *f = &cur->f[cur->nf++];
            char *sp = strchr(line, ' ');
            size_t kl = sp ? (size_t)(sp - line) : strlen(line);
            snprintf(f->key, sizeof f->key, "%.*s", (int)kl, line);
            parse_values(sp ? sp : line + kl, f);
        }
    }
    free(text);
    return n;
}

static void free_cases(fcase *cases, int n)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < cases[i].nf; k++)
            free(cases[i].f[k].v);
}

static const field *get(const fcase *c, const char *key)
{
    for (int k = 0; k < c->nf; k++)
        if (strcmp(c->f[k].key, key) == 0)
            return &c->f[k];
    TD_CHECK(0, "case %s has no field %s", c->name, key);
    return NULL;
}

/* ---- helpers ---- */

static td_isa best_isa(void)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    return cpu.best;
}

static td_ctx ctx_for(td_isa isa, int threads)
{
    td_ctx c = {threads, isa};
    return c;
}

static float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        abort();
    return p;
}

static float dotf(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

/* ---- hand-checked 2-D tables ---- */

/* 2 x 3 grid, rot_dim 8, theta 100, split axes: each axis is a 1-D RoPE of width 4 with the
 * frequencies 100^(-0/4) = 1 and 100^(-2/4) = 0.1. Pairs 0, 1 follow the row i, pairs 2, 3
 * the column j, so position p = i*3 + j has the angles (i, 0.1 i, j, 0.1 j):
 *   p = 0 (0,0): 0, 0, 0, 0        p = 2 (0,2): 0, 0, 2, 0.2
 *   p = 4 (1,1): 1, 0.1, 1, 0.1    p = 5 (1,2): 1, 0.1, 2, 0.2 */
static void test_hand_tables(void)
{
    td_rope2d_cfg cfg;
    td_rope2d_cfg_init(&cfg, 8);
    cfg.theta = 100;
    float c[6 * 4], s[6 * 4];
    double m = 0;
    TD_CHECK_OK(td_rope2d_tables(&cfg, 2, 3, c, s, &m));
    TD_CHECK(m == 1.0, "mscale %g without scaling", m);
    static const double ang[6][4] = {{0, 0, 0, 0},   {0, 0, 1, 0.1},   {0, 0, 2, 0.2},
                                     {1, 0.1, 0, 0}, {1, 0.1, 1, 0.1}, {1, 0.1, 2, 0.2}};
    for (int p = 0; p < 6; p++)
        for (int k = 0; k < 4; k++) {
            TD_CHECK(fabsf(c[p * 4 + k] - (float)cos(ang[p][k])) <= 6e-8f, "cos p %d k %d: %g", p,
                     k, c[p * 4 + k]);
            TD_CHECK(fabsf(s[p * 4 + k] - (float)sin(ang[p][k])) <= 6e-8f, "sin p %d k %d: %g", p,
                     k, s[p * 4 + k]);
        }
    /* Centered with offsets: rows at i - 0.5 + 0.25, columns at j - 1 - 1, so p = 5 (1,2) has
     * row coordinate 0.75 and column coordinate 0: angles (0.75, 0.075, 0, 0). Alternate axes
     * put them in pair order row, column, row, column: (0.75, 0, 0.075, 0). */
    cfg.centered = true;
    cfg.offset_h = 0.25;
    cfg.offset_w = -1;
    cfg.axes = TD_ROPE_AXES_ALTERNATE;
    TD_CHECK_OK(td_rope2d_tables(&cfg, 2, 3, c, s, NULL));
    static const double alt5[4] = {0.75, 0, 0.075, 0};
    for (int k = 0; k < 4; k++)
        TD_CHECK(fabsf(s[5 * 4 + k] - (float)sin(alt5[k])) <= 6e-8f, "centered sin k %d: %g", k,
                 s[5 * 4 + k]);
    /* p = 0 (0,0): row -0.25, column -2: angles (-0.25, -2, -0.025, -0.2) */
    static const double alt0[4] = {-0.25, -2, -0.025, -0.2};
    for (int k = 0; k < 4; k++)
        TD_CHECK(fabsf(s[k] - (float)sin(alt0[k])) <= 6e-8f, "centered p0 sin k %d: %g", k, s[k]);
}

/* Rotating unit vectors of the first pair members by the 2 x 3 tables at p = 5, angles
 * (1, 0.1, 2, 0.2): each pair becomes (cos t, sin t). */
static void test_hand_rotation(void)
{
    td_rope2d_cfg cfg;
    td_rope2d_cfg_init(&cfg, 8);
    cfg.theta = 100;
    float c[24], s[24];
    TD_CHECK_OK(td_rope2d_tables(&cfg, 2, 3, c, s, NULL));
    static const float want_il[8] = {0.54030231f,  0.84147098f, 0.99500417f, 0.09983342f,
                                     -0.41614684f, 0.90929743f, 0.98006658f, 0.19866933f};
    static const float want_hv[8] = {0.54030231f, 0.99500417f, -0.41614684f, 0.98006658f,
                                     0.84147098f, 0.09983342f, 0.90929743f,  0.19866933f};
    for (int isa = 0; isa <= (int)best_isa(); isa++) {
        td_ctx ctx = ctx_for((td_isa)isa, 1);
        float x[6 * 8] = {0}, y[6 * 8];
        for (int k = 0; k < 4; k++)
            x[5 * 8 + 2 * k] = 1; /* interleaved: a = x[2k] */
        TD_CHECK_OK(td_rope_apply(&ctx, x, y, 1, 1, 6, 8, 8, TD_ROPE_INTERLEAVED, c, s));
        for (int k = 0; k < 8; k++)
            TD_CHECK(fabsf(y[5 * 8 + k] - want_il[k]) <= 1e-7f, "isa %d interleaved y[%d] = %.8f",
                     isa, k, y[5 * 8 + k]);
        memset(x, 0, sizeof x);
        for (int k = 0; k < 4; k++)
            x[5 * 8 + k] = 1; /* halves: a = x[k] */
        TD_CHECK_OK(td_rope_apply(&ctx, x, x, 1, 1, 6, 8, 8, TD_ROPE_HALVES, c, s)); /* in place */
        for (int k = 0; k < 8; k++)
            TD_CHECK(fabsf(x[5 * 8 + k] - want_hv[k]) <= 1e-7f, "isa %d halves y[%d] = %.8f", isa,
                     k, x[5 * 8 + k]);
    }
}

/* ---- properties ---- */

/* Random rows through every ISA: norms kept (and scaled by mscale when YaRN folds it), the
 * unrotated tail copied, and every ISA bit-identical to the scalar reference. */
static void test_norms_and_isas(void)
{
    enum { B = 2, NH = 3, H = 5, W = 7, D = 72, ROT = 64 };
    td_rope2d_cfg cfg;
    td_rope2d_cfg_init(&cfg, ROT);
    cfg.scaling = TD_ROPE_SCALE_YARN;
    cfg.train_h = 2;
    cfg.train_w = 3;
    float *c = falloc(H * W * ROT / 2), *s = falloc(H * W * ROT / 2);
    double m = 0;
    TD_CHECK_OK(td_rope2d_tables(&cfg, H, W, c, s, &m));
    /* s_h = 2.5, s_w = 7/3: temperature from the token ratio 2.5 * 7/3 */
    TD_CHECK(fabs(m - (0.1 * log(2.5 * 7.0 / 3.0) + 1)) < 1e-15, "mscale %.17g", m);
    size_t n = (size_t)B * NH * H * W * D;
    float *x = falloc(n), *ref = falloc(n), *y = falloc(n);
    td_rng r = {7};
    for (size_t i = 0; i < n; i++)
        x[i] = td_rng_normal(&r);
    for (int pr = 0; pr < 2; pr++) {
        td_rope_pairing pairing = pr ? TD_ROPE_HALVES : TD_ROPE_INTERLEAVED;
        TD_CHECK_OK(td_rope_apply(NULL, x, ref, B, NH, H * W, D, ROT, pairing, c, s));
        double worst = 0;
        for (size_t row = 0; row < n / D; row++) {
            double nx = sqrt(dotf(x + row * D, x + row * D, ROT));
            double ny = sqrt(dotf(ref + row * D, ref + row * D, ROT));
            double e = fabs(ny / (nx * m) - 1);
            worst = e > worst ? e : worst;
            TD_CHECK(memcmp(x + row * D + ROT, ref + row * D + ROT, (D - ROT) * sizeof(float)) == 0,
                     "tail of row %zu not copied", row);
        }
        TD_CHECK(worst < 2e-6, "pairing %d: norm ratio off by %g", pr, worst);
        for (int isa = 0; isa <= (int)best_isa(); isa++)
            for (int threads = 1; threads <= 2; threads++) {
                td_ctx ctx = ctx_for((td_isa)isa, threads);
                TD_CHECK_OK(td_rope_apply(&ctx, x, y, B, NH, H * W, D, ROT, pairing, c, s));
                TD_CHECK(memcmp(y, ref, n * sizeof(float)) == 0,
                         "isa %d threads %d pairing %d differs from scalar", isa, threads, pr);
                memcpy(y, x, n * sizeof(float));
                TD_CHECK_OK(td_rope_apply(&ctx, y, y, B, NH, H * W, D, ROT, pairing, c, s));
                TD_CHECK(memcmp(y, ref, n * sizeof(float)) == 0, "isa %d pairing %d in place", isa,
                         pr);
            }
    }
    /* Row kernels on every pair count up to 40 (vector bodies and every tail length). */
    for (int pairs = 1; pairs <= 40; pairs++)
        for (int pr = 0; pr < 2; pr++) {
            td_rope_pairing pairing = pr ? TD_ROPE_HALVES : TD_ROPE_INTERLEAVED;
            float yr[80], yv[80];
            td_rope_row_kernel(TD_ISA_SCALAR, pairing)(x, yr, c, s, pairs);
            for (int isa = 1; isa <= (int)best_isa(); isa++) {
                td_rope_row_kernel((td_isa)isa, pairing)(x, yv, c, s, pairs);
                TD_CHECK(memcmp(yr, yv, sizeof(float) * 2 * (size_t)pairs) == 0,
                         "row kernel isa %d pairs %d pairing %d", isa, pairs, pr);
            }
        }
    free(c);
    free(s);
    free(x);
    free(ref);
    free(y);
}

/* q(m) . k(n) depends only on m - n per axis: the same q and k at every position of a grid,
 * rotated, then dot products compared between position pairs with equal offsets. Also checks
 * that different offsets give different products (so the comparison can fail). */
static void relative_case(const td_rope2d_cfg *cfg, td_rope_pairing pairing, const char *what)
{
    enum { H = 6, W = 5, D = 32 };
    float c[H * W * D / 2], s[H * W * D / 2], q[H * W * D], k[H * W * D];
    TD_CHECK_OK(td_rope2d_tables(cfg, H, W, c, s, NULL));
    td_rng r = {11};
    for (int i = 0; i < D; i++) {
        q[i] = td_rng_normal(&r);
        k[i] = td_rng_normal(&r);
    }
    for (int p = 1; p < H * W; p++) {
        memcpy(q + p * D, q, D * sizeof(float));
        memcpy(k + p * D, k, D * sizeof(float));
    }
    td_ctx ctx = ctx_for(best_isa(), 1);
    TD_CHECK_OK(td_rope_apply(&ctx, q, q, 1, 1, H * W, D, D, pairing, c, s));
    TD_CHECK_OK(td_rope_apply(&ctx, k, k, 1, 1, H * W, D, D, pairing, c, s));
    double worst = 0;
    /* for each offset (di, dj): products at every placement equal the first placement's */
    for (int di = -(H - 1); di < H; di++)
        for (int dj = -(W - 1); dj < W; dj++) {
            double first = NAN;
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    int i2 = i - di, j2 = j - dj;
                    if (i2 < 0 || i2 >= H || j2 < 0 || j2 >= W)
                        continue;
                    double d = dotf(q + (i * W + j) * D, k + (i2 * W + j2) * D, D);
                    if (isnan(first))
                        first = d;
                    worst = fmax(worst, fabs(d - first));
                }
        }
    double spread = fabs(dotf(q + (H - 1) * W * D, k, D) - dotf(q, k, D));
    TD_CHECK(worst < 2e-5, "%s: products at equal offsets differ by %g", what, worst);
    TD_CHECK(spread > 0.05, "%s: products do not depend on the offset (%g)", what, spread);
    /* each axis on its own moves the product: some row offset (di, 0) and some column offset
     * (0, dj) differ from (0, 0), so neither coordinate is ignored */
    double p00 = dotf(q, k, D), row_move = 0, col_move = 0;
    for (int i = 1; i < H; i++)
        row_move = fmax(row_move, fabs(dotf(q + i * W * D, k, D) - p00));
    for (int j = 1; j < W; j++)
        col_move = fmax(col_move, fabs(dotf(q + j * D, k, D) - p00));
    TD_CHECK(row_move > 0.05 && col_move > 0.05, "%s: row offsets move q.k by %g, columns by %g",
             what, row_move, col_move);
}

static void test_relative(void)
{
    td_rope2d_cfg cfg;
    td_rope2d_cfg_init(&cfg, 32);
    cfg.theta = 100;
    relative_case(&cfg, TD_ROPE_INTERLEAVED, "split interleaved");
    relative_case(&cfg, TD_ROPE_HALVES, "split halves");
    cfg.axes = TD_ROPE_AXES_ALTERNATE;
    cfg.centered = true;
    cfg.offset_h = 3.5;
    relative_case(&cfg, TD_ROPE_HALVES, "alternate centered");
    cfg.scaling = TD_ROPE_SCALE_YARN;
    cfg.train_h = 3;
    cfg.train_w = 2;
    cfg.fold_mscale = false;
    relative_case(&cfg, TD_ROPE_INTERLEAVED, "yarn");
    cfg.scaling = TD_ROPE_SCALE_NTK;
    relative_case(&cfg, TD_ROPE_INTERLEAVED, "ntk");
}

/* ---- scaling ---- */

static void test_scaling(void)
{
    double plain[16], f[16];
    TD_CHECK_OK(td_rope_freqs(16, 10000, NULL, plain));
    td_rope_scale sc = td_rope_scale_none();
    sc.s = 1;
    sc.train_len = 64;
    sc.kind = TD_ROPE_SCALE_NTK;
    TD_CHECK_OK(td_rope_freqs(16, 10000, &sc, f));
    TD_CHECK(memcmp(f, plain, sizeof f) == 0, "NTK at s = 1 differs from plain RoPE");
    sc.kind = TD_ROPE_SCALE_YARN;
    TD_CHECK_OK(td_rope_freqs(16, 10000, &sc, f));
    TD_CHECK(memcmp(f, plain, sizeof f) == 0, "YaRN at s = 1 differs from plain RoPE");
    TD_CHECK(td_yarn_mscale(1) == 1 && td_yarn_mscale(0.5) == 1, "mscale below s = 1");
    TD_CHECK(fabs(td_yarn_mscale(exp(1.0)) - 1.1) < 1e-15, "mscale(e) = %.17g",
             td_yarn_mscale(exp(1.0)));

    /* NTK by hand: 4 pairs (d = 8), theta 10000, s = 4: theta' = 10000 * 4^(8/6), so
     * w_a = theta'^(-a/4) = 0.1^a * 4^(-a/3); the lowest frequency is exactly w_3 / 4. */
    sc = td_rope_scale_none();
    sc.kind = TD_ROPE_SCALE_NTK;
    sc.s = 4;
    TD_CHECK_OK(td_rope_freqs(4, 10000, &sc, f));
    static const double ntk[4] = {1, 0.1 * 0.62996052494743658, 0.01 * 0.39685026299204984,
                                  0.001 * 0.25};
    for (int a = 0; a < 4; a++)
        TD_CHECK(fabs(f[a] / ntk[a] - 1) < 1e-14, "NTK w_%d = %.17g", a, f[a]);
    /* one pair: unchanged (the exponent d/(d-2) would divide by zero) */
    TD_CHECK_OK(td_rope_freqs(1, 10000, &sc, f));
    TD_CHECK(f[0] == 1.0, "NTK one pair: %g", f[0]);

    /* YaRN ramp: 0 up to alpha, 1 from beta, linear between. */
    TD_CHECK(td_yarn_ramp(1, 1, 32) == 0 && td_yarn_ramp(0.5, 1, 32) == 0, "ramp below alpha");
    TD_CHECK(td_yarn_ramp(32, 1, 32) == 1 && td_yarn_ramp(1e9, 1, 32) == 1, "ramp above beta");
    TD_CHECK(td_yarn_ramp(16.5, 1, 32) == 0.5 && td_yarn_ramp(8.75, 1, 32) == 0.25,
             "ramp midpoints %g %g", td_yarn_ramp(16.5, 1, 32), td_yarn_ramp(8.75, 1, 32));
    /* YaRN per region: L = 2 pi * 40, theta 100, 4 pairs (d = 8): w = 1, 0.316, 0.1, 0.0316,
     * r = L w / (2 pi) = 40, 12.65, 4, 1.265 with alpha 4, beta 32: w_0 kept (r > beta),
     * w_2 fully interpolated (r = alpha: g = 0), w_1 with g = (12.65 - 4) / 28. */
    sc = td_rope_scale_none();
    sc.kind = TD_ROPE_SCALE_YARN;
    sc.s = 3;
    sc.train_len = 2 * 3.14159265358979323846 * 40;
    sc.alpha = 4;
    sc.beta = 32;
    TD_CHECK_OK(td_rope_freqs(4, 100, &sc, f));
    double w1 = pow(100, -0.25), g1 = (40 * w1 - 4) / 28;
    TD_CHECK(fabs(f[0] - 1) < 1e-15, "YaRN kept frequency %.17g", f[0]);
    TD_CHECK(fabs(f[1] / ((1 - g1) * w1 / 3 + g1 * w1) - 1) < 1e-13, "YaRN ramped w_1 %.17g", f[1]);
    TD_CHECK(fabs(f[2] - 0.1 / 3) < 1e-15, "YaRN interpolated w_2 %.17g", f[2]);
    TD_CHECK(fabs(f[3] - pow(100, -0.75) / 3) < 1e-15, "YaRN interpolated w_3 %.17g", f[3]);

    /* 2-D: grids no larger than training use plain tables, bit for bit, mscale 1. */
    enum { H = 4, W = 6, ROT = 16 };
    float c0[H * W * ROT / 2], s0[H * W * ROT / 2], c1[H * W * ROT / 2], s1[H * W * ROT / 2];
    td_rope2d_cfg cfg;
    td_rope2d_cfg_init(&cfg, ROT);
    TD_CHECK_OK(td_rope2d_tables(&cfg, H, W, c0, s0, NULL));
    for (int kind = TD_ROPE_SCALE_NTK; kind <= TD_ROPE_SCALE_YARN; kind++) {
        cfg.scaling = (td_rope_scaling)kind;
        cfg.train_h = H;
        cfg.train_w = W + 3;
        double m = 0;
        TD_CHECK_OK(td_rope2d_tables(&cfg, H, W, c1, s1, &m));
        TD_CHECK(memcmp(c0, c1, sizeof c0) == 0 && memcmp(s0, s1, sizeof s0) == 0,
                 "scaling %d at s = 1 differs from plain tables", kind);
        TD_CHECK(m == 1.0, "scaling %d at s = 1: mscale %g", kind, m);
    }
    /* Beyond training the row axis changes and the column axis (s_w = 1) does not. */
    cfg.scaling = TD_ROPE_SCALE_NTK;
    cfg.train_h = 2;
    TD_CHECK_OK(td_rope2d_tables(&cfg, H, W, c1, s1, NULL));
    int row_diff = 0, col_diff = 0;
    for (int p = 0; p < H * W; p++)
        for (int k = 0; k < ROT / 2; k++) {
            bool differs = c1[p * ROT / 2 + k] != c0[p * ROT / 2 + k];
            row_diff += k < ROT / 4 && differs;
            col_diff += k >= ROT / 4 && differs;
        }
    TD_CHECK(row_diff > 0 && col_diff == 0, "NTK per axis: row changes %d, column changes %d",
             row_diff, col_diff);
}

/* 1-D tables are cos/sin of position x frequency, and split-axes 2-D tables are two 1-D
 * tables of half the width side by side (rows: positions i, columns: positions j). */
static void test_1d_and_axial(void)
{
    enum { H = 5, W = 3, ROT = 16 };
    td_rope_scale sc = td_rope_scale_none();
    sc.kind = TD_ROPE_SCALE_YARN;
    sc.s = 2;
    sc.train_len = 3;
    double f[ROT / 4];
    float c1[H * ROT / 4], s1[H * ROT / 4], c2[H * W * ROT / 2], s2[H * W * ROT / 2];
    float cw[W * ROT / 4], sw[W * ROT / 4];
    TD_CHECK_OK(td_rope_freqs(ROT / 4, 10000, &sc, f));
    TD_CHECK_OK(td_rope1d_tables(H, ROT / 2, 10000, &sc, c1, s1));
    for (int p = 0; p < H; p++)
        for (int k = 0; k < ROT / 4; k++)
            TD_CHECK(c1[p * ROT / 4 + k] == (float)cos(p * f[k]) &&
                         s1[p * ROT / 4 + k] == (float)sin(p * f[k]),
                     "1-D table p %d k %d", p, k);
    td_rope2d_cfg cfg;
    td_rope2d_cfg_init(&cfg, ROT);
    cfg.scaling = TD_ROPE_SCALE_YARN;
    cfg.train_h = 3;
    cfg.train_w = 3;
    cfg.scale_h = 2; /* the column axis: W = train_w, so s_w = 1 */
    cfg.fold_mscale = false;
    TD_CHECK_OK(td_rope2d_tables(&cfg, H, W, c2, s2, NULL));
    td_rope_scale none = td_rope_scale_none();
    TD_CHECK_OK(td_rope1d_tables(W, ROT / 2, 10000, &none, cw, sw));
    int bad = 0;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
            for (int k = 0; k < ROT / 4; k++) {
                const float *row = c2 + (i * W + j) * ROT / 2;
                bad += row[k] != c1[i * ROT / 4 + k] || row[ROT / 4 + k] != cw[j * ROT / 4 + k];
            }
    TD_CHECK(bad == 0, "2-D split table is not the two 1-D tables side by side (%d cells)", bad);
}

/* ---- tile grids ---- */

typedef struct tile_case {
    int w, h, min, max, cols, rows;
    const char *why;
} tile_case;

static void test_tiles_table(void)
{
    /* tile 448, slack 2 (area up to 2 * W*H); A = W*H, T = 448*448 = 200704 */
    static const tile_case cases[] = {
        {448, 448, 1, 12, 1, 1, "1:1 exact: 1x1 (2x2 is 4T > 2A)"},
        {800, 800, 1, 12, 2, 2, "1:1: 2x2 (4T <= 2A), 3x3 only up-samples"},
        {900, 900, 1, 12, 2, 2, "1:1: 2x2 shrinks 0.5%, 3x3 (9T > 2A) would up-sample 1.5x"},
        {1000, 1000, 1, 12, 3, 3, "1:1: 3x3 (9T = 1.81e6 <= 2e6)"},
        {1920, 1080, 1, 12, 4, 2, "16:9: ratio 2 is nearest (1.125 vs 1.185 for 3:2); 4x2"},
        {1080, 1920, 1, 12, 2, 4, "9:16 mirrors 16:9"},
        {1024, 768, 1, 12, 4, 3, "4:3 exact only as 4x3 (does not fit, but nearest)"},
        {4480, 448, 1, 12, 10, 1, "10:1 exact"},
        {448, 4480, 1, 12, 1, 10, "1:10 exact"},
        {4480, 448, 1, 6, 6, 1, "10:1 with at most 6 tiles: widest"},
        {1, 1, 1, 12, 1, 1, "tiny: nothing fits, smallest of the 1:1 grids"},
        {10, 1000, 1, 12, 1, 12, "1:100: tallest"},
        {448, 448, 2, 2, 2, 1, "1:1 with exactly 2 tiles: 2:1 and 1:2 tie, more columns"},
        {1920, 1080, 4, 4, 2, 2, "exactly 4 tiles: 2x2 (1.78) beats 4x1 (2.25)"},
        {640, 480, 1, 12, 4, 3, "4:3 small: still 4x3, the only exact aspect"},
    };
    td_tile_cfg cfg;
    td_tile_cfg_init(&cfg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const tile_case *t = &cases[i];
        cfg.min_tiles = t->min;
        cfg.max_tiles = t->max;
        int c = 0, r = 0;
        TD_CHECK_OK(td_tile_grid_choose(t->w, t->h, &cfg, &c, &r));
        TD_CHECK(c == t->cols && r == t->rows, "%dx%d: got %dx%d, want %dx%d (%s)", t->w, t->h, c,
                 r, t->cols, t->rows, t->why);
    }
    /* The plan of 1920x1080: 1792x896, 8 tiles row-major, a thumbnail. */
    td_tile_cfg_init(&cfg);
    td_tile_plan plan;
    TD_CHECK_OK(td_tile_plan_make(1920, 1080, &cfg, &plan));
    TD_CHECK(plan.resize_w == 1792 && plan.resize_h == 896 && plan.n_tiles == 8 &&
                 plan.has_thumbnail,
             "plan %dx%d, %d tiles, thumb %d", plan.resize_w, plan.resize_h, plan.n_tiles,
             plan.has_thumbnail);
    TD_CHECK(plan.n_tiles == 8 && plan.tiles[5].x == 448 && plan.tiles[5].y == 448 &&
                 plan.tiles[7].x == 1344 && plan.tiles[3].w == 448 && plan.tiles[3].h == 448,
             "tile rects");
    TD_CHECK(fabs(plan.scale_x - 1792.0 / 1920) < 1e-15 &&
                 fabs(plan.scale_y - 896.0 / 1080) < 1e-15,
             "scales %g %g", plan.scale_x, plan.scale_y);
    td_tile_plan_free(&plan);
    TD_CHECK_OK(td_tile_plan_make(448, 448, &cfg, &plan));
    TD_CHECK(plan.n_tiles == 1 && !plan.has_thumbnail && plan.tiles[0].w == 448,
             "single tile: no thumbnail");
    td_tile_plan_free(&plan);
}

/* ---- fixtures from tools/rope_reference.py ---- */

static void test_fixture_freqs(void)
{
    fcase *cases = calloc(MAX_CASES, sizeof *cases);
    int n = load_cases(FIX "/freqs.txt", cases);
    TD_CHECK(n >= 6, "freqs.txt has %d cases", n);
    for (int i = 0; i < n; i++) {
        const field *pf = get(&cases[i], "params"), *wf = get(&cases[i], "freq");
        if (!pf || !wf || pf->n != 7)
            continue;
        const double *p = pf->v;
        td_rope_scale sc = {(td_rope_scaling)p[2], p[3], p[4], p[5], p[6]};
        int nf = (int)p[0];
        double f[64];
        TD_CHECK(nf == wf->n && nf <= 64, "%s: %d frequencies", cases[i].name, wf->n);
        TD_CHECK_OK(td_rope_freqs(nf, p[1], &sc, f));
        for (int a = 0; a < nf && a < wf->n; a++)
            TD_CHECK(fabs(f[a] - wf->v[a]) <= 1e-13 * wf->v[a], "%s: w_%d = %.17g, numpy %.17g",
                     cases[i].name, a, f[a], wf->v[a]);
    }
    free_cases(cases, n);
    free(cases);
}

static void test_fixture_tables(void)
{
    fcase *cases = calloc(MAX_CASES, sizeof *cases);
    int n = load_cases(FIX "/tables.txt", cases);
    TD_CHECK(n >= 6, "tables.txt has %d cases", n);
    for (int i = 0; i < n; i++) {
        const fcase *fc = &cases[i];
        const field *cf = get(fc, "cfg"), *gf = get(fc, "grid"), *mf = get(fc, "mscale");
        const field *cosf = get(fc, "cos"), *sinf = get(fc, "sin");
        if (!cf || !gf || !mf || !cosf || !sinf || cf->n != 15)
            continue;
        const double *v = cf->v;
        td_rope2d_cfg cfg;
        td_rope2d_cfg_init(&cfg, (int)v[0]);
        cfg.theta = v[1];
        cfg.axes = (td_rope_axes)v[2];
        cfg.centered = v[3] != 0;
        cfg.offset_h = v[4];
        cfg.offset_w = v[5];
        cfg.scaling = (td_rope_scaling)v[6];
        cfg.train_h = (int)v[7];
        cfg.train_w = (int)v[8];
        cfg.scale_h = v[9];
        cfg.scale_w = v[10];
        cfg.yarn_alpha = v[11];
        cfg.yarn_beta = v[12];
        cfg.attn_scale = v[13];
        cfg.fold_mscale = v[14] != 0;
        int64_t H = (int64_t)gf->v[0], W = (int64_t)gf->v[1];
        size_t cells = (size_t)(H * W * cfg.rot_dim / 2);
        TD_CHECK(cosf->n == (int)cells && sinf->n == (int)cells, "%s: table sizes", fc->name);
        if (cosf->n != (int)cells || sinf->n != (int)cells)
            continue;
        float *c = falloc(cells), *s = falloc(cells);
        double m = 0;
        TD_CHECK_OK(td_rope2d_tables(&cfg, H, W, c, s, &m));
        TD_CHECK(fabs(m - mf->v[0]) <= 1e-14, "%s: mscale %.17g, numpy %.17g", fc->name, m,
                 mf->v[0]);
        double worst = 0;
        for (size_t k = 0; k < cells; k++) {
            worst = fmax(worst, fabs(c[k] - cosf->v[k]));
            worst = fmax(worst, fabs(s[k] - sinf->v[k]));
        }
        /* float rounding of values up to mscale (< 1.3): half an ulp is 2^-24 * 2 */
        TD_CHECK(worst <= 1.2e-7, "%s: tables differ from numpy by %g", fc->name, worst);
        free(c);
        free(s);
    }
    free_cases(cases, n);
    free(cases);
}

static void test_fixture_apply(void)
{
    fcase *cases = calloc(MAX_CASES, sizeof *cases);
    int n = load_cases(FIX "/apply.txt", cases);
    TD_CHECK(n == 1, "apply.txt has %d cases", n);
    for (int i = 0; i < n; i++) {
        const fcase *fc = &cases[i];
        const field *sh = get(fc, "shape"), *xf = get(fc, "x"), *cf = get(fc, "cos");
        const field *sf = get(fc, "sin"), *yi = get(fc, "y_interleaved"), *yh = get(fc, "y_halves");
        if (!sh || !xf || !cf || !sf || !yi || !yh || sh->n != 5)
            continue;
        int64_t B = (int64_t)sh->v[0], NH = (int64_t)sh->v[1], S = (int64_t)sh->v[2];
        int64_t D = (int64_t)sh->v[3], rot = (int64_t)sh->v[4];
        size_t nx = (size_t)(B * NH * S * D);
        TD_CHECK(xf->n == (int)nx && yi->n == (int)nx && yh->n == (int)nx, "%s sizes", fc->name);
        if (xf->n != (int)nx || yi->n != (int)nx || yh->n != (int)nx)
            continue;
        float *x = falloc(nx), *y = falloc(nx), *c = falloc((size_t)cf->n),
              *s = falloc((size_t)sf->n);
        for (size_t k = 0; k < nx; k++)
            x[k] = (float)xf->v[k];
        for (int k = 0; k < cf->n; k++) {
            c[k] = (float)cf->v[k];
            s[k] = (float)sf->v[k];
        }
        /* the fixture's tables are the hand-checked 2 x 3 ones: the C tables must match */
        float ct[24], st[24];
        td_rope2d_cfg cfg;
        td_rope2d_cfg_init(&cfg, 8);
        cfg.theta = 100;
        TD_CHECK_OK(td_rope2d_tables(&cfg, 2, 3, ct, st, NULL));
        TD_CHECK(cf->n == 24 && memcmp(ct, c, sizeof ct) == 0 && memcmp(st, s, sizeof st) == 0,
                 "C tables differ from the fixture's float32 tables");
        for (int isa = 0; isa <= (int)best_isa(); isa++)
            for (int pr = 0; pr < 2; pr++) {
                td_ctx ctx = ctx_for((td_isa)isa, 2);
                const field *want = pr ? yh : yi;
                TD_CHECK_OK(td_rope_apply(&ctx, x, y, B, NH, S, D, rot,
                                          pr ? TD_ROPE_HALVES : TD_ROPE_INTERLEAVED, c, s));
                double worst = 0;
                for (size_t k = 0; k < nx; k++)
                    worst = fmax(worst, fabs(y[k] - want->v[k]));
                TD_CHECK(worst <= 1e-6, "isa %d pairing %d: %g from numpy", isa, pr, worst);
            }
        free(x);
        free(y);
        free(c);
        free(s);
    }
    free_cases(cases, n);
    free(cases);
}

static void test_fixture_tiles(void)
{
    char *text = NULL;
    size_t len = 0;
    TD_CHECK_OK(td_file_read(FIX "/tiles.txt", 1 << 20, &text, &len));
    if (!text)
        return;
    int count = 0, wrong = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        long long w, h;
        int tile, lo, hi, thumb, cols, rows;
        double slack;
        if (sscanf(line, "%lld %lld %d %d %d %lf %d %d %d", &w, &h, &tile, &lo, &hi, &slack, &thumb,
                   &cols, &rows) != 9) {
            TD_CHECK(0, "bad tiles.txt line '%s'", line);
            continue;
        }
        td_tile_cfg cfg = {tile, lo, hi, slack, thumb != 0};
        td_tile_plan plan;
        td_status st = td_tile_plan_make(w, h, &cfg, &plan);
        TD_CHECK(st == NULL, "%s: %s", line, td_status_message(st));
        td_status_free(st);
        if (st)
            continue;
        count++;
        if (plan.cols != cols || plan.rows != rows) {
            wrong++;
            TD_CHECK(0, "%lldx%lld tile %d tiles %d..%d slack %g: %dx%d, numpy %dx%d", w, h, tile,
                     lo, hi, slack, plan.cols, plan.rows, cols, rows);
        }
        /* the tiles cover the resized image exactly, row-major, and honour the limits */
        int64_t area = 0;
        bool ok = plan.n_tiles == cols * rows && plan.n_tiles >= lo && plan.n_tiles <= hi &&
                  plan.resize_w == plan.cols * tile && plan.resize_h == plan.rows * tile &&
                  plan.has_thumbnail == (thumb && plan.n_tiles > 1);
        for (int t = 0; ok && t < plan.n_tiles; t++) {
            const td_rect *r = &plan.tiles[t];
            ok = r->x == (t % plan.cols) * tile && r->y == (t / plan.cols) * tile && r->w == tile &&
                 r->h == tile;
            area += (int64_t)r->w * r->h;
        }
        TD_CHECK(ok && area == (int64_t)plan.resize_w * plan.resize_h, "%s: plan layout", line);
        td_tile_plan_free(&plan);
    }
    TD_CHECK(count >= 300 && wrong == 0, "tiles: %d of %d differ from numpy", wrong, count);
    free(text);
}

/* ---- the RotaryEmbedding operator ---- */

typedef struct tensor_set {
    td_view v[4];
    int n;
} tensor_set;

static void onnx_case(const char *name)
{
    char path[512];
    tensor_set in = {0};
    td_view want = {0};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, FIX "/onnx/%s/test_data_set_0/input_%d.pb", name, i);
        FILE *f = fopen(path, "rb");
        if (!f)
            break;
        fclose(f);
        TD_CHECK_OK(td_onnx_load_tensor(path, &in.v[in.n]));
        in.n++;
    }
    snprintf(path, sizeof path, FIX "/onnx/%s/test_data_set_0/output_0.pb", name);
    TD_CHECK_OK(td_onnx_load_tensor(path, &want));
    for (int isa = 0; isa <= (int)best_isa(); isa++) {
        td_graph *g = NULL;
        snprintf(path, sizeof path, FIX "/onnx/%s/model.onnx", name);
        TD_CHECK_OK(td_onnx_load(path, &g));
        if (!g)
            break;
        TD_CHECK(g->n_inputs == in.n, "%s: %d inputs, %d files", name, g->n_inputs, in.n);
        for (int i = 0; i < in.n && i < g->n_inputs; i++)
            if (in.v[i].dtype == TD_DT_I64) /* position_ids: bound as data, as ONNX tests do */
                TD_CHECK_OK(td_graph_set_input_data(g, g->values[g->inputs[i]].name, &in.v[i]));
        TD_CHECK_OK(td_graph_prepare(g));
        td_ctx ctx = ctx_for((td_isa)isa, 2);
        td_session *s = NULL;
        TD_CHECK_OK(td_session_new(g, &ctx, &s));
        for (int i = 0; s && i < g->n_inputs; i++) {
            const td_value *v = &g->values[g->inputs[i]];
            if (v->kind == TD_VALUE_INPUT)
                TD_CHECK_OK(td_session_set_input(s, v->name, &in.v[i]));
        }
        td_view got = {0};
        if (s) {
            TD_CHECK_OK(td_session_run(s));
            TD_CHECK_OK(td_session_get(s, "Y", &got));
        }
        int64_t nw = td_view_numel(&want);
        TD_CHECK(got.data && td_view_numel(&got) == nw, "%s: output size", name);
        double worst = 0;
        for (int64_t k = 0; got.data && k < nw; k++) {
            double a = ((const float *)got.data)[k], b = ((const float *)want.data)[k];
            worst = fmax(worst, fabs(a - b) / (1e-5 + 1e-5 * fabs(b)));
        }
        TD_CHECK(worst <= 1, "%s isa %d: %g of tolerance from onnxruntime", name, isa, worst);
        /* cost: 3 flops per rotated element, no parameters */
        const td_node *n = &g->nodes[0];
        const int64_t *xs = g->values[n->inputs[0]].shape;
        const td_value *cc = &g->values[n->inputs[1]];
        int64_t rot = 2 * cc->shape[cc->ndim - 1];
        int64_t rows =
            td_view_numel(&want) /
            (g->values[n->inputs[0]].ndim == 4 ? xs[3] : xs[2] / td_node_attr(n, "num_heads")->i);
        TD_CHECK(n->cost.flops_other == rows * rot * 3 && n->cost.params == 0 && n->cost.macs == 0,
                 "%s cost: %lld flops, %lld params", name, (long long)n->cost.flops_other,
                 (long long)n->cost.params);
        td_session_free(s);
        td_graph_free(g);
    }
    /* the 2-D case's caches are C's own centered 2-D tables (theta 100, 3 x 4, rot 16) */
    if (strcmp(name, "grid2d_halves_pos") == 0 && in.n == 4) {
        td_rope2d_cfg cfg;
        td_rope2d_cfg_init(&cfg, 16);
        cfg.theta = 100;
        cfg.centered = true;
        float c[12 * 8], s[12 * 8];
        TD_CHECK_OK(td_rope2d_tables(&cfg, 3, 4, c, s, NULL));
        double worst = 0;
        for (int k = 0; k < 96; k++)
            worst = fmax(worst, fabs(c[k] - ((const float *)in.v[1].data)[k]));
        TD_CHECK(td_view_numel(&in.v[1]) == 96 && worst <= 6e-8,
                 "C 2-D tables vs the op's "
                 "cache: %g",
                 worst);
    }
    for (int i = 0; i < in.n; i++)
        td_free(in.v[i].data);
    td_free(want.data);
}

/* A hand-built graph: X [1, 2, 3, 8] and caches [4, rot/2] with position_ids. */
static td_status build_op_graph(td_graph **out, int64_t rot_attr, int64_t cache_half, bool three_d,
                                int64_t num_heads, int64_t opset)
{
    static float cache[64];
    static int64_t pos[3] = {0, 3, 1};
    td_graph *g = NULL;
    TD_TRY(td_graph_new("rope", &g));
    g->opset = opset;
    int64_t xs4[4] = {1, 2, 3, 8}, xs3[3] = {1, 3, 16}, cs[2] = {4, cache_half}, ps[2] = {1, 3};
    td_status st =
        td_graph_add_input(g, "X", TD_DT_F32, three_d ? 3 : 4, three_d ? xs3 : xs4, NULL);
    if (!st)
        st = td_graph_add_const(g, "cos", TD_DT_F32, 2, cs, cache, false, NULL);
    if (!st)
        st = td_graph_add_const(g, "sin", TD_DT_F32, 2, cs, cache, false, NULL);
    if (!st)
        st = td_graph_add_input(g, "pos", TD_DT_I64, 2, ps, NULL);
    const char *ins[4] = {"X", "cos", "sin", "pos"}, *outs[1] = {"Y"};
    int idx = -1;
    if (!st)
        st = td_graph_add_node(g, "rope", "RotaryEmbedding", 4, ins, 1, outs, &idx);
    if (!st && rot_attr >= 0)
        st = td_node_set_int(&g->nodes[idx], "rotary_embedding_dim", rot_attr);
    if (!st && num_heads > 0)
        st = td_node_set_int(&g->nodes[idx], "num_heads", num_heads);
    if (!st)
        st = td_graph_mark_output(g, "Y");
    if (!st) {
        td_view pv = {TD_DT_I64, 2, {1, 3}, pos};
        st = td_graph_set_input_data(g, "pos", &pv);
    }
    if (st) {
        td_graph_free(g);
        return st;
    }
    *out = g;
    return TD_OK;
}

static td_status prepare_op(int64_t rot_attr, int64_t cache_half, bool three_d, int64_t num_heads,
                            int64_t opset)
{
    td_graph *g = NULL;
    TD_TRY(build_op_graph(&g, rot_attr, cache_half, three_d, num_heads, opset));
    td_status st = td_graph_prepare(g);
    td_graph_free(g);
    return st;
}

static void test_op(void)
{
    const td_op_def *d = td_op_find("RotaryEmbedding");
    TD_CHECK(d && d->cls == TD_OPC_ELEMENTWISE && (d->flags & TD_OPF_INPLACE) && d->cost,
             "RotaryEmbedding table entry");
    onnx_case("grid2d_halves_pos");
    onnx_case("partial_interleaved_nopos");
    onnx_case("hidden3d_interleaved_pos");

    TD_CHECK_OK(prepare_op(-1, 4, false, 0, 23));
    TD_CHECK_OK(prepare_op(6, 3, false, 0, 23)); /* partial rotation */
    TD_CHECK_OK(prepare_op(-1, 4, true, 2, 23)); /* 3-D, head 8 */
    TD_CHECK_ERROR(prepare_op(7, 3, false, 0, 23), TD_CODE_INVALID_ARGUMENT, "must be even");
    TD_CHECK_ERROR(prepare_op(10, 5, false, 0, 23), TD_CODE_INVALID_ARGUMENT, "head size 8");
    TD_CHECK_ERROR(prepare_op(-1, 3, false, 0, 23), TD_CODE_INVALID_ARGUMENT, "rotary dim / 2");
    TD_CHECK_ERROR(prepare_op(-1, 4, true, 0, 23), TD_CODE_INVALID_ARGUMENT, "num_heads");
    TD_CHECK_ERROR(prepare_op(-1, 4, true, 3, 23), TD_CODE_INVALID_ARGUMENT, "multiple");
    TD_CHECK_ERROR(prepare_op(-1, 4, false, 0, 22), TD_CODE_UNSUPPORTED, "opset 23");

    /* a position beyond the cache fails at run time, naming the index */
    td_graph *g = NULL;
    TD_CHECK_OK(build_op_graph(&g, -1, 4, false, 0, 23));
    if (g) {
        int pi = td_graph_find_value(g, "pos");
        ((int64_t *)g->values[pi].data)[2] = 4; /* the cache has rows 0..3 */
        TD_CHECK_OK(td_graph_prepare(g));
        td_ctx ctx = ctx_for(best_isa(), 1);
        td_session *s = NULL;
        TD_CHECK_OK(td_session_new(g, &ctx, &s));
        float x[48] = {0};
        td_view xv = {TD_DT_F32, 4, {1, 2, 3, 8}, x};
        if (s) {
            TD_CHECK_OK(td_session_set_input(s, "X", &xv));
            TD_CHECK_ERROR(td_session_run(s), TD_CODE_INVALID_ARGUMENT, "position_ids[2] = 4");
        }
        td_session_free(s);
        td_graph_free(g);
    }
}

/* ---- bad input ---- */

static void test_errors(void)
{
    float c[64], s[64], x[64];
    td_rope2d_cfg cfg;
    td_rope2d_cfg_init(&cfg, 6);
    TD_CHECK_ERROR(td_rope2d_tables(&cfg, 2, 2, c, s, NULL), TD_CODE_INVALID_ARGUMENT,
                   "multiple of 4");
    td_rope2d_cfg_init(&cfg, 8);
    TD_CHECK_ERROR(td_rope2d_tables(&cfg, 0, 3, c, s, NULL), TD_CODE_INVALID_ARGUMENT,
                   "grid 0 x 3");
    cfg.theta = NAN;
    TD_CHECK_ERROR(td_rope2d_tables(&cfg, 2, 2, c, s, NULL), TD_CODE_INVALID_ARGUMENT, "theta");
    td_rope2d_cfg_init(&cfg, 8);
    cfg.scaling = TD_ROPE_SCALE_NTK;
    cfg.scale_h = NAN;
    TD_CHECK_ERROR(td_rope2d_tables(&cfg, 2, 2, c, s, NULL), TD_CODE_INVALID_ARGUMENT,
                   "scale_h is NaN");
    cfg.scale_h = 0.5;
    TD_CHECK_ERROR(td_rope2d_tables(&cfg, 2, 2, c, s, NULL), TD_CODE_INVALID_ARGUMENT,
                   "scale_h = 0.5");
    cfg.scale_h = 0;
    TD_CHECK_ERROR(td_rope2d_tables(&cfg, 2, 2, c, s, NULL), TD_CODE_INVALID_ARGUMENT,
                   "train_h = 0");
    cfg.scaling = TD_ROPE_SCALE_YARN;
    cfg.scale_h = cfg.scale_w = 2;
    TD_CHECK_ERROR(td_rope2d_tables(&cfg, 2, 2, c, s, NULL), TD_CODE_INVALID_ARGUMENT,
                   "YaRN needs the training grid");
    cfg.train_h = cfg.train_w = 2;
    cfg.yarn_alpha = 32;
    TD_CHECK_ERROR(td_rope2d_tables(&cfg, 2, 2, c, s, NULL), TD_CODE_INVALID_ARGUMENT,
                   "0 <= alpha < beta");
    cfg.yarn_alpha = 1;
    cfg.attn_scale = NAN;
    TD_CHECK_ERROR(td_rope2d_tables(&cfg, 2, 2, c, s, NULL), TD_CODE_INVALID_ARGUMENT,
                   "attn_scale");

    td_rope_scale sc = td_rope_scale_none();
    sc.kind = TD_ROPE_SCALE_YARN;
    sc.s = NAN;
    sc.train_len = 16;
    double f[4];
    TD_CHECK_ERROR(td_rope_freqs(4, 10000, &sc, f), TD_CODE_INVALID_ARGUMENT, "s is NaN");
    sc.s = 2;
    sc.train_len = 0;
    TD_CHECK_ERROR(td_rope_freqs(4, 10000, &sc, f), TD_CODE_INVALID_ARGUMENT, "training length");
    TD_CHECK_ERROR(td_rope_freqs(0, 10000, NULL, f), TD_CODE_INVALID_ARGUMENT, "n_freq = 0");
    TD_CHECK_ERROR(td_rope1d_tables(4, 5, 10000, NULL, c, s), TD_CODE_INVALID_ARGUMENT,
                   "rot_dim = 5 must be a positive multiple of 2");

    TD_CHECK_ERROR(td_rope_apply(NULL, x, x, 1, 1, 2, 8, 7, TD_ROPE_INTERLEAVED, c, s),
                   TD_CODE_INVALID_ARGUMENT, "rot_dim = 7");
    TD_CHECK_ERROR(td_rope_apply(NULL, x, x, 1, 1, 2, 8, 10, TD_ROPE_INTERLEAVED, c, s),
                   TD_CODE_INVALID_ARGUMENT, "exceeds dim = 8");
    TD_CHECK_ERROR(td_rope_apply(NULL, x, x, 1, 0, 2, 8, 8, TD_ROPE_INTERLEAVED, c, s),
                   TD_CODE_INVALID_ARGUMENT, "heads 0");
    TD_CHECK_ERROR(td_rope_apply(NULL, x, x, 1, 1, 2, 8, 8, (td_rope_pairing)5, c, s),
                   TD_CODE_INVALID_ARGUMENT, "pairing");
    TD_CHECK_ERROR(td_rope_apply(NULL, x, x, INT64_MAX / 2, 4, 2, 8, 8, TD_ROPE_HALVES, c, s),
                   TD_CODE_OVERFLOW, "rope apply: shape");

    td_tile_cfg tc;
    td_tile_cfg_init(&tc);
    int cols, rows;
    tc.min_tiles = 5;
    tc.max_tiles = 3;
    TD_CHECK_ERROR(td_tile_grid_choose(100, 100, &tc, &cols, &rows), TD_CODE_INVALID_ARGUMENT,
                   "min_tiles = 5 exceeds max_tiles = 3");
    td_tile_cfg_init(&tc);
    TD_CHECK_ERROR(td_tile_grid_choose(0, 100, &tc, &cols, &rows), TD_CODE_INVALID_ARGUMENT,
                   "image 0 x 100");
    tc.tile = 0;
    TD_CHECK_ERROR(td_tile_grid_choose(10, 100, &tc, &cols, &rows), TD_CODE_INVALID_ARGUMENT,
                   "tile = 0");
    td_tile_cfg_init(&tc);
    tc.area_slack = NAN;
    TD_CHECK_ERROR(td_tile_grid_choose(10, 100, &tc, &cols, &rows), TD_CODE_INVALID_ARGUMENT,
                   "area_slack is NaN");
    td_tile_cfg_init(&tc);
    tc.max_tiles = 5000;
    TD_CHECK_ERROR(td_tile_grid_choose(10, 100, &tc, &cols, &rows), TD_CODE_INVALID_ARGUMENT,
                   "max_tiles = 5000");
    tc.max_tiles = 12;
    tc.min_tiles = 0;
    TD_CHECK_ERROR(td_tile_grid_choose(10, 100, &tc, &cols, &rows), TD_CODE_INVALID_ARGUMENT,
                   "min_tiles = 0");
}

int main(void)
{
    test_hand_tables();
    test_hand_rotation();
    test_norms_and_isas();
    test_relative();
    test_scaling();
    test_1d_and_axial();
    test_tiles_table();
    test_fixture_freqs();
    test_fixture_tables();
    test_fixture_apply();
    test_fixture_tiles();
    test_op();
    test_errors();
    return td_test_finish("test_rope");
}
