/*
 * knn.h - item-item models on plain arrays: neighbourhoods (cosine, TF-IDF
 * or BM25 weighting, with shrinkage) and EASE (Steck 2019)
 *
 * Both give each item a short list of (neighbour, weight) pairs, and a
 * user's score for item j is the sum over their items i of w_ui * S[i][j].
 * No PostgreSQL headers: the caller hands in every buffer.
 */
#ifndef RECO_KNN_H
#define RECO_KNN_H

#include <stdbool.h>
#include <stdint.h>

#include "csr.h"
#include "topk.h"

typedef enum KnnWeighting
{
	KNN_COSINE,					/* the weights as they are, cosine */
	KNN_TFIDF,					/* sqrt(w) * idf of the user, cosine */
	KNN_BM25					/* BM25 with items as documents, dot product */
} KnnWeighting;

typedef struct KnnParams
{
	KnnWeighting weighting;
	int			neighbors;		/* kept per item */
	float		shrink;			/* S *= common / (common + shrink) */
	float		k1;				/* BM25 saturation */
	float		b;				/* BM25 length normalisation */
} KnnParams;

/*
 * Reweight the interactions in place: Xiu (items x users) and Xui (its
 * transpose) hold the same weights and get the same new ones; norm[i]
 * receives item i's Euclidean norm after weighting (1 for BM25).
 */
extern void knn_weight(const KnnParams *p, RecoCsr *Xiu, RecoCsr *Xui, float *norm);

/* What knn_neighbours needs per thread, for a catalogue of n items */
typedef struct KnnScratch
{
	float	   *acc;			/* n, zero between calls */
	int32_t    *common;			/* n, zero between calls */
	int32_t    *touched;		/* n */
	float	   *cand;			/* n */
	TopkEntry  *top;			/* neighbors */
} KnnScratch;

/*
 * Item i's neighbours by weighted co-occurrence: the p->neighbors best
 * other items with a positive similarity, best first, into nbr/sim
 * (unused slots: nbr -1, sim 0).
 */
extern void knn_neighbours(const KnnParams *p, const RecoCsr *Xiu, const RecoCsr *Xui,
						   const float *norm, int32_t i, KnnScratch *s,
						   int32_t *nbr, float *sim);

/* G (n x n) += X'X over users [begin, end): X'X is built in such pieces */
extern void knn_gram_add(const RecoCsr *Xui, int32_t n, float *G, int32_t begin, int32_t end);

/*
 * EASE: B = I - P diag(1/diag(P)) with P = (X'X + lambda I)^-1, B's
 * diagonal zero.  G (n x n, row-major) must hold X'X on entry and holds B
 * on return; false if X'X + lambda I is not positive definite.  poll() is
 * called between blocks of the inverse and may not return (the caller's
 * cancellation).
 */
extern bool knn_ease(float *G, int32_t n, float lambda, void (*poll) (void));

/*
 * The k entries of row (length n) largest in magnitude, skipping self,
 * best first, into nbr/sim (unused: -1, 0); cand (n) and top (k) are scratch
 */
extern void knn_row_top(const float *row, int32_t n, int32_t self, int k,
						float *cand, TopkEntry *top, int32_t *nbr, float *sim);

#endif
