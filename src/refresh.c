/*
 * refresh.c - reco_refresh: the item side catches up with online events
 *
 * Online updates re-solve users in their own transactions and queue the
 * (user, item, weight) in reco_pending.  A refresh takes the queue, re-solves
 * each touched item exactly against the current user factors (new items get
 * their first vector), recomputes the item Gram matrix and bumps the
 * version's revision, so every backend reloads its cache on its next call.
 * It locks the registry row only: inserts and serving go on meanwhile.
 */
#include "reco.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include <cblas.h>
#undef I

#include "topk.h"

PG_FUNCTION_INFO_V1(reco_refresh);

#define GRAM_BATCH 4096

/* The users of one touched item, gathered during the pass over all users */
typedef struct ItemUsers
{
	int			n;
	int			cap;
	float	   *X;				/* n x f user factors */
	float	   *w;				/* the item's weight in each user's history */
} ItemUsers;

/*
 * One pass over every user row of the version: X'X (f x f, both triangles)
 * and, for each touched item (sorted ids), the users whose history has it.
 * One sequential pass instead of an index probe per item.
 */
static float *
user_pass(int64 version_id, int f, const int64 *touched, int64 n_touched,
		  ItemUsers *users, RecoBudget *budget)
{
	char	   *sql = psprintf("SELECT factors, items, weights FROM %s "
							   "WHERE version_id OPERATOR(pg_catalog.=) $1",
							   reco_table("reco_user_factors"));
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(version_id)};
	float	   *G;
	float	   *X;
	Portal		portal;

	reco_budget_charge(budget, sizeof(float) * f * (f + GRAM_BATCH), "the user Gram matrix");
	G = palloc0(sizeof(float) * f * f);
	X = palloc(sizeof(float) * f * GRAM_BATCH);
	portal = SPI_cursor_open_with_args(NULL, sql, 1, types, values, NULL, true, 0);

	for (;;)
	{
		SPI_cursor_fetch(portal, true, GRAM_BATCH);
		if (SPI_processed == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum	   *items;
			Datum	   *weights;
			bool	   *item_nulls;
			bool	   *weight_nulls;
			int			n;
			Datum		fd = SPI_getbinval(tup, desc, 1, &isnull);
			Datum		id = SPI_getbinval(tup, desc, 2, &isnull);
			Datum		wd = SPI_getbinval(tup, desc, 3, &isnull);
			bytea	   *factors = DatumGetByteaPP(fd);
			ArrayType  *ia = DatumGetArrayTypeP(id);
			ArrayType  *wa = DatumGetArrayTypeP(wd);

			memcpy(X + i * f, reco_bytea_floats(PointerGetDatum(factors), f, "user factors"),
				   sizeof(float) * f);
			deconstruct_array(ia, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
							  &items, &item_nulls, &n);
			deconstruct_array(wa, FLOAT4OID, 4, true, TYPALIGN_INT,
							  &weights, &weight_nulls, &n);
			for (int h = 0; h < n; h++)
			{
				int64		id = DatumGetInt64(items[h]);
				int64	   *hit = bsearch(&id, touched, n_touched, sizeof(int64), reco_cmp_int64);
				ItemUsers  *u;

				if (hit == NULL)
					continue;
				u = &users[hit - touched];
				if (u->n == u->cap)
				{
					/* repalloc may copy: count the old arrays and the new */
					reco_budget_charge(budget, (double) sizeof(float) * (f + 1) * Max(16, u->cap * 2),
									   "the users of the touched items");
					reco_budget_release(budget, (double) sizeof(float) * (f + 1) * u->cap);
					u->cap = Max(16, u->cap * 2);
					u->X = u->X ? repalloc_huge(u->X, sizeof(float) * f * u->cap)
						: palloc(sizeof(float) * f * u->cap);
					u->w = u->w ? repalloc_huge(u->w, sizeof(float) * u->cap)
						: palloc(sizeof(float) * u->cap);
				}
				memcpy(u->X + (int64) u->n * f, X + i * f, sizeof(float) * f);
				u->w[u->n++] = DatumGetFloat4(weights[h]);
			}
			/* a row's detoasted copies and arrays go now, not at the end of the pass */
			pfree(items);
			pfree(weights);
			pfree(item_nulls);
			pfree(weight_nulls);
			if ((Pointer) factors != DatumGetPointer(fd))
				pfree(factors);
			if ((Pointer) ia != DatumGetPointer(id))
				pfree(ia);
			if ((Pointer) wa != DatumGetPointer(wd))
				pfree(wa);
		}
		cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, f, (int) SPI_processed,
					1.0f, X, f, 1.0f, G, f);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	for (int i = 0; i < f; i++)
		for (int j = 0; j < i; j++)
			G[i * f + j] = G[j * f + i];
	pfree(X);
	reco_budget_release(budget, sizeof(float) * f * GRAM_BATCH);
	return G;
}

