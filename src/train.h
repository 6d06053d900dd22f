/*
 * train.h - a training run: the interactions it collects and the fit (train.c)
 */
#ifndef RECO_TRAIN_H
#define RECO_TRAIN_H

#include "reco.h"

#include "csr.h"
#include "params.h"
#include "resources.h"

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

/* Sort by (user, item) and merge repeated pairs (sum, or average ratings) */
extern void reco_triplets_merge(RecoTriplets *t, bool ratings);

/* R's rows reordered by time, least recent first, weights the merged sums */
extern RecoCsr reco_history_by_time(const RecoCsr *R, const RecoTriplets *t);

/* Fit in the current context, charging t->budget for every large buffer */
extern void reco_fit(const char *what, const RecoTrainParams *params,
					 RecoTriplets *t, double read_seconds, RecoFit *fit);

/* reco.progress: training progress as NOTICE messages (train.c) */
extern bool reco_progress;
extern void reco_train_init(void);

#endif
