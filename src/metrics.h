/*
 * metrics.h - ranking metrics of one user's recommendation list
 *
 * Plain C over float arrays; no PostgreSQL headers.  Definitions follow the
 * Microsoft Recommenders evaluation (binary relevance, the user's training
 * items excluded from the ranking) with MAP divided by the number of
 * relevant items (its "map"); the README writes them out.
 */
#ifndef RECO_METRICS_H
#define RECO_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "topk.h"

typedef struct MetricsUser
{
	int32_t		relevant;		/* |rel|, known to the model or not */
	int32_t		hits;			/* relevant items in the top k */
	double		precision;		/* hits / k */
	double		recall;			/* hits / relevant */
	double		ndcg;			/* DCG@k / ideal DCG@k */
	double		ap;				/* average precision@k over relevant */
	double		hit;			/* 1 if hits > 0 */
	double		rr;				/* 1 / rank of the first relevant candidate */
	double		auc;			/* pairs relevant > other candidate */
	bool		auc_valid;		/* false when no positive or no negative */
} MetricsUser;

/*
 * Metrics of one user.  scores holds all n items; candidates are the items
 * whose bit in skip is clear (skip marks training items).  rel lists the
 * distinct indexes of relevant items the model knows, ascending; relevant
 * counts those plus relevant items the model does not know.  The ranking is
 * by score, ties to the lower index, as topk_select orders it.  top receives
 * the top-k list (k entries of room) and *ntop its length; scratch needs n
 * floats.
 */
extern void metrics_user(const float *scores, int32_t n, const uint8_t *skip,
						 const int32_t *rel, int32_t nrel, int32_t relevant,
						 int k, TopkEntry *top, int *ntop, float *scratch,
						 MetricsUser *out);

/*
 * Rank of a held-out item scored pos among n sampled negatives (the NCF
 * protocol): 1 + the number of negatives scoring at least as high, so ties
 * count against the held-out item.
 */
extern int32_t metrics_sampled_rank(float pos, const float *neg, int32_t n);

#endif
