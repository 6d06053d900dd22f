/*
 * events.c - reading an analyst's event query: (user_id, item_id [, value
 * [, ts]]) by position
 *
 * Evaluation and splits take their events as the text of a query, run with
 * the caller's privileges, so any table, view or join can feed them.
 */
#include "reco.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/plancache.h"
#include "utils/timestamp.h"

#include "events.h"
#include "resources.h"

static const char *const column_names[] = {"user_id", "item_id", "value", "ts"};

/* Check the query's shape before reading it */
static void
check_columns(TupleDesc desc, const char *what, int maxcols)
{
	if (desc->natts < 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the %s query must return (user_id, item_id%s)", what,
						maxcols >= 4 ? " [, value [, ts]]" : " [, value]"),
				 errdetail("It returned %d column.", desc->natts)));
	for (int col = 1; col <= Min(desc->natts, maxcols); col++)
	{
		Oid			type = SPI_gettypeid(desc, col);
		bool		integer = type == INT8OID || type == INT4OID || type == INT2OID;
		bool		ok = integer;

		if (col == 3)
			ok = integer || type == FLOAT8OID || type == FLOAT4OID || type == NUMERICOID;
		else if (col == 4)
			ok = integer || type == TIMESTAMPTZOID;
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d (%s) of the %s query has type %s", col,
							column_names[col - 1], what, format_type_be(type)),
					 errhint(col < 3 ? "User and item ids must be bigint, integer or smallint."
							 : col == 3 ? "A value must be numeric."
							 : "A time must be timestamptz, or seconds since 1970 as an integer.")));
	}
}

/* A column as double precision (ids, values and epoch seconds alike) */
static double
column_double(Datum d, Oid type)
{
	switch (type)
	{
		case INT8OID:
			return (double) DatumGetInt64(d);
		case INT4OID:
			return DatumGetInt32(d);
		case INT2OID:
			return DatumGetInt16(d);
		case FLOAT8OID:
			return DatumGetFloat8(d);
		case FLOAT4OID:
			return DatumGetFloat4(d);
		default:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
	}
}

/* An id column as int8 */
static int64
column_id(Datum d, Oid type)
{
	if (type == INT8OID)
		return DatumGetInt64(d);
	return (int64) column_double(d, type);
}

/* Seconds since 1970 as a timestamptz, or an error when out of range */
static TimestampTz
epoch_seconds(int64 secs, const char *what)
{
	int64		pg = secs - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;

	/* ample bounds first, so the multiplication cannot overflow */
	if (secs < -INT64CONST(300000000000) || secs > INT64CONST(300000000000) ||
		!IS_VALID_TIMESTAMP(pg * USECS_PER_SEC))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time %lld in the %s query is out of range", (long long) secs, what),
				 errhint("Integer times are seconds since 1970-01-01.")));
	return pg * USECS_PER_SEC;
}

/*
 * Prepare the query, refusing one that writes or locks rows, even from a
 * WITH clause (SPI's own read-only check would call that a "SELECT")
 */
static SPIPlanPtr
prepare_read_only(const char *query, const char *what)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(query, 0, NULL, 0);
	ListCell   *lc;

	if (plan == NULL)
		elog(ERROR, "reco: SPI_prepare_cursor failed for the %s query: %s", what,
			 SPI_result_code_string(SPI_result));
	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *source = (CachedPlanSource *) lfirst(lc);
		ListCell   *lq;

		foreach(lq, source->query_list)
		{
			Query	   *q = lfirst_node(Query, lq);
			bool		writes = q->hasModifyingCTE ||
				(q->commandType != CMD_SELECT && q->commandType != CMD_UTILITY);

			if (writes || q->rowMarks != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("the %s query must be read-only", what),
						 errdetail(writes ? "It changes data, in its main statement or a WITH clause."
								   : "It locks rows with FOR UPDATE or FOR SHARE."),
						 errhint("Give a query that only reads the events it is judged on.")));
		}
	}
	return plan;
}

/*
 * Run the query and return its rows in the order they came.  Users and
 * items must not be NULL and a value must be within RECO_MAX_VALUE; a
 * missing or NULL value is has_value = false (value NaN), a missing or NULL
 * time has_ts = false.  maxcols (2 to 4) says how many columns are read;
 * later ones are ignored.  The array is charged to budget (*count rows,
 * capacity rounded up to a power of two: release reco_events_bytes(*count)
 * when it is freed).
 */
RecoEventRow *
reco_query_events(const char *query, const char *what, int maxcols,
				  RecoBudget *budget, int64 *count)
{
	int64		n = 0;
	int64		cap = 1024;
	char	   *reading = psprintf("the rows of the %s query", what);
	RecoEventRow *rows = reco_budget_alloc(budget, sizeof(RecoEventRow) * cap, reading);
	bool		first = true;
	int			fetch = RECO_FETCH_FIRST;
	char	   *value_what = psprintf("a value of the %s query", what);
	Portal		portal;

	/* read-only: an event query must not change the data it is judged on */
	portal = SPI_cursor_open(NULL, prepare_read_only(query, what), NULL, NULL, true);
	for (;;)
	{
		TupleDesc	desc;
		int			ncols;

		reco_fetch(portal, &fetch);
		desc = SPI_tuptable->tupdesc;
		if (first)
			check_columns(desc, what, maxcols);
		first = false;
		if (SPI_processed == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		ncols = Min(desc->natts, maxcols);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			RecoEventRow *r;
			bool		isnull_u;
			bool		isnull_i;
			Datum		u = SPI_getbinval(tup, desc, 1, &isnull_u);
			Datum		it = SPI_getbinval(tup, desc, 2, &isnull_i);

			if (isnull_u || isnull_i)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("the %s query returned a NULL %s", what,
								isnull_u ? "user_id" : "item_id")));
			if (n == cap)
			{
				/* repalloc may copy: old and new arrays live for a moment */
				reco_budget_charge(budget, (double) sizeof(RecoEventRow) * cap * 2, reading);
				rows = repalloc_huge(rows, sizeof(RecoEventRow) * cap * 2);
				reco_budget_release(budget, (double) sizeof(RecoEventRow) * cap);
				cap *= 2;
			}
			r = &rows[n++];
			r->user = column_id(u, SPI_gettypeid(desc, 1));
			r->item = column_id(it, SPI_gettypeid(desc, 2));
			r->value = NAN;
			r->has_value = false;
			r->has_ts = false;
			r->ts = 0;
			if (ncols >= 3)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(tup, desc, 3, &isnull);

				if (!isnull)
				{
					r->value = column_double(d, SPI_gettypeid(desc, 3));
					r->has_value = true;
					reco_check_value(r->value, value_what);
				}
			}
			if (ncols >= 4)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(tup, desc, 4, &isnull);
				Oid			type = SPI_gettypeid(desc, 4);

				r->has_ts = !isnull;
				if (isnull)
					continue;
				if (type == TIMESTAMPTZOID)
					r->ts = DatumGetTimestampTz(d);
				else
					r->ts = epoch_seconds(column_id(d, type), what);
			}
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	*count = n;
	return rows;
}

/* Bytes charged for an array of n rows from reco_query_events */
Size
reco_events_bytes(int64 n)
{
	int64		cap = 1024;

	while (cap < n)
		cap *= 2;
	return sizeof(RecoEventRow) * cap;
}
