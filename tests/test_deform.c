/* Deformable convolution (include/tandem/deform.h, src/kernels/deform, src/ops/codesign_deform.c).
 *
 * 1. The double-precision reference and the fast f32 forward and backward against
 *    torchvision.ops.deform_conv2d in float64 (tests/fixtures/deform, written by
 *    tools/gen_deform_fixtures.py): DCNv1/v2, groups, offset groups, stride, padding (also
 *    asymmetric), dilation, 1x1, samples pushed outside the image, limited range, fixed shape,
 *    the depthwise variant; outputs and every gradient.
 * 2. Zero offsets and mask 1 equal the repository's convolution reference.
 * 3. Every fast path against the reference on random and edge shapes (1x1 kernels, planes of
 *    one row or column, odd sizes and block tails, larger channel counts, 1..3 threads), and
 *    bitwise equality between ISAs and between the tiled limited-range path and the generic
 *    path on pre-clamped offsets.
 * 4. int8 weights and activations within a per-output bound derived from the quantization
 *    steps (and bitwise equal across ISAs).
 * 5. NaN, infinite and huge offsets sample zero; bad shapes and arguments give errors.
 * 6. The DeformConv graph operator: built in memory, and loaded from an ONNX file.
 *
 * Tolerances. f32 forward: |y - ref| <= (K + 16) * 2^-23 * sum|w * mask * sample| per output
 * (K = C/group*kh*kw terms summed in f32, each sample a few roundings; the bound is twice
 * the classical one). Gradients sum over outputs, taps and corners; they are compared relative
 * to the largest magnitude of the same tensor with 2e-5 (f32 sums of up to a few thousand
 * terms). */
#include "graph/op.h"
#include "kernels/deform/deform_internal.h"
#include "kernels/ref/conv_ref.h"
#include "ops_harness.h"
#include "tandem/deform.h"
#include "tandem/graph.h"
#include "tandem/model.h"
#include "tandem/safetensors.h"

#define FIXTURES TD_FIXTURE_DIR "/deform/cases.safetensors"
#define ONNX_MODEL TD_FIXTURE_DIR "/deform/deform_conv.onnx"
#define EPS32 (1.0 / 8388608.0) /* 2^-23 */
#define GRAD_TOL 2e-5

/* ---- helpers ---- */

static float *rnd(int64_t n, uint64_t seed, float scale)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    td_rng r = {seed};
    for (int64_t i = 0; i < n; i++)
        p[i] = td_rng_normal(&r) * scale;
    return p;
}

static float *rnd_uniform01(int64_t n, uint64_t seed)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    td_rng r = {seed};
    for (int64_t i = 0; i < n; i++)
        p[i] = 0.5f * (td_rng_uniform(&r) + 1.0f);
    return p;
}

static double *dalloc(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

static float *falloc(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(float));
}

static int64_t numel_x(const td_deform_shape *s)
{
    return s->n * s->c * s->h * s->w;
}
static int64_t numel_y(const td_deform_shape *s)
{
    return s->n * s->m * s->oh * s->ow;
}
static int64_t numel_off(const td_deform_shape *s)
{
    return s->n * td_deform_offset_channels(s) * s->oh * s->ow;
}
static int64_t numel_mask(const td_deform_shape *s)
{
    return s->n * td_deform_mask_channels(s) * s->oh * s->ow;
}
static int64_t numel_w(const td_deform_shape *s)
{
    return s->m * (s->c / s->group) * s->kh * s->kw;
}

static double max_abs(const double *a, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

/* max |a - ref| / max(|ref|max, 1e-30); NaN in a counts as infinite. */
static double rel_err_f(const float *a, const double *ref, int64_t n)
{
    double e = 0, s = fmax(max_abs(ref, n), 1e-30);
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        e = fmax(e, isnan(d) ? INFINITY : d);
    }
    return e / s;
}

static double rel_err_d(const double *a, const double *ref, int64_t n)
{
    double e = 0, s = fmax(max_abs(ref, n), 1e-30);
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(a[i] - ref[i]);
        e = fmax(e, isnan(d) ? INFINITY : d);
    }
    return e / s;
}

/* Per-output magnitudes sum |w * mask * sample| (+|b|): the reference on absolute values
 * (bilinear weights are >= 0, so this bounds the magnitude of every term). */
static double *abs_sums(const td_deform_shape *s, const float *x, const float *off,
                        const float *mask, const float *w, const float *b)
{
    float *ax = falloc(numel_x(s)), *aw = falloc(numel_w(s)), *ab = b ? falloc(s->m) : NULL;
    float *am = mask ? falloc(numel_mask(s)) : NULL;
    for (int64_t i = 0; i < numel_x(s); i++)
        ax[i] = fabsf(x[i]);
    for (int64_t i = 0; i < numel_w(s); i++)
        aw[i] = fabsf(w[i]);
    for (int64_t i = 0; b && i < s->m; i++)
        ab[i] = fabsf(b[i]);
    for (int64_t i = 0; mask && i < numel_mask(s); i++)
        am[i] = fabsf(mask[i]);
    double *y = dalloc(numel_y(s));
    TD_CHECK_OK(td_deform_forward_ref(s, ax, off, am, aw, ab, y));
    free(ax);
    free(aw);
    free(ab);
    free(am);
    return y;
}

/* Worst ratio |y - ref| / bound over outputs (<= 1 passes). */
static double bound_ratio(const td_deform_shape *s, const float *y, const double *ref,
                          const double *mag)
{
    double k = (double)(s->c / s->group * s->kh * s->kw);
    double worst = 0;
    for (int64_t i = 0; i < numel_y(s); i++) {
        double bound = (k + 16) * EPS32 * mag[i] + 1e-30;
        double d = fabs((double)y[i] - ref[i]);
        worst = fmax(worst, isnan(d) ? INFINITY : d / bound);
    }
    return worst;
}

static td_ctx make_ctx(td_isa isa, int threads)
{
    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    td_ctx c = {threads, isa <= cpu.best ? isa : cpu.best};
    return c;
}

/* ---- 1. fixtures from torchvision ---- */

typedef struct fixture {
    td_safetensors *st;
} fixture;

/* Copies tensor "<prefix>.<name>" (F32 or F64) into a new float or double array; NULL when
 * absent (and `required` false). */
static void *fx_get(fixture *f, const char *prefix, const char *name, bool as_double, int64_t want,
                    bool required)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", prefix, name);
    td_st_tensor t;
    td_status st = td_safetensors_find(f->st, key, &t);
    if (st) {
        if (required)
            TD_CHECK(0, "fixture tensor %s: %s", key, td_status_message(st));
        td_status_free(st);
        return NULL;
    }
    TD_CHECK((int64_t)t.nelem == want, "%s has %zu elements, expected %lld", key, t.nelem,
             (long long)want);
    if ((int64_t)t.nelem != want)
        return NULL;
    void *out = as_double ? (void *)dalloc(want) : (void *)falloc(want);
    for (int64_t i = 0; i < want; i++) {
        double v;
        if (t.dtype == TD_ST_F64) {
            memcpy(&v, (const char *)t.data + 8 * i, 8);
        } else {
            float fv;
            memcpy(&fv, (const char *)t.data + 4 * i, 4);
            v = fv;
        }
        if (as_double)
            ((double *)out)[i] = v;
        else
            ((float *)out)[i] = (float)v;
    }
    return out;
}

