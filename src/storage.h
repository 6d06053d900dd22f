/*
 * storage.h - every statement on the model tables (storage.c)
 *
 * Callers hold an SPI connection and run as the extension's owner
 * (reco_become_owner); reads use the active snapshot unless a function
 * takes one.  Functions that answer "in SPI_tuptable" leave their rows
 * there for the caller to read before its next statement.
 */
#ifndef RECO_STORAGE_H
#define RECO_STORAGE_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/snapshot.h"
#include "datatype/timestamp.h"

#include "csr.h"

/* A version as the registry describes it (version_id 0: none) */
typedef struct RecoVersionInfo
{
	int64		version_id;
	int64		revision;
	int			factors;
	int64		n_items;
	TimestampTz trained;
	char		algorithm[16];	/* its family (family/family.h) */
} RecoVersionInfo;

/* the registry */
extern Jsonb *reco_model_lock(const char *model, const char *algorithm, Oid role);
extern void reco_model_lock_existing(const char *model, Oid role);
extern void reco_storage_lock_all_models(void);
extern void reco_storage_wait_writers(const char *table);
extern bool reco_storage_model(const char *name, RecoVersionInfo *out);
extern bool reco_storage_model_feed(const char *model, bool *online, bool *from_events,
									Oid *owner);
extern void reco_model_set_active(const char *model, int64 version_id,
								  Jsonb *params, const char *source,
								  bool can_learn_online);
extern bool reco_storage_activate(const char *model, int32 version);
extern void reco_storage_drop(const char *model, int32 version, bool whole_model);

/* versions */
extern int64 reco_version_id_next(void);
extern bool reco_storage_version(const char *name, int32 version, RecoVersionInfo *out);
extern int32 reco_store_version(int64 version_id, const char *model,
								const char *algorithm, Jsonb *params, int f,
								int64 users, int64 items, int64 nnz,
								Jsonb *metrics);
extern void reco_version_set_metrics(int64 version_id, Jsonb *metrics);
extern int	reco_storage_version_served(const char *model, int32 version);
extern void reco_storage_all_versions(void);
extern void reco_storage_version_lock(int64 version_id);
extern void reco_storage_publish(int64 version_id, int64 n_items);
extern void reco_storage_globals(int64 version_id, const char *blob);

/* weights */

/* Lists of items per user: (user[k], item[k]) sorted by user */
typedef struct RecoUserItems
{
	int64		n;
	int64	   *user;
	int64	   *item;
} RecoUserItems;

extern void reco_store_items(int64 version_id, int32 n, const int64 *ids,
							 const float *popularity, const float *Y, int f);
extern void reco_store_users(int64 version_id, int32 n, const int64 *ids,
							 const float *X, int f, const RecoCsr *R,
							 const int64 *item_ids, const RecoUserItems *counted);
extern void reco_store_blob(int64 version_id, const char *name,
							const void *data, Size len);
extern bool reco_storage_blob(int64 version_id, const char *name);
extern void reco_storage_blob_update(int64 version_id, const char *name,
									 const void *data, Size len);
extern void reco_storage_blob_delete(int64 version_id, const char *name);
extern Portal reco_storage_items_open(int64 version_id);
extern void reco_storage_pending_pairs(int64 version_id, Snapshot snap);
extern void reco_storage_user_rows(int64 version_id, const int64 *ids, int n, int extra,
								   Snapshot snap);
typedef void (*RecoUserVisit) (void *arg, Datum factors, const int64 *ids, const float *w,
							   int n);
extern int	reco_storage_history_length(ArrayType *ia, ArrayType *wa, const char *model,
										int64 version_id, int64 user_id);
extern void reco_storage_each_user(int64 version_id, RecoUserVisit visit, void *arg);
extern bool reco_storage_user(int64 version_id, int64 user_id);
extern bool reco_storage_user_history(int64 version_id, int64 user_id, float *row,
									  int row_floats, int64 **ids, float **w, int *n);
extern bool reco_storage_item_prior(int64 version_id, int64 item_id);
extern void reco_storage_item_put(int64 version_id, int64 item_id, float popularity,
								  const float *y, int f);
extern void reco_storage_item_cold(int64 version_id, int64 item_id, const float *y, int f);
extern void reco_storage_item_delete(int64 version_id, int64 item_id);

/* One event of a user as the queue records it (kind -1: unknown, queued by weight alone) */
typedef struct RecoQueuedEvent
{
	int64		item;
	double		w;
	int			kind;
	double		value;
} RecoQueuedEvent;

/* online learning */
extern void reco_storage_online_models(void);
extern void reco_storage_user_create(int64 version_id, int64 user_id, const float *row, int f);
/* Computes a user's new row (factors, items, weights) from the stored one */
typedef void (*RecoFoldRow) (Datum factors, Datum items, Datum weights, Datum *out);
extern bool reco_storage_user_fold(int64 version_id, int64 user_id, RecoFoldRow fold);
extern void reco_storage_pending_put(int64 version_id, int64 user_id,
									 const RecoQueuedEvent *ev, int n);

/* the queue of online events */
extern int64 reco_storage_pending_take(int64 version_id, Snapshot snap, int64 **items,
										 int64 *n);
extern void reco_storage_pending_take_superseded(const char *model, int64 version_id,
												 Snapshot snap);
extern void reco_pending_drop_superseded(const char *model, int64 version_id,
										 Snapshot snap);

/* forgetting */
extern int64 reco_storage_forget_events(int64 user_id);
extern int64 *reco_storage_forget_user(int64 version_id, int64 user_id, int *n,
									   int64 **counted, int *ncounted);

#endif
