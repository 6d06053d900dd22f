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

#include "storage.h"

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

	caller = reco_become_owner();
	SPI_connect();
	reco_model_lock_existing(model, caller.userid);
	if (!reco_storage_activate(model, version))
		reco_no_version(model, version);
	SPI_finish();
	reco_become(caller);
	PG_RETURN_VOID();
}

/* reco_drop_model(model): remove the model, its versions and weights */
Datum
reco_drop_model(PG_FUNCTION_ARGS)
{
	RecoUser	caller;
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));

	caller = reco_become_owner();
	SPI_connect();
	reco_storage_wait_writers("reco_pending");	/* as reco_drop_version does */
	reco_model_lock_existing(model, caller.userid);
	reco_storage_drop(model, 0, true);
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
	int			served;

	caller = reco_become_owner();
	SPI_connect();
	/*
	 * An insert that looked the registry up before the version it writes to
	 * was superseded may still be in flight: once it is done, the rows it
	 * queued are seen and move to the version served instead of being
	 * orphaned.  Waited for before the registry lock, which such a
	 * transaction may go on to take.
	 */
	reco_storage_wait_writers("reco_pending");
	reco_model_lock_existing(model, caller.userid);
	served = reco_storage_version_served(model, version);
	if (served < 0)
		reco_no_version(model, version);
	if (served)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("version %d of model \"%s\" is being served", version, reco_name_msg(model)),
				 errhint("Activate another version first with reco_activate, or drop the whole model.")));
	reco_storage_drop(model, version, false);
	SPI_finish();
	reco_become(caller);
	PG_RETURN_VOID();
}
