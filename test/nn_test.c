/*
 * nn_test.c - unit tests of the neural core (src/core/) without a server
 *
 * Every layer and loss is checked against central finite differences of a
 * scalar objective evaluated in double: J = sum R .* output for a layer
 * (R a fixed random weighting, so the analytic pass gets dY = R) and the
 * mean loss itself for a loss.  The difference is divided by the distance
 * between the two float values actually stored, which removes the rounding
 * of the step.  The error of a tensor is the largest gap between numeric
 * and analytic entries relative to its largest numeric entry.  With
 * h = 5e-3 the truncation error (h^2 f''' / 6, 4e-6 f''') and the float
 * noise of the forward pass (about 1e-7 |J| / h) both stay near 1e-5 (the
 * worst measured is 6e-5, the 4-6-3-2 GELU stack), so GRAD_TOL = 1e-3
 * leaves a margin of 15 while a wrong term in a backward formula is off by
 * a sizeable part of the scale: dropping GELU's x phi(x), LayerNorm's xhat
 * term or BCE's weight, or using 1 - y for tanh, fails by 0.07 to 4 (tried
 * once each); the harness is also shown here to reject a 1 % error in one
 * entry.  Then: optimizer steps against hand-computed values, lazy
 * rows against dense updates, a 10-10-10-1 network learning a regression,
 * bit-identical training for a seed, and counter-based randomness that is
 * the same whether drawn whole or by two threads in halves.
 *
 * Build and run: make -s core-test.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/nn.h"
#include "../src/core/recnet.h"
#include "../src/workers.h"

#include "check.h"

#define GRAD_TOL 1e-3
#ifndef GRAD_H
#define GRAD_H 5e-3f
#endif

static double worst_grad;		/* largest error among passing gradient checks */


/* Uniform floats in [lo, hi) from r */
static void
fill(float *x, size_t n, float lo, float hi, NnRng *r)
{
	for (size_t i = 0; i < n; i++)
		x[i] = lo + (hi - lo) * nn_unit_float(nn_rng_next(r));
}

static double
weighted_sum(const float *R, const float *Y, size_t n)
{
	double		s = 0.0;

	for (size_t i = 0; i < n; i++)
		s += (double) R[i] * Y[i];
	return s;
}

typedef double (*Objective) (void *ctx);

/*
 * Richardson's extrapolation of two central differences, (4 D(h/2) -
 * D(h)) / 3, cancels the h^2 term: the whole network's checks (recnet)
 * use it with a larger h, whose float noise is smaller.
 */
static bool richardson;
static float grad_h = GRAD_H;

/* Central difference of J in x[i] over the two float values actually stored */
static double
central(Objective J, void *ctx, float *x, size_t i, float h)
{
	float		save = x[i];
	float		xp,
				xm;
	double		jp,
				jm;

	x[i] = save + h;
	xp = x[i];
	jp = J(ctx);
	x[i] = save - h;
	xm = x[i];
	jm = J(ctx);
	x[i] = save;
	return (jp - jm) / ((double) xp - xm);
}

/* Error of analytic gradient g of J over the n entries of x (see top) */
static double
grad_error(Objective J, void *ctx, float *x, const float *g, size_t n)
{
	double		gap = 0.0;
	double		scale = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		double		num = central(J, ctx, x, i, grad_h);

		if (richardson)
			num = (4.0 * central(J, ctx, x, i, grad_h / 2) - num) / 3.0;
		if (fabs(num - g[i]) > gap)
			gap = fabs(num - g[i]);
		if (fabs(num) > scale)
			scale = fabs(num);
	}
	return gap / (scale > 1e-6 ? scale : 1e-6);
}

/* A gradient check that must pass */
static void
grad_check(Objective J, void *ctx, float *x, const float *g, size_t n,
		   const char *what)
{
	double		err = grad_error(J, ctx, x, g, n);
	char		label[160];

	snprintf(label, sizeof(label), "gradient of %s (error %.2e)", what, err);
	check(err < GRAD_TOL, label);
	if (getenv("NN_VERBOSE"))
		printf("%s\n", label);
	if (err < GRAD_TOL && err > worst_grad)
		worst_grad = err;
}

/* ------------------------------------------------------------- dense */

enum
{
DB = 4, DIN = 5, DOUT = 3, DLD = 7};	/* X has 2 spare columns per row */

typedef struct DenseCase
{
	NnDense		d;
	float		X[DB * DLD];
	float		Y[DB * DOUT];
	float		R[DB * DOUT];
} DenseCase;

static double
dense_J(void *ctx)
{
	DenseCase  *c = ctx;

	nn_dense_forward(&c->d, DB, c->X, DLD, c->Y);
	return weighted_sum(c->R, c->Y, DB * DOUT);
}

/* Dense layer: W, b and X (strided); then the harness rejects a bad gradient */
static void
test_dense(NnArena *a, NnRng *r)
{
	DenseCase  *c = calloc(1, sizeof(DenseCase));
	float		dX[DB * DLD] = {0};
	float		dXc[DB * DIN];

	nn_dense_bind(&c->d, DIN, DOUT, 0, a);
	nn_dense_init(&c->d, r);
	fill(c->X, DB * DLD, -1, 1, r);
	fill(c->R, DB * DOUT, -1, 1, r);
	nn_dense_forward(&c->d, DB, c->X, DLD, c->Y);
	nn_dense_backward(&c->d, DB, c->X, DLD, c->R, dX, DLD);
	grad_check(dense_J, c, c->d.W.w, c->d.W.g, c->d.W.n, "dense W");
	grad_check(dense_J, c, c->d.b.w, c->d.b.g, c->d.b.n, "dense b");
	grad_check(dense_J, c, c->X, dX, DB * DLD, "dense X (leading dimension 7)");
	check(dX[DIN] == 0.0f && dX[DIN + 1] == 0.0f, "dense: dX leaves the spare columns alone");

	/* a second backward accumulates into W.g, b.g and overwrites dX */
	memcpy(dXc, dX, sizeof(dXc));
	{
		float		w0 = c->d.W.g[0];
		float		b0 = c->d.b.g[0];

		nn_dense_backward(&c->d, DB, c->X, DLD, c->R, dX, DLD);
		check(c->d.W.g[0] == 2 * w0 && c->d.b.g[0] == 2 * b0 && dX[0] == dXc[0],
			  "dense: parameter gradients accumulate, dX is overwritten");
		nn_tensor_zero_grad(&c->d.W);
		nn_tensor_zero_grad(&c->d.b);
		nn_dense_backward(&c->d, DB, c->X, DLD, c->R, NULL, 0);
	}

	/* the harness fails a gradient wrong by 1 % of the scale in one entry */
	{
		float		big = 0.0f;
		size_t		at = 0;

		for (size_t i = 0; i < c->d.W.n; i++)
			if (fabsf(c->d.W.g[i]) > big)
			{
				big = fabsf(c->d.W.g[i]);
				at = i;
			}
		c->d.W.g[(at + 1) % c->d.W.n] += 0.01f * big;
		check(grad_error(dense_J, c, c->d.W.w, c->d.W.g, c->d.W.n) > GRAD_TOL,
			  "gradient check rejects a 1 % error in one entry");
	}
	free(c);
}

/* ------------------------------------------------------- activations */

enum
{
AN = 24};

typedef struct ActCase
{
	NnAct		f;
	float		x[AN];
	float		y[AN];
	float		R[AN];
} ActCase;

static double
act_J(void *ctx)
{
	ActCase    *c = ctx;

	nn_act_forward(c->f, AN, c->x, c->y);
	return weighted_sum(c->R, c->y, AN);
}

