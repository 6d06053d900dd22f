/*
 * refresh.h - the item side catching up: items re-solved and published
 * (family/als_resolve.c), attribute vectors for untouched catalogue items
 * (family/als_coldstart.c): ALS's, used by family/als.c
 */
#ifndef RECO_REFRESH_H
#define RECO_REFRESH_H

#include "reco.h"

#include "model.h"

/* als_resolve.c: items of a version re-solved against its users, published */
typedef struct RecoResolved
{
	int64		items;			/* re-solved and kept */
	int64		new_items;		/* of those, new to the version */
	int64		removed;		/* left with no user: gone from the version */
	int64		cold_items;		/* given attribute vectors */
} RecoResolved;

extern void reco_resolve_items(RecoModel *m, const int64 *ids, int64 n,
							   const int64 *cold_ids, const float *Ycold,
							   int64 n_cold, RecoResolved *out);

/* als_coldstart.c: attribute vectors for untouched catalogue items */
extern int64 reco_cold_start(RecoModel *m, const int64 *skip, int64 nskip,
							 int64 **ids, float **Y);

#endif