/* "n=1 c=3 ... mode=free range=0 [cin=3]" */
static bool parse_meta(const char *meta, td_deform_shape *s, int64_t *cin)
{
    memset(s, 0, sizeof *s);
    *cin = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", meta);
    int64_t oh = -1, ow = -1;
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return false;
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        long long iv = atoll(v);
        if (!strcmp(k, "mode"))
            s->mode = !strcmp(v, "limited") ? TD_DEFORM_LIMITED
                      : !strcmp(v, "fixed") ? TD_DEFORM_FIXED
                                            : TD_DEFORM_FREE;
        else if (!strcmp(k, "range"))
            s->range = (float)atof(v);
        else if (!strcmp(k, "n"))
            s->n = iv;
        else if (!strcmp(k, "c"))
            s->c = iv;
        else if (!strcmp(k, "h"))
            s->h = iv;
        else if (!strcmp(k, "w"))
            s->w = iv;
        else if (!strcmp(k, "m"))
            s->m = iv;
        else if (!strcmp(k, "group"))
            s->group = iv;
        else if (!strcmp(k, "og"))
            s->offset_group = iv;
        else if (!strcmp(k, "kh"))
            s->kh = iv;
        else if (!strcmp(k, "kw"))
            s->kw = iv;
        else if (!strcmp(k, "sh"))
            s->sh = iv;
        else if (!strcmp(k, "sw"))
            s->sw = iv;
        else if (!strcmp(k, "dh"))
            s->dh = iv;
        else if (!strcmp(k, "dw"))
            s->dw = iv;
        else if (!strcmp(k, "pt"))
            s->pt = iv;
        else if (!strcmp(k, "pl"))
            s->pl = iv;
        else if (!strcmp(k, "pb"))
            s->pb = iv;
        else if (!strcmp(k, "pr"))
            s->pr = iv;
        else if (!strcmp(k, "oh"))
            oh = iv;
        else if (!strcmp(k, "ow"))
            ow = iv;
        else if (!strcmp(k, "cin"))
            *cin = iv;
        else
            return false;
    }
    td_status st = td_deform_shape_check(s);
    bool ok = st == NULL && s->oh == oh && s->ow == ow;
    td_status_free(st);
    return ok;
}

typedef struct grads_f {
    float *dx, *doff, *dmask, *dw, *db;
} grads_f;

static void grads_alloc(const td_deform_shape *s, bool mask, bool bias, grads_f *g)
{
    g->dx = falloc(numel_x(s));
    g->doff = falloc(numel_off(s));
    g->dmask = mask ? falloc(numel_mask(s)) : NULL;
    g->dw = falloc(numel_w(s));
    g->db = bias ? falloc(s->m) : NULL;
}

static void grads_free(grads_f *g)
{
    free(g->dx);
    free(g->doff);
    free(g->dmask);
    free(g->dw);
    free(g->db);
}

static void fixture_case(fixture *f, const char *name, const char *meta)
{
    td_deform_shape s;
    int64_t cin;
    TD_CHECK(parse_meta(meta, &s, &cin), "case %s: bad metadata '%s'", name, meta);
    if (s.oh == 0)
        return;
    float *x = fx_get(f, name, "x", false, numel_x(&s), true);
    float *off = fx_get(f, name, "offset", false, numel_off(&s), true);
    float *mask = fx_get(f, name, "mask", false, numel_mask(&s), false);
    float *w = fx_get(f, name, "w", false, numel_w(&s), true);
    float *b = fx_get(f, name, "b", false, s.m, false);
    float *dy = fx_get(f, name, "dy", false, numel_y(&s), true);
    double *y = fx_get(f, name, "y", true, numel_y(&s), true);
    double *gx = fx_get(f, name, "gx", true, numel_x(&s), true);
    double *goff = fx_get(f, name, "goffset", true, numel_off(&s), true);
    double *gmask = mask ? fx_get(f, name, "gmask", true, numel_mask(&s), true) : NULL;
    double *gw = fx_get(f, name, "gw", true, numel_w(&s), true);
    double *gb = b ? fx_get(f, name, "gb", true, s.m, true) : NULL;
    if (!x || !off || !w || !dy || !y || !gx || !goff || !gw)
        goto done;

    /* Reference forward and backward against torchvision. */
    double *ry = dalloc(numel_y(&s)), *mag = abs_sums(&s, x, off, mask, w, b);
    TD_CHECK_OK(td_deform_forward_ref(&s, x, off, mask, w, b, ry));
    double e_ref_y = rel_err_d(ry, y, numel_y(&s));
    TD_CHECK(e_ref_y < 1e-12, "case %s: reference y differs from torchvision by %.3g", name,
             e_ref_y);
    double *rdx = dalloc(numel_x(&s)), *rdo = dalloc(numel_off(&s));
    double *rdm = dalloc(numel_mask(&s)), *rdw = dalloc(numel_w(&s)), *rdb = dalloc(s.m);
    TD_CHECK_OK(
        td_deform_backward_ref(&s, x, off, mask, w, dy, rdx, rdo, mask ? rdm : NULL, rdw, rdb));
    double e_ref_g =
        fmax(fmax(rel_err_d(rdx, gx, numel_x(&s)), rel_err_d(rdo, goff, numel_off(&s))),
             rel_err_d(rdw, gw, numel_w(&s)));
    if (gmask)
        e_ref_g = fmax(e_ref_g, rel_err_d(rdm, gmask, numel_mask(&s)));
    if (gb)
        e_ref_g = fmax(e_ref_g, rel_err_d(rdb, gb, s.m));
    TD_CHECK(e_ref_g < 1e-12, "case %s: reference gradients differ from torchvision by %.3g", name,
             e_ref_g);

    /* Fast paths at every ISA and 1 or 2 threads. */
    double e_fast_y = 0, ratio = 0, e_fast_g[5] = {0};
    float *fy = falloc(numel_y(&s));
    for (int isa = 0; isa < TD_ISA_COUNT; isa++)
        for (int th = 1; th <= 2; th++) {
            td_ctx ctx = make_ctx((td_isa)isa, th);
            TD_CHECK_OK(td_deform_forward(&ctx, &s, x, off, mask, w, b, fy, NULL, 0));
            e_fast_y = fmax(e_fast_y, rel_err_f(fy, y, numel_y(&s)));
            ratio = fmax(ratio, bound_ratio(&s, fy, y, mag));
            grads_f g;
            grads_alloc(&s, mask != NULL, b != NULL, &g);
            TD_CHECK_OK(td_deform_backward(&ctx, &s, x, off, mask, w, dy, g.dx, g.doff, g.dmask,
                                           g.dw, g.db));
            e_fast_g[0] = fmax(e_fast_g[0], rel_err_f(g.dx, gx, numel_x(&s)));
            e_fast_g[1] = fmax(e_fast_g[1], rel_err_f(g.doff, goff, numel_off(&s)));
            if (gmask)
                e_fast_g[2] = fmax(e_fast_g[2], rel_err_f(g.dmask, gmask, numel_mask(&s)));
            e_fast_g[3] = fmax(e_fast_g[3], rel_err_f(g.dw, gw, numel_w(&s)));
            if (gb)
                e_fast_g[4] = fmax(e_fast_g[4], rel_err_f(g.db, gb, s.m));
            grads_free(&g);
        }
    TD_CHECK(ratio <= 1.0, "case %s: f32 forward error %.3g x its bound", name, ratio);
    for (int i = 0; i < 5; i++)
        TD_CHECK(e_fast_g[i] < GRAD_TOL, "case %s: gradient %d relative error %.3g", name, i,
                 e_fast_g[i]);
    printf("  %-14s %-7s y: ref %.1e fast %.1e (%.2f of bound) | grads fast: dx %.1e doff "
           "%.1e dmask %.1e dw %.1e db %.1e\n",
           name, td_deform_mode_name(s.mode), e_ref_y, e_fast_y, ratio, e_fast_g[0], e_fast_g[1],
           e_fast_g[2], e_fast_g[3], e_fast_g[4]);
    free(fy);
    free(ry);
    free(mag);
    free(rdx);
    free(rdo);
    free(rdm);
    free(rdw);
    free(rdb);
done:
    free(x);
    free(off);
    free(mask);
    free(w);
    free(b);
    free(dy);
    free(y);
    free(gx);
    free(goff);
    free(gmask);
    free(gw);
    free(gb);
}

