/* Pareto dominance, the non-dominated feasible set, non-dominated sorting and crowding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moo/moo_internal.h"

bool td_dominates(int d, const double *a, const double *b)
{
    bool better = false;
    for (int k = 0; k < d; k++) {
        if (a[k] > b[k])
            return false;
        if (a[k] < b[k])
            better = true;
    }
    return better;
}

/* a dominates b or equals it: b adds nothing to a front that holds a */
static bool covers(int d, const double *a, const double *b)
{
    for (int k = 0; k < d; k++)
        if (a[k] > b[k])
            return false;
    return true;
}

static bool usable(int d, const double *row, const double *violation, int i)
{
    if (violation && !(violation[i] == 0))
        return false;
    for (int k = 0; k < d; k++)
        if (isnan(row[k]))
            return false;
    return true;
}

/* Incremental fallback when no scratch memory is available: a new row either is covered by a
 * member (dropped: dominated or a later duplicate) or removes the members it dominates and
 * joins; it cannot do both, since members are mutually non-dominated. O(n * front). */
int td_moo_front_incremental(int n, int d, const double *f, const double *violation, int *idx)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        const double *r = f + (size_t)i * d;
        if (!usable(d, r, violation, i))
            continue;
        bool covered = false;
        int w = 0;
        for (int j = 0; j < m; j++) {
            const double *q = f + (size_t)idx[j] * d;
            if (covers(d, q, r)) {
                covered = true;
                break;
            }
            if (!td_dominates(d, r, q))
                idx[w++] = idx[j];
        }
        if (covered)
            continue;
        m = w;
        idx[m++] = i;
    }
    return m;
}

typedef struct {
    const double *f;
    int d;
} rows_key;

/* lexicographic by objectives, then by row: a row's dominators and earlier duplicates all come
 * before it */
static bool less_lex(int a, int b, const void *ctx)
{
    const rows_key *r = ctx;
    const double *u = r->f + (size_t)a * r->d, *v = r->f + (size_t)b * r->d;
    for (int k = 0; k < r->d; k++)
        if (u[k] != v[k])
            return u[k] < v[k];
    return a < b;
}

static bool less_int(int a, int b, const void *ctx)
{
    (void)ctx;
    return a < b;
}

/* d = 3 in lexicographic order: a row is covered iff an earlier kept row covers it in objectives
 * 1 and 2, i.e. iff the staircase of the kept rows' (f1, f2) does. The staircase is a sorted array
 * (f1 ascending, f2 strictly descending) of row indices. */
static int sweep3(int k, int *cand, const double *f, int *stair)
{
    int kept = 0, ns = 0;
    for (int c = 0; c < k; c++) {
        int r = cand[c];
        double a1 = f[3 * (size_t)r + 1], a2 = f[3 * (size_t)r + 2];
        int lo = 0, hi = ns;
        while (lo < hi) { /* first member with f1 > a1 */
            int mid = lo + (hi - lo) / 2;
            if (f[3 * (size_t)stair[mid] + 1] <= a1)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo > 0 && f[3 * (size_t)stair[lo - 1] + 2] <= a2)
            continue; /* the member with the smallest f2 among those with f1 <= a1 covers it */
        int s = lo;   /* members with f1 == a1 come before lo, and have f2 > a2: now covered */
        while (s > 0 && f[3 * (size_t)stair[s - 1] + 1] == a1)
            s--;
        int e = lo;
        while (e < ns && f[3 * (size_t)stair[e] + 2] >= a2)
            e++;
        memmove(stair + s + 1, stair + e, (size_t)(ns - e) * sizeof *stair);
        stair[s] = r;
        ns += 1 - (e - s);
        cand[kept++] = r;
    }
    return kept;
}