/*
 * Re-solve one item against its users (gathered by user_pass); y gets the
 * new factors.  An item that entered through its attributes is pulled
 * toward that prior.
 */
static void
solve_item(RecoModel *m, int64 item_id, ItemUsers *u, const float *XtX, float *y,
		   RecoBudget *budget)
{
	static SPIPlanPtr prior_plan = NULL;
	int			f = m->factors;
	Datum		values[2] = {Int64GetDatum(m->version_id), Int64GetDatum(item_id)};
	float	   *prior = NULL;
	float	   *scratch;

	if (prior_plan == NULL)
	{
		Oid			types[2] = {INT8OID, INT8OID};

		prior_plan = reco_keep_plan(psprintf("SELECT prior FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
											 "AND item_id OPERATOR(pg_catalog.=) $2 AND prior IS NOT NULL",
											 reco_table("reco_item_factors")), 2, types);
	}
	if (SPI_execute_plan(prior_plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reco: reading the prior of item %lld failed", (long long) item_id);
	if (SPI_processed == 1)
	{
		bool		isnull;

		prior = palloc(sizeof(float) * f);
		memcpy(prior, reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
													  1, &isnull), f, "an item prior"),
			   sizeof(float) * f);
	}
	memset(y, 0, sizeof(float) * f);
	if (u->n == 0)
	{
		if (prior != NULL)
			memcpy(y, prior, sizeof(float) * f);
		return;
	}
	scratch = reco_budget_alloc(budget, sizeof(float) * als_fold_in_floats(f, u->n),
								"an item's system");
	if (!als_fold_in(XtX, u->X, u->w, u->n, prior, &m->params.als, y, scratch))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("refresh of item %lld in model \"%s\" is not positive definite",
						(long long) item_id, m->name),
				 errhint("Retrain with a larger \"regularization\".")));
	reco_budget_free(budget, scratch, sizeof(float) * als_fold_in_floats(f, u->n));
}

/*
 * reco_refresh(model): apply the queued events to the item side and give
 * untouched catalogue items attribute vectors.  Returns (events, items,
 * new_items, cold_items, seconds).
 */