static void fixture_dw_case(fixture *f, const char *name, const char *meta)
{
    td_deform_shape s;
    int64_t cin;
    TD_CHECK(parse_meta(meta, &s, &cin) && cin > 0, "case %s: bad metadata", name);
    if (s.oh == 0 || cin <= 0)
        return;
    float *x = fx_get(f, name, "x", false, s.n * cin * s.h * s.w, true);
    float *pw = fx_get(f, name, "pw", false, s.c * cin, true);
    float *pwb = fx_get(f, name, "pw_b", false, s.c, true);
    float *off = fx_get(f, name, "offset", false, numel_off(&s), true);
    float *mask = fx_get(f, name, "mask", false, numel_mask(&s), true);
    float *w = fx_get(f, name, "w", false, numel_w(&s), true);
    float *b = fx_get(f, name, "b", false, s.m, true);
    double *y = fx_get(f, name, "y", true, numel_y(&s), true);
    float *fy = falloc(numel_y(&s));
    double e = 0;
    if (x && pw && pwb && off && mask && w && b && y)
        for (int th = 1; th <= 2; th++) {
            td_ctx ctx = make_ctx(TD_ISA_AVX512, th);
            TD_CHECK_OK(td_deform_depthwise_forward(&ctx, &s, cin, x, pw, pwb, off, mask, w, b, fy,
                                                    NULL, 0));
            e = fmax(e, rel_err_f(fy, y, numel_y(&s)));
        }
    TD_CHECK(e < 1e-5, "case %s: depthwise variant error %.3g", name, e);
    printf("  %-14s dwvar   y: fast %.1e\n", name, e);
    free(x);
    free(pw);
    free(pwb);
    free(off);
    free(mask);
    free(w);
    free(b);
    free(y);
    free(fy);
}

static void test_fixtures(void)
{
    fixture f = {NULL};
    td_status st = td_safetensors_open(FIXTURES, &f.st);
    TD_CHECK(st == NULL, "open %s: %s", FIXTURES, td_status_message(st));
    td_status_free(st);
    if (!f.st)
        return;
    printf("torchvision fixtures (%s): max |err| / max |torchvision|\n",
           td_safetensors_metadata(f.st, "versions"));
    int cases = 0;
    for (size_t i = 0; i < td_safetensors_metadata_count(f.st); i++) {
        const char *k, *v;
        td_safetensors_metadata_at(f.st, i, &k, &v);
        if (!strncmp(k, "case.", 5)) {
            fixture_case(&f, k + 5, v);
            cases++;
        } else if (!strncmp(k, "dwcase.", 7)) {
            fixture_dw_case(&f, k + 7, v);
            cases++;
        }
    }
    TD_CHECK(cases >= 13, "only %d fixture cases", cases);
    td_safetensors_close(f.st);
}

/* ---- 2. zero offsets are a convolution ---- */

static void test_zero_offsets_are_conv(void)
{
    static const td_deform_shape shapes[] = {
        {.n = 2,
         .c = 4,
         .h = 7,
         .w = 9,
         .m = 6,
         .group = 2,
         .offset_group = 2,
         .kh = 3,
         .kw = 3,
         .sh = 1,
         .sw = 2,
         .dh = 2,
         .dw = 1,
         .pt = 1,
         .pl = 2,
         .pb = 3,
         .pr = 0},
        {.n = 1,
         .c = 3,
         .h = 5,
         .w = 5,
         .m = 2,
         .group = 1,
         .offset_group = 3,
         .kh = 1,
         .kw = 1,
         .sh = 1,
         .sw = 1,
         .dh = 1,
         .dw = 1},
        {.n = 1,
         .c = 8,
         .h = 6,
         .w = 11,
         .m = 8,
         .group = 8,
         .offset_group = 4,
         .kh = 3,
         .kw = 5,
         .sh = 2,
         .sw = 1,
         .dh = 1,
         .dw = 1,
         .pt = 1,
         .pl = 2,
         .pb = 1,
         .pr = 2},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        td_deform_shape s = shapes[i];
        TD_CHECK_OK(td_deform_shape_check(&s));
        float *x = rnd(numel_x(&s), 11 + i, 1), *w = rnd(numel_w(&s), 12 + i, 0.5f);
        float *b = rnd(s.m, 13 + i, 1), *off = falloc(numel_off(&s));
        float *ones = falloc(numel_mask(&s));
        for (int64_t k = 0; k < numel_mask(&s); k++)
            ones[k] = 1.0f;
        td_conv_shape cs = {s.n,  s.c,  s.h,  s.w,  s.m,  s.group, s.kh, s.kw,
                            s.sh, s.sw, s.dh, s.dw, s.pt, s.pl,    s.oh, s.ow};
        float *cy = falloc(numel_y(&s)), *fy = falloc(numel_y(&s));
        double *ry = dalloc(numel_y(&s));
        td_conv2d_ref(&cs, x, w, b, cy);
        TD_CHECK_OK(td_deform_forward_ref(&s, x, off, ones, w, b, ry));
        double e_ref = 0, e_fast = 0;
        for (int64_t k = 0; k < numel_y(&s); k++)
            e_ref = fmax(e_ref, fabs(ry[k] - cy[k]));
        td_ctx ctx = make_ctx(TD_ISA_AVX512, 2);
        TD_CHECK_OK(td_deform_forward(&ctx, &s, x, off, NULL, w, b, fy, NULL, 0));
        for (int64_t k = 0; k < numel_y(&s); k++)
            e_fast = fmax(e_fast, fabs((double)fy[k] - cy[k]));
        TD_CHECK(e_ref < 1e-5 && e_fast < 1e-4,
                 "shape %zu: zero offsets vs conv: ref %.3g fast %.3g", i, e_ref, e_fast);
        free(x);
        free(w);
        free(b);
        free(off);
        free(ones);
        free(cy);
        free(fy);
        free(ry);
    }
}

/* ---- 3. fast paths against the reference ---- */

typedef struct rcase {
    td_deform_shape s;
    bool mask, bias;
    float off_scale;
} rcase;

static void make_inputs(const rcase *rc, uint64_t seed, float **x, float **off, float **mask,
                        float **w, float **b)
{
    const td_deform_shape *s = &rc->s;
    *x = rnd(numel_x(s), seed, 1);
    *w = rnd(numel_w(s), seed + 1, 0.3f);
    *b = rc->bias ? rnd(s->m, seed + 2, 1) : NULL;
    *mask = rc->mask ? rnd_uniform01(numel_mask(s), seed + 3) : NULL;
    if (s->mode == TD_DEFORM_FIXED) {
        *off = rnd_uniform01(numel_off(s), seed + 4);
        for (int64_t i = 0; i < numel_off(s); i++)
            (*off)[i] = 0.4f + 1.8f * (*off)[i];
    } else {
        *off = rnd(numel_off(s), seed + 4, rc->off_scale);
    }
}

/* Forward at every ISA and several thread counts against the reference; outputs must be
 * bitwise equal across ISAs at a given thread count. */
static void check_forward(const char *label, rcase rc, uint64_t seed)
{
    td_deform_shape *s = &rc.s;
    TD_CHECK_OK(td_deform_shape_check(s));
    float *x, *off, *mask, *w, *b;
    make_inputs(&rc, seed, &x, &off, &mask, &w, &b);
    double *ry = dalloc(numel_y(s)), *mag = abs_sums(s, x, off, mask, w, b);
    TD_CHECK_OK(td_deform_forward_ref(s, x, off, mask, w, b, ry));
    float *fy = falloc(numel_y(s)), *first = falloc(numel_y(s));
    double worst = 0;
    for (int th = 1; th <= 3; th++)
        for (int isa = 0; isa < TD_ISA_COUNT; isa++) {
            td_ctx ctx = make_ctx((td_isa)isa, th);
            TD_CHECK_OK(td_deform_forward(&ctx, s, x, off, mask, w, b, fy, NULL, 0));
            worst = fmax(worst, bound_ratio(s, fy, ry, mag));
            if (isa == 0)
                memcpy(first, fy, (size_t)numel_y(s) * sizeof *fy);
            else
                TD_CHECK(!memcmp(first, fy, (size_t)numel_y(s) * sizeof *fy),
                         "%s: isa %s differs bitwise from scalar (%d threads)", label,
                         td_isa_name((td_isa)isa), th);
        }
    TD_CHECK(worst <= 1.0, "%s: forward error %.3g x its bound", label, worst);
    free(x);
    free(off);
    free(mask);
    free(w);
    free(b);
    free(ry);
    free(mag);
    free(fy);
    free(first);
}

