/*
 * nn_bench.c - time an epoch of the neural core on MovieLens u1.base
 *
 * The shape the 'mlp' family will train: a user and an item embedding (64
 * each) side by side as a 128-wide input, dense [128, 64] with ReLU, one
 * logit, BCE with logits over each rating and nneg sampled negatives,
 * Adam on the dense layers and lazy Adam on the touched embedding rows,
 * batches of 256 rows.  One thread (the serial OpenBLAS).
 *
 * Build and run: make bench/nn_bench && bench/nn_bench [u1.base] [nneg] [epochs]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/core/nn.h"

#define BATCH 256
#define DIM 64

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Bind a table of rows x DIM with its int arrays; count only when a->base is NULL */
static void
bind_table(NnEmbedding *e, int32_t rows, NnArena *a, NnRng *r)
{
	nn_embedding_bind(e, rows, DIM, BATCH, 2, a);
	if (a->base == NULL)
		return;
	e->slot = malloc(sizeof(int32_t) * rows);
	e->touched = malloc(sizeof(int32_t) * BATCH);
	e->steps = calloc(rows, sizeof(int64_t));
	nn_embedding_clear(e);
	nn_init_normal(e->table, (size_t) rows * DIM, 0.1f, r);
}

int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "../shared/data/movielens-100k/u1.base";
	int			nneg = argc > 2 ? atoi(argv[2]) : 4;
	int			epochs = argc > 3 ? atoi(argv[3]) : 3;
	FILE	   *f = fopen(path, "r");
	int32_t    *users = malloc(sizeof(int32_t) * 200000);
	int32_t    *items = malloc(sizeof(int32_t) * 200000);
	int			n = 0,
				u,
				i,
				rating;
	long		ts;
	int32_t		nusers = 0,
				nitems = 0;
	int			sizes[] = {2 * DIM, 128, 64, 1};
	NnMlp		m;
	NnEmbedding eu,
				ei;
	NnArena		a = {NULL, 0, 0};
	NnRng		r = {1};
	NnOptim		o;
	NnTensor   *params[2 * NN_MLP_MAX_LAYERS];
	int			np;
	float		X[BATCH * 2 * DIM],
				dX[BATCH * 2 * DIM],
				target[BATCH],
				dlogit[BATCH];
	int32_t		bu[BATCH],
				bi[BATCH],
				neg[BATCH * 16];
	int64_t		rows;

	if (!f)
	{
		perror(path);
		return 1;
	}
	while (n < 200000 && fscanf(f, "%d %d %d %ld", &u, &i, &rating, &ts) == 4)
	{
		users[n] = u;
		items[n] = i;
		nusers = u + 1 > nusers ? u + 1 : nusers;
		nitems = i + 1 > nitems ? i + 1 : nitems;
		n++;
	}
	fclose(f);
	nn_optim_init(&o, NN_ADAM, 0.001);
	for (int pass = 0; pass < 2; pass++)
	{
		bind_table(&eu, nusers, &a, &r);
		bind_table(&ei, nitems, &a, &r);
		nn_mlp_bind(&m, 3, sizes, NN_RELU, NN_IDENTITY, BATCH, 2, &a);
		if (pass == 0)
			a = (NnArena) {aligned_alloc(64, (a.used * sizeof(float) + 63) / 64 * 64), a.used, 0};
	}
	nn_mlp_init(&m, &r);
	np = nn_mlp_params(&m, params);
	rows = (int64_t) n * (1 + nneg);
	printf("%d ratings, %d users, %d items, %d negatives each: %lld rows an epoch\n",
		   n, nusers, nitems, nneg, (long long) rows);
	for (int epoch = 0; epoch < epochs; epoch++)
	{
		double		t0 = now(),
					loss = 0.0;
		int64_t		batches = 0;
		int			per = BATCH / (1 + nneg);	/* positives per batch */

		for (int start = 0; start < n; start += per)
		{
			int			np_ = start + per <= n ? per : n - start;
			int			b = 0;

			nn_sample_negatives(np_, nneg, items + start, nitems, 7, (uint64_t) epoch * 100000 + start, 0, neg);
			for (int k = 0; k < np_; k++)
			{
				bu[b] = users[start + k];
				bi[b] = items[start + k];
				target[b++] = 1.0f;
				for (int j = 0; j < nneg; j++)
				{
					bu[b] = users[start + k];
					bi[b] = neg[k * nneg + j];
					target[b++] = 0.0f;
				}
			}
			nn_embedding_forward(&eu, b, NULL, bu, NULL, X, 2 * DIM);
			nn_embedding_forward(&ei, b, NULL, bi, NULL, X + DIM, 2 * DIM);
			for (int p = 0; p < np; p++)
				nn_tensor_zero_grad(params[p]);
			nn_embedding_zero_grad(&eu);
			nn_embedding_zero_grad(&ei);
			loss += nn_loss_bce_logits(b, nn_mlp_forward(&m, b, X, 2 * DIM), target, NULL, dlogit);
			nn_mlp_backward(&m, b, X, 2 * DIM, dlogit, dX, 2 * DIM);
			nn_embedding_backward(&eu, b, NULL, bu, NULL, dX, 2 * DIM);
			nn_embedding_backward(&ei, b, NULL, bi, NULL, dX + DIM, 2 * DIM);
			nn_optim_begin(&o);
			for (int p = 0; p < np; p++)
				nn_optim_dense(&o, params[p]);
			nn_optim_rows(&o, &eu);
			nn_optim_rows(&o, &ei);
			batches++;
		}
		printf("epoch %d: mean loss %.4f, %.3f s\n", epoch, loss / batches, now() - t0);
	}
	return 0;
}
