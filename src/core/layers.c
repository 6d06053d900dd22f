/*
 * layers.c - memory, initialisation and the dense layers of the neural
 * core: dense, activations, layer normalisation, dropout (see nn.h)
 */
#include "nn.h"

#include <math.h>
#include <string.h>

#include <cblas.h>
#undef I						/* complex.h, pulled in by cblas.h */

/* Pieces start on 16-float (64-byte) boundaries */
#define NN_ALIGN 16

float *
nn_take(NnArena *a, size_t n)
{
	size_t		start = a->used;

	a->used += (n + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
	if (a->base == NULL || a->used > a->cap)
		return NULL;
	return a->base + start;
}

void
nn_tensor_bind(NnTensor *t, size_t n, int nstate, NnArena *a)
{
	t->n = n;
	t->w = nn_take(a, n);
	t->g = nn_take(a, n);
	t->m = nstate >= 1 ? nn_take(a, n) : NULL;
	t->v = nstate >= 2 ? nn_take(a, n) : NULL;
	if (t->g)
		memset(t->g, 0, n * sizeof(float));
	if (t->m)
		memset(t->m, 0, n * sizeof(float));
	if (t->v)
		memset(t->v, 0, n * sizeof(float));
}

void
nn_tensor_zero_grad(NnTensor *t)
{
	memset(t->g, 0, t->n * sizeof(float));
}

void
nn_init_uniform(float *w, size_t n, float bound, NnRng *r)
{
	for (size_t i = 0; i < n; i++)
		w[i] = bound * (2.0f * nn_unit_float(nn_rng_next(r)) - 1.0f);
}

void
nn_init_normal(float *w, size_t n, float std, NnRng *r)
{
	/* Box-Muller on two uniforms in (0, 1) */
	for (size_t i = 0; i < n; i += 2)
	{
		double		u1 = ((double) (nn_rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
		double		u2 = ((double) (nn_rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
		double		rad = sqrt(-2.0 * log(u1));

		w[i] = (float) (std * rad * cos(2.0 * M_PI * u2));
		if (i + 1 < n)
			w[i + 1] = (float) (std * rad * sin(2.0 * M_PI * u2));
	}
}

void
nn_init_xavier_uniform(float *w, int out, int in, float gain, NnRng *r)
{
	nn_init_uniform(w, (size_t) out * in,
					gain * sqrtf(6.0f / (float) (in + out)), r);
}

void
nn_dense_bind(NnDense *d, int in, int out, int nstate, NnArena *a)
{
	d->in = in;
	d->out = out;
	nn_tensor_bind(&d->W, (size_t) out * in, nstate, a);
	nn_tensor_bind(&d->b, (size_t) out, nstate, a);
}

void
nn_dense_init(NnDense *d, NnRng *r)
{
	/* kaiming_uniform(a = sqrt(5)) reduces to this bound, as for the bias */
	float		bound = 1.0f / sqrtf((float) d->in);

	nn_init_uniform(d->W.w, d->W.n, bound, r);
	nn_init_uniform(d->b.w, d->b.n, bound, r);
}

void
nn_dense_forward(const NnDense *d, int batch, const float *X, int ldx, float *Y)
{
	/* bias rows first, then one sgemm adds X W' onto them */
	for (int i = 0; i < batch; i++)
		memcpy(Y + (size_t) i * d->out, d->b.w, d->out * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, d->out, d->in,
				1.0f, X, ldx, d->W.w, d->in, 1.0f, Y, d->out);
}

void
nn_dense_backward(NnDense *d, int batch, const float *X, int ldx,
				  const float *dY, float *dX, int lddx)
{
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d->out, d->in, batch,
				1.0f, dY, d->out, X, ldx, 1.0f, d->W.g, d->in);
	for (int i = 0; i < batch; i++)
	{
		const float *row = dY + (size_t) i * d->out;

		for (int j = 0; j < d->out; j++)
			d->b.g[j] += row[j];
	}
	if (dX)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, d->in,
					d->out, 1.0f, dY, d->out, d->W.w, d->in, 0.0f, dX, lddx);
}

void
nn_act_forward(NnAct f, size_t n, const float *x, float *y)
{
	switch (f)
	{
		case NN_IDENTITY:
			if (y != x)
				memmove(y, x, n * sizeof(float));
			break;
		case NN_RELU:
			for (size_t i = 0; i < n; i++)
				y[i] = x[i] > 0.0f ? x[i] : 0.0f;
			break;
		case NN_SIGMOID:
			for (size_t i = 0; i < n; i++)
				y[i] = 1.0f / (1.0f + expf(-x[i]));
			break;
		case NN_TANH:
			for (size_t i = 0; i < n; i++)
				y[i] = tanhf(x[i]);
			break;
		case NN_GELU:
			for (size_t i = 0; i < n; i++)
				y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float) M_SQRT1_2));
			break;
	}
}