static void check_backward(const char *label, rcase rc, uint64_t seed)
{
    td_deform_shape *s = &rc.s;
    TD_CHECK_OK(td_deform_shape_check(s));
    float *x, *off, *mask, *w, *b;
    make_inputs(&rc, seed, &x, &off, &mask, &w, &b);
    float *dy = rnd(numel_y(s), seed + 9, 1);
    double *rdx = dalloc(numel_x(s)), *rdo = dalloc(numel_off(s)), *rdm = dalloc(numel_mask(s));
    double *rdw = dalloc(numel_w(s)), *rdb = dalloc(s->m);
    TD_CHECK_OK(
        td_deform_backward_ref(s, x, off, mask, w, dy, rdx, rdo, mask ? rdm : NULL, rdw, rdb));
    for (int th = 1; th <= 3; th += 2) {
        td_ctx ctx = make_ctx(TD_ISA_AVX512, th);
        grads_f g;
        grads_alloc(s, mask != NULL, true, &g);
        TD_CHECK_OK(
            td_deform_backward(&ctx, s, x, off, mask, w, dy, g.dx, g.doff, g.dmask, g.dw, g.db));
        double e[5] = {rel_err_f(g.dx, rdx, numel_x(s)), rel_err_f(g.doff, rdo, numel_off(s)),
                       mask ? rel_err_f(g.dmask, rdm, numel_mask(s)) : 0,
                       rel_err_f(g.dw, rdw, numel_w(s)), rel_err_f(g.db, rdb, s->m)};
        for (int i = 0; i < 5; i++)
            TD_CHECK(e[i] < GRAD_TOL, "%s (%d threads): gradient %d relative error %.3g", label, th,
                     i, e[i]);
        grads_free(&g);
    }
    /* Only some gradients requested: the others stay untouched, the requested ones agree. */
    td_ctx ctx = make_ctx(TD_ISA_AVX2, 2);
    float *dw_only = falloc(numel_w(s));
    TD_CHECK_OK(td_deform_backward(&ctx, s, x, off, mask, w, dy, NULL, NULL, NULL, dw_only, NULL));
    TD_CHECK(rel_err_f(dw_only, rdw, numel_w(s)) < GRAD_TOL, "%s: dw alone differs", label);
    free(dw_only);
    free(x);
    free(off);
    free(mask);
    free(w);
    free(b);
    free(dy);
    free(rdx);
    free(rdo);
    free(rdm);
    free(rdw);
    free(rdb);
}

static td_deform_shape shp(int64_t n, int64_t c, int64_t h, int64_t w, int64_t m, int64_t g,
                           int64_t og, int64_t kh, int64_t kw, int64_t st, int64_t dl, int64_t pad)
{
    td_deform_shape s = {.n = n,
                         .c = c,
                         .h = h,
                         .w = w,
                         .m = m,
                         .group = g,
                         .offset_group = og,
                         .kh = kh,
                         .kw = kw,
                         .sh = st,
                         .sw = st,
                         .dh = dl,
                         .dw = dl,
                         .pt = pad,
                         .pl = pad,
                         .pb = pad,
                         .pr = pad};
    return s;
}

static void test_fast_paths(void)
{
    rcase cases[] = {
        {shp(1, 8, 9, 11, 6, 1, 1, 3, 3, 1, 1, 1), true, true, 1.5f},
        {shp(2, 6, 7, 5, 4, 2, 3, 3, 3, 2, 1, 1), true, false, 2.0f},
        {shp(1, 5, 13, 17, 3, 1, 5, 1, 1, 1, 1, 0), true, true, 1.0f}, /* 1x1, og = C */
        {shp(1, 3, 1, 37, 4, 1, 1, 1, 3, 1, 1, 0), true, true, 1.0f},  /* one row */
        {shp(1, 3, 29, 1, 4, 1, 1, 3, 1, 1, 1, 1), false, true, 1.0f}, /* one column */
        {shp(1, 4, 10, 10, 8, 4, 2, 3, 3, 1, 2, 2), true, true, 3.0f}, /* depthwise x2 */
        {shp(1, 6, 12, 9, 6, 6, 6, 3, 3, 1, 1, 1), true, true, 1.0f},  /* depthwise, og = C */
        {shp(1, 32, 28, 28, 32, 1, 1, 3, 3, 1, 1, 1), true, true, 1.0f},
        {shp(1, 64, 19, 23, 48, 1, 4, 3, 3, 1, 1, 1), true, true, 2.5f},
        {shp(3, 4, 6, 6, 2, 1, 2, 5, 5, 1, 1, 2), true, true, 8.0f}, /* mostly outside */
        {shp(1, 8, 9, 9, 4, 2, 2, 2, 4, 3, 2, 3), false, false, 1.0f},
    };
    char label[96];
    for (int mode = 0; mode < TD_DEFORM_MODE_COUNT; mode++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            rcase rc = cases[i];
            rc.s.mode = (td_deform_mode)mode;
            rc.s.range = 1.5f + (float)i * 0.5f;
            snprintf(label, sizeof label, "%s case %zu", td_deform_mode_name(rc.s.mode), i);
            check_forward(label, rc, 100 + i * 7 + (uint64_t)mode);
            if (numel_w(&rc.s) * rc.s.oh * rc.s.ow < 3000000)
                check_backward(label, rc, 500 + i * 7 + (uint64_t)mode);
        }
    /* A larger shape over many blocks: forward only (the reference takes a moment). */
    rcase big = {shp(2, 64, 40, 40, 64, 1, 1, 3, 3, 1, 1, 1), true, true, 1.0f};
    check_forward("big free", big, 901);
}

/* The tiled limited-range kernel equals the generic one on offsets clamped beforehand. */
static void test_limited_matches_generic(void)
{
    rcase rc = {shp(2, 16, 23, 31, 8, 2, 4, 3, 3, 1, 1, 1), true, true, 3.0f};
    rc.s.mode = TD_DEFORM_LIMITED;
    rc.s.range = 1.75f;
    TD_CHECK_OK(td_deform_shape_check(&rc.s));
    float *x, *off, *mask, *w, *b;
    make_inputs(&rc, 77, &x, &off, &mask, &w, &b);
    int64_t no = numel_off(&rc.s), clamped_count = 0;
    float *cl = falloc(no);
    for (int64_t i = 0; i < no; i++) {
        float v = off[i], r = rc.s.range;
        cl[i] = v > r ? r : (v < -r ? -r : v);
        clamped_count += cl[i] != v;
    }
    td_deform_shape free_s = rc.s;
    free_s.mode = TD_DEFORM_FREE;
    float *y1 = falloc(numel_y(&rc.s)), *y2 = falloc(numel_y(&rc.s));
    for (int isa = 0; isa < TD_ISA_COUNT; isa++) {
        td_ctx ctx = make_ctx((td_isa)isa, 2);
        TD_CHECK_OK(td_deform_forward(&ctx, &rc.s, x, off, mask, w, b, y1, NULL, 0));
        TD_CHECK_OK(td_deform_forward(&ctx, &free_s, x, cl, mask, w, b, y2, NULL, 0));
        TD_CHECK(!memcmp(y1, y2, (size_t)numel_y(&rc.s) * sizeof *y1),
                 "limited (tiled) differs bitwise from generic on clamped offsets (%s)",
                 td_isa_name((td_isa)isa));
    }
    TD_CHECK(clamped_count > no / 4, "test offsets should hit the clamp often (%lld of %lld)",
             (long long)clamped_count, (long long)no);
    free(x);
    free(off);
    free(mask);
    free(w);
    free(b);
    free(cl);
    free(y1);
    free(y2);
}

/* Fixed shape with s = 1 everywhere is a plain convolution; s = 2 with dilation 1 equals a
 * dilation-2 convolution with 2*pad, for odd kernels. */
