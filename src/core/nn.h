/*
 * nn.h - the neural core: layers, losses and optimizers on plain arrays
 *
 * Plain C over row-major float32 buffers and OpenBLAS, no PostgreSQL
 * headers.  Memory: nothing here allocates.  Every buffer is the caller's;
 * NnArena carves one caller-allocated block into them (count first with a
 * NULL base, allocate once, then bind), so a training run allocates once
 * and the hot paths never do.
 *
 * The definitions follow PyTorch's exactly, so a model started from the
 * same weights on the same batches follows the same trajectory up to float
 * rounding: nn.Linear (weight out x in, y = x W' + b, default init
 * U(-1/sqrt(in), 1/sqrt(in)) for weight and bias), exact-erf GELU,
 * LayerNorm (biased variance, eps inside the root), Dropout (inverted: kept
 * units scaled by 1/(1-p)), MSELoss, BCEWithLogitsLoss (stable form),
 * reduction 'mean' everywhere, torch.optim.SGD, Adam and AdamW.
 *
 * A batch is processed by one thread; everything random is counter-based
 * (rng.h), so a caller that splits a batch over threads by rows gets the
 * same masks and samples.  Results for a seed are bit-identical run to run.
 */
#ifndef RECO_CORE_NN_H
#define RECO_CORE_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* ---------------------------------------------------------------- memory */

/*
 * A caller-owned block handed out in pieces.  With base NULL, nn_take only
 * counts (used grows, NULL returned): run the same binding code twice, once
 * to size the block and once to fill it.  Pieces start on 64-byte
 * boundaries when base does.
 */
typedef struct NnArena
{
	float	   *base;
	size_t		cap;			/* floats at base */
	size_t		used;			/* floats handed out (or counted) so far */
} NnArena;

/* n floats from a, or NULL when counting or when a is full (used > cap) */
extern float *nn_take(NnArena *a, size_t n);

/*
 * A parameter: values, their gradient (accumulated by backward passes,
 * cleared by nn_tensor_zero_grad) and the optimizer's state: m is SGD's
 * momentum buffer or Adam's first moment, v Adam's second moment; both
 * start at zero and are NULL when the optimizer needs none.
 */
typedef struct NnTensor
{
	float	   *w;
	float	   *g;
	float	   *m;
	float	   *v;
	size_t		n;
} NnTensor;

/* Take w, g and nstate (0, 1 or 2: nn_optim_state) zeroed state buffers */
extern void nn_tensor_bind(NnTensor *t, size_t n, int nstate, NnArena *a);
extern void nn_tensor_zero_grad(NnTensor *t);

/* Initialisers, drawing sequentially from r */
extern void nn_init_uniform(float *w, size_t n, float bound, NnRng *r);
extern void nn_init_normal(float *w, size_t n, float std, NnRng *r);
/* Xavier/Glorot uniform for an out x in weight: bound gain * sqrt(6/(in+out)) */
extern void nn_init_xavier_uniform(float *w, int out, int in, float gain,
								   NnRng *r);

/* ---------------------------------------------------------------- layers */

/*
 * Dense (torch.nn.Linear): Y = X W' + b, W out x in row-major (the memory
 * of torch's weight tensor, so weights copy across as they are; a column
 * block W[:, a:b] is addressable with leading dimension in, which lets the
 * first layer's product with one input block be precomputed).
 */
typedef struct NnDense
{
	int			in;
	int			out;
	NnTensor	W;				/* out x in */
	NnTensor	b;				/* out */
} NnDense;

extern void nn_dense_bind(NnDense *d, int in, int out, int nstate, NnArena *a);
/* torch's default: W and b uniform in +-1/sqrt(in) */
extern void nn_dense_init(NnDense *d, NnRng *r);
/* Y (batch x out, contiguous) = X (batch x in, leading dimension ldx) W' + b */
extern void nn_dense_forward(const NnDense *d, int batch, const float *X,
							 int ldx, float *Y);

/*
 * Given dY (batch x out) for the X of the forward pass: W.g += dY' X,
 * b.g += column sums of dY, and dX = dY W (overwritten, leading dimension
 * lddx; skipped when dX is NULL, as for a first layer over raw features).
 */
extern void nn_dense_backward(NnDense *d, int batch, const float *X, int ldx,
							  const float *dY, float *dX, int lddx);

/* Elementwise activations */
typedef enum NnAct
{
	NN_IDENTITY,
	NN_RELU,
	NN_SIGMOID,
	NN_TANH,
	NN_GELU						/* exact: x Phi(x), Phi the normal cdf via erf */
} NnAct;

/* y = f(x) over n floats; y may be x */
extern void nn_act_forward(NnAct f, size_t n, const float *x, float *y);

/*
 * dy *= f'(x) in place, from the forward pass's input x (GELU needs it;
 * the others may pass NULL) and output y (ReLU, sigmoid, tanh need it).
 * ReLU's derivative at 0 is 0, as in torch.
 */
extern void nn_act_backward(NnAct f, size_t n, const float *x, const float *y,
							float *dy);