/* Each activation; ReLU's inputs kept 0.1 from its kink (h is 0.01) */
static void
test_activations(NnRng *r)
{
	static const char *names[] = {"identity", "relu", "sigmoid", "tanh", "gelu"};
	ActCase		c;
	float		dy[AN];
	float		gelu_at[] = {-1.0f, 0.0f, 0.5f, 2.0f};
	/* x Phi(x) from the normal table: Phi(-1) = 0.15865525, Phi(.5) = .69146246 */
	float		gelu_ref[] = {-0.15865525f, 0.0f, 0.34573123f, 1.95449974f};
	float		out[4];
	int			ok = 1;

	for (int f = NN_IDENTITY; f <= NN_GELU; f++)
	{
		char		what[64];

		c.f = f;
		fill(c.x, AN, -3, 3, r);
		for (int i = 0; i < AN; i++)
			if (fabsf(c.x[i]) < 0.1f)
				c.x[i] += c.x[i] < 0 ? -0.1f : 0.1f;
		fill(c.R, AN, -1, 1, r);
		nn_act_forward(c.f, AN, c.x, c.y);
		memcpy(dy, c.R, sizeof(dy));
		nn_act_backward(c.f, AN, c.x, c.y, dy);
		snprintf(what, sizeof(what), "activation %s", names[f]);
		grad_check(act_J, &c, c.x, dy, AN, what);
	}
	nn_act_forward(NN_GELU, 4, gelu_at, out);
	for (int i = 0; i < 4; i++)
		ok &= fabsf(out[i] - gelu_ref[i]) < 1e-6f;
	check(ok, "gelu is the exact erf form (x Phi(x))");
	nn_act_forward(NN_SIGMOID, 1, (float[]) {-100.0f}, out);
	check(out[0] >= 0.0f && out[0] < 1e-30f, "sigmoid of -100 is 0, not NaN");
}

/* -------------------------------------------------------- layer norm */

enum
{
LB = 3, LN = 6};

typedef struct NormCase
{
	NnLayerNorm ln;
	float		X[LB * LN];
	float		Y[LB * LN];
	float		xhat[LB * LN];
	float		rstd[LB];
	float		R[LB * LN];
} NormCase;

static double
norm_J(void *ctx)
{
	NormCase   *c = ctx;

	nn_layernorm_forward(&c->ln, LB, c->X, c->Y, c->xhat, c->rstd);
	return weighted_sum(c->R, c->Y, LB * LN);
}

/* LayerNorm: x, gamma, beta; outputs of a row have mean beta-ish, unit spread */
static void
test_layernorm(NnArena *a, NnRng *r)
{
	NormCase   *c = calloc(1, sizeof(NormCase));
	float		dX[LB * LN];
	double		mean = 0.0,
				var = 0.0;

	nn_layernorm_bind(&c->ln, LN, 0, a);
	nn_layernorm_init(&c->ln);
	check(c->ln.eps == 1e-5f && c->ln.gamma.w[0] == 1.0f && c->ln.beta.w[0] == 0.0f,
		  "layernorm: torch's defaults");
	fill(c->X, LB * LN, -2, 3, r);
	nn_layernorm_forward(&c->ln, LB, c->X, c->Y, c->xhat, c->rstd);
	for (int j = 0; j < LN; j++)
		mean += c->Y[j];
	mean /= LN;
	for (int j = 0; j < LN; j++)
		var += (c->Y[j] - mean) * (c->Y[j] - mean);
	var /= LN;
	/* biased variance: var(y) = var / (var + eps), a hair under 1 */
	check(fabs(mean) < 1e-6 && fabs(var - 1.0) < 1e-4, "layernorm: zero mean, unit biased variance");

	fill(c->ln.gamma.w, LN, 0.5f, 1.5f, r);
	fill(c->ln.beta.w, LN, -0.5f, 0.5f, r);
	fill(c->R, LB * LN, -1, 1, r);
	nn_layernorm_forward(&c->ln, LB, c->X, c->Y, c->xhat, c->rstd);
	nn_layernorm_backward(&c->ln, LB, c->R, c->xhat, c->rstd, dX);
	grad_check(norm_J, c, c->X, dX, LB * LN, "layernorm x");
	grad_check(norm_J, c, c->ln.gamma.w, c->ln.gamma.g, LN, "layernorm gamma");
	grad_check(norm_J, c, c->ln.beta.w, c->ln.beta.g, LN, "layernorm beta");
	free(c);
}

/* ----------------------------------------------------------- dropout */

enum
{
PN = 40};

typedef struct DropCase
{
	float		x[PN];
	float		y[PN];
	float		mask[PN];
	float		R[PN];
} DropCase;

static double
drop_J(void *ctx)
{
	DropCase   *c = ctx;

	memcpy(c->y, c->x, sizeof(c->y));
	nn_dropout_apply(PN, c->mask, c->y);
	return weighted_sum(c->R, c->y, PN);
}

/* Dropout with a fixed mask, and the mask's law */
static void
test_dropout(NnRng *r)
{
	DropCase	c;
	float		dx[PN];
	enum
	{
	MN = 100000};
	float	   *big = malloc(sizeof(float) * MN);
	int			zeros = 0,
				other = 0;

	nn_dropout_mask(c.mask, PN, 0.3f, 11, 0, 0);
	fill(c.x, PN, -1, 1, r);
	fill(c.R, PN, -1, 1, r);
	memcpy(dx, c.R, sizeof(dx));
	nn_dropout_apply(PN, c.mask, dx);
	grad_check(drop_J, &c, c.x, dx, PN, "dropout x (fixed mask)");

	nn_dropout_mask(big, MN, 0.3f, 11, 1, 0);
	for (int i = 0; i < MN; i++)
	{
		zeros += big[i] == 0.0f;
		other += big[i] != 0.0f && big[i] != 1.0f / 0.7f;
	}
	/* binomial sd of the count is 145: 5 sd */
	check(abs(zeros - 30000) < 725 && other == 0,
		  "dropout: a share p dropped, the rest scaled by 1/(1-p)");
	nn_dropout_mask(big, MN, 0.0f, 11, 1, 0);
	zeros = 0;
	for (int i = 0; i < MN; i++)
		zeros += big[i] != 1.0f;
	check(zeros == 0, "dropout: p = 0 keeps everything unscaled");
	free(big);
}

/* --------------------------------------------------------- embedding */

enum
{
ER = 7, ED = 3, EBAGS = 4, ELD = 5};

typedef struct EmbedCase
{
	NnEmbedding e;
	const int32_t *offsets;
	const int32_t *ids;
	const float *weights;
	float		out[EBAGS * ELD];
	float		R[EBAGS * ELD];
} EmbedCase;

static double
embed_J(void *ctx)
{
	EmbedCase  *c = ctx;

	nn_embedding_forward(&c->e, EBAGS, c->offsets, c->ids, c->weights, c->out, ELD);
	return weighted_sum(c->R, c->out, EBAGS * ELD);
}

/* Embedding lookups and weighted bags: the compact gradient scattered back */
static void
test_embedding(NnArena *a, NnRng *r)
{
	EmbedCase  *c = calloc(1, sizeof(EmbedCase));
	int32_t		slot[ER],
				touched[ER];
	int32_t		offsets[] = {0, 2, 3, 3, 6};	/* bag 2 empty */
	int32_t		ids[] = {4, 1, 4, 0, 4, 1};	/* 4 thrice, 1 twice, rows 2, 3, 5, 6 never */
	float		weights[] = {0.5f, 1.0f, -2.0f, 1.5f, 1.0f, 0.25f};
	int32_t		lookup[] = {2, 2, 6, 0};
	float		dense[ER * ED];
	int			untouched = 1;

	nn_embedding_bind(&c->e, ER, ED, 5, 0, a);
	c->e.slot = slot;
	c->e.touched = touched;
	nn_embedding_clear(&c->e);
	fill(c->e.table, ER * ED, -1, 1, r);
	fill(c->R, EBAGS * ELD, -1, 1, r);

	for (int bag = 0; bag < 2; bag++)
	{
		c->offsets = bag ? offsets : NULL;
		c->ids = bag ? ids : lookup;
		c->weights = bag ? weights : NULL;
		nn_embedding_zero_grad(&c->e);
		embed_J(c);
		check(nn_embedding_backward(&c->e, EBAGS, c->offsets, c->ids, c->weights, c->R, ELD),
			  "embedding: backward within cap");
		check(c->e.ntouched == 3, "embedding: each touched row listed once");
		memset(dense, 0, sizeof(dense));
		nn_embedding_grad_dense(&c->e, dense);
		grad_check(embed_J, c, c->e.table, dense, ER * ED,
				   bag ? "embedding bags (weighted sums)" : "embedding lookup");
	}
	for (int j = 0; j < ED; j++)
		untouched &= c->out[2 * ELD + j] == 0.0f;
	check(untouched, "embedding: an empty bag is zero");

	/* a sixth distinct row overflows cap 5: refused, bag not half-added */
	{
		int32_t		many[] = {0, 1, 2, 3, 4, 5};
		int32_t		off6[] = {0, 5, 6, 6, 6};

		nn_embedding_zero_grad(&c->e);
		check(!nn_embedding_backward(&c->e, EBAGS, off6, many, NULL, c->R, ELD) &&
			  c->e.ntouched == 5, "embedding: more rows than cap refused");
		nn_embedding_zero_grad(&c->e);
		check(slot[5] == -1 && slot[0] == -1 && c->e.ntouched == 0,
			  "embedding: zero_grad forgets the touched rows");
	}
	free(c);
}

