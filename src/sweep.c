/*
 * sweep.c - an ALS half-step or loss as a job for the worker threads,
 * cut into pieces of similar cost (see als.h)
 */
#include "als.h"

/*
 * Work in one piece, in multiply-adds: a few milliseconds on one core, so
 * cancel is seen quickly while the lock is taken rarely.  A row costing
 * more is a piece of its own (one Cholesky row at 1,024 factors).
 */
#define PIECE_COST (INT64_C(1) << 23)

/* Multiply-adds the sweep spends on row u */
static int64_t
row_cost(const AlsSweep *s, int32_t u)
{
	int64_t		len = s->R->indptr[u + 1] - s->R->indptr[u];
	int64_t		f = s->p->factors;
	int64_t		d = f + 1;

	switch (s->task)
	{
		case ALS_SOLVE:
			if (s->p->cg_steps > 0)
				return len * f + (int64_t) s->p->cg_steps * (2 * len * f + f * f) + f;
			return f * f * f / 3 + (len + 1) * f * f + f;
		case ALS_SOLVE_EXPLICIT:
			return d * d * d / 3 + (len + 1) * d * d;
		case ALS_LOSS:
			return f * f + len * f + 1;
		case ALS_LOSS_EXPLICIT:
			return (len + 1) * (d + 1);
	}
	return 1;
}

/* End of the piece that starts at row begin */
static int64_t
sweep_cut(void *arg, int64_t begin, int64_t end)
{
	const AlsSweep *s = arg;
	int64_t		cost = 0;
	int64_t		u = begin;

	while (u < end && cost < PIECE_COST)
		cost += row_cost(s, (int32_t) u++);
	return u;
}

/* Rows [begin, end) of the sweep, on thread number thread */
static void
sweep_work(void *arg, int64_t begin, int64_t end, int thread)
{
	AlsSweep   *s = arg;
	int64_t		bad = -1;

	switch (s->task)
	{
		case ALS_SOLVE:
			bad = als_solve_rows(s->R, (int32_t) begin, (int32_t) end, s->W, s->O,
								 s->G, s->p, s->scratch[thread]);
			break;
		case ALS_SOLVE_EXPLICIT:
			for (int64_t u = begin; u < end && bad < 0; u++)
				if (!als_solve_explicit_row(s->R, (int32_t) u, s->W, s->O, s->p,
											s->side, s->mean, s->scratch[thread]))
					bad = u;
			break;
		case ALS_LOSS:
			als_loss_rows(s->R, (int32_t) begin, (int32_t) end, s->W, s->O, s->G,
						  s->p, s->scratch[thread], &s->loss, &s->mass);
			break;
		case ALS_LOSS_EXPLICIT:
			als_loss_explicit_rows(s->R, (int32_t) begin, (int32_t) end, s->W, s->O,
								   s->p, &s->loss);
			break;
	}
	/* a thread takes pieces in increasing order: its first failure is its least */
	if (bad >= 0 && s->failed[thread] < 0)
		s->failed[thread] = bad;
}

void
als_sweep_init(AlsSweep *s, AlsTask task, const RecoCsr *R, WorkerJob *job)
{
	s->task = task;
	s->R = R;
	for (int t = 0; t < WORKERS_MAX; t++)
		s->failed[t] = -1;
	s->loss = 0.0;
	s->mass = task == ALS_LOSS ? (double) R->nrows * R->ncols : 0.0;
	job->begin = 0;
	job->end = R->nrows;
	job->cut = sweep_cut;
	job->work = sweep_work;
	job->arg = s;
	job->interrupted = NULL;
	job->poll_arg = NULL;
}

int64_t
als_sweep_failed(const AlsSweep *s)
{
	int64_t		bad = -1;

	for (int t = 0; t < WORKERS_MAX; t++)
		if (s->failed[t] >= 0 && (bad < 0 || s->failed[t] < bad))
			bad = s->failed[t];
	return bad;
}
