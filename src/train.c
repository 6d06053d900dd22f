/*
 * train.c - training runs: reco_train over reco_event, the reco_train_agg
 * aggregate over any query, their interactions, and the family's fit
 * stored, activated and caught up as a version
 */
#include "reco.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "params.h"
#include "train.h"
#include "model.h"
#include "online.h"
#include "storage.h"
#include "repeat.h"
#include "resources.h"
#include "family/family.h"

PG_FUNCTION_INFO_V1(reco_train);

bool		reco_progress = true;

/* Define reco.progress (from _PG_init) */
void
reco_train_init(void)
{
	DefineCustomBoolVariable("reco.progress",
							 "Report training progress as NOTICE messages.",
							 NULL,
							 &reco_progress,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}

PG_FUNCTION_INFO_V1(reco_train_agg_step);
PG_FUNCTION_INFO_V1(reco_train_agg_ts_step);
PG_FUNCTION_INFO_V1(reco_train_agg_final);

typedef struct TrainSummary
{
	int32		version;
	int64		users;
	int64		items;
	int64		interactions;
	double		loss;
	double		seconds;
} TrainSummary;

/* State of reco_train_agg */
typedef struct TrainAggState
{
	RecoBudget	budget;			/* of the whole run, from the first row */
	RecoTriplets triplets;
	char	   *model;
	Jsonb	   *params;
	instr_time	first_row;		/* reading time runs from here */
	bool		timed;			/* some rows carried a time, */
	bool		untimed;		/* some did not (their order stands for it) */
	bool		ts_form;		/* the form with ts was called */
} TrainAggState;

/*
 * Start an empty triplet list in the current memory context, charged to
 * the run's budget
 */
void
reco_triplets_init(RecoTriplets *t, RecoBudget *budget)
{
	t->n = 0;
	t->cap = 1024;
	t->budget = budget;
	t->counted = NULL;
	t->rows = reco_budget_alloc(budget, sizeof(RecoTriplet) * t->cap,
								"collecting interactions");
}

/*
 * Append one event of a kind (-1: not known) that happened at ts, within
 * the memory limit
 */
void
reco_triplets_add_event(RecoTriplets *t, int64 user, int64 item, float weight, int64 ts,
						int kind)
{
	if (t->n == t->cap)
	{
		int64		cap = t->cap * 2;

		/* repalloc may copy: old and new arrays live for a moment */
		reco_budget_charge(t->budget, (double) cap * sizeof(RecoTriplet),
						   "collecting interactions");
		t->rows = repalloc_huge(t->rows, sizeof(RecoTriplet) * cap);
		reco_budget_release(t->budget, (double) t->cap * sizeof(RecoTriplet));
		t->cap = cap;
	}
	t->rows[t->n].user = user;
	t->rows[t->n].item = item;
	t->rows[t->n].weight = weight;
	t->rows[t->n].kind = (int16) kind;
	t->rows[t->n].ts = ts;
	t->n++;
}

/* Append one interaction that happened at ts */
void
reco_triplets_add_at(RecoTriplets *t, int64 user, int64 item, float weight, int64 ts)
{
	reco_triplets_add_event(t, user, item, weight, ts, -1);
}

/* Append one interaction; its arrival order stands for its time */
void
reco_triplets_add(RecoTriplets *t, int64 user, int64 item, float weight)
{
	reco_triplets_add_at(t, user, item, weight, t->n);
}

static int
cmp_triplet(const void *a, const void *b)
{
	const RecoTriplet *x = a;
	const RecoTriplet *y = b;

	if (x->user != y->user)
		return (x->user > y->user) - (x->user < y->user);
	return (x->item > y->item) - (x->item < y->item);
}

/*
 * Sort by (user, item) and merge repeated pairs.  Implicit feedback sums
 * them (repeated events accumulate) and drops pairs whose total is not
 * positive (returns cancelling purchases); explicit ratings average them
 * and keep every rating, whatever its sign.  A merged pair happened when
 * its latest event did.
 */
void
reco_triplets_merge(RecoTriplets *t, bool ratings, int64 *counts)
{
	int64		m = 0;
	int64		count = 0;		/* of the pair being merged */

	qsort(t->rows, t->n, sizeof(RecoTriplet), cmp_triplet);
	for (int64 i = 0; i < t->n; i++)
	{
		if (m > 0 && t->rows[m - 1].user == t->rows[i].user &&
			t->rows[m - 1].item == t->rows[i].item)
		{
			count++;
			t->rows[m - 1].ts = Max(t->rows[m - 1].ts, t->rows[i].ts);
			if (ratings)
				t->rows[m - 1].weight += (t->rows[i].weight - t->rows[m - 1].weight) / count;
			else
				t->rows[m - 1].weight += t->rows[i].weight;
		}
		else
		{
			t->rows[m++] = t->rows[i];
			count = 1;
		}
		if (counts != NULL)
			counts[m - 1] = count;
	}
	t->n = 0;
	for (int64 i = 0; i < m; i++)
		if (ratings || t->rows[i].weight > 0.0f)
		{
			if (counts != NULL)
				counts[t->n] = counts[i];
			t->rows[t->n++] = t->rows[i];
		}
}

/*
 * The run's interactions as matrices: the triplets merged, users and items
 * given dense ids in ascending order, and the user-item matrix and its
 * transpose, each implicit weight capped at max_weight.  Every buffer is
 * charged to t->budget; what names the model in errors.
 */
void
reco_interactions(const char *what, const RecoTrainParams *params, RecoTriplets *t,
				  RecoInteractions *out)
{
	RecoBudget *b = t->budget;
	int64	   *user_ids;
	int64	   *item_ids;
	int64		nu;
	int64		ni;
	int64		nnz;
	int32	   *rows;
	int32	   *cols;
	float	   *weights;
	int32	   *table = NULL;
	int64		span;

	if (t->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no interactions to train %s on", what),
				 errhint("Insert events first, and check that their kinds have a non-zero weight.")));

	reco_triplets_merge(t, params->explicit_ratings, NULL);
	if (t->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no interactions with a positive weight to train %s on", what)));

	/* users arrive sorted; items are sorted and deduplicated here */
	out->user_ids = user_ids = reco_budget_alloc(b, sizeof(int64) * t->n, "user ids");
	out->item_ids = item_ids = reco_budget_alloc(b, sizeof(int64) * t->n, "item ids");
	nu = ni = 0;
	for (int64 i = 0; i < t->n; i++)
	{
		if (nu == 0 || user_ids[nu - 1] != t->rows[i].user)
			user_ids[nu++] = t->rows[i].user;
		item_ids[i] = t->rows[i].item;
	}
	qsort(item_ids, t->n, sizeof(int64), reco_cmp_int64);
	for (int64 i = 0; i < t->n; i++)
		if (ni == 0 || item_ids[ni - 1] != item_ids[i])
			item_ids[ni++] = item_ids[i];
	if (nu > INT_MAX || ni > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct users or items for one model")));
	CHECK_FOR_INTERRUPTS();

	/* the dense triplets live until both CSR forms exist */
	rows = reco_budget_alloc(b, sizeof(int32) * t->n, "dense interactions");
	cols = reco_budget_alloc(b, sizeof(int32) * t->n, "dense interactions");
	weights = reco_budget_alloc(b, sizeof(float) * t->n, "dense interactions");
	/* items by a table when their ids are dense (a search each cost 0.3 s a million) */
	span = reco_id_table_span(item_ids, ni);
	if (span > 0)
	{
		table = reco_budget_alloc(b, sizeof(int32) * span, "item ids");
		reco_id_table_fill(item_ids, ni, table, span);
	}
	for (int64 i = 0, u = -1; i < t->n; i++)
	{
		if (i == 0 || t->rows[i].user != t->rows[i - 1].user)
			u++;
		rows[i] = (int32) u;
		cols[i] = (int32) reco_id_find(item_ids, ni, table, span, t->rows[i].item);
		/* a customer's weight for an item counts up to max_weight */
		weights[i] = params->explicit_ratings ? t->rows[i].weight
			: (float) Min(t->rows[i].weight, params->max_weight);
	}
	out->Rui.indptr = reco_budget_alloc(b, sizeof(int64) * (nu + 1), "the user-item matrix");
	out->Rui.indices = reco_budget_alloc(b, sizeof(int32) * t->n, "the user-item matrix");
	out->Rui.data = reco_budget_alloc(b, sizeof(float) * t->n, "the user-item matrix");
	out->nnz = nnz = csr_from_triplets((int32) nu, (int32) ni, t->n, rows, cols, weights, &out->Rui);
	reco_budget_free(b, rows, sizeof(int32) * t->n);
	reco_budget_free(b, cols, sizeof(int32) * t->n);
	reco_budget_free(b, weights, sizeof(float) * t->n);
	if (table != NULL)
		reco_budget_free(b, table, sizeof(int32) * span);
	out->Riu.indptr = reco_budget_alloc(b, sizeof(int64) * (ni + 1), "the item-user matrix");
	out->Riu.indices = reco_budget_alloc(b, sizeof(int32) * nnz, "the item-user matrix");
	out->Riu.data = reco_budget_alloc(b, sizeof(float) * nnz, "the item-user matrix");
	csr_transpose(&out->Rui, &out->Riu);
	CHECK_FOR_INTERRUPTS();
	out->nu = nu;
	out->ni = ni;
}

/*
 * The ids of row r of R (a user's items, dense indexes into item_ids) as an
 * int8 array: a fitted model's "already seen"
 */
ArrayType *
reco_csr_row_ids(const RecoCsr *R, int64 r, const int64 *item_ids)
{
	int64		start = R->indptr[r];
	int			len = (int) (R->indptr[r + 1] - start);
	Datum	   *d = palloc(sizeof(Datum) * Max(len, 1));

	for (int i = 0; i < len; i++)
		d[i] = Int64GetDatum(item_ids[R->indices[start + i]]);
	return construct_array(d, len, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * The interactions of each user in the order they happened (least recent
 * first, ties by item), as histories are stored: the online fold-in window
 * takes their tail.  t is aligned with R (both sorted by user, then item).
 */
RecoCsr
reco_history_by_time(const RecoCsr *R, const RecoTriplets *t)
{
	RecoCsr		out = *R;
	int64	   *pos = reco_budget_alloc(t->budget, sizeof(int64) * csr_max_row(R),
										"ordering histories");

	out.indices = reco_budget_alloc(t->budget, sizeof(int32) * t->n, "ordering histories");
	out.data = reco_budget_alloc(t->budget, sizeof(float) * t->n, "ordering histories");
	for (int32 u = 0; u < R->nrows; u++)
	{
		int64		start = R->indptr[u];
		int64		len = R->indptr[u + 1] - start;

		for (int64 i = 0; i < len; i++)
			pos[i] = start + i;
		/* insertion sort by time: rows are short and mostly in order */
		for (int64 i = 1; i < len; i++)
		{
			int64		p = pos[i];
			int64		j = i;

			while (j > 0 && t->rows[pos[j - 1]].ts > t->rows[p].ts)
			{
				pos[j] = pos[j - 1];
				j--;
			}
			pos[j] = p;
		}
		for (int64 i = 0; i < len; i++)
		{
			out.indices[start + i] = R->indices[pos[i]];
			out.data[start + i] = t->rows[pos[i]].weight;	/* the sum, uncapped */
		}
	}
	reco_budget_free(t->budget, pos, sizeof(int64) * csr_max_row(R));
	return out;
}

/*
 * Train a version of the model's family on the triplets and activate it.
 * Runs inside the caller's SPI connection; every large buffer lives in
 * mcxt.  seen is the snapshot the events were read with (reader read
 * them): for a training on reco_event, the events committed since then are
 * caught up into the new version before it is published, so it forgets
 * none of them.
 */
static void
fit_and_store(const char *model, const RecoFamily *family, const char *source,
			  RecoTrainParams *params, RecoTriplets *t, MemoryContext mcxt,
			  instr_time start, double read_seconds, Snapshot seen,
			  const RecoUser *reader, TrainSummary *sum)
{
	MemoryContext old = MemoryContextSwitchTo(mcxt);
	RecoFitResult fit = {0};
	RecoRepeat	repeat = {0};
	RecoUser	me = reco_current_user();
	bool		fitted;
	double		write_seconds;
	double		repeat_seconds;
	instr_time	repeat_start;
	StringInfoData metrics;
	int64		version_id;
	int64		caught_up = 0;
	Jsonb	   *resolved;
	Snapshot	now;
	bool		online;
	bool		learns;
	bool		from_events;
	Oid			owner;

	version_id = reco_version_id_next();
	/*
	 * buying again is fitted on the events before the family's fit merges
	 * them, reading what it reads (an mlp's features) as the trainer
	 */
	if (reader != NULL)
		reco_become(*reader);
	INSTR_TIME_SET_CURRENT(repeat_start);
	fitted = params->repeat && reco_repeat_fit(family, params, t, &repeat);
	repeat_seconds = reco_seconds_since(repeat_start);
	reco_become(me);
	if (fitted && reco_progress)
		ereport(NOTICE,
				(errmsg("reco: buying again for model \"%s\": weight %g, half-life %g (nDCG@10 of %d validation customers %.4f, %.4f without)",
						model, repeat.weight, repeat.half, repeat.customers, repeat.ndcg_with,
						repeat.ndcg_without)));
	t->counted = repeat.weight > 0.0f ? &repeat.counted : NULL;
	family->fit_store(model, params, t, read_seconds, version_id, reader, &fit);
	t->counted = NULL;
	online = fit.learns_online;
	resolved = reco_params_jsonb(params);
	sum->version = reco_store_version(version_id, model, family->name, resolved, fit.factors,
									  fit.n_users, fit.n_items, fit.nnz,
									  DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																		 CStringGetDatum("{}"))));
	if (repeat.weight > 0.0f)
		reco_repeat_store(version_id, &repeat);

	/*
	 * A version trained under row security saw only some events: the
	 * trigger, which feeds it every event, must not teach it the others.
	 */
	if (reader != NULL &&
		check_enable_rls(reco_table_oid("reco_event"), reader->userid, true) == RLS_ENABLED &&
		strcmp(source, "reco_event") == 0)
	{
		online = false;
		ereport(NOTICE,
				(errmsg("model \"%s\" does not learn online: it was trained under row-level security",
						model),
				 errdetail("Online learning would teach it events its trainer cannot see.")));
	}
	reco_model_set_active(model, version_id, resolved, source, online);

	/*
	 * Events committed while this version trained went to the old one.  Under
	 * the registry lock, with a snapshot taken now, the new version takes
	 * them in as online events would have; the queues of the versions it
	 * supersedes are dropped as far as they hold events the training read
	 * (all it saw, and all this catch-up saw).  Later rows (an insert still
	 * in flight now, or events a training that could not catch up did not
	 * see) wait there for reco_refresh to replay them.
	 */
	now = RegisterSnapshot(GetLatestSnapshot());
	if (online && reco_storage_model_feed(model, &learns, &from_events, &owner) &&
		learns && from_events)
	{
		RecoModel  *m = fit.online;

		/* a family that kept no model in memory reads the version back */
		PushActiveSnapshot(now);
		if (m == NULL)
			m = reco_model_version_load(model, sum->version);
		strlcpy(m->name, model, sizeof(m->name));
		m->version_id = version_id;
		caught_up = reco_online_catch_up(m, seen, now);
		PopActiveSnapshot();
		seen = now;
	}
	reco_pending_drop_superseded(model, version_id, seen);
	UnregisterSnapshot(now);
	write_seconds = reco_seconds_since(start) - read_seconds - repeat_seconds - fit.solve_seconds;

	initStringInfo(&metrics);
	appendStringInfo(&metrics,
					 "{\"loss\": [%s], \"seconds\": {\"read\": %.6f, \"repeat\": %.6f, "
					 "\"solve\": %.6f, \"write\": %.6f, \"per_iteration\": %.6f}, "
					 "\"caught_up\": %lld",
					 fit.losses, read_seconds, repeat_seconds, fit.solve_seconds, write_seconds,
					 fit.solve_seconds / Max(fit.steps, 1), (long long) caught_up);
	if (repeat.customers > 0)
		appendStringInfo(&metrics, ", \"repeat\": {\"weight\": %g, \"half_life\": %g, "
						 "\"customers\": %d, \"ndcg\": %.6f, \"ndcg_without\": %.6f}",
						 repeat.weight, repeat.half, repeat.customers, repeat.ndcg_with,
						 repeat.ndcg_without);
	appendStringInfoChar(&metrics, '}');
	reco_version_set_metrics(version_id,
							 DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																CStringGetDatum(metrics.data))));

	sum->users = fit.n_users;
	sum->items = fit.n_items;
	sum->interactions = fit.nnz;
	sum->loss = fit.loss;
	sum->seconds = reco_seconds_since(start);
	if (reco_progress)
		ereport(NOTICE,
				(errmsg("reco: model \"%s\" version %d active: read %.3f s, buying again %.3f s, solve %.3f s, write %.3f s, %lld events caught up",
						model, sum->version, read_seconds, repeat_seconds, fit.solve_seconds,
						write_seconds, (long long) caught_up)));
	MemoryContextSwitchTo(old);
}

