/*
 * storage.c - every statement on the model tables: the registry, versions,
 * weights as one bytea row per user and per item, dense globals and the
 * queue of online events
 *
 * One home, so that each statement says which snapshot it reads and as whom
 * it runs.  Every function runs inside the caller's SPI connection, as the
 * extension's owner (checked: applications hold no rights on these
 * tables), through parameterised statements only (but for the write path
 * of each event, which finds and writes its rows directly:
 * reco_storage_user_fold, reco_storage_pending_put).  Unless a function says
 * otherwise, a read runs under the active snapshot (the caller decides
 * which: the statement's, or one it pushed after taking a lock) and a write
 * under a fresh one, as SPI gives a read-write statement in READ COMMITTED.
 */
#include "reco.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "storage.h"

#define STORE_BATCH 4096

/* Storage runs as the extension's owner; anything else is a bug */
static void
as_owner(void)
{
	if (GetUserId() != reco_owner())
		elog(ERROR, "reco: model tables touched as role %u, not as the extension's owner",
			 GetUserId());
}

/* Run a statement as the owner under a fresh snapshot (reco_exec) */
static void
run(const char *sql, int nargs, Oid *types, Datum *values, int expect)
{
	as_owner();
	reco_exec(sql, nargs, types, values, expect);
}

/* Run a statement as the owner under the given snapshot */
static void
run_under(Snapshot snap, const char *sql, int nargs, Oid *types, Datum *values,
		  bool read_only, int expect)
{
	SPIPlanPtr	plan;

	as_owner();
	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL ||
		SPI_execute_snapshot(plan, values, NULL, snap, InvalidSnapshot, read_only, false, 0) != expect)
		elog(ERROR, "reco: \"%s\" failed", sql);
	SPI_freeplan(plan);
}

/* Run a read as the owner under the active snapshot */
static void
run_read(const char *sql, int nargs, Oid *types, Datum *values, int limit)
{
	as_owner();
	if (SPI_execute_with_args(sql, nargs, types, values, NULL, true, limit) != SPI_OK_SELECT)
		elog(ERROR, "reco: \"%s\" failed", sql);
}

/* Run a kept statement as the owner: read-only ones under the active snapshot */
static int
run_plan(RecoPlan *slot, Datum *values, const char *nulls, bool read_only, long limit)
{
	as_owner();
	return SPI_execute_plan(slot->plan, values, nulls, read_only, limit);
}

/*
 * Create the model's registry row if it is new (owned by role) and lock it,
 * so that two trainings of one model queue up instead of racing; an
 * existing model must be role's to train (reco_check_owner).  Returns the
 * stored hyperparameters.
 */
Jsonb *
reco_model_lock(const char *model, const char *algorithm, Oid role)
{
	Oid			types[3] = {TEXTOID, TEXTOID, OIDOID};
	Datum		values[3] = {CStringGetTextDatum(model), CStringGetTextDatum(algorithm),
	ObjectIdGetDatum(role)};
	char	   *sql;
	char	   *stored;
	bool		isnull;
	Datum		d;

	sql = psprintf("INSERT INTO %s (name, algorithm, owner) VALUES ($1, $2, $3::pg_catalog.regrole) "
				   "ON CONFLICT (name) DO NOTHING", reco_table("reco_model"));
	run(sql, 3, types, values, SPI_OK_INSERT);

	sql = psprintf("SELECT params, owner::pg_catalog.oid, algorithm FROM %s "
				   "WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				   reco_table("reco_model"));
	run(sql, 1, types, values, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "reco: model row vanished");
	reco_check_owner(model, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 2, &isnull)),
					 role);
	/* a model's versions are of one family: its params mean nothing to another */
	stored = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											   3, &isnull));
	if (strcmp(stored, algorithm) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is an \"%s\" model, not \"%s\"", model, stored,
						algorithm),
				 errhint("Train it as \"%s\", or drop it first with reco_drop_model.",
						 stored)));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetJsonbPCopy(d);
}

/*
 * Lock an existing model's registry row for a change by role, which must
 * own it or administer reco; an unknown model is 42704
 */
void
reco_model_lock_existing(const char *model, Oid role)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(model)};
	bool		isnull;

	run(psprintf("SELECT owner::pg_catalog.oid FROM %s WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				 reco_table("reco_model")),
		1, types, values, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", reco_name_msg(model)),
				 errhint("The models are listed in reco_models.")));
	reco_check_owner(model, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 1, &isnull)),
					 role);
}

