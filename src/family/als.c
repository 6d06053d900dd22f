/*
 * family/als.c - the ALS family (als.h): its weight layout and how it is
 * fitted, stored, loaded and served
 *
 * A version stores each user's factors (with the explicit model's bias
 * components, als.h) and history, each item's factors and popularity, and
 * the blobs "gram" (Y'Y, what fold-ins solve against) and "mean" (the mean
 * rating of an explicit model).  A user's serving state is their factor
 * vector and a score is a dot product, so serving is the shared top-k scan
 * (topk.h).
 */
#include "reco.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "als.h"
#include "topk.h"

#include "family/family.h"
#include "family/als_model.h"
#include "storage.h"

/*
 * Read the item side of a version into m->mcxt: ids, popularity and the
 * factor-major matrix.  Factors must be native float4 and finite.
 */
static void
load_items(RecoModel *m, int64 expected)
{
	int			f = m->factors;
	float	   *Y = reco_model_read_items(m, expected, f);
	int32		n = m->n_items;

	als_model(m)->Yt = MemoryContextAllocHuge(m->mcxt, sizeof(float) * Max(n, 1) * f);
	topk_transpose(Y, n, f, als_model(m)->Yt);
	pfree(Y);
}

/*
 * Read what online updates need besides the items: the version's resolved
 * hyperparameters and its Gram matrix.
 */
static void
load_globals(RecoModel *m)
{
	bool		isnull;
	Datum		d;
	Size		bytes = sizeof(float) * m->factors * m->factors;

	reco_storage_globals(m->version_id, "gram");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	reco_parse_params("als", DatumGetJsonbP(d), NULL, &m->params);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
	{
		als_model(m)->gram = MemoryContextAlloc(m->mcxt, bytes);
		memcpy(als_model(m)->gram, reco_bytea_floats(d, (int64) m->factors * m->factors,
										  "the Gram matrix"), bytes);
	}
}

/*
 * A model fitted in memory (reco_fit), readable by everything that takes a
 * RecoModel: the item side as a cached version has it, the users served
 * from the fit itself.  Lives in the current memory context.
 */
RecoModel *
reco_model_from_fit(const RecoFit *fit, const RecoTrainParams *params)
{
	RecoModel  *m = palloc0(sizeof(RecoModel));

	m->family = &reco_family_als;
	m->fs = palloc0(sizeof(AlsModel));
	strlcpy(m->name, "(in memory)", sizeof(m->name));
	m->factors = fit->factors;
	m->n_items = (int32) fit->n_items;
	m->item_ids = fit->item_ids;
	m->popularity = fit->popularity;
	als_model(m)->Yt = palloc_extended(sizeof(float) * Max(fit->n_items, 1) * fit->factors, MCXT_ALLOC_HUGE);
	topk_transpose(fit->Y, m->n_items, m->factors, als_model(m)->Yt);
	als_model(m)->gram = fit->gram;
	m->params = *params;
	als_model(m)->fit = fit;
	m->mcxt = CurrentMemoryContext;
	return m;
}

/* The user's row of a model fitted in memory (see reco_model_user) */
static bool
fit_user(const RecoModel *m, int64 user_id, float *x, ArrayType **items)
{
	const RecoFit *fit = als_model(m)->fit;
	int64		u = reco_id_index(fit->user_ids, fit->n_users, user_id);

	if (u < 0)
		return false;
	memcpy(x, fit->X + u * fit->factors, sizeof(float) * fit->factors);
	if (items != NULL)
		*items = reco_csr_row_ids(&fit->Rui, u, fit->item_ids);
	return true;
}

/*
 * Fetch a user's factors into x and (if items is not NULL) a copy of the
 * items the user interacted with, in the caller's memory context (SPI would
 * otherwise leave it in the procedure's, for the rest of the call).  False
 * for a user the version has never seen, or whose events so far are all on
 * items that have no factors yet.
 */
bool
reco_model_user(RecoModel *m, int64 user_id, float *x, ArrayType **items)
{
	MemoryContext caller = CurrentMemoryContext;
	bool		isnull;
	bool		known = false;

	if (als_model(m)->fit != NULL)
		return fit_user(m, user_id, x, items);

	(void) reco_storage_user(m->version_id, user_id);
	MemoryContextSwitchTo(caller);
	if (SPI_processed == 1)
	{
		memcpy(x, reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												  1, &isnull), m->factors, "user factors"),
			   sizeof(float) * m->factors);
		/* a user whose events are all on items without factors yet: unknown */
		for (int j = 0; j < m->factors && !known; j++)
			known = x[j] != 0.0f;
		if (known && items != NULL)
			*items = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return known;
}

/*
 * The item factors item-major (n_items x factors), built on first use: a
 * fold-in gathers whole item rows, which the factor-major matrix scatters
 * over factors cache lines each.  Only backends that fold users in pay for
 * the copy.  A cache of the entry, which stays logically unchanged.
 */