/*
 * Layer normalisation over the last dimension n (torch.nn.LayerNorm(n)):
 * y = gamma (x - mean) / sqrt(var + eps) + beta, var biased (divided by n).
 * The forward pass keeps xhat (batch x n) and the reciprocal deviations
 * rstd (batch) for the backward pass.
 */
typedef struct NnLayerNorm
{
	int			n;
	float		eps;			/* 1e-5 by default, as torch */
	NnTensor	gamma;
	NnTensor	beta;
} NnLayerNorm;

extern void nn_layernorm_bind(NnLayerNorm *ln, int n, int nstate, NnArena *a);
/* gamma = 1, beta = 0, eps = 1e-5 */
extern void nn_layernorm_init(NnLayerNorm *ln);
/* Y may be X; xhat must not */
extern void nn_layernorm_forward(const NnLayerNorm *ln, int batch,
								 const float *X, float *Y, float *xhat,
								 float *rstd);
/* gamma.g, beta.g accumulate; dX overwritten (may be dY) */
extern void nn_layernorm_backward(NnLayerNorm *ln, int batch, const float *dY,
								  const float *xhat, const float *rstd,
								  float *dX);

/*
 * Inverted dropout (torch.nn.Dropout in train mode): mask[i] is 0 with
 * probability p, else 1/(1-p), drawn counter-based from (seed, stream,
 * first + i), so a thread filling elements [first, first + n) of a batch's
 * mask alone writes what one call over the whole mask would.  The forward
 * pass and the backward pass both multiply by the mask (nn_dropout_apply);
 * at inference dropout is not called at all.
 */
extern void nn_dropout_mask(float *mask, size_t n, float p, uint64_t seed,
							uint64_t stream, uint64_t first);
extern void nn_dropout_apply(size_t n, const float *mask, float *x);

/*
 * Embedding table with sparse gradients.  The backward pass adds into a
 * compact gradient holding only the rows the batch touched (touched[k]'s
 * gradient is grad[k], slot[row] is k or -1), so the optimizer visits only
 * those rows (nn_optim_rows).  m and v are the optimizer's per-row state
 * (rows x dim, zeroed, NULL when unused); steps, when not NULL, counts
 * Adam steps per row (see nn_optim_rows).
 */
typedef struct NnEmbedding
{
	int32_t		rows;
	int			dim;
	float	   *table;			/* rows x dim */
	float	   *m;
	float	   *v;
	int64_t    *steps;			/* rows, or NULL */
	int32_t    *slot;			/* rows */
	int32_t    *touched;		/* cap */
	float	   *grad;			/* cap x dim */
	int32_t		ntouched;
	int32_t		cap;			/* most distinct rows between two steps */
} NnEmbedding;

/*
 * Take table, state and compact gradient (cap rows) from a; the caller
 * sets slot, touched (and steps) to its own int arrays, then calls
 * nn_embedding_clear once.
 */
extern void nn_embedding_bind(NnEmbedding *e, int32_t rows, int dim,
							  int32_t cap, int nstate, NnArena *a);
/* No row touched: every slot -1 (O(rows), once) */
extern void nn_embedding_clear(NnEmbedding *e);
/* Forget the touched rows' gradients (O(rows touched), after each step) */
extern void nn_embedding_zero_grad(NnEmbedding *e);

/*
 * Bags of rows (torch.nn.EmbeddingBag, mode 'sum', per_sample_weights):
 * out[i] = sum over j in [offsets[i], offsets[i+1]) of weight[j] *
 * table[ids[j]], out n x dim with leading dimension ldo (so bags can be
 * written side by side into one input row).  offsets NULL: one id per bag
 * (a plain lookup, torch.nn.Embedding); weights NULL: all 1.
 */
extern void nn_embedding_forward(const NnEmbedding *e, int n,
								 const int32_t *offsets, const int32_t *ids,
								 const float *weights, float *out, int ldo);

/*
 * The matching backward pass: grad[table row] += weight * dout[bag].
 * False, with nothing added for the bag that overflowed, when more than
 * cap distinct rows are touched.
 */
extern bool nn_embedding_backward(NnEmbedding *e, int n, const int32_t *offsets,
								  const int32_t *ids, const float *weights,
								  const float *dout, int lddo);

/* Add the compact gradient into a dense rows x dim buffer (dense optimizers) */
extern void nn_embedding_grad_dense(const NnEmbedding *e, float *dense);

/* ---------------------------------------------------------------- losses */

/*
 * Each returns the mean loss (double) and writes the gradient of that mean
 * with respect to its inputs (so already divided by the count, as
 * reduction='mean' does).
 */

/* Mean squared error over n predictions (torch.nn.MSELoss) */
extern double nn_loss_mse(int n, const float *pred, const float *target,
						  float *dpred);

/*
 * Binary cross-entropy on logits (torch.nn.BCEWithLogitsLoss with weight):
 * mean of w (max(x, 0) - x t + log(1 + exp(-|x|))).  Positives and sampled
 * negatives go in one array with targets 1 and 0.  weight may be NULL.
 */
extern double nn_loss_bce_logits(int n, const float *logit, const float *target,
								 const float *weight, float *dlogit);