static void test_fixed_shape_identities(void)
{
    td_deform_shape s = shp(1, 4, 9, 8, 3, 1, 2, 3, 3, 1, 1, 2);
    s.mode = TD_DEFORM_FIXED;
    TD_CHECK_OK(td_deform_shape_check(&s));
    float *x = rnd(numel_x(&s), 5, 1), *w = rnd(numel_w(&s), 6, 0.5f);
    float *sc = falloc(numel_off(&s));
    float *y = falloc(numel_y(&s)), *cy = falloc(numel_y(&s));
    td_ctx ctx = make_ctx(TD_ISA_AVX512, 2);
    for (int k = 1; k <= 2; k++) {
        for (int64_t i = 0; i < numel_off(&s); i++)
            sc[i] = (float)k;
        TD_CHECK_OK(td_deform_forward(&ctx, &s, x, sc, NULL, w, NULL, y, NULL, 0));
        /* Centre of tap (i, j) stays at pad-relative (oy + 1*dh - 2 ...): conv with dilation k
         * and pad 2 - 1 + k. */
        int64_t pad = s.pt - 1 + k;
        td_conv_shape cs = {s.n, s.c, s.h, s.w, s.m, 1, 3, 3, 1, 1, k, k, pad, pad, s.oh, s.ow};
        td_conv2d_ref(&cs, x, w, NULL, cy);
        double e = 0;
        for (int64_t i = 0; i < numel_y(&s); i++)
            e = fmax(e, fabs((double)y[i] - cy[i]));
        TD_CHECK(e < 1e-4, "fixed shape with scale %d differs from dilation-%d conv by %.3g", k, k,
                 e);
    }
    free(x);
    free(w);
    free(sc);
    free(y);
    free(cy);
}

/* The depthwise variant against a 1x1 convolution computed here plus the reference. */
static void test_depthwise_variant(void)
{
    td_deform_shape s = shp(2, 12, 15, 13, 12, 12, 3, 3, 3, 2, 1, 1);
    TD_CHECK_OK(td_deform_shape_check(&s));
    int64_t cin = 7, hw = s.h * s.w;
    float *x = rnd(s.n * cin * hw, 1, 1), *pw = rnd(s.c * cin, 2, 0.4f), *pwb = rnd(s.c, 3, 1);
    rcase rc = {s, true, true, 1.5f};
    float *mid = falloc(numel_x(&s)), *xo, *off, *mask, *w, *b;
    make_inputs(&rc, 40, &xo, &off, &mask, &w, &b);
    for (int64_t n = 0; n < s.n; n++)
        for (int64_t m = 0; m < s.c; m++)
            for (int64_t j = 0; j < hw; j++) {
                double acc = pwb[m];
                for (int64_t k = 0; k < cin; k++)
                    acc += (double)pw[m * cin + k] * x[(n * cin + k) * hw + j];
                mid[(n * s.c + m) * hw + j] = (float)acc;
            }
    double *ry = dalloc(numel_y(&s));
    TD_CHECK_OK(td_deform_forward_ref(&s, mid, off, mask, w, b, ry));
    float *fy = falloc(numel_y(&s));
    for (int th = 1; th <= 2; th++) {
        td_ctx ctx = make_ctx(TD_ISA_AVX512, th);
        size_t bytes;
        TD_CHECK_OK(td_deform_depthwise_workspace(&ctx, &s, cin, &bytes));
        void *work;
        TD_CHECK_OK(td_alloc(bytes, &work));
        TD_CHECK_OK(td_deform_depthwise_forward(&ctx, &s, cin, x, pw, pwb, off, mask, w, b, fy,
                                                work, bytes));
        double e = rel_err_f(fy, ry, numel_y(&s));
        TD_CHECK(e < 2e-6, "depthwise variant (%d threads) error %.3g", th, e);
        TD_CHECK_ERROR(td_deform_depthwise_forward(&ctx, &s, cin, x, pw, pwb, off, mask, w, b, fy,
                                                   work, bytes - 1),
                       TD_CODE_INVALID_ARGUMENT, "workspace");
        td_free(work);
    }
    td_deform_shape bad = s;
    bad.m = 24;
    td_ctx ctx = make_ctx(TD_ISA_AVX512, 1);
    TD_CHECK_ERROR(
        td_deform_depthwise_forward(&ctx, &bad, cin, x, pw, pwb, off, mask, w, b, fy, NULL, 0),
        TD_CODE_INVALID_ARGUMENT, "C = M = group");
    TD_CHECK_ERROR(
        td_deform_depthwise_forward(&ctx, &s, 0, x, pw, pwb, off, mask, w, b, fy, NULL, 0),
        TD_CODE_INVALID_ARGUMENT, "pointwise input channels");
    free(x);
    free(pw);
    free(pwb);
    free(mid);
    free(xo);
    free(off);
    free(mask);
    free(w);
    free(b);
    free(ry);
    free(fy);
}

/* ---- 4. int8 ---- */

/* |y_q - y| <= sum_k (|dw_k| |x_k| + |w_k| |dx_k| + |dw_k| |dx_k|) with |dw| <= sw/2 (weight step
 * of the output channel, per-channel absmax / 127) and |dx| <= sx/2 (step of the pixel's
 * column, absmax / 127), plus f32 rounding. */
static void check_int8(const char *label, rcase rc, uint64_t seed, double *rel_rms_out)
{
    td_deform_shape *s = &rc.s;
    TD_CHECK_OK(td_deform_shape_check(s));
    float *x, *off, *mask, *w, *b;
    make_inputs(&rc, seed, &x, &off, &mask, &w, &b);
    int64_t kk = s->kh * s->kw, cg = s->c / s->group, mg = s->m / s->group, k = cg * kk;
    int64_t np = s->oh * s->ow;
    td_qspec spec;
    TD_CHECK_OK(td_qspec_parse("int8", &spec));
    td_qmatrix *qw = NULL;
    TD_CHECK_OK(td_qmatrix_quantize(&spec, w, s->m, k, k, &qw));
    if (!qw)
        return;
    double *ry = dalloc(numel_y(s)), *col = dalloc(s->c * kk * np);
    TD_CHECK_OK(td_deform_forward_ref(s, x, off, mask, w, b, ry));
    float *y = falloc(numel_y(s)), *first = falloc(numel_y(s));
    for (int isa = 0; isa < TD_ISA_COUNT; isa++) {
        td_ctx ctx = make_ctx((td_isa)isa, 2);
        TD_CHECK_OK(
            td_deform_forward_q(&ctx, s, x, off, mask, qw, TD_ACT_INT8, b, y, NULL, NULL, 0));
        if (isa == 0)
            memcpy(first, y, (size_t)numel_y(s) * sizeof *y);
        else
            TD_CHECK(!memcmp(first, y, (size_t)numel_y(s) * sizeof *y),
                     "%s: int8 output at %s differs bitwise from scalar", label,
                     td_isa_name((td_isa)isa));
    }
    double worst = 0, se = 0, sy = 0;
    for (int64_t n = 0; n < s->n; n++) {
        TD_CHECK_OK(td_deform_columns_ref(s, x, off, mask, n, col));
        for (int64_t m = 0; m < s->m; m++) {
            int64_t gi = m / mg;
            double wmax = 0, wsum = 0;
            for (int64_t q = 0; q < k; q++) {
                wmax = fmax(wmax, fabs(w[m * k + q]));
                wsum += fabs(w[m * k + q]);
            }
            double sw = wmax / 127;
            for (int64_t p = 0; p < np; p++) {
                double xmax = 0, xsum = 0, mag = 0;
                for (int64_t q = 0; q < k; q++) {
                    double v = col[(gi * k + q) * np + p];
                    xmax = fmax(xmax, fabs(v));
                    xsum += fabs(v);
                    mag += fabs(v * w[m * k + q]);
                }
                double sx = xmax / 127;
                double bound = 0.5 * sw * xsum + 0.5 * sx * wsum + 0.25 * sw * sx * (double)k +
                               (double)(k + 16) * EPS32 * (mag + (b ? fabs(b[m]) : 0)) + 1e-30;
                int64_t i = (n * s->m + m) * np + p;
                double d = fabs((double)y[i] - ry[i]);
                worst = fmax(worst, d / bound);
                se += d * d;
                sy += ry[i] * ry[i];
            }
        }
    }
    TD_CHECK(worst <= 1.0, "%s: int8 error %.3g x its bound", label, worst);
    *rel_rms_out = sqrt(se / fmax(sy, 1e-300));
    /* The graph operator with this compressed weight gives the same bits. */
    td_qmatrix_free(qw);
    free(x);
    free(off);
    free(mask);
    free(w);
    free(b);
    free(ry);
    free(col);
    free(y);
    free(first);
}

