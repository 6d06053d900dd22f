/*
 * family/als_fit.c - fitting ALS (als.h) on a run's interactions: dense
 * ids, the interaction matrices, alternating sweeps on the worker threads
 * with progress, and the version's rows and blobs (the family's fit_store)
 */
#include "reco.h"

#include <math.h>

#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/memutils.h"

#include "als.h"
#include "resources.h"
#include "storage.h"
#include "train.h"
#include "family/family.h"
#include "family/als_model.h"

/*
 * Run a sweep (als.h) over the rows of R on nthreads worker threads, which
 * stop within one piece on cancel; a row that could not be solved is an
 * error, raised once the workers are joined.
 */
static void
run_sweep(AlsSweep *s, AlsTask task, const RecoCsr *R, int nthreads,
		  const char *hint)
{
	WorkerJob	job;
	int64		bad;

	als_sweep_init(s, task, R, &job);
	reco_workers_run(&job, nthreads);
	bad = als_sweep_failed(s);
	if (bad >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("Cholesky factorisation failed for row %lld", (long long) bad),
				 errhint("%s", hint)));
}

/* Solve every row of X against Y (implicit feedback) */
static void
solve_side(const RecoCsr *R, float *X, const float *Y, float *G,
		   int64 ny, const AlsParams *p, float **scratch, int nthreads)
{
	AlsSweep	s = {.W = X, .O = Y, .G = G, .p = p, .scratch = scratch};

	als_gram(Y, ny, p->factors, G);
	CHECK_FOR_INTERRUPTS();
	run_sweep(&s, ALS_SOLVE, R, nthreads,
			  "Raise \"regularization\" or use the \"cg\" solver.");
}

/* The explicit-ratings half-step over every row */
static void
solve_side_explicit(const RecoCsr *R, float *W, const float *O, const AlsParams *p,
					AlsSide side, float mean, float **scratch, int nthreads)
{
	AlsSweep	s = {.W = W, .O = O, .p = p, .side = side, .mean = mean,
	.scratch = scratch};

	run_sweep(&s, ALS_SOLVE_EXPLICIT, R, nthreads, "Raise \"regularization\".");
}

/* The training loss, on one thread so that it adds up in row order */
static double
fit_loss(const RecoCsr *Rui, const RecoCsr *Riu, float *X, const float *Y,
		 const float *G, const AlsParams *p, bool rated, float mean,
		 float **scratch)
{
	AlsSweep	s = {.W = X, .O = Y, .G = G, .p = p, .mean = mean, .scratch = scratch};

	run_sweep(&s, rated ? ALS_LOSS_EXPLICIT : ALS_LOSS, Rui, 1, "");
	if (rated)
		return als_loss_explicit_finish(Rui, Riu, Y, p, mean, s.loss);
	return als_loss_finish(Rui, Riu, X, Y, p, s.loss, s.mass);
}

/*
 * Fit ALS to the triplets, in the current memory context; what names the
 * model in messages.  Writes nothing: the fit can be stored as a version
 * (fit_and_store) or evaluated in memory (reco_evaluate_params).
 */
