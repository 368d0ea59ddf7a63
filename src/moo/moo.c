/* Ask/tell optimizers: NSGA-II (Deb, Pratap, Agarwal, Meyarivan 2002), random search and
 * exhaustive enumeration.
 *
 * Each optimizer produces designs in batches: NSGA-II's initial population, then one batch of
 * offspring per generation; random search and enumeration `batch` designs at a time. A batch is
 * generated whole, from the optimizer's own random stream, the first time it is needed, so the
 * designs do not depend on how the caller splits the batch over asks (cap) or on the budget.
 * NSGA-II's survival runs when the last design of a batch is told (or the budget is spent).
 *
 * Reproducibility rests on IEEE arithmetic without contraction (the project builds with
 * -ffp-contract=off), stable sorts with explicit tie rules, and the C library's pow(), used by
 * SBX and polynomial mutation. Only the process that asks runs this code (MPI workers and batch
 * jobs only evaluate), so asks differ only if a run is resumed under a different libm, whose
 * pow may round a last bit differently: later designs then differ, not their quality. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moo/moo_internal.h"

enum { MAX_POP = 10000, MAX_BATCH = 1 << 20 };
#define EXHAUSTIVE_MAX 1e8
#define SBX_EPS 1e-14

struct td_moo {
    td_moo_options o;
    int nv, no, nc;
    double *lo, *hi;
    bool *integer;
    double p_m; /* resolved per-variable mutation probability */
    td_moo_rng rng;
    int64_t asked; /* designs handed out, against max_evals */

    /* archive: every told design */
    int64_t n_arch, cap_arch;
    double *ax, *af, *av;
    /* The archive's non-dominated feasible rows are computed when asked for (td_moo_front is
     * const, hence the pointer), from the last answer plus the rows told since: keeping them
     * up to date at every tell would cost O(front) per design, and fronts reach 10^4 - 10^5
     * rows on long continuous searches. */
    struct front_cache {
        int *rows;    /* increasing */
        int n;        /* rows in the cached front */
        int64_t upto; /* archive rows it covers */
        int *work;    /* 3 cap_arch ints: candidates + sort scratch */
    } * fc;

    /* current batch */
    double *bx;
    int bcap;      /* rows bx can hold */
    int bn;        /* rows generated */
    int bnext;     /* rows handed out */
    int basked;    /* rows of the ask awaiting its tell */
    int btold;     /* rows told */
    int64_t barch; /* archive row of the batch's first told design */
    bool done;     /* exhaustive: every point enumerated */

    /* exhaustive enumeration: the next point, as offsets from lo */
    int64_t *odo, ex_total, ex_next;

    /* NSGA-II */
    int pop_size, np, gen;
    int *pop;                /* archive rows of the population */
    double *pcrowd;          /* crowding distance of each member, from the last survival */
    int *stream, stream_pos; /* concatenated random permutations of the population */
    /* survival scratch over the 2 pop_size combined rows */
    int *comb, *crank, *order, *tmp, *chosen;
    double *cf, *cv, *ccrowd;
    /* duplicate elimination: open-addressing set of row pointers */
    const double **hash;
    int hash_cap;
    double *child; /* two candidate rows */
};

/* ---- options and validation ---- */

void td_moo_options_default(td_moo_options *o)
{
    memset(o, 0, sizeof *o);
    o->algo = TD_MOO_NSGA2;
    o->seed = 1;
    o->max_evals = 10000;
    o->pop_size = 100;
    o->eta_c = 15;
    o->p_c = 0.9;
    o->eta_m = 20;
    o->p_m = 0;   /* 1 / n_var */
    o->batch = 0; /* pop_size */
}

static td_status bad_option(const char *fmt, double v)
{
    return td_error_new(TD_CODE_INVALID_ARGUMENT, fmt, v);
}