static void test_int8(void)
{
    rcase cases[] = {
        {shp(1, 32, 14, 14, 24, 1, 1, 3, 3, 1, 1, 1), true, true, 1.0f},
        {shp(2, 8, 9, 7, 6, 2, 4, 3, 3, 2, 1, 1), true, false, 2.0f},
        {shp(1, 16, 11, 11, 8, 1, 2, 1, 1, 1, 1, 0), false, true, 1.0f},
    };
    double worst_rms = 0;
    for (int mode = 0; mode < TD_DEFORM_MODE_COUNT; mode++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            rcase rc = cases[i];
            rc.s.mode = (td_deform_mode)mode;
            rc.s.range = 1.25f;
            char label[64];
            snprintf(label, sizeof label, "int8 %s case %zu", td_deform_mode_name(rc.s.mode), i);
            double rms = 0;
            check_int8(label, rc, 300 + i, &rms);
            worst_rms = fmax(worst_rms, rms);
        }
    printf("int8 (per-channel weights, per-pixel A8): worst relative RMS error vs f32 %.2e\n",
           worst_rms);
    TD_CHECK(worst_rms < 0.02 && worst_rms > 0, "int8 relative RMS error %.3g", worst_rms);
}

/* ---- 5. hostile values and bad arguments ---- */

static void test_nan_and_huge_offsets(void)
{
    for (int mode = 0; mode < TD_DEFORM_MODE_COUNT; mode++) {
        rcase rc = {shp(1, 4, 8, 8, 3, 1, 2, 3, 3, 1, 1, 1), true, true, 1.0f};
        rc.s.mode = (td_deform_mode)mode;
        rc.s.range = 2.0f;
        td_deform_shape *s = &rc.s;
        TD_CHECK_OK(td_deform_shape_check(s));
        float *x, *off, *mask, *w, *b;
        make_inputs(&rc, 61, &x, &off, &mask, &w, &b);
        const float bad[] = {NAN, -NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 3e9f, -2.5e9f};
        for (int64_t i = 0; i < numel_off(s); i += 3)
            off[i] = bad[(i / 3) % 8];
        /* The reference treats them the same way by definition; the fast paths must agree and
         * produce no NaN. */
        double *ry = dalloc(numel_y(s));
        TD_CHECK_OK(td_deform_forward_ref(s, x, off, mask, w, b, ry));
        float *y = falloc(numel_y(s));
        int nan_count = 0;
        double e = 0;
        for (int isa = 0; isa < TD_ISA_COUNT; isa++) {
            td_ctx ctx = make_ctx((td_isa)isa, 2);
            TD_CHECK_OK(td_deform_forward(&ctx, s, x, off, mask, w, b, y, NULL, 0));
            for (int64_t i = 0; i < numel_y(s); i++)
                nan_count += isnan(y[i]) != 0;
            e = fmax(e, rel_err_f(y, ry, numel_y(s)));
            grads_f g;
            grads_alloc(s, true, true, &g);
            TD_CHECK_OK(
                td_deform_backward(&ctx, s, x, off, mask, w, y, g.dx, g.doff, g.dmask, g.dw, g.db));
            for (int64_t i = 0; i < numel_x(s); i++)
                nan_count += isnan(g.dx[i]) != 0;
            for (int64_t i = 0; i < numel_off(s); i++)
                nan_count += isnan(g.doff[i]) != 0;
            grads_free(&g);
        }
        for (int64_t i = 0; i < numel_y(s); i++)
            nan_count += isnan(ry[i]) != 0;
        /* The compressed path samples with the same table. */
        td_qspec spec;
        TD_CHECK_OK(td_qspec_parse("int8", &spec));
        int64_t kq = s->c / s->group * s->kh * s->kw;
        td_qmatrix *qw = NULL;
        TD_CHECK_OK(td_qmatrix_quantize(&spec, w, s->m, kq, kq, &qw));
        if (qw) {
            td_ctx ctx = make_ctx(TD_ISA_AVX512, 2);
            TD_CHECK_OK(
                td_deform_forward_q(&ctx, s, x, off, mask, qw, TD_ACT_INT8, b, y, NULL, NULL, 0));
            for (int64_t i = 0; i < numel_y(s); i++)
                nan_count += isnan(y[i]) != 0;
            TD_CHECK(rel_err_f(y, ry, numel_y(s)) < 0.05, "%s: int8 with NaN offsets far off",
                     td_deform_mode_name(s->mode));
            td_qmatrix_free(qw);
        }
        TD_CHECK(nan_count == 0, "%s: %d NaN values from NaN/huge offsets",
                 td_deform_mode_name(s->mode), nan_count);
        TD_CHECK(e < 1e-5, "%s: NaN/huge offsets: fast differs from reference by %.3g",
                 td_deform_mode_name(s->mode), e);
        /* A NaN offset samples zero: all taps NaN gives the bias alone. */
        for (int64_t i = 0; i < numel_off(s); i++)
            off[i] = NAN;
        td_ctx ctx = make_ctx(TD_ISA_AVX512, 1);
        TD_CHECK_OK(td_deform_forward(&ctx, s, x, off, mask, w, b, y, NULL, 0));
        double eb = 0;
        for (int64_t i = 0; i < numel_y(s); i++)
            eb = fmax(eb, fabs(y[i] - b[(i / (s->oh * s->ow)) % s->m]));
        TD_CHECK(eb == 0, "%s: all-NaN offsets should give the bias, off by %.3g",
                 td_deform_mode_name(s->mode), eb);
        free(x);
        free(off);
        free(mask);
        free(w);
        free(b);
        free(ry);
        free(y);
    }
}

