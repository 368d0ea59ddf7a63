/* tandem explore under mpirun: rank 0 runs the search; each asked batch is cut into one
 * contiguous slice per worker rank, and the results come back in the batch's order, so the
 * optimizer sees exactly what a single process would and the front is the same for a seed.
 * Every worker keeps its own accuracy cache (the measurements are deterministic). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/explore_mpi.h"

#ifdef TD_HAVE_MPI
#include <mpi.h>

enum { TAG_COUNT = 1, TAG_X = 2, TAG_RESULT = 3 };
enum { RESULT_DOUBLES = 2 * TD_METRIC_COUNT + 2 };

static int mpi_size = 0, mpi_rank = 0; /* set once by td_explore_mpi_worker */

typedef struct mpi_eval_ctx {
    int n_knobs;
} mpi_eval_ctx;

static void pack(const td_design_eval *d, double *out)
{
    memcpy(out, d->metrics, sizeof d->metrics);
    memcpy(out + TD_METRIC_COUNT, d->baseline, sizeof d->baseline);
    out[2 * TD_METRIC_COUNT] = d->feasible;
    out[2 * TD_METRIC_COUNT + 1] = d->violation;
}

static void unpack(const double *in, td_design_eval *d)
{
    memcpy(d->metrics, in, sizeof d->metrics);
    memcpy(d->baseline, in + TD_METRIC_COUNT, sizeof d->baseline);
    d->feasible = in[2 * TD_METRIC_COUNT] != 0;
    d->violation = in[2 * TD_METRIC_COUNT + 1];
}

