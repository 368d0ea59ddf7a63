/* Exact hypervolume.
 *
 * d = 2: sort by the first objective and sweep, O(n log n).
 * d = 3: sweep the third objective upwards while keeping the 2-D front of the points passed so
 *        far (sorted array, staircase area updated on each insertion): O(n log n) plus the
 *        array shifts, O(n^2) in the worst case, fast for n in the thousands.
 * d > 3: slice along the last objective (the dimension-sweep "HSO" recursion): between two
 *        consecutive levels the volume is the (d-1)-dimensional hypervolume of the points below,
 *        projected. Only recomputed when the projected front changes. Exponential in d, so meant
 *        for small n (tens to a few hundred points in 4-5 objectives). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moo/moo_internal.h"

typedef struct {
    const double *p;
    int d, k;
} coord_key;

static bool less_coord(int a, int b, const void *ctx)
{
    const coord_key *c = ctx;
    return c->p[(size_t)a * c->d + c->k] < c->p[(size_t)b * c->d + c->k];
}

/* first coordinate, then second: the order of the 2-D sweep */
static bool less_xy(int a, int b, const void *ctx)
{
    const double *p = ctx;
    const double *u = p + 2 * (size_t)a, *v = p + 2 * (size_t)b;
    return u[0] < v[0] || (u[0] == v[0] && u[1] < v[1]);
}

/* Sorted order of n rows (stride d) by coordinate k (k = -1: the 2-D x-then-y order). */
static int *sorted_order(int n, int d, const double *p, int k)
{
    int *idx = malloc(2 * (size_t)n * sizeof *idx);
    if (!idx)
        return NULL;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    coord_key key = {p, d, k};
    if (k < 0)
        td_moo_sort(idx, n, less_xy, p, idx + n);
    else
        td_moo_sort(idx, n, less_coord, &key, idx + n);
    return idx;
}

static td_status oom(void)
{
    return td_error_new(TD_CODE_OUT_OF_MEMORY, "hypervolume: out of memory");
}

/* Points here are strictly better than ref in every objective. */
static td_status hv2(int n, const double *p, const double *ref, double *out)
{
    int *idx = sorted_order(n, 2, p, -1);
    if (!idx)
        return oom();
    double vol = 0, ymin = ref[1];
    for (int i = 0; i < n; i++) {
        const double *q = p + 2 * (size_t)idx[i];
        if (q[1] < ymin) {
            vol += (ref[0] - q[0]) * (ymin - q[1]);
            ymin = q[1];
        }
    }
    free(idx);
    *out = vol;
    return TD_OK;
}

/* A 2-D front: x ascending, y strictly descending. Inserts (px, py) unless a member covers it
 * and returns the area it adds inside the reference box (rx, ry). */
static double front2_insert(double *fx, double *fy, int *m, double px, double py, double rx,
                            double ry)
{
    int lo = 0, hi = *m;
    while (lo < hi) { /* first member with x >= px */
        int mid = lo + (hi - lo) / 2;
        if (fx[mid] < px)
            lo = mid + 1;
        else
            hi = mid;
    }
    int k = lo;
    if (k > 0 && fy[k - 1] <= py)
        return 0;
    if (k < *m && fx[k] == px && fy[k] <= py)
        return 0;
    int e = k; /* members [k, e) have x >= px and y >= py: the new point covers them */
    while (e < *m && fy[e] >= py)
        e++;
    double top = k > 0 ? fy[k - 1] : ry, x0 = px, added = 0;
    for (int j = k; j < e; j++) {
        added += (fx[j] - x0) * (top - py);
        top = fy[j];
        x0 = fx[j];
    }
    added += ((e < *m ? fx[e] : rx) - x0) * (top - py);
    memmove(fx + k + 1, fx + e, (size_t)(*m - e) * sizeof *fx);
    memmove(fy + k + 1, fy + e, (size_t)(*m - e) * sizeof *fy);
    fx[k] = px;
    fy[k] = py;
    *m += 1 - (e - k);
    return added;
}