/* A fresh version id (never reused, so caches can rely on it) */
int64
reco_version_id_next(void)
{
	char	   *sql = psprintf("SELECT pg_catalog.nextval('%s'::pg_catalog.regclass)",
							   reco_table("reco_version_seq"));
	bool		isnull;

	run(sql, 0, NULL, NULL, SPI_OK_SELECT);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/* Write the item side: ids, popularity and factors, in batches */
void
reco_store_items(int64 version_id, int32 n, const int64 *ids,
				 const float *popularity, const float *Y, int f)
{
	char	   *sql = psprintf("INSERT INTO %s (version_id, item_id, popularity, factors) "
							   "SELECT $1, t.id, t.pop, t.f "
							   "FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.int8[]), "
							   "pg_catalog.unnest($3::pg_catalog.float4[]), "
							   "pg_catalog.unnest($4::pg_catalog.bytea[])) AS t(id, pop, f)",
							   reco_table("reco_item_factors"));
	Oid			types[4] = {INT8OID, INT8ARRAYOID, FLOAT4ARRAYOID, BYTEAARRAYOID};
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext,
												"reco store items",
												ALLOCSET_DEFAULT_SIZES);

	for (int32 start = 0; start < n; start += STORE_BATCH)
	{
		int32		cnt = Min(STORE_BATCH, n - start);
		MemoryContext old = MemoryContextSwitchTo(batch);
		Datum	   *idd = palloc(sizeof(Datum) * cnt);
		Datum	   *popd = palloc(sizeof(Datum) * cnt);
		Datum	   *fd = palloc(sizeof(Datum) * cnt);
		Datum		values[4];

		CHECK_FOR_INTERRUPTS();
		for (int32 i = 0; i < cnt; i++)
		{
			idd[i] = Int64GetDatum(ids[start + i]);
			popd[i] = Float4GetDatum(popularity[start + i]);
			fd[i] = PointerGetDatum(reco_floats_bytea(Y + (int64) (start + i) * f, f));
		}
		values[0] = Int64GetDatum(version_id);
		values[1] = PointerGetDatum(construct_array(idd, cnt, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[2] = PointerGetDatum(construct_array(popd, cnt, FLOAT4OID, 4, true, TYPALIGN_INT));
		values[3] = PointerGetDatum(construct_array(fd, cnt, BYTEAOID, -1, false, TYPALIGN_INT));
		run(sql, 4, types, values, SPI_OK_INSERT);
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch);
	}
	MemoryContextDelete(batch);
}

/*
 * Write the user side: factors and each user's interactions (item ids and
 * summed weights), which serving excludes and online updates extend.  The
 * interactions of a batch travel as one flat array sliced per user.
 */
void
reco_store_users(int64 version_id, int32 n, const int64 *ids,
				 const float *X, int f, const RecoCsr *R, const int64 *item_ids,
				 const RecoUserItems *counted)
{
	char	   *sql = psprintf("INSERT INTO %s (version_id, user_id, factors, items, weights, counted) "
							   "SELECT $1, t.id, t.f, $5[t.s:t.e], $6[t.s:t.e], "
							   "CASE WHEN t.cs OPERATOR(pg_catalog.<=) t.ce THEN $8[t.cs:t.ce] END "
							   "FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.int8[]), "
							   "pg_catalog.unnest($3::pg_catalog.bytea[]), "
							   "pg_catalog.unnest($4::pg_catalog.int4[]), "
							   "pg_catalog.unnest($7::pg_catalog.int4[]), "
							   "pg_catalog.unnest($9::pg_catalog.int4[]), "
							   "pg_catalog.unnest($10::pg_catalog.int4[])) AS t(id, f, s, e, cs, ce)",
							   reco_table("reco_user_factors"));
	Oid			types[10] = {INT8OID, INT8ARRAYOID, BYTEAARRAYOID, INT4ARRAYOID,
		INT8ARRAYOID, FLOAT4ARRAYOID, INT4ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, INT4ARRAYOID};
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext,
												"reco store users",
												ALLOCSET_DEFAULT_SIZES);

	for (int32 start = 0; start < n; start += STORE_BATCH)
	{
		int32		cnt = Min(STORE_BATCH, n - start);
		MemoryContext old = MemoryContextSwitchTo(batch);
		int64		first = R->indptr[start];
		int64		total = R->indptr[start + cnt] - first;
		Datum	   *idd = palloc(sizeof(Datum) * cnt);
		Datum	   *fd = palloc(sizeof(Datum) * cnt);
		Datum	   *sd = palloc(sizeof(Datum) * cnt);
		Datum	   *ed = palloc(sizeof(Datum) * cnt);
		Datum	   *itd = palloc(sizeof(Datum) * Max(total, 1));
		Datum	   *wd = palloc(sizeof(Datum) * Max(total, 1));
		Datum	   *csd = palloc(sizeof(Datum) * cnt);
		Datum	   *ced = palloc(sizeof(Datum) * cnt);
		Datum	   *cid;
		int64		ncid = 0;
		int64		nbatch = 0;
		Datum		values[10];

		CHECK_FOR_INTERRUPTS();
		if (total > INT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many interactions in one batch of users")));
		/* the batch's counted items: each user's run of counted */
		for (int32 i = 0; counted != NULL && i < cnt; i++)
			for (int64 k = reco_lower_bound(counted->user, counted->n, sizeof(int64), ids[start + i]);
				 k < counted->n && counted->user[k] == ids[start + i]; k++)
				nbatch++;
		if (nbatch > INT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many interactions in one batch of users")));
		cid = palloc(sizeof(Datum) * Max(nbatch, 1));
		for (int32 i = 0; i < cnt; i++)
		{
			int32		u = start + i;

			idd[i] = Int64GetDatum(ids[u]);
			fd[i] = PointerGetDatum(reco_floats_bytea(X + (int64) u * f, f));
			/* 1-based slice bounds; an empty slice when s > e */
			sd[i] = Int32GetDatum((int32) (R->indptr[u] - first + 1));
			ed[i] = Int32GetDatum((int32) (R->indptr[u + 1] - first));
			/* their counted items, if any: an empty slice gives NULL */
			csd[i] = Int32GetDatum((int32) ncid + 1);
			for (int64 k = counted ? reco_lower_bound(counted->user, counted->n, sizeof(int64), ids[u]) : 0;
				 counted && k < counted->n && counted->user[k] == ids[u]; k++)
				cid[ncid++] = Int64GetDatum(counted->item[k]);
			ced[i] = Int32GetDatum((int32) ncid);
		}
		for (int64 j = 0; j < total; j++)
		{
			itd[j] = Int64GetDatum(item_ids[R->indices[first + j]]);
			wd[j] = Float4GetDatum(R->data[first + j]);
		}
		values[0] = Int64GetDatum(version_id);
		values[1] = PointerGetDatum(construct_array(idd, cnt, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[2] = PointerGetDatum(construct_array(fd, cnt, BYTEAOID, -1, false, TYPALIGN_INT));
		values[3] = PointerGetDatum(construct_array(sd, cnt, INT4OID, 4, true, TYPALIGN_INT));
		values[4] = PointerGetDatum(construct_array(itd, (int) total, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[5] = PointerGetDatum(construct_array(wd, (int) total, FLOAT4OID, 4, true, TYPALIGN_INT));
		values[6] = PointerGetDatum(construct_array(ed, cnt, INT4OID, 4, true, TYPALIGN_INT));
		values[7] = PointerGetDatum(construct_array(cid, (int) ncid, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[8] = PointerGetDatum(construct_array(csd, cnt, INT4OID, 4, true, TYPALIGN_INT));
		values[9] = PointerGetDatum(construct_array(ced, cnt, INT4OID, 4, true, TYPALIGN_INT));
		run(sql, 10, types, values, SPI_OK_INSERT);
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch);
	}
	MemoryContextDelete(batch);
}

static bytea *
bytes_bytea(const void *data, Size len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/* Write one dense global of a version */
void
reco_store_blob(int64 version_id, const char *name, const void *data, Size len)
{
	char	   *sql = psprintf("INSERT INTO %s (version_id, name, data) VALUES ($1, $2, $3)",
							   reco_table("reco_model_blob"));
	Oid			types[3] = {INT8OID, TEXTOID, BYTEAOID};
	Datum		values[3];

	values[0] = Int64GetDatum(version_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = PointerGetDatum(bytes_bytea(data, len));
	run(sql, 3, types, values, SPI_OK_INSERT);
}

/* Record a finished version; returns its number within the model */
int32
reco_store_version(int64 version_id, const char *model, const char *algorithm,
				   Jsonb *params, int f, int64 users, int64 items, int64 nnz,
				   Jsonb *metrics)
{
	char	   *sql = psprintf("INSERT INTO %s (version_id, model, version, algorithm, params, "
							   "factors, n_users, n_items, n_interactions, revision, metrics) "
							   "SELECT $1, $2, COALESCE(pg_catalog.max(version), 0) OPERATOR(pg_catalog.+) 1, "
							   "$3, $4, $5, $6, $7, $8, $1, $9 FROM %s WHERE model OPERATOR(pg_catalog.=) $2 "
							   "RETURNING version",
							   reco_table("reco_model_version"),
							   reco_table("reco_model_version"));
	Oid			types[9] = {INT8OID, TEXTOID, TEXTOID, JSONBOID, INT4OID,
	INT8OID, INT8OID, INT8OID, JSONBOID};
	Datum		values[9];
	bool		isnull;

	values[0] = Int64GetDatum(version_id);
	values[1] = CStringGetTextDatum(model);
	values[2] = CStringGetTextDatum(algorithm);
	values[3] = JsonbPGetDatum(params);
	values[4] = Int32GetDatum(f);
	values[5] = Int64GetDatum(users);
	values[6] = Int64GetDatum(items);
	values[7] = Int64GetDatum(nnz);
	values[8] = JsonbPGetDatum(metrics);
	run(sql, 9, types, values, SPI_OK_INSERT_RETURNING);
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Make a version the one served; params become the model's defaults and
 * source says what it was trained on (which events update it online).  A
 * version that cannot learn online (explicit ratings) turns online off.
 */
void
reco_model_set_active(const char *model, int64 version_id, Jsonb *params,
					  const char *source, bool can_learn_online)
{
	char	   *sql = psprintf("UPDATE %s SET active_version = $2, params = $3, source = $4, "
							   "online = online AND $5 "
							   "WHERE name OPERATOR(pg_catalog.=) $1",
							   reco_table("reco_model"));
	Oid			types[5] = {TEXTOID, INT8OID, JSONBOID, TEXTOID, BOOLOID};
	Datum		values[5];

	values[0] = CStringGetTextDatum(model);
	values[1] = Int64GetDatum(version_id);
	values[2] = JsonbPGetDatum(params);
	values[3] = CStringGetTextDatum(source);
	values[4] = BoolGetDatum(can_learn_online);
	run(sql, 5, types, values, SPI_OK_UPDATE);
}

/* Record a version's training metrics (known once it is active) */
void
reco_version_set_metrics(int64 version_id, Jsonb *metrics)
{
	char	   *sql = psprintf("UPDATE %s SET metrics = $2 WHERE version_id OPERATOR(pg_catalog.=) $1",
							   reco_table("reco_model_version"));
	Oid			types[2] = {INT8OID, JSONBOID};
	Datum		values[2] = {Int64GetDatum(version_id), JsonbPGetDatum(metrics)};

	run(sql, 2, types, values, SPI_OK_UPDATE);
}

/*
 * Drop the queued events of the model's versions other than version_id that
 * are visible to snap: the new version has them all.  Rows committed after
 * snap stay, for reco_refresh to replay into the version then served.
 */
void
reco_pending_drop_superseded(const char *model, int64 version_id, Snapshot snap)
{
	char	   *sql = psprintf("DELETE FROM %s p USING %s v "
							   "WHERE v.version_id OPERATOR(pg_catalog.=) p.version_id "
							   "AND v.model OPERATOR(pg_catalog.=) $1 "
							   "AND p.version_id OPERATOR(pg_catalog.<>) $2",
							   reco_table("reco_pending"), reco_table("reco_model_version"));
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int64GetDatum(version_id)};

	run_under(snap, sql, 2, types, values, false, SPI_OK_DELETE);
}

/* A version's registry columns from the first row of SPI_tuptable */
static void
version_info(RecoVersionInfo *out)
{
	HeapTuple	tup = SPI_tuptable->vals[0];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;

	memset(out, 0, sizeof(*out));
	out->version_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	if (isnull)
	{
		out->version_id = 0;
		return;
	}
	out->revision = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	out->factors = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	out->n_items = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	out->trained = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
	text_to_cstring_buffer(DatumGetTextPP(SPI_getbinval(tup, desc, 6, &isnull)),
						   out->algorithm, sizeof(out->algorithm));
}

/*
 * The registry: one model's served version, for the per-backend cache.
 * False when the model does not exist; *version_id 0 when it has no
 * trained version.
 */
bool
reco_storage_model(const char *name, RecoVersionInfo *out)
{
	static RecoPlan plan;
	Datum		values[1] = {CStringGetTextDatum(name)};

	if (!reco_plan_ready(&plan))
		reco_plan_keep(&plan, psprintf("SELECT m.active_version, v.revision, v.factors, v.n_items, v.trained, v.algorithm "
									   "FROM %s m LEFT JOIN %s v "
									   "ON v.version_id OPERATOR(pg_catalog.=) m.active_version "
									   "WHERE m.name OPERATOR(pg_catalog.=) $1",
									   reco_table("reco_model"), reco_table("reco_model_version")),
					   1, (Oid[]) {TEXTOID});
	if (run_plan(&plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reco: model lookup failed");
	if (SPI_processed == 0)
		return false;
	version_info(out);
	return true;
}

/*
 * One given version of a model.  False when the model does not exist;
 * *version_id 0 when it has no such version.
 */
bool
reco_storage_version(const char *name, int32 version, RecoVersionInfo *out)
{
	run(psprintf("SELECT v.version_id, v.revision, v.factors, v.n_items, v.trained, v.algorithm "
				 "FROM %s m LEFT JOIN %s v ON v.model OPERATOR(pg_catalog.=) m.name "
				 "AND v.version OPERATOR(pg_catalog.=) $2 "
				 "WHERE m.name OPERATOR(pg_catalog.=) $1",
				 reco_table("reco_model"), reco_table("reco_model_version")),
		2, (Oid[]) {TEXTOID, INT4OID},
		(Datum[]) {CStringGetTextDatum(name), Int32GetDatum(version)}, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	version_info(out);
	return true;
}

/*
 * A cursor over a version's items (item_id, popularity, factors) by id,
 * under the active snapshot.  Planned for a fast start, whatever the
 * session's cursor_tuple_fraction, so the rows come in the primary key's
 * order: a full-cost plan sorts them instead, and at 480,000 items that sort
 * spilled 130 MB to disk and took 1.0 s of a backend's first call, the index
 * scan 0.14 s.
 */
Portal
reco_storage_items_open(int64 version_id)
{
	int			nest = NewGUCNestLevel();
	Portal		portal;

	as_owner();
	(void) set_config_option("cursor_tuple_fraction", "0.1", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT item_id, popularity, factors FROM %s "
												"WHERE version_id OPERATOR(pg_catalog.=) $1 ORDER BY item_id",
												reco_table("reco_item_factors")),
									   1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(version_id)},
									   NULL, true, CURSOR_OPT_FAST_PLAN);
	AtEOXact_GUC(true, nest);	/* planned: the session's setting is back */
	return portal;
}

/*
 * A stored history's length, checked: ids int8 and weights float4 of the
 * same length, without NULLs (anything else is corrupt model data).  The
 * error names the model when the caller knows it, else the version's id.
 */
int
reco_storage_history_length(ArrayType *ia, ArrayType *wa, const char *model,
							int64 version_id, int64 user_id)
{
	int			n = ArrayGetNItems(ARR_NDIM(ia), ARR_DIMS(ia));

	if (ARR_ELEMTYPE(ia) != INT8OID || ARR_HASNULL(ia) || ARR_ELEMTYPE(wa) != FLOAT4OID ||
		ARR_HASNULL(wa) || ArrayGetNItems(ARR_NDIM(wa), ARR_DIMS(wa)) != n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 model ? errmsg("history of user %lld in model \"%s\" is malformed",
								(long long) user_id, model)
				 : errmsg("history of user %lld in version %lld is malformed",
						  (long long) user_id, (long long) version_id),
				 errdetail("Items and weights must be arrays of the same length without NULLs."),
				 errhint("Retrain the model.")));
	return n;
}

/*
 * Every user row of a version, under the active snapshot: visit(arg,
 * factors, ids, w, n) for each, its factors detoasted and its history as
 * plain arrays, least recent first; each row's copies are freed after it
 * (visit must not run SPI)
 */
void
reco_storage_each_user(int64 version_id, RecoUserVisit visit, void *arg)
{
	Portal		portal;
	int			fetch = RECO_FETCH_FIRST;

	as_owner();
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT factors, items, weights, user_id FROM %s "
												"WHERE version_id OPERATOR(pg_catalog.=) $1",
												reco_table("reco_user_factors")),
									   1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(version_id)},
									   NULL, true, 0);
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
			Datum		fd = SPI_getbinval(tup, desc, 1, &isnull);
			Datum		id = SPI_getbinval(tup, desc, 2, &isnull);
			Datum		wd = SPI_getbinval(tup, desc, 3, &isnull);
			bytea	   *factors = DatumGetByteaPP(fd);
			ArrayType  *ia = DatumGetArrayTypeP(id);
			ArrayType  *wa = DatumGetArrayTypeP(wd);
			int			n = reco_storage_history_length(ia, wa, NULL, version_id,
										   DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull)));

			visit(arg, PointerGetDatum(factors), (const int64 *) ARR_DATA_PTR(ia),
				  (const float *) ARR_DATA_PTR(wa), n);
			/* a row's detoasted copies go now, not at the end of the pass */
			if ((Pointer) factors != DatumGetPointer(fd))
				pfree(factors);
			if ((Pointer) ia != DatumGetPointer(id))
				pfree(ia);
			if ((Pointer) wa != DatumGetPointer(wd))
				pfree(wa);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/*
 * A version's resolved hyperparameters and one of its dense globals (NULL
 * datum when it has none, or blob is NULL), in SPI_tuptable: (params, data)
 */
void
reco_storage_globals(int64 version_id, const char *blob)
{
	run_read(psprintf("SELECT v.params, b.data FROM %s v LEFT JOIN %s b "
					  "ON b.version_id OPERATOR(pg_catalog.=) v.version_id "
					  "AND b.name OPERATOR(pg_catalog.=) $2 "
					  "WHERE v.version_id OPERATOR(pg_catalog.=) $1",
					  reco_table("reco_model_version"), reco_table("reco_model_blob")),
			 2, (Oid[]) {INT8OID, TEXTOID},
			 (Datum[]) {Int64GetDatum(version_id), CStringGetTextDatum(blob ? blob : "")}, 1);
	if (SPI_processed != 1)
		elog(ERROR, "reco: version %lld vanished", (long long) version_id);
}

/*
 * One dense global of a version (the "mean" rating, say): false when it
 * has none, else its datum in SPI_tuptable's first row
 */
bool
reco_storage_blob(int64 version_id, const char *name)
{
	run_read(psprintf("SELECT data FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
					  "AND name OPERATOR(pg_catalog.=) $2", reco_table("reco_model_blob")),
			 2, (Oid[]) {INT8OID, TEXTOID},
			 (Datum[]) {Int64GetDatum(version_id), CStringGetTextDatum(name)}, 1);
	return SPI_processed == 1;
}

/* Replace one dense global of a version */
void
reco_storage_blob_update(int64 version_id, const char *name, const void *data, Size len)
{
	run(psprintf("UPDATE %s SET data = $3 WHERE version_id OPERATOR(pg_catalog.=) $1 "
				 "AND name OPERATOR(pg_catalog.=) $2", reco_table("reco_model_blob")),
		3, (Oid[]) {INT8OID, TEXTOID, BYTEAOID},
		(Datum[]) {Int64GetDatum(version_id), CStringGetTextDatum(name),
		PointerGetDatum(bytes_bytea(data, len))}, SPI_OK_UPDATE);
}

/* Delete one global of a version */
void
reco_storage_blob_delete(int64 version_id, const char *name)
{
	run(psprintf("DELETE FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
				 "AND name OPERATOR(pg_catalog.=) $2", reco_table("reco_model_blob")),
		2, (Oid[]) {INT8OID, TEXTOID},
		(Datum[]) {Int64GetDatum(version_id), CStringGetTextDatum(name)}, SPI_OK_DELETE);
}

/*
 * A user's row of a version under the active snapshot: false if none, else
 * (factors, items, weights) in SPI_tuptable's first row
 */
bool
reco_storage_user(int64 version_id, int64 user_id)
{
	static RecoPlan plan;
	Datum		values[2] = {Int64GetDatum(version_id), Int64GetDatum(user_id)};

	if (!reco_plan_ready(&plan))
		reco_plan_keep(&plan, psprintf("SELECT factors, items, weights FROM %s "
									   "WHERE version_id OPERATOR(pg_catalog.=) $1 "
									   "AND user_id OPERATOR(pg_catalog.=) $2",
									   reco_table("reco_user_factors")),
					   2, (Oid[]) {INT8OID, INT8OID});
	if (run_plan(&plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reco: user lookup failed");
	return SPI_processed == 1;
}

/*
 * A user's row of a version under the active snapshot, copied into the
 * caller's context: row_floats floats into row (when not NULL) and the
 * history, least recent first, into *ids and *w (*n of them); false if the
 * version has no row for them
 */
bool
reco_storage_user_history(int64 version_id, int64 user_id, float *row, int row_floats,
						  int64 **ids, float **w, int *n)
{
	MemoryContext caller = CurrentMemoryContext;
	TupleDesc	desc;
	HeapTuple	tup;
	ArrayType  *ia;
	ArrayType  *wa;
	bool		isnull;

	if (!reco_storage_user(version_id, user_id))
	{
		MemoryContextSwitchTo(caller);
		SPI_freetuptable(SPI_tuptable);
		return false;
	}
	MemoryContextSwitchTo(caller);
	desc = SPI_tuptable->tupdesc;
	tup = SPI_tuptable->vals[0];
	ia = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 2, &isnull));
	wa = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3, &isnull));
	*n = reco_storage_history_length(ia, wa, NULL, version_id, user_id);
	if (row != NULL)
		memcpy(row, reco_bytea_floats(SPI_getbinval(tup, desc, 1, &isnull), row_floats,
									  "user factors"), sizeof(float) * row_floats);
	*ids = palloc(sizeof(int64) * Max(*n, 1));
	*w = palloc(sizeof(float) * Max(*n, 1));
	memcpy(*ids, ARR_DATA_PTR(ia), sizeof(int64) * *n);
	memcpy(*w, ARR_DATA_PTR(wa), sizeof(float) * *n);
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/* An item's attribute prior in a version (SPI_tuptable's first row), or false */
bool
reco_storage_item_prior(int64 version_id, int64 item_id)
{
	static RecoPlan plan;
	Datum		values[2] = {Int64GetDatum(version_id), Int64GetDatum(item_id)};

	if (!reco_plan_ready(&plan))
		reco_plan_keep(&plan, psprintf("SELECT prior FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
									   "AND item_id OPERATOR(pg_catalog.=) $2 AND prior IS NOT NULL",
									   reco_table("reco_item_factors")),
					   2, (Oid[]) {INT8OID, INT8OID});
	if (run_plan(&plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reco: reading the prior of item %lld failed", (long long) item_id);
	return SPI_processed == 1;
}

/* Write an item's factors and popularity (new or re-solved) */
void
reco_storage_item_put(int64 version_id, int64 item_id, float popularity,
					  const float *y, int f)
{
	run(psprintf("INSERT INTO %s (version_id, item_id, popularity, factors) "
				 "VALUES ($1, $2, $3, $4) ON CONFLICT (version_id, item_id) "
				 "DO UPDATE SET popularity = EXCLUDED.popularity, factors = EXCLUDED.factors",
				 reco_table("reco_item_factors")),
		4, (Oid[]) {INT8OID, INT8OID, FLOAT4OID, BYTEAOID},
		(Datum[]) {Int64GetDatum(version_id), Int64GetDatum(item_id), Float4GetDatum(popularity),
		PointerGetDatum(reco_floats_bytea(y, f))}, SPI_OK_INSERT);
}

/* Add a catalogue item nobody touched yet: its attribute vector, also as prior */
void
reco_storage_item_cold(int64 version_id, int64 item_id, const float *y, int f)
{
	run(psprintf("INSERT INTO %s (version_id, item_id, popularity, factors, prior) "
				 "VALUES ($1, $2, 0, $3, $3)", reco_table("reco_item_factors")),
		3, (Oid[]) {INT8OID, INT8OID, BYTEAOID},
		(Datum[]) {Int64GetDatum(version_id), Int64GetDatum(item_id),
		PointerGetDatum(reco_floats_bytea(y, f))}, SPI_OK_INSERT);
}

/* Remove an item from a version */
void
reco_storage_item_delete(int64 version_id, int64 item_id)
{
	run(psprintf("DELETE FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
				 "AND item_id OPERATOR(pg_catalog.=) $2", reco_table("reco_item_factors")),
		2, (Oid[]) {INT8OID, INT8OID},
		(Datum[]) {Int64GetDatum(version_id), Int64GetDatum(item_id)}, SPI_OK_DELETE);
}

/*
 * Item rows have no foreign key: a version deleted by hand while they are
 * written (reco's own drops lock the model first) must fail the writer, or
 * the rows would outlive it
 */
static void
version_gone(int64 version_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the version being written was deleted meanwhile"),
			 errdetail("Version id %lld; nothing of this change is kept.",
					   (long long) version_id)));
}

/*
 * Lock a version's row before writing its items (a refresh): a delete then
 * waits for the commit and its trigger takes the rows written, and a
 * delete already made fails the writer here, before anything is written.
 */
void
reco_storage_version_lock(int64 version_id)
{
	run(psprintf("SELECT FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE",
				 reco_table("reco_model_version")),
		1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(version_id)}, SPI_OK_SELECT);
	if (SPI_processed != 1)
		version_gone(version_id);
}

/*
 * Publish a version's changed item side: a new revision every cache sees.
 * Every path that writes item rows ends here, so a version deleted by hand
 * meanwhile is caught here at the latest.
 */
void
reco_storage_publish(int64 version_id, int64 n_items)
{
	run(psprintf("UPDATE %s SET revision = pg_catalog.nextval('%s'::pg_catalog.regclass), "
				 "n_items = $2 WHERE version_id OPERATOR(pg_catalog.=) $1",
				 reco_table("reco_model_version"), reco_table("reco_version_seq")),
		2, (Oid[]) {INT8OID, INT8OID},
		(Datum[]) {Int64GetDatum(version_id), Int64GetDatum(n_items)}, SPI_OK_UPDATE);
	if (SPI_processed != 1)
		version_gone(version_id);
}

/*
 * Take a version's queue under snap (rows committed later stay for the
 * next refresh): the touched items in id order into *items (*n of them, in
 * the caller's context); returns how many events there were
 */
int64
reco_storage_pending_take(int64 version_id, Snapshot snap, int64 **items, int64 *n)
{
	MemoryContext caller = CurrentMemoryContext;
	int64		events = 0;
	bool		isnull;

	run_under(snap, psprintf("WITH d AS (DELETE FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
							 "AND NOT replay RETURNING item_id) "
							 "SELECT item_id, pg_catalog.count(*) FROM d GROUP BY item_id ORDER BY item_id",
							 reco_table("reco_pending")),
			  1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(version_id)}, false, SPI_OK_SELECT);
	MemoryContextSwitchTo(caller);
	*n = (int64) SPI_processed;
	*items = palloc(sizeof(int64) * Max(*n, 1));
	for (int64 i = 0; i < *n; i++)
	{
		(*items)[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		events += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return events;
}

/*
 * Take a version's queue under snap as (user_id, item_id) pairs, by item
 * then user, in SPI_tuptable
 */
void
reco_storage_pending_pairs(int64 version_id, Snapshot snap)
{
	run_under(snap, psprintf("WITH d AS (DELETE FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
							 "AND NOT replay RETURNING user_id, item_id) "
							 "SELECT user_id, item_id FROM d ORDER BY item_id, user_id",
							 reco_table("reco_pending")),
			  1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(version_id)}, false, SPI_OK_SELECT);
}

/*
 * The rows (user_id, factors) of a version's users: those of ids (sorted),
 * and up to extra others (the first the index gives), under snap
 */
void
reco_storage_user_rows(int64 version_id, const int64 *ids, int n, int extra, Snapshot snap)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(ids[i]);
	run_under(snap, psprintf("(SELECT user_id, factors FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
							 "AND user_id OPERATOR(pg_catalog.=) ANY ($2)) UNION "
							 "(SELECT user_id, factors FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
							 "ORDER BY user_id LIMIT $3) ORDER BY user_id",
							 reco_table("reco_user_factors"), reco_table("reco_user_factors")),
			  3, (Oid[]) {INT8OID, INT8ARRAYOID, INT4OID},
			  (Datum[]) {Int64GetDatum(version_id),
		PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)),
	Int32GetDatum(extra)}, true, SPI_OK_SELECT);
}

