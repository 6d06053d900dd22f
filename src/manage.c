/*
 * manage.c - model management: activating a version (rollback), dropping a
 * version or a whole model; by the model's owner or an administrator, the
 * registry written as the extension's owner
 */
#include "reco.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(reco_activate);
PG_FUNCTION_INFO_V1(reco_drop_model);
PG_FUNCTION_INFO_V1(reco_drop_version);

/* reco_activate(model, version): serve the given version from now on */
Datum
reco_activate(PG_FUNCTION_ARGS)
{
	RecoUser	caller;
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		version = PG_GETARG_INT32(1);
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(version)};
	char	   *sql;

	caller = reco_become_owner();
	SPI_connect();
	reco_model_lock_existing(model, caller.userid);
	sql = psprintf("UPDATE %s m SET active_version = v.version_id FROM %s v "
				   "WHERE m.name OPERATOR(pg_catalog.=) $1 AND v.model OPERATOR(pg_catalog.=) $1 "
				   "AND v.version OPERATOR(pg_catalog.=) $2",
				   reco_table("reco_model"), reco_table("reco_model_version"));
	reco_exec(sql, 2, types, values, SPI_OK_UPDATE);
	if (SPI_processed == 0)
		reco_no_version(model, version);
	SPI_finish();
	reco_become(caller);
	PG_RETURN_VOID();
}

/*
 * Delete a model's versions, one or all of them when version is 0; their
 * weights go with them (foreign keys with ON DELETE CASCADE, and for
 * reco_pending the reco_model_version_deleted trigger)
 */
static void
delete_versions(const char *model, int32 version)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(version)};

	reco_exec(psprintf("DELETE FROM %s v WHERE v.model OPERATOR(pg_catalog.=) $1 "
					   "AND ($2 OPERATOR(pg_catalog.=) 0 OR v.version OPERATOR(pg_catalog.=) $2)",
					   reco_table("reco_model_version")),
			  2, types, values, SPI_OK_DELETE);
}

/* reco_drop_model(model): remove the model, its versions and weights */
Datum
reco_drop_model(PG_FUNCTION_ARGS)
{
	RecoUser	caller;
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(model)};

	caller = reco_become_owner();
	SPI_connect();
	reco_model_lock_existing(model, caller.userid);
	delete_versions(model, 0);
	reco_exec(psprintf("DELETE FROM %s WHERE name OPERATOR(pg_catalog.=) $1",
					   reco_table("reco_model")),
			  1, types, values, SPI_OK_DELETE);
	SPI_finish();
	reco_become(caller);
	PG_RETURN_VOID();
}

/*
 * reco_drop_version(model, version): remove one version that is not being
 * served
 */
Datum
reco_drop_version(PG_FUNCTION_ARGS)
{
	RecoUser	caller;
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		version = PG_GETARG_INT32(1);
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(version)};
	bool		isnull;

	caller = reco_become_owner();
	SPI_connect();
	reco_model_lock_existing(model, caller.userid);
	reco_exec(psprintf("SELECT v.version_id OPERATOR(pg_catalog.=) m.active_version "
					   "FROM %s v JOIN %s m ON m.name OPERATOR(pg_catalog.=) v.model "
					   "WHERE v.model OPERATOR(pg_catalog.=) $1 AND v.version OPERATOR(pg_catalog.=) $2",
					   reco_table("reco_model_version"), reco_table("reco_model")),
			  2, types, values, SPI_OK_SELECT);
	if (SPI_processed == 0)
		reco_no_version(model, version);
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("version %d of model \"%s\" is being served", version, reco_name_msg(model)),
				 errhint("Activate another version first with reco_activate, or drop the whole model.")));
	delete_versions(model, version);
	SPI_finish();
	reco_become(caller);
	PG_RETURN_VOID();
}