/* ------------------------------------------------------------ the mlp */

enum
{
MB = 5, MIN = 4, MLD = 6};

typedef struct MlpCase
{
	NnMlp		m;
	float		X[MB * MLD];
	float		R[MB * 2];
} MlpCase;

static double
mlp_J(void *ctx)
{
	MlpCase    *c = ctx;

	return weighted_sum(c->R, nn_mlp_forward(&c->m, MB, c->X, MLD), MB * 2);
}

/* The stack chains its layers' gradients: 4-6-3-2 with GELU, tanh output */
static void
test_mlp_grad(NnArena *a, NnRng *r)
{
	MlpCase    *c = calloc(1, sizeof(MlpCase));
	int			sizes[] = {MIN, 6, 3, 2};
	float		dOut[MB * 2];
	float		dX[MB * MLD] = {0};
	NnTensor   *params[2 * NN_MLP_MAX_LAYERS];
	int			np;

	nn_mlp_bind(&c->m, 3, sizes, NN_GELU, NN_TANH, MB, 0, a);
	nn_mlp_init(&c->m, r);
	fill(c->X, MB * MLD, -2, 2, r);
	fill(c->R, MB * 2, -1, 1, r);
	mlp_J(c);
	memcpy(dOut, c->R, sizeof(dOut));
	nn_mlp_backward(&c->m, MB, c->X, MLD, dOut, dX, MLD);
	np = nn_mlp_params(&c->m, params);
	for (int p = 0; p < np; p++)
	{
		char		what[64];

		snprintf(what, sizeof(what), "mlp layer %d %s", p / 2, p % 2 ? "b" : "W");
		grad_check(mlp_J, c, params[p]->w, params[p]->g, params[p]->n, what);
	}
	grad_check(mlp_J, c, c->X, dX, MB * MLD, "mlp input");
	free(c);
}

/* ------------------------------------------------------------ losses */

enum
{
LOSS_N = 6, LOSS_K = 3};

typedef struct LossCase
{
	int			which;			/* 0 mse, 1 bce, 2 bpr, 3 sampled softmax */
	float		a[LOSS_N * (LOSS_K + 1)];	/* predictions, logits or positives */
	float		b[LOSS_N * LOSS_K];	/* targets or negatives */
	float		w[LOSS_N];
	float		da[LOSS_N * (LOSS_K + 1)];
	float		db[LOSS_N * LOSS_K];
} LossCase;

static double
loss_J(void *ctx)
{
	LossCase   *c = ctx;
	float		da[LOSS_N * (LOSS_K + 1)],
				db[LOSS_N * LOSS_K];

	switch (c->which)
	{
		case 0:
			return nn_loss_mse(LOSS_N, c->a, c->b, da);
		case 1:
			return nn_loss_bce_logits(LOSS_N, c->a, c->b, c->w, da);
		case 2:
			return nn_loss_bpr(LOSS_N, LOSS_K, c->a, c->b, da, db);
		default:
			return nn_loss_sampled_softmax(LOSS_N, LOSS_K, c->a, da);
	}
}

/* Each loss's gradient, its value at known points, no overflow */
static void
test_losses(NnRng *r)
{
	LossCase	c;
	float		d[4];

	fill(c.a, LOSS_N * (LOSS_K + 1), -3, 3, r);
	fill(c.b, LOSS_N * LOSS_K, -1, 1, r);
	fill(c.w, LOSS_N, 0.5f, 2, r);

	c.which = 0;
	nn_loss_mse(LOSS_N, c.a, c.b, c.da);
	grad_check(loss_J, &c, c.a, c.da, LOSS_N, "mse");

	c.which = 1;
	for (int i = 0; i < LOSS_N; i++)
		c.b[i] = i % 3 == 0;	/* a positive, two sampled negatives */
	nn_loss_bce_logits(LOSS_N, c.a, c.b, c.w, c.da);
	grad_check(loss_J, &c, c.a, c.da, LOSS_N, "bce with logits (weighted)");

	c.which = 2;
	fill(c.b, LOSS_N * LOSS_K, -3, 3, r);
	nn_loss_bpr(LOSS_N, LOSS_K, c.a, c.b, c.da, c.db);
	grad_check(loss_J, &c, c.a, c.da, LOSS_N, "bpr positives");
	grad_check(loss_J, &c, c.b, c.db, LOSS_N * LOSS_K, "bpr negatives");

	c.which = 3;
	nn_loss_sampled_softmax(LOSS_N, LOSS_K, c.a, c.da);
	grad_check(loss_J, &c, c.a, c.da, LOSS_N * (LOSS_K + 1), "sampled softmax");

	/* known values: MSE of (1, 3) against 0 is 5; BCE at 0 is log 2 */
	check(fabs(nn_loss_mse(2, (float[]) {1, 3}, (float[]) {0, 0}, d) - 5.0) < 1e-12 &&
		  d[0] == 1.0f && d[1] == 3.0f, "mse: value and 2 (y - t) / n");
	check(fabs(nn_loss_bce_logits(1, (float[]) {0}, (float[]) {1}, NULL, d) - log(2.0)) < 1e-12 &&
		  d[0] == -0.5f, "bce: log 2 at logit 0");
	/* a confident mistake costs |x|, finite, gradient saturated */
	check(fabs(nn_loss_bce_logits(2, (float[]) {100, -100}, (float[]) {0, 1}, NULL, d) - 100.0) < 1e-9 &&
		  d[0] == 0.5f && d[1] == -0.5f, "bce: stable at logits +-100");
	check(fabs(nn_loss_bpr(1, 1, (float[]) {0}, (float[]) {0}, d, d + 1) - log(2.0)) < 1e-12 &&
		  d[0] == -0.5f && d[1] == 0.5f, "bpr: log 2 at a tie");
	check(fabs(nn_loss_bpr(1, 1, (float[]) {-500}, (float[]) {500}, d, d + 1) - 1000.0) < 1e-9,
		  "bpr: stable at a difference of -1000");
	/* uniform logits over 1 + 3: log 4 */
	check(fabs(nn_loss_sampled_softmax(1, 3, (float[]) {900, 900, 900, 900}, d) - log(4.0)) < 1e-12 &&
		  fabsf(d[0] + 0.75f) < 1e-7f && fabsf(d[1] - 0.25f) < 1e-7f,
		  "sampled softmax: log(1 + k) on ties, no overflow at 900");
}

/* ---------------------------------------------------------- sampling */

typedef struct DrawJob
{
	int32_t	   *pos;
	int32_t	   *neg;
	float	   *mask;
} DrawJob;

enum
{
SN = 1000, SK = 4, SDIM = 8};