/*
 * BPR (Rendle et al. 2009): mean over the n x k pairs of
 * -log sigmoid(pos[i] - neg[i*k + j]), k sampled negatives per positive.
 */
extern double nn_loss_bpr(int n, int k, const float *pos, const float *neg,
						  float *dpos, float *dneg);

/*
 * Sampled softmax: rows of 1 + k logits, the positive first and k sampled
 * negatives after; the mean over rows of -log softmax(row)[0].  A
 * sampling-bias correction (logQ) is the caller's: subtract log q from the
 * logits first.
 */
extern double nn_loss_sampled_softmax(int n, int k, const float *logits,
									  float *dlogits);

/*
 * k negatives per positive, uniform over [0, nitems) and never the row's
 * positive (when nitems > 1); neg is n x k.  Draw j of row i depends only
 * on (seed, stream, first + i, j), first being the batch row of pos[0]
 * (so rows sampled apart match rows sampled together): pass a fresh stream
 * per batch.
 */
extern void nn_sample_negatives(int n, int k, const int32_t *pos,
								int32_t nitems, uint64_t seed, uint64_t stream,
								int64_t first, int32_t *neg);

/* ------------------------------------------------------------ optimizers */

typedef enum NnOptKind
{
	NN_SGD,						/* torch.optim.SGD, dampening 0 */
	NN_ADAM,					/* torch.optim.Adam (weight decay = L2 in the gradient) */
	NN_ADAMW					/* torch.optim.AdamW (decoupled decay) */
} NnOptKind;

/* Hyperparameters in double, as Python floats in torch */
typedef struct NnOptim
{
	NnOptKind	kind;
	double		lr;
	double		beta1;			/* Adam */
	double		beta2;
	double		eps;
	double		weight_decay;
	double		momentum;		/* SGD */
	bool		nesterov;
	int64_t		step;			/* steps begun; nn_optim_begin counts */
} NnOptim;

/* torch's defaults for kind: betas (0.9, 0.999), eps 1e-8, decay 0 (AdamW 0.01) */
extern void nn_optim_init(NnOptim *o, NnOptKind kind, double lr);
/* State buffers per parameter: 0 (plain SGD), 1 (momentum), 2 (Adam) */
extern int	nn_optim_state(const NnOptim *o);
/* Start a step: call once, then update every parameter */
extern void nn_optim_begin(NnOptim *o);
/* Update a dense parameter from its gradient (the gradient is left) */
extern void nn_optim_dense(const NnOptim *o, NnTensor *t);

/*
 * Lazy update of the rows the batch touched; untouched rows, their
 * moments and momentum buffers are left exactly as they were.  A touched
 * row is updated by the dense rule on its gradient, so a row touched at
 * every step follows dense Adam/AdamW/SGD bit for bit.  Bias correction
 * uses the row's own step count when e->steps is not NULL (a row first
 * seen at step 1000 gets the full first step, not a tenth of one) and the
 * optimizer's global step otherwise (torch.optim.SparseAdam's choice;
 * SparseAdam adds eps before the bias correction, we after, as Adam).
 * AdamW's and SGD's weight decay reach touched rows only.
 */
extern void nn_optim_rows(const NnOptim *o, NnEmbedding *e);

/* ------------------------------------------------------------------- mlp */

#define NN_MLP_MAX_LAYERS 8

/*
 * A stack of dense layers: an activation after each but the last, the
 * output activation after the last (NN_IDENTITY for logits or
 * regression).  Activations of a batch of up to batch_cap rows are kept
 * for the backward pass.
 */
typedef struct NnMlp
{
	int			nlayers;
	int			batch_cap;
	NnAct		act;
	NnAct		out_act;
	NnDense		layer[NN_MLP_MAX_LAYERS];
	float	   *Z[NN_MLP_MAX_LAYERS];	/* pre-activations, batch x out */
	float	   *A[NN_MLP_MAX_LAYERS];	/* activations (Z itself when identity) */
	float	   *dA[2];			/* backward scratch, batch x widest */
} NnMlp;

/* sizes[0] inputs, sizes[1..nlayers] layer widths */
extern void nn_mlp_bind(NnMlp *m, int nlayers, const int *sizes, NnAct act,
						NnAct out_act, int batch_cap, int nstate, NnArena *a);
/* Every layer initialised as torch's nn.Linear */
extern void nn_mlp_init(NnMlp *m, NnRng *r);
/* The output (batch x last width) for X (batch x sizes[0], leading ldx) */
extern const float *nn_mlp_forward(NnMlp *m, int batch, const float *X, int ldx);

/*
 * Gradients of every layer from dOut (the gradient of the loss with respect to the
 * output, batch x last width; overwritten); dX (leading lddx) gets the
 * gradient wrt X unless NULL.
 */
extern void nn_mlp_backward(NnMlp *m, int batch, const float *X, int ldx,
							float *dOut, float *dX, int lddx);
/* The 2 * nlayers parameters, W then b per layer; returns their number */
extern int	nn_mlp_params(NnMlp *m, NnTensor **params);

#endif