/* The composite result of a training run */
static Datum
train_result(FunctionCallInfo fcinfo, const char *model, const TrainSummary *s)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {0};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "reco: return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = CStringGetTextDatum(model);
	values[1] = Int32GetDatum(s->version);
	values[2] = Int64GetDatum(s->users);
	values[3] = Int64GetDatum(s->items);
	values[4] = Int64GetDatum(s->interactions);
	values[5] = Float8GetDatum(s->loss);
	values[6] = Float8GetDatum(s->seconds);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* A model name, or an error for NULL or a bad length */
static char *
model_name(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	/* bytes, as the reco_model_name_bytes constraint counts them */
	if (strlen(name) < 1 || strlen(name) > RECO_MAX_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must be 1 to %d bytes long", RECO_MAX_NAME),
				 errdetail("It has %zu bytes.", strlen(name))));
	return name;
}

/* Train on reco_event, each event weighted by its kind's weight times its counted value */
Datum
reco_train(PG_FUNCTION_ARGS)
{
	char	   *model = model_name(fcinfo, 0);
	char	   *algorithm;
	const RecoFamily *family;
	Jsonb	   *given = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	MemoryContext mcxt;
	RecoBudget	budget;
	RecoTriplets t;
	RecoTrainParams params;
	TrainSummary sum;
	instr_time	start;
	Portal		portal;
	char	   *sql;
	MemoryContext old;
	int			rating;
	Snapshot	seen;
	RecoUser	caller;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("algorithm must not be NULL")));
	algorithm = text_to_cstring(PG_GETARG_TEXT_PP(1));
	family = reco_family(algorithm);

	INSTR_TIME_SET_CURRENT(start);
	mcxt = AllocSetContextCreate(CurrentMemoryContext, "reco training",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(mcxt);
	reco_budget_init(&budget, "training");
	reco_triplets_init(&t, &budget);
	MemoryContextSwitchTo(old);

	reco_lock_trainings(false);
	caller = reco_become_owner();
	SPI_connect();
	reco_parse_params(family->name, reco_model_lock(model, family->name, caller.userid),
					  given, &params);

	/*
	 * The events as of a snapshot taken once the model is locked; what
	 * commits later is caught up at activation (fit_and_store).  They are
	 * read with the caller's rights and row security.
	 */
	seen = RegisterSnapshot(GetTransactionSnapshot());
	PushActiveSnapshot(seen);
	reco_become(caller);

	/*
	 * Weigh and sum in C: cheaper than a hash aggregate over every event.  A
	 * rating model learns from 'rating' events, their value the rating.
	 */
	rating = reco_kind("rating", 6);
	sql = psprintf("SELECT user_id, item_id, kind, value, "
				   "ts, event_id FROM %s",
				   reco_table("reco_event"));
	portal = SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL, true, 0);
	for (int fetch = RECO_FETCH_FIRST;;)
	{
		if (reco_fetch(portal, &fetch) == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(mcxt);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			text	   *kind = DatumGetTextPP(SPI_getbinval(tup, desc, 3, &isnull));
			int			k = reco_kind(VARDATA_ANY(kind), VARSIZE_ANY_EXHDR(kind));
			double		w;

			if (k < 0 || (params.explicit_ratings ? k != rating : params.weights[k] == 0.0))
				continue;
			w = DatumGetFloat4(SPI_getbinval(tup, desc, 4, &isnull));
			/* only an insert with triggers disabled gets past the trigger's check */
			if (!reco_value_in_range(w))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("value of event %lld must be between %.0f and %.0f",
								(long long) DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull)),
								-RECO_MAX_VALUE, RECO_MAX_VALUE),
						 errdetail("It was %.7g.", w),
						 errhint("Correct or delete the event; it was inserted with triggers disabled.")));
			if (!params.explicit_ratings)
				w = params.weights[k] * reco_event_value(&params, w);
			reco_triplets_add_event(&t,
									DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)),
									DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull)),
									(float) w,
									DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull)),
									k);
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	PopActiveSnapshot();
	old = MemoryContextSwitchTo(mcxt);
	reco_triplets_hygiene(&t, &params);
	MemoryContextSwitchTo(old);

	(void) reco_become_owner();
	fit_and_store(model, family, "reco_event", &params, &t, mcxt, start,
				  reco_seconds_since(start), seen, &caller, &sum);
	UnregisterSnapshot(seen);
	SPI_finish();
	reco_become(caller);
	MemoryContextDelete(mcxt);
	PG_RETURN_DATUM(train_result(fcinfo, model, &sum));
}