/* Rows [begin, end) of a batch's negatives and dropout mask */
static void
draw_work(void *arg, int64_t begin, int64_t end, int thread)
{
	DrawJob    *j = arg;

	(void) thread;
	nn_sample_negatives((int) (end - begin), SK, j->pos + begin, 50, 5, 9, begin,
						j->neg + begin * SK);
	nn_dropout_mask(j->mask + begin * SDIM, (size_t) (end - begin) * SDIM, 0.5f,
					5, 9, (uint64_t) begin * SDIM);
}

static int64_t
draw_cut(void *arg, int64_t begin, int64_t end)
{
	(void) arg;
	return begin + 37 < end ? begin + 37 : end;
}

/* Negatives avoid the positive, cover the catalogue, and match across threads */
static void
test_sampling(void)
{
	int32_t	   *pos = malloc(sizeof(int32_t) * SN);
	int32_t	   *neg1 = malloc(sizeof(int32_t) * SN * SK);
	int32_t	   *neg2 = malloc(sizeof(int32_t) * SN * SK);
	float	   *mask1 = malloc(sizeof(float) * SN * SDIM);
	float	   *mask2 = malloc(sizeof(float) * SN * SDIM);
	int			seen[50] = {0};
	int			hits = 0,
				ok = 1;
	DrawJob		j1 = {pos, neg1, mask1},
				j2 = {pos, neg2, mask2};
	WorkerJob	job1 = {0, SN, NULL, draw_work, &j1, NULL, NULL};
	WorkerJob	job2 = {0, SN, draw_cut, draw_work, &j2, NULL, NULL};

	for (int i = 0; i < SN; i++)
		pos[i] = i % 50;
	nn_sample_negatives(SN, SK, pos, 50, 5, 9, 0, neg1);
	for (int i = 0; i < SN * SK; i++)
	{
		hits += neg1[i] == pos[i / SK];
		ok &= neg1[i] >= 0 && neg1[i] < 50;
		seen[neg1[i] % 50]++;
	}
	check(hits == 0 && ok, "negatives: in range, never the positive");
	ok = 1;
	for (int i = 0; i < 50; i++)
		ok &= seen[i] > 40 && seen[i] < 130;	/* mean 80, sd 9 */
	check(ok, "negatives: spread over the whole catalogue");
	nn_sample_negatives(2, 3, (int32_t[]) {0, 1}, 2, 5, 9, 0, neg2);
	check(neg2[0] == 1 && neg2[2] == 1 && neg2[3] == 0 && neg2[5] == 0,
		  "negatives: a catalogue of two gives the other item");

	/* one thread, one item per piece vs two threads, pieces of 37 rows */
	workers_run(&job1, 1);
	workers_run(&job2, 2);
	check(memcmp(neg1, neg2, sizeof(int32_t) * SN * SK) == 0 &&
		  memcmp(mask1, mask2, sizeof(float) * SN * SDIM) == 0,
		  "negatives and dropout masks: same bits on 1 and 2 threads, any cut");
	free(pos);
	free(neg1);
	free(neg2);
	free(mask1);
	free(mask2);
}

/* -------------------------------------------------------- optimizers */

/* Two steps of p = 1 with gradients 0.5 then -0.25, lr 0.1 */
static void
two_steps(NnOptKind kind, double wd, double momentum, bool nesterov,
		  float out[2])
{
	float		w = 1.0f,
				g,
				m = 0.0f,
				v = 0.0f;
	NnTensor	t = {&w, &g, &m, &v, 1};
	NnOptim		o;
	float		grads[] = {0.5f, -0.25f};

	nn_optim_init(&o, kind, 0.1);
	o.weight_decay = wd;
	o.momentum = momentum;
	o.nesterov = nesterov;
	if (nn_optim_state(&o) < 2)
		t.v = NULL;
	if (nn_optim_state(&o) < 1)
		t.m = NULL;
	for (int s = 0; s < 2; s++)
	{
		g = grads[s];
		nn_optim_begin(&o);
		nn_optim_dense(&o, &t);
		out[s] = w;
	}
}

static int
near(float got, double want)
{
	return fabs(got - want) <= 1e-6 * fabs(want);
}

/*
 * Hand-computed steps.  Adam, step 1: m = 0.05, v = 0.00025, m^ = 0.5,
 * v^ = 0.25, p = 1 - 0.1 * 0.5 / (0.5 + 1e-8).  Step 2: m = 0.02,
 * v = 0.00031225, m^ = 0.02 / 0.19, v^ = 0.00031225 / 0.001999.
 * Adam's L2 adds 0.1 p to g; AdamW first scales p by 1 - 0.1 * 0.1.
 * SGD, momentum 0.9, decay 0.01: d = 0.51, p = 0.949; d = -0.24051,
 * buf = 0.21849, p = 0.927151 (Nesterov: p -= 0.1 (d + 0.9 buf)).
 */
static void
test_optimizers(void)
{
	float		p[2];

	two_steps(NN_ADAM, 0.0, 0.0, false, p);
	check(near(p[0], 0.9000000019999999) && near(p[1], 0.8733662987078462),
		  "adam: two steps as computed by hand");
	two_steps(NN_ADAM, 0.1, 0.0, false, p);
	check(near(p[0], 0.9000000016666666) && near(p[1], 0.8544413674617625),
		  "adam with L2 decay: two steps");
	two_steps(NN_ADAMW, 0.1, 0.0, false, p);
	check(near(p[0], 0.8900000019999998) && near(p[1], 0.8544662986878462),
		  "adamw (decoupled decay): two steps");
	two_steps(NN_SGD, 0.01, 0.9, false, p);
	check(near(p[0], 0.949) && near(p[1], 0.927151), "sgd with momentum and decay: two steps");
	two_steps(NN_SGD, 0.01, 0.9, true, p);
	check(near(p[0], 0.9031) && near(p[1], 0.90757411), "sgd with nesterov: two steps");
	{
		NnOptim		o;

		nn_optim_init(&o, NN_ADAMW, 0.001);
		check(o.beta1 == 0.9 && o.beta2 == 0.999 && o.eps == 1e-8 &&
			  o.weight_decay == 0.01, "adamw: torch's defaults");
	}
}

/*
 * Lazy rows: row 0 touched every step follows dense Adam bit for bit, row
 * 1 never touched stays as it was (moments too), row 2 touched only at
 * step 3 takes Adam's first step with its own count, and with the global
 * count the step-3 bias correction.
 */
static void
test_lazy(NnArena *a)
{
	enum
	{
	R = 3, D = 2};
	NnEmbedding e;
	int32_t		slot[R],
				touched[R];
	int64_t		steps[R] = {0};
	NnTensor	dense;
	NnTensor	first;
	float		init[R * D] = {0.3f, -0.2f, 0.7f, 0.1f, -0.5f, 0.4f};
	float		grads[3][D] = {{0.5f, -1.0f}, {0.25f, 0.125f}, {-0.75f, 2.0f}};
	float		row2[D];

	for (int mode = 0; mode < 2; mode++)
	{
		NnOptim		o,
					o1;
		int			same = 1;

		nn_optim_init(&o, NN_ADAMW, 0.05);
		nn_embedding_bind(&e, R, D, R, 2, a);
		nn_tensor_bind(&dense, D, 2, a);
		nn_tensor_bind(&first, D, 2, a);
		memcpy(e.table, init, sizeof(init));
		memcpy(dense.w, init, sizeof(float) * D);
		e.slot = slot;
		e.touched = touched;
		e.steps = mode ? NULL : steps;
		nn_embedding_clear(&e);
		for (int s = 0; s < 3; s++)
		{
			int32_t		ids[2] = {0, 2};

			nn_embedding_zero_grad(&e);
			nn_embedding_backward(&e, s == 2 ? 2 : 1, NULL, ids, NULL, grads[s], 0);
			memcpy(dense.g, grads[s], sizeof(float) * D);
			nn_optim_begin(&o);
			nn_optim_rows(&o, &e);
			nn_optim_dense(&o, &dense);
			same &= memcmp(e.table, dense.w, sizeof(float) * D) == 0;
		}
		check(same, "lazy adamw: a row touched every step follows dense adamw bit for bit");
		check(memcmp(e.table + D, init + D, sizeof(float) * D) == 0 &&
			  e.m[D] == 0.0f && e.v[D + 1] == 0.0f,
			  "lazy adamw: an untouched row and its moments stay as they were");

		/* row 2 saw gradient grads[2] (dout row of the batch is reused) once */
		memcpy(first.w, init + 2 * D, sizeof(row2));
		memcpy(first.g, grads[2], sizeof(row2));
		nn_optim_init(&o1, NN_ADAMW, 0.05);
		o1.step = mode ? 2 : 0;
		nn_optim_begin(&o1);
		nn_optim_dense(&o1, &first);
		memcpy(row2, e.table + 2 * D, sizeof(row2));
		check(memcmp(row2, first.w, sizeof(row2)) == 0,
			  mode ? "sparse adamw with the global count: step 3's correction"
			  : "lazy adamw with per-row counts: a late row takes a first step");
		if (!mode)
			check(steps[0] == 3 && steps[1] == 0 && steps[2] == 1, "lazy adamw: per-row step counts");
	}
}

