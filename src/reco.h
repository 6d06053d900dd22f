/*
 * reco.h - declarations shared by the PostgreSQL glue of reco
 */
#ifndef RECO_H
#define RECO_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/snapshot.h"

#include "als.h"
#include "csr.h"

#include "bounds.h"
#include "resources.h"

/* GUCs (reco.c; the thread and memory settings are in resources.c) */
extern bool reco_progress;
extern bool reco_online;

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
extern bytea *reco_floats_bytea(const float *v, int64 n);
extern const float *reco_bytea_floats(Datum d, int64 n, const char *what);
extern bool reco_floats_finite(const float *v, int64 n);
extern bool reco_value_in_range(double v);

/* params.c: hyperparameters of a training run */
#define RECO_NKINDS 6

typedef enum RecoValueTransform
{
	RECO_VALUE_LINEAR,			/* the value as it is */
	RECO_VALUE_LOG,				/* sign(v) * ln(1 + |v|): damps quantities */
	RECO_VALUE_UNIT				/* sign(v): every event counts once */
} RecoValueTransform;

typedef struct RecoTrainParams
{
	AlsParams	als;
	bool		explicit_ratings;	/* values are ratings to predict (als.h) */
	bool		cholesky;		/* exact solver instead of conjugate gradient */
	RecoValueTransform value;	/* applied to each event's value */
	double		weights[RECO_NKINDS];	/* per event kind, see reco_kind */
	int			history;		/* a fold-in solves over the latest this many items */
	double		max_weight;		/* cap on one customer's summed weight for an item */
} RecoTrainParams;

extern int	reco_kind(const char *kind, int len);
extern double reco_event_value(const RecoTrainParams *p, double value);
extern void reco_parse_params(Jsonb *stored, Jsonb *given, RecoTrainParams *out);
extern Jsonb *reco_params_jsonb(const RecoTrainParams *p);

/* train.c: interactions collected for a training run */
typedef struct RecoTriplet
{
	int64		user;
	int64		item;
	float		weight;
	int64		ts;				/* when it happened (or arrival order): latest wins */
} RecoTriplet;

typedef struct RecoTriplets
{
	int64		n;
	int64		cap;
	RecoTriplet *rows;
	RecoBudget *budget;			/* of the run: these and the fit count on it */
} RecoTriplets;

extern void reco_triplets_init(RecoTriplets *t, RecoBudget *budget);
extern void reco_triplets_add(RecoTriplets *t, int64 user, int64 item, float weight);
extern void reco_triplets_add_at(RecoTriplets *t, int64 user, int64 item, float weight,
								 int64 ts);

/* train.c: a fitted model, in memory */
typedef struct RecoFit
{
	int			factors;		/* components per vector */
	int64		n_users;
	int64		n_items;
	int64		nnz;
	int64	   *user_ids;		/* ascending */
	int64	   *item_ids;		/* ascending */
	float	   *X;				/* n_users x factors */
	float	   *Y;				/* n_items x factors */
	float	   *gram;			/* Y'Y, NULL for a rating model */
	float	   *popularity;
	float		mean;			/* mean rating of a rating model, else 0 */
	RecoCsr		Rui;			/* the interactions, by dense user and item */
	double		loss;
	char	   *losses;			/* after each sweep, comma-separated */
	double		solve_seconds;
} RecoFit;

/* Fit in the current context, charging t->budget for every large buffer */
extern void reco_fit(const char *what, const RecoTrainParams *params,
					 RecoTriplets *t, double read_seconds, RecoFit *fit);

#include "storage.h"

/* cache.c: the active version's item side, kept per backend */
typedef struct RecoModel
{
	char		name[64];
	int64		version_id;
	int64		revision;
	TimestampTz trained;		/* tells versions of a re-created extension apart */
	uint64		checked;		/* registry generation this entry was checked at */
	int			factors;
	int32		n_items;
	int64	   *item_ids;		/* ascending */
	float	   *Yt;				/* factors x n_items: factor-major, see topk.h */
	float	   *popularity;
	float	   *Yt_unit;		/* the same with unit-length items, built lazily */
	float	   *Y_rows;			/* the same item-major (fold-in gathers), lazily */
	float	   *gram;			/* Y'Y, factors x factors (the "gram" blob) */
	RecoTrainParams params;		/* the version's resolved hyperparameters */
	int32	   *by_popularity;	/* indexes, most popular first, built lazily */
	const RecoFit *fit;			/* users of a model fitted in memory, or NULL */
	MemoryContext mcxt;
} RecoModel;

extern void reco_cache_init(void);
extern uint64 reco_registry_generation(void);
extern RecoModel *reco_model_get(const char *name);
extern RecoModel *reco_model_version_load(const char *name, int32 version);
extern RecoModel *reco_model_from_fit(const RecoFit *fit, const RecoTrainParams *params);
extern void reco_require_implicit(const RecoModel *m, const char *what);
extern int32 reco_model_item_index(const RecoModel *m, int64 item_id);
extern int32 reco_model_known_item(const RecoModel *m, int64 item_id);
extern void reco_model_mark_items(const RecoModel *m, ArrayType *arr, uint8 *bits);
extern bool reco_model_user(RecoModel *m, int64 user_id, float *x,
							ArrayType **items);
extern int	reco_model_history_rows(const RecoModel *m, const int64 *ids,
									const float *weights, int n, float *Yu,
									float *w, int64 *known_ids);
extern float reco_model_score(const RecoModel *m, const float *Yt, int32 idx,
							  const float *x);
extern void reco_model_item(const RecoModel *m, const float *Yt, int32 idx,
							float *out);
extern const float *reco_model_unit_items(RecoModel *m);
extern const int32 *reco_model_popular(RecoModel *m);

/* events.c: an analyst's event query, (user_id, item_id [, value [, ts]]) */
typedef struct RecoEventRow
{
	int64		user;
	int64		item;
	double		value;			/* finite, or NaN when absent or NULL */
	bool		has_value;
	TimestampTz ts;
	bool		has_ts;
} RecoEventRow;

extern RecoEventRow *reco_query_events(const char *query, const char *what,
									   int maxcols, RecoBudget *budget,
									   int64 *count);
extern Size reco_events_bytes(int64 n);

/* online.c: events applied to the user side, queued for reco_refresh */
extern bool reco_online_apply(const RecoModel *m, int64 user_id, int64 item_id,
							  int kind, double value, bool from_trigger);
extern int64 reco_online_replay(const RecoModel *m, Snapshot snap);
extern int64 reco_online_catch_up(const RecoModel *m, Snapshot seen, Snapshot now,
								  const RecoUser *reader);

/* resolve.c: items of a version re-solved against its users, published */
typedef struct RecoResolved
{
	int64		items;			/* re-solved and kept */
	int64		new_items;		/* of those, new to the version */
	int64		removed;		/* left with no user: gone from the version */
	int64		cold_items;		/* given attribute vectors */
} RecoResolved;

extern void reco_resolve_items(RecoModel *m, const int64 *ids, int64 n,
							   const int64 *cold_ids, const float *Ycold,
							   int64 n_cold, RecoResolved *out);

/* split.c: cross-validation folds of an event query's rows */
extern int32 *reco_assign_folds(const RecoEventRow *rows, int64 n, const char *method,
								int32 folds, int32 seed);

/* coldstart.c: attribute vectors for untouched catalogue items */
extern int64 reco_cold_start(RecoModel *m, const int64 *skip, int64 nskip,
							 int64 **ids, float **Y);

#endif