/*
 * Take the queues of the model's versions other than version_id, and what
 * dropped versions moved to version_id for replay, under snap, oldest
 * first, in SPI_tuptable (user_id, item_id, weight, kind, value)
 */
void
reco_storage_pending_take_superseded(const char *model, int64 version_id, Snapshot snap)
{
	run_under(snap, psprintf("WITH d AS (DELETE FROM %s p USING %s v "
							 "WHERE v.version_id OPERATOR(pg_catalog.=) p.version_id "
							 "AND v.model OPERATOR(pg_catalog.=) $1 "
							 "AND (p.version_id OPERATOR(pg_catalog.<>) $2 OR p.replay) "
							 "RETURNING p.user_id, p.item_id, p.weight, p.kind, p.value, p.created) "
							 "SELECT user_id, item_id, weight, kind, value FROM d "
							 "ORDER BY created, user_id, item_id",
							 reco_table("reco_pending"), reco_table("reco_model_version")),
			  2, (Oid[]) {TEXTOID, INT8OID},
			  (Datum[]) {CStringGetTextDatum(model), Int64GetDatum(version_id)}, false, SPI_OK_SELECT);
}

/* Serve another version of a model; false if it has no such version */
bool
reco_storage_activate(const char *model, int32 version)
{
	run(psprintf("UPDATE %s m SET active_version = v.version_id FROM %s v "
				 "WHERE m.name OPERATOR(pg_catalog.=) $1 AND v.model OPERATOR(pg_catalog.=) $1 "
				 "AND v.version OPERATOR(pg_catalog.=) $2",
				 reco_table("reco_model"), reco_table("reco_model_version")),
		2, (Oid[]) {TEXTOID, INT4OID},
		(Datum[]) {CStringGetTextDatum(model), Int32GetDatum(version)}, SPI_OK_UPDATE);
	return SPI_processed > 0;
}