static void test_errors(void)
{
    td_ctx ctx = make_ctx(TD_ISA_AVX512, 1);
    float buf[64] = {0};
    td_deform_shape ok = shp(1, 4, 5, 5, 2, 1, 1, 3, 3, 1, 1, 1);
    td_deform_shape s;
#define BAD(field, value, code, needle)                                                            \
    do {                                                                                           \
        s = ok;                                                                                    \
        s.field = value;                                                                           \
        TD_CHECK_ERROR(td_deform_shape_check(&s), code, needle);                                   \
    } while (0)
    BAD(n, 0, TD_CODE_INVALID_ARGUMENT, "batch N is 0");
    BAD(c, -1, TD_CODE_INVALID_ARGUMENT, "input channels C");
    BAD(h, 0, TD_CODE_INVALID_ARGUMENT, "input height H is 0");
    BAD(m, 0, TD_CODE_INVALID_ARGUMENT, "output channels M");
    BAD(group, 3, TD_CODE_INVALID_ARGUMENT, "group 3 does not divide");
    BAD(group, 0, TD_CODE_INVALID_ARGUMENT, "group is 0");
    BAD(offset_group, 3, TD_CODE_INVALID_ARGUMENT, "offset_group 3 does not divide");
    BAD(kh, 9, TD_CODE_INVALID_ARGUMENT, "larger than the padded input");
    BAD(sw, 0, TD_CODE_INVALID_ARGUMENT, "stride (width) is 0");
    BAD(dh, -2, TD_CODE_INVALID_ARGUMENT, "dilation (height)");
    BAD(pl, -1, TD_CODE_INVALID_ARGUMENT, "pad left");
    BAD(w, (int64_t)1 << 21, TD_CODE_INVALID_ARGUMENT, "input width W");
    BAD(mode, (td_deform_mode)7, TD_CODE_INVALID_ARGUMENT, "unknown mode");
    s = ok;
    s.h = s.w = 40000;
    TD_CHECK_ERROR(td_deform_shape_check(&s), TD_CODE_OVERFLOW, "2^30");
    s = ok;
    s.n = s.c = 1 << 20;
    s.h = s.w = 1 << 10;
    TD_CHECK_ERROR(td_deform_shape_check(&s), TD_CODE_OVERFLOW, "input would have");
    s = ok;
    s.mode = TD_DEFORM_LIMITED;
    s.range = NAN;
    TD_CHECK_ERROR(td_deform_shape_check(&s), TD_CODE_INVALID_ARGUMENT, "limited range");
    s.range = -1;
    TD_CHECK_ERROR(td_deform_shape_check(&s), TD_CODE_INVALID_ARGUMENT, "limited range");
    s.range = INFINITY;
    TD_CHECK_ERROR(td_deform_shape_check(&s), TD_CODE_INVALID_ARGUMENT, "limited range");
    s = ok;
    TD_CHECK_OK(td_deform_shape_check(&s));
    TD_CHECK(s.oh == 5 && s.ow == 5, "output %lld x %lld", (long long)s.oh, (long long)s.ow);
    float *big = falloc(numel_off(&s) + numel_x(&s) + numel_y(&s) + numel_w(&s));
    TD_CHECK_ERROR(td_deform_forward(&ctx, &s, NULL, big, NULL, big, NULL, big, NULL, 0),
                   TD_CODE_INVALID_ARGUMENT, "must not be NULL");
    TD_CHECK_ERROR(td_deform_forward(&ctx, &s, big, NULL, NULL, big, NULL, big, NULL, 0),
                   TD_CODE_INVALID_ARGUMENT, "offset tensor must not be NULL");
    TD_CHECK_ERROR(td_deform_forward(&ctx, &s, big, big, NULL, big, NULL, big, buf, 4),
                   TD_CODE_INVALID_ARGUMENT, "workspace of 4 bytes");
    TD_CHECK_ERROR(
        td_deform_backward(&ctx, &s, big, big, NULL, big, big, NULL, NULL, big, NULL, NULL),
        TD_CODE_INVALID_ARGUMENT, "dmask requested without a mask");
    td_qspec spec;
    TD_CHECK_OK(td_qspec_parse("int8", &spec));
    td_qmatrix *qw = NULL;
    TD_CHECK_OK(td_qmatrix_quantize(&spec, big, 2, 9, 9, &qw));
    TD_CHECK_ERROR(
        td_deform_forward_q(&ctx, &s, big, big, NULL, qw, TD_ACT_INT8, NULL, big, NULL, NULL, 0),
        TD_CODE_INVALID_ARGUMENT, "compressed weight is 2 x 9, expected 2 x 36");
    td_qmatrix_free(qw);
    free(big);
#undef BAD
}

/* ---- 6. the graph operator ---- */

/* Builds X, W, offset, [B], [mask] -> DeformConv -> y; returns the graph (run by oh_exec). */
static td_graph *deform_graph(const td_deform_shape *s, float *x, float *w, float *off, float *b,
                              float *mask, const int64_t *offset_shape, const int64_t *mask_shape,
                              int64_t group_attr, int64_t kernel_attr)
{
    td_graph *g = NULL;
    TD_CHECK_OK(td_graph_new("dcn", &g));
    if (!g)
        return NULL;
    int64_t xs[4] = {s->n, s->c, s->h, s->w}, ws[4] = {s->m, s->c / s->group, s->kh, s->kw};
    int64_t ms[4] = {s->n, td_deform_mask_channels(s), s->oh, s->ow};
    int64_t os[4] = {s->n, td_deform_offset_channels(s), s->oh, s->ow};
    oh_input(g, "x", TD_DT_F32, 4, xs, x);
    oh_const(g, "w", TD_DT_F32, 4, ws, w);
    oh_input(g, "off", TD_DT_F32, 4, offset_shape ? offset_shape : os, off);
    if (b)
        oh_const(g, "b", TD_DT_F32, 1, &s->m, b);
    oh_input(g, "mask", TD_DT_F32, 4, mask_shape ? mask_shape : ms, mask);
    const char *ins[5] = {"x", "w", "off", b ? "b" : "", mask ? "mask" : ""};
    td_node *n = oh_node(g, "dcn1", "DeformConv", mask ? 5 : (b ? 4 : 3), ins, "y");
    if (!n)
        return g;
    int64_t st[2] = {s->sh, s->sw}, dl[2] = {s->dh, s->dw}, pads[4] = {s->pt, s->pl, s->pb, s->pr};
    int64_t ks[2] = {kernel_attr ? kernel_attr : s->kh, kernel_attr ? kernel_attr : s->kw};
    TD_CHECK_OK(td_node_set_ints(n, "strides", st, 2));
    TD_CHECK_OK(td_node_set_ints(n, "dilations", dl, 2));
    TD_CHECK_OK(td_node_set_ints(n, "pads", pads, 4));
    TD_CHECK_OK(td_node_set_ints(n, "kernel_shape", ks, 2));
    TD_CHECK_OK(td_node_set_int(n, "group", group_attr ? group_attr : s->group));
    TD_CHECK_OK(td_node_set_int(n, "offset_group", s->offset_group));
    return g;
}

static void test_graph_op(void)
{
    const td_op_def *def = td_op_find("DeformConv");
    TD_CHECK(def != NULL, "DeformConv is not in the operator table");
    if (!def)
        return;
    TD_CHECK(def->cls == TD_OPC_CONV, "DeformConv class %d", (int)def->cls);
    td_deform_shape s = shp(2, 6, 9, 8, 4, 2, 3, 3, 3, 1, 1, 1);
    s.sw = 2;
    s.pr = 2;
    s.dh = 2;
    TD_CHECK_OK(td_deform_shape_check(&s));
    rcase rc = {s, true, true, 1.5f};
    float *x, *off, *mask, *w, *b;
    make_inputs(&rc, 808, &x, &off, &mask, &w, &b);
    double *ry = dalloc(numel_y(&s));
    TD_CHECK_OK(td_deform_forward_ref(&s, x, off, mask, w, b, ry));
    for (int variant = 0; variant < 3; variant++) {
        float *mk = variant == 2 ? NULL : mask, *bb = variant >= 1 ? b : NULL;
        td_graph *g = deform_graph(&s, x, w, off, bb, mk, NULL, NULL, 0, 0);
        if (!g)
            continue;
        TD_CHECK_OK(oh_exec(g, 2));
        const td_value *yv = oh_val(g, "y");
        TD_CHECK(yv && yv->ndim == 4 && yv->shape[1] == s.m && yv->shape[2] == s.oh &&
                     yv->shape[3] == s.ow,
                 "output shape");
        double *want = dalloc(numel_y(&s));
        TD_CHECK_OK(td_deform_forward_ref(&s, x, off, mk, w, bb, want));
        if (yv && yv->data)
            TD_CHECK(rel_err_f(yv->data, want, numel_y(&s)) < 1e-5, "graph variant %d differs",
                     variant);
        const td_node *n = &g->nodes[0];
        int64_t np = s.oh * s.ow, kk = s.kh * s.kw;
        int64_t macs = s.n * s.m * np * (s.c / s.group) * kk;
        TD_CHECK(n->cost.macs == macs, "macs %lld != %lld", (long long)n->cost.macs,
                 (long long)macs);
        TD_CHECK(n->cost.params == numel_w(&s) + (bb ? s.m : 0), "params %lld",
                 (long long)n->cost.params);
        TD_CHECK(n->cost.flops_other >= s.n * s.c * kk * np * 11, "flops_other %lld",
                 (long long)n->cost.flops_other);
        free(want);
        td_graph_free(g);
    }
    /* Compressed weight on the node: same bits as the kernel API. */
    {
        td_graph *g = deform_graph(&s, x, w, off, b, mask, NULL, NULL, 0, 0);
        td_qspec spec;
        TD_CHECK_OK(td_qspec_parse("int8", &spec));
        int64_t k = s.c / s.group * s.kh * s.kw;
        td_qmatrix *qw = NULL;
        TD_CHECK_OK(td_qmatrix_quantize(&spec, w, s.m, k, k, &qw));
        if (g && qw) {
            g->nodes[0].qweight = qw;
            g->nodes[0].act = TD_ACT_INT8;
            TD_CHECK_OK(oh_exec(g, 2));
            float *yq = falloc(numel_y(&s));
            td_ctx ctx = td_ctx_default();
            ctx.threads = 2;
            TD_CHECK_OK(
                td_deform_forward_q(&ctx, &s, x, off, mask, qw, TD_ACT_INT8, b, yq, NULL, NULL, 0));
            const td_value *yv = oh_val(g, "y");
            TD_CHECK(yv && yv->data && !memcmp(yv->data, yq, (size_t)numel_y(&s) * 4),
                     "graph int8 output differs from td_deform_forward_q");
            TD_CHECK(rel_err_f(yq, ry, numel_y(&s)) < 0.05, "graph int8 far from f32");
            free(yq);
        }
        td_graph_free(g); /* frees the qweight */
    }
    /* Errors name the node. */
    {
        int64_t wrong[4] = {s.n, td_deform_offset_channels(&s) + 2, s.oh, s.ow};
        td_graph *g = deform_graph(&s, x, w, off, b, mask, wrong, NULL, 0, 0);
        TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_INVALID_ARGUMENT, "node 'dcn1' (DeformConv): offset");
        td_graph_free(g);
        td_deform_shape s2 = s;
        s2.offset_group = 4; /* 6 channels */
        g = deform_graph(&s2, x, w, off, b, mask, NULL, NULL, 0, 0);
        TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_INVALID_ARGUMENT, "offset_group 4 does not divide");
        td_graph_free(g);
        s2 = s;
        s2.oh += 1; /* mask and offset one row too tall */
        g = deform_graph(&s2, x, w, off, b, mask, NULL, NULL, 0, 0);
        TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_INVALID_ARGUMENT,
                       "offset 'off' has shape [2, 54, 8, 5], expected [2, 54, 7, 5]");
        td_graph_free(g);
        int64_t wrong_mask[4] = {s.n, td_deform_mask_channels(&s), s.oh, s.ow + 1};
        g = deform_graph(&s, x, w, off, b, mask, NULL, wrong_mask, 0, 0);
        TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_INVALID_ARGUMENT,
                       "mask 'mask' has shape [2, 27, 7, 6], expected [2, 27, 7, 5]");
        td_graph_free(g);
        g = deform_graph(&s, x, w, off, b, mask, NULL, NULL, 0, 5);
        TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_INVALID_ARGUMENT, "kernel_shape disagrees");
        td_graph_free(g);
        g = deform_graph(&s, x, w, off, b, mask, NULL, NULL, 3, 0);
        TD_CHECK_ERROR(oh_exec(g, 1), TD_CODE_INVALID_ARGUMENT, "input channels per group");
        td_graph_free(g);
    }
    free(x);
    free(off);
    free(mask);
    free(w);
    free(b);
    free(ry);
}

