/*
 * evaluate.c - offline evaluation against held-out events: of a stored
 * version (reco_evaluate, reco_evaluate_users, reco_evaluate_sampled) or of
 * a model fitted in memory for the purpose (reco_evaluate_params)
 *
 * The held-out events come as the text of a query (events.c) whose first
 * two columns are user and item and whose optional third is a rating.  The metrics themselves are computed by
 * metrics.c.
 */
#include "reco.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "metrics.h"
#include "topk.h"

#include "params.h"
#include "train.h"
#include "model.h"
#include "events.h"
#include "resources.h"
#include "family/family.h"

PG_FUNCTION_INFO_V1(reco_evaluate);
PG_FUNCTION_INFO_V1(reco_evaluate_users);
PG_FUNCTION_INFO_V1(reco_evaluate_params);
PG_FUNCTION_INFO_V1(reco_evaluate_sampled);
PG_FUNCTION_INFO_V1(reco_cross_validate_folds);

/* Sums over users, for the one-row summary */
typedef struct EvalTotals
{
	int64		users;
	double		precision;
	double		recall;
	double		ndcg;
	double		ap;
	double		hit;
	double		rr;
	double		auc;
	int64		auc_users;
	uint8	   *covered;		/* items in anyone's top k */
	double		squared_error;
	double		absolute_error;
	int64		rated;
} EvalTotals;

/* The version to evaluate: the one served, or the one asked for */
static RecoModel *
version_arg(FunctionCallInfo fcinfo, const char *model, int argno)
{
	if (PG_ARGISNULL(argno))
		return reco_model_get(model);
	return reco_model_version_load(model, PG_GETARG_INT32(argno));
}

static int
cmp_pair(const void *a, const void *b)
{
	const RecoEventRow *x = a;
	const RecoEventRow *y = b;

	if (x->user != y->user)
		return (x->user > y->user) - (x->user < y->user);
	return (x->item > y->item) - (x->item < y->item);
}

/*
 * Run the query as role as and sort its held-out rows by user and item and keep a repeated pair
 * once (with one of its ratings: the sort is not stable, so give one rating
 * per pair); returns how many are kept
 */
static int64
unique_pairs(RecoEventRow *pairs, int64 n)
{
	int64		kept = 0;

	if (n > 1)
		qsort(pairs, n, sizeof(RecoEventRow), cmp_pair);
	for (int64 i = 0; i < n; i++)
		if (kept == 0 || cmp_pair(&pairs[kept - 1], &pairs[i]) != 0)
			pairs[kept++] = pairs[i];
	return kept;
}

/* Run a held-out query as role as and return its distinct pairs (unique_pairs) */
static RecoEventRow *
read_pairs(const char *query, const char *what, const RecoUser *as, RecoBudget *budget,
		   int64 *count)
{
	int64		n;
	RecoUser	now = reco_current_user();
	RecoEventRow *pairs;

	/* an analyst's query runs with the analyst's rights, not the owner's */
	reco_become(*as);
	pairs = reco_query_events(query, what, 3, budget, &n);
	reco_become(now);
	*count = unique_pairs(pairs, n);
	return pairs;
}

/*
 * Evaluate every held-out user the version knows.  With rsinfo set, emit one
 * row per user; always accumulate the totals.
 */