/* Is a version of the model served?  -1 when it has no such version */
int
reco_storage_version_served(const char *model, int32 version)
{
	bool		isnull;

	run(psprintf("SELECT v.version_id OPERATOR(pg_catalog.=) m.active_version "
				 "FROM %s v JOIN %s m ON m.name OPERATOR(pg_catalog.=) v.model "
				 "WHERE v.model OPERATOR(pg_catalog.=) $1 AND v.version OPERATOR(pg_catalog.=) $2",
				 reco_table("reco_model_version"), reco_table("reco_model")),
		2, (Oid[]) {TEXTOID, INT4OID},
		(Datum[]) {CStringGetTextDatum(model), Int32GetDatum(version)}, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return -1;
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Delete a model's versions, one or all of them (version 0), or the model
 * too; their weights go with them (foreign keys with ON DELETE CASCADE, and
 * for reco_pending the reco_model_version_deleted trigger)
 */
void
reco_storage_drop(const char *model, int32 version, bool whole_model)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(version)};

	run(psprintf("DELETE FROM %s v WHERE v.model OPERATOR(pg_catalog.=) $1 "
				 "AND ($2 OPERATOR(pg_catalog.=) 0 OR v.version OPERATOR(pg_catalog.=) $2)",
				 reco_table("reco_model_version")),
		2, types, values, SPI_OK_DELETE);
	if (whole_model)
		run(psprintf("DELETE FROM %s WHERE name OPERATOR(pg_catalog.=) $1",
					 reco_table("reco_model")),
			1, types, values, SPI_OK_DELETE);
}