void
nn_act_backward(NnAct f, size_t n, const float *x, const float *y, float *dy)
{
	/* 1 / sqrt(2 pi), the normal density's constant */
	const float inv_sqrt_2pi = 0.3989422804014327f;

	switch (f)
	{
		case NN_IDENTITY:
			break;
		case NN_RELU:
			/* a select rather than a branch: the loop vectorizes */
			for (size_t i = 0; i < n; i++)
				dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
			break;
		case NN_SIGMOID:
			for (size_t i = 0; i < n; i++)
				dy[i] *= y[i] * (1.0f - y[i]);
			break;
		case NN_TANH:
			for (size_t i = 0; i < n; i++)
				dy[i] *= 1.0f - y[i] * y[i];
			break;
		case NN_GELU:
			/* d/dx x Phi(x) = Phi(x) + x phi(x) */
			for (size_t i = 0; i < n; i++)
			{
				float		cdf = 0.5f * (1.0f + erff(x[i] * (float) M_SQRT1_2));
				float		pdf = inv_sqrt_2pi * expf(-0.5f * x[i] * x[i]);

				dy[i] *= cdf + x[i] * pdf;
			}
			break;
	}
}

void
nn_layernorm_bind(NnLayerNorm *ln, int n, int nstate, NnArena *a)
{
	ln->n = n;
	ln->eps = 1e-5f;
	nn_tensor_bind(&ln->gamma, (size_t) n, nstate, a);
	nn_tensor_bind(&ln->beta, (size_t) n, nstate, a);
}

void
nn_layernorm_init(NnLayerNorm *ln)
{
	ln->eps = 1e-5f;
	for (int j = 0; j < ln->n; j++)
	{
		ln->gamma.w[j] = 1.0f;
		ln->beta.w[j] = 0.0f;
	}
}

void
nn_layernorm_forward(const NnLayerNorm *ln, int batch, const float *X,
					 float *Y, float *xhat, float *rstd)
{
	int			n = ln->n;

	for (int i = 0; i < batch; i++)
	{
		const float *x = X + (size_t) i * n;
		float	   *y = Y + (size_t) i * n;
		float	   *h = xhat + (size_t) i * n;
		double		mean = 0.0;
		double		var = 0.0;
		float		r;

		/* two passes in double: no cancellation for rows far from 0 */
		for (int j = 0; j < n; j++)
			mean += x[j];
		mean /= n;
		for (int j = 0; j < n; j++)
			var += (x[j] - mean) * (x[j] - mean);
		var /= n;
		r = (float) (1.0 / sqrt(var + ln->eps));
		rstd[i] = r;
		for (int j = 0; j < n; j++)
		{
			h[j] = (float) (x[j] - mean) * r;
			y[j] = h[j] * ln->gamma.w[j] + ln->beta.w[j];
		}
	}
}

void
nn_layernorm_backward(NnLayerNorm *ln, int batch, const float *dY,
					  const float *xhat, const float *rstd, float *dX)
{
	int			n = ln->n;

	for (int i = 0; i < batch; i++)
	{
		const float *dy = dY + (size_t) i * n;
		const float *h = xhat + (size_t) i * n;
		float	   *dx = dX + (size_t) i * n;
		double		sum_g = 0.0;	/* sum of dxhat */
		double		sum_gh = 0.0;	/* sum of dxhat * xhat */
		float		mg,
					mgh;

		for (int j = 0; j < n; j++)
		{
			float		g = dy[j] * ln->gamma.w[j];

			ln->gamma.g[j] += dy[j] * h[j];
			ln->beta.g[j] += dy[j];
			sum_g += g;
			sum_gh += (double) g * h[j];
		}
		mg = (float) (sum_g / n);
		mgh = (float) (sum_gh / n);
		/* dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) */
		for (int j = 0; j < n; j++)
			dx[j] = rstd[i] * (dy[j] * ln->gamma.w[j] - mg - h[j] * mgh);
	}
}

void
nn_dropout_mask(float *mask, size_t n, float p, uint64_t seed, uint64_t stream,
				uint64_t first)
{
	float		keep = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;

	for (size_t i = 0; i < n; i++)
		mask[i] = nn_unit_float(nn_rand_at(seed, stream, first + i)) < p ? 0.0f : keep;
}

void
nn_dropout_apply(size_t n, const float *mask, float *x)
{
	for (size_t i = 0; i < n; i++)
		x[i] *= mask[i];
}