static void
evaluate(RecoModel *m, RecoEventRow *pairs, int64 npairs, int k,
		 ReturnSetInfo *rsinfo, RecoBudget *budget, EvalTotals *t)
{
	int32		n = m->n_items;
	Size		nbytes = (n + 7) / 8 + 1;
	float	   *x = palloc(sizeof(float) * m->family->user_floats(m));
	float	   *scores;
	float	   *scratch;
	uint8	   *skip;
	TopkEntry  *top;
	int32	   *rel;
	MemoryContext user_cxt;

	/* a user's relevant items are distinct, so there are at most n of them */
	reco_budget_charge(budget, (double) n * (2 * sizeof(float) + sizeof(int32)) +
					   2 * nbytes + sizeof(TopkEntry) * k,
					   psprintf("ranking %d items", n));
	scores = palloc_extended(sizeof(float) * Max(n, 1), MCXT_ALLOC_HUGE);
	scratch = palloc_extended(sizeof(float) * Max(n, 1), MCXT_ALLOC_HUGE);
	skip = palloc(nbytes);
	top = palloc(sizeof(TopkEntry) * k);
	rel = palloc_extended(sizeof(int32) * Max(n, 1), MCXT_ALLOC_HUGE);
	user_cxt = AllocSetContextCreate(CurrentMemoryContext, "reco evaluate user",
									 ALLOCSET_DEFAULT_SIZES);

	t->covered = palloc0(nbytes);
	for (int64 begin = 0, end; begin < npairs; begin = end)
	{
		int64		user = pairs[begin].user;
		ArrayType  *seen;
		bool		known;
		int32		nrel = 0;
		int			ntop;
		MetricsUser mu;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		for (end = begin; end < npairs && pairs[end].user == user; end++)
			;
		/* the user's row and its unpacking live until the next user */
		old = MemoryContextSwitchTo(user_cxt);
		seen = NULL;
		known = m->family->user(m, user, x, &seen) != RECO_STRANGER;
		if (known)
		{
			memset(skip, 0, nbytes);
			if (seen != NULL)
				reco_model_mark_items(m, seen, skip);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(user_cxt);
		if (!known)
			continue;

		m->family->score(m, x, NULL, n, scores);
		/* pairs are sorted by item, and so are model indexes */
		for (int64 i = begin; i < end; i++)
		{
			int32		idx = reco_model_item_index(m, pairs[i].item);
			double		err;

			if (idx < 0)
				continue;
			rel[nrel++] = idx;
			/* a rating model's score is the predicted rating */
			if (!m->params.explicit_ratings || !pairs[i].has_value)
				continue;
			err = scores[idx] - pairs[i].value;
			t->squared_error += err * err;
			t->absolute_error += fabs(err);
			t->rated++;
		}
		metrics_user(scores, n, skip, rel, nrel, (int32) (end - begin), k,
					 top, &ntop, scratch, &mu);
		for (int r = 0; r < ntop; r++)
			topk_bit_set(t->covered, top[r].index);

		t->users++;
		t->precision += mu.precision;
		t->recall += mu.recall;
		t->ndcg += mu.ndcg;
		t->ap += mu.ap;
		t->hit += mu.hit;
		t->rr += mu.rr;
		if (mu.auc_valid)
		{
			t->auc += mu.auc;
			t->auc_users++;
		}

		if (rsinfo != NULL)
		{
			Datum		values[10];
			bool		nulls[10] = {0};

			values[0] = Int64GetDatum(user);
			values[1] = Int32GetDatum(mu.relevant);
			values[2] = Int32GetDatum(mu.hits);
			values[3] = Float8GetDatum(mu.precision);
			values[4] = Float8GetDatum(mu.recall);
			values[5] = Float8GetDatum(mu.ndcg);
			values[6] = Float8GetDatum(mu.ap);
			values[7] = Float8GetDatum(mu.hit);
			values[8] = Float8GetDatum(mu.rr);
			values[9] = Float8GetDatum(mu.auc);
			nulls[9] = !mu.auc_valid;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	MemoryContextDelete(user_cxt);
}

/* reco_evaluate's eleven columns from the totals over a model's users */
static void
metrics_datums(const RecoModel *m, const EvalTotals *t, Datum *values, bool *nulls)
{
	int32		covered = 0;

	for (int32 i = 0; i < m->n_items; i++)
		covered += topk_bit_test(t->covered, i);

	memset(nulls, 0, sizeof(bool) * 11);
	values[0] = Int64GetDatum(t->users);
	values[1] = Float8GetDatum(t->precision / t->users);
	values[2] = Float8GetDatum(t->recall / t->users);
	values[3] = Float8GetDatum(t->ndcg / t->users);
	values[4] = Float8GetDatum(t->ap / t->users);
	values[5] = Float8GetDatum(t->hit / t->users);
	values[6] = Float8GetDatum(t->rr / t->users);
	for (int i = 1; i <= 6; i++)
		nulls[i] = t->users == 0;
	values[7] = Float8GetDatum(t->auc / t->auc_users);
	nulls[7] = t->auc_users == 0;
	values[8] = Float8GetDatum((double) covered / m->n_items);
	nulls[8] = m->n_items == 0;
	values[9] = Float8GetDatum(sqrt(t->squared_error / t->rated));
	values[10] = Float8GetDatum(t->absolute_error / t->rated);
	nulls[9] = nulls[10] = t->rated == 0;
}

/*
 * Evaluate a model on the test query and return reco_evaluate's row, built
 * in the caller's memory context (the SPI connection is still open)
 */
static Datum
evaluate_row(FunctionCallInfo fcinfo, RecoModel *m, const char *test, int k,
			 const RecoUser *as, RecoBudget *budget, MemoryContext caller)
{
	TupleDesc	desc;
	Datum		values[11];
	bool		nulls[11];
	RecoEventRow *pairs;
	int64		npairs;
	EvalTotals	totals = {0};

	pairs = read_pairs(test, "test", as, budget, &npairs);
	evaluate(m, pairs, npairs, k, NULL, budget, &totals);
	MemoryContextSwitchTo(caller);

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "reco: return type must be a row type");
	desc = BlessTupleDesc(desc);
	metrics_datums(m, &totals, values, nulls);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * The interactions of n training rows (user, item [, weight or rating [, ts]]),
 * with what naming the rows in messages
 */
static void
rows_triplets(const RecoEventRow *rows, int64 n, RecoTrainParams *params,
			  const char *what, RecoBudget *budget, RecoTriplets *t)
{
	reco_triplets_init(t, budget);
	for (int64 i = 0; i < n; i++)
	{
		if (!rows[i].has_value && params->explicit_ratings)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a rating model needs the rating of every training event"),
					 errhint("Return it as the third column of the %s query.", what)));
		if (!rows[i].has_ts)
			reco_hygiene_needs_times(params, psprintf("A row of the %s query has no time (fourth column, ts)", what));
		/* implicit feedback without a third column: one count per event */
		reco_triplets_add_at(t, rows[i].user, rows[i].item,
							 rows[i].has_value ? (float) rows[i].value : 1.0f,
							 rows[i].has_ts ? rows[i].ts : i);
	}
	/* the query's events are all of one kind: dedup_window per (user, item) */
	reco_triplets_hygiene(t, params);
}

/* A model fitted in memory to the interactions (charged to their budget) */
static RecoModel *
fit_model(RecoTriplets *t, const RecoTrainParams *params, const char *what)
{
	return reco_family(params->family)->fit_memory(params, t, what);
}

/*
 * reco_evaluate(model, test, k, version): one row of ranking metrics over
 * the held-out users, plus RMSE and MAE for a rating model.
 */
Datum
reco_evaluate(PG_FUNCTION_ARGS)
{
	RecoUser	analyst;		/* the caller, who runs the queries */
	char	   *model = reco_text_arg(fcinfo, 0, "model");
	char	   *test = reco_text_arg(fcinfo, 1, "test");
	int			k = PG_ARGISNULL(2) ? 10 : PG_GETARG_INT32(2);
	MemoryContext caller = CurrentMemoryContext;
	RecoModel  *m;
	Datum		result;
	RecoBudget	budget;

	reco_check_k(k);
	reco_budget_init(&budget, "evaluation");
	analyst = reco_become_owner();
	SPI_connect();
	m = version_arg(fcinfo, model, 3);
	result = evaluate_row(fcinfo, m, test, k, &analyst, &budget, caller);
	SPI_finish();
	reco_become(analyst);
	PG_RETURN_DATUM(result);
}

/*
 * reco_evaluate_params(train, test, params, k): fit a model to the train
 * query in memory and evaluate it on the test query, writing nothing: the
 * unit of cross-validation and tuning.
 */
Datum
reco_evaluate_params(PG_FUNCTION_ARGS)
{
	RecoUser	analyst;		/* the caller, who runs the queries */
	char	   *train = reco_text_arg(fcinfo, 0, "train");
	char	   *test = reco_text_arg(fcinfo, 1, "test");
	Jsonb	   *given = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	int			k = PG_ARGISNULL(3) ? 10 : PG_GETARG_INT32(3);
	MemoryContext caller = CurrentMemoryContext;
	RecoTrainParams params;
	RecoEventRow *rows;
	int64		nrows;
	RecoTriplets triplets;
	RecoModel  *m;
	Datum		result;
	RecoBudget	budget;

	reco_check_k(k);
	reco_parse_params(reco_params_family(given), NULL, given, &params);
	SPI_connect();
	reco_budget_init(&budget, "evaluation");
	/* the time (fourth column) only when hygiene needs it: else ignored, as ever */
	rows = reco_query_events(train, "train",
							 params.half_life > 0.0 || params.dedup_window > 0.0 ? 4 : 3,
							 &budget, &nrows);
	if (nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no interactions to train on"),
				 errhint("The train query returned no rows.")));
	rows_triplets(rows, nrows, &params, "train", &budget, &triplets);
	reco_budget_free(&budget, rows, reco_events_bytes(nrows));
	m = fit_model(&triplets, &params, "train");
	analyst = reco_current_user();
	result = evaluate_row(fcinfo, m, test, k, &analyst, &budget, caller);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * reco_cross_validate_folds(source, params, folds, k, method, seed): for
 * each fold of the source query's events (reco_folds' deal; folds = 1 is
 * the first quarter of a four-way deal), reco_evaluate_params trained on the
 * other folds and tested on it.  The source is read once and nothing is
 * written, so it runs in a read-only transaction and on a standby.
 */
