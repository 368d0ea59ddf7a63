/* Rotary position embeddings (RoPE) for patch grids of any aspect ratio, frequency scaling for
 * resolutions beyond training (NTK-aware, YaRN), and the dynamic-resolution tile grid that
 * on-device multimodal encoders cut images into.
 *
 * ---- Pairs and angles ----
 * A head vector of `dim` floats has its first `rot_dim` (even) dims rotated; the rest pass
 * through. The rot_dim/2 rotation pairs are numbered k = 0 .. P-1 (P = rot_dim/2):
 *   TD_ROPE_INTERLEAVED  pair k = (x[2k], x[2k+1])       (RoFormer, GPT-J; ONNX interleaved=1)
 *   TD_ROPE_HALVES       pair k = (x[k], x[k + P])       (GPT-NeoX; ONNX interleaved=0)
 * and pair (a, b) with angle t becomes (a cos t - b sin t, a sin t + b cos t). Tables hold
 * cos t and sin t as [positions, P] f32, position-major, exactly the ONNX RotaryEmbedding
 * cos_cache / sin_cache layout.
 *
 * ---- 2-D grids ----
 * A patch grid of H rows and W columns is flattened row-major: position p = i*W + j for row i,
 * column j. Half of the pairs rotate by the row coordinate, half by the column coordinate:
 *   TD_ROPE_AXES_SPLIT      pairs [0, P/2) follow the row, pairs [P/2, P) the column
 *   TD_ROPE_AXES_ALTERNATE  even pairs follow the row, odd pairs the column
 * so rot_dim must be a multiple of 4. Each axis is a 1-D RoPE of width d = rot_dim/2 with its
 * own frequencies w_a = theta^(-2a/d), a = 0 .. d/2-1; the a-th pair of an axis (in pair
 * order) uses w_a. Interleaved + split is the axial 2-D RoPE that concatenates a row rotation
 * of dims [0, rot_dim/2) and a column rotation of dims [rot_dim/2, rot_dim).
 * Coordinates: row i gives y = i (- (H-1)/2 when centered) + offset_h, column j likewise with
 * W and offset_w; the angle of a pair is coordinate * frequency.
 *
 * ---- Scaling beyond the training grid ----
 * Per axis, s = target / training size (H / train_h for rows, W / train_w for columns), at
 * least 1: a grid smaller than training uses plain RoPE on that axis. With d the axis width:
 *   NTK-aware (bloc97):  theta' = theta * s^(d / (d - 2)), frequencies theta'^(-2a/d). An axis
 *                        with one pair (d = 2) has the single frequency 1 and is unchanged.
 *   YaRN (Peng et al. 2023, "NTK-by-parts" + temperature): per frequency w with wavelength
 *                        lambda = 2 pi / w and r = L / lambda (L = training size of the axis,
 *                        the number of full turns over it), ramp g(r) = 0 for r < alpha, 1 for
 *                        r > beta, (r - alpha)/(beta - alpha) between; w' = (1 - g) w/s + g w
 *                        (interpolated where few turns fit in training, kept where many do).
 *                        Attention temperature: sqrt(1/t) = mscale = 0.1 ln(s_attn) + 1, which
 *                        multiplies both q and k (so the logits by mscale^2 = 1/t). For a grid
 *                        s_attn defaults to s_h * s_w, the growth in the number of tokens
 *                        attended to (the paper's s for a sequence); `attn_scale` overrides it.
 *                        fold_mscale multiplies the cos and sin tables by mscale.
 * The ramp is the paper's (on r). Reference code that ramps linearly over rounded dimension
 * indices between the two boundaries gives slightly different values near the boundaries.
 *
 * ---- Tile grids ----
 * See td_tile_grid_choose. */
#ifndef TANDEM_ROPE_H
#define TANDEM_ROPE_H

#include <stdbool.h>
#include <stdint.h>

#include "tandem/core.h"
#include "tandem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_rope_pairing {
    TD_ROPE_INTERLEAVED = 0, /* pair k = (x[2k], x[2k+1]) */
    TD_ROPE_HALVES = 1,      /* pair k = (x[k], x[k + rot_dim/2]) */
} td_rope_pairing;

typedef enum td_rope_axes {
    TD_ROPE_AXES_SPLIT = 0,     /* pairs [0, P/2): row; [P/2, P): column */
    TD_ROPE_AXES_ALTERNATE = 1, /* even pairs: row; odd pairs: column */
} td_rope_axes;

typedef enum td_rope_scaling {
    TD_ROPE_SCALE_NONE = 0,
    TD_ROPE_SCALE_NTK = 1,  /* NTK-aware base change */
    TD_ROPE_SCALE_YARN = 2, /* YaRN per-frequency ramp (+ temperature) */
} td_rope_scaling;

/* Scaling of one axis (or of a 1-D sequence). */
typedef struct td_rope_scale {
    td_rope_scaling kind;
    double s;           /* scale factor >= 1 (target length / training length) */
    double train_len;   /* YaRN: training length L of this axis, in positions (> 0) */
    double alpha, beta; /* YaRN ramp bounds on r, 0 <= alpha < beta (paper: 1 and 32) */
} td_rope_scale;

/* Plain RoPE (kind NONE, s = 1, alpha 1, beta 32, train_len 0). */
td_rope_scale td_rope_scale_none(void);

/* The n_freq frequencies (radians per position) of one axis of width d = 2 * n_freq:
 * theta^(-2a/d), then scaled by sc (NULL: none). Errors name the bad field. */
td_status td_rope_freqs(int n_freq, double theta, const td_rope_scale *sc, double *freq);

