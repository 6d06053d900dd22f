/*
 * nn_parity.c - the seed's case of issue 9, trained by the neural core and
 * written out so that bench/nn_parity.py can replay it in PyTorch
 *
 * Data (seeded by data_seed, the same for every training seed): 100
 * customers and 10 items, each with 5 observed standard-normal features.
 * The hidden rating is low rank in those features,
 *   r = 3 + s (c' P)(Q' d) + a' c + b' d + noise,
 * P and Q 5 x 2 (rank-2 interaction), a and b main effects, noise N(0, 0.5),
 * rounded and clipped to 1..5.  The input of a (customer, item) pair is its
 * 10 features side by side.  A seeded 20 % of the 1000 pairs is held out.
 *
 * Training (seeded by train_seed): 10-10-10-1, sigmoid hidden units,
 * identity output, MSE, Adam lr 0.01, batch 10, 100 epochs, the training
 * pairs reshuffled every epoch.
 *
 * Written to outdir, text with round-trip precision (%.9g for floats):
 *   X.txt        1000 rows of 10 inputs       y.txt      1000 targets
 *   train.txt    indices of the training rows test.txt   held-out indices
 *   init.txt     W1 b1 W2 b2 W3 b3 as initialised, torch's layout, one per line
 *   order.txt    per epoch, the positions in train.txt in batch order
 *   loss.txt     per epoch, the mean of the batch losses (%.17g)
 *   result.txt   test MSE of the model and of the mean predictor
 *
 * Build and run: make bench/nn_parity && bench/nn_parity outdir [train_seed] [data_seed]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/core/nn.h"

#define NCUST 100
#define NITEM 10
#define NF 5					/* features per customer and per item */
#define NIN (2 * NF)
#define NPAIR (NCUST * NITEM)
#define NTEST (NPAIR / 5)
#define NTRAIN (NPAIR - NTEST)
#define BATCH 10
#define EPOCHS 100

static FILE *
open_out(const char *dir, const char *name)
{
	char		path[4096];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
	{
		perror(path);
		exit(1);
	}
	return f;
}

static void
write_floats(FILE *f, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%.9g%c", x[i], i + 1 < n ? ' ' : '\n');
}

