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
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "params.h"
#include "model.h"
#include "online.h"
#include "storage.h"
#include "family/family.h"

PG_FUNCTION_INFO_V1(reco_online_update);

bool		reco_online = true;

/* Define reco.online (from _PG_init) */
void
reco_online_init(void)
{
	DefineCustomBoolVariable("reco.online",
							 "Update models from each inserted event.",
							 "Turn off in a session for bulk loads, then retrain or catch up.",
							 &reco_online,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}

PG_FUNCTION_INFO_V1(reco_online_trigger);
PG_FUNCTION_INFO_V1(reco_online_events);
PG_FUNCTION_INFO_V1(reco_online_fold);

/* The online models of reco_event, as read at a registry generation */
static List *online_models = NIL;
static uint64 online_models_generation = 0;

/* The last (transaction, version) warned about: one WARNING, not one per row */
static LocalTransactionId warned_lxid = InvalidLocalTransactionId;
static int64 warned_version = 0;

/*
 * Names of the online models trained on reco_event.  The list is read
 * again only when the registry changes (reco_registry_generation: every
 * change to reco_model or reco_model_version, committed by another backend
 * or made by this one), so the write path pays no lookup per statement.
 */
static List *
event_models(void)
{
	uint64		generation = reco_registry_generation();	/* before the lookup */
	MemoryContext old;

	if (online_models_generation != 0 && online_models_generation == generation)
		return online_models;

	reco_storage_online_models();
	list_free_deep(online_models);
	online_models = NIL;
	old = MemoryContextSwitchTo(TopMemoryContext);
	for (uint64 i = 0; i < SPI_processed; i++)
		online_models = lappend(online_models,
								pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
	MemoryContextSwitchTo(old);
	online_models_generation = generation;
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

/* One weighted event of a user, as the queue records it (kind -1: unknown) */
typedef RecoQueuedEvent OnlineEvent;

/*
 * Add a weighted interaction to a history of len entries (least recent
 * first, room for one more): the item moves to the end with its weights
 * summed, or leaves when the sum is <= 0.  Returns the new length.  The sum
 * is stored whole; solves cap it (max_weight), as training does.
 */
static int
history_add(int64 *ids, float *w, int len, int64 item, double weight)
{
	double		merged = weight;
	int			out = 0;

	for (int i = 0; i < len; i++)
	{
		if (ids[i] == item)
			merged += w[i];
		else
		{
			ids[out] = ids[i];
			w[out++] = w[i];
		}
	}
	if (merged > 0.0)
	{
		ids[out] = item;
		w[out++] = (float) merged;
	}
	return out;
}

/* What fold_row applies, set by apply_events for one user */
static struct
{
	const RecoModel *m;
	int64		user_id;
	const OnlineEvent *ev;
	int			n;
}			folding;

/*
 * A user's row after the events apply_events is writing: from the stored
 * factors, items and weights, the new ones in out[].  The history takes
 * the events one by one as history_add says and the user is folded in once
 * from the result (the fold-in depends on the history alone, so this is
 * what n single events would leave).
 */
static void
fold_row(Datum factors, Datum items, Datum weights, Datum *out)
{
	const RecoModel *m = folding.m;
	int			f = m->family->row_floats(m);
	ArrayType  *items_arr = DatumGetArrayTypeP(items);
	ArrayType  *weights_arr = DatumGetArrayTypeP(weights);
	float	   *x;
	int64	   *hist_items;
	float	   *hist_w;
	int			len;
	const char *why = NULL;
	Datum	   *idd;
	Datum	   *wd;

	len = reco_storage_history_length(items_arr, weights_arr, m->name, m->version_id,
									  folding.user_id);
	x = palloc(sizeof(float) * f);
	memcpy(x, reco_bytea_floats(factors, f, "user factors"), sizeof(float) * f);

	/* the stored arrays are plain C arrays already: copy them out whole */
	hist_items = palloc(sizeof(int64) * (len + folding.n));
	hist_w = palloc(sizeof(float) * (len + folding.n));
	memcpy(hist_items, ARR_DATA_PTR(items_arr), sizeof(int64) * len);
	memcpy(hist_w, ARR_DATA_PTR(weights_arr), sizeof(float) * len);
	for (int i = 0; i < folding.n; i++)
		len = history_add(hist_items, hist_w, len, folding.ev[i].item, folding.ev[i].w);

	if (!m->family->fold(m, hist_items, hist_w, len, x, &why))
		warn_not_applied(m, folding.user_id, why);

	idd = palloc(sizeof(Datum) * Max(len, 1));
	wd = palloc(sizeof(Datum) * Max(len, 1));
	for (int i = 0; i < len; i++)
	{
		idd[i] = Int64GetDatum(hist_items[i]);
		wd[i] = Float4GetDatum(hist_w[i]);
	}
	out[0] = PointerGetDatum(reco_floats_bytea(x, f));
	out[1] = PointerGetDatum(construct_array(idd, len, INT8OID, 8, FLOAT8PASSBYVAL,
											 TYPALIGN_DOUBLE));
	out[2] = PointerGetDatum(construct_array(wd, len, FLOAT4OID, 4, true, TYPALIGN_INT));
}

/*
 * reco_online_fold(factors, items, weights) → (new_factors, new_items,
 * new_weights): fold_row, for the UPDATE that writes a user's row when
 * storage cannot write it directly (reco_storage_user_fold).  It runs
 * inside that UPDATE, on the row as the UPDATE found it (the latest:
 * should another event of the user commit first, the UPDATE waits and
 * computes again from that row).  Internal.
 */
Datum
reco_online_fold(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		result[3];
	bool		nulls[3] = {false, false, false};

	if (folding.m == NULL)
		elog(ERROR, "reco_online_fold is called by reco's online learning only");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "reco: return type must be a row type");
	fold_row(PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), PG_GETARG_DATUM(2), result);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), result, nulls)));
}

