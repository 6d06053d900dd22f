/*
 * loss.c - losses of the neural core and negative sampling (see nn.h)
 *
 * Sums run in double; each gradient is that of the mean loss.
 */
#include "nn.h"

#include <math.h>

/* log(1 + exp(x)) without overflow */
static inline double
softplus(double x)
{
	return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* 1 / (1 + exp(-x)) without overflow */
static inline double
sigmoid(double x)
{
	if (x >= 0.0)
		return 1.0 / (1.0 + exp(-x));
	else
	{
		double		z = exp(x);

		return z / (1.0 + z);
	}
}

double
nn_loss_mse(int n, const float *pred, const float *target, float *dpred)
{
	double		sum = 0.0;

	for (int i = 0; i < n; i++)
	{
		double		d = (double) pred[i] - target[i];

		sum += d * d;
		dpred[i] = (float) (2.0 * d / n);
	}
	return sum / n;
}

double
nn_loss_bce_logits(int n, const float *logit, const float *target,
				   const float *weight, float *dlogit)
{
	double		sum = 0.0;

	for (int i = 0; i < n; i++)
	{
		double		x = logit[i];
		double		t = target[i];
		double		w = weight ? weight[i] : 1.0;

		/* max(x, 0) - x t + log(1 + exp(-|x|)): no overflow either way */
		sum += w * ((x > 0.0 ? x : 0.0) - x * t + log1p(exp(-fabs(x))));
		dlogit[i] = (float) (w * (sigmoid(x) - t) / n);
	}
	return sum / n;
}

double
nn_loss_bpr(int n, int k, const float *pos, const float *neg, float *dpos,
			float *dneg)
{
	double		sum = 0.0;
	double		count = (double) n * k;

	for (int i = 0; i < n; i++)
	{
		double		dp = 0.0;

		for (int j = 0; j < k; j++)
		{
			double		diff = (double) pos[i] - neg[(size_t) i * k + j];
			/* -log sigmoid(d) = softplus(-d), whose derivative is -sigmoid(-d) */
			double		g = sigmoid(-diff) / count;

			sum += softplus(-diff);
			dp -= g;
			dneg[(size_t) i * k + j] = (float) g;
		}
		dpos[i] = (float) dp;
	}
	return sum / count;
}

double
nn_loss_sampled_softmax(int n, int k, const float *logits, float *dlogits)
{
	double		sum = 0.0;
	int			w = k + 1;

	for (int i = 0; i < n; i++)
	{
		const float *x = logits + (size_t) i * w;
		float	   *d = dlogits + (size_t) i * w;
		double		top = x[0];
		double		z = 0.0;

		for (int j = 1; j < w; j++)
			if (x[j] > top)
				top = x[j];
		for (int j = 0; j < w; j++)
			z += exp(x[j] - top);
		/* -log softmax[0] = logsumexp - x[0]; gradient softmax - onehot(0) */
		sum += top + log(z) - x[0];
		for (int j = 0; j < w; j++)
			d[j] = (float) ((exp(x[j] - top) / z - (j == 0 ? 1.0 : 0.0)) / n);
	}
	return sum / n;
}

/* Tries before a draw equal to the positive is kept anyway (p = 1/nitems each) */
#define NN_SAMPLE_TRIES 64

void
nn_sample_negatives(int n, int k, const int32_t *pos, int32_t nitems,
					uint64_t seed, uint64_t stream, int64_t first, int32_t *neg)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < k; j++)
		{
			uint64_t	draw = ((uint64_t) (first + i) * k + j) * NN_SAMPLE_TRIES;
			int32_t		c = (int32_t) nn_below(nn_rand_at(seed, stream, draw),
											   (uint32_t) nitems);

			for (int t = 1; t < NN_SAMPLE_TRIES && nitems > 1 && c == pos[i]; t++)
				c = (int32_t) nn_below(nn_rand_at(seed, stream, draw + t),
									   (uint32_t) nitems);
			if (nitems > 1 && c == pos[i])	/* p < 2^-63: step past it */
				c = (c + 1) % nitems;
			neg[(size_t) i * k + j] = c;
		}
}