void
reco_fit(const char *what, const RecoTrainParams *params, RecoTriplets *t,
		 double read_seconds, RecoFit *fit)
{
	AlsParams	p = params->als;
	int			f = p.factors;
	bool		rated = params->explicit_ratings;
	int			d = rated ? f + ALS_EXPLICIT_EXTRA : f;	/* components stored */
	float		mean = 0.0f;
	int64	   *user_ids;
	int64	   *item_ids;
	int64		nu;
	int64		ni;
	RecoInteractions in;
	RecoCsr		Rui;
	RecoCsr		Riu;
	int64		nnz;
	float	   *X;
	float	   *Y;
	float	   *G;
	float	  **scratch;
	float	   *popularity;
	double		loss = 0.0;
	RecoBudget *b = t->budget;
	int			nthreads = reco_train_threads;
	int64		longest;
	Size		scratch_bytes;
	char	   *what_factors;
	instr_time	solve_start;
	StringInfoData losses;

	reco_interactions(what, params, t, &in);
	user_ids = in.user_ids;
	item_ids = in.item_ids;
	nu = in.nu;
	ni = in.ni;
	nnz = in.nnz;
	Rui = in.Rui;
	Riu = in.Riu;

	what_factors = psprintf("%lld users, %lld items, %d factors",
							(long long) nu, (long long) ni, f);
	X = reco_budget_alloc(b, sizeof(float) * nu * d, psprintf("user factors (%s)", what_factors));
	Y = reco_budget_alloc(b, sizeof(float) * ni * d, psprintf("item factors (%s)", what_factors));
	G = reco_budget_alloc(b, sizeof(float) * d * d, "the Gram matrix");
	longest = Max(csr_max_row(&Rui), csr_max_row(&Riu));
	scratch_bytes = sizeof(float) * (rated ? als_explicit_scratch_floats(f, longest)
									 : als_scratch_floats(f, longest));
	reco_budget_charge(b, (double) scratch_bytes * nthreads,
					   psprintf("scratch of %d threads (longest row %lld, %d factors)",
								nthreads, (long long) longest, f));
	scratch = palloc(sizeof(float *) * nthreads);
	for (int th = 0; th < nthreads; th++)
		scratch[th] = palloc_extended(scratch_bytes, MCXT_ALLOC_HUGE);
	popularity = reco_budget_alloc(b, sizeof(float) * ni, "item popularity");
	als_random_init(X, nu, d, p.init_scale, p.seed);
	als_random_init(Y, ni, d, p.init_scale, p.seed ^ UINT64CONST(0x5851F42D4C957F2D));
	if (rated)
	{
		double		sum = 0.0;

		for (int64 i = 0; i < nnz; i++)
			sum += Rui.data[i];
		mean = (float) (sum / nnz);
		als_explicit_init(X, nu, f, ALS_USERS, mean);
		als_explicit_init(Y, ni, f, ALS_ITEMS, mean);
	}
	if (params->cholesky)
		p.cg_steps = 0;

	if (reco_progress)
		ereport(NOTICE,
				(errmsg("reco: training %s: %lld users, %lld items, %lld interactions, %d factors (read in %.3f s)",
						what, (long long) nu, (long long) ni, (long long) nnz, f,
						read_seconds)));

	initStringInfo(&losses);
	INSTR_TIME_SET_CURRENT(solve_start);
	for (int it = 0; it < p.iterations; it++)
	{
		if (rated)
		{
			solve_side_explicit(&Rui, X, Y, &p, ALS_USERS, mean, scratch, nthreads);
			solve_side_explicit(&Riu, Y, X, &p, ALS_ITEMS, mean, scratch, nthreads);
		}
		else
		{
			solve_side(&Rui, X, Y, G, ni, &p, scratch, nthreads);
			solve_side(&Riu, Y, X, G, nu, &p, scratch, nthreads);
			als_gram(Y, ni, f, G);
		}
		CHECK_FOR_INTERRUPTS();
		loss = fit_loss(&Rui, &Riu, X, Y, G, &p, rated, mean, scratch);
		appendStringInfo(&losses, "%s%.9g", it ? ", " : "", loss);
		if (reco_progress)
			ereport(NOTICE,
					(errmsg("reco: iteration %d/%d: loss %.6f, %.3f s",
							it + 1, p.iterations, loss, reco_seconds_since(solve_start))));
	}
	/* popularity: how many users touched each item */
	for (int64 i = 0; i < ni; i++)
		popularity[i] = (float) (Riu.indptr[i + 1] - Riu.indptr[i]);

	fit->factors = d;
	fit->n_users = nu;
	fit->n_items = ni;
	fit->nnz = nnz;
	fit->user_ids = user_ids;
	fit->item_ids = item_ids;
	fit->X = X;
	fit->Y = Y;
	fit->gram = rated ? NULL : G;	/* explicit models fold nothing in */
	fit->popularity = popularity;
	fit->mean = mean;
	fit->Rui = Rui;
	fit->loss = loss;
	fit->losses = losses.data;
	fit->solve_seconds = reco_seconds_since(solve_start);
}

/*
 * The ALS family's fit_store (family.h): fit, check, and store the rows and
 * blobs of version_id
 */
void
reco_als_fit_store(const char *model, const RecoTrainParams *params, RecoTriplets *t,
				   double read_seconds, int64 version_id, const RecoUser *reader,
				   RecoFitResult *out)
{
	RecoFit    *fit = palloc0(sizeof(RecoFit));
	RecoCsr		history;

	reco_fit(psprintf("model \"%s\"", model), params, t, read_seconds, fit);
	if (fit->nnz != t->n)
		elog(ERROR, "reco: %lld interactions fitted, %lld merged", (long long) fit->nnz,
			 (long long) t->n);
	if (!reco_floats_finite(fit->X, fit->n_users * fit->factors) ||
		!reco_floats_finite(fit->Y, fit->n_items * fit->factors))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("training model \"%s\" gave factors that are not finite", model),
				 errdetail("Nothing was stored; the version served is unchanged."),
				 errhint("Raise \"regularization\", or lower \"alpha\" or the kind weights.")));

	reco_store_items(version_id, (int32) fit->n_items, fit->item_ids, fit->popularity,
					 fit->Y, fit->factors);
	history = reco_history_by_time(&fit->Rui, t);
	reco_store_users(version_id, (int32) fit->n_users, fit->user_ids, fit->X, fit->factors,
					 &history, fit->item_ids, t->counted);
	if (fit->gram != NULL)
		reco_store_blob(version_id, "gram", fit->gram,
						sizeof(float) * fit->factors * fit->factors);
	if (params->explicit_ratings)	/* what item biases are pulled toward */
		reco_store_blob(version_id, "mean", &fit->mean, sizeof(float));

	out->factors = fit->factors;
	out->n_users = fit->n_users;
	out->n_items = fit->n_items;
	out->nnz = fit->nnz;
	out->loss = fit->loss;
	out->losses = fit->losses;
	out->solve_seconds = fit->solve_seconds;
	out->steps = params->als.iterations;
	/* a rating model folds nothing in */
	out->learns_online = !params->explicit_ratings;
	out->online = params->explicit_ratings ? NULL : reco_model_from_fit(fit, params);
}