/* ------------------------------------------------------------ recnet */

enum
{
RU = 5, RI = 7, RUB = 6, RIB = 5, RD = 3, RCAP = 16, RN = 4, RK = 2};

/* Feature tokens: a repeated token, empty rows, a row past the table */
static const int64_t ru_ptr[] = {0, 0, 2, 3, 6, 6};
static const int32_t ru_ids[] = {0, 3, 5, 1, 1, 4};
static const int64_t ri_ptr[] = {0, 0, 1, 3, 4, 7, 7};
static const int32_t ri_ids[] = {0, 2, 4, 1, 3, 0, 2};
static const RnFeatures rn_uf = {5, ru_ptr, ru_ids};
static const RnFeatures rn_if = {6, ri_ptr, ri_ids};	/* item 6 has none */
static const int32_t rn_users[RN] = {1, 3, 2, 3};
static const int32_t rn_items[RN] = {2, 4, 6, 1};
static const float rn_targets[RN] = {4.0f, 1.0f, 5.0f, 3.0f};

typedef struct RecCase
{
	RnNet		net;
	float	   *block;
	size_t		cap;
	RnTrain		t;
	NnOptim		sgd0;			/* lr 0: a step only computes gradients */
} RecCase;

/* The recnet cases run twice: the dot product of the ids alone, then with features */
static bool rec_feature_dot;

/* A 4-3-... network: dim 3, hidden [5, 4], GELU (smooth for differences) */
static void
rec_make(RecCase *c, uint64_t seed)
{
	RnShape		s = {RU, RI, RUB, RIB, RD, 2, {5, 4}, NN_GELU, rec_feature_dot};
	NnArena		a = {NULL, 0, 0};
	NnRng		r = {seed};

	rn_bind(&c->net, &s, RCAP, 2, &a);
	c->cap = a.used;
	c->block = calloc(c->cap, sizeof(float));
	a = (NnArena) {c->block, c->cap, 0};
	rn_bind(&c->net, &s, RCAP, 2, &a);
	rn_clear(&c->net);
	rn_init(&c->net, 3.0f, 0.5f, &r);
	fill(c->net.user_bias.table, RU, -0.5f, 0.5f, &r);
	fill(c->net.item_bias.table, RI, -0.5f, 0.5f, &r);
	memset(&c->t, 0, sizeof(c->t));
	c->t.negatives = RK;
	c->t.seed = 9;
	nn_optim_init(&c->sgd0, NN_SGD, 0.0);
}

static double
rec_J(void *ctx)
{
	RecCase    *c = ctx;

	return rn_step(&c->net, &c->t, &c->sgd0, RN, rn_users, rn_items, rn_targets,
				   &rn_uf, &rn_if, 5);
}

/* An embedding's compact gradient as a dense table (malloc'd) */
static float *
dense_grad(const NnEmbedding *e)
{
	float	   *d = calloc((size_t) e->rows * e->dim, sizeof(float));

	nn_embedding_grad_dense(e, d);
	return d;
}

/* Every entry under 1e-6: a gradient that is zero up to rounding */
static bool
zero_grad(const float *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fabsf(g[i]) > 1e-6f)
			return false;
	return true;
}

/* A loss's name in a recnet check, with the variant that runs */
static const char *
rec_loss_name(RnLoss loss)
{
	static const char *names[2][3] = {{"mse", "bce", "bpr"},
	{"mse feature_dot", "bce feature_dot", "bpr feature_dot"}};

	return names[rec_feature_dot][loss];
}

/*
 * The n embedding tables against finite differences of J, each checked
 * as "label: name"; table cancels (-1: none) must have a zero gradient
 * instead (BPR's user bias)
 */
static void
rec_check_tables(Objective J, RecCase *c, NnEmbedding **tab, const char *const *name,
				 int n, const char *label, int cancels)
{
	char		what[128];

	for (int k = 0; k < n; k++)
	{
		float	   *g;

		J(c);					/* the gradient at the unperturbed point */
		g = dense_grad(tab[k]);
		snprintf(what, sizeof(what), "%s: %s", label, name[k]);
		if (k == cancels)
			check(zero_grad(g, tab[k]->rows * tab[k]->dim),
				  "recnet bpr: the user's bias cancels in the differences");
		else
			grad_check(J, c, tab[k]->table, g, (size_t) tab[k]->rows * tab[k]->dim, what);
		free(g);
	}
}

/*
 * The mlp's weights and biases against finite differences of J, each
 * checked as "label: layer L W|b"; with bias_cancels the output bias must
 * have a zero gradient instead (BPR)
 */
static void
rec_check_layers(Objective J, RecCase *c, const char *label, bool bias_cancels)
{
	NnTensor   *params[2 * NN_MLP_MAX_LAYERS];
	int			np = nn_mlp_params(&c->net.mlp, params);
	char		what[128];

	for (int p = 0; p < np; p++)
	{
		float	   *g = malloc(sizeof(float) * params[p]->n);

		J(c);
		memcpy(g, params[p]->g, sizeof(float) * params[p]->n);
		snprintf(what, sizeof(what), "%s: layer %d %s", label, p / 2, p % 2 ? "b" : "W");
		if (bias_cancels && p == np - 1)
			check(zero_grad(g, 1), "recnet bpr: the output bias cancels in the differences");
		else
			grad_check(J, c, params[p]->w, g, params[p]->n, what);
		free(g);
	}
}

/*
 * Finite differences of the whole network for one loss, every parameter
 * kind, dropout and unknown ids off; Richardson with h = 0.1 (the float
 * noise of a 3-wide net's loss swamps plain differences at 5e-3 for the
 * feature tables, whose gradients are small), worst measured 4e-4.  Under
 * BPR the user's and the output's biases cancel: their gradients must be 0.
 */
static void
test_recnet_grad(RnLoss loss)
{
	RecCase    *c = calloc(1, sizeof(RecCase));
	NnEmbedding *tab[6];
	const char *tname[] = {"user ids", "item ids", "user biases", "item biases",
	"user features", "item features"};
	char		label[64];
	char		what[96];

	rec_make(c, 31);
	richardson = true;
	grad_h = 0.1f;
	c->t.loss = loss;
	if (loss != RN_MSE)
		c->net.mean = 0.0f;
	tab[0] = &c->net.user;
	tab[1] = &c->net.item;
	tab[2] = &c->net.user_bias;
	tab[3] = &c->net.item_bias;
	tab[4] = &c->net.user_feat;
	tab[5] = &c->net.item_feat;
	snprintf(label, sizeof(label), "recnet %s", rec_loss_name(loss));
	rec_check_tables(rec_J, c, tab, tname, 6, label, loss == RN_BPR ? 2 : -1);
	rec_check_layers(rec_J, c, label, loss == RN_BPR);

	/* L2 adds l2 w to exactly the touched rows' gradients */
	{
		float	   *g0,
				   *g1;
		int			ok = 1;

		rec_J(c);
		g0 = dense_grad(&c->net.user_feat);
		c->t.l2 = 0.25f;
		rec_J(c);
		g1 = dense_grad(&c->net.user_feat);
		for (int32_t r = 0; r < RUB; r++)
			for (int j = 0; j < RD; j++)
			{
				float		w = c->net.user_feat.table[r * RD + j];
				bool		hit = c->net.user_feat.slot[r] >= 0;
				float		want = g0[r * RD + j] + (hit ? 0.25f * w : 0.0f);

				ok &= fabsf(g1[r * RD + j] - want) <= 1e-6f;
			}
		snprintf(what, sizeof(what), "recnet %s: l2 reaches the touched rows only",
				 rec_loss_name(loss));
		check(ok && c->net.user_feat.slot[2] < 0, what);
		free(g0);
		free(g1);
	}
	richardson = false;
	grad_h = GRAD_H;
	free(c->block);
	free(c);
}

