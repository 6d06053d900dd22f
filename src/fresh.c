/*
 * fresh.c - new products first (fresh.h)
 *
 * The Tmall case: a product added last week has few events, so a model
 * ranks it low however well it might sell.  A version trained with
 * fresh_days > 0 keeps, per backend, when each of its items entered the
 * catalogue (reco_item.created, read with the version), and serving adds
 * fresh_boost x the customer's largest |score| to those created within
 * fresh_days of the transaction's start.
 */
#include "reco.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "fresh.h"

void
reco_fresh_load(RecoModel *m)
{
	static RecoPlan plan;

	m->created = NULL;
	if (m->params.fresh_days <= 0.0)
		return;
	if (!reco_plan_ready(&plan))
		reco_plan_keep(&plan, psprintf("SELECT item_id, created FROM %s", reco_table("reco_item")),
					   0, NULL);
	if (SPI_execute_plan(plan.plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reco: catalogue dates query failed");
	m->created = MemoryContextAllocHuge(m->mcxt, sizeof(TimestampTz) * Max(m->n_items, 1));
	for (int32 i = 0; i < m->n_items; i++)
		m->created[i] = DT_NOBEGIN;		/* not in the catalogue: never fresh */
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int32		idx = reco_model_item_index(m, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
																				   SPI_tuptable->tupdesc, 1, &isnull)));

		if (idx >= 0)
			m->created[idx] = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[r],
																SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
}

/* The earliest creation time that is fresh now */
static TimestampTz
fresh_since(const RecoModel *m)
{
	return GetCurrentTransactionStartTimestamp() -
		(TimestampTz) (m->params.fresh_days * USECS_PER_DAY);
}

bool
reco_fresh_active(const RecoModel *m)
{
	return m->created != NULL && m->params.fresh_boost != 0.0;
}

void
reco_fresh_apply(const RecoModel *m, float *scores)
{
	TimestampTz since;
	float		scale = 0.0f;

	if (!reco_fresh_active(m))
		return;
	since = fresh_since(m);
	for (int32 i = 0; i < m->n_items; i++)
		scale = Max(scale, fabsf(scores[i]));
	for (int32 i = 0; i < m->n_items; i++)
		if (m->created[i] >= since)
			scores[i] += (float) m->params.fresh_boost * scale;
}

int32
reco_fresh_count(const RecoModel *m)
{
	TimestampTz since;
	int32		n = 0;

	if (m->created == NULL)
		return 0;
	since = fresh_since(m);
	for (int32 i = 0; i < m->n_items; i++)
		n += m->created[i] >= since;
	return n;
}