/*
 * Error unless a later row of reco_train_agg names the model and params of
 * the first: one aggregate call trains one model
 */
static void
check_same_model(FunctionCallInfo fcinfo, int model_arg, const TrainAggState *state)
{
	text	   *model;
	Jsonb	   *params = PG_NARGS() > model_arg + 1 && !PG_ARGISNULL(model_arg + 1) ?
		PG_GETARG_JSONB_P(model_arg + 1) : NULL;
	bool		same_params;

	if (PG_ARGISNULL(model_arg))
		(void) model_name(fcinfo, model_arg);	/* its error for NULL */
	model = PG_GETARG_TEXT_PP(model_arg);
	if (VARSIZE_ANY_EXHDR(model) != strlen(state->model) ||
		memcmp(VARDATA_ANY(model), state->model, VARSIZE_ANY_EXHDR(model)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reco_train_agg got rows for more than one model"),
				 errdetail("The first row named model \"%s\", a later one \"%s\".",
						   state->model, reco_name_msg(text_to_cstring(model))),
				 errhint("Train one model per call: GROUP BY the model column, or filter the rows.")));

	/* equal jsonb values are almost always equal bytes: compare those first */
	if (params == NULL || state->params == NULL)
		same_params = params == NULL && state->params == NULL;
	else
		same_params = (VARSIZE(params) == VARSIZE(state->params) &&
					   memcmp(params, state->params, VARSIZE(params)) == 0) ||
			compareJsonbContainers(&params->root, &state->params->root) == 0;
	if (!same_params)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reco_train_agg got different params for model \"%s\"", state->model),
				 errdetail("The params of a call are taken from its first row; a later row gave other ones."),
				 errhint("Give every row the same params, for example as a constant.")));
}