static td_status mpi_eval(void *user, int n, const int *x, td_design_eval *out)
{
    const mpi_eval_ctx *c = user;
    int workers = mpi_size - 1;
    double *buf = malloc(sizeof(double) * (size_t)(n * RESULT_DOUBLES + 1));
    if (!buf)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "explore: out of memory");
    for (int w = 0; w < workers; w++) {
        int lo = (int)((long long)n * w / workers), hi = (int)((long long)n * (w + 1) / workers);
        int cnt = hi - lo;
        MPI_Send(&cnt, 1, MPI_INT, w + 1, TAG_COUNT, MPI_COMM_WORLD);
        if (cnt > 0)
            MPI_Send(x + (size_t)lo * c->n_knobs, cnt * c->n_knobs, MPI_INT, w + 1, TAG_X,
                     MPI_COMM_WORLD);
    }
    int failed = 0;
    for (int w = 0; w < workers; w++) {
        int lo = (int)((long long)n * w / workers), hi = (int)((long long)n * (w + 1) / workers);
        int ok = 0;
        MPI_Recv(&ok, 1, MPI_INT, w + 1, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (ok && hi > lo)
            MPI_Recv(buf + (size_t)lo * RESULT_DOUBLES, (hi - lo) * RESULT_DOUBLES, MPI_DOUBLE,
                     w + 1, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        failed += !ok;
    }
    for (int i = 0; !failed && i < n; i++)
        unpack(buf + (size_t)i * RESULT_DOUBLES, &out[i]);
    free(buf);
    return failed ? td_error_new(TD_CODE_INTERNAL,
                                 "explore: %d MPI worker(s) failed to evaluate "
                                 "their designs (see their messages)",
                                 failed)
                  : TD_OK;
}

static int serve(td_explorer *e, int n_knobs)
{
    int *x = NULL;
    td_design_eval *ev = NULL;
    double *buf = NULL;
    for (;;) {
        int cnt = 0;
        MPI_Recv(&cnt, 1, MPI_INT, 0, TAG_COUNT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (cnt < 0)
            break; /* rank 0 is done */
        x = realloc(x, sizeof(int) * (size_t)(cnt * n_knobs + 1));
        ev = realloc(ev, sizeof *ev * (size_t)(cnt + 1));
        buf = realloc(buf, sizeof(double) * (size_t)(cnt * RESULT_DOUBLES + 1));
        if (cnt > 0)
            MPI_Recv(x, cnt * n_knobs, MPI_INT, 0, TAG_X, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        td_status st = x && ev && buf ? td_explorer_eval(e, cnt, x, ev)
                                      : td_error_new(TD_CODE_OUT_OF_MEMORY, "out of memory");
        int ok = st == TD_OK;
        if (st) {
            fprintf(stderr, "tandem explore (rank %d): %s\n", mpi_rank, td_status_message(st));
            td_status_free(st);
        }
        for (int i = 0; ok && i < cnt; i++)
            pack(&ev[i], buf + (size_t)i * RESULT_DOUBLES);
        MPI_Send(&ok, 1, MPI_INT, 0, TAG_RESULT, MPI_COMM_WORLD);
        if (ok && cnt > 0)
            MPI_Send(buf, cnt * RESULT_DOUBLES, MPI_DOUBLE, 0, TAG_RESULT, MPI_COMM_WORLD);
    }
    free(x);
    free(ev);
    free(buf);
    return TD_EXIT_OK;
}

int td_explore_mpi_worker(const char *space_path, int threads)
{
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE"))
        return -1; /* not started by mpirun: no MPI at all */
    MPI_Init(NULL, NULL);
    MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
    if (mpi_rank == 0)
        return -1;
    td_space *s = NULL;
    td_explorer *e = NULL;
    td_explorer_options xo = {threads};
    td_status st = td_space_load(space_path, &s);
    if (!st)
        st = td_explorer_new(s, &xo, &e);
    int rc = TD_EXIT_OK;
    if (st) {
        /* still answer rank 0 (with failures) so that it can stop cleanly */
        fprintf(stderr, "tandem explore (rank %d): %s\n", mpi_rank, td_status_message(st));
        td_status_free(st);
        for (;;) {
            int cnt = 0, ok = 0;
            MPI_Recv(&cnt, 1, MPI_INT, 0, TAG_COUNT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (cnt < 0)
                break;
            if (cnt > 0) { /* take the designs, whatever their size, and drop them */
                MPI_Status ms;
                int len = 0;
                MPI_Probe(0, TAG_X, MPI_COMM_WORLD, &ms);
                MPI_Get_count(&ms, MPI_INT, &len);
                int *x = malloc(sizeof(int) * (size_t)(len + 1));
                MPI_Recv(x, len, MPI_INT, 0, TAG_X, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                free(x);
            }
            MPI_Send(&ok, 1, MPI_INT, 0, TAG_RESULT, MPI_COMM_WORLD);
        }
        rc = TD_EXIT_FAIL;
    } else {
        const td_knob *k;
        rc = serve(e, td_space_knobs(s, &k));
    }
    td_explorer_free(e);
    td_space_free(s);
    MPI_Finalize();
    return rc;
}

void td_explore_mpi_hook(const td_space *s, td_explorer *e, td_explore_options *o)
{
    (void)e;
    static mpi_eval_ctx ctx;
    if (mpi_size < 2 || mpi_rank != 0)
        return;
    const td_knob *k;
    ctx.n_knobs = td_space_knobs(s, &k);
    o->eval = mpi_eval;
    o->eval_user = &ctx;
    fprintf(stderr, "explore: %d MPI worker ranks evaluate the designs\n", mpi_size - 1);
}

void td_explore_mpi_finish(void)
{
    if (mpi_size == 0)
        return;
    int stop = -1;
    for (int w = 1; w < mpi_size && mpi_rank == 0; w++)
        MPI_Send(&stop, 1, MPI_INT, w, TAG_COUNT, MPI_COMM_WORLD);
    MPI_Finalize();
    mpi_size = 0;
}

#else /* built without Open MPI */

int td_explore_mpi_worker(const char *space_path, int threads)
{
    (void)space_path;
    (void)threads;
    if (getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1)
        fprintf(stderr, "tandem explore: started under mpirun, but this build has no MPI "
                        "support; every rank runs the whole search on its own\n");
    return -1;
}

void td_explore_mpi_hook(const td_space *s, td_explorer *e, td_explore_options *o)
{
    (void)s;
    (void)e;
    (void)o;
}

void td_explore_mpi_finish(void) {}

#endif
