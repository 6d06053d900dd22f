/*
 * refresh.c - reco_refresh: the item side catches up with online events
 *
 * Online updates re-solve users in their own transactions and queue the
 * events in reco_pending.  A refresh takes the queue, re-solves each touched
 * item exactly against the current user factors (new items get their first
 * vector; resolve.c), recomputes the item Gram matrix and bumps the
 * version's revision, so every backend reloads its cache on its next call.
 * It locks the registry row only: inserts and serving go on meanwhile.
 */
#include "reco.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "model.h"
#include "online.h"
#include "refresh.h"
#include "storage.h"

PG_FUNCTION_INFO_V1(reco_refresh);

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
	RecoModel  *m;
	int64		events = 0;
	int64		n_touched;
	int64		n_cold;
	int64	   *cold_ids;
	float	   *Ycold;
	int64	   *touched;
	bool		isnull;
	int64		replayed;
	RecoResolved done = {0};
	RecoUser	caller;
	Snapshot	snap;
	MemoryContext mcxt;
	MemoryContext old;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "reco: return type must be a row type");
	INSTR_TIME_SET_CURRENT(start);
	mcxt = AllocSetContextCreate(CurrentMemoryContext, "reco refresh", ALLOCSET_DEFAULT_SIZES);
	caller = reco_become_owner();
	SPI_connect();
	old = MemoryContextSwitchTo(mcxt);

	/*
	 * One refresh (or training) of a model at a time.  What the wait for the
	 * lock let happen (a new version, another refresh) is seen through
	 * invalidations and snapshots taken after it, never before.
	 */
	reco_model_lock_existing(model, caller.userid);
	AcceptInvalidationMessages();
	PushActiveSnapshot(GetTransactionSnapshot());
	m = reco_model_get(model);
	reco_require_implicit(m, "reco_refresh");

	/* events queued for versions this one superseded join its own queue */
	replayed = reco_online_replay(m, GetActiveSnapshot());
	PopActiveSnapshot();
	elog(DEBUG1, "reco: %lld events of superseded versions replayed into model \"%s\"",
		 (long long) replayed, model);

	/*
	 * Everything from here reads under one snapshot: the queue, the user rows
	 * and the catalogue.  Rows committed later wait for the next refresh.
	 */
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetTransactionSnapshot());
	PushActiveSnapshot(snap);
	reco_storage_pending_take(m->version_id, snap);
	n_touched = (int64) SPI_processed;
	touched = palloc(sizeof(int64) * Max(n_touched, 1));
	for (int64 i = 0; i < n_touched; i++)
	{
		touched[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		events += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}

	n_cold = reco_cold_start(m, touched, n_touched, &cold_ids, &Ycold);
	if (n_touched > 0 || n_cold > 0)
		reco_resolve_items(m, touched, n_touched, cold_ids, Ycold, n_cold, &done);

	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	MemoryContextSwitchTo(old);
	SPI_finish();
	reco_become(caller);
	MemoryContextDelete(mcxt);

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	result[0] = Int64GetDatum(events);	/* the replayed ones among them */
	result[1] = Int64GetDatum(done.items);
	result[2] = Int64GetDatum(done.new_items);
	result[3] = Int64GetDatum(done.cold_items);
	result[4] = Float8GetDatum(INSTR_TIME_GET_DOUBLE(now));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), result, nulls)));
}
