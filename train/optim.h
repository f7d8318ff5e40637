/* Optimizers over the flat parameter vector: Adam and SGD with momentum, with
 * optional clipping of the global gradient norm. A step is split into ranges
 * so the trainer's workers can share it; every element's update is the same
 * whatever the split. */
#ifndef VARIA_TRAIN_OPTIM_H
#define VARIA_TRAIN_OPTIM_H

#include <stdint.h>

typedef struct tr_optim {
    int kind; /* TR_OPT_ADAM, TR_OPT_SGD or TR_OPT_RMSPROP */
    double beta1, beta2, eps, momentum, clip; /* RMSProp's alpha is beta2 */
    int64_t P, t;  /* parameters; updates made so far */
    float *m, *v;  /* Adam moments, or the momentum buffer in m */
} tr_optim;

/* Returns 0 when memory is exhausted. */
int tr_optim_init(tr_optim *o, int kind, int64_t P, double beta1, double beta2, double eps, double momentum,
                  double clip);
void tr_optim_free(tr_optim *o);

/* sum of grad[i]^2 over [lo, hi), in double in a fixed order. */
double tr_sum_squares(const float *grad, int64_t lo, int64_t hi);
/* The factor clipping applies to a gradient of this norm (1 without clipping). */
double tr_optim_clip_scale(const tr_optim *o, double norm);

/* Begin a step (counts it), then update [lo, hi): theta -= step(gscale * grad)
 * at learning rate lr (grad is the gradient of the loss). */
void tr_optim_begin(tr_optim *o);
void tr_optim_range(const tr_optim *o, float *theta, const float *grad, double lr, double gscale, int64_t lo,
                    int64_t hi);

#endif