static td_status check_options(const td_moo_options *o)
{
    if (o->algo != TD_MOO_NSGA2 && o->algo != TD_MOO_RANDOM && o->algo != TD_MOO_EXHAUSTIVE)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moo options: unknown algo %d", (int)o->algo);
    if (o->max_evals <= 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moo options: max_evals must be >= 1 (got %lld)",
                            (long long)o->max_evals);
    if (o->pop_size < 2 || o->pop_size > MAX_POP)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moo options: pop_size must be in [2, %d] (got %d)", MAX_POP,
                            o->pop_size);
    if (o->batch < 0 || o->batch > MAX_BATCH)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moo options: batch must be in [0, %d] (0 = pop_size; got %d)",
                            MAX_BATCH, o->batch);
    if (!(o->eta_c >= 0 && isfinite(o->eta_c)))
        return bad_option("moo options: eta_c must be finite and >= 0 (got %g)", o->eta_c);
    if (!(o->eta_m >= 0 && isfinite(o->eta_m)))
        return bad_option("moo options: eta_m must be finite and >= 0 (got %g)", o->eta_m);
    if (!(o->p_c >= 0 && o->p_c <= 1))
        return bad_option("moo options: p_c must be in [0, 1] (got %g)", o->p_c);
    if (!(o->p_m >= 0 && o->p_m <= 1))
        return bad_option("moo options: p_m must be in [0, 1] (0 = 1/n_var; got %g)", o->p_m);
    return TD_OK;
}

static td_status check_space(const td_moo_space *s)
{
    if (s->n_var < 1 || s->n_obj < 1 || s->n_con < 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moo space: n_var %d, n_obj %d, n_con %d (need n_var >= 1, "
                            "n_obj >= 1, n_con >= 0)",
                            s->n_var, s->n_obj, s->n_con);
    if (!s->lo || !s->hi)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moo space: bounds %s are NULL",
                            s->lo ? "hi" : "lo");
    for (int v = 0; v < s->n_var; v++) {
        double lo = s->lo[v], hi = s->hi[v];
        if (!isfinite(lo) || !isfinite(hi))
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "moo space: variable %d bounds [%g, %g] are not finite", v, lo, hi);
        if (lo > hi)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "moo space: variable %d has lo %g > hi %g", v, lo, hi);
        if (s->integer && s->integer[v]) {
            if (lo != floor(lo) || hi != floor(hi))
                return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                    "moo space: integer variable %d has non-integral bounds "
                                    "[%g, %g]",
                                    v, lo, hi);
            if (fabs(lo) > 0x1.0p52 || fabs(hi) > 0x1.0p52)
                return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                    "moo space: integer variable %d bounds [%g, %g] exceed 2^52", v,
                                    lo, hi);
        }
    }
    return TD_OK;
}

/* ---- construction ---- */

static int batch_capacity(const td_moo_options *o)
{
    if (o->algo == TD_MOO_NSGA2)
        return o->pop_size;
    return o->batch > 0 ? o->batch : o->pop_size;
}

static td_status setup_exhaustive(td_moo *m)
{
    double total = 1;
    for (int v = 0; v < m->nv; v++) {
        if (!m->integer[v])
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "moo exhaustive: variable %d is real (enumeration needs an "
                                "all-integer space)",
                                v);
        total *= m->hi[v] - m->lo[v] + 1;
    }
    if (total > EXHAUSTIVE_MAX)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moo exhaustive: the space has %.3g points (limit %.0e)", total,
                            EXHAUSTIVE_MAX);
    m->ex_total = (int64_t)total;
    m->odo = calloc((size_t)m->nv, sizeof *m->odo);
    return m->odo ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "moo: out of memory");
}

