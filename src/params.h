/*
 * params.h - the hyperparameters of a model, from and to jsonb (params.c)
 */
#ifndef RECO_PARAMS_H
#define RECO_PARAMS_H

#include "reco.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#include "als.h"
#include "core/recnet.h"
#include "knn.h"

/* params.c: hyperparameters of a training run */
#define RECO_NKINDS 6

typedef enum RecoValueTransform
{
	RECO_VALUE_LINEAR,			/* the value as it is */
	RECO_VALUE_LOG,				/* sign(v) * ln(1 + |v|): damps quantities */
	RECO_VALUE_UNIT				/* sign(v): every event counts once */
} RecoValueTransform;

/* The 'mlp' family's hyperparameters (family/mlp.c, core/recnet.h) */
typedef struct RecoMlpParams
{
	RnShape		shape;			/* dim, hidden, activation, buckets (ids: the data's) */
	RnTrain		train;			/* loss, negatives, dropout, unknown_rate, l2, seed */
	NnOptKind	optimizer;
	double		learning_rate;
	double		weight_decay;	/* of the dense layers */
	int			batch_size;
	int			epochs;
	double		validation;		/* share of interactions held out for early stopping */
	int			patience;		/* epochs without a better validation loss */
	float		init_scale;		/* stddev of the starting embeddings */
	double		lr_decay;		/* learning rate factor per epoch */
	int			online_steps;	/* SGD steps per online event */
	double		online_rate;
} RecoMlpParams;

typedef struct RecoTrainParams
{
	char		family[16];		/* "als", "mlp", "itemknn" or "ease" (family/family.h) */
	AlsParams	als;
	RecoMlpParams mlp;
	KnnParams	knn;			/* itemknn; ease uses neighbors */
	double		ease_lambda;	/* EASE's L2 on the item-item weights */
	bool		explicit_ratings;	/* values are ratings to predict (als.h) */
	bool		cholesky;		/* exact solver instead of conjugate gradient */
	RecoValueTransform value;	/* applied to each event's value */
	double		weights[RECO_NKINDS];	/* per event kind, see reco_kind */
	int			history;		/* a fold-in solves over the latest this many items */
	double		max_weight;		/* cap on one customer's summed weight for an item */
	bool		repeat;			/* fit a buying-again term (repeat.h) */
	double		fresh_days;		/* items created within: boosted at serving (fresh.h) */
	double		fresh_boost;	/* times the customer's largest |score| */
	double		half_life;		/* seconds: events weigh 2^(-age/half_life); 0: off */
	double		dedup_window;	/* seconds: repeats of (user, item, kind) within it count once; 0: off */
	bool		has_origin;		/* half_life: the training recorded time_origin */
	TimestampTz time_origin;	/* half_life: ages count from here (the newest training event) */
} RecoTrainParams;

extern int	reco_kind(const char *kind, int len);
extern double reco_event_value(const RecoTrainParams *p, double value);
extern double reco_decay_factor(const RecoTrainParams *p, TimestampTz ts);
extern void reco_parse_params(const char *family, Jsonb *stored, Jsonb *given,
							  RecoTrainParams *out);
extern Jsonb *reco_params_jsonb(const RecoTrainParams *p);
extern const char *reco_params_family(Jsonb *given);

#endif
