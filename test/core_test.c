/*
 * core_test.c - unit tests of the numerical core (src/als.c, src/csr.c,
 * src/metrics.c, src/topk.c) without a server: sparse matrix building, the
 * top-k heap against a full sort, the conjugate-gradient solver against the
 * exact Cholesky solve and the loss going down, score explanations, and
 * ranking metrics on a hand-worked list.
 *
 * Build and run: make -s core-test (prints "N passed, M failed").
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/als.h"
#include "../src/csr.h"
#include "../src/metrics.h"
#include "../src/topk.h"
#include "../src/workers.h"

#include "check.h"


/* Run one sweep (als.h) to the end on nthreads threads; its first failed row */
static int64_t
sweep(AlsTask task, const RecoCsr *R, float *W, const float *O, const float *G,
	  const AlsParams *p, AlsSide side, float mean, float **scratch, int nthreads)
{
	AlsSweep	s = {.W = W, .O = O, .G = G, .p = p, .side = side, .mean = mean,
	.scratch = scratch};
	WorkerJob	job;

	als_sweep_init(&s, task, R, &job);
	workers_run(&job, nthreads);
	return als_sweep_failed(&s);
}


/* duplicates are summed, rows come out sorted, the transpose inverts */
static void
test_csr(void)
{
	int32_t		rows[] = {1, 0, 1, 0, 1, 2};
	int32_t		cols[] = {2, 1, 0, 1, 2, 0};
	float		w[] = {1, 2, 3, 4, 5, 6};
	int64_t		indptr[4], tindptr[4];
	int32_t		idx[6], tidx[6];
	float		data[6], tdata[6];
	RecoCsr		m = {0, 0, indptr, idx, data};
	RecoCsr		t = {0, 0, tindptr, tidx, tdata};
	int64_t		nnz = csr_from_triplets(3, 3, 6, rows, cols, w, &m);

	check(nnz == 4, "csr: duplicate cells merged");
	check(indptr[0] == 0 && indptr[1] == 1 && indptr[2] == 3 && indptr[3] == 4,
		  "csr: row offsets");
	check(idx[0] == 1 && data[0] == 6, "csr: row 0 sums 2 + 4");
	check(idx[1] == 0 && data[1] == 3 && idx[2] == 2 && data[2] == 6,
		  "csr: row 1 sorted, 1 + 5 summed");
	check(csr_max_row(&m) == 2, "csr: longest row");
	csr_transpose(&m, &t);
	check(t.nrows == 3 && tindptr[3] == 4, "csr: transpose size");
	check(tidx[tindptr[0]] == 1 && tdata[tindptr[0]] == 3 &&
		  tidx[tindptr[0] + 1] == 2 && tdata[tindptr[0] + 1] == 6,
		  "csr: transpose column 0");
}

static int
cmp_desc(const void *a, const void *b)
{
	float		x = *(const float *) a;
	float		y = *(const float *) b;

	return (x < y) - (x > y);
}

/* the heap keeps exactly the k best unskipped scores, best first */
static void
test_topk(void)
{
	enum
	{
	N = 5000, K = 25};
	float	   *scores = malloc(sizeof(float) * N);
	float	   *kept = malloc(sizeof(float) * N);
	uint8_t		skip[(N + 7) / 8] = {0};
	TopkEntry	top[K];
	int			n = 0;
	int			got;
	int			ok = 1;

	srand(7);
	for (int i = 0; i < N; i++)
	{
		scores[i] = (float) rand() / RAND_MAX;
		if (i % 3 == 0)
			topk_bit_set(skip, i);
		else
			kept[n++] = scores[i];
	}
	scores[10] = NAN;
	kept[6] = -1.0f;			/* index 10 is the 7th kept one */
	qsort(kept, n, sizeof(float), cmp_desc);
	got = topk_select(scores, N, skip, K, top);
	check(got == K, "topk: k results");
	for (int i = 0; i < K; i++)
		ok &= (top[i].score == kept[i]) && !topk_bit_test(skip, top[i].index);
	check(ok, "topk: same as a full sort, skipped and NaN excluded");
	check(topk_select(scores, 11, NULL, K, top) == 10, "topk: fewer eligible than k, NaN never chosen");

	/* factor-major scoring equals a dot product per item */
	{
		enum
		{
		NI = 300, F = 7};
		float		Y[NI * F], Yt[NI * F], x[F], s[NI];
		int			same = 1;

		for (int i = 0; i < NI * F; i++)
			Y[i] = (float) rand() / RAND_MAX - 0.5f;
		for (int j = 0; j < F; j++)
			x[j] = (float) j - 3.0f;
		topk_transpose(Y, NI, F, Yt);
		topk_scores(Yt, NI, F, x, s);
		for (int i = 0; i < NI; i++)
		{
			float		d = 0.0f;

			for (int j = 0; j < F; j++)
				d += Y[i * F + j] * x[j];
			same &= fabsf(d - s[i]) < 1e-5f;
		}
		check(same, "topk: factor-major scores equal per-item dot products");
	}
	free(scores);
	free(kept);
}

