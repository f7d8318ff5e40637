/* varia eval's work shared among the ranks of an MPI job (one rank outside
 * one), and gathered to rank 0 in an order that makes the same bytes as one
 * process:
 * - by examples: each rank scores a contiguous block of examples
 *   (varia_eval_part) and rank 0 gathers the rows and means;
 * - by chunks, with fewer examples than ranks (one huge example, say) or
 *   where blocks would be uneven (5 examples on 4 ranks): the set's (example,
 *   chunk of VARIA_EVAL_CHUNK samples) items are cut into contiguous blocks,
 *   each rank computes its items' partial sums (varia_eval_chunks), rank 0
 *   gathers them in item order and folds each example's chunks in chunk
 *   order (varia_eval_combine), as varia_eval does in one process.
 * Either way every random stream is keyed by the example's index in the set
 * and the chunk's, so no result depends on the ranks or their threads. */
#include "args.h"
#include "cli_mpi.h"
#include "commands.h"

#include <stdlib.h>

/* The posterior means per example: every stochastic layer's. */
static int64_t units(const varia_info *in)
{
    int64_t U = 0;
    for (int l = 0; l < in->n_stochastic; l++)
        U += in->layer_sizes[l];
    return U;
}

/* This rank's block of the examples into rows and means (rank 0: the whole
 * set's arrays, its block first), then every block gathered to rank 0 in
 * example order. */
static int eval_blocks(varia_ctx *ctx, const varia_model *m, const varia_info *in, const varia_dataset *d,
                       const varia_eval_opts *eo, varia_eval_row *rows, float *means)
{
    int64_t first, count, U = units(in);
    cli_mpi_block(d->n, cli_mpi_rank(), cli_mpi_size(), &first, &count);
    varia_eval_row *my_rows = cli_mpi_rank() == 0 ? rows : malloc((size_t)(count + 1) * sizeof *my_rows);
    float *my_means = cli_mpi_rank() == 0 ? means : malloc((size_t)(count * U + 1) * sizeof *my_means);
    int rc = my_rows && my_means ? 0 : cli_error(VARIA_ERR_NOMEM, "out of memory for %lld rows", (long long)count);
    if (!rc && count > 0)
        rc = cli_report(ctx, varia_eval_part(ctx, m, d->x + first * d->example_size, first, count, eo, NULL, my_rows,
                                             my_means));
    rc = cli_mpi_agree(rc);
    if (!rc)
        rc = cli_mpi_gather(my_rows, rows, d->n, (int64_t)sizeof *rows);
    if (!rc)
        rc = cli_mpi_gather(my_means, means, d->n, U * (int64_t)sizeof *means);
    if (my_rows != rows)
        free(my_rows);
    if (my_means != means)
        free(my_means);
    return rc;
}

/* Items [first, first + count) of the set's n * C (example, chunk) items,
 * example by example, into mine[count]. */
static int my_chunks(varia_ctx *ctx, const varia_model *m, const varia_dataset *d, const varia_eval_opts *eo,
                     int64_t first, int64_t count, varia_eval_chunk *mine)
{
    int64_t C = varia_eval_chunk_count(eo->k), end = first + count;
    for (int64_t i = first; i < end;) {
        int64_t e = i / C, c0 = i % C, nc = C - c0 < end - i ? C - c0 : end - i;
        int rc = cli_report(ctx, varia_eval_chunks(ctx, m, d->x + e * d->example_size, e, c0, nc, eo,
                                                   mine + (i - first), NULL));
        if (rc)
            return rc;
        i += nc;
    }
    return 0;
}

/* This rank's block of the (example, chunk) items; rank 0 also takes every
 * example's posterior means (a single encoder pass each), gathers every
 * block in item order and folds each example's chunks into its row. */
static int eval_chunks(varia_ctx *ctx, const varia_model *m, const varia_info *in, const varia_dataset *d,
                       const varia_eval_opts *eo, varia_eval_row *rows, float *means)
{
    int64_t C = varia_eval_chunk_count(eo->k), items = d->n * C, first, count, U = units(in);
    int root = cli_mpi_rank() == 0;
    cli_mpi_block(items, cli_mpi_rank(), cli_mpi_size(), &first, &count);
    varia_eval_chunk *mine = malloc((size_t)(count + 1) * sizeof *mine);
    varia_eval_chunk *all = root ? malloc((size_t)items * sizeof *all) : NULL;
    int rc = mine && (all || !root) ? 0 : cli_error(VARIA_ERR_NOMEM, "out of memory for %lld chunks", (long long)items);
    if (!rc)
        rc = my_chunks(ctx, m, d, eo, first, count, mine);
    for (int64_t e = 0; root && !rc && e < d->n; e++)
        rc = cli_report(ctx, varia_eval_chunks(ctx, m, d->x + e * d->example_size, e, 0, 0, eo, NULL, means + e * U));
    rc = cli_mpi_agree(rc);
    if (!rc)
        rc = cli_mpi_gather(mine, all, items, (int64_t)sizeof *mine);
    for (int64_t e = 0; root && !rc && e < d->n; e++)
        rc = cli_report(ctx, varia_eval_combine(ctx, all + e * C, eo->k, &rows[e]));
    free(mine);
    free(all);
    return rc;
}

/* Chunks when blocks of examples would leave one rank more than 5% above
 * the even share (always with fewer examples than ranks; 5 examples on 4
 * ranks: blocks give one rank 2, chunks every rank 1.25 examples' samples). */
int cli_eval_split(varia_ctx *ctx, const varia_model *m, const varia_info *in, const varia_dataset *d,
                   const varia_eval_opts *eo, varia_eval_row *rows, float *means)
{
    int64_t size = cli_mpi_size(), C = varia_eval_chunk_count(eo->k);
    double blocks = (double)((d->n + size - 1) / size * C), chunks = (double)((d->n * C + size - 1) / size);
    if (d->n < size || blocks > 1.05 * chunks)
        return eval_chunks(ctx, m, in, d, eo, rows, means);
    return eval_blocks(ctx, m, in, d, eo, rows, means);
}
