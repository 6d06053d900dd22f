/*
 * reco.c - module entry: GUCs and helpers shared by the glue
 */
#include "reco.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include <cblas.h>
#undef I

PG_MODULE_MAGIC;

bool		reco_progress = true;
bool		reco_online = true;
int			reco_max_history = 500;

void		_PG_init(void);

/* Define the reco.* settings */
void
_PG_init(void)
{
	DefineCustomBoolVariable("reco.progress",
							 "Report training progress as NOTICE messages.",
							 NULL,
							 &reco_progress,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("reco.online",
							 "Update models from each inserted event.",
							 "Turn off in a session for bulk loads, then retrain or catch up.",
							 &reco_online,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("reco.max_history",
							"Interactions per user an online update solves over (the most recent).",
							"Bounds the cost of one event for users with long histories.",
							&reco_max_history,
							500, 1, 1000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	reco_resources_init();
	MarkGUCPrefixReserved("reco");

	reco_cache_init();

	/*
	 * Our own threads split the rows (workers.c); BLAS calls stay on one
	 * thread.  The serial OpenBLAS we link ignores this; it matters when
	 * built against a threaded one.
	 */
	openblas_set_num_threads(1);
}

/* Namespace of the reco extension (get_extension_schema is static in 15) */
static Oid
extension_schema(void)
{
	Oid			ext = get_extension_oid("reco", false);
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "reco: extension %u not found", ext);
	nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/*
 * Schema-qualified, quoted name of one of the extension's tables.  The
 * schema is looked up once per backend (the extension is not relocatable).
 */
char *
reco_table(const char *name)
{
	static char *schema = NULL;

	if (schema == NULL)
	{
		char	   *nsp = get_namespace_name(extension_schema());

		schema = MemoryContextStrdup(TopMemoryContext, nsp);
	}
	return quote_qualified_identifier(schema, name);
}

/* OID of one of the extension's tables (InvalidOid if it is gone) */
Oid
reco_table_oid(const char *name)
{
	Oid			nsp = get_namespace_oid(get_namespace_name(extension_schema()), true);

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/* Prepare a statement and keep it for the life of the backend */
SPIPlanPtr
reco_keep_plan(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		elog(ERROR, "reco: SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "reco: SPI_keepplan failed for \"%s\"", sql);
	return plan;
}

/* Run a read-write statement with parameters; anything unexpected is a bug */
void
reco_exec(const char *sql, int nargs, Oid *types, Datum *values, int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL,
										   false, 0);

	if (rc != expect)
		elog(ERROR, "reco: SPI_execute_with_args returned %d for \"%s\"", rc, sql);
}

/* A text argument that must be given */
char *
reco_text_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* Online learning and explanations fold users in: implicit feedback only */
void
reco_require_implicit(const RecoModel *m, const char *what)
{
	if (m->params.explicit_ratings)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not supported for model \"%s\", which predicts explicit ratings", what, m->name),
				 errhint("Retrain it to take new ratings into account.")));
}

/* The error for a version number a model does not have */
void
reco_no_version(const char *model, int32 version)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("model \"%s\" has no version %d", model, version),
			 errhint("SELECT version FROM reco_versions WHERE model = '%s' lists them.", model)));
}

/* Reject a k outside [1, RECO_MAX_K] */
void
reco_check_k(int k)
{
	if (k < 1 || k > RECO_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d", RECO_MAX_K),
				 errdetail("k was %d.", k)));
}

/* A bytea holding n floats, or n zeros when v is NULL */
bytea *
reco_floats_bytea(const float *v, int64 n)
{
	bytea	   *b = palloc0(VARHDRSZ + sizeof(float) * n);

	SET_VARSIZE(b, VARHDRSZ + sizeof(float) * n);
	if (v != NULL)
		memcpy(VARDATA(b), v, sizeof(float) * n);
	return b;
}

/* The n floats a bytea datum holds; anything else is corrupt model data */
const float *
reco_bytea_floats(Datum d, int64 n, const char *what)
{
	bytea	   *b = DatumGetByteaPP(d);

	if (VARSIZE_ANY_EXHDR(b) != sizeof(float) * n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s hold %zu bytes, expected %zu", what,
						(size_t) VARSIZE_ANY_EXHDR(b), (size_t) (sizeof(float) * n))));
	return (const float *) VARDATA_ANY(b);
}

/* qsort/bsearch order of int64 values */
int
reco_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}