/* random sparse user x item matrix with a planted block structure */
static int64_t
planted(int32_t nu, int32_t ni, int32_t *rows, int32_t *cols, float *w)
{
	int64_t		n = 0;

	for (int32_t u = 0; u < nu; u++)
		for (int32_t i = 0; i < ni; i++)
			if ((u % 2) == (i % 2) && rand() % 3 == 0)
			{
				rows[n] = u;
				cols[n] = i;
				w[n] = 1.0f + rand() % 3;
				n++;
			}
	return n;
}

/* CG approaches the exact solve, and ALS sweeps lower the loss */
static void
test_als(void)
{
	enum
	{
	NU = 60, NI = 40, F = 8};
	int32_t		rows[NU * NI], cols[NU * NI];
	float		w[NU * NI];
	int64_t		ui_ptr[NU + 1], iu_ptr[NI + 1];
	int32_t		ui_idx[NU * NI], iu_idx[NU * NI];
	float		ui_dat[NU * NI], iu_dat[NU * NI];
	RecoCsr		Rui = {0, 0, ui_ptr, ui_idx, ui_dat};
	RecoCsr		Riu = {0, 0, iu_ptr, iu_idx, iu_dat};
	AlsParams	p = {F, 0, 0, 0.1f, 0.5f, 2.0f, 0.1f, 42};
	float		X[NU * F], Xcg[NU * F], Y[NI * F], G[F * F];
	float	   *scratch = malloc(sizeof(float) * als_scratch_floats(F, NU));
	double		loss0, loss1, diff = 0.0, norm = 0.0;
	int64_t		n;

	srand(3);
	n = planted(NU, NI, rows, cols, w);
	csr_from_triplets(NU, NI, n, rows, cols, w, &Rui);
	csr_transpose(&Rui, &Riu);
	als_random_init(X, NU, F, p.init_scale, 1);
	als_random_init(Y, NI, F, p.init_scale, 2);

	als_gram(Y, NI, F, G);
	loss0 = als_loss(&Rui, &Riu, X, Y, G, &p, scratch);
	for (int it = 0; it < 5; it++)
	{
		als_gram(Y, NI, F, G);
		check(als_solve_rows(&Rui, 0, NU, X, Y, G, &p, scratch) == -1, "als: cholesky users");
		als_gram(X, NU, F, G);
		check(als_solve_rows(&Riu, 0, NI, Y, X, G, &p, scratch) == -1, "als: cholesky items");
	}
	als_gram(Y, NI, F, G);
	loss1 = als_loss(&Rui, &Riu, X, Y, G, &p, scratch);
	check(loss1 < 0.5 * loss0, "als: loss falls");

	/* from a perturbed start, 8 CG steps land on the exact user solve */
	als_solve_rows(&Rui, 0, NU, X, Y, G, &p, scratch);
	memcpy(Xcg, X, sizeof(X));
	for (int j = 0; j < NU * F; j++)
		Xcg[j] *= 0.5f;
	p.cg_steps = 8;
	als_solve_rows(&Rui, 0, NU, Xcg, Y, G, &p, scratch);
	for (int j = 0; j < NU * F; j++)
	{
		diff += (X[j] - Xcg[j]) * (X[j] - Xcg[j]);
		norm += X[j] * X[j];
	}
	check(sqrt(diff / norm) < 1e-3, "als: conjugate gradient reaches the exact solution");

	/* folding one user in gives the exact solve of that user's row */
	{
		int64_t		len = ui_ptr[1] - ui_ptr[0];
		float	   *Yu = malloc(sizeof(float) * F * (len + 1));
		float	   *fs = malloc(sizeof(float) * als_fold_in_floats(F, len));
		float		x[F];
		double		d = 0.0;

		p.cg_steps = 0;
		als_solve_rows(&Rui, 0, 1, X, Y, G, &p, scratch);
		for (int64_t i = 0; i < len; i++)
			memcpy(Yu + i * F, Y + ui_idx[ui_ptr[0] + i] * F, sizeof(float) * F);
		check(als_fold_in(G, Yu, ui_dat + ui_ptr[0], len, NULL, &p, x, fs), "als: fold-in solves");
		for (int j = 0; j < F; j++)
			d += fabs(x[j] - X[j]);
		check(d < 1e-4, "als: fold-in equals the exact row solve");

		/* explain: the contributions of the row's items add up to its scores */
		{
			float	   *es = malloc(sizeof(float) * als_explain_floats(F, len));
			float	   *contrib = malloc(sizeof(float) * len);
			int			ok = 1;

			for (int64_t i = 0; i < len; i++)
				memcpy(Yu + i * F, Y + ui_idx[ui_ptr[0] + i] * F, sizeof(float) * F);
			for (int item = 0; item < NI; item++)
			{
				double		score = 0.0;
				double		sum = 0.0;

				for (int j = 0; j < F; j++)
					score += (double) Y[item * F + j] * x[j];
				ok &= als_explain(G, Yu, ui_dat + ui_ptr[0], len, Y + item * F, &p, contrib, es);
				for (int64_t i = 0; i < len; i++)
					sum += contrib[i];
				ok &= fabs(sum - score) < 1e-4;
			}
			check(ok, "als: explained contributions sum to the fold-in score");
			free(es);
			free(contrib);
		}
		free(Yu);
		free(fs);
	}

	/* with no data and a strong pull, the fold-in lands on its prior */
	{
		AlsParams	q = p;
		float		prior[F], x[F], fs[F * F + 2];
		double		d = 0.0;

		q.regularization = 1e5f;
		for (int j = 0; j < F; j++)
			prior[j] = (float) j / F - 0.5f;
		check(als_fold_in(G, NULL, NULL, 0, prior, &q, x, fs), "als: fold-in with a prior solves");
		for (int j = 0; j < F; j++)
			d += fabs(x[j] - prior[j]);
		check(d < 1e-2, "als: a row without data stays at its prior");
	}

	/* the same seed gives the same start */
	als_random_init(X, NU, F, 0.1f, 9);
	als_random_init(Xcg, NU, F, 0.1f, 9);
	check(memcmp(X, Xcg, sizeof(X)) == 0, "als: seeded initialisation is reproducible");
	free(scratch);
}

