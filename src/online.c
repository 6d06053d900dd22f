/*
 * online.c - learning from each event inside the inserting transaction
 *
 * An event re-solves its user's vector exactly (ALS fold-in against the
 * item factors and Gram matrix of the active version) and records the event
 * for reco_refresh, which catches the item side up out of line.  Only the
 * user's own row is written and locked, so concurrent events of different
 * users never wait on each other, and a hot item is never a lock.
 *
 * The stored history is data: every item the user touched, least recent
 * first, never cut.  The fold-in solves over its latest "history" items (a
 * model parameter), which bounds the cost of one event.
 *
 * The model tables are read and written as the extension's owner: the
 * inserting role needs no rights on them.
 *
 * A shop's INSERT fails only for the event's own bad data: when the model
 * cannot take an event (no Gram matrix, a solve that is not positive
 * definite or not finite) the event still joins the history and the queue,
 * the user keeps their previous vector, and a WARNING says why.
 */
#include "reco.h"

#include <math.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(reco_online_update);
PG_FUNCTION_INFO_V1(reco_online_trigger);

static RecoPlan lock_plan;
static RecoPlan create_plan;
static RecoPlan write_plan;
static RecoPlan models_plan;

/* The online models of reco_event, as read once per statement */
static List *online_models = NIL;
static LocalTransactionId online_models_lxid = InvalidLocalTransactionId;
static TimestampTz online_models_stmt = 0;
static CommandId online_models_cid = InvalidCommandId;

/* The last (transaction, version) warned about: one WARNING, not one per row */
static LocalTransactionId warned_lxid = InvalidLocalTransactionId;
static int64 warned_version = 0;

/*
 * Names of the online models trained on reco_event.  The registry is read
 * again whenever the statement or its command id moves (any write, such as
 * a training or an online update, advances it), so a COPY of a million rows
 * before any model exists costs one lookup, not a million.
 */