Datum
reco_cross_validate_folds(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *source = reco_text_arg(fcinfo, 0, "source");
	Jsonb	   *given = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	int32		folds = PG_ARGISNULL(2) ? 5 : PG_GETARG_INT32(2);
	int			k = PG_ARGISNULL(3) ? 10 : PG_GETARG_INT32(3);
	char	   *method = reco_text_arg(fcinfo, 4, "method");
	int32		seed = PG_ARGISNULL(5) ? 42 : PG_GETARG_INT32(5);
	int32		deal = folds == 1 ? 4 : folds;
	bool		progress = reco_progress;
	RecoTrainParams params;
	RecoEventRow *rows;
	int64		n;
	int32	   *fold;
	RecoEventRow *train;
	RecoEventRow *test;
	MemoryContext fold_cxt;
	int			nest;
	RecoBudget	budget;

	if (folds < 1 || folds > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("folds must be between 1 and 100")));
	reco_check_k(k);
	reco_parse_params(reco_params_family(given), NULL, given, &params);

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	reco_budget_init(&budget, "cross-validation");
	rows = reco_query_events(source, "source", 4, &budget, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no interactions to cross-validate on"),
				 errhint("The source query returned no rows.")));
	fold = reco_assign_folds(rows, n, method, deal, seed);
	/* values as reco_folds returns them (real): the same fits as on its rows */
	for (int64 i = 0; i < n; i++)
		if (rows[i].has_value)
			rows[i].value = (float) rows[i].value;
	train = reco_budget_alloc(&budget, sizeof(RecoEventRow) * n, "the training folds");
	test = reco_budget_alloc(&budget, sizeof(RecoEventRow) * n, "the test fold");
	fold_cxt = AllocSetContextCreate(CurrentMemoryContext, "reco cross-validation fold",
									 ALLOCSET_DEFAULT_SIZES);

	/* one NOTICE per fold is progress enough: none from the fits */
	nest = NewGUCNestLevel();
	(void) set_config_option("reco.progress", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	for (int32 f = 0; f < folds; f++)
	{
		int64		ntrain = 0;
		int64		ntest = 0;
		instr_time	start;
		RecoTriplets triplets;
		RecoBudget	fold_budget;
		RecoModel  *m;
		EvalTotals	totals = {0};
		Datum		values[12];
		bool		nulls[12];
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		INSTR_TIME_SET_CURRENT(start);
		for (int64 i = 0; i < n; i++)
		{
			if (fold[i] == f)
				test[ntest++] = rows[i];
			else
				train[ntrain++] = rows[i];
		}
		if (ntrain == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("fold %d leaves no events to train on", f),
					 errdetail_plural("The source query's %lld event fell in fold %d of folds 0 to %d.",
									  "All %lld events of the source query fell in fold %d of folds 0 to %d.",
									  n, (long long) n, f, deal - 1),
					 errhint("Cross-validation needs events in more than one fold: give it more users and items, or evaluate a split (reco_split) instead.")));

		/* what a fold allocates goes with it: its budget starts from the run's */
		fold_budget = budget;
		old = MemoryContextSwitchTo(fold_cxt);
		rows_triplets(train, ntrain, &params, "source", &fold_budget, &triplets);
		m = fit_model(&triplets, &params, "source");
		evaluate(m, test, unique_pairs(test, ntest), k, NULL, &fold_budget, &totals);
		values[0] = Int32GetDatum(f);
		nulls[0] = false;
		metrics_datums(m, &totals, values + 1, nulls + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(fold_cxt);

		if (progress)
		{
			instr_time	now;

			INSTR_TIME_SET_CURRENT(now);
			INSTR_TIME_SUBTRACT(now, start);
			ereport(NOTICE,
					(errmsg("reco: fold %d/%d: nDCG@%d %s, %.2f s", f + 1, folds, k,
							nulls[4] ? "NULL" : psprintf("%.4f", DatumGetFloat8(values[4])),
							INSTR_TIME_GET_DOUBLE(now))));
		}
	}
	AtEOXact_GUC(true, nest);
	MemoryContextDelete(fold_cxt);
	SPI_finish();
	return (Datum) 0;
}

