/* Rotary embeddings: frequencies (plain, NTK-aware, YaRN), cos/sin tables for sequences and
 * 2-D patch grids, and the driver that rotates [batch, heads, seq, dim] tensors. The
 * conventions (pairs, axes, scaling formulas) are written once, in include/tandem/rope.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rope/rope_kernels.h"
#include "tandem/rope.h"

#define TD_PI 3.14159265358979323846
/* Largest grid side and position count the table builders take: far beyond any image, and
 * small enough that every index product below stays exact in int64. */
#define MAX_POSITIONS ((int64_t)1 << 31)
#define MAX_ROT_DIM (1 << 16)

td_rope_scale td_rope_scale_none(void)
{
    td_rope_scale sc = {TD_ROPE_SCALE_NONE, 1.0, 0.0, 1.0, 32.0};
    return sc;
}

double td_yarn_ramp(double r, double alpha, double beta)
{
    if (r < alpha)
        return 0.0;
    if (r > beta)
        return 1.0;
    return (r - alpha) / (beta - alpha);
}

double td_yarn_mscale(double s)
{
    return s > 1.0 ? 0.1 * log(s) + 1.0 : 1.0;
}

static td_status check_scale(const td_rope_scale *sc)
{
    if (sc->kind != TD_ROPE_SCALE_NONE && sc->kind != TD_ROPE_SCALE_NTK &&
        sc->kind != TD_ROPE_SCALE_YARN)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "rope scaling: unknown kind %d",
                            (int)sc->kind);
    if (sc->kind == TD_ROPE_SCALE_NONE)
        return TD_OK;
    if (isnan(sc->s))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "rope scaling: scale factor s is NaN");
    if (!isfinite(sc->s) || sc->s < 1.0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "rope scaling: scale factor s = %g must be finite and >= 1", sc->s);
    if (sc->kind == TD_ROPE_SCALE_YARN) {
        if (!isfinite(sc->train_len) || sc->train_len <= 0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "rope scaling: YaRN training length %g must be finite and > 0",
                                sc->train_len);
        if (!isfinite(sc->alpha) || !isfinite(sc->beta) || sc->alpha < 0 || !(sc->alpha < sc->beta))
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "rope scaling: YaRN bounds alpha = %g, beta = %g must be finite "
                                "with 0 <= alpha < beta",
                                sc->alpha, sc->beta);
    }
    return TD_OK;
}

td_status td_rope_freqs(int n_freq, double theta, const td_rope_scale *sc, double *freq)
{
    td_rope_scale none = td_rope_scale_none();
    if (!sc)
        sc = &none;
    if (n_freq < 1 || !freq)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "rope frequencies: need at least one pair (n_freq = %d) and an "
                            "output array",
                            n_freq);
    if (!isfinite(theta) || theta <= 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "rope frequencies: theta = %g must be finite and > 0", theta);
    TD_TRY(check_scale(sc));
    double d = 2.0 * n_freq, base = theta;
    /* With one pair the only exponent is 0: the base does not matter and d - 2 would be 0. */
    if (sc->kind == TD_ROPE_SCALE_NTK && n_freq > 1)
        base = theta * pow(sc->s, d / (d - 2.0));
    for (int a = 0; a < n_freq; a++) {
        double w = pow(base, -2.0 * a / d);
        if (sc->kind == TD_ROPE_SCALE_YARN) {
            double r = sc->train_len * w / (2.0 * TD_PI); /* L / wavelength */
            double g = td_yarn_ramp(r, sc->alpha, sc->beta);
            double ws = w / sc->s;
            w = ws + g * (w - ws); /* (1-g) w/s + g w, exactly w when s = 1 */
        }
        freq[a] = w;
    }
    return TD_OK;
}

static td_status check_rot_dim(const char *what, int64_t rot_dim, int multiple)
{
    if (rot_dim <= 0 || rot_dim % multiple != 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "%s: rot_dim = %lld must be a positive multiple of %d%s", what,
                            (long long)rot_dim, multiple,
                            multiple == 4 ? " (each of the two axes rotates whole pairs)"
                                          : " (dims rotate in pairs)");
    if (rot_dim > MAX_ROT_DIM)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "%s: rot_dim = %lld is too large", what,
                            (long long)rot_dim);
    return TD_OK;
}

td_status td_rope1d_tables(int64_t n_pos, int rot_dim, double theta, const td_rope_scale *sc,
                           float *cos_tab, float *sin_tab)
{
    TD_TRY(check_rot_dim("rope tables", rot_dim, 2));
    if (n_pos < 1 || n_pos > MAX_POSITIONS)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "rope tables: position count %lld must be in [1, 2^31]",
                            (long long)n_pos);
    if (!cos_tab || !sin_tab)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "rope tables: missing output table");
    int pairs = rot_dim / 2;
    double *freq = malloc(sizeof *freq * (size_t)pairs);
    if (!freq)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "rope tables: out of memory");
    td_status st = td_rope_freqs(pairs, theta, sc, freq);
    for (int64_t p = 0; !st && p < n_pos; p++)
        for (int k = 0; k < pairs; k++) {
            double t = (double)p * freq[k];
            cos_tab[p * pairs + k] = (float)cos(t);
            sin_tab[p * pairs + k] = (float)sin(t);
        }
    free(freq);
    return st;
}

