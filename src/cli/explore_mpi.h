/* Distributed and out-of-process evaluation for tandem explore: the Open MPI master/worker
 * loop (built when CMake finds MPI) and the ask/eval/tell batch commands. */
#ifndef TANDEM_CLI_EXPLORE_MPI_H
#define TANDEM_CLI_EXPLORE_MPI_H

#include "tandem/explore.h"

/* Under mpirun with 2+ ranks: ranks > 0 evaluate designs for rank 0 until it is done, then
 * return the exit code (>= 0); rank 0 and plain runs get -1 and go on with the search. */
int td_explore_mpi_worker(const char *space_path, int threads);
/* On rank 0 of an MPI run: route the run's evaluations to the workers. */
void td_explore_mpi_hook(const td_space *s, td_explorer *e, td_explore_options *o);
/* Rank 0: release the workers and finalize MPI (no-op otherwise). */
void td_explore_mpi_finish(void);

/* tandem explore ask|eval|tell (argv[0] is the verb). */
int td_explore_batch_cmd(int argc, char **argv);

#endif
