/* Multi-objective search: Pareto utilities, exact hypervolume, and three ask/tell optimizers
 * (NSGA-II, random search, exhaustive enumeration) over boxes of real and integer variables.
 *
 * Everything minimizes. Constraints are values g <= 0 (feasible); the violation of a design is
 * the sum of max(g_i, 0). Feasibility first (Deb's rule): a feasible design beats an infeasible
 * one, two infeasible ones compare by violation, two feasible ones by Pareto dominance.
 *
 * The optimizers are ask/tell state machines so that the caller owns evaluation: it may
 * evaluate a batch in parallel, on MPI workers, from a journal (resume), or through a batch
 * scheduler. Given the same options and the same results told back, the sequence of asked
 * designs is identical on every machine (the random stream lives in the optimizer, seeded). */
#ifndef TANDEM_MOO_H
#define TANDEM_MOO_H

#include <stdbool.h>
#include <stdint.h>

#include "tandem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Pareto and hypervolume ---- */

/* a dominates b (minimization, d objectives): no worse in all, better in one. */
bool td_dominates(int d, const double *a, const double *b);

/* Indices of the non-dominated rows of f (n x d, row-major) among the rows whose violation is 0
 * (violation NULL: all feasible); duplicates keep their first row. Writes them to idx (capacity n)
 * in increasing order and returns how many. Rows with a NaN objective are left out. */
int td_pareto_front(int n, int d, const double *f, const double *violation, int *idx);

/* Exact hypervolume dominated by the n points (n x d) and bounded by the reference point ref,
 * for any d >= 1 (fast paths for d <= 3: O(n log n) for 2, O(n^2) worst case for 3; d > 3
 * slices recursively, exponential in d, meant for small n). Points not strictly better than
 * ref in every objective contribute nothing (+inf is allowed and contributes nothing).
 * Errors: d < 1, n < 0, NULL pointers, NaN or -inf in points, NaN or infinite ref. */
td_status td_hypervolume(int n, int d, const double *points, const double *ref, double *out);

/* ---- problems ---- */

typedef struct td_moo_space {
    int n_var, n_obj, n_con;
    const double *lo, *hi; /* bounds per variable; integer variables take lo..hi inclusive */
    const bool *integer;   /* per variable; NULL means all real */
} td_moo_space;

/* Evaluate n designs: x (n x n_var) -> f (n x n_obj), g (n x n_con, may be NULL if n_con = 0). */
typedef td_status (*td_moo_eval_fn)(void *user, int n, const double *x, double *f, double *g);

/* Benchmark problems with pymoo's definitions, all on [0, 1]^n_var: "zdt1", "zdt2", "zdt3"
 * (n_var 30 by default, 2 to 64; 2 objectives), "dtlz2" (3 objectives; n_var 10 by default as in
 * pymoo, i.e. k = n_var - 2 = 8 distance variables; 3 to 64). n_var 0 = default. The evaluator's
 * user pointer is the returned problem; space.lo/hi point into it, so use it in place (a copy's
 * space still points at the original). The evaluator rejects designs outside the bounds. */
typedef struct td_moo_problem {
    char name[16];
    td_moo_space space;
    double lo[64], hi[64];
    td_moo_eval_fn eval;
} td_moo_problem;

td_status td_moo_problem_get(const char *name, int n_var, td_moo_problem *out);

/* ---- optimizers ---- */

typedef enum td_moo_algo {
    TD_MOO_NSGA2 = 0,
    TD_MOO_RANDOM,     /* uniform samples (integers uniform over lo..hi) */
    TD_MOO_EXHAUSTIVE, /* every point of an all-integer space, in lexicographic order */
} td_moo_algo;