/*
 * Add n weighted events (in arrival order, none of weight 0) to a user of
 * version m and queue them for reco_refresh: the update of the user's row
 * computes the new row from the one it locks (fold_row), and that row lock
 * serialises concurrent events of one user, so none is lost.  A new user
 * gets an empty row first.
 */
static void
apply_events(const RecoModel *m, int64 user_id, const OnlineEvent *ev, int n)
{
	MemoryContext mine = CurrentMemoryContext;	/* SPI calls leave their own */

	folding.m = m;
	folding.user_id = user_id;
	folding.ev = ev;
	folding.n = n;
	PG_TRY();
	{
		for (int attempt = 0;; attempt++)
		{
			int			f = m->family->row_floats(m);
			float	   *row;

			if (reco_storage_user_fold(m->version_id, user_id, fold_row))
				break;
			if (attempt > 0)
				elog(ERROR, "reco: writing user %lld failed", (long long) user_id);
			/* a new user: a first row, which a concurrent first event may beat */
			row = palloc0(sizeof(float) * f);
			m->family->new_row((RecoModel *) m, user_id, row);
			reco_storage_user_create(m->version_id, user_id, row, f);
		}
	}
	PG_FINALLY();
	{
		folding.m = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(mine);
	reco_storage_pending_put(m->version_id, user_id, ev, n);
}

/* apply_events for one event */
static void
apply_weight(const RecoModel *m, int64 user_id, int64 item_id, double w, int kind,
			 double value)
{
	OnlineEvent ev = {item_id, w, kind, value};

	apply_events(m, user_id, &ev, 1);
}

/*
 * The weight a model gives an event of a kind and value that happened at ts
 * (0: none): in a version trained with half_life, relative to the newest
 * event it trained on, as the trained weights are (reco_decay_factor)
 */
static double
event_weight(const RecoModel *m, int kind, double value, TimestampTz ts)
{
	return m->params.weights[kind] * reco_event_value(&m->params, value) *
		reco_decay_factor(&m->params, ts);
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
	reco_require(m, "online learning", m->family->fold != NULL, true);
	/* an event given without its time happens now */
	w = event_weight(m, kind, value, GetCurrentStatementStartTimestamp());
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

/*
 * One event of reco_event to apply, checked: a row of a statement's
 * transition table, or one a training caught up
 */
typedef struct NewEvent
{
	int64		user;
	int64		item;
	int			kind;
	double		value;
	int64		seq;			/* its order: arrival in the statement, or its time */
	TimestampTz ts;				/* its time */
} NewEvent;

/* Users in id order, each user's events in order (ties by item) */
static int
cmp_new_event(const void *a, const void *b)
{
	const NewEvent *x = a;
	const NewEvent *y = b;

	if (x->user != y->user)
		return x->user < y->user ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return (x->item > y->item) - (x->item < y->item);
}

/*
 * Feed events (sorted by cmp_new_event) to a model: each user, in id order,
 * is locked and folded in once for all their events.
 */
static void
apply_statement(const RecoModel *m, const NewEvent *ev, int64 n)
{
	OnlineEvent *batch;
	MemoryContext scratch;
	MemoryContext old;

	if (m->params.explicit_ratings)
	{
		elog(DEBUG1, "reco: model \"%s\" predicts ratings and is not updated online", m->name);
		return;
	}
	batch = palloc_extended(sizeof(OnlineEvent) * n, MCXT_ALLOC_HUGE);
	scratch = AllocSetContextCreate(CurrentMemoryContext, "reco online user",
									ALLOCSET_DEFAULT_SIZES);
	for (int64 start = 0, end; start < n; start = end)
	{
		int			nb = 0;

		CHECK_FOR_INTERRUPTS();
		for (end = start; end < n && ev[end].user == ev[start].user; end++)
		{
			double		w = event_weight(m, ev[end].kind, ev[end].value, ev[end].ts);

			if (w == 0.0)
				continue;		/* the model gives this event no weight */
			batch[nb].item = ev[end].item;
			batch[nb].w = w;
			batch[nb].kind = ev[end].kind;
			batch[nb++].value = ev[end].value;
		}
		if (nb == 0)
			continue;
		old = MemoryContextSwitchTo(scratch);
		apply_events(m, ev[start].user, batch, nb);
		MemoryContextSwitchTo(old);
		MemoryContextReset(scratch);
	}
	MemoryContextDelete(scratch);
	pfree(batch);
}

/* Append one caught-up event to the array (growing it) */
static void
add_missed(NewEvent **missed, int64 *n, int64 *cap, int64 user, int64 item,
		   text *kind, float value, TimestampTz ts)
{
	NewEvent   *e;

	if (*n == *cap)
	{
		*cap = Max(64, *cap * 2);
		*missed = *missed ? repalloc_huge(*missed, sizeof(NewEvent) * *cap)
			: palloc(sizeof(NewEvent) * *cap);
	}
	e = &(*missed)[(*n)++];
	e->user = user;
	e->item = item;
	e->kind = reco_kind(VARDATA_ANY(kind), VARSIZE_ANY_EXHDR(kind));
	e->value = value;
	e->seq = ts;
	e->ts = ts;
}

/*
 * The events of reco_event visible to now but not to seen: one pass over
 * the heap that reads only what it keeps
 */
static NewEvent *
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
	NewEvent   *missed = NULL;
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
		if (tup->t_data->t_infomask & HEAP_UPDATED)
			continue;			/* an UPDATE of an event, not a new one */
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
 * Apply to the new version m every event of reco_event that is visible to
 * now but was not to seen (the snapshot the training read): the events
 * committed while it trained.  Only a version that learns online catches
 * up, and none trained under row security does, so the scan sees no more
 * than its trainer did.  Returns how many.
 */
int64
reco_online_catch_up(const RecoModel *m, Snapshot seen, Snapshot now)
{
	int64		n;
	int64		valid = 0;
	NewEvent   *missed = missed_by_scan(seen, now, &n);

	/* what only an insert with triggers disabled could store stays out */
	for (int64 i = 0; i < n; i++)
		if (missed[i].kind >= 0 && reco_value_in_range(missed[i].value))
			missed[valid++] = missed[i];
	if (valid > 1)
		qsort(missed, valid, sizeof(NewEvent), cmp_new_event);
	/* by user, in time order: what the events one by one would have left */
	apply_statement(m, missed, valid);
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
	RecoModel  *m;
	bool		online;
	bool		from_events;
	Oid			owner;

	k = check_event(PG_ARGISNULL(0), PG_ARGISNULL(1),
					kind ? VARDATA_ANY(kind) : NULL, kind ? VARSIZE_ANY_EXHDR(kind) : 0,
					PG_ARGISNULL(3), value);
	model = reco_text_arg(fcinfo, 4, "model");
	caller = reco_become_owner();
	SPI_connect();
	m = reco_model_get(model);
	reco_require(m, "online learning", m->family->fold != NULL, true);
	(void) reco_storage_model_feed(model, &online, &from_events, &owner);

	/*
	 * A model switched off takes nothing, as from the trigger; one trained
	 * on a query of its owner's (a tenant's table, say) only from its owner
	 */
	if (!from_events)
		reco_check_owner(model, owner, caller.userid);
	applied = online && reco_online_apply(m, PG_GETARG_INT64(0), PG_GETARG_INT64(1), k,
										  value, false);
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

/* A user or item id of a trigger's table: smallint, integer or bigint */
static int64
id_datum(Datum d, Oid type)
{
	switch (type)
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

/* A bigint-valued column of the new row (0 when NULL) */
static int64
row_int64(TriggerData *td, int att, bool *isnull)
{
	Datum		d = SPI_getbinval(td->tg_trigtuple, td->tg_relation->rd_att, att, isnull);

	return *isnull ? 0 : id_datum(d, SPI_gettypeid(td->tg_relation->rd_att, att));
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

/* A bigint-valued attribute of a slot (0 when NULL) */
static int64
slot_int64(TupleTableSlot *slot, int att, bool *isnull)
{
	Datum		d = slot_getattr(slot, att, isnull);

	return *isnull ? 0 : id_datum(d, TupleDescAttr(slot->tts_tupleDescriptor, att - 1)->atttypid);
}

/*
 * Read and check every event of the statement's transition table, in
 * arrival order; returns them and their number in *n.  The table is read
 * through a read pointer of our own, as a query over it would, so other
 * triggers reading it are not disturbed.
 */
static NewEvent *
read_new_events(TriggerData *td, int64 *n)
{
	Tuplestorestate *ts = td->tg_newtable;
	TupleDesc	desc = td->tg_relation->rd_att;
	int			ua = trigger_column(td, "user_id");
	int			ia = trigger_column(td, "item_id");
	int			ka = trigger_column(td, "kind");
	int			va = trigger_column(td, "value");
	int			ta = trigger_column(td, "ts");
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	int64		cap = Max(tuplestore_tuple_count(ts), 1);
	NewEvent   *ev = palloc_extended(sizeof(NewEvent) * cap, MCXT_ALLOC_HUGE);
	int64		count = 0;

	if (TupleDescAttr(desc, ka - 1)->atttypid != TEXTOID ||
		TupleDescAttr(desc, va - 1)->atttypid != FLOAT4OID ||
		TupleDescAttr(desc, ta - 1)->atttypid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("columns kind, value and ts of a reco statement trigger must be text, real and timestamptz")));

	tuplestore_select_read_pointer(ts, tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND));
	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		bool		unull,
					inull,
					knull,
					vnull,
					tnull;
		Datum		kd = slot_getattr(slot, ka, &knull);
		Datum		vd = slot_getattr(slot, va, &vnull);
		Datum		tsd = slot_getattr(slot, ta, &tnull);
		text	   *kind = knull ? NULL : DatumGetTextPP(kd);
		NewEvent   *e;

		if (count % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
		if (count == cap)
		{
			cap *= 2;
			ev = repalloc_huge(ev, sizeof(NewEvent) * cap);
		}
		e = &ev[count];
		e->user = slot_int64(slot, ua, &unull);
		e->item = slot_int64(slot, ia, &inull);
		e->value = vnull ? 1.0 : DatumGetFloat4(vd);
		e->kind = check_event(unull, inull, kind ? VARDATA_ANY(kind) : NULL,
							  kind ? VARSIZE_ANY_EXHDR(kind) : 0, vnull, e->value);
		e->ts = tnull ? GetCurrentStatementStartTimestamp() : DatumGetTimestampTz(tsd);
		e->seq = count++;
	}
	ExecDropSingleTupleTableSlot(slot);
	*n = count;
	return ev;
}

/*
 * reco_online_events(): the AFTER INSERT ... FOR EACH STATEMENT trigger of
 * reco_event, with the inserted rows as a transition table.  Every event is
 * checked; then every online model trained on reco_event takes the
 * statement's events user by user in id order (so two multi-row inserts
 * over the same users cannot deadlock), one fold-in per user.  It runs
 * before the next statement, so the transaction reads its own writes.
 */
Datum
reco_online_events(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	NewEvent   *ev;
	int64		n;
	List	   *names;
	ListCell   *lc;
	RecoUser	caller;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reco_online_events: not called by trigger manager")));
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(td->tg_event) || td->tg_newtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reco_online_events must be an AFTER INSERT ... REFERENCING NEW TABLE ... FOR EACH STATEMENT trigger")));

	ev = read_new_events(td, &n);
	if (n == 0 || !reco_online)
		return PointerGetDatum(NULL);
	if (n > 1)
		qsort(ev, n, sizeof(NewEvent), cmp_new_event);

	caller = reco_become_owner();
	SPI_connect();
	names = event_models();
	foreach(lc, names)
		apply_statement(reco_model_get((const char *) lfirst(lc)), ev, n);
	SPI_finish();
	reco_become(caller);
	pfree(ev);
	return PointerGetDatum(NULL);
}