/*
 * The per-example L2 terms: rn_step's loss leaves them out, so the
 * objective adds them from the rows the step used (its id rows, negatives
 * included, are left in the net): mean over rows of l2_id (|p_u|^2 +
 * |q_i|^2) + l2_bias (b_u^2 + b_i^2), plus l2_layers / 2 |W|^2.
 */
static double
rec_l2_J(void *ctx)
{
	RecCase    *c = ctx;
	RnNet	   *net = &c->net;
	double		loss = rec_J(c);
	double		pen = 0.0;
	int			rows = RN * (c->t.loss == RN_MSE ? 1 : 1 + RK);
	NnTensor   *params[2 * NN_MLP_MAX_LAYERS];
	int			np = nn_mlp_params(&net->mlp, params);

	for (int r = 0; r < rows; r++)
	{
		const float *p = net->user.table + net->user_ids[r] * RD;
		const float *q = net->item.table + net->item_ids[r] * RD;
		double		bu = net->user_bias.table[net->user_ids[r]];
		double		bi = net->item_bias.table[net->item_ids[r]];

		for (int j = 0; j < RD; j++)
			pen += c->t.l2_id * ((double) p[j] * p[j] + (double) q[j] * q[j]);
		pen += c->t.l2_bias * (bu * bu + bi * bi);
	}
	pen /= rows;
	for (int k = 0; k < np; k++)
		for (size_t i = 0; i < params[k]->n; i++)
			pen += 0.5 * c->t.l2_layers * (double) params[k]->w[i] * params[k]->w[i];
	return loss + pen;
}

/*
 * l2_id, l2_bias and l2_layers against finite differences of the loss
 * with those terms, for one loss; l2 is set too, and must then reach
 * neither the id nor the bias tables (they are replaced).
 */
static void
test_recnet_l2(RnLoss loss)
{
	RecCase    *c = calloc(1, sizeof(RecCase));
	NnEmbedding *tab[4];
	const char *tname[] = {"user ids", "item ids", "user biases", "item biases"};
	char		label[64];

	rec_make(c, 37);
	richardson = true;
	grad_h = 0.1f;
	c->t.loss = loss;
	c->t.l2 = 0.25f;
	c->t.l2_id = 0.3f;
	c->t.l2_bias = 0.2f;
	c->t.l2_layers = 0.1f;
	if (loss != RN_MSE)
		c->net.mean = 0.0f;
	tab[0] = &c->net.user;
	tab[1] = &c->net.item;
	tab[2] = &c->net.user_bias;
	tab[3] = &c->net.item_bias;
	snprintf(label, sizeof(label), "recnet %s with per-example l2", rec_loss_name(loss));
	rec_check_tables(rec_l2_J, c, tab, tname, 4, label, -1);
	snprintf(label, sizeof(label), "recnet %s with l2_layers", rec_loss_name(loss));
	rec_check_layers(rec_l2_J, c, label, false);
	richardson = false;
	grad_h = GRAD_H;
	free(c->block);
	free(c);
}

/* The network's loss on one user's items, from serving's scores */
static double
fold_loss(RecCase *c, const float *side, float bias, int n,
		  const int32_t *items, const float *targets, const float *sides,
		  const float *P, float *scratch)
{
	float		h[8],
				y[RI];
	double		sum = 0.0;

	rn_user_side(&c->net.mlp, RD, side, h);
	rn_score(&c->net.mlp, &c->net.shape, c->net.mean, side, bias, h, RI, sides,
			 c->net.item_bias.table, P, y, scratch);
	for (int i = 0; i < n; i++)
		sum += (y[items[i]] - targets[i]) * (y[items[i]] - targets[i]);
	return sum / n;
}

/* The MSE of one item on its customers (rows of usides), from serving */
static double
item_loss(RecCase *c, const int32_t *cust, const float *ct, int n, const float *usides,
		  const float *ubias, const float *item, float ib, float *scratch)
{
	float		P1[5],
				h1[5],
				y1;
	double		sum = 0.0;

	rn_item_side(&c->net.mlp, RD, 1, item, P1);
	for (int r = 0; r < n; r++)
	{
		rn_user_side(&c->net.mlp, RD, usides + cust[r] * 2 * RD, h1);
		rn_score(&c->net.mlp, &c->net.shape, c->net.mean, usides + cust[r] * 2 * RD, ubias[cust[r]],
				 h1, 1, item, &ib, P1, &y1, scratch);
		sum += (y1 - ct[r]) * (y1 - ct[r]);
	}
	return sum / n;
}

/*
 * Serving equals rn_predict; the fold-in's gradient is training's for the
 * user's row; folding lowers the user's loss and touches nothing else.
 */
