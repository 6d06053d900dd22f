/*
 * online.c - learning from each event inside the inserting transaction
 *
 * An event re-solves its user's vector exactly (ALS fold-in against the
 * cached item factors and Gram matrix of the active version) and records the
 * (user, item, weight) for reco_refresh, which catches the item side up out
 * of line.  Only the user's own row is written and locked, so concurrent
 * events of different users never wait on each other, and a hot item is
 * never a lock.  Cost per event is bounded by reco.max_history: a user's
 * history keeps its most recently touched items only.
 */
#include "reco.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(reco_online_update);
PG_FUNCTION_INFO_V1(reco_online_trigger);

static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr create_plan = NULL;
static SPIPlanPtr write_plan = NULL;
static SPIPlanPtr models_plan = NULL;

/* The online models of reco_event, as read once per statement */
static List *online_models = NIL;
static LocalTransactionId online_models_lxid = InvalidLocalTransactionId;
static TimestampTz online_models_stmt = 0;
static CommandId online_models_cid = InvalidCommandId;

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

	if (models_plan == NULL)
		models_plan = reco_keep_plan(psprintf("SELECT name FROM %s WHERE online AND source OPERATOR(pg_catalog.=) 'reco_event' "
							 "AND active_version IS NOT NULL ORDER BY name",
							 reco_table("reco_model")), 0, NULL);
	if (SPI_execute_plan(models_plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
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

/*
 * Lock the user's row of the version (creating an empty one for a new user)
 * and return its history.  The lock serialises concurrent events of one
 * user, so none is lost.
 */
static void
lock_user(RecoModel *m, int64 user_id, ArrayType **items, ArrayType **weights)
{
	Oid			types[3] = {INT8OID, INT8OID, BYTEAOID};
	Datum		values[3];
	bool		isnull;

	values[0] = Int64GetDatum(m->version_id);
	values[1] = Int64GetDatum(user_id);
	for (int attempt = 0; attempt < 2; attempt++)
	{
		if (lock_plan == NULL)
			lock_plan = reco_keep_plan(psprintf("SELECT items, weights FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
								 "AND user_id OPERATOR(pg_catalog.=) $2 FOR UPDATE",
								 reco_table("reco_user_factors")), 2, types);
		if (SPI_execute_plan(lock_plan, values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reco: locking a user failed");
		if (SPI_processed == 1)
		{
			*items = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 1, &isnull));
			*weights = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc, 2, &isnull));
			return;
		}
		/* a new user: an empty row, which a concurrent first event may beat */
		values[2] = PointerGetDatum(reco_floats_bytea(NULL, m->factors));
		if (create_plan == NULL)
			create_plan = reco_keep_plan(psprintf("INSERT INTO %s (version_id, user_id, factors, items, weights) "
								 "VALUES ($1, $2, $3, '{}', '{}') ON CONFLICT DO NOTHING",
								 reco_table("reco_user_factors")), 3, types);
		if (SPI_execute_plan(create_plan, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "reco: creating a user failed");
	}
	elog(ERROR, "reco: user %lld could not be locked", (long long) user_id);
}

/*
 * Apply one weighted interaction to a model's user side.  Returns false when
 * the model gives the event no weight, or when a trigger meets a model that
 * does not learn online (explicit ratings: a direct call is an error).
 */
static bool
online_apply(const char *model, int64 user_id, int64 item_id, int kind, double value,
			 bool from_trigger)
{
	RecoModel  *m = reco_model_get(model);
	int			f = m->factors;
	double		w = m->params.weights[kind] * reco_event_value(&m->params, value);
	ArrayType  *items_arr;
	ArrayType  *weights_arr;
	Datum	   *items;
	Datum	   *weights;
	bool	   *nulls;
	int			n;
	int			len = 0;
	int			first;
	double		merged = w;
	int64	   *hist_items;
	float	   *hist_w;
	float	   *Yu;
	float	   *wu;
	float	   *x;
	int			known;
	Datum		values[7];
	Oid			types[7] = {INT8OID, INT8OID, BYTEAOID, INT8ARRAYOID, FLOAT4ARRAYOID,
	INT8OID, FLOAT4OID};

	if (from_trigger && m->params.explicit_ratings)
	{
		elog(DEBUG1, "reco: model \"%s\" predicts ratings and is not updated online", model);
		return false;
	}
	reco_require_implicit(m, "online learning");
	if (w == 0.0)
		return false;
	if (m->gram == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" has no Gram matrix to fold users in against", model),
				 errhint("Retrain the model with reco_train.")));

	lock_user(m, user_id, &items_arr, &weights_arr);
	deconstruct_array(items_arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &items, &nulls, &n);
	deconstruct_array(weights_arr, FLOAT4OID, 4, true, TYPALIGN_INT,
					  &weights, &nulls, &n);

	/*
	 * New history: the others in their order, then this item with its summed
	 * weight (most recent last; a pair summing to <= 0 leaves), then the
	 * oldest dropped beyond reco.max_history.
	 */
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
	first = Max(0, len - reco_max_history);

	/* fold in against the items the version knows */
	Yu = palloc(sizeof(float) * f * Max(len, 1));
	wu = palloc(sizeof(float) * Max(len, 1));
	known = reco_model_history_rows(m, hist_items, hist_w, len, Yu, wu, NULL);
	x = palloc0(sizeof(float) * f);
	if (known > 0)
	{
		float	   *scratch = palloc(sizeof(float) * als_fold_in_floats(f, known));

		if (!als_fold_in(m->gram, Yu, wu, known, NULL, &m->params.als, x, scratch))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("fold-in of user %lld in model \"%s\" is not positive definite",
							(long long) user_id, model),
					 errhint("Retrain with a larger \"regularization\".")));
	}

	values[0] = Int64GetDatum(m->version_id);
	values[1] = Int64GetDatum(user_id);
	values[2] = PointerGetDatum(reco_floats_bytea(x, f));
	{
		Datum	   *id = palloc(sizeof(Datum) * Max(len - first, 1));
		Datum	   *wd = palloc(sizeof(Datum) * Max(len - first, 1));

		for (int i = first; i < len; i++)
		{
			id[i - first] = Int64GetDatum(hist_items[i]);
			wd[i - first] = Float4GetDatum(hist_w[i]);
		}
		values[3] = PointerGetDatum(construct_array(id, len - first, INT8OID, 8,
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[4] = PointerGetDatum(construct_array(wd, len - first, FLOAT4OID, 4,
													true, TYPALIGN_INT));
	}
	values[5] = Int64GetDatum(item_id);
	values[6] = Float4GetDatum((float) w);

	/* the new user row, and the event queued for reco_refresh, in one statement */
	if (write_plan == NULL)
		write_plan = reco_keep_plan(psprintf("WITH u AS (UPDATE %s SET factors = $3, items = $4, weights = $5 "
							 "WHERE version_id OPERATOR(pg_catalog.=) $1 AND user_id OPERATOR(pg_catalog.=) $2 "
							 "RETURNING 1) "
							 "INSERT INTO %s (version_id, user_id, item_id, weight) SELECT $1, $2, $6, $7 FROM u",
							 reco_table("reco_user_factors"), reco_table("reco_pending")),
					7, types);
	if (SPI_execute_plan(write_plan, values, NULL, false, 0) != SPI_OK_INSERT || SPI_processed != 1)
		elog(ERROR, "reco: writing user %lld failed", (long long) user_id);
	return true;
}

/* Check an event's fields; returns the kind's index */
static int
check_event(bool user_null, bool item_null, const char *kind, int kind_len,
			double value)
{
	int			k;

	if (user_null || item_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user and item of an event must not be NULL")));
	k = kind ? reco_kind(kind, kind_len) : -1;
	if (k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown event kind \"%s\"", kind ? pnstrdup(kind, kind_len) : "(null)"),
				 errhint("Kinds are view, click, cart, purchase, rating and search.")));
	if (isnan(value) || isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event value must be a finite number")));
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
	double		value = PG_ARGISNULL(3) ? 1.0 : PG_GETARG_FLOAT4(3);
	char	   *model;
	int			k;
	bool		applied;

	k = check_event(PG_ARGISNULL(0), PG_ARGISNULL(1),
					kind ? VARDATA_ANY(kind) : NULL, kind ? VARSIZE_ANY_EXHDR(kind) : 0,
					value);
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));
	model = text_to_cstring(PG_GETARG_TEXT_PP(4));
	SPI_connect();
	applied = online_apply(model, PG_GETARG_INT64(0), PG_GETARG_INT64(1), k, value, false);
	SPI_finish();
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
 * reco_event) it feeds every online model trained on reco_event from the
 * columns user_id, item_id, kind, value.  On a shop's own table it takes
 * (model, user column, item column, kind [, value column]): the kind is a
 * constant such as 'purchase'; the value column, if given, is cast to real.
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
	if (!reco_online)
		return PointerGetDatum(NULL);

	SPI_connect();
	if (tg->tgnargs == 0)
	{
		/* reco_event: every online model trained on it */
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
		k = check_event(unull, inull, kstr, kstr ? strlen(kstr) : 0, value);

		foreach(lc, event_models())
			online_apply((const char *) lfirst(lc), user_id, item_id, k, value, true);
	}
	else
	{
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

			vnull = (v == NULL);
			if (!vnull)
				value = DatumGetFloat4(DirectFunctionCall1(float4in, CStringGetDatum(v)));
		}
		k = check_event(unull, inull, kind, strlen(kind), value);
		if (!vnull)
			online_apply(tg->tgargs[0], user_id, item_id, k, value, true);
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}
