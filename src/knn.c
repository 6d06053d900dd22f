/*
 * knn.c - item-item models on plain arrays (knn.h)
 */
#include "knn.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

/* LAPACK from OpenBLAS (Fortran calling convention) */
extern void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
extern void strtri_(const char *uplo, const char *diag, const int *n, float *a, const int *lda,
					int *info);
extern void slauum_(const char *uplo, const int *n, float *a, const int *lda, int *info);

/*
 * Columns between two polls of the caller: each block costs about n^2 x
 * BLOCK flops, so it narrows as the catalogue grows (about 2e10 flops, a
 * second on one core, from 9,000 items up; 16 columns at 35,000)
 */
#define POLL_FLOPS 2e10
#define MAX_BLOCK 256
#define MIN_BLOCK 16

void
knn_weight(const KnnParams *p, RecoCsr *Xiu, RecoCsr *Xui, float *norm)
{
	int32_t		ni = Xiu->nrows;
	int32_t		nu = Xui->nrows;
	double		avg = 0.0;
	int32_t		nonempty = 0;

	/* an item's length (BM25): the sum of its weights */
	for (int32_t i = 0; i < ni; i++)
	{
		double		len = 0.0;

		for (int64_t e = Xiu->indptr[i]; e < Xiu->indptr[i + 1]; e++)
			len += Xiu->data[e];
		norm[i] = (float) len;
		if (Xiu->indptr[i + 1] > Xiu->indptr[i])
		{
			avg += len;
			nonempty++;
		}
	}
	avg = nonempty > 0 ? avg / nonempty : 1.0;
	if (avg <= 0.0)
		avg = 1.0;

	/* user-major: a user's idf is over the items they touched */
	for (int32_t u = 0; u < nu; u++)
	{
		int64_t		df = Xui->indptr[u + 1] - Xui->indptr[u];
		double		idf = log((1.0 + ni) / (1.0 + df));

		for (int64_t e = Xui->indptr[u]; e < Xui->indptr[u + 1]; e++)
		{
			double		w = Xui->data[e];
			double		len = norm[Xui->indices[e]];

			switch (p->weighting)
			{
				case KNN_COSINE:
					break;
				case KNN_TFIDF:
					w = sqrt(w) * idf;
					break;
				case KNN_BM25:
					w = w * (p->k1 + 1.0) /
						(p->k1 * ((1.0 - p->b) + p->b * len / avg) + w) * idf;
					break;
			}
			Xui->data[e] = (float) w;
		}
	}
	csr_transpose(Xui, Xiu);
	for (int32_t i = 0; i < ni; i++)
	{
		double		ss = 0.0;

		for (int64_t e = Xiu->indptr[i]; e < Xiu->indptr[i + 1]; e++)
			ss += (double) Xiu->data[e] * Xiu->data[e];
		norm[i] = p->weighting == KNN_BM25 ? 1.0f : (float) sqrt(ss);
	}
}

void
knn_neighbours(const KnnParams *p, const RecoCsr *Xiu, const RecoCsr *Xui,
			   const float *norm, int32_t i, KnnScratch *s, int32_t *nbr, float *sim)
{
	int32_t		nt = 0;
	int			k = p->neighbors;
	int			got;
	int			kept = 0;

	for (int64_t e = Xiu->indptr[i]; e < Xiu->indptr[i + 1]; e++)
	{
		int32_t		u = Xiu->indices[e];
		float		xi = Xiu->data[e];

		for (int64_t f = Xui->indptr[u]; f < Xui->indptr[u + 1]; f++)
		{
			int32_t		j = Xui->indices[f];

			if (s->common[j] == 0)
				s->touched[nt++] = j;
			s->acc[j] += xi * Xui->data[f];
			s->common[j]++;
		}
	}
	for (int32_t t = 0; t < nt; t++)
	{
		int32_t		j = s->touched[t];
		double		v = s->acc[j];

		if (p->weighting != KNN_BM25)
			v = norm[i] > 0.0f && norm[j] > 0.0f ? v / ((double) norm[i] * norm[j]) : 0.0;
		if (p->shrink > 0.0f)
			v *= s->common[j] / (s->common[j] + (double) p->shrink);
		s->cand[t] = j == i ? NAN : (float) v;
		s->acc[j] = 0.0f;
		s->common[j] = 0;
	}
	got = topk_select(s->cand, nt, NULL, k, s->top);
	for (int r = 0; r < got; r++)
		if (s->top[r].score > 0.0f)
		{
			nbr[kept] = s->touched[s->top[r].index];
			sim[kept++] = s->top[r].score;
		}
	for (; kept < k; kept++)
	{
		nbr[kept] = -1;
		sim[kept] = 0.0f;
	}
}

