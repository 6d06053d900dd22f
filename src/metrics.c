/*
 * metrics.c - ranking metrics of one user's recommendation list
 */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>

static int
cmp_float(const void *a, const void *b)
{
	float		x = *(const float *) a;
	float		y = *(const float *) b;

	return (x > y) - (x < y);
}

/* Is index i in the ascending list rel? */
static bool
in_list(const int32_t *rel, int32_t nrel, int32_t i)
{
	int32_t		lo = 0;
	int32_t		hi = nrel - 1;

	while (lo <= hi)
	{
		int32_t		mid = lo + (hi - lo) / 2;

		if (rel[mid] == i)
			return true;
		if (rel[mid] < i)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/* Number of the ascending floats v[0..n) that are < x, and that are <= x */
static void
count_below(const float *v, int32_t n, float x, int32_t *lt, int32_t *le)
{
	int32_t		lo = 0;
	int32_t		hi = n;

	while (lo < hi)
	{
		int32_t		mid = lo + (hi - lo) / 2;

		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	*lt = lo;
	hi = n;
	while (lo < hi)
	{
		int32_t		mid = lo + (hi - lo) / 2;

		if (v[mid] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	*le = lo;
}

void
metrics_user(const float *scores, int32_t n, const uint8_t *skip,
			 const int32_t *rel, int32_t nrel, int32_t relevant, int k,
			 TopkEntry *top, int *ntop, float *scratch, MetricsUser *out)
{
	int32_t		npos = 0;
	int32_t		nneg = 0;
	int32_t		best = -1;		/* the best-ranked relevant candidate */
	int32_t		best_rank = 0;
	double		dcg = 0.0;
	double		idcg = 0.0;
	double		pairs = 0.0;

	*out = (MetricsUser) {0};
	out->relevant = relevant;

	/* the top k, and the measures that only look at it */
	*ntop = topk_select(scores, n, skip, k, top);
	for (int r = 0; r < *ntop; r++)
		if (in_list(rel, nrel, top[r].index))
		{
			out->hits++;
			dcg += 1.0 / log2(r + 2.0);
			out->ap += (double) out->hits / (r + 1);
		}
	for (int r = 0; r < k && r < relevant; r++)
		idcg += 1.0 / log2(r + 2.0);
	out->precision = (double) out->hits / k;
	out->recall = relevant > 0 ? (double) out->hits / relevant : 0.0;
	out->ndcg = idcg > 0.0 ? dcg / idcg : 0.0;
	out->ap = relevant > 0 ? out->ap / relevant : 0.0;
	out->hit = out->hits > 0 ? 1.0 : 0.0;

	/* the other candidates' scores, sorted, place every relevant candidate */
	for (int32_t i = 0; i < n; i++)
		if (!(skip != NULL && topk_bit_test(skip, i)) && !in_list(rel, nrel, i))
			scratch[nneg++] = scores[i];
	qsort(scratch, nneg, sizeof(float), cmp_float);

	for (int32_t p = 0; p < nrel; p++)
	{
		int32_t		i = rel[p];
		int32_t		lt;
		int32_t		le;

		if (skip != NULL && topk_bit_test(skip, i))
			continue;
		npos++;
		count_below(scratch, nneg, scores[i], &lt, &le);
		pairs += lt + 0.5 * (le - lt);
		/* the first relevant item of the ranking: highest score, lowest index */
		if (best < 0 || scores[i] > scores[best])
			best = i;
	}

	/* its position: the other candidates above it, ties to the lower index */
	if (best >= 0)
	{
		int32_t		lt;
		int32_t		le;

		count_below(scratch, nneg, scores[best], &lt, &le);
		best_rank = 1 + (nneg - le);
		if (le > lt)
			for (int32_t j = 0; j < best; j++)
				if (scores[j] == scores[best] && !(skip != NULL && topk_bit_test(skip, j)) &&
					!in_list(rel, nrel, j))
					best_rank++;
	}
	out->rr = best_rank > 0 ? 1.0 / best_rank : 0.0;
	out->auc_valid = npos > 0 && nneg > 0;
	out->auc = out->auc_valid ? pairs / ((double) npos * nneg) : 0.0;
}

int32_t
metrics_sampled_rank(float pos, const float *neg, int32_t n)
{
	int32_t		rank = 1;

	for (int32_t i = 0; i < n; i++)
		if (neg[i] >= pos)
			rank++;
	return rank;
}