static td_status hv3(int n, const double *p, const double *ref, double *out)
{
    int *idx = sorted_order(n, 3, p, 2);
    double *fx = malloc((size_t)n * sizeof *fx), *fy = malloc((size_t)n * sizeof *fy);
    if (!idx || !fx || !fy) {
        free(idx), free(fx), free(fy);
        return oom();
    }
    int m = 0;
    double area = 0, vol = 0;
    for (int i = 0; i < n; i++) {
        const double *q = p + 3 * (size_t)idx[i];
        area += front2_insert(fx, fy, &m, q[0], q[1], ref[0], ref[1]);
        double znext = i + 1 < n ? p[3 * (size_t)idx[i + 1] + 2] : ref[2];
        vol += area * (znext - q[2]);
    }
    free(idx), free(fx), free(fy);
    *out = vol;
    return TD_OK;
}

static td_status hv_rec(int n, int d, const double *p, const double *ref, double *out);

/* d > 3: slices along the last objective. */
static td_status hv_slices(int n, int d, const double *p, const double *ref, double *out)
{
    int e = d - 1; /* projected dimension */
    int *idx = sorted_order(n, d, p, e);
    double *s = malloc((size_t)n * (size_t)e * sizeof *s);
    if (!idx || !s) {
        free(idx), free(s);
        return oom();
    }
    int m = 0; /* the projected front of the points below the current level */
    double area = 0, vol = 0;
    td_status st = TD_OK;
    for (int i = 0; i < n && !st; i++) {
        const double *q = p + (size_t)idx[i] * d;
        bool covered = false;
        int w = 0;
        for (int j = 0; j < m; j++) {
            const double *r = s + (size_t)j * e;
            bool r_covers = true;
            for (int k = 0; k < e && r_covers; k++)
                r_covers = r[k] <= q[k];
            if (r_covers) {
                covered = true;
                break;
            }
            if (!td_dominates(e, q, r))
                memmove(s + (size_t)w++ * e, r, (size_t)e * sizeof *s);
        }
        if (!covered) {
            m = w;
            memcpy(s + (size_t)m++ * e, q, (size_t)e * sizeof *s);
            st = hv_rec(m, e, s, ref, &area);
        }
        double znext = i + 1 < n ? p[(size_t)idx[i + 1] * d + e] : ref[e];
        vol += area * (znext - q[e]);
    }
    free(idx), free(s);
    *out = vol;
    return st;
}

static td_status hv_rec(int n, int d, const double *p, const double *ref, double *out)
{
    if (n == 0) {
        *out = 0;
        return TD_OK;
    }
    if (d == 1) {
        double lo = p[0];
        for (int i = 1; i < n; i++)
            lo = fmin(lo, p[i]);
        *out = ref[0] - lo;
        return TD_OK;
    }
    if (d == 2)
        return hv2(n, p, ref, out);
    if (d == 3)
        return hv3(n, p, ref, out);
    return hv_slices(n, d, p, ref, out);
}

td_status td_hypervolume(int n, int d, const double *points, const double *ref, double *out)
{
    if (!out)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "hypervolume: out is NULL");
    *out = 0;
    if (d < 1)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "hypervolume: %d objectives (need at least 1)", d);
    if (n < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "hypervolume: %d points (negative)", n);
    if (!ref || (n > 0 && !points))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "hypervolume: %s is NULL",
                            ref ? "points" : "ref");
    for (int k = 0; k < d; k++)
        if (!isfinite(ref[k]))
            return td_error_new(TD_CODE_BAD_DATA,
                                "hypervolume: reference point objective %d is %g (must be finite)",
                                k, ref[k]);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < d; k++) {
            double v = points[(size_t)i * d + k];
            if (isnan(v) || v == -INFINITY)
                return td_error_new(TD_CODE_BAD_DATA,
                                    "hypervolume: point %d objective %d is %g (NaN and -inf "
                                    "have no volume)",
                                    i, k, v);
        }
    /* only points strictly better than ref in every objective bound any volume */
    double *in = malloc((size_t)(n > 0 ? n : 1) * (size_t)d * sizeof *in);
    if (!in)
        return oom();
    int m = 0;
    for (int i = 0; i < n; i++) {
        const double *q = points + (size_t)i * d;
        bool inside = true;
        for (int k = 0; k < d && inside; k++)
            inside = q[k] < ref[k];
        if (inside)
            memcpy(in + (size_t)m++ * d, q, (size_t)d * sizeof *in);
    }
    td_status st = hv_rec(m, d, in, ref, out);
    free(in);
    return st;
}