/*
 * Wait for every transaction now writing to one of the extension's tables
 * (an insert of events in flight, say), without taking any lock: callers
 * do this before they lock registry rows, so that such a transaction that
 * goes on to train or refresh never waits on them while they wait on it
 */
void
reco_storage_wait_writers(const char *table)
{
	LOCKTAG		tag;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, reco_table_oid(table));
	WaitForLockers(tag, ShareLock, false);
}

/* Lock every model's registry row, in name order so two callers never deadlock */
void
reco_storage_lock_all_models(void)
{
	run(psprintf("SELECT name FROM %s ORDER BY name FOR UPDATE", reco_table("reco_model")),
		0, NULL, NULL, SPI_OK_SELECT);
}

/* Every version of every model, in SPI_tuptable (version_id, model, version) */
void
reco_storage_all_versions(void)
{
	run(psprintf("SELECT version_id, model, version FROM %s ORDER BY model, version",
				 reco_table("reco_model_version")),
		0, NULL, NULL, SPI_OK_SELECT);
}

/*
 * Delete what is left of a customer once every version is done: their
 * queued events (of any version) and rows of versions dropped while an
 * insert of theirs was in flight, their profile, then their events;
 * returns how many events
 */
int64
reco_storage_forget_events(int64 user_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(user_id)};

	run(psprintf("DELETE FROM %s WHERE user_id OPERATOR(pg_catalog.=) $1", reco_table("reco_pending")),
		1, types, values, SPI_OK_DELETE);
	run(psprintf("DELETE FROM %s WHERE user_id OPERATOR(pg_catalog.=) $1",
				 reco_table("reco_user_factors")),
		1, types, values, SPI_OK_DELETE);
	run(psprintf("DELETE FROM %s WHERE user_id OPERATOR(pg_catalog.=) $1", reco_table("reco_user")),
		1, types, values, SPI_OK_DELETE);
	run(psprintf("DELETE FROM %s WHERE user_id OPERATOR(pg_catalog.=) $1", reco_table("reco_event")),
		1, types, values, SPI_OK_DELETE);
	return (int64) SPI_processed;
}

