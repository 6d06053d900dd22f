/*
 * refresh.c - reco_refresh: the item side catches up with online events
 *
 * Online updates re-solve users in their own transactions and queue the
 * events in reco_pending.  A refresh takes the queue and has the family
 * catch the item side up on it (ALS: each touched item re-solved exactly
 * against the current user factors, new items given their first vector,
 * family/als_resolve.c; mlp: new items stepped against their first
 * customers), then bumps the version's revision, so every backend reloads
 * its cache on its next call.
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
#include "family/family.h"

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
	reco_require(m, "reco_refresh", m->family->refresh != NULL, true);
	reco_storage_version_lock(m->version_id);

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
	events = m->family->refresh(m, snap, &done);

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