/*
 * Explicit ratings planted from a rank-2 model with user and item biases are
 * recovered: the observed ratings are fitted, the unobserved ones predicted,
 * and a plain dot product of the stored vectors is the prediction.
 */
static void
test_explicit(void)
{
	enum
	{
	NU = 80, NI = 50, F = 2, D = F + ALS_EXPLICIT_EXTRA};
	int32_t		rows[NU * NI], cols[NU * NI];
	float		w[NU * NI], truth[NU * NI];
	int64_t		ui_ptr[NU + 1], iu_ptr[NI + 1];
	int32_t		ui_idx[NU * NI], iu_idx[NU * NI];
	float		ui_dat[NU * NI], iu_dat[NU * NI];
	RecoCsr		Rui = {0, 0, ui_ptr, ui_idx, ui_dat};
	RecoCsr		Riu = {0, 0, iu_ptr, iu_idx, iu_dat};
	AlsParams	p = {F, 0, 0, 0.01f, 0.0f, 0.0f, 0.1f, 7};
	float		U[NU * F], V[NI * F], bu[NU], bi[NI];
	float		X[NU * D], Y[NI * D];
	float	   *scratch = malloc(sizeof(float) * als_explicit_scratch_floats(F, NU));
	double		mean = 0.0, loss0, loss1, err = 0.0;
	int64_t		n = 0;
	int			solved = 1;

	srand(11);
	for (int i = 0; i < NU * F; i++)
		U[i] = (float) (rand() % 1000) / 1000.0f - 0.5f;
	for (int i = 0; i < NI * F; i++)
		V[i] = (float) (rand() % 1000) / 500.0f - 1.0f;
	for (int u = 0; u < NU; u++)
		bu[u] = (float) (rand() % 100) / 100.0f - 0.5f;
	for (int i = 0; i < NI; i++)
		bi[i] = (float) (rand() % 100) / 100.0f - 0.5f;
	for (int u = 0; u < NU; u++)
		for (int i = 0; i < NI; i++)
		{
			float		r = 3.5f + bu[u] + bi[i] + U[u * F] * V[i * F] + U[u * F + 1] * V[i * F + 1];

			truth[u * NI + i] = r;
			if (rand() % 2 == 0)
				continue;
			rows[n] = u;
			cols[n] = i;
			w[n] = r;
			mean += r;
			n++;
		}
	mean /= n;
	csr_from_triplets(NU, NI, n, rows, cols, w, &Rui);
	csr_transpose(&Rui, &Riu);
	als_random_init(X, NU, D, 0.1f, 1);
	als_random_init(Y, NI, D, 0.1f, 2);
	als_explicit_init(X, NU, F, ALS_USERS, (float) mean);
	als_explicit_init(Y, NI, F, ALS_ITEMS, (float) mean);
	check(X[F + 1] == 1.0f && Y[F] == 1.0f && Y[F + 1] == (float) mean,
		  "explicit: fixed components set");
	loss0 = als_loss_explicit(&Rui, &Riu, X, Y, &p, (float) mean);
	for (int it = 0; it < 30; it++)
		solved &= sweep(ALS_SOLVE_EXPLICIT, &Rui, X, Y, NULL, &p, ALS_USERS, (float) mean, &scratch, 1) == -1 &&
			sweep(ALS_SOLVE_EXPLICIT, &Riu, Y, X, NULL, &p, ALS_ITEMS, (float) mean, &scratch, 1) == -1;
	check(solved, "explicit: every row solves");
	loss1 = als_loss_explicit(&Rui, &Riu, X, Y, &p, (float) mean);
	check(loss1 < 0.01 * loss0 && loss1 < 1e-3, "explicit: the observed ratings are fitted");
	check(X[F + 1] == 1.0f && Y[F] == 1.0f, "explicit: fixed components stay fixed");
	for (int u = 0; u < NU; u++)
		for (int i = 0; i < NI; i++)
		{
			double		e = truth[u * NI + i];

			for (int j = 0; j < D; j++)
				e -= (double) X[u * D + j] * Y[i * D + j];
			err += e * e;
		}
	check(sqrt(err / (NU * NI)) < 0.1, "explicit: every cell, half never seen, predicted (RMSE < 0.1)");
	free(scratch);
}