/*
 * Delete a customer's queued events and row in a version, and lower the
 * version's counts; returns the items their history held (palloc'd, *n of
 * them), or NULL if they had no row
 */
int64 *
reco_storage_forget_user(int64 version_id, int64 user_id, int *n, int64 **counted, int *ncounted)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(version_id), Int64GetDatum(user_id)};
	bool		isnull;
	Datum	   *ids;
	bool	   *nulls;
	int64	   *items;

	/* the row first: an insert of theirs holding it is waited for */
	run(psprintf("DELETE FROM %s WHERE version_id OPERATOR(pg_catalog.=) $1 "
				 "AND user_id OPERATOR(pg_catalog.=) $2 RETURNING items, counted",
				 reco_table("reco_user_factors")),
		2, types, values, SPI_OK_DELETE_RETURNING);
	if (SPI_processed == 0)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull)),
					  INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ids, &nulls, n);
	items = palloc(sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		items[i] = DatumGetInt64(ids[i]);
	*counted = NULL;
	*ncounted = 0;
	{
		Datum		cd = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		if (!isnull)
		{
			ArrayType  *ca = DatumGetArrayTypeP(cd);

			if (ARR_ELEMTYPE(ca) != INT8OID || ARR_HASNULL(ca))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("buying-again counts of user %lld in version %lld are malformed",
								(long long) user_id, (long long) version_id)));
			deconstruct_array(ca, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ids, &nulls,
							  ncounted);
			*counted = palloc(sizeof(int64) * Max(*ncounted, 1));
			for (int i = 0; i < *ncounted; i++)
				(*counted)[i] = DatumGetInt64(ids[i]);
		}
	}

	values[1] = Int64GetDatum(*n);
	run(psprintf("UPDATE %s SET n_users = n_users OPERATOR(pg_catalog.-) 1, "
				 "n_interactions = n_interactions OPERATOR(pg_catalog.-) $2 "
				 "WHERE version_id OPERATOR(pg_catalog.=) $1",
				 reco_table("reco_model_version")),
		2, types, values, SPI_OK_UPDATE);
	return items;
}

/*
 * How a model takes events: whether it learns online, whether it was
 * trained on reco_event, and its owner; false when it does not exist
 */
