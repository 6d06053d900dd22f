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
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include <math.h>

#include <cblas.h>
#undef I

#include "model.h"
#include "family/family.h"
#include "online.h"
#include "resources.h"

PG_MODULE_MAGIC;


void		_PG_init(void);
static void schema_invalidate(Datum arg, Oid relid);

/* Define the reco.* settings */
void
_PG_init(void)
{
	reco_resources_init();
	reco_train_init();
	reco_online_init();
	reco_mlp_init();
	MarkGUCPrefixReserved("reco");

	reco_cache_init();
	CacheRegisterRelcacheCallback(schema_invalidate, (Datum) 0);

	/*
	 * Our own threads split the rows (workers.c); BLAS calls stay on one
	 * thread.  The serial OpenBLAS we link ignores this; it matters when
	 * built against a threaded one.
	 */
	openblas_set_num_threads(1);
}

/*
 * The extension's schema, cached until the extension may have been dropped:
 * dropping it drops reco_model, whose relcache invalidation reaches every
 * backend (schema_invalidate).  schema_generation counts such resets, so a
 * plan kept with the old schema name in its text is known to be stale
 * (reco_plan_ready).
 */
static Oid	schema_oid = InvalidOid;
static char *schema_name = NULL;
static Oid	anchor_relid = InvalidOid;	/* reco_model */
static uint64 schema_generation = 1;
static Oid	owner_oid = InvalidOid;	/* the extension's owner, with the schema */

/* Relcache callback: forget the schema when reco_model may be gone */
static void
schema_invalidate(Datum arg, Oid relid)
{
	if (OidIsValid(schema_oid) && (relid == InvalidOid || relid == anchor_relid))
	{
		schema_oid = InvalidOid;
		schema_generation++;
	}
}

/* Namespace of the reco extension (get_extension_schema is static in 15) */
static Oid
lookup_schema(void)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("reco"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"reco\" does not exist")));
	nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	owner_oid = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/*
 * The extension's schema, looked up again after it may have changed; not
 * cached while reco_model is missing, as nothing would tell when it is back
 */
static Oid
cached_schema(void)
{
	Oid			nsp;
	char	   *name;
	Oid			anchor;

	if (OidIsValid(schema_oid))
		return schema_oid;
	nsp = lookup_schema();
	name = get_namespace_name(nsp);
	if (name == NULL)
		elog(ERROR, "reco: schema %u of the extension not found", nsp);
	anchor = get_relname_relid("reco_model", nsp);
	if (schema_name != NULL)
		pfree(schema_name);
	schema_name = MemoryContextStrdup(TopMemoryContext, name);
	anchor_relid = anchor;
	if (OidIsValid(anchor))
		schema_oid = nsp;		/* last: the entry is complete */
	return nsp;
}

/* Schema-qualified, quoted name of one of the extension's tables */
char *
reco_table(const char *name)
{
	(void) cached_schema();
	return quote_qualified_identifier(schema_name, name);
}

/* OID of one of the extension's tables (InvalidOid if it is gone) */
Oid
reco_table_oid(const char *name)
{
	return get_relname_relid(name, cached_schema());
}

/* The role that owns the extension */
Oid
reco_owner(void)
{
	(void) cached_schema();
	return owner_oid;
}

/*
 * Switch to the extension's owner, for reads and writes of the model tables
 * (applications hold no rights on them), the way pg_cron runs its internal
 * writes; returns who was running, for reco_become.  An error gives the
 * caller back at (sub)transaction abort.
 */
RecoUser
reco_become_owner(void)
{
	RecoUser	was = reco_current_user();

	SetUserIdAndSecContext(reco_owner(), was.sec_context | SECURITY_LOCAL_USERID_CHANGE);
	return was;
}

/* Who is running now */
RecoUser
reco_current_user(void)
{
	RecoUser	now;

	GetUserIdAndSecContext(&now.userid, &now.sec_context);
	return now;
}

/* Switch back to who reco_become_owner said was running */
void
reco_become(RecoUser who)
{
	SetUserIdAndSecContext(who.userid, who.sec_context);
}

/* Does the role administer reco (a superuser, or a member of reco_admin)? */
bool
reco_is_admin(Oid role)
{
	Oid			admin = get_role_oid("reco_admin", true);

	return superuser_arg(role) || (OidIsValid(admin) && has_privs_of_role(role, admin));
}

/*
 * Fail unless role may change the model: its owner (or a member of the
 * owner role) or an administrator
 */
void
reco_check_owner(const char *model, Oid owner, Oid role)
{
	if (has_privs_of_role(role, owner) || reco_is_admin(role))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("must be owner of model \"%s\"", reco_name_msg(model)),
			 errdetail("It belongs to role \"%s\".", GetUserNameFromId(owner, true) ?
					   GetUserNameFromId(owner, true) : "(dropped)"),
			 errhint("Ask its owner, or a member of reco_admin.")));
}

/*
 * Trainings share this lock and reco_forget_user takes it alone: a model's
 * first training has no registry row yet that forgetting could lock and
 * wait on.  Held to the end of the transaction.
 */
void
reco_lock_trainings(bool exclusive)
{
	LOCKTAG		tag;

	/* an advisory tag no SQL-level advisory lock can take (field4 = 3) */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0x7265636f, 0, 3);
	(void) LockAcquire(&tag, exclusive ? ExclusiveLock : ShareLock, false, false);
}

/*
 * Is the kept statement of slot prepared, and for the extension's current
 * schema?  A statement whose text came from reco_table goes stale when the
 * extension is dropped and created elsewhere: it is freed here, and the
 * caller prepares it again with reco_plan_keep.
 */