typedef struct td_moo_options {
    td_moo_algo algo;
    uint64_t seed;
    int64_t max_evals; /* budget: asks stop once this many designs were asked */
    int pop_size;      /* NSGA-II population and offspring per generation, 2..10000 (100);
                          odd sizes are fine (the last mating keeps one child) */
    double eta_c, p_c; /* SBX distribution index and crossover probability (15, 0.9) */
    double eta_m;      /* polynomial mutation distribution index (20) */
    double p_m;        /* mutation probability per variable; 0 = 1 / n_var (the default) */
    int batch;         /* random / exhaustive designs per batch; 0 = pop_size (the default) */
} td_moo_options;

/* NSGA-II, seed 1, max_evals 10000, pymoo's NSGA-II defaults (pop 100, SBX eta 15 p 0.9, PM
 * eta 20; per-variable mutation probability 1/n_var where pymoo uses min(1/2, 1/n_var) and
 * mutates 90% of the offspring), p_m 0 and batch 0 (their defaults above).
 * NSGA-II details: initial population uniform in the bounds (integers uniform over lo..hi);
 * binary tournaments by violation, then Pareto dominance (as pymoo and Deb's code; Deb 2002's
 * rank comparison collapses more often on ZDT2), then crowding distance; SBX with per-variable
 * probability 1/2 and random exchange; polynomial mutation; integer variables rounded; offspring
 * equal to a population member or an earlier offspring are redrawn (accepted after
 * 10 pop_size + 100 rejections in a generation, for small integer spaces); survival by
 * non-dominated sorting under constraint domination and crowding distance. */
void td_moo_options_default(td_moo_options *o);

typedef struct td_moo td_moo;

td_status td_moo_new(const td_moo_space *space, const td_moo_options *o, td_moo **out);
void td_moo_free(td_moo *m);

/* The next batch of designs to evaluate: writes up to cap rows (cap x n_var) to x and returns
 * how many (0: the search is finished, or cap <= 0 / x NULL). Each ask must be answered by one
 * tell of the same rows before the next ask; an ask before that tell withdraws the previous ask
 * and hands out the same rows again. The designs do not depend on cap: a batch (see
 * td_moo_batch_capacity) is generated whole and handed out in order over as many asks as cap
 * requires. Exhaustive search errors in td_moo_new if a variable is real or the space has more
 * than 1e8 points; it stops when every point was asked or at max_evals. */
int td_moo_ask(td_moo *m, double *x, int cap);
/* n must be the count of the last ask; x its rows (bit for bit; NULL: the asked rows), f finite,
 * g non-NaN (+inf allowed; NULL when n_con = 0). NSGA-II's survival runs when the last row of a
 * batch is told, or the budget is spent. */
td_status td_moo_tell(td_moo *m, int n, const double *x, const double *f, const double *g);

/* Rows per batch: pop_size for NSGA-II, batch (or pop_size) otherwise: an ask cap that takes a
 * whole batch at once. */
int td_moo_batch_capacity(const td_moo *m);

/* Every design told so far, in the order told: x (n x n_var), f (n x n_obj) and violation (n).
 * The pointers stay valid until the next tell or free. Returns n. */
int64_t td_moo_archive(const td_moo *m, const double **x, const double **f,
                       const double **violation);
/* Archive rows of the current non-dominated feasible set: writes up to cap indices, returns how
 * many there are. Computed when asked, from the previous answer plus the rows told since
 * (O(k log k) for up to 3 objectives, O(k * front) beyond), so tells stay cheap; never fails. */
int td_moo_front(const td_moo *m, int *idx, int cap);
/* NSGA-II: archive rows of the current population (after the last survival; pymoo's res.F is
 * the non-dominated feasible part of it). Writes up to cap indices, returns how many there are;
 * 0 for the other algorithms. */
int td_moo_population(const td_moo *m, int *idx, int cap);

/* Convenience: ask, evaluate, tell (whole batches) until the search is finished. On success *out
 * is the finished optimizer (free it with td_moo_free); on error (including the evaluator's,
 * returned as is) nothing is kept and *out is NULL. */
td_status td_moo_minimize(const td_moo_space *space, const td_moo_options *o, td_moo_eval_fn eval,
                          void *user, td_moo **out);

#ifdef __cplusplus
}
#endif
#endif