/* a hand-worked ranking: a skipped training item, a tie, an unknown relevant item */
static void
test_metrics(void)
{
	/* item 0 trained on; items 2 and 3 tie, item 2 ranks first by index */
	float		scores[] = {0.9f, 0.8f, 0.7f, 0.7f, 0.5f, 0.1f};
	uint8_t		skip[1] = {0};
	int32_t		rel[] = {2, 5};
	TopkEntry	top[3];
	float		scratch[6];
	float		neg[] = {0.5f, 0.4f, 0.6f};
	int			ntop;
	MetricsUser m;
	double		idcg = 1.0 + 1.0 / log2(3.0) + 0.5;

	topk_bit_set(skip, 0);
	/* relevant: items 2 and 5, and one the model does not know */
	metrics_user(scores, 6, skip, rel, 2, 3, 3, top, &ntop, scratch, &m);
	check(ntop == 3 && top[0].index == 1 && top[1].index == 2 && top[2].index == 3,
		  "metrics: top 3 skips the training item, ties to the lower index");
	check(m.hits == 1 && fabs(m.precision - 1.0 / 3) < 1e-12 && fabs(m.recall - 1.0 / 3) < 1e-12,
		  "metrics: precision and recall");
	check(fabs(m.ndcg - (1.0 / log2(3.0)) / idcg) < 1e-12, "metrics: nDCG");
	check(fabs(m.ap - 0.5 / 3) < 1e-12 && m.hit == 1.0, "metrics: average precision and hit");
	check(fabs(m.rr - 0.5) < 1e-12, "metrics: reciprocal rank");
	/* pairs (2 vs 1, 3, 4) = 0 + 0.5 + 1, (5 vs 1, 3, 4) = 0, over 2 x 3 */
	check(m.auc_valid && fabs(m.auc - 0.25) < 1e-12, "metrics: AUC, a tie counting half");
	rel[0] = 0;
	rel[1] = 3;
	metrics_user(scores, 6, skip, rel, 2, 2, 3, top, &ntop, scratch, &m);
	check(fabs(m.rr - 1.0 / 3) < 1e-12, "metrics: a tied item ranks after the lower index");
	rel[0] = 0;
	metrics_user(scores, 6, skip, rel, 1, 1, 3, top, &ntop, scratch, &m);
	check(!m.auc_valid && m.rr == 0.0 && m.hits == 0,
		  "metrics: a relevant training item is never ranked");
	check(metrics_sampled_rank(0.5f, neg, 3) == 3, "metrics: sampled rank, ties count against");
}