static void
test_recnet_serving(void)
{
	RecCase    *c = calloc(1, sizeof(RecCase));
	NnOptim		adam;
	float		sides[RI * 2 * RD],
				P[RI * 5],
				side[2 * RD],
				h[5],
				y[RI],
				yp[RI];
	float	   *scratch;
	int32_t		us[RI],
				its[RI];
	double		worst = 0.0;
	char		what[128];

	rec_make(c, 47);
	scratch = malloc(sizeof(float) * rn_score_floats(&c->net.mlp, RD));
	c->t.loss = RN_MSE;
	c->t.dropout = 0.2f;
	c->t.unknown_rate = 0.3f;
	c->t.l2 = 0.01f;
	nn_optim_init(&adam, NN_ADAM, 0.05);
	for (int s = 0; s < 30; s++)
		rn_step(&c->net, &c->t, &adam, RN, rn_users, rn_items, rn_targets,
				&rn_uf, &rn_if, 100 + s);
	check(c->net.user_bias.table[0] != 0.0f || c->net.item_bias.table[0] != 0.0f,
		  "recnet: unknown_rate trains row 0");

	for (int32_t j = 0; j < RI; j++)
	{
		rn_side_vector(&c->net, false, j, &rn_if, sides + j * 2 * RD);
		its[j] = j;
	}
	rn_item_side(&c->net.mlp, RD, RI, sides, P);
	for (int32_t u = 0; u < RU; u++)
	{
		rn_side_vector(&c->net, true, u, &rn_uf, side);
		rn_user_side(&c->net.mlp, RD, side, h);
		rn_score(&c->net.mlp, &c->net.shape, c->net.mean, side, c->net.user_bias.table[u], h,
				 RI, sides, c->net.item_bias.table, P, y, scratch);
		for (int j = 0; j < RI; j++)
			us[j] = u;
		rn_predict(&c->net, RI, us, its, &rn_uf, &rn_if, yp);
		for (int j = 0; j < RI; j++)
			if (fabs(y[j] - yp[j]) / (1.0 + fabs(yp[j])) > worst)
				worst = fabs(y[j] - yp[j]) / (1.0 + fabs(yp[j]));
	}
	snprintf(what, sizeof(what), "recnet%s: rn_score equals rn_predict (worst %.1e)",
			 rec_feature_dot ? " feature_dot" : "", worst);
	check(worst < 1e-6, what);

	/* one fold step of lr 1 is minus training's gradient of the user's row */
	for (int loss = RN_MSE; loss <= RN_BPR; loss++)
	{
		int32_t		u = 2;
		int32_t		uu[RN] = {u, u, u, u};
		float		bias = c->net.user_bias.table[u];
		float	   *fs = malloc(sizeof(float) * rn_fold_floats(&c->net.mlp, RD, RN, RK));
		float	   *g;
		double		gap = 0.0,
					scale = 0.0;

		c->t.loss = loss;
		c->t.dropout = 0.0f;
		c->t.unknown_rate = 0.0f;
		c->t.l2 = 0.0f;
		/* per-example L2 on p_u and b_u: the fold must take training's */
		c->t.l2_id = 0.2f;
		c->t.l2_bias = 0.1f;
		rn_step(&c->net, &c->t, &c->sgd0, RN, uu, rn_items, rn_targets, &rn_uf, &rn_if, 77);
		g = dense_grad(&c->net.user);
		rn_side_vector(&c->net, true, u, &rn_uf, side);
		rn_fold_user(&c->net.mlp, &c->net.shape, c->net.mean, &c->t, 1, 1.0f, RN, rn_items,
					 rn_targets, RI, sides, c->net.item_bias.table, side, &bias, 77, fs);
		for (int j = 0; j < RD; j++)
		{
			double		want = c->net.user.table[u * RD + j] - g[u * RD + j];

			gap = fmax(gap, fabs(side[j] - want));
			scale = fmax(scale, fabs(g[u * RD + j]));
		}
		gap = fmax(gap, fabs(bias - c->net.user_bias.table[u] +
							 c->net.user_bias.grad[c->net.user_bias.slot[u]]));
		snprintf(what, sizeof(what), "recnet fold-in: a step is training's gradient (%s%s, gap %.1e of %.1e)",
				 loss == RN_MSE ? "mse" : loss == RN_BCE ? "bce" : "bpr",
				 rec_feature_dot ? " feature_dot" : "", gap, scale);
		check(scale > 1e-4 && gap < 1e-5 * fmax(1.0, scale), what);
		free(g);
		free(fs);
	}
	c->t.l2_id = 0.0f;
	c->t.l2_bias = 0.0f;

	/* twenty steps lower the user's loss, and nothing but the user moves */
	{
		int32_t		u = 2;
		float	   *before = malloc(sizeof(float) * c->cap);
		float	   *fs = malloc(sizeof(float) * rn_fold_floats(&c->net.mlp, RD, RN, 0));
		float		sides0[RI * 2 * RD];
		float		bias = c->net.user_bias.table[u];
		float		f0[RD];
		double		l0,
					l1;

		c->t.loss = RN_MSE;
		c->t.l2 = 0.01f;
		memcpy(before, c->block, sizeof(float) * c->cap);
		memcpy(sides0, sides, sizeof(sides));
		rn_side_vector(&c->net, true, u, &rn_uf, side);
		memcpy(f0, side + RD, sizeof(f0));
		l0 = fold_loss(c, side, bias, RN, rn_items, rn_targets, sides, P, scratch);
		rn_fold_user(&c->net.mlp, &c->net.shape, c->net.mean, &c->t, 20, 0.05f, RN, rn_items,
					 rn_targets, RI, sides, c->net.item_bias.table, side, &bias, 1, fs);
		l1 = fold_loss(c, side, bias, RN, rn_items, rn_targets, sides, P, scratch);
		snprintf(what, sizeof(what), "recnet fold-in: the user's loss falls (%.4f to %.4f)", l0, l1);
		check(l1 < 0.9 * l0, what);
		check(memcmp(before, c->block, sizeof(float) * c->cap) == 0 &&
			  memcmp(sides0, sides, sizeof(sides)) == 0 &&
			  memcmp(f0, side + RD, sizeof(f0)) == 0,
			  "recnet fold-in: network, item sides and the user's features untouched");
		free(before);
		free(fs);
	}

	/* the item side: twenty steps lower item 2's loss on its customers */
	{
		static const int32_t cust[3] = {1, 2, 4};
		static const float ct[3] = {5.0f, 1.0f, 4.0f};
		float	   *before = malloc(sizeof(float) * c->cap);
		float	   *fs = malloc(sizeof(float) * rn_fold_floats(&c->net.mlp, RD, 3, 0));
		float		usides[RU * 2 * RD];
		float		ubias[RU];
		float		item[2 * RD];
		float		ib = c->net.item_bias.table[2];
		float		f0[RD];
		double		loss[2];

		for (int u = 0; u < RU; u++)
		{
			rn_side_vector(&c->net, true, u, &rn_uf, usides + u * 2 * RD);
			ubias[u] = c->net.user_bias.table[u];
		}
		rn_side_vector(&c->net, false, 2, &rn_if, item);
		memcpy(f0, item + RD, sizeof(f0));
		memcpy(before, c->block, sizeof(float) * c->cap);
		c->t.l2 = 0.0f;
		{
			/* one step at lr 1 from a copy is minus the gradient: check it */
			float		q[2 * RD];
			float		b1 = ib;
			double		gap = 0.0,
						scale = 0.0;

			memcpy(q, item, sizeof(q));
			rn_fold_item(&c->net.mlp, &c->net.shape, c->net.mean, &c->t, 1, 1.0f, 3, cust, ct,
						 RU, usides, ubias, q, &b1, 2, fs);
			for (int j = 0; j <= RD; j++)
			{
				float		plus[2 * RD],
							minus[2 * RD];
				float		bp = ib,
							bm = ib;
				double		fd;
				double		step = j < RD ? item[j] - q[j] : ib - b1;

				memcpy(plus, item, sizeof(plus));
				memcpy(minus, item, sizeof(minus));
				if (j < RD)
				{
					plus[j] += 1e-2f;
					minus[j] -= 1e-2f;
				}
				else
				{
					bp += 1e-2f;
					bm -= 1e-2f;
				}
				fd = (item_loss(c, cust, ct, 3, usides, ubias, plus, bp, scratch) -
					  item_loss(c, cust, ct, 3, usides, ubias, minus, bm, scratch)) / 2e-2;
				gap = fmax(gap, fabs(fd - step));
				scale = fmax(scale, fabs(fd));
			}
			snprintf(what, sizeof(what), "recnet item fold-in%s: a step is the finite-difference gradient (gap %.1e of %.1e)",
					 rec_feature_dot ? " feature_dot" : "", gap, scale);
			check(scale > 1e-3 && gap < 1e-3 * fmax(1.0, scale), what);
		}
		loss[0] = item_loss(c, cust, ct, 3, usides, ubias, item, ib, scratch);
		rn_fold_item(&c->net.mlp, &c->net.shape, c->net.mean, &c->t, 20, 0.05f, 3, cust, ct,
					 RU, usides, ubias, item, &ib, 2, fs);
		loss[1] = item_loss(c, cust, ct, 3, usides, ubias, item, ib, scratch);
		snprintf(what, sizeof(what), "recnet item fold-in: the item's loss falls (%.4f to %.4f)",
				 loss[0], loss[1]);
		check(loss[1] < 0.9 * loss[0], what);
		check(memcmp(before, c->block, sizeof(float) * c->cap) == 0 &&
			  memcmp(f0, item + RD, sizeof(f0)) == 0,
			  "recnet item fold-in: network and the item's features untouched");
		free(before);
		free(fs);
	}
	free(scratch);
	free(c->block);
	free(c);
}