/* Through the graph: DeformConv with zero offsets and no mask equals the Conv operator. */
static void test_graph_zero_offsets_vs_conv(void)
{
    td_deform_shape s = shp(2, 6, 11, 9, 4, 2, 3, 3, 3, 1, 1, 1);
    s.sh = 2;
    s.dw = 2;
    s.pr = 3;
    TD_CHECK_OK(td_deform_shape_check(&s));
    float *x = rnd(numel_x(&s), 91, 1), *w = rnd(numel_w(&s), 92, 0.5f), *b = rnd(s.m, 93, 1);
    float *off = falloc(numel_off(&s));
    td_graph *g = deform_graph(&s, x, w, off, b, NULL, NULL, NULL, 0, 0);
    if (!g)
        return;
    const char *ins[3] = {"x", "w", "b"};
    td_node *c = oh_node(g, "conv1", "Conv", 3, ins, "yc");
    if (c) {
        int64_t st[2] = {s.sh, s.sw}, dl[2] = {s.dh, s.dw}, pads[4] = {s.pt, s.pl, s.pb, s.pr};
        TD_CHECK_OK(td_node_set_ints(c, "strides", st, 2));
        TD_CHECK_OK(td_node_set_ints(c, "dilations", dl, 2));
        TD_CHECK_OK(td_node_set_ints(c, "pads", pads, 4));
        TD_CHECK_OK(td_node_set_int(c, "group", s.group));
    }
    TD_CHECK_OK(oh_exec(g, 2));
    const float *yd = oh_f32(g, "y"), *yc = oh_f32(g, "yc");
    double e = 0;
    for (int64_t i = 0; yd && yc && i < numel_y(&s); i++)
        e = fmax(e, fabs((double)yd[i] - yc[i]));
    TD_CHECK(yd && yc && e < 1e-5, "DeformConv with zero offsets differs from Conv by %.3g", e);
    td_graph_free(g);
    free(x);
    free(w);
    free(b);
    free(off);
}

/* The ONNX file written by tools/gen_deform_fixtures.py, run through a session. */
static void test_onnx_model(void)
{
    td_graph *g = NULL;
    td_model_opts o = {0, 0};
    TD_CHECK_OK(td_model_open(ONNX_MODEL, &o, &g));
    if (!g)
        return;
    TD_CHECK_OK(td_graph_prepare(g));
    fixture f = {NULL};
    TD_CHECK_OK(td_safetensors_open(FIXTURES, &f.st));
    int xi = td_graph_find_value(g, "X"), oi = td_graph_find_value(g, "offset");
    int mi = td_graph_find_value(g, "mask"), yi = td_graph_find_value(g, "Y");
    TD_CHECK(xi >= 0 && oi >= 0 && mi >= 0 && yi >= 0, "model values missing");
    if (f.st && xi >= 0 && oi >= 0 && mi >= 0 && yi >= 0) {
        const td_value *vx = &g->values[xi], *vo = &g->values[oi], *vm = &g->values[mi];
        const td_value *vy = &g->values[yi];
        int64_t nx = td_shape_numel(vx->ndim, vx->shape), no = td_shape_numel(vo->ndim, vo->shape);
        int64_t nm = td_shape_numel(vm->ndim, vm->shape), ny = td_shape_numel(vy->ndim, vy->shape);
        float *x = fx_get(&f, "onnx", "x", false, nx, true);
        float *off = fx_get(&f, "onnx", "offset", false, no, true);
        float *mask = fx_get(&f, "onnx", "mask", false, nm, true);
        double *y = fx_get(&f, "onnx", "y", true, ny, true);
        td_session *ss = NULL;
        td_ctx ctx = td_ctx_default();
        ctx.threads = 2;
        TD_CHECK_OK(td_session_new(g, &ctx, &ss));
        if (ss && x && off && mask && y) {
            td_view v;
            memset(&v, 0, sizeof v);
            v.dtype = TD_DT_F32;
            v.ndim = 4;
            memcpy(v.shape, vx->shape, sizeof v.shape);
            v.data = x;
            TD_CHECK_OK(td_session_set_input(ss, "X", &v));
            memcpy(v.shape, vo->shape, sizeof v.shape);
            v.data = off;
            TD_CHECK_OK(td_session_set_input(ss, "offset", &v));
            memcpy(v.shape, vm->shape, sizeof v.shape);
            v.data = mask;
            TD_CHECK_OK(td_session_set_input(ss, "mask", &v));
            TD_CHECK_OK(td_session_run(ss));
            td_view out;
            TD_CHECK_OK(td_session_get(ss, "Y", &out));
            double e = rel_err_f(out.data, y, ny);
            printf("ONNX DeformConv model through a session vs torchvision: %.1e\n", e);
            TD_CHECK(e < 1e-5, "ONNX model output differs from torchvision by %.3g", e);
        }
        td_session_free(ss);
        free(x);
        free(off);
        free(mask);
        free(y);
        td_safetensors_close(f.st);
    }
    td_graph_free(g);
}

int main(void)
{
    test_fixtures();
    test_zero_offsets_are_conv();
    test_fast_paths();
    test_limited_matches_generic();
    test_fixed_shape_identities();
    test_depthwise_variant();
    test_int8();
    test_nan_and_huge_offsets();
    test_errors();
    test_graph_op();
    test_graph_zero_offsets_vs_conv();
    test_onnx_model();
    return td_test_finish("test_deform");
}
