/*
 * optim.c - SGD, Adam and AdamW as torch.optim defines them, over dense
 * parameters and lazily over the touched rows of embeddings (see nn.h)
 *
 * The arithmetic follows torch's CPU kernels step for step (hyperparameters
 * and bias corrections in double, as Python floats, then used as float
 * scalars), so trajectories agree with torch's to float rounding.
 */
#include "nn.h"

#include <math.h>

void
nn_optim_init(NnOptim *o, NnOptKind kind, double lr)
{
	o->kind = kind;
	o->lr = lr;
	o->beta1 = 0.9;
	o->beta2 = 0.999;
	o->eps = 1e-8;
	o->weight_decay = kind == NN_ADAMW ? 0.01 : 0.0;
	o->momentum = 0.0;
	o->nesterov = false;
	o->step = 0;
}

int
nn_optim_state(const NnOptim *o)
{
	if (o->kind == NN_SGD)
		return o->momentum != 0.0 ? 1 : 0;
	return 2;
}

void
nn_optim_begin(NnOptim *o)
{
	o->step++;
}

/*
 * torch.optim.SGD, dampening 0: d = g + wd w; buf = momentum buf + d (buf
 * starts at zero, so its first value is d, as torch's clone); d = buf, or
 * d + momentum buf with Nesterov; w -= lr d.
 */
static void
sgd_update(const NnOptim *o, size_t n, float *w, const float *g, float *m)
{
	float		lr = (float) o->lr;
	float		wd = (float) o->weight_decay;
	float		mu = (float) o->momentum;

	for (size_t i = 0; i < n; i++)
	{
		float		d = g[i];

		if (wd != 0.0f)
			d += wd * w[i];
		if (m)
		{
			m[i] = mu * m[i] + d;
			d = o->nesterov ? d + mu * m[i] : m[i];
		}
		w[i] += -lr * d;
	}
}

/*
 * torch.optim.Adam / AdamW at step t (from 1):
 *   Adam:  g += wd w               AdamW: w *= 1 - lr wd
 *   m += (1 - beta1) (g - m)       (torch's lerp)
 *   v = beta2 v + (1 - beta2) g^2
 *   w += -lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 */
static void
adam_update(const NnOptim *o, int64_t t, size_t n, float *w, const float *g,
			float *m, float *v)
{
	double		bc1 = 1.0 - pow(o->beta1, (double) t);
	double		bc2 = 1.0 - pow(o->beta2, (double) t);
	float		step_size = (float) (-(o->lr / bc1));
	float		bc2_sqrt = (float) sqrt(bc2);
	float		b1 = (float) (1.0 - o->beta1);
	float		b2 = (float) o->beta2;
	float		b2c = (float) (1.0 - o->beta2);
	float		eps = (float) o->eps;
	float		wd = (float) o->weight_decay;
	float		shrink = (float) (1.0 - o->lr * o->weight_decay);
	bool		l2 = o->kind == NN_ADAM && o->weight_decay != 0.0;
	bool		decoupled = o->kind == NN_ADAMW && o->weight_decay != 0.0;

	for (size_t i = 0; i < n; i++)
	{
		float		gi = l2 ? g[i] + wd * w[i] : g[i];
		float		denom;

		if (decoupled)
			w[i] *= shrink;
		m[i] += b1 * (gi - m[i]);
		v[i] = v[i] * b2 + b2c * gi * gi;
		denom = sqrtf(v[i]) / bc2_sqrt + eps;
		w[i] += step_size * m[i] / denom;
	}
}

void
nn_optim_dense(const NnOptim *o, NnTensor *t)
{
	if (o->kind == NN_SGD)
		sgd_update(o, t->n, t->w, t->g, t->m);
	else
		adam_update(o, o->step, t->n, t->w, t->g, t->m, t->v);
}

void
nn_optim_rows(const NnOptim *o, NnEmbedding *e)
{
	size_t		dim = (size_t) e->dim;

	for (int32_t k = 0; k < e->ntouched; k++)
	{
		size_t		at = (size_t) e->touched[k] * dim;
		const float *g = e->grad + (size_t) k * dim;

		if (o->kind == NN_SGD)
			sgd_update(o, dim, e->table + at, g, e->m ? e->m + at : NULL);
		else
		{
			int64_t		t = e->steps ? ++e->steps[e->touched[k]] : o->step;

			adam_update(o, t, dim, e->table + at, g, e->m + at, e->v + at);
		}
	}
}
