/* The tape's engine: an arena for node values and gradients, the records of
 * the ops (tape_ops.c) and the reverse replay of their backward rules. See
 * tape.h. */
#include "tape_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_BYTES ((size_t)1 << 22)

typedef struct block {
    struct block *next;
    size_t cap, used;
    unsigned char *mem;
} block;

struct tr_tape {
    block *first, *cur;
    record *rec;
    int64_t n_rec, cap_rec;
    int failed;
    tr_node dummy;
    tr_real dummy_v[1];
};

/* ---- arena ---- */

void *TR(arena)(tr_tape *t, size_t bytes)
{
    bytes = (bytes + 63) / 64 * 64;
    for (;;) {
        block *b = t->cur;
        if (b && b->used + bytes <= b->cap) {
            void *p = b->mem + b->used;
            b->used += bytes;
            return p;
        }
        if (b && b->next) { /* reuse the next block kept from earlier steps */
            t->cur = b->next;
            t->cur->used = 0;
            continue;
        }
        size_t cap = bytes > BLOCK_BYTES ? bytes : BLOCK_BYTES;
        block *nb = calloc(1, sizeof *nb);
        unsigned char *mem = nb ? aligned_alloc(64, cap) : NULL;
        if (!mem) {
            free(nb);
            t->failed = 1;
            return NULL;
        }
        nb->mem = mem;
        nb->cap = cap;
        if (b)
            b->next = nb;
        else
            t->first = nb;
        t->cur = nb;
    }
}

tr_tape *TR(tape_new)(void)
{
    return calloc(1, sizeof(tr_tape));
}

void TR(tape_free)(tr_tape *t)
{
    if (!t)
        return;
    for (block *b = t->first; b;) {
        block *n = b->next;
        free(b->mem);
        free(b);
        b = n;
    }
    free(t->rec);
    free(t);
}

void TR(reset)(tr_tape *t)
{
    t->cur = t->first;
    if (t->cur)
        t->cur->used = 0;
    t->n_rec = 0;
    t->failed = 0;
}

int TR(failed)(const tr_tape *t)
{
    return t->failed;
}

tr_node *TR(new_node)(tr_tape *t, int64_t rows, int64_t cols, int with_grad)
{
    size_t n = (size_t)(rows * cols);
    tr_node *nd = TR(arena)(t, sizeof *nd);
    tr_real *v = TR(arena)(t, n * sizeof(tr_real) + 1);
    tr_real *g = with_grad ? TR(arena)(t, n * sizeof(tr_real) + 1) : NULL;
    if (!nd || !v || (with_grad && !g)) {
        t->dummy = (tr_node){1, 1, t->dummy_v, NULL};
        return &t->dummy;
    }
    if (g)
        memset(g, 0, n * sizeof(tr_real));
    *nd = (tr_node){rows, cols, v, g};
    return nd;
}

record *TR(push)(tr_tape *t, tr_back back, tr_node *out)
{
    if (t->failed)
        return NULL;
    if (t->n_rec == t->cap_rec) {
        int64_t cap = t->cap_rec ? 2 * t->cap_rec : 64;
        record *r = realloc(t->rec, (size_t)cap * sizeof *r);
        if (!r) {
            t->failed = 1;
            return NULL;
        }
        t->rec = r;
        t->cap_rec = cap;
    }
    record *r = &t->rec[t->n_rec++];
    memset(r, 0, sizeof *r);
    r->back = back;
    r->out = out;
    return r;
}

tr_node *TR(input)(tr_tape *t, int64_t rows, int64_t cols, const tr_real *v)
{
    tr_node *n = TR(arena)(t, sizeof *n);
    if (!n) {
        t->dummy = (tr_node){1, 1, t->dummy_v, NULL};
        return &t->dummy;
    }
    *n = (tr_node){rows, cols, (tr_real *)v, NULL};
    return n;
}

tr_node *TR(param)(tr_tape *t, int64_t rows, int64_t cols, const tr_real *v, tr_real *grad)
{
    tr_node *n = TR(input)(t, rows, cols, v);
    if (n != &t->dummy)
        n->g = grad;
    return n;
}

tr_real *TR(alloc)(tr_tape *t, int64_t n)
{
    return TR(arena)(t, (size_t)n * sizeof(tr_real) + 1);
}

record *TR(begin_op)(tr_tape *t, tr_back back, int64_t rows, int64_t cols, int with_grad, tr_node *a, tr_node **out)
{
    *out = TR(new_node)(t, rows, cols, with_grad);
    record *r = TR(push)(t, back, *out);
    if (r)
        r->a = a;
    return r;
}

void TR(seed)(tr_tape *t, tr_node *out, const tr_real *seed)
{
    (void)t;
    if (out->g)
        for (int64_t i = 0; i < out->rows * out->cols; i++)
            out->g[i] += seed[i];
}

void TR(backward)(tr_tape *t)
{
    for (int64_t i = t->n_rec - 1; i >= 0 && !t->failed; i--)
        if (t->rec[i].out->g)
            t->rec[i].back(t, &t->rec[i]);
}

/* 1 when any of g[0, n) is not zero: by blocks without an exit inside, so
 * that the test vectorizes (a dead record's whole gradient is read). */
static int any_nonzero(const tr_real *g, int64_t n)
{
    for (int64_t i = 0; i < n; i += 1024) {
        int64_t end = n - i < 1024 ? n : i + 1024;
        int any = 0;
        for (int64_t k = i; k < end; k++)
            any |= g[k] != 0;
        if (any)
            return 1;
    }
    return 0;
}

void TR(backward_live)(tr_tape *t)
{
    for (int64_t i = t->n_rec - 1; i >= 0 && !t->failed; i--) {
        const record *r = &t->rec[i];
        int64_t n = r->out->rows * r->out->cols;
        if (!r->out->g || !any_nonzero(r->out->g, n))
            continue;
        r->back(t, r);
        memset(r->out->g, 0, (size_t)n * sizeof(tr_real)); /* its consumers all ran before it */
    }
}