static bool alloc_nsga2(td_moo *m)
{
    size_t n = (size_t)m->pop_size, c = 2 * n;
    m->pop = malloc(n * sizeof *m->pop);
    m->pcrowd = malloc(n * sizeof *m->pcrowd);
    m->stream = malloc(n * sizeof *m->stream);
    m->comb = malloc(c * sizeof *m->comb);
    m->crank = malloc(c * sizeof *m->crank);
    m->order = malloc(c * sizeof *m->order);
    m->tmp = malloc(2 * c * sizeof *m->tmp);
    m->chosen = malloc(c * sizeof *m->chosen);
    m->cf = malloc(c * (size_t)m->no * sizeof *m->cf);
    m->cv = malloc(c * sizeof *m->cv);
    m->ccrowd = malloc(c * sizeof *m->ccrowd);
    m->hash_cap = 16;
    while (m->hash_cap < 4 * (int)c)
        m->hash_cap *= 2;
    m->hash = malloc((size_t)m->hash_cap * sizeof *m->hash);
    m->child = malloc(2 * (size_t)m->nv * sizeof *m->child);
    return m->pop && m->pcrowd && m->stream && m->comb && m->crank && m->order && m->tmp &&
           m->chosen && m->cf && m->cv && m->ccrowd && m->hash && m->child;
}

void td_moo_free(td_moo *m)
{
    if (!m)
        return;
    free(m->lo), free(m->hi), free(m->integer);
    free(m->ax), free(m->af), free(m->av);
    if (m->fc)
        free(m->fc->rows), free(m->fc->work);
    free(m->fc);
    free(m->bx), free(m->odo);
    free(m->pop), free(m->pcrowd), free(m->stream);
    free(m->comb), free(m->crank), free(m->order), free(m->tmp), free(m->chosen);
    free(m->cf), free(m->cv), free(m->ccrowd);
    free((void *)m->hash), free(m->child);
    free(m);
}

td_status td_moo_new(const td_moo_space *space, const td_moo_options *o, td_moo **out)
{
    if (!out)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moo: out is NULL");
    *out = NULL;
    if (!space || !o)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moo: %s is NULL",
                            space ? "options" : "space");
    TD_TRY(check_space(space));
    TD_TRY(check_options(o));
    td_moo *m = calloc(1, sizeof *m);
    if (!m)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moo: out of memory");
    m->o = *o;
    m->nv = space->n_var, m->no = space->n_obj, m->nc = space->n_con;
    m->p_m = o->p_m > 0 ? o->p_m : 1.0 / m->nv;
    m->pop_size = o->pop_size;
    td_moo_rng_seed(&m->rng, o->seed);
    size_t nv = (size_t)m->nv;
    m->lo = malloc(nv * sizeof *m->lo);
    m->hi = malloc(nv * sizeof *m->hi);
    m->integer = calloc(nv, sizeof *m->integer);
    m->bcap = batch_capacity(o);
    m->bx = malloc((size_t)m->bcap * nv * sizeof *m->bx);
    m->fc = calloc(1, sizeof *m->fc);
    bool ok = m->lo && m->hi && m->integer && m->bx && m->fc;
    if (ok) {
        memcpy(m->lo, space->lo, nv * sizeof *m->lo);
        memcpy(m->hi, space->hi, nv * sizeof *m->hi);
        if (space->integer)
            memcpy(m->integer, space->integer, nv * sizeof *m->integer);
    }
    if (ok && o->algo == TD_MOO_NSGA2)
        ok = alloc_nsga2(m);
    td_status st = ok ? TD_OK : td_error_new(TD_CODE_OUT_OF_MEMORY, "moo: out of memory");
    if (!st && o->algo == TD_MOO_EXHAUSTIVE)
        st = setup_exhaustive(m);
    if (st) {
        td_moo_free(m);
        return st;
    }
    *out = m;
    return TD_OK;
}

/* ---- sampling and variation ---- */

static void sample_uniform(td_moo *m, double *x)
{
    for (int v = 0; v < m->nv; v++) {
        if (m->integer[v])
            x[v] =
                m->lo[v] + (double)td_moo_rng_below(&m->rng, (uint64_t)(m->hi[v] - m->lo[v]) + 1);
        else
            x[v] = m->lo[v] + td_moo_rng_uniform(&m->rng) * (m->hi[v] - m->lo[v]);
    }
}

