/*
 * family/als_coldstart.c - ALS: first vectors for catalogue items nobody has touched yet
 *
 * An item in reco_item without factors gets the mean, over its attribute
 * tokens (its category, its brand, the words of its title), of the mean
 * factors of the model's items that share each token.  reco_refresh stores
 * it as the item's factors and as its prior: once the item has interactions
 * its exact solve is regularised toward the prior instead of toward zero,
 * so the vector moves from attributes to behaviour smoothly.
 */
#include "reco.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "model.h"
#include "family/als_model.h"
#include "refresh.h"

#define TOKEN_LEN 48

typedef struct TokenMean
{
	char		token[TOKEN_LEN];	/* "c:", "b:" or "w:" and the text */
	int64		count;
	float	   *sum;			/* factors summed over the items with it */
} TokenMean;

typedef struct ColdItem
{
	int64		item_id;
	List	   *tokens;			/* of char * */
} ColdItem;

/* Append the tokens of one attribute: the whole value, or each word */
static List *
add_tokens(List *tokens, const char *prefix, const char *text, bool words)
{
	char		buf[TOKEN_LEN];
	int			len = 0;

	if (text == NULL)
		return tokens;
	for (const char *c = text;; c++)
	{
		bool		sep = (*c == '\0') || (words && !isalnum((unsigned char) *c));

		if (!sep && len < TOKEN_LEN - 3)
			buf[len++] = (char) tolower((unsigned char) *c);
		if (sep || *c == '\0')
		{
			if (len >= (words ? 2 : 1))
			{
				buf[len] = '\0';
				tokens = lappend(tokens, psprintf("%s%s", prefix, buf));
			}
			len = 0;
		}
		if (*c == '\0')
			break;
	}
	return tokens;
}

/* The tokens of a catalogue row (columns 2-4: category, brand, title) */
static List *
row_tokens(HeapTuple tup, TupleDesc desc)
{
	List	   *tokens = NIL;

	tokens = add_tokens(tokens, "c:", SPI_getvalue(tup, desc, 2), false);
	tokens = add_tokens(tokens, "b:", SPI_getvalue(tup, desc, 3), false);
	tokens = add_tokens(tokens, "w:", SPI_getvalue(tup, desc, 4), true);
	return tokens;
}

/*
 * Does the catalogue hold an item with no factors in m that is not in skip?
 * Reads only the ids, so a refresh with nothing new to cold-start skips the
 * attribute scan below.
 */
static bool
any_cold(RecoModel *m, const int64 *skip, int64 nskip)
{
	char	   *sql = psprintf("SELECT item_id FROM %s", reco_table("reco_item"));
	Portal		portal = SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL, true, 0);
	bool		found = false;

	for (int fetch = RECO_FETCH_FIRST; !found;)
	{
		if (reco_fetch(portal, &fetch) == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		for (uint64 r = 0; r < SPI_processed && !found; r++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
														 SPI_tuptable->tupdesc, 1, &isnull));

			found = reco_model_item_index(m, id) < 0 &&
				bsearch(&id, skip, nskip, sizeof(int64), reco_cmp_int64) == NULL;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	return found;
}

/*
 * Attribute vectors for the catalogue items that have no factors in m and
 * are not in skip (sorted ids about to get factors from data).  Returns how
 * many; *ids and *Y (n x f) are palloc'd in the current context.
 */
int64
reco_cold_start(RecoModel *m, const int64 *skip, int64 nskip, int64 **ids, float **Y)
{
	int			f = m->factors;
	char	   *sql = psprintf("SELECT item_id, category, brand, title FROM %s",
							   reco_table("reco_item"));
	HASHCTL		ctl;
	HTAB	   *means;
	List	   *cold = NIL;
	ListCell   *lc;
	float	   *y;
	int64		n = 0;
	Portal		portal;

	if (!any_cold(m, skip, nskip))
	{
		*ids = NULL;
		*Y = NULL;
		return 0;
	}

	ctl.keysize = TOKEN_LEN;
	ctl.entrysize = sizeof(TokenMean);
	ctl.hcxt = CurrentMemoryContext;
	means = hash_create("reco token means", 1024, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	portal = SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL, true, 0);
	for (int fetch = RECO_FETCH_FIRST;;)
	{
		if (reco_fetch(portal, &fetch) == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			int32		idx = reco_model_item_index(m, id);
			List	   *tokens = row_tokens(tup, desc);

			if (idx < 0)
			{
				ColdItem   *c;

				if (bsearch(&id, skip, nskip, sizeof(int64), reco_cmp_int64) != NULL)
					continue;
				c = palloc(sizeof(ColdItem));
				c->item_id = id;
				c->tokens = tokens;
				cold = lappend(cold, c);
				continue;
			}
			foreach(lc, tokens)
			{
				bool		found;
				TokenMean  *t = hash_search(means, lfirst(lc), HASH_ENTER, &found);

				if (!found)
				{
					t->count = 0;
					t->sum = palloc0(sizeof(float) * f);
				}
				t->count++;
				for (int j = 0; j < f; j++)
					t->sum[j] += als_model(m)->Yt[(int64) j * m->n_items + idx];
			}
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	*ids = palloc(sizeof(int64) * Max(list_length(cold), 1));
	*Y = palloc0(sizeof(float) * f * Max(list_length(cold), 1));
	foreach(lc, cold)
	{
		ColdItem   *c = lfirst(lc);
		ListCell   *tc;
		int			used = 0;

		y = *Y + n * f;
		foreach(tc, c->tokens)
		{
			TokenMean  *t = hash_search(means, lfirst(tc), HASH_FIND, NULL);

			if (t == NULL)
				continue;
			for (int j = 0; j < f; j++)
				y[j] += t->sum[j] / t->count;
			used++;
		}
		if (used == 0)
			continue;			/* nothing known about it: no vector yet */
		for (int j = 0; j < f; j++)
			y[j] /= used;
		(*ids)[n++] = c->item_id;
	}
	hash_destroy(means);
	return n;
}
