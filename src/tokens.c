/*
 * tokens.c - hashed feature tokens from catalogue rows and profiles
 *
 * A token is "key=value" text hashed into a bucket (rn_hash): the shop's
 * own attribute keys need no schema, and an unseen value lands in some
 * bucket instead of failing.  Collisions are the price of a fixed table.
 */
#include "reco.h"

#include <ctype.h>
#include <math.h>

#include "catalog/pg_collation.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/numeric.h"

#include "core/recnet.h"
#include "tokens.h"

void
reco_tokens_init(RecoTokens *t, int32 buckets)
{
	t->cap = 16;
	t->n = 0;
	t->ids = palloc(sizeof(int32) * t->cap);
	t->buckets = buckets;
}

void
reco_tokens_add(RecoTokens *t, const char *key, const char *value, int len)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "%s=", key);
	appendBinaryStringInfo(&s, value, len);
	if (t->n == t->cap)
	{
		t->cap *= 2;
		t->ids = repalloc(t->ids, sizeof(int32) * t->cap);
	}
	t->ids[t->n++] = rn_hash(s.data, s.len, t->buckets);
	pfree(s.data);
}

/* One scalar under key; nested objects and nulls say nothing */
static void
add_scalar(RecoTokens *t, const char *key, JsonbValue *v)
{
	char	   *num;

	switch (v->type)
	{
		case jbvString:
			reco_tokens_add(t, key, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			num = DatumGetCString(DirectFunctionCall1(numeric_out,
													  NumericGetDatum(v->val.numeric)));
			reco_tokens_add(t, key, num, strlen(num));
			break;
		case jbvBool:
			reco_tokens_add(t, key, v->val.boolean ? "true" : "false",
							v->val.boolean ? 4 : 5);
			break;
		default:
			break;
	}
}

void
reco_tokens_jsonb(RecoTokens *t, Jsonb *attributes)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			depth = 0;

	if (attributes == NULL || !JB_ROOT_IS_OBJECT(attributes))
		return;
	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
			case WJB_BEGIN_ARRAY:
				depth++;
				break;
			case WJB_END_OBJECT:
			case WJB_END_ARRAY:
				depth--;
				break;
			case WJB_KEY:
				if (depth == 1)
					key = pnstrdup(v.val.string.val, v.val.string.len);
				break;
			case WJB_VALUE:
				if (depth == 1 && key != NULL)
					add_scalar(t, key, &v);
				break;
			case WJB_ELEM:
				/* elements of a top-level key's array */
				if (depth == 2 && key != NULL)
					add_scalar(t, key, &v);
				break;
			default:
				break;
		}
	}
}

/* Each word of a title, lower-cased: letters and digits, split on the rest */
static void
add_words(RecoTokens *t, text *title)
{
	char	   *s = str_tolower(VARDATA_ANY(title), VARSIZE_ANY_EXHDR(title),
								DEFAULT_COLLATION_OID);
	char	   *p = s;

	while (*p)
	{
		char	   *start;

		while (*p && !(isalnum((unsigned char) *p) || IS_HIGHBIT_SET(*p)))
			p++;
		start = p;
		while (*p && (isalnum((unsigned char) *p) || IS_HIGHBIT_SET(*p)))
			p++;
		if (p > start)
			reco_tokens_add(t, "title", start, p - start);
	}
	pfree(s);
}

void
reco_tokens_item(RecoTokens *t, text *category, text *brand, bool has_price,
				 double price, text *title, Jsonb *attributes)
{
	if (category != NULL)
		reco_tokens_add(t, "category", VARDATA_ANY(category), VARSIZE_ANY_EXHDR(category));
	if (brand != NULL)
		reco_tokens_add(t, "brand", VARDATA_ANY(brand), VARSIZE_ANY_EXHDR(brand));
	if (has_price)
	{
		/* doublings: 0-1, 1-3, 3-7 ... a shop's price scale */
		char		bucket[16];

		snprintf(bucket, sizeof(bucket), "%d", (int) floor(log2(1.0 + Max(price, 0.0))));
		reco_tokens_add(t, "price", bucket, strlen(bucket));
	}
	if (title != NULL)
		add_words(t, title);
	reco_tokens_jsonb(t, attributes);
}