static double clip(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Simulated binary crossover (Deb & Agrawal 1995) with bounds, variable by variable: each
 * variable is recombined with probability 1/2, and the two children swap it with probability 1/2.
 */
static void sbx(td_moo *m, const double *p1, const double *p2, double *c1, double *c2)
{
    memcpy(c1, p1, (size_t)m->nv * sizeof *c1);
    memcpy(c2, p2, (size_t)m->nv * sizeof *c2);
    if (td_moo_rng_uniform(&m->rng) >= m->o.p_c)
        return;
    double e1 = 1.0 / (m->o.eta_c + 1);
    for (int v = 0; v < m->nv; v++) {
        if (td_moo_rng_uniform(&m->rng) >= 0.5)
            continue;
        double lo = m->lo[v], hi = m->hi[v];
        if (fabs(p1[v] - p2[v]) <= SBX_EPS || !(hi > lo))
            continue;
        double y1 = fmin(p1[v], p2[v]), y2 = fmax(p1[v], p2[v]), dy = y2 - y1;
        double u = td_moo_rng_uniform(&m->rng);
        double ch[2];
        for (int s = 0; s < 2; s++) {
            /* spread factor limited so the child stays inside the bound on its side */
            double beta = 1 + 2 * (s == 0 ? y1 - lo : hi - y2) / dy;
            double alpha = 2 - pow(beta, -(m->o.eta_c + 1));
            double bq = u <= 1 / alpha ? pow(u * alpha, e1) : pow(1 / (2 - u * alpha), e1);
            ch[s] = clip(0.5 * ((y1 + y2) + (s == 0 ? -bq : bq) * dy), lo, hi);
        }
        bool swap = td_moo_rng_uniform(&m->rng) < 0.5;
        c1[v] = ch[swap ? 1 : 0];
        c2[v] = ch[swap ? 0 : 1];
    }
}

/* Polynomial mutation (Deb & Goyal 1996), in the bounded form of Deb's NSGA-II code. */
static void mutate(td_moo *m, double *x)
{
    double e1 = 1.0 / (m->o.eta_m + 1);
    for (int v = 0; v < m->nv; v++) {
        if (td_moo_rng_uniform(&m->rng) >= m->p_m)
            continue;
        double lo = m->lo[v], hi = m->hi[v], w = hi - lo;
        if (!(w > 0))
            continue;
        double y = x[v], u = td_moo_rng_uniform(&m->rng), dq;
        if (u < 0.5) {
            double xy = 1 - (y - lo) / w;
            double val = 2 * u + (1 - 2 * u) * pow(xy, m->o.eta_m + 1);
            dq = pow(val, e1) - 1;
        } else {
            double xy = 1 - (hi - y) / w;
            double val = 2 * (1 - u) + 2 * (u - 0.5) * pow(xy, m->o.eta_m + 1);
            dq = 1 - pow(val, e1);
        }
        x[v] = clip(y + dq * w, lo, hi);
    }
}

/* Integer variables are searched as reals and rounded (pymoo's RoundingRepair). */
static void repair(const td_moo *m, double *x)
{
    for (int v = 0; v < m->nv; v++)
        x[v] = clip(m->integer[v] ? round(x[v]) : x[v], m->lo[v], m->hi[v]);
}

/* ---- duplicate elimination ---- */

static uint64_t row_hash(const double *x, int nv)
{
    uint64_t h = 0x243f6a8885a308d3ull;
    for (int v = 0; v < nv; v++) {
        double d = x[v] + 0.0; /* -0.0 and 0.0 are the same design */
        uint64_t b;
        memcpy(&b, &d, sizeof b);
        h = (h ^ b) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    return h;
}

static bool rows_equal(const double *a, const double *b, int nv)
{
    for (int v = 0; v < nv; v++)
        if (a[v] != b[v])
            return false;
    return true;
}

/* Adds row x (which must outlive the set's use) unless an equal row is there; returns whether
 * it was new. */
static bool hash_insert(td_moo *m, const double *x)
{
    uint64_t mask = (uint64_t)m->hash_cap - 1;
    for (uint64_t i = row_hash(x, m->nv) & mask;; i = (i + 1) & mask) {
        if (!m->hash[i]) {
            m->hash[i] = x;
            return true;
        }
        if (rows_equal(m->hash[i], x, m->nv))
            return false;
    }
}

static bool hash_contains(const td_moo *m, const double *x)
{
    uint64_t mask = (uint64_t)m->hash_cap - 1;
    for (uint64_t i = row_hash(x, m->nv) & mask; m->hash[i]; i = (i + 1) & mask)
        if (rows_equal(m->hash[i], x, m->nv))
            return true;
    return false;
}

/* Appends candidate x to the batch unless it duplicates a population member or an earlier
 * candidate. After `patience` rejections duplicates are accepted: a small integer space may have
 * fewer distinct designs left than a batch. */
static void offer(td_moo *m, const double *x, int *rejected, int patience)
{
    if (m->bn >= m->bcap)
        return;
    if (hash_contains(m, x) && (*rejected)++ < patience)
        return;
    double *dst = m->bx + (size_t)m->bn++ * m->nv;
    memcpy(dst, x, (size_t)m->nv * sizeof *dst);
    hash_insert(m, dst); /* the set is sized for population + batch at load <= 1/4 */
}

/* ---- NSGA-II ---- */

static int next_parent(td_moo *m)
{
    if (m->stream_pos >= m->np) { /* a fresh random permutation of the population */
        for (int i = 0; i < m->np; i++)
            m->stream[i] = i;
        for (int i = m->np - 1; i > 0; i--) {
            int j = (int)td_moo_rng_below(&m->rng, (uint64_t)i + 1);
            int t = m->stream[i];
            m->stream[i] = m->stream[j], m->stream[j] = t;
        }
        m->stream_pos = 0;
    }
    return m->stream[m->stream_pos++];
}

/* Binary tournament, feasibility first: smaller violation; between feasible designs Pareto
 * dominance, then larger crowding distance, then a coin. Dominance rather than rank (Deb 2002's
 * crowded comparison) is what Deb's reference code and pymoo use: on ZDT2 (10,000 evaluations,
 * 31 seeds) comparing ranks let 9 runs collapse onto the f1 = 0 end of the front against 1 with
 * dominance, which also tracks pymoo's hypervolume within 1% on ZDT1, ZDT2 and DTLZ2. */
static int tournament(td_moo *m)
{
    int a = next_parent(m), b = next_parent(m);
    double va = m->av[m->pop[a]], vb = m->av[m->pop[b]];
    const double *fa = m->af + (size_t)m->pop[a] * m->no, *fb = m->af + (size_t)m->pop[b] * m->no;
    if (va > 0 || vb > 0) {
        if (va != vb)
            return va < vb ? a : b;
    } else if (td_dominates(m->no, fa, fb)) {
        return a;
    } else if (td_dominates(m->no, fb, fa)) {
        return b;
    } else if (m->pcrowd[a] != m->pcrowd[b]) {
        return m->pcrowd[a] > m->pcrowd[b] ? a : b;
    }
    return td_moo_rng_uniform(&m->rng) < 0.5 ? a : b;
}

static void generate_nsga2(td_moo *m)
{
    memset((void *)m->hash, 0, (size_t)m->hash_cap * sizeof *m->hash);
    for (int i = 0; i < m->np; i++)
        hash_insert(m, m->ax + (size_t)m->pop[i] * m->nv);
    m->bn = 0;
    int rejected = 0, patience = 10 * m->pop_size + 100;
    double *c1 = m->child, *c2 = m->child + m->nv;
    while (m->bn < m->bcap) {
        if (m->gen == 0) {
            sample_uniform(m, c1);
            offer(m, c1, &rejected, patience);
            continue;
        }
        int p1 = tournament(m), p2 = tournament(m);
        sbx(m, m->ax + (size_t)m->pop[p1] * m->nv, m->ax + (size_t)m->pop[p2] * m->nv, c1, c2);
        mutate(m, c1);
        mutate(m, c2);
        repair(m, c1);
        repair(m, c2);
        offer(m, c1, &rejected, patience);
        offer(m, c2, &rejected, patience);
    }
}

static bool less_crowding(int a, int b, const void *ctx)
{
    const double *c = ctx;
    return c[a] > c[b];
}

/* Environmental selection: the population and the told offspring, sorted into fronts under
 * constraint domination, fill the next population front by front; the front that does not fit
 * is cut by crowding distance, largest first (ties keep the older row). */
static td_status survive(td_moo *m)
{
    int c = 0;
    for (int i = 0; i < m->np; i++)
        m->comb[c++] = m->pop[i];
    for (int i = 0; i < m->btold; i++)
        m->comb[c++] = (int)(m->barch + i);
    for (int i = 0; i < c; i++) {
        memcpy(m->cf + (size_t)i * m->no, m->af + (size_t)m->comb[i] * m->no,
               (size_t)m->no * sizeof *m->cf);
        m->cv[i] = m->av[m->comb[i]];
    }
    int fronts = td_moo_nd_sort(c, m->no, m->cf, m->cv, m->crank);
    if (fronts < 0)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moo: out of memory in NSGA-II survival");
    /* rows grouped by front, in row order within a front (counting sort) */
    int *start = m->tmp; /* fronts + 1 <= c + 1 <= 2 c entries */
    memset(start, 0, (size_t)(fronts + 1) * sizeof *start);
    for (int i = 0; i < c; i++)
        start[m->crank[i] + 1]++;
    for (int r = 0; r < fronts; r++)
        start[r + 1] += start[r];
    for (int i = 0; i < c; i++)
        m->order[start[m->crank[i]]++] = i;
    int n = 0, target = c < m->pop_size ? c : m->pop_size, pos = 0;
    for (int r = 0; r < fronts && n < target; r++) {
        int s = 0;
        while (pos + s < c && m->crank[m->order[pos + s]] == r)
            s++;
        int *members = m->order + pos;
        td_moo_crowding(s, members, m->no, m->cf, m->ccrowd, m->tmp);
        if (n + s > target)
            td_moo_sort(members, s, less_crowding, m->ccrowd, m->tmp);
        for (int i = 0; i < s && n < target; i++)
            m->chosen[n++] = members[i];
        pos += s;
    }
    for (int i = 0; i < n; i++) {
        int k = m->chosen[i];
        m->pop[i] = m->comb[k];
        m->pcrowd[i] = m->ccrowd[k];
    }
    m->np = n;
    m->stream_pos = n; /* next tournament starts a fresh permutation */
    m->gen++;
    return TD_OK;
}

/* ---- random search and enumeration ---- */

static void generate_random(td_moo *m)
{
    for (m->bn = 0; m->bn < m->bcap; m->bn++)
        sample_uniform(m, m->bx + (size_t)m->bn * m->nv);
}

static void generate_exhaustive(td_moo *m)
{
    m->bn = 0;
    while (m->bn < m->bcap && m->ex_next < m->ex_total) {
        double *x = m->bx + (size_t)m->bn++ * m->nv;
        for (int v = 0; v < m->nv; v++)
            x[v] = m->lo[v] + (double)m->odo[v];
        for (int v = m->nv - 1; v >= 0; v--) { /* the last variable turns fastest */
            if ((double)++m->odo[v] <= m->hi[v] - m->lo[v])
                break;
            m->odo[v] = 0;
        }
        m->ex_next++;
    }
    if (m->bn == 0)
        m->done = true;
}

/* ---- ask / tell ---- */

int td_moo_ask(td_moo *m, double *x, int cap)
{
    if (!m || !x || cap <= 0)
        return 0;
    if (m->basked > 0) { /* an ask without its tell is withdrawn and asked again */
        m->bnext -= m->basked;
        m->asked -= m->basked;
        m->basked = 0;
    }
    if (m->asked >= m->o.max_evals || m->done)
        return 0;
    if (m->btold == m->bn) {
        if (m->o.algo == TD_MOO_NSGA2)
            generate_nsga2(m);
        else if (m->o.algo == TD_MOO_RANDOM)
            generate_random(m);
        else
            generate_exhaustive(m);
        m->bnext = m->btold = 0;
        m->barch = m->n_arch;
    }
    int64_t rows = m->bn - m->bnext;
    if (rows > cap)
        rows = cap;
    if (rows > m->o.max_evals - m->asked)
        rows = m->o.max_evals - m->asked;
    memcpy(x, m->bx + (size_t)m->bnext * m->nv, (size_t)rows * m->nv * sizeof *x);
    m->bnext += (int)rows;
    m->basked = (int)rows;
    m->asked += rows;
    return (int)rows;
}

static td_status grow_archive(td_moo *m, int n)
{
    if (m->n_arch + n > INT_MAX)
        return td_error_new(TD_CODE_OVERFLOW, "moo: archive would exceed %d designs", INT_MAX);
    if (m->n_arch + n <= m->cap_arch)
        return TD_OK;
    int64_t cap = m->cap_arch ? m->cap_arch : 256;
    while (cap < m->n_arch + n)
        cap *= 2;
    double *ax = realloc(m->ax, (size_t)cap * m->nv * sizeof *ax);
    if (ax)
        m->ax = ax;
    double *af = realloc(m->af, (size_t)cap * m->no * sizeof *af);
    if (af)
        m->af = af;
    double *av = realloc(m->av, (size_t)cap * sizeof *av);
    if (av)
        m->av = av;
    /* sized here so that td_moo_front, which cannot fail, never allocates */
    int *rows = realloc(m->fc->rows, (size_t)cap * sizeof *rows);
    if (rows)
        m->fc->rows = rows;
    int *work = realloc(m->fc->work, 3 * (size_t)cap * sizeof *work);
    if (work)
        m->fc->work = work;
    if (!ax || !af || !av || !rows || !work)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moo: out of memory growing the archive");
    m->cap_arch = cap;
    return TD_OK;
}

static td_status check_told(const td_moo *m, int n, const double *x, const double *f,
                            const double *g)
{
    if (m->basked == 0)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moo tell: no ask is waiting for a tell");
    if (n != m->basked)
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moo tell: %d designs told, but the last ask gave %d", n, m->basked);
    if (!f || (m->nc > 0 && !g))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moo tell: %s is NULL", f ? "g" : "f");
    const double *asked = m->bx + (size_t)(m->bnext - m->basked) * m->nv;
    for (int i = 0; x && i < n; i++)
        if (!rows_equal(x + (size_t)i * m->nv, asked + (size_t)i * m->nv, m->nv))
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "moo tell: design %d differs from the one asked", i);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < m->no; k++)
            if (!isfinite(f[(size_t)i * m->no + k]))
                return td_error_new(TD_CODE_BAD_DATA,
                                    "moo tell: design %d objective %d is %g (must be finite)", i, k,
                                    f[(size_t)i * m->no + k]);
        for (int k = 0; k < m->nc; k++)
            if (isnan(g[(size_t)i * m->nc + k]))
                return td_error_new(TD_CODE_BAD_DATA, "moo tell: design %d constraint %d is NaN", i,
                                    k);
    }
    return TD_OK;
}

