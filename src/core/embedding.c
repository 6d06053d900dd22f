/*
 * embedding.c - embedding tables with sparse, compact gradients (see nn.h)
 */
#include "nn.h"

#include <string.h>

#include <cblas.h>
#undef I						/* complex.h, pulled in by cblas.h */

void
nn_embedding_bind(NnEmbedding *e, int32_t rows, int dim, int32_t cap,
				  int nstate, NnArena *a)
{
	size_t		n = (size_t) rows * dim;

	e->rows = rows;
	e->dim = dim;
	e->cap = cap;
	e->ntouched = 0;
	e->table = nn_take(a, n);
	e->m = nstate >= 1 ? nn_take(a, n) : NULL;
	e->v = nstate >= 2 ? nn_take(a, n) : NULL;
	e->grad = nn_take(a, (size_t) cap * dim);
	if (e->m)
		memset(e->m, 0, n * sizeof(float));
	if (e->v)
		memset(e->v, 0, n * sizeof(float));
	e->steps = NULL;
	e->slot = NULL;
	e->touched = NULL;
}

void
nn_embedding_clear(NnEmbedding *e)
{
	for (int32_t r = 0; r < e->rows; r++)
		e->slot[r] = -1;
	e->ntouched = 0;
}

void
nn_embedding_zero_grad(NnEmbedding *e)
{
	for (int32_t k = 0; k < e->ntouched; k++)
		e->slot[e->touched[k]] = -1;
	e->ntouched = 0;
}

void
nn_embedding_forward(const NnEmbedding *e, int n, const int32_t *offsets,
					 const int32_t *ids, const float *weights, float *out,
					 int ldo)
{
	int			dim = e->dim;

	for (int i = 0; i < n; i++)
	{
		float	   *o = out + (size_t) i * ldo;
		int32_t		begin = offsets ? offsets[i] : i;
		int32_t		end = offsets ? offsets[i + 1] : i + 1;

		memset(o, 0, dim * sizeof(float));
		for (int32_t j = begin; j < end; j++)
			cblas_saxpy(dim, weights ? weights[j] : 1.0f,
						e->table + (size_t) ids[j] * dim, 1, o, 1);
	}
}

/* The compact gradient row of table row r, taken on first touch; NULL if full */
static float *
grad_row(NnEmbedding *e, int32_t r)
{
	int32_t		k = e->slot[r];

	if (k < 0)
	{
		if (e->ntouched >= e->cap)
			return NULL;
		k = e->ntouched++;
		e->slot[r] = k;
		e->touched[k] = r;
		memset(e->grad + (size_t) k * e->dim, 0, e->dim * sizeof(float));
	}
	return e->grad + (size_t) k * e->dim;
}

bool
nn_embedding_backward(NnEmbedding *e, int n, const int32_t *offsets,
					  const int32_t *ids, const float *weights,
					  const float *dout, int lddo)
{
	int			dim = e->dim;

	for (int i = 0; i < n; i++)
	{
		const float *d = dout + (size_t) i * lddo;
		int32_t		begin = offsets ? offsets[i] : i;
		int32_t		end = offsets ? offsets[i + 1] : i + 1;

		/* take every row of the bag first, so a bag is added whole or not at all */
		for (int32_t j = begin; j < end; j++)
			if (grad_row(e, ids[j]) == NULL)
				return false;
		for (int32_t j = begin; j < end; j++)
			cblas_saxpy(dim, weights ? weights[j] : 1.0f, d, 1,
						e->grad + (size_t) e->slot[ids[j]] * dim, 1);
	}
	return true;
}

void
nn_embedding_grad_dense(const NnEmbedding *e, float *dense)
{
	for (int32_t k = 0; k < e->ntouched; k++)
		cblas_saxpy(e->dim, 1.0f, e->grad + (size_t) k * e->dim, 1,
					dense + (size_t) e->touched[k] * e->dim, 1);
}