/* A job over items that records who did each and polls a countdown */
typedef struct CountJob
{
	int			done[2000];		/* times each item was done */
	int			polls_left;		/* interrupted() says yes when it hits 0 */
	int			on_worker;		/* pieces done by threads other than 0 */
	int			blocked;		/* ... with SIGINT, SIGALRM and SIGUSR1 blocked */
	pthread_mutex_t lock;
} CountJob;

static void
count_work(void *arg, int64_t begin, int64_t end, int thread)
{
	CountJob   *c = arg;
	struct timespec pause = {0, 200 * 1000};

	for (int64_t i = begin; i < end; i++)
		c->done[i]++;
	if (thread > 0)
	{
		sigset_t	mask;

		pthread_sigmask(SIG_BLOCK, NULL, &mask);
		pthread_mutex_lock(&c->lock);
		c->on_worker++;
		c->blocked += sigismember(&mask, SIGINT) && sigismember(&mask, SIGALRM) &&
			sigismember(&mask, SIGUSR1);
		pthread_mutex_unlock(&c->lock);
	}
	nanosleep(&pause, NULL);	/* long enough for the other thread to take pieces */
}

static int64_t
count_cut(void *arg, int64_t begin, int64_t end)
{
	(void) arg;
	return begin + 7 < end ? begin + 7 : end;
}

static bool
count_interrupted(void *arg)
{
	CountJob   *c = arg;

	return c->polls_left >= 0 && c->polls_left-- == 0;
}

/*
 * The worker threads: every item done once, in workers with signals blocked
 * (the caller's own mask left as it was); an interrupt stops the job at a
 * point before which everything is done and after which nothing is; a
 * resumed job completes it; sweeps give the same factors on 1 and 3 threads.
 */