td_status td_moo_tell(td_moo *m, int n, const double *x, const double *f, const double *g)
{
    if (!m)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moo tell: optimizer is NULL");
    TD_TRY(check_told(m, n, x, f, g));
    TD_TRY(grow_archive(m, n));
    const double *asked = m->bx + (size_t)(m->bnext - m->basked) * m->nv;
    for (int i = 0; i < n; i++) {
        int64_t r = m->n_arch;
        memcpy(m->ax + (size_t)r * m->nv, asked + (size_t)i * m->nv, (size_t)m->nv * sizeof *m->ax);
        memcpy(m->af + (size_t)r * m->no, f + (size_t)i * m->no, (size_t)m->no * sizeof *m->af);
        double viol = 0;
        for (int k = 0; k < m->nc; k++)
            viol += fmax(g[(size_t)i * m->nc + k], 0.0);
        m->av[r] = viol;
        m->n_arch++;
    }
    m->btold += n;
    m->basked = 0;
    bool batch_over = m->btold == m->bn || m->asked >= m->o.max_evals;
    if (m->o.algo == TD_MOO_NSGA2 && batch_over && m->btold > 0)
        TD_TRY(survive(m));
    return TD_OK;
}

/* ---- results ---- */

int64_t td_moo_archive(const td_moo *m, const double **x, const double **f,
                       const double **violation)
{
    if (x)
        *x = m->ax;
    if (f)
        *f = m->af;
    if (violation)
        *violation = m->av;
    return m->n_arch;
}