/*
 * Collect one (user, item, weight[, ts]) row of reco_train_agg: the model
 * is argument model_arg, the params the next, the time ts_arg (-1: none)
 */
static Datum
agg_step(FunctionCallInfo fcinfo, int model_arg, int ts_arg)
{
	MemoryContext aggcxt;
	TrainAggState *state;
	float		w;
	MemoryContext old;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "reco_train_agg_step called in non-aggregate context");

	if (PG_ARGISNULL(0))
	{
		old = MemoryContextSwitchTo(aggcxt);
		state = palloc0(sizeof(TrainAggState));
		INSTR_TIME_SET_CURRENT(state->first_row);
		state->model = model_name(fcinfo, model_arg);
		if (PG_NARGS() > model_arg + 1 && !PG_ARGISNULL(model_arg + 1))
			state->params = DatumGetJsonbPCopy(PG_GETARG_DATUM(model_arg + 1));
		reco_budget_init(&state->budget, "training");
		reco_triplets_init(&state->triplets, &state->budget);
		state->ts_form = ts_arg >= 0;
		MemoryContextSwitchTo(old);
	}
	else
	{
		state = (TrainAggState *) PG_GETARG_POINTER(0);
		check_same_model(fcinfo, model_arg, state);
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user, item and weight must not be NULL"),
				 errhint("Filter the rows with WHERE ... IS NOT NULL, or use coalesce for the weight.")));
	w = PG_GETARG_FLOAT4(3);
	reco_check_value(w, "weight");
	old = MemoryContextSwitchTo(aggcxt);
	if (ts_arg >= 0 && !PG_ARGISNULL(ts_arg))
	{
		reco_triplets_add_at(&state->triplets, PG_GETARG_INT64(1), PG_GETARG_INT64(2), w,
							 PG_GETARG_TIMESTAMPTZ(ts_arg));
		state->timed = true;
	}
	else
	{
		reco_triplets_add(&state->triplets, PG_GETARG_INT64(1), PG_GETARG_INT64(2), w);
		state->untimed = true;
	}
	MemoryContextSwitchTo(old);
	if (state->timed && state->untimed)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reco_train_agg got rows with a time and rows without"),
				 errhint("Give every row its time, or none (then their order stands for it).")));
	PG_RETURN_POINTER(state);
}

