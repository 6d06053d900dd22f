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
#include "storage.h"

#define LOAD_BATCH 10000

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
 * Read the item side of a version into m->mcxt: ids, popularity and the
 * factor-major matrix.  Factors must be native float4 and finite.
 */
static void
load_items(RecoModel *m, int64 expected)
{
	int64		cap = Max(expected, 16);
	int32		n = 0;
	int			f = m->factors;
	float	   *Y;
	Portal		portal;
	MemoryContext old = MemoryContextSwitchTo(m->mcxt);

	m->item_ids = palloc_extended(sizeof(int64) * cap, MCXT_ALLOC_HUGE);
	m->popularity = palloc_extended(sizeof(float) * cap, MCXT_ALLOC_HUGE);
	MemoryContextSwitchTo(old);
	/* rows arrive item by item; transposed once complete */
	Y = palloc_extended(sizeof(float) * cap * f, MCXT_ALLOC_HUGE);

	portal = reco_storage_items_open(m->version_id);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, LOAD_BATCH);
		if (SPI_processed == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			float	   *y;

			if (n == cap)
			{
				cap *= 2;
				m->item_ids = repalloc_huge(m->item_ids, sizeof(int64) * cap);
				m->popularity = repalloc_huge(m->popularity, sizeof(float) * cap);
				Y = repalloc_huge(Y, sizeof(float) * cap * f);
			}
			m->item_ids[n] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			m->popularity[n] = DatumGetFloat4(SPI_getbinval(tup, desc, 2, &isnull));
			y = Y + (int64) n * f;
			memcpy(y, reco_bytea_floats(SPI_getbinval(tup, desc, 3, &isnull), f, "item factors"),
				   sizeof(float) * f);
			for (int j = 0; j < f; j++)
				if (isnan(y[j]) || isinf(y[j]))
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("factors of item %lld in version %lld are not finite",
									(long long) m->item_ids[n], (long long) m->version_id),
							 errhint("Factors are float4 values in the server's byte order, as reco_train writes them.")));
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	m->n_items = n;
	m->Yt = MemoryContextAllocHuge(m->mcxt, sizeof(float) * Max(n, 1) * f);
	topk_transpose(Y, n, f, m->Yt);
	pfree(Y);
}

/*
 * Read what online updates need besides the items: the version's resolved
 * hyperparameters and its Gram matrix.
 */
static void
load_globals(RecoModel *m)
{
	bool		isnull;
	Datum		d;
	Size		bytes = sizeof(float) * m->factors * m->factors;

	reco_storage_globals(m->version_id, "gram");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	reco_parse_params(DatumGetJsonbP(d), NULL, &m->params);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
	{
		m->gram = MemoryContextAlloc(m->mcxt, bytes);
		memcpy(m->gram, reco_bytea_floats(d, (int64) m->factors * m->factors,
										  "the Gram matrix"), bytes);
	}
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
	load_items(&fresh, v.n_items);
	load_globals(&fresh);
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
	load_items(m, v.n_items);
	load_globals(m);
	return m;
}

/*
 * A model fitted in memory (reco_fit), readable by everything that takes a
 * RecoModel: the item side as a cached version has it, the users served
 * from the fit itself.  Lives in the current memory context.
 */
RecoModel *
reco_model_from_fit(const RecoFit *fit, const RecoTrainParams *params)
{
	RecoModel  *m = palloc0(sizeof(RecoModel));

	strlcpy(m->name, "(in memory)", sizeof(m->name));
	m->factors = fit->factors;
	m->n_items = (int32) fit->n_items;
	m->item_ids = fit->item_ids;
	m->popularity = fit->popularity;
	m->Yt = palloc_extended(sizeof(float) * Max(fit->n_items, 1) * fit->factors, MCXT_ALLOC_HUGE);
	topk_transpose(fit->Y, m->n_items, m->factors, m->Yt);
	m->gram = fit->gram;
	m->params = *params;
	m->fit = fit;
	m->mcxt = CurrentMemoryContext;
	return m;
}