static void
test_workers(void)
{
	CountJob   *c = calloc(1, sizeof(CountJob));
	WorkerJob	job = {0, 2000, count_cut, count_work, c, count_interrupted, c};
	sigset_t	before, after;
	int64_t		stopped;
	int			exact = 1;

	pthread_mutex_init(&c->lock, NULL);
	c->polls_left = -1;			/* never */
	pthread_sigmask(SIG_BLOCK, NULL, &before);
	check(workers_run(&job, 2) == 2000, "workers: a job runs to its end");
	pthread_sigmask(SIG_BLOCK, NULL, &after);
	for (int i = 0; i < 2000; i++)
		exact &= c->done[i] == 1;
	check(exact, "workers: every item done exactly once on 2 threads");
	check(c->on_worker > 0 && c->blocked == c->on_worker,
		  "workers: worker threads run with every signal blocked");
	check(sigismember(&before, SIGINT) == sigismember(&after, SIGINT) &&
		  sigismember(&after, SIGUSR1) == sigismember(&before, SIGUSR1),
		  "workers: the caller's signal mask is restored");

	memset(c->done, 0, sizeof(c->done));
	c->polls_left = 20;
	stopped = workers_run(&job, 2);
	check(stopped > 0 && stopped < 2000, "workers: an interrupt stops the job early");
	exact = 1;
	for (int i = 0; i < 2000; i++)
		exact &= c->done[i] == (i < stopped ? 1 : 0);
	check(exact, "workers: items before the stop are done, none after");
	c->polls_left = -1;
	job.begin = stopped;
	check(workers_run(&job, 2) == 2000, "workers: a stopped job resumes");
	exact = 1;
	for (int i = 0; i < 2000; i++)
		exact &= c->done[i] == 1;
	check(exact, "workers: after resuming, every item done exactly once");
	pthread_mutex_destroy(&c->lock);
	free(c);

	/* the factors do not depend on the number of threads */
	{
		enum
		{
		NU = 300, NI = 200, F = 16};
		int32_t    *rows = malloc(sizeof(int32_t) * NU * NI);
		int32_t    *cols = malloc(sizeof(int32_t) * NU * NI);
		float	   *w = malloc(sizeof(float) * NU * NI);
		int64_t    *ui_ptr = malloc(sizeof(int64_t) * (NU + 1));
		int32_t    *ui_idx = malloc(sizeof(int32_t) * NU * NI);
		float	   *ui_dat = malloc(sizeof(float) * NU * NI);
		RecoCsr		Rui = {0, 0, ui_ptr, ui_idx, ui_dat};
		AlsParams	p = {F, 0, 3, 0.1f, 0.5f, 2.0f, 0.1f, 42};
		float	   *X1 = malloc(sizeof(float) * NU * F);
		float	   *X3 = malloc(sizeof(float) * NU * F);
		float	   *Y = malloc(sizeof(float) * NI * F);
		float		G[F * F];
		float	   *scratch[3];
		int64_t		n;
		int			same = 1;

		srand(5);
		n = planted(NU, NI, rows, cols, w);
		csr_from_triplets(NU, NI, n, rows, cols, w, &Rui);
		for (int t = 0; t < 3; t++)
			scratch[t] = malloc(sizeof(float) * als_scratch_floats(F, csr_max_row(&Rui)));
		als_random_init(Y, NI, F, 0.1f, 2);
		als_gram(Y, NI, F, G);
		for (int cg = 0; cg <= 1; cg++)
		{
			p.cg_steps = cg ? 3 : 0;
			als_random_init(X1, NU, F, 0.1f, 1);
			memcpy(X3, X1, sizeof(float) * NU * F);
			sweep(ALS_SOLVE, &Rui, X1, Y, G, &p, ALS_USERS, 0.0f, scratch, 1);
			sweep(ALS_SOLVE, &Rui, X3, Y, G, &p, ALS_USERS, 0.0f, scratch, 3);
			same &= memcmp(X1, X3, sizeof(float) * NU * F) == 0;
		}
		check(same, "workers: CG and Cholesky sweeps give the same bits on 1 and 3 threads");
		for (int t = 0; t < 3; t++)
			free(scratch[t]);
		free(rows);
		free(cols);
		free(w);
		free(ui_ptr);
		free(ui_idx);
		free(ui_dat);
		free(X1);
		free(X3);
		free(Y);
	}
}

int
main(void)
{
	test_csr();
	test_topk();
	test_als();
	test_metrics();
	test_explicit();
	test_workers();
	printf("core: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
