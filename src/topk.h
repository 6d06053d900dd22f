/*
 * topk.h - scoring a catalogue and keeping the k best
 *
 * Plain C over float arrays and OpenBLAS; no PostgreSQL headers.
 */
#ifndef RECO_TOPK_H
#define RECO_TOPK_H

#include <stdint.h>

typedef struct TopkEntry
{
	float		score;
	int32_t		index;
} TopkEntry;

/*
 * scores[i] = x . (item i) for a factor-major catalogue: Yt is f x n
 * row-major, factor j of item i at Yt[j * n + i].  That layout lets BLAS
 * stream the matrix with axpy-shaped kernels, about twice as fast as a dot
 * product per item row.
 */
extern void topk_scores(const float *Yt, int32_t n, int f, const float *x,
						float *scores);

/* Transpose the n x f row-major Y into the f x n factor-major Yt */
extern void topk_transpose(const float *Y, int32_t n, int f, float *Yt);

/*
 * The k highest scores[i] whose bit in skip (may be NULL) is clear, best
 * first; ties go to the lower index and NaN scores are never chosen.
 * Returns how many entries were written to out (at most k).
 */
extern int	topk_select(const float *scores, int32_t n, const uint8_t *skip,
						int k, TopkEntry *out);

/* Bitmap helpers for skip */
static inline void
topk_bit_set(uint8_t *bits, int32_t i)
{
	bits[i >> 3] |= (uint8_t) (1u << (i & 7));
}

static inline int
topk_bit_test(const uint8_t *bits, int32_t i)
{
	return (bits[i >> 3] >> (i & 7)) & 1;
}

#endif