static List *
event_models(void)
{
	MemoryContext old;

	if (online_models_lxid == MyProc->lxid &&
		online_models_stmt == GetCurrentStatementStartTimestamp() &&
		online_models_cid == GetCurrentCommandId(false))
		return online_models;

	if (!reco_plan_ready(&models_plan))
		reco_plan_keep(&models_plan, psprintf("SELECT name FROM %s WHERE online AND source OPERATOR(pg_catalog.=) 'reco_event' "
											  "AND active_version IS NOT NULL ORDER BY name",
											  reco_table("reco_model")), 0, NULL);
	if (SPI_execute_plan(models_plan.plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reco: listing online models failed");
	list_free_deep(online_models);
	online_models = NIL;
	old = MemoryContextSwitchTo(TopMemoryContext);
	for (uint64 i = 0; i < SPI_processed; i++)
		online_models = lappend(online_models,
								pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
	MemoryContextSwitchTo(old);
	online_models_lxid = MyProc->lxid;
	online_models_stmt = GetCurrentStatementStartTimestamp();
	online_models_cid = GetCurrentCommandId(false);
	return online_models;
}

/* Say once per transaction and version why a model could not take an event */
static void
warn_not_applied(const RecoModel *m, int64 user_id, const char *why)
{
	if (warned_lxid == MyProc->lxid && warned_version == m->version_id)
		return;
	warned_lxid = MyProc->lxid;
	warned_version = m->version_id;
	ereport(WARNING,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("model \"%s\" could not fold in user %lld: %s", m->name,
					(long long) user_id, why),
			 errdetail("The event is stored and queued for reco_refresh; the user keeps their previous vector."),
			 errhint("Retrain the model, with a larger \"regularization\" if this recurs.")));
}

/*
 * Lock the user's row of the version (creating an empty one for a new user)
 * and return their factors (into x) and history.  The lock serialises
 * concurrent events of one user, so none is lost.
 */
static void
lock_user(const RecoModel *m, int64 user_id, float *x, ArrayType **items,
		  ArrayType **weights)
{
	Oid			types[3] = {INT8OID, INT8OID, BYTEAOID};
	Datum		values[3];
	bool		isnull;

	values[0] = Int64GetDatum(m->version_id);
	values[1] = Int64GetDatum(user_id);
	for (int attempt = 0; attempt < 2; attempt++)
	{
		if (!reco_plan_ready(&lock_plan))
			reco_plan_keep(&lock_plan, psprintf("SELECT factors, items, weights FROM %s "
												"WHERE version_id OPERATOR(pg_catalog.=) $1 "
												"AND user_id OPERATOR(pg_catalog.=) $2 FOR UPDATE",
												reco_table("reco_user_factors")), 2, types);
		if (SPI_execute_plan(lock_plan.plan, values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reco: locking a user failed");
		if (SPI_processed == 1)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;

			memcpy(x, reco_bytea_floats(SPI_getbinval(tup, desc, 1, &isnull), m->factors,
										"user factors"), sizeof(float) * m->factors);
			*items = DatumGetArrayTypePCopy(SPI_getbinval(tup, desc, 2, &isnull));
			*weights = DatumGetArrayTypePCopy(SPI_getbinval(tup, desc, 3, &isnull));
			return;
		}
		/* a new user: an empty row, which a concurrent first event may beat */
		values[2] = PointerGetDatum(reco_floats_bytea(NULL, m->factors));
		if (!reco_plan_ready(&create_plan))
			reco_plan_keep(&create_plan, psprintf("INSERT INTO %s (version_id, user_id, factors, items, weights) "
												  "VALUES ($1, $2, $3, '{}', '{}') ON CONFLICT DO NOTHING",
												  reco_table("reco_user_factors")), 3, types);
		if (SPI_execute_plan(create_plan.plan, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "reco: creating a user failed");
	}
	elog(ERROR, "reco: user %lld could not be locked", (long long) user_id);
}

/*
 * Fold the user in from their history into x; false (x untouched) when the
 * model cannot, with the reason in *why.
 */
static bool
fold_in(const RecoModel *m, const int64 *ids, const float *w, int len, float *x,
		const char **why)
{
	int			f = m->factors;
	float	   *Yu = palloc(sizeof(float) * f * Max(len, 1));
	float	   *wu = palloc(sizeof(float) * Max(len, 1));
	float	   *y = palloc0(sizeof(float) * f);
	int			known = reco_model_history_rows(m, ids, w, len, Yu, wu, NULL);
	bool		ok = true;

	if (m->gram == NULL)
	{
		*why = "the version has no Gram matrix";
		return false;
	}
	if (known > 0)
	{
		float	   *scratch = palloc(sizeof(float) * als_fold_in_floats(f, known));

		ok = als_fold_in(m->gram, Yu, wu, known, NULL, &m->params.als, y, scratch);
		*why = "the solve is not positive definite";
		if (ok && !reco_floats_finite(y, f))
		{
			ok = false;
			*why = "the solve is not finite";
		}
	}
	if (ok)
		memcpy(x, y, sizeof(float) * f);
	return ok;
}

/*
 * Add one weighted interaction to a user of version m: the history gains
 * it (most recent last; a pair summing to <= 0 leaves), the user is folded
 * in again, and the event is queued for reco_refresh, in one statement.
 * kind and value are recorded with the queued event (kind -1: unknown).
 */
static void
apply_weight(const RecoModel *m, int64 user_id, int64 item_id, double w, int kind,
			 double value)
{
	int			f = m->factors;
	ArrayType  *items_arr;
	ArrayType  *weights_arr;
	Datum	   *items;
	Datum	   *weights;
	bool	   *nulls;
	int			n;
	int			len = 0;
	double		merged = w;
	int64	   *hist_items;
	float	   *hist_w;
	float	   *x = palloc0(sizeof(float) * f);
	const char *why = NULL;
	Datum	   *idd;
	Datum	   *wd;
	Datum		values[9];
	bool		vnulls[9] = {0};
	char		nullflags[9];
	Oid			types[9] = {INT8OID, INT8OID, BYTEAOID, INT8ARRAYOID, FLOAT4ARRAYOID,
	INT8OID, FLOAT4OID, INT2OID, FLOAT4OID};

	lock_user(m, user_id, x, &items_arr, &weights_arr);
	deconstruct_array(items_arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &items, &nulls, &n);
	deconstruct_array(weights_arr, FLOAT4OID, 4, true, TYPALIGN_INT,
					  &weights, &nulls, &n);

	hist_items = palloc(sizeof(int64) * (n + 1));
	hist_w = palloc(sizeof(float) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		if (DatumGetInt64(items[i]) == item_id)
			merged += DatumGetFloat4(weights[i]);
		else
		{
			hist_items[len] = DatumGetInt64(items[i]);
			hist_w[len++] = DatumGetFloat4(weights[i]);
		}
	}
	if (merged > 0.0)
	{
		hist_items[len] = item_id;
		hist_w[len++] = (float) merged;
	}

	if (!fold_in(m, hist_items, hist_w, len, x, &why))
		warn_not_applied(m, user_id, why);

	idd = palloc(sizeof(Datum) * Max(len, 1));
	wd = palloc(sizeof(Datum) * Max(len, 1));
	for (int i = 0; i < len; i++)
	{
		idd[i] = Int64GetDatum(hist_items[i]);
		wd[i] = Float4GetDatum(hist_w[i]);
	}
	values[0] = Int64GetDatum(m->version_id);
	values[1] = Int64GetDatum(user_id);
	values[2] = PointerGetDatum(reco_floats_bytea(x, f));
	values[3] = PointerGetDatum(construct_array(idd, len, INT8OID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[4] = PointerGetDatum(construct_array(wd, len, FLOAT4OID, 4, true, TYPALIGN_INT));
	values[5] = Int64GetDatum(item_id);
	values[6] = Float4GetDatum((float) w);
	values[7] = Int16GetDatum((int16) kind);
	values[8] = Float4GetDatum((float) value);
	vnulls[7] = vnulls[8] = (kind < 0);
	for (int i = 0; i < 9; i++)
		nullflags[i] = vnulls[i] ? 'n' : ' ';

	if (!reco_plan_ready(&write_plan))
		reco_plan_keep(&write_plan, psprintf("WITH u AS (UPDATE %s SET factors = $3, items = $4, weights = $5 "
											 "WHERE version_id OPERATOR(pg_catalog.=) $1 AND user_id OPERATOR(pg_catalog.=) $2 "
											 "RETURNING 1) "
											 "INSERT INTO %s (version_id, user_id, item_id, weight, kind, value) "
											 "SELECT $1, $2, $6, $7, $8, $9 FROM u",
											 reco_table("reco_user_factors"), reco_table("reco_pending")),
									9, types);
	if (SPI_execute_plan(write_plan.plan, values, nullflags, false, 0) != SPI_OK_INSERT ||
		SPI_processed != 1)
		elog(ERROR, "reco: writing user %lld failed", (long long) user_id);
}

/*
 * Apply one event to a version.  Returns false when the model gives the
 * event no weight, or when a trigger meets a model that does not learn
 * online (explicit ratings: a direct call is an error).
 */
bool
reco_online_apply(const RecoModel *m, int64 user_id, int64 item_id, int kind,
				  double value, bool from_trigger)
{
	double		w;

	if (from_trigger && m->params.explicit_ratings)
	{
		elog(DEBUG1, "reco: model \"%s\" predicts ratings and is not updated online", m->name);
		return false;
	}
	reco_require_implicit(m, "online learning");
	w = m->params.weights[kind] * reco_event_value(&m->params, value);
	if (w == 0.0)
		return false;
	apply_weight(m, user_id, item_id, w, kind, value);
	return true;
}

/*
 * Events that an earlier version queued but the active one has not seen
 * (written by a transaction that looked the registry up just before a new
 * version was activated, and committed after): delete them from the queue
 * of every other version of the model and apply them to m.  Reads under
 * snap.  Returns how many.
 */
int64
reco_online_replay(const RecoModel *m, Snapshot snap)
{
	SPITupleTable *rows;
	uint64		n;

	reco_storage_pending_take_superseded(m->name, m->version_id, snap);
	rows = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = rows->vals[i];
		bool		knull;
		bool		isnull;
		int64		user_id = DatumGetInt64(SPI_getbinval(tup, rows->tupdesc, 1, &isnull));
		int64		item_id = DatumGetInt64(SPI_getbinval(tup, rows->tupdesc, 2, &isnull));
		Datum		kd = SPI_getbinval(tup, rows->tupdesc, 4, &knull);

		CHECK_FOR_INTERRUPTS();
		if (knull)				/* queued by release 1.0: its weight as it was */
			apply_weight(m, user_id, item_id,
						 DatumGetFloat4(SPI_getbinval(tup, rows->tupdesc, 3, &isnull)), -1, 0);
		else
			reco_online_apply(m, user_id, item_id, DatumGetInt16(kd),
							  DatumGetFloat4(SPI_getbinval(tup, rows->tupdesc, 5, &isnull)),
							  true);
	}
	return (int64) n;
}

/* One committed event a training did not see */
typedef struct MissedEvent
{
	int64		user;
	int64		item;
	int			kind;
	float		value;
	TimestampTz ts;
} MissedEvent;

static int
cmp_missed(const void *a, const void *b)
{
	const MissedEvent *x = a;
	const MissedEvent *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->user != y->user)
		return x->user < y->user ? -1 : 1;
	return (x->item > y->item) - (x->item < y->item);
}

/* Append one missed event to the array (growing it) */
static void
add_missed(MissedEvent **missed, int64 *n, int64 *cap, int64 user, int64 item,
		   text *kind, float value, TimestampTz ts)
{
	MissedEvent *e;

	if (*n == *cap)
	{
		*cap = Max(64, *cap * 2);
		*missed = *missed ? repalloc_huge(*missed, sizeof(MissedEvent) * *cap)
			: palloc(sizeof(MissedEvent) * *cap);
	}
	e = &(*missed)[(*n)++];
	e->user = user;
	e->item = item;
	e->kind = reco_kind(VARDATA_ANY(kind), VARSIZE_ANY_EXHDR(kind));
	e->value = value;
	e->ts = ts;
}

/*
 * The events of reco_event visible to now but not to seen, when reader may
 * see every row: one pass over the heap that reads only what it keeps
 */
static MissedEvent *
missed_by_scan(Snapshot seen, Snapshot now, int64 *n)
{
	Relation	rel = table_open(reco_table_oid("reco_event"), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	int			ua = SPI_fnumber(desc, "user_id");
	int			ia = SPI_fnumber(desc, "item_id");
	int			ka = SPI_fnumber(desc, "kind");
	int			va = SPI_fnumber(desc, "value");
	int			ta = SPI_fnumber(desc, "ts");
	TableScanDesc scan;
	HeapTuple	tup;
	MissedEvent *missed = NULL;
	int64		cap = 0;

	*n = 0;
	if (ua <= 0 || ia <= 0 || ka <= 0 || va <= 0 || ta <= 0)
		elog(ERROR, "reco: reco_event lacks a column");
	scan = table_beginscan(rel, now, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		TransactionId xmin = HeapTupleHeaderGetXmin(tup->t_data);
		bool		isnull;

		if (!XidInMVCCSnapshot(xmin, seen) || TransactionIdIsCurrentTransactionId(xmin))
			continue;			/* the training read it */
		if (*n % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
		add_missed(&missed, n, &cap,
				   DatumGetInt64(heap_getattr(tup, ua, desc, &isnull)),
				   DatumGetInt64(heap_getattr(tup, ia, desc, &isnull)),
				   DatumGetTextPP(heap_getattr(tup, ka, desc, &isnull)),
				   DatumGetFloat4(heap_getattr(tup, va, desc, &isnull)),
				   DatumGetTimestampTz(heap_getattr(tup, ta, desc, &isnull)));
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return missed;
}

/*
 * The same when row security limits what reader sees: a query as reader
 * under now, keeping the rows seen did not show
 */
static MissedEvent *
missed_by_query(Snapshot seen, Snapshot now, const RecoUser *reader, int64 *n)
{
	RecoUser	was = reco_current_user();
	SPIPlanPtr	plan;
	MissedEvent *missed = NULL;
	int64		cap = 0;

	*n = 0;
	reco_become(*reader);
	plan = SPI_prepare(psprintf("SELECT user_id, item_id, kind, value, ts, xmin FROM %s",
								reco_table("reco_event")), 0, NULL);
	if (plan == NULL ||
		SPI_execute_snapshot(plan, NULL, NULL, now, InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reco: reading the events a training missed failed");
	reco_become(was);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		TransactionId xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 6, &isnull));

		if (!XidInMVCCSnapshot(xmin, seen) || TransactionIdIsCurrentTransactionId(xmin))
			continue;
		add_missed(&missed, n, &cap,
				   DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)),
				   DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull)),
				   DatumGetTextPP(SPI_getbinval(tup, desc, 3, &isnull)),
				   DatumGetFloat4(SPI_getbinval(tup, desc, 4, &isnull)),
				   DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull)));
	}
	SPI_freeplan(plan);
	return missed;
}