/* reco_evaluate_users(model, test, k, version): the same, one row per user */
Datum
reco_evaluate_users(PG_FUNCTION_ARGS)
{
	RecoUser	analyst;		/* the caller, who runs the queries */
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *model = reco_text_arg(fcinfo, 0, "model");
	char	   *test = reco_text_arg(fcinfo, 1, "test");
	int			k = PG_ARGISNULL(2) ? 10 : PG_GETARG_INT32(2);
	RecoModel  *m;
	RecoEventRow   *pairs;
	int64		npairs;
	EvalTotals	t = {0};
	RecoBudget	budget;

	reco_check_k(k);
	reco_budget_init(&budget, "evaluation");
	InitMaterializedSRF(fcinfo, 0);
	analyst = reco_become_owner();
	SPI_connect();
	m = version_arg(fcinfo, model, 3);
	pairs = read_pairs(test, "test", &analyst, &budget, &npairs);
	evaluate(m, pairs, npairs, k, rsinfo, &budget, &t);
	SPI_finish();
	reco_become(analyst);
	return (Datum) 0;
}

/*
 * reco_evaluate_sampled(model, test, negatives, k, version): the NCF
 * protocol.  Each held-out (user, item) is ranked among that user's sampled
 * negatives; a case the model cannot score is a miss.
 */