/* Fisher-Yates on the first n entries of p */
static void
shuffle(int *p, int n, NnRng *r)
{
	for (int i = n - 1; i > 0; i--)
	{
		int			j = (int) nn_below(nn_rng_next(r), (uint32_t) i + 1);
		int			t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
}

/* The seed's ratings and inputs; split[0..NTRAIN) train, the rest test */
static void
make_data(uint64_t seed, float *X, float *y, int *split)
{
	NnRng		r = {seed};
	float		cust[NCUST * NF],
				item[NITEM * NF],
				P[NF * 2],
				Q[NF * 2],
				a[NF],
				b[NF],
				noise[NPAIR];

	nn_init_normal(cust, NCUST * NF, 1.0f, &r);
	nn_init_normal(item, NITEM * NF, 1.0f, &r);
	/* scaled so each rank-2 factor has unit variance */
	nn_init_normal(P, NF * 2, 0.45f, &r);
	nn_init_normal(Q, NF * 2, 0.45f, &r);
	nn_init_normal(a, NF, 0.3f, &r);
	nn_init_normal(b, NF, 0.3f, &r);
	nn_init_normal(noise, NPAIR, 0.5f, &r);
	for (int c = 0; c < NCUST; c++)
		for (int i = 0; i < NITEM; i++)
		{
			const float *cf = cust + c * NF,
					   *df = item + i * NF;
			int			k = c * NITEM + i;
			double		v = 3.0,
						inter = 0.0;

			for (int q = 0; q < 2; q++)
			{
				double		cu = 0.0,
							du = 0.0;

				for (int f = 0; f < NF; f++)
				{
					cu += cf[f] * P[f * 2 + q];
					du += df[f] * Q[f * 2 + q];
				}
				inter += cu * du;
			}
			v += 0.8 * inter + noise[k];
			for (int f = 0; f < NF; f++)
				v += a[f] * cf[f] + b[f] * df[f];
			v = v < 1.0 ? 1.0 : v > 5.0 ? 5.0 : v;
			y[k] = (float) (int) (v + 0.5);
			memcpy(X + k * NIN, cf, sizeof(float) * NF);
			memcpy(X + k * NIN + NF, df, sizeof(float) * NF);
		}
	for (int k = 0; k < NPAIR; k++)
		split[k] = k;
	shuffle(split, NPAIR, &r);
}

int
main(int argc, char **argv)
{
	const char *dir;
	uint64_t	train_seed,
				data_seed;
	static float X[NPAIR * NIN],
				y[NPAIR],
				Xt[NTEST * NIN],
				yt[NTEST],
				dt[NTEST];
	int			split[NPAIR],
				order[NTRAIN];
	int			sizes[] = {NIN, 10, 10, 1};
	NnMlp		m;
	NnOptim		o;
	NnArena		a = {NULL, 0, 0};
	NnTensor   *params[2 * NN_MLP_MAX_LAYERS];
	int			np;
	NnRng		r;
	float		xb[BATCH * NIN],
				yb[BATCH],
				dout[BATCH];
	double		mean = 0.0,
				last = 0.0,
				mse_model,
				mse_mean = 0.0;
	FILE	   *f,
			   *forder,
			   *floss;

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s outdir [train_seed] [data_seed]\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	train_seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
	data_seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 2026;
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
	{
		perror(dir);
		return 1;
	}

	make_data(data_seed, X, y, split);
	f = open_out(dir, "X.txt");
	for (int k = 0; k < NPAIR; k++)
		write_floats(f, X + k * NIN, NIN);
	fclose(f);
	f = open_out(dir, "y.txt");
	write_floats(f, y, NPAIR);
	fclose(f);
	f = open_out(dir, "train.txt");
	for (int k = 0; k < NTRAIN; k++)
		fprintf(f, "%d\n", split[k]);
	fclose(f);
	f = open_out(dir, "test.txt");
	for (int k = NTRAIN; k < NPAIR; k++)
		fprintf(f, "%d\n", split[k]);
	fclose(f);

	/* count, allocate once, bind (nn.h) */
	nn_optim_init(&o, NN_ADAM, 0.01);
	nn_mlp_bind(&m, 3, sizes, NN_SIGMOID, NN_IDENTITY, NTEST, nn_optim_state(&o), &a);
	a.base = calloc(a.used, sizeof(float));
	a.cap = a.used;
	a.used = 0;
	nn_mlp_bind(&m, 3, sizes, NN_SIGMOID, NN_IDENTITY, NTEST, nn_optim_state(&o), &a);
	r.state = train_seed;
	nn_mlp_init(&m, &r);
	np = nn_mlp_params(&m, params);
	f = open_out(dir, "init.txt");
	for (int p = 0; p < np; p++)
		write_floats(f, params[p]->w, params[p]->n);
	fclose(f);

	forder = open_out(dir, "order.txt");
	floss = open_out(dir, "loss.txt");
	for (int k = 0; k < NTRAIN; k++)
		order[k] = k;
	for (int epoch = 0; epoch < EPOCHS; epoch++)
	{
		double		sum = 0.0;

		shuffle(order, NTRAIN, &r);
		for (int k = 0; k < NTRAIN; k++)
			fprintf(forder, "%d%c", order[k], k + 1 < NTRAIN ? ' ' : '\n');
		for (int s = 0; s < NTRAIN; s += BATCH)
		{
			for (int i = 0; i < BATCH; i++)
			{
				int			row = split[order[s + i]];

				memcpy(xb + i * NIN, X + row * NIN, sizeof(float) * NIN);
				yb[i] = y[row];
			}
			for (int p = 0; p < np; p++)
				nn_tensor_zero_grad(params[p]);
			sum += nn_loss_mse(BATCH, nn_mlp_forward(&m, BATCH, xb, NIN), yb, dout);
			nn_mlp_backward(&m, BATCH, xb, NIN, dout, NULL, 0);
			nn_optim_begin(&o);
			for (int p = 0; p < np; p++)
				nn_optim_dense(&o, params[p]);
		}
		last = sum / (NTRAIN / BATCH);
		fprintf(floss, "%.17g\n", last);
	}
	fclose(forder);
	fclose(floss);

	/* the bar compares with the mean of the training targets */
	for (int k = 0; k < NTRAIN; k++)
		mean += y[split[k]];
	mean /= NTRAIN;
	for (int k = 0; k < NTEST; k++)
	{
		int			row = split[NTRAIN + k];

		memcpy(Xt + k * NIN, X + row * NIN, sizeof(float) * NIN);
		yt[k] = y[row];
		mse_mean += (yt[k] - mean) * (yt[k] - mean);
	}
	mse_mean /= NTEST;
	mse_model = nn_loss_mse(NTEST, nn_mlp_forward(&m, NTEST, Xt, NIN), yt, dt);
	f = open_out(dir, "result.txt");
	fprintf(f, "test_mse %.9g\nmean_mse %.9g\n", mse_model, mse_mean);
	fclose(f);
	printf("reco: seed %llu, final train loss %.6f, test MSE %.4f, mean predictor %.4f, ratio %.3f\n",
		   (unsigned long long) train_seed, last, mse_model, mse_mean,
		   mse_model / mse_mean);
	free(a.base);
	return 0;
}