/*
 * Apply to the new version m every event of reco_event that is visible to
 * now but was not to seen (the snapshot the training read): the events
 * committed while it trained, as far as reader (who trained it) may see
 * them.  Returns how many.
 */
int64
reco_online_catch_up(const RecoModel *m, Snapshot seen, Snapshot now, const RecoUser *reader)
{
	int64		n;
	MissedEvent *missed;

	if (check_enable_rls(reco_table_oid("reco_event"), reader->userid, true) == RLS_ENABLED)
		missed = missed_by_query(seen, now, reader, &n);
	else
		missed = missed_by_scan(seen, now, &n);
	if (n > 0)
		qsort(missed, n, sizeof(MissedEvent), cmp_missed);
	for (int64 i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (missed[i].kind >= 0 && reco_value_in_range(missed[i].value))
			reco_online_apply(m, missed[i].user, missed[i].item, missed[i].kind,
							  missed[i].value, true);
	}
	return n;
}

/* Check an event's fields; returns the kind's index */
static int
check_event(bool user_null, bool item_null, const char *kind, int kind_len,
			bool value_null, double value)
{
	int			k;

	if (user_null || item_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user and item of an event must not be NULL")));
	if (kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event kind must not be NULL"),
				 errhint("Kinds are view, click, cart, purchase, rating and search.")));
	if (value_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event value must not be NULL"),
				 errhint("Leave the value out for the default of 1.")));
	k = reco_kind(kind, kind_len);
	if (k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown event kind \"%s\"", pnstrdup(kind, Min(kind_len, 63))),
				 errhint("Kinds are view, click, cart, purchase, rating and search.")));
	reco_check_value(value, "event value");
	return k;
}

