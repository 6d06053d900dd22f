/*
 * train.h - a training run: the interactions it collects (train.c)
 */
#ifndef RECO_TRAIN_H
#define RECO_TRAIN_H

#include "reco.h"

#include "utils/array.h"

#include "csr.h"
#include "params.h"
#include "resources.h"
#include "storage.h"

/* train.c: interactions collected for a training run */
typedef struct RecoTriplet
{
	int64		user;
	int64		item;
	float		weight;
	int16		kind;			/* the event's kind (params.h), -1: not known */
	int64		ts;				/* when it happened (or arrival order): latest wins */
} RecoTriplet;

typedef struct RecoTriplets
{
	int64		n;
	int64		cap;
	RecoTriplet *rows;
	RecoBudget *budget;			/* of the run: these and the fit count on it */
	const RecoUserItems *counted;	/* stored with each user's row (the
									 * buying-again counts, repeat.h), or NULL */
} RecoTriplets;

extern void reco_triplets_init(RecoTriplets *t, RecoBudget *budget);
extern void reco_triplets_add(RecoTriplets *t, int64 user, int64 item, float weight);
extern void reco_triplets_add_at(RecoTriplets *t, int64 user, int64 item, float weight,
								 int64 ts);
extern void reco_triplets_add_event(RecoTriplets *t, int64 user, int64 item, float weight,
									int64 ts, int kind);

/* hygiene.c: de-duplication and time decay of the events before they merge */
extern void reco_triplets_hygiene(RecoTriplets *t, RecoTrainParams *p);
extern void reco_hygiene_needs_times(const RecoTrainParams *p, const char *why);

/*
 * Sort by (user, item) and merge repeated pairs (sum, or average ratings),
 * dropping implicit pairs whose sum is not positive; counts (NULL, or t->n
 * entries) gets how many events each kept pair merged
 */
extern void reco_triplets_merge(RecoTriplets *t, bool ratings, int64 *counts);

/* Row r's items (dense indexes into item_ids) as an int8 array */
extern ArrayType *reco_csr_row_ids(const RecoCsr *R, int64 r, const int64 *item_ids);

/* R's rows reordered by time, least recent first, weights the merged sums */
extern RecoCsr reco_history_by_time(const RecoCsr *R, const RecoTriplets *t);

/* A run's interactions as matrices (reco_interactions) */
typedef struct RecoInteractions
{
	int64	   *user_ids;		/* ascending */
	int64		nu;
	int64	   *item_ids;		/* ascending */
	int64		ni;
	int64		nnz;
	RecoCsr		Rui;			/* users x items */
	RecoCsr		Riu;			/* items x users */
} RecoInteractions;

extern void reco_interactions(const char *what, const RecoTrainParams *params,
							  RecoTriplets *t, RecoInteractions *out);

/* reco.progress: training progress as NOTICE messages (train.c) */
extern bool reco_progress;
extern void reco_train_init(void);

#endif
