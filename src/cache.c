/*
 * cache.c - the active version of each model's item side, kept in backend
 * memory and reloaded when the version (or its revision) changes
 *
 * Each call checks the registry with one indexed lookup (storage.c); the item matrix is
 * read from reco_item_factors only when that lookup shows a new version.
 * Loading happens in a transaction-lifetime context that is moved under
 * TopMemoryContext only once complete, so an error mid-load leaks nothing
 * and leaves no half-filled entry behind.  Callers hold an SPI connection.
 */
#include "reco.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "topk.h"

#include "params.h"
#include "train.h"
#include "model.h"
#include "fresh.h"
#include "repeat.h"
#include "storage.h"
#include "family/family.h"

static HTAB *models = NULL;

/*
 * The registry generation: bumped whenever a relcache invalidation names
 * reco_model or reco_model_version.  Statement triggers on both tables send
 * one on every change (reco_registry_changed), at commit to other backends
 * and at the next command (or on rollback) to this one, so an entry checked
 * at the current generation needs no registry lookup.
 */
static uint64 registry_generation = 1;
static Oid	registry_relids[2] = {InvalidOid, InvalidOid};

PG_FUNCTION_INFO_V1(reco_registry_changed);

/* Relcache invalidation callback: does it concern the registry? */
static void
registry_invalidated(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == registry_relids[0] || relid == registry_relids[1])
		registry_generation++;
}

/*
 * The registry generation a lookup made now can be trusted until (read it
 * before the lookup); 0 when the registry's tables are new to this backend
 * (the extension was just created, or dropped and created again), whose
 * earlier invalidations were not counted.
 */
uint64
reco_registry_generation(void)
{
	Oid			model = reco_table_oid("reco_model");
	Oid			version = reco_table_oid("reco_model_version");

	if (model != registry_relids[0] || version != registry_relids[1])
	{
		registry_relids[0] = model;
		registry_relids[1] = version;
		return 0;
	}
	return registry_generation;
}

/* Register the callback (from _PG_init) */
void
reco_cache_init(void)
{
	CacheRegisterRelcacheCallback(registry_invalidated, (Datum) 0);
}

/* Statement trigger on the registry tables: tell every backend's cache */
Datum
reco_registry_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reco_registry_changed: not called by trigger manager")));
	CacheInvalidateRelcache(td->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * An item's index by a table lookup instead of a binary search when the
 * ids are dense enough: the item-item lists' load maps a hundred
 * neighbours an item, and serving maps histories and filters
 */
static void
id_table(RecoModel *m)
{
	m->id_span = reco_id_table_span(m->item_ids, m->n_items);
	m->id_table = NULL;
	if (m->id_span == 0)
		return;
	m->id_table = MemoryContextAllocHuge(m->mcxt, sizeof(int32) * m->id_span);
	reco_id_table_fill(m->item_ids, m->n_items, m->id_table, m->id_span);
}

/*
 * Read a version's items, by id: their ids and popularity into m (in
 * m->mcxt) and their stored rows of width bytes each into a buffer in the
 * current context, which is returned.  Sets m->n_items.
 */
char *
reco_model_read_rows(RecoModel *m, int64 expected, Size width)
{
	int64		cap = Max(expected, 16);
	int			fetch = RECO_FETCH_FIRST;
	int32		n = 0;
	char	   *rows;
	Portal		portal;
	MemoryContext old = MemoryContextSwitchTo(m->mcxt);

	m->item_ids = palloc_extended(sizeof(int64) * cap, MCXT_ALLOC_HUGE);
	m->popularity = palloc_extended(sizeof(float) * cap, MCXT_ALLOC_HUGE);
	MemoryContextSwitchTo(old);
	rows = palloc_extended(cap * width, MCXT_ALLOC_HUGE);

	portal = reco_storage_items_open(m->version_id);
	for (;;)
	{
		if (reco_fetch(portal, &fetch) == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			bytea	   *b;

			if (n == cap)
			{
				cap *= 2;
				m->item_ids = repalloc_huge(m->item_ids, sizeof(int64) * cap);
				m->popularity = repalloc_huge(m->popularity, sizeof(float) * cap);
				rows = repalloc_huge(rows, cap * width);
			}
			m->item_ids[n] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			m->popularity[n] = DatumGetFloat4(SPI_getbinval(tup, desc, 2, &isnull));
			b = DatumGetByteaPP(SPI_getbinval(tup, desc, 3, &isnull));
			if (VARSIZE_ANY_EXHDR(b) != width)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the row of item %lld in version %lld holds %zu bytes, expected %zu",
								(long long) m->item_ids[n], (long long) m->version_id,
								(size_t) VARSIZE_ANY_EXHDR(b), (size_t) width)));
			memcpy(rows + (Size) n * width, VARDATA_ANY(b), width);
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	m->n_items = n;
	id_table(m);
	return rows;
}

/*
 * reco_model_read_rows for rows of width floats, every one finite: rows
 * are written only by reco, in the server's byte order
 */
float *
reco_model_read_items(RecoModel *m, int64 expected, int width)
{
	float	   *rows = (float *) reco_model_read_rows(m, expected, sizeof(float) * width);

	for (int32 i = 0; i < m->n_items; i++)
		if (!reco_floats_finite(rows + (Size) i * width, width))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("factors of item %lld in version %lld are not finite",
							(long long) m->item_ids[i], (long long) m->version_id),
					 errhint("Factors are float4 values in the server's byte order, as reco_train writes them.")));
	return rows;
}

