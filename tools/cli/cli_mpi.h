/* The varia command's MPI layer: the rank and size of the job, the exchanges
 * eval and train need, and the end of the job. Built without MPI (or run
 * without mpirun) every process is rank 0 of 1 and the exchanges do nothing,
 * so the commands have one code path. */
#ifndef VARIA_CLI_CLI_MPI_H
#define VARIA_CLI_CLI_MPI_H

#include <stdint.h>

#ifdef VARIA_HAVE_TRAIN
#include "varia_train.h"
#endif

/* Join the job when this process was started by an MPI launcher (mpirun sets
 * its environment); otherwise do nothing. Returns 0, or an exit code after
 * printing why. Call once, before any other function here. */
int cli_mpi_start(int *argc, char ***argv);
/* 1 when started by an MPI launcher (whether or not this build has MPI). */
int cli_mpi_launched(void);
/* This process's rank and the job's size (0 and 1 outside a job). */
int cli_mpi_rank(void);
int cli_mpi_size(void);
/* Leave the job with exit code rc: a normal end when rc is 0 or the code the
 * last cli_mpi_agree gave every rank; otherwise the whole job is aborted with
 * rc, so a rank that failed alone can never leave the others waiting for it.
 * Returns rc (outside a job, at once). */
int cli_mpi_end(int rc);
/* Every rank's rc to every rank: the first non-zero one in rank order (0 if
 * none). Collective: for failures that may differ between ranks. */
int cli_mpi_agree(int rc);
/* Examples [first, first + count) of n that rank r owns: contiguous blocks in
 * rank order, sizes differing by at most one. */
void cli_mpi_block(int64_t n, int rank, int size, int64_t *first, int64_t *count);
/* Gather every rank's block (cli_mpi_block of n items of `unit` bytes each)
 * into all[n * unit] on rank 0, in rank order; mine holds this rank's block
 * (it may lie inside all on rank 0). Returns 0 or an exit code after printing why. */
int cli_mpi_gather(const void *mine, void *all, int64_t n, int64_t unit);

/* Part r of buf, bytes [off[r], off[r + 1]), from rank r to every rank,
 * in place (the allgather of varia_train_comm and varia_ais_opts; user is
 * unused). Returns non-zero only for parts beyond MPI's int counts; a
 * failed MPI call ends the job. Collective. */
int cli_mpi_allgather(void *user, void *buf, const int64_t *off);

#ifdef VARIA_HAVE_TRAIN
/* Fill *comm with the exchanges of a data-parallel training job over
 * MPI_COMM_WORLD and return 1; 0 outside a job of more than one rank (the
 * trainer then runs alone). */
int cli_mpi_train_comm(varia_train_comm *comm);
#endif

#endif
