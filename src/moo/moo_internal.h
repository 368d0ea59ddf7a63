/* Pieces shared by the files of src/moo: the optimizer's random stream, a stable index sort,
 * and non-dominated sorting with Deb's constraint domination. */
#ifndef TD_MOO_INTERNAL_H
#define TD_MOO_INTERNAL_H

#include <stdint.h>

#include "tandem/moo.h"

/* xoshiro256** seeded through splitmix64: small state that lives in the optimizer, so two
 * optimizers with the same seed draw the same numbers on every machine. */
typedef struct td_moo_rng {
    uint64_t s[4];
} td_moo_rng;

void td_moo_rng_seed(td_moo_rng *r, uint64_t seed);
uint64_t td_moo_rng_next(td_moo_rng *r);
double td_moo_rng_uniform(td_moo_rng *r);             /* [0, 1), 53 random bits */
uint64_t td_moo_rng_below(td_moo_rng *r, uint64_t n); /* [0, n), unbiased; n >= 1 */

/* Stable merge sort of idx[0..n) by less(a, b, ctx); tmp holds n ints. Stability (and not the
 * C library's qsort) keeps tie order, hence the optimizer, identical across libcs. */
typedef bool (*td_moo_less_fn)(int a, int b, const void *ctx);
void td_moo_sort(int *idx, int n, td_moo_less_fn less, const void *ctx, int *tmp);

/* The non-dominated rows among the k rows cand[] of f (stride d); of equal rows the smallest row
 * index stays. Overwrites cand with the kept rows in increasing order and returns how many.
 * Sort-based: O(k log k) for d <= 3, O(k * kept) beyond. work holds 2 k ints. */
int td_moo_nondominated(int k, int *cand, int d, const double *f, int *work);

/* td_pareto_front without scratch memory (its fallback), O(n * front); exposed for tests. */
int td_moo_front_incremental(int n, int d, const double *f, const double *violation, int *idx);

/* Ranks (0 = first front) of n rows under constraint domination: feasible rows (violation 0)
 * by Pareto fronts, then infeasible rows one front per distinct violation, smallest first.
 * O(n log n) for d <= 2, O(d n^2) comparisons and n^2 / 8 bytes beyond. Returns the number of
 * fronts, or -1 if scratch memory could not be allocated. */
int td_moo_nd_sort(int n, int d, const double *f, const double *violation, int *rank);

/* Crowding distance (Deb 2002) of the s rows members[] of one front, written to crowd[row]:
 * the boundary rows of every objective get +inf, the others the sum over objectives of the
 * normalized gap between their neighbours. tmp holds 2 s ints. */
void td_moo_crowding(int s, const int *members, int d, const double *f, double *crowd, int *tmp);

#endif
