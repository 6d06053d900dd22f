/*
 * explain.c - reco_explain: which of a user's past items make an item's
 * score
 *
 * The family says what contributes (family->explain): ALS decomposes the
 * score of the user's exact fold-in (als_explain), which is reco_score's
 * once an event has re-solved the user online; the mlp family names the
 * past items nearest to the item in the network's item space.
 */
#include "reco.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "model.h"
#include "family/family.h"
#include "storage.h"

PG_FUNCTION_INFO_V1(reco_explain);

typedef struct Contribution
{
	int64		item_id;
	float		value;
} Contribution;

static int
cmp_contribution(const void *a, const void *b)
{
	const Contribution *x = a;
	const Contribution *y = b;

	if (x->value != y->value)
		return x->value > y->value ? -1 : 1;
	return (x->item_id > y->item_id) - (x->item_id < y->item_id);
}

/*
 * reco_explain(user_id, item_id, model, k): the k past items contributing
 * most to the item's score for the user, with their share of it.
 */
Datum
reco_explain(PG_FUNCTION_ARGS)
{
	RecoUser	caller;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		user_id = PG_GETARG_INT64(0);
	int64		item_id = PG_GETARG_INT64(1);
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(2));
	int			k = PG_GETARG_INT32(3);
	RecoModel  *m;
	int32		idx;
	bool		isnull;
	Datum	   *items;
	Datum	   *weights;
	bool	   *nulls;
	int			n;
	int			known;
	int64	   *ids;
	float	   *hist_w;
	float	   *contrib;
	Contribution *c;
	double		total = 0.0;

	reco_check_k(k);
	InitMaterializedSRF(fcinfo, 0);
	caller = reco_become_owner();
	SPI_connect();
	m = reco_model_get(model);
	reco_require(m, "reco_explain", m->family->explain != NULL, false);
	idx = reco_model_known_item(m, item_id);

	if (!reco_storage_user(m->version_id, user_id))
	{
		/* a user the model has never seen: nothing explains their list */
		SPI_finish();
		reco_become(caller);
		return (Datum) 0;
	}
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
					  INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &items, &nulls, &n);
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)),
					  FLOAT4OID, 4, true, TYPALIGN_INT, &weights, &nulls, &n);

	/* the history a fold-in uses */
	ids = palloc(sizeof(int64) * Max(n, 1));
	hist_w = palloc(sizeof(float) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		ids[i] = DatumGetInt64(items[i]);
		hist_w[i] = DatumGetFloat4(weights[i]);
	}
	contrib = palloc(sizeof(float) * Max(n, 1));
	known = m->family->explain(m, user_id, ids, hist_w, n, idx, contrib);
	if (known == 0)
	{
		SPI_finish();
		reco_become(caller);
		return (Datum) 0;
	}
	c = palloc(sizeof(Contribution) * known);
	for (int i = 0; i < known; i++)
	{
		c[i].item_id = ids[i];
		c[i].value = contrib[i];
		total += contrib[i];
	}
	qsort(c, known, sizeof(Contribution), cmp_contribution);
	for (int i = 0; i < known && i < k; i++)
	{
		Datum		row[4];
		bool		rownulls[4] = {false, false, total == 0.0, false};

		row[0] = Int64GetDatum(c[i].item_id);
		row[1] = Float4GetDatum(c[i].value);
		row[2] = Float4GetDatum((float) (c[i].value / total));
		row[3] = Int32GetDatum(i + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, rownulls);
	}
	SPI_finish();
	reco_become(caller);
	return (Datum) 0;
}
