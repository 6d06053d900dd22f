/*
 * repeat.h - buying again: a repeat-purchase term a version blends with its
 * family's score when a customer's own items may be recommended
 * (exclude_seen => false) (repeat.c)
 *
 * For item j of customer u's history: p_j * log(1 + w_uj) * 2^(-age/half),
 * p_j the item's smoothed share of customers who bought it more than once,
 * w_uj the customer's summed weight for it, age its position from the end
 * of their history; added times weight x the largest |score| of the
 * customer.  weight and half are fitted in reco_train on each customer's
 * latest moment (their last order), with a model of the same family
 * trained on the rest: a shop whose items are never bought again gets
 * weight 0, no term.
 */
#ifndef RECO_REPEAT_H
#define RECO_REPEAT_H

#include "reco.h"

#include "model.h"
#include "params.h"
#include "train.h"

struct RecoFamily;

typedef struct RecoRepeat
{
	float		weight;			/* 0: no term */
	float		half;			/* recency half-life in history positions, 0: none */
	float		prior;			/* propensity of an item the fit did not see */
	int32		n;
	int64	   *ids;			/* ascending */
	int32	   *buyers;			/* customers of each */
	int32	   *again;			/* of whom bought it more than once */
	float	   *p;				/* propensity of each */
	RecoUserItems counted;		/* what each customer counted for: an item
								 * once, twice if bought again (stored with
								 * their row, so reco_forget_user can take
								 * them out of buyers and again) */
	double		ndcg_without;	/* validation nDCG@10 with weight 0 */
	double		ndcg_with;		/* and with the fitted term */
	int32		customers;		/* validation customers */
} RecoRepeat;

/*
 * Fit the term on t (every event, unmerged, with its time; left as it
 * was): false when there is nothing to fit (ratings, too few events, no
 * customer buying in the validation slice)
 */
extern bool reco_repeat_fit(const struct RecoFamily *family, const RecoTrainParams *params,
							RecoTriplets *t, RecoRepeat *out);

/* Store a fitted term with a version (blob "repeat"), and read it back */
extern void reco_repeat_store(int64 version_id, const RecoRepeat *r);
extern void reco_repeat_load(RecoModel *m);

/*
 * Take a forgotten customer out of a version's counts: counted is what
 * their row held (n ids, an item twice if bought again); an item left
 * without buyers leaves the term
 */
extern void reco_repeat_forget(int64 version_id, int64 *counted, int n);

/* Add the term to scores (every item of m) for a history (ids, w: n) */
extern void reco_repeat_apply(const RecoModel *m, const int64 *ids, const float *w, int n,
							  float *scores);

#endif