Datum
reco_evaluate_sampled(PG_FUNCTION_ARGS)
{
	RecoUser	analyst;		/* the caller, who runs the queries */
	char	   *model = reco_text_arg(fcinfo, 0, "model");
	char	   *test = reco_text_arg(fcinfo, 1, "test");
	char	   *negq = reco_text_arg(fcinfo, 2, "negatives");
	int			k = PG_ARGISNULL(3) ? 10 : PG_GETARG_INT32(3);
	TupleDesc	desc;
	RecoModel  *m;
	RecoEventRow   *cases;
	RecoEventRow   *negs;
	int64		ncases;
	int64		nnegs;
	int64		unscored = 0;
	double		hits = 0.0;
	double		ndcg = 0.0;
	float	   *x;
	float	   *negscores;
	float		score;
	int64		user = 0;
	bool		known = false;
	int64		nb = 0;			/* first negative of the current user */
	Datum		values[4];
	bool		nulls[4] = {0};
	RecoBudget	budget;

	reco_check_k(k);
	reco_budget_init(&budget, "evaluation");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "reco_evaluate_sampled: return type must be a row type");
	desc = BlessTupleDesc(desc);

	analyst = reco_become_owner();
	SPI_connect();
	m = version_arg(fcinfo, model, 4);
	cases = read_pairs(test, "test", &analyst, &budget, &ncases);
	negs = read_pairs(negq, "negatives", &analyst, &budget, &nnegs);
	x = palloc(sizeof(float) * m->family->user_floats(m));
	/* a user's negatives are distinct known items: at most n_items of them */
	negscores = reco_budget_alloc(&budget, sizeof(float) * m->n_items, "negative scores");

	for (int64 c = 0; c < ncases; c++)
	{
		int32		idx = reco_model_item_index(m, cases[c].item);
		int64		ne;
		int32		nscored = 0;
		int32		rank;

		CHECK_FOR_INTERRUPTS();
		if (c == 0 || cases[c].user != user)
		{
			user = cases[c].user;
			known = m->family->user(m, user, x, NULL) != RECO_STRANGER;
		}
		if (!known || idx < 0)
		{
			unscored++;
			continue;
		}
		/* this user's negatives: both lists are sorted by user */
		while (nb < nnegs && negs[nb].user < user)
			nb++;
		for (ne = nb; ne < nnegs && negs[ne].user == user; ne++)
			;
		for (int64 i = nb; i < ne; i++)
		{
			int32		j = reco_model_item_index(m, negs[i].item);

			if (j >= 0 && j != idx)
				m->family->score(m, x, &j, 1, &negscores[nscored++]);
		}
		m->family->score(m, x, &idx, 1, &score);
		rank = metrics_sampled_rank(score, negscores, nscored);
		if (rank <= k)
		{
			hits += 1.0;
			ndcg += 1.0 / log2(rank + 1.0);
		}
	}

	values[0] = Int64GetDatum(ncases);
	values[1] = Int64GetDatum(unscored);
	values[2] = Float8GetDatum(hits / ncases);
	values[3] = Float8GetDatum(ndcg / ncases);
	nulls[2] = nulls[3] = ncases == 0;
	SPI_finish();
	reco_become(analyst);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
