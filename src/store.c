/*
 * store.c - writing models: the registry row, versions, and weights as one
 * bytea row per user and per item
 *
 * Every function here runs inside an open SPI connection of the caller and
 * writes through parameterised statements only.
 */
#include "reco.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#define STORE_BATCH 4096

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
	bool		isnull;
	Datum		d;

	sql = psprintf("INSERT INTO %s (name, algorithm, owner) VALUES ($1, $2, $3::pg_catalog.regrole) "
				   "ON CONFLICT (name) DO NOTHING", reco_table("reco_model"));
	reco_exec(sql, 3, types, values, SPI_OK_INSERT);

	sql = psprintf("SELECT params, owner::pg_catalog.oid FROM %s WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				   reco_table("reco_model"));
	reco_exec(sql, 1, types, values, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "reco: model row vanished");
	reco_check_owner(model, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 2, &isnull)),
					 role);
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

	reco_exec(psprintf("SELECT owner::pg_catalog.oid FROM %s WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
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

	reco_exec(sql, 0, NULL, NULL, SPI_OK_SELECT);
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
		reco_exec(sql, 4, types, values, SPI_OK_INSERT);
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
				 const float *X, int f, const RecoCsr *R, const int64 *item_ids)
{
	char	   *sql = psprintf("INSERT INTO %s (version_id, user_id, factors, items, weights) "
							   "SELECT $1, t.id, t.f, $5[t.s:t.e], $6[t.s:t.e] "
							   "FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.int8[]), "
							   "pg_catalog.unnest($3::pg_catalog.bytea[]), "
							   "pg_catalog.unnest($4::pg_catalog.int4[]), "
							   "pg_catalog.unnest($7::pg_catalog.int4[])) AS t(id, f, s, e)",
							   reco_table("reco_user_factors"));
	Oid			types[7] = {INT8OID, INT8ARRAYOID, BYTEAARRAYOID, INT4ARRAYOID,
	INT8ARRAYOID, FLOAT4ARRAYOID, INT4ARRAYOID};
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
		Datum		values[7];

		CHECK_FOR_INTERRUPTS();
		if (total > INT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many interactions in one batch of users")));
		for (int32 i = 0; i < cnt; i++)
		{
			int32		u = start + i;

			idd[i] = Int64GetDatum(ids[u]);
			fd[i] = PointerGetDatum(reco_floats_bytea(X + (int64) u * f, f));
			/* 1-based slice bounds; an empty slice when s > e */
			sd[i] = Int32GetDatum((int32) (R->indptr[u] - first + 1));
			ed[i] = Int32GetDatum((int32) (R->indptr[u + 1] - first));
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
		reco_exec(sql, 7, types, values, SPI_OK_INSERT);
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch);
	}
	MemoryContextDelete(batch);
}

/* Write one dense global of a version */
void
reco_store_blob(int64 version_id, const char *name, const void *data, Size len)
{
	char	   *sql = psprintf("INSERT INTO %s (version_id, name, data) VALUES ($1, $2, $3)",
							   reco_table("reco_model_blob"));
	Oid			types[3] = {INT8OID, TEXTOID, BYTEAOID};
	bytea	   *b = palloc(VARHDRSZ + len);
	Datum		values[3];

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	values[0] = Int64GetDatum(version_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = PointerGetDatum(b);
	reco_exec(sql, 3, types, values, SPI_OK_INSERT);
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
	reco_exec(sql, 9, types, values, SPI_OK_INSERT_RETURNING);
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
	reco_exec(sql, 5, types, values, SPI_OK_UPDATE);
}

/* Record a version's training metrics (known once it is active) */
void
reco_version_set_metrics(int64 version_id, Jsonb *metrics)
{
	char	   *sql = psprintf("UPDATE %s SET metrics = $2 WHERE version_id OPERATOR(pg_catalog.=) $1",
							   reco_table("reco_model_version"));
	Oid			types[2] = {INT8OID, JSONBOID};
	Datum		values[2] = {Int64GetDatum(version_id), JsonbPGetDatum(metrics)};

	reco_exec(sql, 2, types, values, SPI_OK_UPDATE);
}

/* Does the model take events of reco_event online? */
bool
reco_model_learns_online(const char *model)
{
	char	   *sql = psprintf("SELECT 1 FROM %s WHERE name OPERATOR(pg_catalog.=) $1 AND online "
							   "AND source OPERATOR(pg_catalog.=) 'reco_event'",
							   reco_table("reco_model"));
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(model)};

	reco_exec(sql, 1, types, values, SPI_OK_SELECT);
	return SPI_processed == 1;
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
	SPIPlanPtr	plan = SPI_prepare(sql, 2, types);

	if (plan == NULL ||
		SPI_execute_snapshot(plan, values, NULL, snap, InvalidSnapshot, false, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "reco: dropping the queue of superseded versions failed");
	SPI_freeplan(plan);
}
