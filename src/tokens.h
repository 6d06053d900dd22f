/*
 * tokens.h - catalogue attributes and customer profiles as hashed feature
 * tokens (tokens.c), what the 'mlp' family embeds
 */
#ifndef RECO_TOKENS_H
#define RECO_TOKENS_H

#include "reco.h"

#include "utils/jsonb.h"

/* A growing list of bucket ids */
typedef struct RecoTokens
{
	int32	   *ids;
	int			n;
	int			cap;
	int32		buckets;
} RecoTokens;

extern void reco_tokens_init(RecoTokens *t, int32 buckets);
/* Add the bucket of the token "key=value" */
extern void reco_tokens_add(RecoTokens *t, const char *key, const char *value, int len);
/* Every top-level key of an object: scalars as key=value, arrays per element */
extern void reco_tokens_jsonb(RecoTokens *t, Jsonb *attributes);
/*
 * A catalogue row: category, brand, a price bucket (doublings), the words
 * of the title and the attributes; NULL columns add nothing
 */
extern void reco_tokens_item(RecoTokens *t, text *category, text *brand,
							 bool has_price, double price, text *title,
							 Jsonb *attributes);

#endif