bool
reco_storage_model_feed(const char *model, bool *online, bool *from_events, Oid *owner)
{
	static RecoPlan plan;
	Datum		values[1] = {CStringGetTextDatum(model)};
	bool		isnull;

	if (!reco_plan_ready(&plan))
		reco_plan_keep(&plan, psprintf("SELECT online, source OPERATOR(pg_catalog.=) 'reco_event', "
									   "owner::pg_catalog.oid FROM %s WHERE name OPERATOR(pg_catalog.=) $1",
									   reco_table("reco_model")),
					   1, (Oid[]) {TEXTOID});
	if (run_plan(&plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reco: model lookup failed");
	if (SPI_processed == 0)
		return false;
	*online = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*from_events = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	*owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	return true;
}

/* The online models trained on reco_event, by name, in SPI_tuptable (name) */
void
reco_storage_online_models(void)
{
	static RecoPlan plan;

	if (!reco_plan_ready(&plan))
		reco_plan_keep(&plan, psprintf("SELECT name FROM %s WHERE online "
									   "AND source OPERATOR(pg_catalog.=) 'reco_event' "
									   "AND active_version IS NOT NULL ORDER BY name",
									   reco_table("reco_model")), 0, NULL);
	if (run_plan(&plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reco: listing online models failed");
}

/* An empty row for a new user (a concurrent first event may beat it) */
void
reco_storage_user_create(int64 version_id, int64 user_id, const float *row, int f)
{
	static RecoPlan plan;
	Datum		values[3] = {Int64GetDatum(version_id), Int64GetDatum(user_id),
	PointerGetDatum(reco_floats_bytea(row, f))};

	if (!reco_plan_ready(&plan))
		reco_plan_keep(&plan, psprintf("INSERT INTO %s (version_id, user_id, factors, items, weights) "
									   "VALUES ($1, $2, $3, '{}', '{}') ON CONFLICT DO NOTHING",
									   reco_table("reco_user_factors")),
					   3, (Oid[]) {INT8OID, INT8OID, BYTEAOID});
	if (run_plan(&plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "reco: creating a user failed");
}

/*
 * Update a user's row of a version by SQL: reco_online_fold (online.c)
 * computes the new row from the one the UPDATE locks.  False when the user
 * has no row.
 */
static bool
user_update_sql(int64 version_id, int64 user_id)
{
	static RecoPlan plan;
	Datum		values[2] = {Int64GetDatum(version_id), Int64GetDatum(user_id)};

	if (!reco_plan_ready(&plan))
		reco_plan_keep(&plan, psprintf("UPDATE %s u SET (factors, items, weights) = "
									   "(SELECT f.new_factors, f.new_items, f.new_weights "
									   "FROM %s(u.factors, u.items, u.weights) f) "
									   "WHERE u.version_id OPERATOR(pg_catalog.=) $1 "
									   "AND u.user_id OPERATOR(pg_catalog.=) $2",
									   reco_table("reco_user_factors"),
									   reco_table("reco_online_fold")),
					   2, (Oid[]) {INT8OID, INT8OID});
	if (run_plan(&plan, values, NULL, false, 0) != SPI_OK_UPDATE || SPI_processed > 1)
		elog(ERROR, "reco: writing a user failed");
	return SPI_processed == 1;
}

/* The columns of reco_user_factors that reco_storage_user_fold reads or writes */
enum
{
	USER_VERSION, USER_ID, USER_FACTORS, USER_ITEMS, USER_WEIGHTS, USER_COLUMNS
};
static const char *const user_columns[USER_COLUMNS] = {
	"version_id", "user_id", "factors", "items", "weights"
};

/*
 * Is reco_user_factors as the extension made it: a plain table keyed by
 * (version_id, user_id), with no trigger, rule, check, generated column or
 * forced row security that an UPDATE would have to run?  Then its rows can
 * be updated directly.  att[] gets the columns' attribute indexes.
 */
static bool
user_table_is_plain(Relation rel, Relation pk, int *att)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhasrules ||
		rel->trigdesc != NULL || rel->rd_rel->relforcerowsecurity ||
		(desc->constr != NULL && (desc->constr->num_check > 0 || desc->constr->has_generated_stored)))
		return false;
	for (int c = 0; c < USER_COLUMNS; c++)
	{
		att[c] = -1;
		for (int i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, i)->attname), user_columns[c]) == 0)
				att[c] = i;
		if (att[c] < 0)
			return false;
	}
	return pk->rd_index->indnkeyatts == 2 &&
		pk->rd_index->indkey.values[0] == att[USER_VERSION] + 1 &&
		pk->rd_index->indkey.values[1] == att[USER_ID] + 1 &&
		TupleDescAttr(desc, att[USER_VERSION])->atttypid == INT8OID &&
		TupleDescAttr(desc, att[USER_ID])->atttypid == INT8OID;
}

/*
 * Index entries for a new row version that is not heap-only.  The result
 * relation is in no range table (index 0), so no column counts as updated:
 * the indexes are told their keys did not change, as they did not.
 */
static void
user_row_index(Relation rel, TupleTableSlot *slot)
{
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);

	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	(void) ExecInsertIndexTuples(rri, slot, estate, true, false, NULL, NIL);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
}

/*
 * Write the new version of the row in old (found under snap), computed by
 * fold; what an UPDATE in READ COMMITTED does when another transaction
 * updates the row first: wait for it, lock the latest version and compute
 * again from that (under REPEATABLE READ and SERIALIZABLE, a serialization
 * failure).  False when the row is gone.
 */
static bool
user_row_write(Relation rel, TupleTableSlot *old, Snapshot snap, const int *att,
			   int64 version_id, int64 user_id, RecoFoldRow fold)
{
	TupleTableSlot *new = table_slot_create(rel, NULL);
	int			natts = RelationGetDescr(rel)->natts;
	bool		written = false;

	for (;;)
	{
		ItemPointerData tid = old->tts_tid;
		CommandId	cid = GetCurrentCommandId(true);
		TM_FailureData tmfd;
		LockTupleMode lockmode;
		bool		update_indexes;
		Datum		row[3];
		TM_Result	res;

		slot_getallattrs(old);
		ExecClearTuple(new);
		memcpy(new->tts_values, old->tts_values, sizeof(Datum) * natts);
		memcpy(new->tts_isnull, old->tts_isnull, sizeof(bool) * natts);
		if (old->tts_isnull[att[USER_FACTORS]] || old->tts_isnull[att[USER_ITEMS]] ||
			old->tts_isnull[att[USER_WEIGHTS]])
			elog(ERROR, "reco: user %lld has a NULL in their row", (long long) user_id);
		fold(old->tts_values[att[USER_FACTORS]], old->tts_values[att[USER_ITEMS]],
			 old->tts_values[att[USER_WEIGHTS]], row);
		new->tts_values[att[USER_FACTORS]] = row[0];
		new->tts_values[att[USER_ITEMS]] = row[1];
		new->tts_values[att[USER_WEIGHTS]] = row[2];
		ExecStoreVirtualTuple(new);

		res = table_tuple_update(rel, &tid, new, cid, snap, InvalidSnapshot, true,
								 &tmfd, &lockmode, &update_indexes);
		if (res == TM_Ok)
		{
			if (update_indexes)
				user_row_index(rel, new);
			written = true;
			break;
		}
		if (res == TM_SelfModified)
			break;				/* by this command already: as an UPDATE, nothing */
		if (res != TM_Updated && res != TM_Deleted)
			elog(ERROR, "reco: unexpected result %d updating user %lld", (int) res,
				 (long long) user_id);
		if (IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent %s",
							res == TM_Updated ? "update" : "delete")));
		if (res == TM_Deleted)
			break;

		/* the row's latest version, locked: compute again from it */
		res = table_tuple_lock(rel, &tid, snap, old, cid, lockmode, LockWaitBlock,
							   TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
		if (res == TM_Deleted || res == TM_SelfModified)
			break;
		if (res != TM_Ok)
			elog(ERROR, "reco: unexpected result %d locking user %lld", (int) res,
				 (long long) user_id);
		slot_getallattrs(old);
		if (DatumGetInt64(old->tts_values[att[USER_VERSION]]) != version_id ||
			DatumGetInt64(old->tts_values[att[USER_ID]]) != user_id)
			break;				/* no longer the row asked for */
	}
	ExecDropSingleTupleTableSlot(new);
	return written;
}

