/* libFuzzer target for deformable convolution: the first bytes choose a small geometry (sizes,
 * groups, offset groups, strides, dilations, pads, variant, clamp range), the rest become
 * offsets (including NaN, infinities and huge values) and mask values. Any geometry the shape
 * check accepts must run forward (every ISA, bitwise equal), compressed forward and backward
 * without reading out of bounds; outputs must match the double-precision reference.
 * TD_FUZZ_MAX_LEN 512 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/deform/deform_internal.h"

typedef struct reader {
    const uint8_t *p;
    size_t n, i;
} reader;

static unsigned take(reader *r, unsigned mod)
{
    unsigned v = r->i < r->n ? r->p[r->i] : 0;
    r->i++;
    return v % mod;
}

/* Offsets: mostly a few pixels, sometimes special values. */
static float offset_value(reader *r)
{
    static const float special[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, -1.0f, 0.0f, 3e9f};
    unsigned b = take(r, 256);
    if (b >= 248)
        return special[b - 248];
    return ((float)b - 124.0f) / 16.0f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size, 0};
    td_deform_shape s = {0};
    s.n = 1 + take(&r, 2);
    s.group = 1 + take(&r, 3);
    s.c = s.group * (1 + take(&r, 3));
    s.m = s.group * (1 + take(&r, 3));
    s.offset_group = 1 + take(&r, 3);
    s.h = 1 + take(&r, 9);
    s.w = 1 + take(&r, 9);
    s.kh = 1 + take(&r, 4);
    s.kw = 1 + take(&r, 4);
    s.sh = 1 + take(&r, 3);
    s.sw = 1 + take(&r, 3);
    s.dh = 1 + take(&r, 3);
    s.dw = 1 + take(&r, 3);
    s.pt = take(&r, 4);
    s.pl = take(&r, 4);
    s.pb = take(&r, 4);
    s.pr = take(&r, 4);
    s.mode = (td_deform_mode)take(&r, 3);
    s.range = (float)take(&r, 40) / 4.0f;
    bool use_mask = take(&r, 2), use_bias = take(&r, 2);
    td_status st = td_deform_shape_check(&s);
    if (st) {
        td_status_free(st);
        return 0;
    }
    int64_t np = s.oh * s.ow, kk = s.kh * s.kw, k = s.c / s.group * kk;
    int64_t nx = s.n * s.c * s.h * s.w, ny = s.n * s.m * np, nw = s.m * k;
    int64_t no = s.n * td_deform_offset_channels(&s) * np,
            nm = s.n * td_deform_mask_channels(&s) * np;
    float *x = malloc((size_t)nx * 4), *w = malloc((size_t)nw * 4), *b = malloc((size_t)s.m * 4);
    float *off = malloc((size_t)no * 4), *mask = malloc((size_t)nm * 4);
    float *y0 = malloc((size_t)ny * 4), *y1 = malloc((size_t)ny * 4);
    double *ref = malloc((size_t)ny * 8);
    float *gx = malloc((size_t)nx * 4), *go = malloc((size_t)no * 4), *gm = malloc((size_t)nm * 4);
    float *gw = malloc((size_t)nw * 4), *gb = malloc((size_t)s.m * 4);
    if (!x || !w || !b || !off || !mask || !y0 || !y1 || !ref || !gx || !go || !gm || !gw || !gb)
        abort();
    for (int64_t i = 0; i < nx; i++)
        x[i] = (float)((i * 7919) % 23) / 11.0f - 1.0f;
    for (int64_t i = 0; i < nw; i++)
        w[i] = (float)((i * 104729) % 19) / 9.0f - 1.0f;
    for (int64_t i = 0; i < s.m; i++)
        b[i] = (float)i * 0.25f;
    for (int64_t i = 0; i < no; i++)
        off[i] = s.mode == TD_DEFORM_FIXED ? (float)take(&r, 64) / 16.0f : offset_value(&r);
    for (int64_t i = 0; i < nm; i++)
        mask[i] = (float)take(&r, 17) / 16.0f;
    const float *mk = use_mask ? mask : NULL, *bb = use_bias ? b : NULL;

    td_cpu_info cpu;
    td_cpu_detect(&cpu);
    if (td_deform_forward_ref(&s, x, off, mk, w, bb, ref))
        abort();
    double scale = 1;
    for (int64_t i = 0; i < ny; i++)
        scale = fmax(scale, fabs(ref[i]));
    for (int isa = 0; isa <= (int)cpu.best; isa++) {
        td_ctx ctx = {1 + isa % 2, (td_isa)isa};
        if (td_deform_forward(&ctx, &s, x, off, mk, w, bb, isa ? y1 : y0, NULL, 0))
            abort();
        if (isa && memcmp(y0, y1, (size_t)ny * 4))
            abort(); /* ISAs must agree bit for bit */
    }
    for (int64_t i = 0; i < ny; i++)
        if (!(fabs(y0[i] - ref[i]) <= 1e-4 * scale))
            abort();
    td_ctx ctx = {2, cpu.best};
    td_qspec spec = td_qspec_default(TD_INT8);
    td_qmatrix *qw = NULL;
    if (!td_qmatrix_quantize(&spec, w, s.m, k, k, &qw)) {
        if (td_deform_forward_q(&ctx, &s, x, off, mk, qw, TD_ACT_INT8, bb, y1, NULL, NULL, 0))
            abort();
        td_qmatrix_free(qw);
    }
    if (td_deform_backward(&ctx, &s, x, off, mk, w, y0, gx, go, use_mask ? gm : NULL, gw, gb))
        abort();
    free(x);
    free(w);
    free(b);
    free(off);
    free(mask);
    free(y0);
    free(y1);
    free(ref);
    free(gx);
    free(go);
    free(gm);
    free(gw);
    free(gb);
    return 0;
}
