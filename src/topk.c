/*
 * topk.c - catalogue scoring (one BLAS matrix-vector product) and a bounded
 * min-heap that keeps the k best eligible items
 */
#include "topk.h"

#include <stddef.h>

#include <cblas.h>
#undef I

void
topk_scores(const float *Yt, int32_t n, int f, const float *x, float *scores)
{
	cblas_sgemv(CblasRowMajor, CblasTrans, f, n, 1.0f, Yt, n, x, 1, 0.0f,
				scores, 1);
}

void
topk_transpose(const float *Y, int32_t n, int f, float *Yt)
{
	/* blocks of items keep both sides in cache */
	for (int32_t i0 = 0; i0 < n; i0 += 64)
	{
		int32_t		i1 = i0 + 64 < n ? i0 + 64 : n;

		for (int j = 0; j < f; j++)
			for (int32_t i = i0; i < i1; i++)
				Yt[(int64_t) j * n + i] = Y[(int64_t) i * f + j];
	}
}

/* a ranks below b: lower score, or equal score and higher index */
static inline int
worse(const TopkEntry *a, const TopkEntry *b)
{
	return a->score < b->score ||
		(a->score == b->score && a->index > b->index);
}

/* Restore the heap property below position i (the root holds the worst) */
static void
sift_down(TopkEntry *h, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1;
		int			m = i;
		TopkEntry	tmp;

		if (l < n && worse(&h[l], &h[m]))
			m = l;
		if (l + 1 < n && worse(&h[l + 1], &h[m]))
			m = l + 1;
		if (m == i)
			return;
		tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

int
topk_select(const float *scores, int32_t n, const uint8_t *skip, int k,
			TopkEntry *out)
{
	int			size = 0;

	if (k <= 0)
		return 0;
	for (int32_t i = 0; i < n; i++)
	{
		TopkEntry	e;

		/* once full, most items lose to the k-th best: test that first */
		if (size == k && !(scores[i] >= out[0].score))
			continue;			/* also drops NaN */
		if (skip != NULL && topk_bit_test(skip, i))
			continue;
		e.score = scores[i];
		e.index = i;
		if (e.score != e.score)	/* NaN */
			continue;
		if (size < k)
		{
			/* sift up */
			int			j = size++;

			out[j] = e;
			while (j > 0 && worse(&out[j], &out[(j - 1) / 2]))
			{
				TopkEntry	tmp = out[j];

				out[j] = out[(j - 1) / 2];
				out[(j - 1) / 2] = tmp;
				j = (j - 1) / 2;
			}
		}
		else if (worse(&out[0], &e))
		{
			out[0] = e;
			sift_down(out, size, 0);
		}
	}
	/* heap sort: repeatedly move the worst to the end, leaving best first */
	for (int end = size - 1; end > 0; end--)
	{
		TopkEntry	tmp = out[0];

		out[0] = out[end];
		out[end] = tmp;
		sift_down(out, end, 0);
	}
	return size;
}