/* The user's row of a model fitted in memory (see reco_model_user) */
static bool
fit_user(const RecoModel *m, int64 user_id, float *x, ArrayType **items)
{
	const RecoFit *fit = m->fit;
	int64		lo = 0;
	int64		hi = fit->n_users - 1;

	while (lo <= hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (fit->user_ids[mid] == user_id)
		{
			int64		start = fit->Rui.indptr[mid];
			int64		len = fit->Rui.indptr[mid + 1] - start;

			memcpy(x, fit->X + mid * fit->factors, sizeof(float) * fit->factors);
			if (items != NULL)
			{
				Datum	   *ids = palloc(sizeof(Datum) * Max(len, 1));

				for (int64 i = 0; i < len; i++)
					ids[i] = Int64GetDatum(fit->item_ids[fit->Rui.indices[start + i]]);
				*items = construct_array(ids, (int) len, INT8OID, 8, FLOAT8PASSBYVAL,
										 TYPALIGN_DOUBLE);
			}
			return true;
		}
		if (fit->user_ids[mid] < user_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/* Dense index of an item in the cached version, or -1 */
int32
reco_model_item_index(const RecoModel *m, int64 item_id)
{
	int32		lo = 0;
	int32		hi = m->n_items - 1;

	while (lo <= hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (m->item_ids[mid] == item_id)
			return mid;
		if (m->item_ids[mid] < item_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
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

/*
 * Fetch a user's factors into x and (if items is not NULL) a copy of the
 * items the user interacted with, in the caller's memory context (SPI would
 * otherwise leave it in the procedure's, for the rest of the call).  False
 * for a user the version has never seen, or whose events so far are all on
 * items that have no factors yet.
 */
bool
reco_model_user(RecoModel *m, int64 user_id, float *x, ArrayType **items)
{
	MemoryContext caller = CurrentMemoryContext;
	bool		isnull;
	bool		known = false;

	if (m->fit != NULL)
		return fit_user(m, user_id, x, items);

	(void) reco_storage_user(m->version_id, user_id);
	MemoryContextSwitchTo(caller);
	if (SPI_processed == 1)
	{
		memcpy(x, reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												  1, &isnull), m->factors, "user factors"),
			   sizeof(float) * m->factors);
		/* a user whose events are all on items without factors yet: unknown */
		for (int j = 0; j < m->factors && !known; j++)
			known = x[j] != 0.0f;
		if (known && items != NULL)
			*items = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return known;
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

/*
 * The item factors item-major (n_items x factors), built on first use: a
 * fold-in gathers whole item rows, which the factor-major matrix scatters
 * over factors cache lines each.  Only backends that fold users in pay for
 * the copy.  A cache of the entry, which stays logically unchanged.
 */
static const float *
item_rows(const RecoModel *m)
{
	if (m->Y_rows == NULL)
	{
		int			f = m->factors;
		int32		n = m->n_items;
		float	   *Y = MemoryContextAllocHuge(m->mcxt, sizeof(float) * Max(n, 1) * f);

		for (int j = 0; j < f; j++)
			for (int32 i = 0; i < n; i++)
				Y[(int64) i * f + j] = m->Yt[(int64) j * n + i];
		((RecoModel *) m)->Y_rows = Y;
	}
	return m->Y_rows;
}

/*
 * The rows a user's fold-in solves over: of the history (ids and weights,
 * least recent first), the latest "history" items, those the version
 * knows.  Their factors go to Yu (room for n x factors), their weights to w
 * and their ids to known_ids (may be NULL); returns how many.
 */
int
reco_model_history_rows(const RecoModel *m, const int64 *ids, const float *weights,
						int n, float *Yu, float *w, int64 *known_ids)
{
	const float *Y = item_rows(m);
	int			f = m->factors;
	int			known = 0;

	for (int i = Max(0, n - m->params.history); i < n; i++)
	{
		int32		idx = reco_model_item_index(m, ids[i]);

		if (idx < 0)
			continue;			/* a new item: reco_refresh gives it factors */
		memcpy(Yu + (int64) known * f, Y + (int64) idx * f, sizeof(float) * f);
		/* a customer's weight for an item counts up to max_weight */
		w[known] = m->params.explicit_ratings ? weights[i]
			: (float) Min(weights[i], m->params.max_weight);
		if (known_ids != NULL)
			known_ids[known] = ids[i];
		known++;
	}
	return known;
}

/* Score of one item for the user vector x (Yt is m->Yt or m->Yt_unit) */
float
reco_model_score(const RecoModel *m, const float *Yt, int32 idx, const float *x)
{
	float		s = 0.0f;

	for (int j = 0; j < m->factors; j++)
		s += x[j] * Yt[(int64) j * m->n_items + idx];
	return s;
}

/* Copy one item's factors out of a factor-major matrix */
void
reco_model_item(const RecoModel *m, const float *Yt, int32 idx, float *out)
{
	for (int j = 0; j < m->factors; j++)
		out[j] = Yt[(int64) j * m->n_items + idx];
}

/* Item factors scaled to unit length (cosine similarity), built once */
const float *
reco_model_unit_items(RecoModel *m)
{
	int			f = m->factors;
	int32		n = m->n_items;

	/* a rating model's two bias components say nothing about likeness */
	int			latent = m->params.explicit_ratings ? m->params.als.factors : f;

	if (m->Yt_unit == NULL)
	{
		float	   *u = MemoryContextAllocHuge(m->mcxt, sizeof(float) * Max(n, 1) * f);
		double	   *norm = palloc0(sizeof(double) * Max(n, 1));

		for (int j = 0; j < latent; j++)
			for (int32 i = 0; i < n; i++)
			{
				double		v = m->Yt[(int64) j * n + i];

				norm[i] += v * v;
			}
		for (int32 i = 0; i < n; i++)
			norm[i] = norm[i] > 0.0 ? 1.0 / sqrt(norm[i]) : 0.0;
		for (int j = 0; j < f; j++)
			for (int32 i = 0; i < n; i++)
				u[(int64) j * n + i] = j < latent ? (float) (m->Yt[(int64) j * n + i] * norm[i]) : 0.0f;
		pfree(norm);
		m->Yt_unit = u;
	}
	return m->Yt_unit;
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
