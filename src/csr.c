/*
 * csr.c - building and transposing sparse interaction matrices
 */
#include "csr.h"

#include <stdlib.h>
#include <string.h>

/* Sort one row's (col, weight) pairs by column: insertion sort for short rows */
static void
sort_row(int32_t *cols, float *w, int64_t n)
{
	for (int64_t i = 1; i < n; i++)
	{
		int32_t		c = cols[i];
		float		v = w[i];
		int64_t		j = i - 1;

		while (j >= 0 && cols[j] > c)
		{
			cols[j + 1] = cols[j];
			w[j + 1] = w[j];
			j--;
		}
		cols[j + 1] = c;
		w[j + 1] = v;
	}
}

/* Heap sort for long rows, keeping the total cost O(nnz log nnz) */
static void
sift_down(int32_t *cols, float *w, int64_t root, int64_t n)
{
	for (;;)
	{
		int64_t		child = 2 * root + 1;
		int32_t		tc;
		float		tw;

		if (child >= n)
			return;
		if (child + 1 < n && cols[child + 1] > cols[child])
			child++;
		if (cols[root] >= cols[child])
			return;
		tc = cols[root];
		cols[root] = cols[child];
		cols[child] = tc;
		tw = w[root];
		w[root] = w[child];
		w[child] = tw;
		root = child;
	}
}

static void
sort_row_long(int32_t *cols, float *w, int64_t n)
{
	if (n <= 32)
	{
		sort_row(cols, w, n);
		return;
	}
	for (int64_t i = n / 2 - 1; i >= 0; i--)
		sift_down(cols, w, i, n);
	for (int64_t end = n - 1; end > 0; end--)
	{
		int32_t		tc = cols[0];
		float		tw = w[0];

		cols[0] = cols[end];
		cols[end] = tc;
		w[0] = w[end];
		w[end] = tw;
		sift_down(cols, w, 0, end);
	}
}

int64_t
csr_from_triplets(int32_t nrows, int32_t ncols, int64_t nnz,
				  const int32_t *rows, const int32_t *cols,
				  const float *weights, RecoCsr *out)
{
	int64_t	   *indptr = out->indptr;
	int64_t		w;

	out->nrows = nrows;
	out->ncols = ncols;

	/* counting sort by row */
	memset(indptr, 0, sizeof(int64_t) * ((size_t) nrows + 1));
	for (int64_t i = 0; i < nnz; i++)
		indptr[rows[i] + 1]++;
	for (int32_t r = 0; r < nrows; r++)
		indptr[r + 1] += indptr[r];
	for (int64_t i = 0; i < nnz; i++)
	{
		int64_t		pos = indptr[rows[i]]++;

		out->indices[pos] = cols[i];
		out->data[pos] = weights[i];
	}
	/* indptr[r] now holds the end of row r: shift back */
	for (int32_t r = nrows; r > 0; r--)
		indptr[r] = indptr[r - 1];
	indptr[0] = 0;

	/* sort each row by column and merge duplicate cells in place */
	w = 0;
	for (int32_t r = 0; r < nrows; r++)
	{
		int64_t		start = indptr[r];
		int64_t		end = indptr[r + 1];

		sort_row_long(out->indices + start, out->data + start, end - start);
		indptr[r] = w;
		for (int64_t i = start; i < end; i++)
		{
			if (w > indptr[r] && out->indices[w - 1] == out->indices[i])
				out->data[w - 1] += out->data[i];
			else
			{
				out->indices[w] = out->indices[i];
				out->data[w] = out->data[i];
				w++;
			}
		}
	}
	indptr[nrows] = w;
	return w;
}

void
csr_transpose(const RecoCsr *in, RecoCsr *out)
{
	int64_t		nnz = in->indptr[in->nrows];

	out->nrows = in->ncols;
	out->ncols = in->nrows;
	memset(out->indptr, 0, sizeof(int64_t) * ((size_t) in->ncols + 1));
	for (int64_t i = 0; i < nnz; i++)
		out->indptr[in->indices[i] + 1]++;
	for (int32_t c = 0; c < in->ncols; c++)
		out->indptr[c + 1] += out->indptr[c];
	/* rows are visited in order, so each output row comes out sorted */
	for (int32_t r = 0; r < in->nrows; r++)
	{
		for (int64_t i = in->indptr[r]; i < in->indptr[r + 1]; i++)
		{
			int64_t		pos = out->indptr[in->indices[i]]++;

			out->indices[pos] = r;
			out->data[pos] = in->data[i];
		}
	}
	for (int32_t c = in->ncols; c > 0; c--)
		out->indptr[c] = out->indptr[c - 1];
	out->indptr[0] = 0;
}

int64_t
csr_max_row(const RecoCsr *m)
{
	int64_t		best = 0;

	for (int32_t r = 0; r < m->nrows; r++)
	{
		int64_t		len = m->indptr[r + 1] - m->indptr[r];

		if (len > best)
			best = len;
	}
	return best;
}
