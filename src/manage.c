/*
 * manage.c - model management: activating a version (rollback) and dropping
 * a model
 */
#include "reco.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(reco_activate);
PG_FUNCTION_INFO_V1(reco_drop_model);

/* Error unless the model exists */
static void
require_model(const char *model)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(model)};

	reco_exec(psprintf("SELECT 1 FROM %s WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
					   reco_table("reco_model")),
			  1, types, values, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", model),
				 errhint("The models are listed in reco_models.")));
}

/* reco_activate(model, version): serve the given version from now on */
Datum
reco_activate(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		version = PG_GETARG_INT32(1);
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(version)};
	char	   *sql;

	SPI_connect();
	require_model(model);
	sql = psprintf("UPDATE %s m SET active_version = v.version_id FROM %s v "
				   "WHERE m.name OPERATOR(pg_catalog.=) $1 AND v.model OPERATOR(pg_catalog.=) $1 "
				   "AND v.version OPERATOR(pg_catalog.=) $2",
				   reco_table("reco_model"), reco_table("reco_model_version"));
	reco_exec(sql, 2, types, values, SPI_OK_UPDATE);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" has no version %d", model, version),
				 errhint("SELECT version FROM reco_model_version WHERE model = '%s' lists them.", model)));
	SPI_finish();
	PG_RETURN_VOID();
}

/* reco_drop_model(model): remove the model, its versions and weights */
Datum
reco_drop_model(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(model)};
	const char *const weights[] = {"reco_user_factors", "reco_item_factors", "reco_model_blob",
	"reco_pending"};

	SPI_connect();
	require_model(model);
	for (int i = 0; i < (int) lengthof(weights); i++)
	{
		char	   *sql = psprintf("DELETE FROM %s w USING %s v "
								   "WHERE w.version_id OPERATOR(pg_catalog.=) v.version_id "
								   "AND v.model OPERATOR(pg_catalog.=) $1",
								   reco_table(weights[i]), reco_table("reco_model_version"));

		reco_exec(sql, 1, types, values, SPI_OK_DELETE);
	}
	/* versions follow through ON DELETE CASCADE */
	reco_exec(psprintf("DELETE FROM %s WHERE name OPERATOR(pg_catalog.=) $1",
					   reco_table("reco_model")),
			  1, types, values, SPI_OK_DELETE);
	SPI_finish();
	PG_RETURN_VOID();
}