/* reco_train_agg(user, item, weight, model[, params]) */
Datum
reco_train_agg_step(PG_FUNCTION_ARGS)
{
	return agg_step(fcinfo, 4, -1);
}

/* reco_train_agg(user, item, weight, ts, model, params) */
Datum
reco_train_agg_ts_step(PG_FUNCTION_ARGS)
{
	return agg_step(fcinfo, 5, 4);
}

/* Train on what reco_train_agg collected */
Datum
reco_train_agg_final(PG_FUNCTION_ARGS)
{
	TrainAggState *state;
	RecoTrainParams params;
	TrainSummary sum;
	MemoryContext mcxt;
	instr_time	start;
	RecoUser	caller;
	const RecoFamily *family;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "reco_train_agg_final called in non-aggregate context");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no interactions to train on"),
				 errhint("The query fed to reco_train_agg returned no rows.")));
	state = (TrainAggState *) PG_GETARG_POINTER(0);

	start = state->first_row;
	mcxt = AllocSetContextCreate(CurrentMemoryContext, "reco training",
								 ALLOCSET_DEFAULT_SIZES);

	reco_lock_trainings(false);
	caller = reco_become_owner();
	SPI_connect();
	/* the family is ALS unless the params name another ("algorithm") */
	family = reco_family(reco_params_family(state->params));
	reco_parse_params(family->name, reco_model_lock(state->model, family->name, caller.userid),
					  state->params, &params);
	if (state->timed)
		reco_triplets_hygiene(&state->triplets, &params);
	else
		reco_hygiene_needs_times(&params, state->ts_form ?
								 "reco_train_agg's ts is NULL in every row" :
								 "reco_train_agg's rows carry no time");
	/* the rows came under the statement's snapshot */
	fit_and_store(state->model, family, "query", &params, &state->triplets, mcxt, start,
				  reco_seconds_since(start), GetActiveSnapshot(), &caller, &sum);
	SPI_finish();
	reco_become(caller);
	MemoryContextDelete(mcxt);
	PG_RETURN_DATUM(train_result(fcinfo, state->model, &sum));
}
