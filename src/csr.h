/*
 * csr.h - compressed sparse row interaction matrices
 *
 * Plain C, no PostgreSQL headers: the numerical core takes buffers that the
 * caller allocates.
 */
#ifndef RECO_CSR_H
#define RECO_CSR_H

#include <stdint.h>

typedef struct RecoCsr
{
	int32_t		nrows;
	int32_t		ncols;
	int64_t	   *indptr;			/* nrows + 1 offsets into indices/data */
	int32_t	   *indices;		/* column of each entry, ascending per row */
	float	   *data;			/* weight of each entry */
} RecoCsr;

/*
 * Build a CSR matrix from nnz (row, col, weight) triplets.  Duplicate cells
 * are summed, so repeated events accumulate.  out->indptr must hold nrows + 1
 * entries, out->indices and out->data nnz entries each.  Returns the number
 * of distinct cells.
 */
extern int64_t csr_from_triplets(int32_t nrows, int32_t ncols, int64_t nnz,
								 const int32_t *rows, const int32_t *cols,
								 const float *weights, RecoCsr *out);

/*
 * Transpose in into out; out->indptr must hold in->ncols + 1 entries,
 * out->indices and out->data as many entries as in has.
 */
extern void csr_transpose(const RecoCsr *in, RecoCsr *out);

/* Longest row of m (scratch buffers are sized by it). */
extern int64_t csr_max_row(const RecoCsr *m);

#endif
