/*
 * family.h - what a model family implements (family/als.c, family/mlp.c)
 *
 * The glue (train.c, cache.c, serve.c) is written once against this table;
 * a family alone knows its weight layout: what a user row, an item row and
 * its blobs hold.  Operations a family does not have yet are NULL and the
 * glue says so (0A000) instead of guessing.
 */
#ifndef RECO_FAMILY_H
#define RECO_FAMILY_H

#include "reco.h"

#include "model.h"
#include "params.h"
#include "train.h"
#include "refresh.h"

/* Who a user is to a version */
typedef enum RecoUserKind
{
	RECO_STRANGER,				/* nothing known: served by popularity */
	RECO_PERSONAL,				/* has a row of their own */
	RECO_PROFILE				/* no row, served from their reco_user profile */
} RecoUserKind;

/* What a fit reports to train.c, which records and activates the version */
typedef struct RecoFitResult
{
	int			factors;		/* reco_model_version.factors */
	int64		n_users;
	int64		n_items;
	int64		nnz;
	double		loss;
	const char *losses;			/* per sweep or epoch, comma-separated */
	double		solve_seconds;
	int			steps;			/* sweeps or epochs run */
	bool		learns_online;	/* the trigger may update it */
	RecoModel  *online;			/* the version in memory for the catch-up,
								 * or NULL: train.c reads it back */
} RecoFitResult;

typedef struct RecoFamily
{
	const char *name;

	/*
	 * Fit on the run's interactions and store the version's rows and blobs
	 * under version_id (as the extension owner; reader is who read the
	 * events, for any further reads such as features).
	 */
	void		(*fit_store) (const char *model, const RecoTrainParams *params,
							  RecoTriplets *t, double read_seconds, int64 version_id,
							  const RecoUser *reader, RecoFitResult *out);

	/*
	 * Fit on the run's interactions (read with the caller's rights) and keep
	 * the model in memory, writing nothing: evaluation and tuning
	 */
	RecoModel  *(*fit_memory) (const RecoTrainParams *params, RecoTriplets *t,
							   const char *what);

	/* Read a stored version's item side and globals into m (m->mcxt) */
	void		(*load) (RecoModel *m, int64 n_items);

	/* Floats of a user's serving state */
	int			(*user_floats) (const RecoModel *m);

	/*
	 * The user's serving state, and (seen not NULL) the items they
	 * interacted with, in the caller's context
	 */
	RecoUserKind (*user) (RecoModel *m, int64 user_id, float *state,
						  ArrayType **seen);

	/* Scores of items idx[0..n), or of every item when idx is NULL */
	void		(*score) (RecoModel *m, const float *state, const int32 *idx,
						  int n, float *scores);

	/*
	 * Scores of every item for serving a top-k (NULL: score): the best of
	 * those not in skip exactly, the others may be approximate but rank
	 * below them
	 */
	void		(*rank) (RecoModel *m, const float *state, const uint8 *skip,
						 float *scores);

	/*
	 * The serving state of a user whose stored row is row (NULL: someone
	 * new, nothing known) after the events ids/w, least recent first: a
	 * basket, or a customer's history with their cart.  Writes nothing.
	 */
	void		(*state) (RecoModel *m, const float *row, const int64 *ids,
						  const float *w, int n, float *state);

	/* Unit item vectors, factor-major (dim x n_items), for similar items */
	const float *(*unit_items) (RecoModel *m, int *dim);

	/*
	 * Similarity of every item to item idx into scores (NaN: not similar),
	 * for families without unit vectors (NULL: unit_items is used)
	 */
	void		(*similar) (RecoModel *m, int32 idx, float *scores);

	/*
	 * Online learning (online.c): a stored user row's floats, the row a
	 * customer starts from before their first event, and the fold-in of a
	 * user from their history (ids and weights, least recent first) into
	 * row: false, row untouched, with the reason in *why when it cannot.
	 * fold NULL: the family does not learn online.
	 */
	int			(*row_floats) (const RecoModel *m);
	/*
	 * reco_refresh: take the version's queue under snap and catch the item
	 * side up on it, publishing a new revision; returns the events taken
	 * (NULL: the family has no refresh)
	 */
	int64		(*refresh) (RecoModel *m, Snapshot snap, struct RecoResolved *out);

	/*
	 * reco_forget_user: re-solve the n items a forgotten customer touched
	 * in version m, now that their row is gone (NULL: nothing to re-solve)
	 */
	void		(*forget) (RecoModel *m, const int64 *items, int64 n,
						   struct RecoResolved *out);

	/*
	 * reco_explain: what each item of the user's history (ids and weights,
	 * least recent first, n of them) contributes to item idx's score; the
	 * items considered are moved to the front of ids, their contributions
	 * go to contrib, and their number is returned (NULL: no explanations)
	 */
	int			(*explain) (RecoModel *m, int64 user_id, int64 *ids, const float *w, int n,
							int32 idx, float *contrib);
	void		(*new_row) (RecoModel *m, int64 user_id, float *row);
	bool		(*fold) (const RecoModel *m, const int64 *ids, const float *w, int len,
						 float *row, const char **why);
} RecoFamily;

extern const RecoFamily reco_family_als;
extern const RecoFamily reco_family_mlp;
extern const RecoFamily reco_family_itemknn;
extern const RecoFamily reco_family_ease;

/* Define reco.shortlist, how many items mlp_rank scores exactly (from _PG_init) */
extern void reco_mlp_init(void);

/* The family of that name, or an error listing them (0A000) */
extern const RecoFamily *reco_family(const char *name);

#endif