int td_moo_front(const td_moo *m, int *idx, int cap)
{
    struct front_cache *c = m->fc;
    if (c->upto < m->n_arch) { /* the last front plus the feasible rows told since */
        int k = 0, *cand = c->work;
        for (int i = 0; i < c->n; i++)
            cand[k++] = c->rows[i];
        for (int64_t r = c->upto; r < m->n_arch; r++)
            if (m->av[r] == 0)
                cand[k++] = (int)r;
        c->n = td_moo_nondominated(k, cand, m->no, m->af, c->work + m->cap_arch);
        memcpy(c->rows, cand, (size_t)c->n * sizeof *c->rows);
        c->upto = m->n_arch;
    }
    for (int i = 0; idx && i < cap && i < c->n; i++)
        idx[i] = c->rows[i];
    return c->n;
}

int td_moo_population(const td_moo *m, int *idx, int cap)
{
    if (m->o.algo != TD_MOO_NSGA2)
        return 0;
    for (int i = 0; idx && i < cap && i < m->np; i++)
        idx[i] = m->pop[i];
    return m->np;
}

int td_moo_batch_capacity(const td_moo *m)
{
    return m->bcap;
}

td_status td_moo_minimize(const td_moo_space *space, const td_moo_options *o, td_moo_eval_fn eval,
                          void *user, td_moo **out)
{
    if (out)
        *out = NULL;
    if (!eval || !out)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moo minimize: %s is NULL",
                            eval ? "out" : "eval");
    td_moo *m;
    TD_TRY(td_moo_new(space, o, &m));
    size_t b = (size_t)m->bcap;
    double *x = malloc(b * m->nv * sizeof *x), *f = malloc(b * m->no * sizeof *f);
    double *g = m->nc > 0 ? malloc(b * m->nc * sizeof *g) : NULL;
    td_status st = TD_OK;
    if (!x || !f || (m->nc > 0 && !g))
        st = td_error_new(TD_CODE_OUT_OF_MEMORY, "moo minimize: out of memory");
    for (int n; !st && (n = td_moo_ask(m, x, m->bcap)) > 0;) {
        st = eval(user, n, x, f, g);
        if (!st)
            st = td_moo_tell(m, n, x, f, g);
    }
    free(x), free(f), free(g);
    if (st) {
        td_moo_free(m);
        return st;
    }
    *out = m;
    return TD_OK;
}
