/*
 * family/als_model.h - what the ALS family keeps of a loaded version (in
 * RecoModel.fs), its fit, and the helpers its files share (als.c,
 * als_fit.c, als_resolve.c, als_coldstart.c)
 */
#ifndef RECO_ALS_MODEL_H
#define RECO_ALS_MODEL_H

#include "model.h"
#include "train.h"

struct RecoFitResult;			/* family/family.h */

/* als_fit.c: a fitted model, in memory */
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

typedef struct AlsModel
{
	float	   *Yt;				/* factors x n_items: factor-major, see topk.h */
	float	   *Yt_unit;		/* the same with unit-length items, built lazily */
	float	   *Y_rows;			/* the same item-major (fold-in gathers), lazily */
	float	   *gram;			/* Y'Y, factors x factors (the "gram" blob) */
	const RecoFit *fit;			/* users of a model fitted in memory, or NULL */
} AlsModel;

static inline AlsModel *
als_model(const RecoModel *m)
{
	return (AlsModel *) m->fs;
}

extern RecoModel *reco_model_from_fit(const RecoFit *fit, const RecoTrainParams *params);
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

/* als_fit.c: the family's fit_store */
extern void reco_als_fit_store(const char *model, const RecoTrainParams *params,
							   RecoTriplets *t, double read_seconds, int64 version_id,
							   const RecoUser *reader, struct RecoFitResult *out);

#endif
