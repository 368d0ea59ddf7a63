/* The dynamic-resolution tile grid: which cols x rows grid of fixed-size tiles an image is
 * resized to and cut into (the rule is written in include/tandem/rope.h). Distances between
 * aspect ratios are compared as exact integer ratios, so mirror-image ties (2:1 and 1:2 for
 * a square image) and equal aspects (1x1, 2x2, 3x3) tie exactly, not by rounding luck. */
#include <math.h>
#include <stdlib.h>

#include "tandem/rope.h"

#define MAX_SIDE ((int64_t)1 << 20)
#define MAX_TILE (1 << 16)
#define MAX_TILES 1024

void td_tile_cfg_init(td_tile_cfg *cfg)
{
    cfg->tile = 448;
    cfg->min_tiles = 1;
    cfg->max_tiles = 12;
    cfg->area_slack = 2.0;
    cfg->thumbnail = true;
}

static td_status check_cfg(int64_t width, int64_t height, const td_tile_cfg *cfg)
{
    if (!cfg)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "tile grid: missing config");
    if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "tile grid: image %lld x %lld: each side must be in [1, %lld]",
                            (long long)width, (long long)height, (long long)MAX_SIDE);
    if (cfg->tile < 1 || cfg->tile > MAX_TILE)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "tile grid: tile = %d must be in [1, %d]",
                            cfg->tile, MAX_TILE);
    if (cfg->min_tiles < 1 || cfg->max_tiles > MAX_TILES)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "tile grid: min_tiles = %d and max_tiles = %d must lie in [1, %d]",
                            cfg->min_tiles, cfg->max_tiles, MAX_TILES);
    if (cfg->min_tiles > cfg->max_tiles)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "tile grid: min_tiles = %d exceeds max_tiles = %d", cfg->min_tiles,
                            cfg->max_tiles);
    if (isnan(cfg->area_slack))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "tile grid: area_slack is NaN");
    if (!isfinite(cfg->area_slack) || cfg->area_slack < 1.0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "tile grid: area_slack = %g must be finite and >= 1", cfg->area_slack);
    return TD_OK;
}

/* A candidate grid and its aspect distance as the ratio num/den >= 1: the larger of
 * (cols/rows) / (W/H) and its inverse, i.e. exp|ln(cols/rows) - ln(W/H)|. */
typedef struct cand {
    int cols, rows, n;
    uint64_t num, den;
    bool fits; /* n * tile^2 <= area_slack * W * H */
} cand;

static cand make_cand(int cols, int rows, int64_t width, int64_t height, const td_tile_cfg *cfg)
{
    cand c = {cols, rows, cols * rows, 0, 0, false};
    uint64_t a = (uint64_t)cols * (uint64_t)height, b = (uint64_t)rows * (uint64_t)width;
    c.num = a > b ? a : b;
    c.den = a > b ? b : a;
    double tile_area = (double)cfg->tile * (double)cfg->tile;
    c.fits = c.n * tile_area <= cfg->area_slack * (double)width * (double)height;
    return c;
}

/* -1: a is nearer the image's aspect, 0: equally near, 1: b is nearer. Factors are below
 * 2^30, so the products are exact. */
static int cmp_aspect(const cand *a, const cand *b)
{
    uint64_t l = a->num * b->den, r = b->num * a->den;
    return l < r ? -1 : l > r ? 1 : 0;
}

/* Among grids equally near in aspect: does a beat b? */
static bool better_tied(const cand *a, const cand *b)
{
    if (a->fits != b->fits)
        return a->fits;
    if (a->n != b->n)
        return a->fits ? a->n > b->n : a->n < b->n;
    return a->cols > b->cols;
}

td_status td_tile_grid_choose(int64_t width, int64_t height, const td_tile_cfg *cfg, int *cols,
                              int *rows)
{
    TD_TRY(check_cfg(width, height, cfg));
    if (!cols || !rows)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "tile grid: missing output");
    cand best = {0};
    bool have = false;
    for (int c = 1; c <= cfg->max_tiles; c++)
        for (int r = 1; c * r <= cfg->max_tiles; r++) {
            if (c * r < cfg->min_tiles)
                continue;
            cand k = make_cand(c, r, width, height, cfg);
            int d = have ? cmp_aspect(&k, &best) : -1;
            if (d < 0 || (d == 0 && better_tied(&k, &best)))
                best = k;
            have = true;
        }
    *cols = best.cols;
    *rows = best.rows;
    return TD_OK;
}

td_status td_tile_plan_make(int64_t width, int64_t height, const td_tile_cfg *cfg,
                            td_tile_plan *out)
{
    if (!out)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "tile grid: missing output");
    *out = (td_tile_plan){0};
    int cols, rows;
    TD_TRY(td_tile_grid_choose(width, height, cfg, &cols, &rows));
    td_rect *tiles = malloc(sizeof *tiles * (size_t)(cols * rows));
    if (!tiles)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "tile grid: out of memory");
    int t = cfg->tile;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            tiles[r * cols + c] = (td_rect){c * t, r * t, t, t};
    out->cols = cols;
    out->rows = rows;
    out->resize_w = cols * t;
    out->resize_h = rows * t;
    out->scale_x = (double)out->resize_w / (double)width;
    out->scale_y = (double)out->resize_h / (double)height;
    out->n_tiles = cols * rows;
    out->tiles = tiles;
    out->has_thumbnail = cfg->thumbnail && out->n_tiles > 1;
    return TD_OK;
}

void td_tile_plan_free(td_tile_plan *plan)
{
    if (!plan)
        return;
    free(plan->tiles);
    plan->tiles = NULL;
    plan->n_tiles = 0;
}