/* Training with every random draw on, twice from one seed: the same bits */
static void
test_recnet_determinism(void)
{
	RecCase    *c[3];

	for (int k = 0; k < 3; k++)
	{
		NnOptim		adam;

		c[k] = calloc(1, sizeof(RecCase));
		rec_make(c[k], 5);
		c[k]->t.loss = RN_BCE;
		c[k]->t.dropout = 0.3f;
		c[k]->t.unknown_rate = 0.3f;
		c[k]->t.l2 = 0.01f;
		c[k]->t.seed = k < 2 ? 9 : 10;
		nn_optim_init(&adam, NN_ADAM, 0.01);
		for (int s = 0; s < 20; s++)
			rn_step(&c[k]->net, &c[k]->t, &adam, RN, rn_users, rn_items, NULL,
					&rn_uf, &rn_if, s);
	}
	check(memcmp(c[0]->block, c[1]->block, sizeof(float) * c[0]->cap) == 0,
		  "recnet: two runs from one seed are bit-identical");
	check(memcmp(c[0]->net.user.table, c[2]->net.user.table, sizeof(float) * RU * RD) != 0,
		  "recnet: another seed draws other negatives, masks and unknowns");
	check(isnan(rn_step(&c[0]->net, &c[0]->t, &c[0]->sgd0, RCAP, rn_users, rn_items,
						NULL, &rn_uf, &rn_if, 0)),
		  "recnet: a batch over batch_cap (negatives included) is refused");
	for (int k = 0; k < 3; k++)
	{
		free(c[k]->block);
		free(c[k]);
	}
}

/* FNV-1a 64 of the bytes mod buckets: published test vectors */
static void
test_recnet_hash(void)
{
	int			ok = 1;

	check(rn_hash("", 0, 1000) == 37 && rn_hash("a", 1, 1000) == 996 &&
		  rn_hash("foobar", 6, 1000) == 968 &&
		  rn_hash("foobar", 6, 2147483647) == 39971534,
		  "rn_hash: FNV-1a 64 (0xcbf29ce484222325, 0xaf63dc4c8601ec8c, 0x85944171f73967e8)");
	for (int i = 0; i < 1000; i++)
	{
		char		tok[16];
		int			len = snprintf(tok, sizeof(tok), "t%d", i);
		int32_t		b = rn_hash(tok, len, 7);

		ok &= b >= 0 && b < 7;
	}
	check(ok, "rn_hash: buckets in range");
}

/* ------------------------------------------------------- end to end */

enum
{
TN = 500, TB = 10, TEPOCHS = 100};

/* y = sin(x0 + x1) + x2 x3 + 0.5 x4 - x5^2 on U(-1, 1)^10 (x6..x9 noise features) */
static void
regression_data(float *X, float *y, NnRng *r)
{
	fill(X, TN * 10, -1, 1, r);
	for (int i = 0; i < TN; i++)
	{
		const float *x = X + i * 10;

		y[i] = sinf(x[0] + x[1]) + x[2] * x[3] + 0.5f * x[4] - x[5] * x[5];
	}
}

/*
 * The seed's network: 10-10-10-1 with sigmoid hidden units, MSE, Adam lr
 * 0.01, batch 10, 100 epochs, examples shuffled each epoch.  Returns the
 * final mean loss over the training set; the weights are left in *m.
 */
static double
train_seed_net(NnMlp *m, float *block, size_t cap, uint64_t seed,
			   const float *X, const float *y)
{
	int			sizes[] = {10, 10, 10, 1};
	NnArena		a = {block, cap, 0};
	NnTensor   *params[2 * NN_MLP_MAX_LAYERS];
	NnOptim		o;
	NnRng		r = {seed};
	int			order[TN];
	float		xb[TB * 10],
				yb[TB],
				dout[TB];
	int			np;
	double		loss = 0.0;

	nn_optim_init(&o, NN_ADAM, 0.01);
	nn_mlp_bind(m, 3, sizes, NN_SIGMOID, NN_IDENTITY, TN, nn_optim_state(&o), &a);
	nn_mlp_init(m, &r);
	np = nn_mlp_params(m, params);
	for (int i = 0; i < TN; i++)
		order[i] = i;
	for (int epoch = 0; epoch < TEPOCHS; epoch++)
	{
		for (int i = TN - 1; i > 0; i--)
		{
			int			j = (int) nn_below(nn_rng_next(&r), (uint32_t) i + 1);
			int			t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (int b = 0; b < TN; b += TB)
		{
			for (int i = 0; i < TB; i++)
			{
				memcpy(xb + i * 10, X + order[b + i] * 10, sizeof(float) * 10);
				yb[i] = y[order[b + i]];
			}
			for (int p = 0; p < np; p++)
				nn_tensor_zero_grad(params[p]);
			nn_loss_mse(TB, nn_mlp_forward(m, TB, xb, 10), yb, dout);
			nn_mlp_backward(m, TB, xb, 10, dout, NULL, 0);
			nn_optim_begin(&o);
			for (int p = 0; p < np; p++)
				nn_optim_dense(&o, params[p]);
		}
	}
	{
		float	   *d = malloc(sizeof(float) * TN);

		loss = nn_loss_mse(TN, nn_mlp_forward(m, TN, X, 10), y, d);
		free(d);
	}
	return loss;
}

/* Learns well past the mean predictor; the same seed gives the same bits */
static void
test_end_to_end(void)
{
	float	   *X = malloc(sizeof(float) * TN * 10);
	float	   *y = malloc(sizeof(float) * TN);
	NnArena		count = {NULL, 0, 0};
	NnMlp		m1,
				m2;
	int			sizes[] = {10, 10, 10, 1};
	float	   *b1,
			   *b2;
	double		mean = 0.0,
				var = 0.0,
				loss1,
				loss2;
	NnRng		r = {77};
	char		what[128];

	regression_data(X, y, &r);
	for (int i = 0; i < TN; i++)
		mean += y[i];
	mean /= TN;
	for (int i = 0; i < TN; i++)
		var += (y[i] - mean) * (y[i] - mean);
	var /= TN;

	nn_mlp_bind(&m1, 3, sizes, NN_SIGMOID, NN_IDENTITY, TN, 2, &count);
	b1 = calloc(count.used, sizeof(float));
	b2 = calloc(count.used, sizeof(float));
	loss1 = train_seed_net(&m1, b1, count.used, 1, X, y);
	snprintf(what, sizeof(what),
			 "10-10-10-1 with Adam: loss %.4f under a tenth of the mean predictor's %.4f",
			 loss1, var);
	check(loss1 < 0.1 * var, what);
	if (getenv("NN_VERBOSE"))
		printf("%s\n", what);
	loss2 = train_seed_net(&m2, b2, count.used, 1, X, y);
	{
		int			same = loss1 == loss2;

		for (int l = 0; l < 3; l++)
			same &= memcmp(m1.layer[l].W.w, m2.layer[l].W.w, sizeof(float) * m1.layer[l].W.n) == 0 &&
				memcmp(m1.layer[l].b.w, m2.layer[l].b.w, sizeof(float) * m1.layer[l].b.n) == 0;
		check(same, "training twice from one seed gives bit-identical weights");
	}
	train_seed_net(&m2, b2, count.used, 2, X, y);
	check(memcmp(m1.layer[0].W.w, m2.layer[0].W.w, sizeof(float) * m1.layer[0].W.n) != 0,
		  "another seed gives other weights");
	free(b1);
	free(b2);
	free(X);
	free(y);
}

int
main(void)
{
	/* one block for the small cases, counted generously */
	size_t		cap = 1 << 16;
	float	   *block = malloc(sizeof(float) * cap);
	NnArena		a = {block, cap, 0};
	NnRng		r = {2024};

	test_dense(&a, &r);
	test_activations(&r);
	test_layernorm(&a, &r);
	test_dropout(&r);
	test_embedding(&a, &r);
	test_mlp_grad(&a, &r);
	test_losses(&r);
	test_sampling();
	test_optimizers();
	test_lazy(&a);
	check(a.used <= a.cap, "the arena held every case");
	for (int fd = 0; fd < 2; fd++)
	{
		rec_feature_dot = fd;
		test_recnet_grad(RN_MSE);
		test_recnet_grad(RN_BCE);
		test_recnet_grad(RN_BPR);
		test_recnet_l2(RN_MSE);
		test_recnet_l2(RN_BCE);
		test_recnet_l2(RN_BPR);
		test_recnet_serving();
		test_recnet_determinism();
	}
	test_recnet_hash();
	test_end_to_end();
	printf("nn: worst passing gradient error %.2e (tolerance %.0e)\n", worst_grad, GRAD_TOL);
	printf("nn: %d passed, %d failed\n", passed, failed);
	free(block);
	return failed != 0;
}
