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
#include "utils/builtins.h"

#include "metrics.h"
#include "topk.h"

PG_FUNCTION_INFO_V1(reco_evaluate);
PG_FUNCTION_INFO_V1(reco_evaluate_users);
PG_FUNCTION_INFO_V1(reco_evaluate_params);
PG_FUNCTION_INFO_V1(reco_evaluate_sampled);

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
 * Run a held-out query and return its (user, item, rating) rows sorted by
 * user and item, a repeated pair kept once (with one of its ratings: the
 * sort is not stable, so give one rating per pair).
 */
static RecoEventRow *
read_pairs(const char *query, const char *what, RecoBudget *budget, int64 *count)
{
	int64		n;
	int64		kept = 0;
	RecoEventRow *pairs = reco_query_events(query, what, 3, budget, &n);

	if (n > 1)
		qsort(pairs, n, sizeof(RecoEventRow), cmp_pair);
	for (int64 i = 0; i < n; i++)
		if (kept == 0 || cmp_pair(&pairs[kept - 1], &pairs[i]) != 0)
			pairs[kept++] = pairs[i];
	*count = kept;
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
	float	   *x = palloc(sizeof(float) * m->factors);
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
		known = reco_model_user(m, user, x, &seen);
		if (known)
		{
			memset(skip, 0, nbytes);
			reco_model_mark_items(m, seen, skip);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(user_cxt);
		if (!known)
			continue;

		topk_scores(m->Yt, n, m->factors, x, scores);
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

/*
 * Evaluate a model on the test query and return reco_evaluate's row, built
 * in the caller's memory context (the SPI connection is still open)
 */
static Datum
evaluate_row(FunctionCallInfo fcinfo, RecoModel *m, const char *test, int k,
			 RecoBudget *budget, MemoryContext caller)
{
	TupleDesc	desc;
	Datum		values[11];
	bool		nulls[11] = {0};
	int32		covered = 0;
	RecoEventRow *pairs;
	int64		npairs;
	EvalTotals	totals = {0};
	EvalTotals *t = &totals;

	pairs = read_pairs(test, "test", budget, &npairs);
	evaluate(m, pairs, npairs, k, NULL, budget, t);
	MemoryContextSwitchTo(caller);

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "reco: return type must be a row type");
	desc = BlessTupleDesc(desc);
	for (int32 i = 0; i < m->n_items; i++)
		covered += topk_bit_test(t->covered, i);

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
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * reco_evaluate(model, test, k, version): one row of ranking metrics over
 * the held-out users, plus RMSE and MAE for a rating model.
 */
Datum
reco_evaluate(PG_FUNCTION_ARGS)
{
	char	   *model = reco_text_arg(fcinfo, 0, "model");
	char	   *test = reco_text_arg(fcinfo, 1, "test");
	int			k = PG_ARGISNULL(2) ? 10 : PG_GETARG_INT32(2);
	MemoryContext caller = CurrentMemoryContext;
	RecoModel  *m;
	Datum		result;
	RecoBudget	budget;

	reco_check_k(k);
	reco_budget_init(&budget, "evaluation");
	SPI_connect();
	m = version_arg(fcinfo, model, 3);
	result = evaluate_row(fcinfo, m, test, k, &budget, caller);
	SPI_finish();
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
	char	   *train = reco_text_arg(fcinfo, 0, "train");
	char	   *test = reco_text_arg(fcinfo, 1, "test");
	Jsonb	   *given = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	int			k = PG_ARGISNULL(3) ? 10 : PG_GETARG_INT32(3);
	MemoryContext caller = CurrentMemoryContext;
	RecoTrainParams params;
	RecoEventRow *rows;
	int64		nrows;
	RecoTriplets triplets;
	RecoFit		fit;
	RecoModel  *m;
	Datum		result;
	RecoBudget	budget;

	reco_check_k(k);
	reco_parse_params(NULL, given, &params);
	reco_budget_init(&budget, "evaluation");
	SPI_connect();
	rows = reco_query_events(train, "train", 3, &budget, &nrows);
	if (nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no interactions to train on"),
				 errhint("The train query returned no rows.")));
	reco_triplets_init(&triplets, &budget);
	for (int64 i = 0; i < nrows; i++)
	{
		/* implicit feedback without a third column: one count per event */
		float		w = rows[i].has_value ? (float) rows[i].value : 1.0f;

		if (!rows[i].has_value && params.explicit_ratings)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a rating model needs the rating of every training event"),
					 errhint("Return it as the third column of the train query.")));
		if (isinf(w))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("weight %g is out of range for real", rows[i].value)));
		reco_triplets_add(&triplets, rows[i].user, rows[i].item, w);
	}
	reco_budget_free(&budget, rows, reco_events_bytes(nrows));
	reco_fit("the train query's model", &params, &triplets, 0.0, &fit);
	/* serving the fit needs the item factors transposed */
	reco_budget_charge(&budget, (double) sizeof(float) * Max(fit.n_items, 1) * fit.factors,
					   "the fitted model's item matrix");
	m = reco_model_from_fit(&fit, &params);
	result = evaluate_row(fcinfo, m, test, k, &budget, caller);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/* reco_evaluate_users(model, test, k, version): the same, one row per user */
Datum
reco_evaluate_users(PG_FUNCTION_ARGS)
{
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
	SPI_connect();
	m = version_arg(fcinfo, model, 3);
	pairs = read_pairs(test, "test", &budget, &npairs);
	evaluate(m, pairs, npairs, k, rsinfo, &budget, &t);
	SPI_finish();
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

	SPI_connect();
	m = version_arg(fcinfo, model, 4);
	cases = read_pairs(test, "test", &budget, &ncases);
	negs = read_pairs(negq, "negatives", &budget, &nnegs);
	x = palloc(sizeof(float) * m->factors);
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
			known = reco_model_user(m, user, x, NULL);
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
				negscores[nscored++] = reco_model_score(m, m->Yt, j, x);
		}
		rank = metrics_sampled_rank(reco_model_score(m, m->Yt, idx, x),
									negscores, nscored);
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
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