void td_rope2d_cfg_init(td_rope2d_cfg *cfg, int rot_dim)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->rot_dim = rot_dim;
    cfg->theta = 10000.0;
    cfg->axes = TD_ROPE_AXES_SPLIT;
    cfg->scaling = TD_ROPE_SCALE_NONE;
    cfg->yarn_alpha = 1.0;
    cfg->yarn_beta = 32.0;
    cfg->fold_mscale = true;
}

/* The scaling of one axis: the explicit factor, or target / training size (at least 1). */
static td_status axis_scale(const td_rope2d_cfg *cfg, const char *axis, double given, int train,
                            int64_t target, td_rope_scale *out)
{
    *out = td_rope_scale_none();
    out->alpha = cfg->yarn_alpha;
    out->beta = cfg->yarn_beta;
    if (cfg->scaling == TD_ROPE_SCALE_NONE)
        return TD_OK;
    out->kind = cfg->scaling;
    if (isnan(given))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "rope2d: scale_%s is NaN", axis);
    if (given != 0) {
        if (!isfinite(given) || given < 1.0)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "rope2d: scale_%s = %g must be finite and >= 1 (or 0 to derive "
                                "it from the grids)",
                                axis, given);
        out->s = given;
    } else {
        if (train < 1)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "rope2d: train_%s = %d must be >= 1 to derive scale_%s", axis,
                                train, axis);
        double s = (double)target / train;
        out->s = s > 1.0 ? s : 1.0;
    }
    if (cfg->scaling == TD_ROPE_SCALE_YARN) {
        if (train < 1)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "rope2d: YaRN needs the training grid: train_%s = %d must be "
                                ">= 1",
                                axis, train);
        out->train_len = train;
    }
    return TD_OK;
}

static td_status check_cfg2d(const td_rope2d_cfg *cfg, int64_t grid_h, int64_t grid_w)
{
    TD_TRY(check_rot_dim("rope2d", cfg->rot_dim, 4));
    if (cfg->axes != TD_ROPE_AXES_SPLIT && cfg->axes != TD_ROPE_AXES_ALTERNATE)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "rope2d: unknown axes layout %d",
                            (int)cfg->axes);
    if (cfg->scaling != TD_ROPE_SCALE_NONE && cfg->scaling != TD_ROPE_SCALE_NTK &&
        cfg->scaling != TD_ROPE_SCALE_YARN)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "rope2d: unknown scaling %d",
                            (int)cfg->scaling);
    if (grid_h < 1 || grid_w < 1 || grid_h > MAX_POSITIONS / grid_w)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "rope2d: grid %lld x %lld must have both sides >= 1 and at most "
                            "2^31 positions",
                            (long long)grid_h, (long long)grid_w);
    if (!isfinite(cfg->offset_h) || !isfinite(cfg->offset_w))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "rope2d: offsets (%g, %g) must be finite",
                            cfg->offset_h, cfg->offset_w);
    if (isnan(cfg->attn_scale) || !isfinite(cfg->attn_scale) || cfg->attn_scale < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "rope2d: attn_scale = %g must be finite and >= 0 (0: s_h * s_w)",
                            cfg->attn_scale);
    return TD_OK;
}

/* cos/sin of coordinate(i) * freq[a] for one axis: [len, n] each. */
static void axis_table(int64_t len, bool centered, double offset, const double *freq, int n,
                       double *c, double *s)
{
    double shift = centered ? (double)(len - 1) / 2.0 : 0.0;
    for (int64_t i = 0; i < len; i++) {
        double y = (double)i - shift + offset;
        for (int a = 0; a < n; a++) {
            c[i * n + a] = cos(y * freq[a]);
            s[i * n + a] = sin(y * freq[a]);
        }
    }
}

/* Fills the grid tables from the axis tables (row: rc/rs [H, n], column: cc/cs [W, n]). */
static void fill_grid(const td_rope2d_cfg *cfg, int64_t grid_h, int64_t grid_w, int n,
                      const double *rc, const double *rs, const double *cc, const double *cs,
                      double m, float *cos_tab, float *sin_tab)
{
    int pairs = 2 * n;
    for (int64_t i = 0; i < grid_h; i++)
        for (int64_t j = 0; j < grid_w; j++) {
            int64_t base = (i * grid_w + j) * pairs;
            for (int k = 0; k < pairs; k++) {
                bool row = cfg->axes == TD_ROPE_AXES_SPLIT ? k < n : k % 2 == 0;
                int a = cfg->axes == TD_ROPE_AXES_SPLIT ? (row ? k : k - n) : k / 2;
                double c = row ? rc[i * n + a] : cc[j * n + a];
                double s = row ? rs[i * n + a] : cs[j * n + a];
                cos_tab[base + k] = (float)(c * m);
                sin_tab[base + k] = (float)(s * m);
            }
        }
}