static const float *
item_rows(const RecoModel *m)
{
	if (als_model(m)->Y_rows == NULL)
	{
		int			f = m->factors;
		int32		n = m->n_items;
		float	   *Y = MemoryContextAllocHuge(m->mcxt, sizeof(float) * Max(n, 1) * f);

		for (int j = 0; j < f; j++)
			for (int32 i = 0; i < n; i++)
				Y[(int64) i * f + j] = als_model(m)->Yt[(int64) j * n + i];
		als_model(m)->Y_rows = Y;
	}
	return als_model(m)->Y_rows;
}

/*
 * The rows a user's fold-in solves over: of the history (ids and weights,
 * least recent first), the latest "history" items, those the version
 * knows.  Their factors go to Yu (room for n x factors), their weights to w
 * and their ids to known_ids (may be NULL); returns how many.
 */
int
reco_model_history_rows(const RecoModel *m, const int64 *ids, const float *weights,
						int n, float *Yu, float *w, int64 *known_ids)
{
	const float *Y = item_rows(m);
	int			f = m->factors;
	int			known = 0;

	for (int i = Max(0, n - m->params.history); i < n; i++)
	{
		int32		idx = reco_model_item_index(m, ids[i]);

		if (idx < 0)
			continue;			/* a new item: reco_refresh gives it factors */
		memcpy(Yu + (int64) known * f, Y + (int64) idx * f, sizeof(float) * f);
		/* a customer's weight for an item counts up to max_weight */
		w[known] = m->params.explicit_ratings ? weights[i]
			: (float) Min(weights[i], m->params.max_weight);
		if (known_ids != NULL)
			known_ids[known] = ids[i];
		known++;
	}
	return known;
}

/* Score of one item for the user vector x (Yt: the model's Yt or Yt_unit) */
float
reco_model_score(const RecoModel *m, const float *Yt, int32 idx, const float *x)
{
	float		s = 0.0f;

	for (int j = 0; j < m->factors; j++)
		s += x[j] * Yt[(int64) j * m->n_items + idx];
	return s;
}

/* Copy one item's factors out of a factor-major matrix */
void
reco_model_item(const RecoModel *m, const float *Yt, int32 idx, float *out)
{
	for (int j = 0; j < m->factors; j++)
		out[j] = Yt[(int64) j * m->n_items + idx];
}

/* Item factors scaled to unit length (cosine similarity), built once */
const float *
reco_model_unit_items(RecoModel *m)
{
	int			f = m->factors;
	int32		n = m->n_items;

	/* a rating model's two bias components say nothing about likeness */
	int			latent = m->params.explicit_ratings ? m->params.als.factors : f;

	if (als_model(m)->Yt_unit == NULL)
	{
		float	   *u = MemoryContextAllocHuge(m->mcxt, sizeof(float) * Max(n, 1) * f);
		double	   *norm = palloc0(sizeof(double) * Max(n, 1));

		for (int j = 0; j < latent; j++)
			for (int32 i = 0; i < n; i++)
			{
				double		v = als_model(m)->Yt[(int64) j * n + i];

				norm[i] += v * v;
			}
		for (int32 i = 0; i < n; i++)
			norm[i] = norm[i] > 0.0 ? 1.0 / sqrt(norm[i]) : 0.0;
		for (int j = 0; j < f; j++)
			for (int32 i = 0; i < n; i++)
				u[(int64) j * n + i] = j < latent ? (float) (als_model(m)->Yt[(int64) j * n + i] * norm[i]) : 0.0f;
		pfree(norm);
		als_model(m)->Yt_unit = u;
	}
	return als_model(m)->Yt_unit;
}


/* family->fit_memory: reco_fit, served from the fit itself */
static RecoModel *
als_fit_memory(const RecoTrainParams *params, RecoTriplets *t, const char *what)
{
	RecoFit    *fit = palloc(sizeof(RecoFit));

	reco_fit(psprintf("the %s query's model", what), params, t, 0.0, fit);
	/* serving the fit needs the item factors transposed */
	reco_budget_charge(t->budget, (double) sizeof(float) * Max(fit->n_items, 1) * fit->factors,
					   "the fitted model's item matrix");
	return reco_model_from_fit(fit, params);
}

/* Read a stored version (family->load) */
static void
als_load(RecoModel *m, int64 n_items)
{
	m->fs = MemoryContextAllocZero(m->mcxt, sizeof(AlsModel));
	load_items(m, n_items);
	load_globals(m);
}

static int
als_user_floats(const RecoModel *m)
{
	return m->factors;
}

static RecoUserKind
als_user(RecoModel *m, int64 user_id, float *state, ArrayType **seen)
{
	return reco_model_user(m, user_id, state, seen) ? RECO_PERSONAL : RECO_STRANGER;
}