/*
 * Update a user's row of a version with what fold computes from it; false
 * when the user has no row.  An UPDATE statement per event cost more than
 * the event's fold-in, so the row is found through the primary key, and
 * updated (heap-only where it fits) with its row lock and WAL, as an UPDATE
 * of it would be, under a fresh snapshot as SPI takes for a statement.
 * Should reco_user_factors have gained a trigger, a rule or a check, an
 * UPDATE runs them: reco_online_fold computes the row there.
 */
bool
reco_storage_user_fold(int64 version_id, int64 user_id, RecoFoldRow fold)
{
	Relation	rel;
	Relation	pk;
	Oid			pkoid;
	int			att[USER_COLUMNS];
	ScanKeyData key[2];
	IndexScanDesc scan;
	TupleTableSlot *old;
	bool		written = false;

	as_owner();
	/* what the executor checks before an UPDATE */
	PreventCommandIfReadOnly("UPDATE");
	PreventCommandIfParallelMode("UPDATE");
	rel = table_open(reco_table_oid("reco_user_factors"), RowExclusiveLock);
	pkoid = RelationGetPrimaryKeyIndex(rel);
	pk = OidIsValid(pkoid) ? index_open(pkoid, RowExclusiveLock) : NULL;
	if (pk == NULL || !user_table_is_plain(rel, pk, att))
	{
		if (pk != NULL)
			index_close(pk, NoLock);
		table_close(rel, NoLock);
		return user_update_sql(version_id, user_id);
	}
	if (pg_class_aclmask(RelationGetRelid(rel), GetUserId(), ACL_SELECT | ACL_UPDATE,
						 ACLMASK_ALL) != (ACL_SELECT | ACL_UPDATE))
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
	/*
	 * what CheckValidResultRel checks of a table: an update that a
	 * publication of it could not replicate (no replica identity, or a row
	 * filter or column list outside it) is refused
	 */
	CheckCmdReplicaIdentity(rel, CMD_UPDATE);

	/* as SPI runs a statement that writes */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();

	old = table_slot_create(rel, NULL);
	ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(version_id));
	ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(user_id));
	scan = index_beginscan(rel, pk, GetActiveSnapshot(), 2, 0);
	index_rescan(scan, key, 2, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, old))
		written = user_row_write(rel, old, GetActiveSnapshot(), att, version_id, user_id, fold);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(old);
	PopActiveSnapshot();
	index_close(pk, NoLock);
	table_close(rel, NoLock);	/* locks are held to the end of the transaction */
	return written;
}

/* The columns of reco_pending, in the order pending_row fills them */
static const struct
{
	const char *name;
	Oid			type;
}			pending_columns[] = {
	{"version_id", INT8OID}, {"user_id", INT8OID}, {"item_id", INT8OID},
	{"weight", FLOAT4OID}, {"created", TIMESTAMPTZOID}, {"kind", INT2OID},
	{"value", FLOAT4OID}, {"replay", BOOLOID}
};

#define PENDING_COLUMNS lengthof(pending_columns)

/*
 * Is reco_pending as the extension made it: a plain heap table with the
 * columns of pending_columns alone, and no index, trigger, rule, check or
 * forced row security that an INSERT would have to run?  Then a row can go
 * straight into the heap; att[] gets each column's attribute index.
 */
static bool
pending_is_plain(Relation rel, int *att)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			found = 0;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhasrules ||
		rel->trigdesc != NULL || rel->rd_rel->relforcerowsecurity ||
		(desc->constr != NULL && (desc->constr->num_check > 0 || desc->constr->has_generated_stored)) ||
		RelationGetIndexList(rel) != NIL)
		return false;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);
		int			c;

		if (a->attisdropped)
			continue;
		for (c = 0; c < PENDING_COLUMNS; c++)
			if (strcmp(NameStr(a->attname), pending_columns[c].name) == 0)
				break;
		if (c == PENDING_COLUMNS || a->atttypid != pending_columns[c].type)
			return false;
		att[c] = i;
		found++;
	}
	return found == PENDING_COLUMNS;
}

/* Queue one event by SQL: reco_pending is no longer as pending_is_plain expects */
static void
pending_put_sql(int64 version_id, int64 user_id, const RecoQueuedEvent *ev)
{
	static RecoPlan plan;
	Datum		values[6] = {Int64GetDatum(version_id), Int64GetDatum(user_id),
		Int64GetDatum(ev->item), Float4GetDatum((float) ev->w),
	Int16GetDatum((int16) ev->kind), Float4GetDatum((float) ev->value)};
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	if (ev->kind < 0)
		nulls[4] = nulls[5] = 'n';
	if (!reco_plan_ready(&plan))
		reco_plan_keep(&plan, psprintf("INSERT INTO %s (version_id, user_id, item_id, weight, kind, value) "
									   "VALUES ($1, $2, $3, $4, $5, $6)", reco_table("reco_pending")),
					   6, (Oid[]) {INT8OID, INT8OID, INT8OID, FLOAT4OID, INT2OID, FLOAT4OID});
	if (run_plan(&plan, values, nulls, false, 0) != SPI_OK_INSERT || SPI_processed != 1)
		elog(ERROR, "reco: queueing an event failed");
}

/*
 * Queue n events of a user for reco_refresh (created: the transaction's
 * start, as now() says; replay: false).  The queue has no index and
 * nothing an INSERT would run (pending_is_plain), so its rows go straight
 * into the heap, with their WAL, under the lock an INSERT takes: a
 * statement per event would cost more than the row.  Should reco_pending
 * have gained an index, a trigger or a column, the events go through SQL.
 */
void
reco_storage_pending_put(int64 version_id, int64 user_id, const RecoQueuedEvent *ev, int n)
{
	Relation	rel;
	int			att[PENDING_COLUMNS];
	TupleTableSlot *slot;

	as_owner();
	PreventCommandIfReadOnly("INSERT");
	PreventCommandIfParallelMode("INSERT");
	rel = table_open(reco_table_oid("reco_pending"), RowExclusiveLock);
	if (!pending_is_plain(rel, att))
	{
		table_close(rel, NoLock);
		for (int i = 0; i < n; i++)
			pending_put_sql(version_id, user_id, &ev[i]);
		return;
	}
	if (pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));

	slot = table_slot_create(rel, NULL);
	for (int i = 0; i < n; i++)
	{
		Datum	   *v = slot->tts_values;
		bool	   *isnull = slot->tts_isnull;

		ExecClearTuple(slot);
		memset(isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
		v[att[0]] = Int64GetDatum(version_id);
		v[att[1]] = Int64GetDatum(user_id);
		v[att[2]] = Int64GetDatum(ev[i].item);
		v[att[3]] = Float4GetDatum((float) ev[i].w);
		v[att[4]] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		v[att[5]] = Int16GetDatum((int16) ev[i].kind);
		v[att[6]] = Float4GetDatum((float) ev[i].value);
		v[att[7]] = BoolGetDatum(false);
		for (int c = 0; c < PENDING_COLUMNS; c++)
			isnull[att[c]] = (c == 5 || c == 6) && ev[i].kind < 0;
		ExecStoreVirtualTuple(slot);
		table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);	/* the lock is held to the end of the transaction */
}