td_status td_rope2d_tables(const td_rope2d_cfg *cfg, int64_t grid_h, int64_t grid_w, float *cos_tab,
                           float *sin_tab, double *mscale_out)
{
    if (!cfg || !cos_tab || !sin_tab)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "rope2d: missing config or table");
    TD_TRY(check_cfg2d(cfg, grid_h, grid_w));
    td_rope_scale sh, sw;
    TD_TRY(axis_scale(cfg, "h", cfg->scale_h, cfg->train_h, grid_h, &sh));
    TD_TRY(axis_scale(cfg, "w", cfg->scale_w, cfg->train_w, grid_w, &sw));
    int n = cfg->rot_dim / 4; /* frequencies per axis */
    double m = 1.0;
    if (cfg->scaling == TD_ROPE_SCALE_YARN)
        m = td_yarn_mscale(cfg->attn_scale > 0 ? cfg->attn_scale : sh.s * sw.s);
    if (mscale_out)
        *mscale_out = m;
    if (!cfg->fold_mscale)
        m = 1.0;
    size_t cells = (size_t)(2 * n) + 2 * (size_t)n * (size_t)(grid_h + grid_w);
    double *buf = malloc(sizeof *buf * cells);
    if (!buf)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "rope2d: out of memory for %lld x %lld",
                            (long long)grid_h, (long long)grid_w);
    double *fh = buf, *fw = fh + n, *rc = fw + n, *rs = rc + (size_t)grid_h * n;
    double *cc = rs + (size_t)grid_h * n, *cs = cc + (size_t)grid_w * n;
    td_status st = td_rope_freqs(n, cfg->theta, &sh, fh);
    if (!st)
        st = td_rope_freqs(n, cfg->theta, &sw, fw);
    if (!st) {
        axis_table(grid_h, cfg->centered, cfg->offset_h, fh, n, rc, rs);
        axis_table(grid_w, cfg->centered, cfg->offset_w, fw, n, cc, cs);
        fill_grid(cfg, grid_h, grid_w, n, rc, rs, cc, cs, m, cos_tab, sin_tab);
    }
    free(buf);
    return st;
}

td_rope_row_fn td_rope_row_kernel(td_isa isa, td_rope_pairing pairing)
{
    bool il = pairing == TD_ROPE_INTERLEAVED;
    if (isa >= TD_ISA_AVX512)
        return il ? td_rope_row_interleaved_avx512 : td_rope_row_halves_avx512;
    if (isa >= TD_ISA_AVX2)
        return il ? td_rope_row_interleaved_avx2 : td_rope_row_halves_avx2;
    return il ? td_rope_row_interleaved_ref : td_rope_row_halves_ref;
}

td_status td_rope_apply(const td_ctx *ctx, const float *x, float *y, int64_t batch, int64_t heads,
                        int64_t seq, int64_t dim, int64_t rot_dim, td_rope_pairing pairing,
                        const float *cos_tab, const float *sin_tab)
{
    if (!x || !y || !cos_tab || !sin_tab)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "rope apply: missing input, output or table");
    if (batch < 1 || heads < 1 || seq < 1 || dim < 1)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "rope apply: shape [batch %lld, heads %lld, seq %lld, dim %lld] must "
                            "have every size >= 1",
                            (long long)batch, (long long)heads, (long long)seq, (long long)dim);
    size_t total = 1;
    int64_t dims[5] = {batch, heads, seq, dim, (int64_t)sizeof(float)};
    for (int i = 0; i < 5; i++) {
        td_status st = td_size_mul(total, (size_t)dims[i], &total);
        if (st) { /* the byte count is checked too */
            td_status_free(st);
            return td_error_new(TD_CODE_OVERFLOW,
                                "rope apply: shape [%lld, %lld, %lld, %lld] overflows memory",
                                (long long)batch, (long long)heads, (long long)seq, (long long)dim);
        }
    }
    total /= sizeof(float);
    TD_TRY(check_rot_dim("rope apply", rot_dim, 2));
    if (rot_dim > dim)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "rope apply: rot_dim = %lld exceeds dim = %lld", (long long)rot_dim,
                            (long long)dim);
    if (pairing != TD_ROPE_INTERLEAVED && pairing != TD_ROPE_HALVES)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "rope apply: unknown pairing %d",
                            (int)pairing);
    td_rope_row_fn row = td_rope_row_kernel(ctx ? ctx->isa : TD_ISA_SCALAR, pairing);
    int64_t rows = (int64_t)total / dim, pairs = rot_dim / 2;
    int threads = ctx && ctx->threads > 1 && total >= ((size_t)1 << 16) ? ctx->threads : 1;
    size_t tail = (size_t)(dim - rot_dim) * sizeof(float);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * dim;
        float *yr = y + r * dim;
        int64_t p = r % seq;
        row(xr, yr, cos_tab + p * pairs, sin_tab + p * pairs, pairs);
        if (tail && yr != xr)
            memcpy(yr + rot_dim, xr + rot_dim, tail);
    }
    return TD_OK;
}