void
knn_gram_add(const RecoCsr *Xui, int32_t n, float *G, int32_t begin, int32_t end)
{
	for (int32_t u = begin; u < end; u++)
		for (int64_t a = Xui->indptr[u]; a < Xui->indptr[u + 1]; a++)
		{
			float	   *row = G + (size_t) Xui->indices[a] * n;
			float		xa = Xui->data[a];

			for (int64_t b = Xui->indptr[u]; b < Xui->indptr[u + 1]; b++)
				row[Xui->indices[b]] += xa * Xui->data[b];
		}
}

/*
 * The inverse of the symmetric positive definite A (n x n; column-major
 * lower, which for a symmetric matrix is any layout) into its lower
 * triangle, as LAPACK's spotrf and spotri compute it, but in blocks of
 * columns with poll() between them: a large catalogue's inverse can be
 * cancelled.  False if A is not positive definite.
 */
static bool
spd_inverse(float *A, int n, void (*poll) (void))
{
	int			info = 0;
	double		fit = POLL_FLOPS / ((double) n * n);
	int			block = fit >= MAX_BLOCK ? MAX_BLOCK : fit <= MIN_BLOCK ? MIN_BLOCK : (int) fit;

	/* A = L L' (right-looking: each block column, then the trailing update) */
	for (int k = 0; k < n; k += block)
	{
		int			kb = n - k < block ? n - k : block;
		int			m = n - k - kb;
		float	   *Akk = A + k + (size_t) k * n;

		spotrf_("L", &kb, Akk, &n, &info);
		if (info != 0)
			return false;
		if (m > 0)
		{
			cblas_strsm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit,
						m, kb, 1.0f, Akk, n, Akk + kb, n);
			cblas_ssyrk(CblasColMajor, CblasLower, CblasNoTrans, m, kb, -1.0f, Akk + kb, n,
						1.0f, Akk + kb + (size_t) kb * n, n);
		}
		poll();
	}
	/* L := L^-1, block columns from the last: L21 := -L22^-1 L21 L11^-1 */
	for (int j = ((n - 1) / block) * block; j >= 0; j -= block)
	{
		int			jb = n - j < block ? n - j : block;
		int			m = n - j - jb;
		float	   *Ajj = A + j + (size_t) j * n;

		if (m > 0)
		{
			cblas_strmm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
						m, jb, 1.0f, Ajj + jb + (size_t) jb * n, n, Ajj + jb, n);
			cblas_strsm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit,
						m, jb, -1.0f, Ajj, n, Ajj + jb, n);
		}
		strtri_("L", "N", &jb, Ajj, &n, &info);
		if (info != 0)
			return false;
		poll();
	}
	/* A^-1 = L^-T L^-1, block rows from the first */
	for (int i = 0; i < n; i += block)
	{
		int			ib = n - i < block ? n - i : block;
		int			m = n - i - ib;
		float	   *Aii = A + i + (size_t) i * n;

		cblas_strmm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit,
					ib, i, 1.0f, Aii, n, A + i, n);
		slauum_("L", &ib, Aii, &n, &info);
		if (m > 0)
		{
			cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, ib, i, m, 1.0f,
						Aii + ib, n, A + i + ib, n, 1.0f, A + i, n);
			cblas_ssyrk(CblasColMajor, CblasLower, CblasTrans, ib, m, 1.0f, Aii + ib, n,
						1.0f, Aii, n);
		}
		poll();
	}
	return true;
}

bool
knn_ease(float *G, int32_t n, float lambda, void (*poll) (void))
{
	for (int32_t i = 0; i < n; i++)
		G[(size_t) i * n + i] += lambda;
	/* column-major lower is row-major upper: the inverse lands there */
	if (!spd_inverse(G, n, poll))
		return false;
	for (int32_t i = 0; i < n; i++)
		for (int32_t j = i + 1; j < n; j++)
			G[(size_t) j * n + i] = G[(size_t) i * n + j];
	/* column j of B is column j of P over -P_jj; P_jj is read before it goes */
	for (int32_t j = 0; j < n; j++)
	{
		float		d = G[(size_t) j * n + j];

		for (int32_t i = 0; i < n; i++)
			G[(size_t) i * n + j] = i == j ? 0.0f : -G[(size_t) i * n + j] / d;
	}
	return true;
}

void
knn_row_top(const float *row, int32_t n, int32_t self, int k, float *cand,
			TopkEntry *top, int32_t *nbr, float *sim)
{
	int			got;
	int			kept = 0;

	for (int32_t j = 0; j < n; j++)
		cand[j] = j == self ? NAN : fabsf(row[j]);
	got = topk_select(cand, n, NULL, k, top);
	for (int r = 0; r < got; r++)
		if (top[r].score > 0.0f)
		{
			nbr[kept] = top[r].index;
			sim[kept++] = row[top[r].index];
		}
	for (; kept < k; kept++)
	{
		nbr[kept] = -1;
		sim[kept] = 0.0f;
	}
}