Datum
reco_refresh(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TupleDesc	tupdesc;
	Datum		result[5];
	bool		nulls[5] = {0};
	instr_time	start;
	instr_time	now;
	Oid			types[5] = {INT8OID, TEXTOID, INT8OID, FLOAT4OID, BYTEAOID};
	Oid			cold_types[4] = {INT8OID, TEXTOID, INT8OID, BYTEAOID};
	Datum		values[5];
	RecoModel  *m;
	int			f;
	int64		events = 0;
	int64		n_touched;
	int64		n_new = 0;
	int64		n_cold;
	int64	   *cold_ids;
	float	   *Ycold;
	int64	   *touched;
	float	   *XtX;
	ItemUsers  *users;
	float	   *Ynew;
	float	   *Yall;
	float	   *G;
	bool		isnull;
	MemoryContext mcxt;
	MemoryContext old;
	RecoBudget	budget;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "reco: return type must be a row type");
	INSTR_TIME_SET_CURRENT(start);
	reco_budget_init(&budget, "refresh");
	mcxt = AllocSetContextCreate(CurrentMemoryContext, "reco refresh", ALLOCSET_DEFAULT_SIZES);
	SPI_connect();
	old = MemoryContextSwitchTo(mcxt);

	/* one refresh (or training) of a model at a time */
	values[0] = Int64GetDatum(0);
	values[1] = CStringGetTextDatum(model);
	reco_exec(psprintf("SELECT active_version FROM %s WHERE name OPERATOR(pg_catalog.=) $2 FOR UPDATE",
						  reco_table("reco_model")),
				 2, types, values, SPI_OK_SELECT);
	m = reco_model_get(model);
	reco_require_implicit(m, "reco_refresh");
	f = m->factors;

	/* take the queue: rows committed from now on wait for the next refresh */
	values[0] = Int64GetDatum(m->version_id);
	reco_exec(psprintf("WITH d AS (DELETE FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
						  "RETURNING item_id) "
						  "SELECT item_id, pg_catalog.count(*) FROM d GROUP BY item_id ORDER BY item_id",
						  reco_table("reco_pending")),
				 1, types, values, SPI_OK_SELECT);
	n_touched = (int64) SPI_processed;
	touched = reco_budget_alloc(&budget, sizeof(int64) * n_touched, "the touched items");
	for (int64 i = 0; i < n_touched; i++)
	{
		touched[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		events += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}

	n_cold = reco_cold_start(m, touched, n_touched, &cold_ids, &Ycold);
	if (n_touched > 0 || n_cold > 0)
	{
		char	   *upsert = psprintf("INSERT INTO %s (version_id, item_id, popularity, factors) "
									  "VALUES ($1, $3, $4, $5) ON CONFLICT (version_id, item_id) "
									  "DO UPDATE SET popularity = EXCLUDED.popularity, factors = EXCLUDED.factors",
									  reco_table("reco_item_factors"));
		int32		n_all;

		users = reco_budget_alloc(&budget, sizeof(ItemUsers) * n_touched, "the touched items");
		memset(users, 0, sizeof(ItemUsers) * n_touched);
		XtX = user_pass(m->version_id, f, touched, n_touched, users, &budget);
		Ynew = reco_budget_alloc(&budget, sizeof(float) * f * n_touched, "the new item factors");
		for (int64 i = 0; i < n_touched; i++)
		{
			float	   *y = Ynew + i * f;
			CHECK_FOR_INTERRUPTS();
			solve_item(m, touched[i], &users[i], XtX, y, &budget);
			if (reco_model_item_index(m, touched[i]) < 0)
				n_new++;
			values[2] = Int64GetDatum(touched[i]);
			values[3] = Float4GetDatum((float) users[i].n);
			values[4] = PointerGetDatum(reco_floats_bytea(y, f));
			reco_exec(upsert, 5, types, values, SPI_OK_INSERT);
		}

		/* catalogue items nobody touched yet: their attribute vector, also as prior */
		for (int64 i = 0; i < n_cold; i++)
		{
			values[2] = Int64GetDatum(cold_ids[i]);
			values[3] = PointerGetDatum(reco_floats_bytea(Ycold + i * f, f));
			reco_exec(psprintf("INSERT INTO %s (version_id, item_id, popularity, factors, prior) "
								  "VALUES ($1, $3, 0, $4, $4)", reco_table("reco_item_factors")),
						 4, cold_types, values, SPI_OK_INSERT);
		}

		/* the new item Gram: every item, touched ones with their new factors */
		n_all = m->n_items + (int32) (n_new + n_cold);
		Yall = reco_budget_alloc(&budget, sizeof(float) * (Size) n_all * f, "the item Gram matrix");
		for (int32 i = 0; i < m->n_items; i++)
			reco_model_item(m, m->Yt, i, Yall + (int64) i * f);
		for (int64 i = 0, extra = m->n_items; i < n_touched; i++)
		{
			int32		idx = reco_model_item_index(m, touched[i]);
			int64		row = idx >= 0 ? idx : extra++;

			memcpy(Yall + row * f, Ynew + i * f, sizeof(float) * f);
		}
		memcpy(Yall + (int64) (m->n_items + n_new) * f, Ycold, sizeof(float) * f * n_cold);
		G = reco_budget_alloc(&budget, sizeof(float) * f * f, "the item Gram matrix");
		als_gram(Yall, n_all, f, G);
		values[4] = PointerGetDatum(reco_floats_bytea(G, (int64) f * f));
		reco_exec(psprintf("UPDATE %s SET data = $5 WHERE version_id OPERATOR(pg_catalog.=) $1 "
							  "AND name OPERATOR(pg_catalog.=) 'gram'",
							  reco_table("reco_model_blob")),
					 5, types, values, SPI_OK_UPDATE);

		/* a new revision: every backend reloads the item side on its next call */
		values[2] = Int64GetDatum(n_all);
		reco_exec(psprintf("UPDATE %s SET revision = pg_catalog.nextval('%s'::pg_catalog.regclass), "
							  "n_items = $3 WHERE version_id OPERATOR(pg_catalog.=) $1",
							  reco_table("reco_model_version"), reco_table("reco_version_seq")),
					 3, types, values, SPI_OK_UPDATE);
	}

	MemoryContextSwitchTo(old);
	SPI_finish();
	MemoryContextDelete(mcxt);

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	result[0] = Int64GetDatum(events);
	result[1] = Int64GetDatum(n_touched);
	result[2] = Int64GetDatum(n_new);
	result[3] = Int64GetDatum(n_cold);
	result[4] = Float8GetDatum(INSTR_TIME_GET_DOUBLE(now));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), result, nulls)));
}