/*
 * reco_online_update(user_id, item_id, kind, value, model): what the
 * trigger does, callable directly.  True if the model took the event.
 */
Datum
reco_online_update(PG_FUNCTION_ARGS)
{
	text	   *kind = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);
	double		value = PG_ARGISNULL(3) ? 0.0 : PG_GETARG_FLOAT4(3);
	char	   *model;
	int			k;
	bool		applied;
	RecoUser	caller;

	k = check_event(PG_ARGISNULL(0), PG_ARGISNULL(1),
					kind ? VARDATA_ANY(kind) : NULL, kind ? VARSIZE_ANY_EXHDR(kind) : 0,
					PG_ARGISNULL(3), value);
	model = reco_text_arg(fcinfo, 4, "model");
	caller = reco_become_owner();
	SPI_connect();
	applied = reco_online_apply(reco_model_get(model), PG_GETARG_INT64(0),
								PG_GETARG_INT64(1), k, value, false);
	SPI_finish();
	reco_become(caller);
	PG_RETURN_BOOL(applied);
}

/* Attribute number of a named column, or an error naming the trigger */
static int
trigger_column(TriggerData *td, const char *name)
{
	int			att = SPI_fnumber(td->tg_relation->rd_att, name);

	if (att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of trigger \"%s\" does not exist in \"%s\"",
						name, td->tg_trigger->tgname,
						RelationGetRelationName(td->tg_relation))));
	return att;
}