/* Dot products: the whole factor-major matrix at once, or item by item */
static void
als_score(RecoModel *m, const float *x, const int32 *idx, int n, float *scores)
{
	if (idx == NULL)
		topk_scores(als_model(m)->Yt, m->n_items, m->factors, x, scores);
	else
		for (int i = 0; i < n; i++)
			scores[i] = reco_model_score(m, als_model(m)->Yt, idx[i], x);
}

static const float *
als_unit_items(RecoModel *m, int *dim)
{
	*dim = m->factors;
	return reco_model_unit_items(m);
}

/* family->fold: the exact fold-in against the Gram matrix (als_fold_in) */
static bool
als_fold(const RecoModel *m, const int64 *ids, const float *w, int len, float *x,
		const char **why)
{
	int			f = m->factors;
	float	   *Yu = palloc(sizeof(float) * f * Max(len, 1));
	float	   *wu = palloc(sizeof(float) * Max(len, 1));
	float	   *y = palloc0(sizeof(float) * f);
	int			known = reco_model_history_rows(m, ids, w, len, Yu, wu, NULL);
	bool		ok = true;

	if (als_model(m)->gram == NULL)
	{
		*why = "the version has no Gram matrix";
		return false;
	}
	if (known > 0)
	{
		float	   *scratch = palloc(sizeof(float) * als_fold_in_floats(f, known));

		ok = als_fold_in(als_model(m)->gram, Yu, wu, known, NULL, &m->params.als, y, scratch);
		*why = "the solve is not positive definite";
		if (ok && !reco_floats_finite(y, f))
		{
			ok = false;
			*why = "the solve is not finite";
		}
	}
	if (ok)
		memcpy(x, y, sizeof(float) * f);
	return ok;
}

/* family->state: the exact fold-in of the events; the stored row plays no part */
static void
als_state(RecoModel *m, const float *row, const int64 *ids, const float *w, int n,
		  float *state)
{
	const char *why = NULL;

	memset(state, 0, sizeof(float) * m->factors);
	if (!als_fold(m, ids, w, n, state, &why))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the basket cannot be folded into model \"%s\": %s",
						reco_name_msg(m->name), why)));
	(void) row;
}

/*
 * family->refresh: every touched item re-solved exactly against its users
 * (als_resolve.c), untouched catalogue items given attribute vectors
 * (als_coldstart.c)
 */
static int64
als_refresh(RecoModel *m, Snapshot snap, RecoResolved *done)
{
	int64		events;
	int64		n_touched;
	int64		n_cold;
	int64	   *cold_ids;
	float	   *Ycold;
	int64	   *touched;

	events = reco_storage_pending_take(m->version_id, snap, &touched, &n_touched);
	n_cold = reco_cold_start(m, touched, n_touched, &cold_ids, &Ycold);
	if (n_touched > 0 || n_cold > 0)
		reco_resolve_items(m, touched, n_touched, cold_ids, Ycold, n_cold, done);
	return events;
}

/* family->explain: the fold-in's decomposition (als_explain) */
static int
als_explain_history(RecoModel *m, int64 user_id, int64 *ids, const float *w, int n,
					int32 idx, float *contrib)
{
	int			f = m->factors;
	float	   *Yu = palloc(sizeof(float) * f * Max(n, 1));
	float	   *wu = palloc(sizeof(float) * Max(n, 1));
	float	   *y = palloc(sizeof(float) * f);
	int			known;

	if (als_model(m)->gram == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" has no Gram matrix to explain scores with", reco_name_msg(m->name)),
				 errhint("Retrain the model with reco_train.")));
	known = reco_model_history_rows(m, ids, w, n, Yu, wu, ids);
	if (known == 0)
		return 0;
	reco_model_item(m, als_model(m)->Yt, idx, y);
	if (!als_explain(als_model(m)->gram, Yu, wu, known, y, &m->params.als, contrib,
					 palloc(sizeof(float) * als_explain_floats(f, known))))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the system of user %lld in model \"%s\" is not positive definite",
						(long long) user_id, reco_name_msg(m->name))));
	return known;
}

/* family->forget: the touched items re-solved exactly without the customer */
static void
als_forget(RecoModel *m, const int64 *items, int64 n, RecoResolved *out)
{
	reco_resolve_items(m, items, n, NULL, NULL, 0, out);
}

static int
als_row_floats(const RecoModel *m)
{
	return m->factors;
}

/* family->new_row: zeros, "nothing known" until the fold-in */
static void
als_new_row(RecoModel *m, int64 user_id, float *row)
{
	memset(row, 0, sizeof(float) * m->factors);
}

const RecoFamily reco_family_als = {
	.name = "als",
	.fit_store = reco_als_fit_store,
	.fit_memory = als_fit_memory,
	.load = als_load,
	.user_floats = als_user_floats,
	.user = als_user,
	.score = als_score,
	.state = als_state,
	.unit_items = als_unit_items,
	.row_floats = als_row_floats,
	.refresh = als_refresh,
	.forget = als_forget,
	.explain = als_explain_history,
	.new_row = als_new_row,
	.fold = als_fold,
};
