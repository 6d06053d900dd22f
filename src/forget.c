/*
 * forget.c - reco_forget_user: a customer's right to be forgotten
 *
 * Removes the customer's events, their row and their queued events in every
 * version of every model, takes them out of each version's buying-again
 * counts (repeat.h), and re-solves in each version every item they
 * touched against the remaining users (family->forget), so that no version can
 * serve or encode them afterwards: an item only they touched leaves the
 * version, the others become what their exact item solve gives without
 * them.  Every model's registry row is locked meanwhile, so no training or
 * refresh interleaves.
 */
#include "reco.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "model.h"
#include "refresh.h"
#include "repeat.h"
#include "storage.h"
#include "family/family.h"

PG_FUNCTION_INFO_V1(reco_forget_user);

/* One version of one model */
typedef struct VersionRef
{
	int64		version_id;
	char	   *model;
	int32		version;
} VersionRef;

/*
 * Delete the user's row and queue in one version, and take them out of its
 * buying-again counts; returns the items their row held, in the history or
 * in those counts (sorted, distinct), and how many, or -1 if they had no row.
 */
static int64
forget_in_version(const VersionRef *v, int64 user_id, int64 **items)
{
	int			n;
	int64		len = 0;
	int64	   *counted;
	int			ncounted;

	*items = reco_storage_forget_user(v->version_id, user_id, &n, &counted, &ncounted);
	if (*items == NULL)
		return -1;
	if (counted != NULL)
	{
		/* a return may have taken a counted item out of the history */
		*items = repalloc(*items, sizeof(int64) * Max(n + ncounted, 1));
		memcpy(*items + n, counted, sizeof(int64) * ncounted);
		n += ncounted;
		reco_repeat_forget(v->version_id, counted, ncounted);
	}
	qsort(*items, n, sizeof(int64), reco_cmp_int64);
	for (int i = 0; i < n; i++)
		if (len == 0 || (*items)[len - 1] != (*items)[i])
			(*items)[len++] = (*items)[i];
	return len;
}

/*
 * reco_forget_user(user_id): returns (events, versions, items): the events
 * deleted, the versions that held the user, and the items re-solved or
 * removed in them.
 */
Datum
reco_forget_user(PG_FUNCTION_ARGS)
{
	int64		user_id = PG_GETARG_INT64(0);
	TupleDesc	tupdesc;
	Datum		result[3];
	bool		nulls[3] = {0};
	int64		events;
	int32		n_versions = 0;
	int64		n_items = 0;
	VersionRef *versions;
	uint64		nv;
	MemoryContext mcxt;
	MemoryContext old;
	RecoUser	caller;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "reco: return type must be a row type");
	if (!reco_is_admin(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to forget a customer"),
				 errdetail("Forgetting changes every model, so only an administrator of reco may."),
				 errhint("Ask a member of reco_admin.")));
	mcxt = AllocSetContextCreate(CurrentMemoryContext, "reco forget", ALLOCSET_DEFAULT_SIZES);
	caller = reco_become_owner();
	SPI_connect();
	old = MemoryContextSwitchTo(mcxt);

	/*
	 * Every insert into reco_event in flight now finished first, so that its
	 * events and rows are seen and go too (waited for before taking any
	 * lock such a transaction may want next); then no training (a first one
	 * included) or refresh of any model meanwhile
	 */
	reco_storage_wait_writers("reco_event");
	reco_lock_trainings(true);
	reco_storage_lock_all_models();
	AcceptInvalidationMessages();
	reco_storage_all_versions();
	nv = SPI_processed;
	versions = palloc(sizeof(VersionRef) * Max(nv, 1));
	for (uint64 i = 0; i < nv; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;

		versions[i].version_id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		versions[i].model = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
		versions[i].version = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
	}

	for (uint64 i = 0; i < nv; i++)
	{
		int64	   *items;
		int64		n;
		RecoResolved done;
		RecoModel  *v;

		CHECK_FOR_INTERRUPTS();
		n = forget_in_version(&versions[i], user_id, &items);
		if (n < 0)
			continue;
		n_versions++;
		if (n == 0)
			continue;

		/* the version as it is without them, read under a snapshot that shows it */
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		v = reco_model_version_load(versions[i].model, versions[i].version);
		/* a network's shared weights cannot be re-solved without one customer */
		if (v->family->forget != NULL)
		{
			v->family->forget(v, items, n, &done);
			n_items += done.items + done.removed;
		}
		PopActiveSnapshot();
	}

	/* last, so that events an insert of theirs committed meanwhile go too */
	events = reco_storage_forget_events(user_id);

	MemoryContextSwitchTo(old);
	SPI_finish();
	reco_become(caller);
	MemoryContextDelete(mcxt);

	result[0] = Int64GetDatum(events);
	result[1] = Int32GetDatum(n_versions);
	result[2] = Int64GetDatum(n_items);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), result, nulls)));
}
