/* The varia command's MPI layer (cli_mpi.h). Every exchange is a gather or a
 * broadcast in rank order, never a reduction whose association depends on
 * the library or on timing: the receiver sums what it gathered in a fixed
 * order, which is what keeps results bit-identical to one process. MPI
 * errors are returned (MPI_ERRORS_RETURN), reported with the rank and the
 * call, and end the whole job through MPI_Abort, so no rank waits forever on
 * one that failed; a rank that dies is Open MPI's to detect, and mpirun then
 * ends the others. */
#include "cli_mpi.h"

#include "args.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VARIA_HAVE_MPI
#include <mpi.h>
#endif

int cli_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

void cli_mpi_block(int64_t n, int rank, int size, int64_t *first, int64_t *count)
{
    *first = n * rank / size;
    *count = n * (rank + 1) / size - *first;
}

#ifdef VARIA_HAVE_MPI

/* The exit code every rank learnt from the last cli_mpi_agree (-1: none
 * yet). A job that ends on it ends normally on every rank; any other failure
 * is one rank's and aborts the job. The only state here: MPI's own is
 * process-wide too. */
static int agreed_rc = -1;

/* 1 between a successful cli_mpi_start and cli_mpi_end. */
static int in_job(void)
{
    int on = 0, off = 0;
    MPI_Initialized(&on);
    MPI_Finalized(&off);
    return on && !off;
}

/* A failed MPI call: say which, on which rank, and end the job (never returns). */
static void fail(int err, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(err, msg, &len);
    cli_error(VARIA_ERR_IO, "%s failed: %s; ending the job", what, msg);
    MPI_Abort(MPI_COMM_WORLD, VARIA_ERR_IO);
    exit(VARIA_ERR_IO);
}

int cli_mpi_start(int *argc, char ***argv)
{
    if (!cli_mpi_launched())
        return 0;
    int err = MPI_Init(argc, argv);
    if (err != MPI_SUCCESS)
        return cli_error(VARIA_ERR_IO, "MPI_Init failed (error %d): cannot join the MPI job", err);
    /* Errors come back as codes, so each is reported with its call and rank
     * before the job is ended, rather than by the default handler's abort. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return 0;
}

int cli_mpi_rank(void)
{
    int r = 0;
    if (in_job())
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int cli_mpi_size(void)
{
    int s = 1;
    if (in_job())
        MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

int cli_mpi_end(int rc)
{
    if (!in_job())
        return rc;
    if (rc != 0 && rc != agreed_rc) {
        fflush(stdout);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    MPI_Finalize();
    return rc;
}

int cli_mpi_agree(int rc)
{
    int size = cli_mpi_size();
    if (size == 1)
        return rc;
    int *all = malloc((size_t)size * sizeof *all);
    if (!all)
        fail(MPI_ERR_NO_MEM, "cli_mpi_agree");
    int err = MPI_Allgather(&rc, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS)
        fail(err, "MPI_Allgather of the ranks' status");
    int first = 0;
    for (int r = 0; r < size && !first; r++)
        first = all[r];
    free(all);
    agreed_rc = first;
    return first;
}

int cli_mpi_gather(const void *mine, void *all, int64_t n, int64_t unit)
{
    int size = cli_mpi_size(), rank = cli_mpi_rank();
    int64_t f, c;
    cli_mpi_block(n, rank, size, &f, &c);
    if (size == 1) {
        if (mine != all)
            memmove(all, mine, (size_t)(n * unit));
        return 0;
    }
    if (n > INT_MAX || unit > INT_MAX)
        return cli_error(VARIA_ERR_TOO_LARGE, "cannot gather %lld items of %lld bytes in one MPI call", (long long)n,
                         (long long)unit);
    int *counts = malloc(2 * (size_t)size * sizeof *counts);
    MPI_Datatype item;
    if (!counts)
        fail(MPI_ERR_NO_MEM, "cli_mpi_gather");
    for (int r = 0; r < size; r++) {
        int64_t rf, rc;
        cli_mpi_block(n, r, size, &rf, &rc);
        counts[r] = (int)rc;
        counts[size + r] = (int)rf;
    }
    MPI_Type_contiguous((int)unit, MPI_BYTE, &item);
    MPI_Type_commit(&item);
    const void *send = rank == 0 && mine == (const char *)all + f * unit ? MPI_IN_PLACE : mine;
    int err = MPI_Gatherv(send, (int)c, item, all, counts, counts + size, item, 0, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS)
        fail(err, "MPI_Gatherv of the per-example results");
    MPI_Type_free(&item);
    free(counts);
    return 0;
}

int cli_mpi_allgather(void *user, void *buf, const int64_t *off)
{
    (void)user;
    int size = cli_mpi_size();
    if (off[size] > INT_MAX)
        return 1;
    int *counts = malloc(2 * (size_t)size * sizeof *counts);
    if (!counts)
        fail(MPI_ERR_NO_MEM, "cli_mpi_allgather");
    for (int r = 0; r < size; r++) {
        counts[r] = (int)(off[r + 1] - off[r]);
        counts[size + r] = (int)off[r];
    }
    int err = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, counts + size, MPI_BYTE, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS)
        fail(err, "MPI_Allgatherv of the parts' results");
    free(counts);
    return 0;
}

#ifdef VARIA_HAVE_TRAIN

/* varia_train_comm.broadcast: bytes of buf from rank 0 to every rank. */
static int train_broadcast(void *user, void *buf, int64_t bytes)
{
    (void)user;
    if (bytes > INT_MAX)
        return 1;
    int err = MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS)
        fail(err, "MPI_Bcast from rank 0");
    return 0;
}

int cli_mpi_train_comm(varia_train_comm *comm)
{
    if (cli_mpi_size() == 1)
        return 0;
    comm->rank = cli_mpi_rank();
    comm->size = cli_mpi_size();
    comm->allgather = cli_mpi_allgather;
    comm->broadcast = train_broadcast;
    comm->user = NULL;
    return 1;
}
#endif

#else /* built without MPI: one process, whatever launched it */

int cli_mpi_start(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (n && atoi(n) > 1) /* N copies would each do the whole job and write the same files */
        return cli_error(VARIA_ERR_UNSUPPORTED, "this varia was built without MPI, and mpirun started %s copies of it "
                         "(build with meson setup -Dmpi=enabled)", n);
    return 0;
}

int cli_mpi_rank(void)
{
    return 0;
}

int cli_mpi_size(void)
{
    return 1;
}

int cli_mpi_end(int rc)
{
    return rc;
}

int cli_mpi_agree(int rc)
{
    return rc;
}

int cli_mpi_gather(const void *mine, void *all, int64_t n, int64_t unit)
{
    if (mine != all)
        memmove(all, mine, (size_t)(n * unit));
    return 0;
}

int cli_mpi_allgather(void *user, void *buf, const int64_t *off)
{
    (void)user;
    (void)buf;
    (void)off;
    return 0; /* one process: its part is already in place */
}

#ifdef VARIA_HAVE_TRAIN
int cli_mpi_train_comm(varia_train_comm *comm)
{
    (void)comm;
    return 0;
}
#endif

#endif