/*
 * The active version of a model, loaded if this backend has not seen it.
 * Errors name the model and say how to get a served version.
 */
RecoModel *
reco_model_get(const char *name)
{
	bool		found;
	RecoVersionInfo v;
	char		key[64];
	RecoModel  *m;
	RecoModel	fresh;

	uint64		generation = registry_generation;	/* before any lookup */

	if (strlen(name) >= sizeof(key))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", reco_name_msg(name))));

	/* nothing in the registry changed since this entry was checked */
	memset(key, 0, sizeof(key));
	strlcpy(key, name, sizeof(key));
	if (models != NULL && OidIsValid(registry_relids[0]))
	{
		m = hash_search(models, key, HASH_FIND, &found);
		if (m != NULL && m->checked == generation)
			return m;
	}

	if (!reco_storage_model(name, &v))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", reco_name_msg(name)),
				 errhint("Train it first: SELECT * FROM reco_train(%s);", quote_literal_cstr(name))));
	if (v.version_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" has no trained version", reco_name_msg(name)),
				 errhint("Train it first: SELECT * FROM reco_train(%s);", quote_literal_cstr(name))));

	if (models == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(RecoModel);
		models = hash_create("reco models", 16, &ctl, HASH_ELEM | HASH_STRINGS);
	}
	registry_relids[0] = reco_table_oid("reco_model");
	registry_relids[1] = reco_table_oid("reco_model_version");
	m = hash_search(models, key, HASH_FIND, &found);
	if (m != NULL && m->version_id == v.version_id && m->revision == v.revision &&
		m->trained == v.trained)
	{
		m->checked = generation;
		return m;
	}

	/* build the new entry aside; install it only once complete */
	memset(&fresh, 0, sizeof(fresh));
	strlcpy(fresh.name, name, sizeof(fresh.name));
	fresh.version_id = v.version_id;
	fresh.revision = v.revision;
	fresh.trained = v.trained;
	fresh.checked = generation;
	fresh.factors = v.factors;
	fresh.mcxt = AllocSetContextCreate(CurrentMemoryContext, "reco model cache",
									   ALLOCSET_DEFAULT_SIZES);
	fresh.family = reco_family(v.algorithm);
	fresh.family->load(&fresh, v.n_items);
	reco_repeat_load(&fresh);
	reco_fresh_load(&fresh);
	MemoryContextSetParent(fresh.mcxt, TopMemoryContext);

	if (m != NULL)
		MemoryContextDelete(m->mcxt);
	m = hash_search(models, key, HASH_ENTER, &found);
	*m = fresh;
	return m;
}

/*
 * A given version of a model, read afresh into the current memory context
 * and not cached: evaluation and comparison of versions not being served.
 */
RecoModel *
reco_model_version_load(const char *name, int32 version)
{
	RecoVersionInfo v;
	RecoModel  *m;

	if (!reco_storage_version(name, version, &v))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", reco_name_msg(name)),
				 errhint("The models are listed in reco_models.")));
	if (v.version_id == 0)
		reco_no_version(name, version);
	m = palloc0(sizeof(RecoModel));
	strlcpy(m->name, name, sizeof(m->name));
	m->version_id = v.version_id;
	m->revision = v.revision;
	m->factors = v.factors;
	m->trained = v.trained;
	m->mcxt = CurrentMemoryContext;
	m->family = reco_family(v.algorithm);
	m->family->load(m, v.n_items);
	reco_repeat_load(m);
	reco_fresh_load(m);
	return m;
}

/* Dense index of an item in the cached version, or -1 */
int32
reco_model_item_index(const RecoModel *m, int64 item_id)
{
	return (int32) reco_id_find(m->item_ids, m->n_items, m->id_table, m->id_span, item_id);
}

/* Index of an item that must be in the model, or a clear error */
int32
reco_model_known_item(const RecoModel *m, int64 item_id)
{
	int32		idx = reco_model_item_index(m, item_id);

	if (idx < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("item %lld is not in model \"%s\"", (long long) item_id, m->name),
				 errhint("Only items with interactions at training time have factors; retrain to include new items.")));
	return idx;
}

/* Set the bit of every item of an int8 array that the version knows */
void
reco_model_mark_items(const RecoModel *m, ArrayType *arr, uint8 *skip)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		int32		idx;

		if (nulls[i])
			continue;
		idx = reco_model_item_index(m, DatumGetInt64(elems[i]));
		if (idx >= 0)
			topk_bit_set(skip, idx);
	}
}

static const float *sort_popularity;

static int
cmp_popularity(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	if (sort_popularity[x] != sort_popularity[y])
		return sort_popularity[x] > sort_popularity[y] ? -1 : 1;
	return (x > y) - (x < y);
}

/* Item indexes from most to least popular (ties: lower item id first) */
const int32 *
reco_model_popular(RecoModel *m)
{
	if (m->by_popularity == NULL)
	{
		int32	   *order = MemoryContextAllocHuge(m->mcxt, sizeof(int32) * Max(m->n_items, 1));

		for (int32 i = 0; i < m->n_items; i++)
			order[i] = i;
		sort_popularity = m->popularity;
		qsort(order, m->n_items, sizeof(int32), cmp_popularity);
		m->by_popularity = order;
	}
	return m->by_popularity;
}