/* A bigint-valued column of the new row (int2/int4/int8 accepted) */
static int64
row_int64(TriggerData *td, int att, bool *isnull)
{
	Datum		d = SPI_getbinval(td->tg_trigtuple, td->tg_relation->rd_att, att, isnull);

	if (*isnull)
		return 0;
	switch (SPI_gettypeid(td->tg_relation->rd_att, att))
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		case INT8OID:
			return DatumGetInt64(d);
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("user and item columns of a reco trigger must be smallint, integer or bigint")));
	}
	return 0;
}

/*
 * reco_online_trigger(): AFTER INSERT row trigger.  Without arguments (as on
 * reco_event) it checks the event and feeds every online model trained on
 * reco_event from the columns user_id, item_id, kind, value.  On a shop's
 * own table it takes (model, user column, item column, kind [, value
 * column]): the kind is a constant such as 'purchase'; the value column, if
 * given, is cast to real, and a row whose value is NULL is passed by.
 */
Datum
reco_online_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	bool		unull,
				inull,
				vnull = false;
	int64		user_id;
	int64		item_id;
	double		value = 1.0;
	const char *kind;
	int			k;
	RecoUser	caller;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reco_online_trigger: not called by trigger manager")));
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reco_online_trigger must be an AFTER INSERT ... FOR EACH ROW trigger")));
	tg = td->tg_trigger;

	if (tg->tgnargs == 0)
	{
		/* reco_event: every event is checked, then fed to each online model */
		int			ua = trigger_column(td, "user_id");
		int			ia = trigger_column(td, "item_id");
		char	   *kstr = SPI_getvalue(td->tg_trigtuple, td->tg_relation->rd_att,
										trigger_column(td, "kind"));
		Datum		vd = SPI_getbinval(td->tg_trigtuple, td->tg_relation->rd_att,
									   trigger_column(td, "value"), &vnull);
		ListCell   *lc;

		user_id = row_int64(td, ua, &unull);
		item_id = row_int64(td, ia, &inull);
		if (!vnull)
			value = DatumGetFloat4(vd);
		k = check_event(unull, inull, kstr, kstr ? strlen(kstr) : 0, vnull, value);
		if (!reco_online)
			return PointerGetDatum(NULL);

		caller = reco_become_owner();
		SPI_connect();
		foreach(lc, event_models())
			reco_online_apply(reco_model_get((const char *) lfirst(lc)), user_id, item_id,
							  k, value, true);
		SPI_finish();
		reco_become(caller);
		return PointerGetDatum(NULL);
	}

	if (tg->tgnargs < 4 || tg->tgnargs > 5)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reco_online_trigger takes (model, user column, item column, kind [, value column])")));
	user_id = row_int64(td, trigger_column(td, tg->tgargs[1]), &unull);
	item_id = row_int64(td, trigger_column(td, tg->tgargs[2]), &inull);
	kind = tg->tgargs[3];
	if (tg->tgnargs == 5)
	{
		char	   *v = SPI_getvalue(td->tg_trigtuple, td->tg_relation->rd_att,
									 trigger_column(td, tg->tgargs[4]));

		if (v == NULL)
			return PointerGetDatum(NULL);	/* nothing to learn from */
		value = DatumGetFloat4(DirectFunctionCall1(float4in, CStringGetDatum(v)));
	}
	k = check_event(unull, inull, kind, strlen(kind), false, value);
	if (!reco_online)
		return PointerGetDatum(NULL);
	caller = reco_become_owner();
	SPI_connect();
	reco_online_apply(reco_model_get(tg->tgargs[0]), user_id, item_id, k, value, true);
	SPI_finish();
	reco_become(caller);
	return PointerGetDatum(NULL);
}