int td_moo_nondominated(int k, int *cand, int d, const double *f, int *work)
{
    if (k == 0)
        return 0;
    rows_key key = {f, d};
    td_moo_sort(cand, k, less_lex, &key, work);
    int kept = 0;
    if (d == 1) {
        kept = 1;
    } else if (d == 2) {
        double best = INFINITY;
        for (int c = 0; c < k; c++) {
            double y = f[2 * (size_t)cand[c] + 1];
            if (y < best || (kept == 0 && y == best)) {
                best = y;
                cand[kept++] = cand[c];
            }
        }
    } else if (d == 3) {
        kept = sweep3(k, cand, f, work);
    } else {
        for (int c = 0; c < k; c++) {
            const double *r = f + (size_t)cand[c] * d;
            bool covered = false;
            for (int j = 0; j < kept && !covered; j++)
                covered = covers(d, f + (size_t)cand[j] * d, r);
            if (!covered)
                cand[kept++] = cand[c];
        }
    }
    td_moo_sort(cand, kept, less_int, NULL, work);
    return kept;
}

int td_pareto_front(int n, int d, const double *f, const double *violation, int *idx)
{
    int *work = malloc(2 * (size_t)(n > 0 ? n : 1) * sizeof *work);
    if (!work)
        return td_moo_front_incremental(n, d, f, violation, idx);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (usable(d, f + (size_t)i * d, violation, i))
            idx[k++] = i;
    int m = td_moo_nondominated(k, idx, d, f, work);
    free(work);
    return m;
}

/* ---- non-dominated sorting ---- */

static bool less_violation(int a, int b, const void *ctx)
{
    const double *v = ctx;
    return v[a] < v[b];
}

/* 1 if a dominates b, -1 if b dominates a, 0 otherwise: both directions in one pass */
static int dominance(int d, const double *a, const double *b)
{
    bool a_better = false, b_better = false;
    for (int k = 0; k < d; k++) {
        if (a[k] < b[k])
            a_better = true;
        else if (a[k] > b[k])
            b_better = true;
    }
    return a_better == b_better ? 0 : a_better ? 1 : -1;
}

/* Pareto fronts for d <= 2 in O(k log k + k fronts) (Zhang et al.'s efficient non-dominated
 * sort): in lexicographic order every dominator of a row comes before it, and in two objectives a
 * front's last row dominates the new one whenever any of its rows does; so each row joins the
 * first front whose last row does not dominate it. */
static int pareto_ranks_2d(int k, const int *rows, int d, const double *f, int *rank)
{
    int *order = malloc((size_t)k * sizeof *order), *tmp = malloc((size_t)k * sizeof *tmp);
    int *last = malloc((size_t)k * sizeof *last);
    if (!order || !tmp || !last) {
        free(order), free(tmp), free(last);
        return -1;
    }
    memcpy(order, rows, (size_t)k * sizeof *order);
    rows_key key = {f, d};
    td_moo_sort(order, k, less_lex, &key, tmp);
    int fronts = 0;
    for (int c = 0; c < k; c++) {
        const double *p = f + (size_t)order[c] * d;
        int r = 0;
        while (r < fronts && td_dominates(d, f + (size_t)last[r] * d, p))
            r++;
        rank[order[c]] = r;
        last[r] = order[c];
        if (r == fronts)
            fronts++;
    }
    free(order), free(tmp), free(last);
    return fronts;
}

/* Pareto fronts of the k feasible rows rows[] by Deb's counting scheme on a dominance bit
 * matrix: O(d k^2) comparisons, k^2 / 8 bytes. */
