/*
 * reco.h - the helpers every part of the PostgreSQL glue uses (reco.c); each
 * subsystem has its own header: params.h, train.h, model.h, online.h,
 * refresh.h, events.h, storage.h, resources.h
 */
#ifndef RECO_H
#define RECO_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "portability/instr_time.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/snapshot.h"

#include "bounds.h"

/* reco.c: helpers every part uses */
extern char *reco_table(const char *name);
extern Oid	reco_table_oid(const char *name);
/* A statement prepared once per backend (and per extension schema) */
typedef struct RecoPlan
{
	SPIPlanPtr	plan;
	uint64		generation;
} RecoPlan;

/* Who runs: the extension's owner for the model tables, else the caller */
typedef struct RecoUser
{
	Oid			userid;
	int			sec_context;
} RecoUser;

extern Oid	reco_owner(void);
extern RecoUser reco_current_user(void);
extern RecoUser reco_become_owner(void);
extern void reco_become(RecoUser who);
extern bool reco_is_admin(Oid role);
extern void reco_check_owner(const char *model, Oid owner, Oid role);
extern void reco_lock_trainings(bool exclusive);

extern bool reco_plan_ready(RecoPlan *slot);
extern void reco_plan_keep(RecoPlan *slot, const char *sql, int nargs, Oid *types);
extern void reco_exec(const char *sql, int nargs, Oid *types, Datum *values,
					  int expect);
extern void reco_no_version(const char *model, int32 version) pg_attribute_noreturn();
extern char *reco_text_arg(FunctionCallInfo fcinfo, int argno, const char *what);
extern void reco_check_k(int k);
extern void reco_check_value(double v, const char *what);
extern const char *reco_name_msg(const char *name);
extern int	reco_cmp_int64(const void *a, const void *b);
/* reco_fetch: a fetch's rows, about RECO_FETCH_BYTES of them */
#define RECO_FETCH_FIRST 16
#define RECO_FETCH_MAX 10000
#define RECO_FETCH_BYTES (64 * 1024)
#define RECO_FETCH_ROW_OVERHEAD 32	/* a tuple's header and pointer in the table */
extern uint64 reco_fetch(Portal portal, int *rows);
extern int64 reco_lower_bound(const void *base, int64 n, size_t stride, int64 key);
extern int64 reco_id_index(const int64 *ids, int64 n, int64 id);
extern int64 reco_id_table_span(const int64 *ids, int64 n);
extern void reco_id_table_fill(const int64 *ids, int64 n, int32 *table, int64 span);
extern double reco_seconds_since(instr_time start);
extern bytea *reco_floats_bytea(const float *v, int64 n);
extern const float *reco_bytea_floats(Datum d, int64 n, const char *what);
extern bool reco_floats_finite(const float *v, int64 n);
extern bool reco_value_in_range(double v);

/*
 * Index of id in the ascending ids[0..n), or -1: by table when there is one
 * (reco_id_table_fill's, span entries from ids[0]), else by search
 */
static inline int64
reco_id_find(const int64 *ids, int64 n, const int32 *table, int64 span, int64 id)
{
	uint64		j;

	if (table == NULL)
		return reco_id_index(ids, n, id);
	/* in uint64, so an id far below ids[0] cannot overflow into range */
	j = (uint64) id - (uint64) ids[0];
	return j < (uint64) span ? table[j] : -1;
}

#endif