/* YaRN's ramp g(r) for bounds alpha < beta (see the top of this file). */
double td_yarn_ramp(double r, double alpha, double beta);
/* YaRN's sqrt(1/t) = 0.1 ln(s) + 1 for s > 1; 1 for s <= 1. */
double td_yarn_mscale(double s);

/* 1-D tables for positions 0 .. n_pos-1: cos/sin of pos * freq[k], [n_pos, rot_dim/2]. */
td_status td_rope1d_tables(int64_t n_pos, int rot_dim, double theta, const td_rope_scale *sc,
                           float *cos_tab, float *sin_tab);

typedef struct td_rope2d_cfg {
    int rot_dim;  /* rotated dims per head: > 0, multiple of 4 */
    double theta; /* base (> 0, finite), e.g. 10000 or 100 */
    td_rope_axes axes;
    bool centered;             /* coordinates relative to the grid centre: i - (H-1)/2 */
    double offset_h, offset_w; /* added to every row / column coordinate */
    td_rope_scaling scaling;
    int train_h, train_w;    /* training grid in patches (needed when scaling) */
    double scale_h, scale_w; /* 0: max(1, H / train_h) and max(1, W / train_w) */
    double yarn_alpha, yarn_beta;
    double attn_scale; /* YaRN temperature's s; 0: scale_h * scale_w */
    bool fold_mscale;  /* YaRN: multiply the tables by mscale */
} td_rope2d_cfg;

/* Plain 2-D RoPE: theta 10000, split axes, uncentered, no offsets, no scaling, YaRN bounds 1
 * and 32, fold_mscale true. */
void td_rope2d_cfg_init(td_rope2d_cfg *cfg, int rot_dim);

/* Tables for an H x W grid: cos_tab and sin_tab hold [H*W, rot_dim/2] f32 each (position
 * p = i*W + j). *mscale_out (may be NULL) receives YaRN's mscale (1 otherwise), folded into
 * the tables or not per cfg->fold_mscale. */
td_status td_rope2d_tables(const td_rope2d_cfg *cfg, int64_t grid_h, int64_t grid_w, float *cos_tab,
                           float *sin_tab, double *mscale_out);

/* Rotates x [batch, heads, seq, dim] (f32, contiguous) into y (y == x: in place) with tables
 * [seq, rot_dim/2]; dims rot_dim .. dim-1 are copied. Vectorized for ctx->isa and split over
 * ctx->threads; every ISA gives bit-identical results. ctx NULL: one thread, scalar. */
td_status td_rope_apply(const td_ctx *ctx, const float *x, float *y, int64_t batch, int64_t heads,
                        int64_t seq, int64_t dim, int64_t rot_dim, td_rope_pairing pairing,
                        const float *cos_tab, const float *sin_tab);

/* ---- Dynamic-resolution tile grid (InternVL / MiniCPM-V style) ----
 *
 * An image of W x H pixels is resized to (cols*tile) x (rows*tile) and cut into cols x rows
 * tiles of tile x tile, with cols*rows in [min_tiles, max_tiles]. The grid is chosen by:
 *  1. aspect: the smallest distance |ln(cols/rows) - ln(W/H)| (log space, so 2:1 and 1:2 are
 *     equally far from 1:1), compared exactly as integer ratios;
 *  2. among grids at that distance (the same aspect ratio, or mirror images around the
 *     image's): the largest cols*rows whose area cols*rows*tile^2 is at most
 *     area_slack * W*H; when none is that small, the smallest cols*rows. The resize factor
 *     per side is then at most sqrt(area_slack) unless even the smallest grid needs more, so
 *     a grid that would only up-sample (3x3 for an 800x800 image at tile 448) loses to one
 *     that fits (2x2), while a near fit that shrinks slightly (2x2 for 900x900) is kept;
 *  3. still tied (mirror aspects of the same size): more columns.
 * With the thumbnail option and more than one tile, the whole image resized to tile x tile
 * (aspect not kept) follows the tiles as a global view.
 * Limits: W, H in [1, 2^20], tile in [1, 2^16], 1 <= min_tiles <= max_tiles <= 1024. */
typedef struct td_tile_cfg {
    int tile;
    int min_tiles, max_tiles;
    double area_slack; /* >= 1; the default is 2 */
    bool thumbnail;
} td_tile_cfg;

/* tile 448, tiles 1..12, area_slack 2, thumbnail on (InternVL's defaults). */
void td_tile_cfg_init(td_tile_cfg *cfg);

typedef struct td_rect {
    int x, y, w, h;
} td_rect;

typedef struct td_tile_plan {
    int cols, rows;
    int resize_w, resize_h;  /* cols*tile, rows*tile */
    double scale_x, scale_y; /* resize_w / W, resize_h / H: source pixel = resized / scale */
    int n_tiles;             /* cols*rows */
    td_rect *tiles;          /* n_tiles rects in the resized image, row-major (owned) */
    bool has_thumbnail;      /* whole image -> tile x tile after the tiles */
} td_tile_plan;

/* Chooses the grid only (rule above). */
td_status td_tile_grid_choose(int64_t width, int64_t height, const td_tile_cfg *cfg, int *cols,
                              int *rows);
/* Chooses the grid and lists the tiles; release with td_tile_plan_free. */
td_status td_tile_plan_make(int64_t width, int64_t height, const td_tile_cfg *cfg,
                            td_tile_plan *out);
void td_tile_plan_free(td_tile_plan *plan);

#ifdef __cplusplus
}
#endif
#endif