static int pareto_ranks(int k, const int *rows, int d, const double *f, int *rank)
{
    if (d <= 2)
        return k > 0 ? pareto_ranks_2d(k, rows, d, f, rank) : 0;
    int words = (k + 63) / 64;
    uint64_t *dom = calloc((size_t)k * (size_t)words, sizeof *dom);
    int *count = calloc((size_t)k, sizeof *count);
    int *cur = malloc((size_t)k * sizeof *cur);
    int *next = malloc((size_t)k * sizeof *next);
    if (!dom || !count || !cur || !next) {
        free(dom), free(count), free(cur), free(next);
        return -1;
    }
    for (int i = 0; i < k; i++) {
        const double *a = f + (size_t)rows[i] * d;
        for (int j = i + 1; j < k; j++) {
            const double *b = f + (size_t)rows[j] * d;
            int rel = dominance(d, a, b);
            if (rel > 0) {
                dom[(size_t)i * words + j / 64] |= 1ull << (j % 64);
                count[j]++;
            } else if (rel < 0) {
                dom[(size_t)j * words + i / 64] |= 1ull << (i % 64);
                count[i]++;
            }
        }
    }
    int nc = 0, fronts = 0;
    for (int i = 0; i < k; i++)
        if (count[i] == 0)
            cur[nc++] = i;
    while (nc > 0) {
        int nn = 0;
        for (int c = 0; c < nc; c++) {
            int i = cur[c];
            rank[rows[i]] = fronts;
            const uint64_t *bits = dom + (size_t)i * words;
            for (int w = 0; w < words; w++)
                for (uint64_t b = bits[w]; b; b &= b - 1) {
                    int j = w * 64 + __builtin_ctzll(b);
                    if (--count[j] == 0)
                        next[nn++] = j;
                }
        }
        fronts++;
        int *t = cur;
        cur = next, next = t;
        nc = nn;
    }
    free(dom), free(count), free(cur), free(next);
    return fronts;
}

int td_moo_nd_sort(int n, int d, const double *f, const double *violation, int *rank)
{
    int *feas = malloc((size_t)(n > 0 ? n : 1) * sizeof *feas);
    int *inf = malloc((size_t)(n > 0 ? n : 1) * sizeof *inf);
    int *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
    if (!feas || !inf || !tmp) {
        free(feas), free(inf), free(tmp);
        return -1;
    }
    int nf = 0, ni = 0;
    for (int i = 0; i < n; i++) {
        if (!violation || violation[i] <= 0)
            feas[nf++] = i;
        else
            inf[ni++] = i;
    }
    int fronts = pareto_ranks(nf, feas, d, f, rank);
    if (fronts >= 0 && ni > 0) {
        /* constraint domination orders infeasible rows by violation alone */
        td_moo_sort(inf, ni, less_violation, violation, tmp);
        for (int i = 0; i < ni; i++) {
            if (i > 0 && violation[inf[i]] > violation[inf[i - 1]])
                fronts++;
            rank[inf[i]] = fronts;
        }
        fronts++;
    }
    free(feas), free(inf), free(tmp);
    return fronts;
}

/* ---- crowding distance ---- */

typedef struct {
    const double *f;
    int d, k;
} objective_key;

static bool less_objective(int a, int b, const void *ctx)
{
    const objective_key *o = ctx;
    return o->f[(size_t)a * o->d + o->k] < o->f[(size_t)b * o->d + o->k];
}

void td_moo_crowding(int s, const int *members, int d, const double *f, double *crowd, int *tmp)
{
    for (int i = 0; i < s; i++)
        crowd[members[i]] = s <= 2 ? INFINITY : 0.0;
    if (s <= 2)
        return;
    int *order = tmp, *scratch = tmp + s;
    for (int k = 0; k < d; k++) {
        memcpy(order, members, (size_t)s * sizeof *order);
        objective_key key = {f, d, k};
        td_moo_sort(order, s, less_objective, &key, scratch);
        double lo = f[(size_t)order[0] * d + k], hi = f[(size_t)order[s - 1] * d + k];
        crowd[order[0]] = crowd[order[s - 1]] = INFINITY;
        if (!(hi > lo))
            continue; /* all equal in this objective: no spread to measure */
        for (int i = 1; i < s - 1; i++) {
            double gap = f[(size_t)order[i + 1] * d + k] - f[(size_t)order[i - 1] * d + k];
            crowd[order[i]] += gap / (hi - lo);
        }
    }
}
