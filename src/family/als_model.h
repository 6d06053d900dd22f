/*
 * family/als_model.h - what the ALS family keeps of a loaded version (in
 * RecoModel.fs) and the helpers its files share (als.c, als_resolve.c,
 * als_coldstart.c, and train.c's fit)
 */
#ifndef RECO_ALS_MODEL_H
#define RECO_ALS_MODEL_H

#include "model.h"
#include "train.h"

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

#endif