bool
reco_plan_ready(RecoPlan *slot)
{
	if (slot->plan != NULL && slot->generation == schema_generation)
		return true;
	if (slot->plan != NULL)
		SPI_freeplan(slot->plan);
	slot->plan = NULL;
	return false;
}

/* Prepare a statement into slot and keep it for the life of the backend */
void
reco_plan_keep(RecoPlan *slot, const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		elog(ERROR, "reco: SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "reco: SPI_keepplan failed for \"%s\"", sql);
	slot->plan = plan;
	slot->generation = schema_generation;
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

/*
 * Online learning, refresh, baskets and explanations: what the model's
 * family supports (supported), and implicit feedback only; learns: what
 * takes new events in, whose alternative is retraining
 */
void
reco_require(const RecoModel *m, const char *what, bool supported, bool learns)
{
	if (!supported)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not supported yet for model \"%s\", an \"%s\" model",
						what, m->name, m->family->name),
				 learns ? errhint("Retrain it to take new events into account.") : 0));
	if (m->params.explicit_ratings)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not supported for model \"%s\", which predicts explicit ratings", what, m->name),
				 learns ? errhint("Retrain it to take new ratings into account.") :
				 errhint("A model trained on events (\"feedback\": \"implicit\", the default) supports it.")));
}

/* The error for a version number a model does not have */
void
reco_no_version(const char *model, int32 version)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("model \"%s\" has no version %d", reco_name_msg(model), version),
			 errhint("SELECT version FROM reco_versions WHERE model = %s lists them.",
					 quote_literal_cstr(model))));
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

/*
 * Reject an event value or weight that is not finite or beyond
 * RECO_MAX_VALUE in magnitude (bounds.h says why); what names it, say
 * "weight"
 */
void
reco_check_value(double v, const char *what)
{
	if (!reco_value_in_range(v))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be between %.0f and %.0f", what,
						-RECO_MAX_VALUE, RECO_MAX_VALUE),
				 errdetail("It was %.7g.", v)));
}

/*
 * A name as messages show it: no model name is longer than RECO_MAX_NAME
 * bytes, so a longer one is cut there (at a character boundary) and marked
 * with "..." rather than echoed whole
 */
const char *
reco_name_msg(const char *name)
{
	int			len = strlen(name);

	if (len <= RECO_MAX_NAME)
		return name;
	return psprintf("%.*s...", pg_mbcliplen(name, len, RECO_MAX_NAME), name);
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

/* Are all n floats finite?  Nothing that is not gets written or published. */
bool
reco_floats_finite(const float *v, int64 n)
{
	for (int64 i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

/* Is an event value (or a weight fed to training) within the bound? */
bool
reco_value_in_range(double v)
{
	return fabs(v) <= RECO_MAX_VALUE;	/* false for NaN */
}

/*
 * The first of n records, stride bytes apart from the int64 key at base and
 * ascending by it, whose key is >= key (n when none is): one search for id
 * arrays and for arrays of structs sorted by an int64 field.
 */
int64
reco_lower_bound(const void *base, int64 n, size_t stride, int64 key)
{
	int64		lo = 0;
	int64		hi = n;

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (*(const int64 *) ((const char *) base + mid * stride) < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Fetch the next rows of portal into SPI_tuptable, *rows of them (start at
 * RECO_FETCH_FIRST), and size the next fetch from these rows so SPI's tuple
 * table holds about RECO_FETCH_BYTES.  Under glibc's mmap threshold (128
 * kB) its blocks are reused from one fetch to the next; tables of
 * megabytes were mapped and unmapped at every fetch, and faulting their
 * pages in again was a third of a backend's first call at 480,000 items.
 * Returns SPI_processed.
 */
uint64
reco_fetch(Portal portal, int *rows)
{
	double		bytes = 0;

	SPI_cursor_fetch(portal, true, *rows);
	for (uint64 i = 0; i < SPI_processed; i++)
		bytes += SPI_tuptable->vals[i]->t_len + RECO_FETCH_ROW_OVERHEAD;
	if (SPI_processed > 0)
		*rows = (int) Max(RECO_FETCH_FIRST,
						  Min(RECO_FETCH_MAX, RECO_FETCH_BYTES * (double) SPI_processed / bytes));
	return SPI_processed;
}

/*
 * The number of values the ascending ids[0..n) span, when a table from id
 * to index pays (they span at most ID_TABLE_SPREAD times as many values as
 * there are ids: shops number their products densely), else 0
 */
#define ID_TABLE_SPREAD 4

int64
reco_id_table_span(const int64 *ids, int64 n)
{
	uint64		span;

	if (n == 0)
		return 0;
	/* in uint64: ids at both ends of int64 do not overflow */
	span = (uint64) ids[n - 1] - (uint64) ids[0] + 1;
	return span == 0 || span > (uint64) ID_TABLE_SPREAD * n ? 0 : (int64) span;
}

/* table[j] = the index of ids[0] + j in ids, -1 where there is none */
void
reco_id_table_fill(const int64 *ids, int64 n, int32 *table, int64 span)
{
	memset(table, 0xff, sizeof(int32) * span);	/* -1 */
	for (int64 i = 0; i < n; i++)
		table[ids[i] - ids[0]] = (int32) i;
}

/* Index of id in the ascending ids[0..n), or -1 */
int64
reco_id_index(const int64 *ids, int64 n, int64 id)
{
	int64		k = reco_lower_bound(ids, n, sizeof(int64), id);

	return k < n && ids[k] == id ? k : -1;
}

/* Seconds since start */
double
reco_seconds_since(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_DOUBLE(now);
}

/* qsort/bsearch order of int64 values */
int
reco_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}
