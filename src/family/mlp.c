/*
 * family/mlp.c - the 'mlp' family: the seed's neural network as a
 * recommender (core/recnet.h), fitted by backpropagation with mini-batches
 *
 * Weight layout of a version:
 *   user row   [p_u | f_u | b_u]  id embedding, profile feature bag, bias
 *   item row   [q_i | f_i | b_i]  the same from the catalogue; an item of
 *                                 the catalogue without events carries the
 *                                 unknown item's q and b, so it is scored
 *                                 from its attributes alone
 *   blobs      "layers" (the dense layers, W then b each), "user_features"
 *              (the profile bucket table, to serve a customer from a
 *              profile), "item_features", "unknown" ([p_0 | b_0 | q_0 | b_0])
 *              and "mean"
 * A user's serving state is [side | b_u | h]: the side vector, the bias and
 * the user block's product with the first layer, so a ranking over the
 * catalogue is rn_score's GEMMs over the item-side products the cache
 * computed once (rn_item_side).  Above reco.shortlist items, a ranking
 * passes only the items the dot product ranks first through the layers.
 */
#include "reco.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "cblas.h"
#include "utils/guc.h"

#include "core/recnet.h"

#include "family/family.h"
#include "tokens.h"
#include "resources.h"
#include "storage.h"
#include "topk.h"

#define ZERO_SLICE ((size_t) 1 << 24)	/* floats: 64 MB */

/* What a loaded version keeps besides RecoModel's common part */
typedef struct MlpModel
{
	RnShape		shape;
	int			side;			/* 2 dim */
	float		mean;
	NnMlp		layers;
	float	   *sides0;			/* 1 + n_items rows x side: row 0 the unknown
								 * item, then the items (the rows the core's
								 * fold-in samples negatives from) */
	float	   *bias0;			/* 1 + n_items */
	float	   *item_sides;		/* sides0 + side: the items' rows */
	float	   *item_bias;		/* bias0 + 1 */
	float	   *P;				/* n_items x hidden[0] */
	float	   *user_features;	/* user_buckets x dim */
	float		unknown[2];		/* b_0 of users, of items */
	bool		clip;			/* a rating model: scores within range */
	float		range[2];
	float	   *unknown_user;	/* p_0 */
	float	   *unit;			/* dim x n_items, unit q, built lazily */
	float	   *item_dot;		/* n_items x dim, what a user's side meets in
								 * the dot product (q, or q + f with
								 * feature_dot), built by the first ranking */
	float	   *item_features;	/* item_buckets x dim, read by new_item_row */
	float	   *scratch;		/* rn_score's */
	struct MlpFit *fit;			/* a model fitted in memory: its users, or NULL */
} MlpModel;

/* Feature lists being gathered per entity row (row 0 has none) */
typedef struct FeatureBuild
{
	int32		nrows;
	int64	   *indptr;
	int32	   *ids;
	int64		n;
	int64		cap;
	RecoBudget *budget;
} FeatureBuild;

/* Set row's tokens (rows are visited in increasing order, gaps empty) */
static void
feature_row(FeatureBuild *fb, int32 row, const RecoTokens *tok)
{
	if (fb->n + tok->n > fb->cap)
	{
		int64		cap = Max(fb->cap * 2, fb->n + tok->n);
		int32	   *ids = reco_budget_alloc(fb->budget, sizeof(int32) * cap, "feature tokens");

		memcpy(ids, fb->ids, sizeof(int32) * fb->n);
		reco_budget_free(fb->budget, fb->ids, sizeof(int32) * fb->cap);
		fb->ids = ids;
		fb->cap = cap;
	}
	memcpy(fb->ids + fb->n, tok->ids, sizeof(int32) * tok->n);
	fb->n += tok->n;
	fb->indptr[row + 1] = fb->n;
}

static void
feature_init(FeatureBuild *fb, int32 nrows, RecoBudget *budget)
{
	fb->nrows = nrows;
	fb->budget = budget;
	fb->indptr = reco_budget_alloc(budget, sizeof(int64) * (nrows + 1), "feature rows");
	memset(fb->indptr, 0, sizeof(int64) * (nrows + 1));
	fb->cap = 1024;
	fb->n = 0;
	fb->ids = reco_budget_alloc(budget, sizeof(int32) * fb->cap, "feature tokens");
}

/* Rows without tokens of their own end where the previous one did */
static RnFeatures
feature_done(FeatureBuild *fb)
{
	RnFeatures	f;

	for (int32 r = 1; r <= fb->nrows; r++)
		fb->indptr[r] = Max(fb->indptr[r], fb->indptr[r - 1]);
	f.nrows = fb->nrows;
	f.indptr = fb->indptr;
	f.ids = fb->ids;
	return f;
}

/*
 * The catalogue, read as the trainer (row security applies), as tokens:
 * warm gets those of the event items (event_ids, sorted) by row 1 + index;
 * the catalogue's items without events go to *cold_ids (sorted), their
 * tokens to cold by index.  Those join the version scored from their
 * attributes, but training never sees them: as sampled negatives they
 * would teach the network that the features of new items mean "no".
 */
static void
read_catalogue(const int64 *event_ids, int32 n_event, int32 buckets, RecoBudget *budget,
			   RnFeatures *warm, int64 **cold_ids, int32 *ncold, RnFeatures *cold)
{
	Portal		portal;
	int64	   *cat_ids = NULL;
	RecoTokens *cat_tok = NULL;
	int32		ncat = 0;
	int32		cap = 1024;
	int32		nc = 0;
	FeatureBuild fw;
	FeatureBuild fc;
	MemoryContext rows = AllocSetContextCreate(CurrentMemoryContext, "reco catalogue",
											   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = CurrentMemoryContext;

	cat_ids = palloc(sizeof(int64) * cap);
	cat_tok = palloc(sizeof(RecoTokens) * cap);
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT item_id, category, brand, price::pg_catalog.float8, "
												"title, attributes FROM %s ORDER BY item_id",
												reco_table("reco_item")),
									   0, NULL, NULL, NULL, true, 0);
	for (int fetch = RECO_FETCH_FIRST;;)
	{
		if (reco_fetch(portal, &fetch) == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(rows);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		nul[6];
			Datum		d[6];

			for (int c = 0; c < 6; c++)
				d[c] = SPI_getbinval(tup, desc, c + 1, &nul[c]);
			if (ncat == cap)
			{
				MemoryContextSwitchTo(old);
				cap *= 2;
				cat_ids = repalloc_huge(cat_ids, sizeof(int64) * cap);
				cat_tok = repalloc_huge(cat_tok, sizeof(RecoTokens) * cap);
				MemoryContextSwitchTo(rows);
			}
			cat_ids[ncat] = DatumGetInt64(d[0]);
			reco_tokens_init(&cat_tok[ncat], buckets);
			reco_tokens_item(&cat_tok[ncat],
							 nul[1] ? NULL : DatumGetTextPP(d[1]),
							 nul[2] ? NULL : DatumGetTextPP(d[2]),
							 !nul[3], nul[3] ? 0.0 : DatumGetFloat8(d[3]),
							 nul[4] ? NULL : DatumGetTextPP(d[4]),
							 nul[5] ? NULL : DatumGetJsonbP(d[5]));
			ncat++;
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	/* both lists are sorted: one pass splits the catalogue */
	*cold_ids = reco_budget_alloc(budget, sizeof(int64) * Max(ncat, 1), "item ids");
	for (int32 a = 0; a < ncat; a++)
		if ((int32) reco_id_index(event_ids, n_event, cat_ids[a]) < 0)
			nc++;
	feature_init(&fw, n_event + 1, budget);
	feature_init(&fc, nc, budget);
	nc = 0;
	for (int32 a = 0; a < ncat; a++)
	{
		int32		row = (int32) reco_id_index(event_ids, n_event, cat_ids[a]);

		if (row >= 0)
			feature_row(&fw, row + 1, &cat_tok[a]);
		else
		{
			(*cold_ids)[nc] = cat_ids[a];
			feature_row(&fc, nc++, &cat_tok[a]);
		}
	}
	*warm = feature_done(&fw);
	*cold = feature_done(&fc);
	*ncold = nc;
	MemoryContextDelete(rows);
	pfree(cat_ids);
	pfree(cat_tok);
}

/*
 * The customers' features: the tokens of their profiles, read as the
 * trainer; ids are the version's users (sorted)
 */
static RnFeatures
read_profiles(const int64 *ids, int32 n, int32 buckets, RecoBudget *budget)
{
	FeatureBuild fb;
	Portal		portal;
	MemoryContext rows = AllocSetContextCreate(CurrentMemoryContext, "reco profiles",
											   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(rows);
	RecoTokens *tok = palloc(sizeof(RecoTokens) * Max(n, 1));

	for (int32 u = 0; u < n; u++)
		reco_tokens_init(&tok[u], buckets);
	MemoryContextSwitchTo(old);
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT user_id, attributes FROM %s ORDER BY user_id",
												reco_table("reco_user")),
									   0, NULL, NULL, NULL, true, 0);
	for (int fetch = RECO_FETCH_FIRST;;)
	{
		if (reco_fetch(portal, &fetch) == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			int32		u = (int32) reco_id_index(ids, n,
									DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
																SPI_tuptable->tupdesc, 1, &isnull)));

			if (u < 0)
				continue;		/* served from the profile later, if ever */
			old = MemoryContextSwitchTo(rows);
			reco_tokens_jsonb(&tok[u], DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[i],
																	SPI_tuptable->tupdesc, 2, &isnull)));
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	feature_init(&fb, n + 1, budget);
	for (int32 u = 0; u < n; u++)
		feature_row(&fb, u + 1, &tok[u]);
	MemoryContextDelete(rows);
	return feature_done(&fb);
}

/*
 * Bind the network for training: count, charge the budget, allocate once
 * (the block zeroed: optimizer state and step counts start at 0), bind
 */
static void *
bind_training(RnNet *net, const RnShape *shape, int batch_cap, int nstate, RecoBudget *b)
{
	NnArena		a = {NULL, 0, 0};
	float	   *base;

	rn_bind(net, shape, batch_cap, nstate, &a);
	base = reco_budget_alloc(b, sizeof(float) * (a.used + 16), "the network");
	a.base = (float *) TYPEALIGN(64, base);
	a.cap = a.used;
	a.used = 0;
	rn_bind(net, shape, batch_cap, nstate, &a);
	/* zeroed in slices: a big network's block takes seconds */
	for (size_t done = 0; done < a.used; done += ZERO_SLICE)
	{
		CHECK_FOR_INTERRUPTS();
		memset(a.base + done, 0, sizeof(float) * Min(ZERO_SLICE, a.used - done));
	}
	rn_clear(net);
	return base;
}

/* The dense layers in order, W then b each: the "layers" blob */
static Size
layers_floats(const NnMlp *m)
{
	Size		n = 0;

	for (int l = 0; l < m->nlayers; l++)
		n += (Size) m->layer[l].in * m->layer[l].out + m->layer[l].out;
	return n;
}

static void
layers_copy(NnMlp *m, float *buf, bool out)
{
	for (int l = 0; l < m->nlayers; l++)
	{
		NnDense    *d = &m->layer[l];
		Size		w = (Size) d->in * d->out;

		if (out)
		{
			memcpy(buf, d->W.w, sizeof(float) * w);
			memcpy(buf + w, d->b.w, sizeof(float) * d->out);
		}
		else
		{
			memcpy(d->W.w, buf, sizeof(float) * w);
			memcpy(d->b.w, buf + w, sizeof(float) * d->out);
		}
		buf += w + d->out;
	}
}

/*
 * Validation: RMSE of ratings, or for implicit feedback 1 - AUC against
 * sampled negatives (lower is better either way)
 */
static double
validate(RnNet *net, const RecoMlpParams *p, bool rated, int64 nval, const int32 *users,
		 const int32 *items, const float *targets, const RnFeatures *uf,
		 const RnFeatures *itf, float *y, int32 *u2, int32 *i2, int32 *neg)
{
	double		sum = 0.0;
	int			k = p->train.negatives;
	int			chunk = net->batch_cap / (1 + k);

	for (int64 s = 0; s < nval; s += chunk)
	{
		int			n = (int) Min(chunk, nval - s);

		CHECK_FOR_INTERRUPTS();
		if (rated)
		{
			rn_predict(net, n, users + s, items + s, uf, itf, y);
			for (int i = 0; i < n; i++)
				sum += (y[i] - targets[s + i]) * (y[i] - targets[s + i]);
			continue;
		}
		/* positives, then their negatives (drawn over rows 1 ..) */
		for (int i = 0; i < n; i++)
			i2[i] = items[s + i] - 1;
		nn_sample_negatives(n, k, i2, net->shape.n_items - 1, p->train.seed, UINT64_C(1) << 40, s,
							neg);
		for (int i = 0; i < n; i++)
		{
			u2[i] = users[s + i];
			i2[i] = items[s + i];
			for (int j = 0; j < k; j++)
			{
				u2[n + i * k + j] = users[s + i];
				i2[n + i * k + j] = neg[i * k + j] + 1;
			}
		}
		rn_predict(net, n * (1 + k), u2, i2, uf, itf, y);
		for (int i = 0; i < n; i++)
		{
			double		below = 0.0;

			for (int j = 0; j < k; j++)
				below += y[n + i * k + j] < y[i] ? 1.0 : y[n + i * k + j] == y[i] ? 0.5 : 0.0;
			sum += below / k;
		}
	}
	return rated ? sqrt(sum / Max(nval, 1)) : 1.0 - sum / Max(nval, 1);
}

/* A trained network and what it was trained on (mlp_fit) */
typedef struct MlpFit
{
	RnNet		net;
	RnShape		shape;
	bool		rated;
	float		range[2];		/* of the ratings */
	int64	   *user_ids;		/* ascending; row u + 1 of the net */
	int32		nu;
	int64	   *item_ids;		/* the items with events, ascending; row i + 1 */
	int32		ni;
	int64	   *cold_ids;		/* the catalogue's others, ascending */
	int32		ncold;
	RnFeatures	uf;
	RnFeatures	itf;
	RnFeatures	cold;			/* the cold items' tokens, by index */
	float	   *popularity;		/* of the items with events */
	RecoCsr		Rui;			/* the interactions, by dense user and item */
	int64		n;
	double		loss;
	char	   *losses;
	int			epochs;
	double		seconds;
} MlpFit;

/*
 * Train the network on the run's interactions, the catalogue and the
 * profiles (read as reader); what names the run in messages.  Every large
 * buffer is charged to t->budget.
 */
static void
mlp_fit(const char *what, const RecoTrainParams *params, RecoTriplets *t,
		const RecoUser *reader, MlpFit *f)
{
	const RecoMlpParams *p = &params->mlp;
	bool		rated = params->explicit_ratings;
	RecoBudget *b = t->budget;
	RnShape		shape = p->shape;
	RnNet		net;
	NnOptim		opt;
	NnRng		rng;
	int64		n;
	int64	   *user_ids;
	int32		nu = 0;
	int64	   *event_items;
	int32		ne = 0;
	int64	   *item_ids;
	int32		ni;
	int64	   *cold_ids;
	int32		ncold;
	RnFeatures	cold;
	RnFeatures	uf;
	RnFeatures	itf;
	int32	   *users;
	int32	   *items;
	float	   *targets;
	int64	   *order;
	int64		ntrain;
	int64		nval;
	int			k = rated ? 0 : p->train.negatives;
	int			batch_cap = p->batch_size * (1 + k);
	float	   *y;
	int32	   *u2;
	int32	   *i2;
	int32	   *neg;
	float	   *popularity;
	double		best = INFINITY;
	double		last_loss = 0.0;
	int			stale = 0;
	int			epoch;
	StringInfoData losses;
	instr_time	start;
	RnTrain		tp = p->train;
	RecoCsr		Rui;
	RecoUser	me = reco_current_user();
	float		mean = 0.0f;
	float		range[2] = {INFINITY, -INFINITY};

	INSTR_TIME_SET_CURRENT(start);
	if (t->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no interactions to train %s on", what),
				 errhint("Insert events first, and check that their kinds have a non-zero weight.")));
	reco_triplets_merge(t, rated, NULL);
	n = t->n;
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no interactions with a positive weight to train %s on", what)));
	if (n > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("an \"mlp\" model trains on at most %d interactions", INT_MAX)));

	/* dense ids: users in order, items from the events and the catalogue */
	user_ids = reco_budget_alloc(b, sizeof(int64) * n, "user ids");
	event_items = reco_budget_alloc(b, sizeof(int64) * n, "item ids");
	for (int64 i = 0; i < n; i++)
	{
		if (nu == 0 || user_ids[nu - 1] != t->rows[i].user)
			user_ids[nu++] = t->rows[i].user;
		event_items[i] = t->rows[i].item;
		mean += (t->rows[i].weight - mean) / (float) (i + 1);
		range[0] = Min(range[0], t->rows[i].weight);
		range[1] = Max(range[1], t->rows[i].weight);
	}
	qsort(event_items, n, sizeof(int64), reco_cmp_int64);
	for (int64 i = 0; i < n; i++)
		if (ne == 0 || event_items[ne - 1] != event_items[i])
			event_items[ne++] = event_items[i];

	/* features, read as the trainer */
	reco_become(*reader);
	read_catalogue(event_items, ne, shape.item_buckets, b, &itf, &cold_ids, &ncold, &cold);
	uf = read_profiles(user_ids, nu, shape.user_buckets, b);
	reco_become(me);

	item_ids = event_items;
	ni = ne;
	shape.n_users = nu + 1;
	shape.n_items = ni + 1;
	users = reco_budget_alloc(b, sizeof(int32) * n, "examples");
	items = reco_budget_alloc(b, sizeof(int32) * n, "examples");
	targets = reco_budget_alloc(b, sizeof(float) * n, "examples");
	popularity = reco_budget_alloc(b, sizeof(float) * ni, "popularity");
	memset(popularity, 0, sizeof(float) * ni);
	Rui.nrows = nu;
	Rui.ncols = ni;
	Rui.indptr = reco_budget_alloc(b, sizeof(int64) * (nu + 1), "interactions");
	Rui.indices = reco_budget_alloc(b, sizeof(int32) * n, "interactions");
	Rui.data = reco_budget_alloc(b, sizeof(float) * n, "interactions");
	Rui.indptr[0] = 0;
	for (int64 i = 0, u = -1; i < n; i++)
	{
		int32		it = (int32) reco_id_index(item_ids, ni, t->rows[i].item);

		if (u < 0 || user_ids[u] != t->rows[i].user)
			u++;
		users[i] = (int32) u + 1;
		items[i] = it + 1;
		targets[i] = rated ? t->rows[i].weight : 1.0f;
		popularity[it] += 1.0f;
		Rui.indices[i] = it;
		Rui.data[i] = t->rows[i].weight;
		Rui.indptr[u + 1] = i + 1;
	}

	/* a seeded shuffle; the tail is the validation split */
	order = reco_budget_alloc(b, sizeof(int64) * n, "example order");
	for (int64 i = 0; i < n; i++)
		order[i] = i;
	rng.state = p->train.seed;
	for (int64 i = n - 1; i > 0; i--)
	{
		int64		j = (int64) (nn_rng_next(&rng) % (uint64) (i + 1));
		int64		tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	nval = n >= 20 ? (int64) floor(p->validation * n) : 0;
	ntrain = n - nval;
	{
		/* examples in shuffled order: batches and the split read them in place */
		int32	   *su = reco_budget_alloc(b, sizeof(int32) * n, "examples");
		int32	   *si = reco_budget_alloc(b, sizeof(int32) * n, "examples");
		float	   *st = reco_budget_alloc(b, sizeof(float) * n, "examples");

		for (int64 i = 0; i < n; i++)
		{
			su[i] = users[order[i]];
			si[i] = items[order[i]];
			st[i] = targets[order[i]];
		}
		users = su;
		items = si;
		targets = st;
	}

	nn_optim_init(&opt, p->optimizer, p->learning_rate);
	opt.weight_decay = p->weight_decay;
	(void) bind_training(&net, &shape, batch_cap, nn_optim_state(&opt), b);
	rng.state = p->train.seed;
	rn_init(&net, rated ? mean : 0.0f, p->init_scale, &rng);
	y = reco_budget_alloc(b, sizeof(float) * batch_cap, "validation");
	u2 = reco_budget_alloc(b, sizeof(int32) * batch_cap, "validation");
	i2 = reco_budget_alloc(b, sizeof(int32) * batch_cap, "validation");
	neg = reco_budget_alloc(b, sizeof(int32) * batch_cap, "validation");

	initStringInfo(&losses);
	for (epoch = 0; epoch < p->epochs; epoch++)
	{
		double		total = 0.0;
		int64		batches = 0;
		double		metric;

		/* each epoch its own order of the training part */
		for (int64 i = ntrain - 1; i > 0; i--)
		{
			int64		j = (int64) (nn_rng_next(&rng) % (uint64) (i + 1));
			int32		tu = users[i],
						ti = items[i];
			float		tt = targets[i];

			users[i] = users[j];
			items[i] = items[j];
			targets[i] = targets[j];
			users[j] = tu;
			items[j] = ti;
			targets[j] = tt;
		}
		for (int64 s = 0; s < ntrain; s += p->batch_size)
		{
			int			bn = (int) Min(p->batch_size, ntrain - s);

			CHECK_FOR_INTERRUPTS();
			total += rn_step(&net, &tp, &opt, bn, users + s, items + s,
							 rated ? targets + s : NULL, &uf, &itf,
							 (uint64) epoch * (uint64) (ntrain / Max(p->batch_size, 1) + 1) + batches);
			batches++;
		}
		last_loss = total / Max(batches, 1);
		opt.lr *= p->lr_decay;
		if (!isfinite(last_loss))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("training %s diverged at epoch %d", what, epoch + 1),
					 errdetail("Nothing was stored; the version served is unchanged."),
					 errhint("Lower \"learning_rate\".")));
		appendStringInfo(&losses, "%s%.6g", epoch ? ", " : "", last_loss);
		metric = nval > 0 ? validate(&net, p, rated, nval, users + ntrain, items + ntrain,
									 targets + ntrain, &uf, &itf, y, u2, i2, neg) : NAN;
		if (reco_progress)
			ereport(NOTICE,
					(errmsg("reco: %s epoch %d: loss %.5f, validation %s %.5f, %.1f s",
							what, epoch + 1, last_loss, rated ? "rmse" : "auc",
							rated ? metric : 1.0 - metric, reco_seconds_since(start))));
		if (nval > 0)
		{
			if (metric < best - 1e-6)
			{
				best = metric;
				stale = 0;
			}
			else if (++stale >= p->patience)
			{
				epoch++;
				break;
			}
		}
	}

	f->net = net;
	f->shape = shape;
	f->rated = rated;
	f->range[0] = range[0];
	f->range[1] = range[1];
	f->user_ids = user_ids;
	f->nu = nu;
	f->item_ids = item_ids;
	f->ni = ni;
	f->cold_ids = cold_ids;
	f->ncold = ncold;
	f->uf = uf;
	f->itf = itf;
	f->cold = cold;
	f->popularity = popularity;
	f->Rui = Rui;
	f->n = n;
	f->loss = last_loss;
	f->losses = losses.data;
	f->epochs = epoch;
	f->seconds = reco_seconds_since(start);
}

/*
 * The rows [q | f | b] of every item of a fit: those with events, then the
 * catalogue's others as the unknown item with their own features; *ids
 * gets their ids in that order
 */
static float *
mlp_item_rows(const MlpFit *f, RecoBudget *b, int64 **ids)
{
	int			side = 2 * f->shape.dim;
	int32		ni = f->ni;
	int32		ncold = f->ncold;
	float	   *rows = reco_budget_alloc(b, sizeof(float) * (Size) Max(ni + ncold, 1) * (side + 1),
										 "item rows");

	for (int32 i = 0; i < ni; i++)
	{
		float	   *r = rows + (Size) i * (side + 1);

		rn_side_vector(&f->net, false, i + 1, &f->itf, r);
		r[side] = f->net.item_bias.table[i + 1];
	}
	for (int32 c = 0; c < ncold; c++)
	{
		float	   *r = rows + (Size) (ni + c) * (side + 1);

		memcpy(r, f->net.item.table, sizeof(float) * f->shape.dim);
		rn_feature_bag(f->net.item_feat.table, f->shape.dim, f->cold.ids + f->cold.indptr[c],
					   (int) (f->cold.indptr[c + 1] - f->cold.indptr[c]), r + f->shape.dim);
		r[side] = f->net.item_bias.table[0];
	}
	*ids = reco_budget_alloc(b, sizeof(int64) * Max(ni + ncold, 1), "item ids");
	memcpy(*ids, f->item_ids, sizeof(int64) * ni);
	memcpy(*ids + ni, f->cold_ids, sizeof(int64) * ncold);
	return rows;
}

/* family->fit_store */
static void
mlp_fit_store(const char *model, const RecoTrainParams *params, RecoTriplets *t,
			  double read_seconds, int64 version_id, const RecoUser *reader,
			  RecoFitResult *out)
{
	MlpFit	   *f = palloc0(sizeof(MlpFit));
	RecoBudget *b = t->budget;
	int			side;
	int32		ni;
	int32		ncold;
	int32		nu;
	int64	   *all_ids;
	float	   *rows;
	RecoCsr		history;

	mlp_fit(psprintf("model \"%s\"", model), params, t, reader, f);
	side = 2 * f->shape.dim;
	ni = f->ni;
	ncold = f->ncold;
	nu = f->nu;
	rows = mlp_item_rows(f, b, &all_ids);
	if (!reco_floats_finite(rows, (int64) (ni + ncold) * (side + 1)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("training model \"%s\" gave weights that are not finite", model),
				 errdetail("Nothing was stored; the version served is unchanged.")));
	{
		float	   *all_pop = reco_budget_alloc(b, sizeof(float) * Max(ni + ncold, 1), "popularity");

		memcpy(all_pop, f->popularity, sizeof(float) * ni);
		memset(all_pop + ni, 0, sizeof(float) * ncold);
		reco_store_items(version_id, ni + ncold, all_ids, all_pop, rows, side + 1);
	}
	rows = reco_budget_alloc(b, sizeof(float) * (Size) Max(nu, 1) * (side + 1), "user rows");
	for (int32 u = 0; u < nu; u++)
	{
		float	   *r = rows + (Size) u * (side + 1);

		rn_side_vector(&f->net, true, u + 1, &f->uf, r);
		r[side] = f->net.user_bias.table[u + 1];
	}
	history = reco_history_by_time(&f->Rui, t);
	reco_store_users(version_id, nu, f->user_ids, rows, side + 1, &history, f->item_ids,
					 t->counted);
	{
		Size		nl = layers_floats(&f->net.mlp);
		float	   *buf = palloc(sizeof(float) * nl);
		float		unknown[2 + 2 * RECO_MAX_WIDTH];
		int			d = f->shape.dim;

		layers_copy(&f->net.mlp, buf, true);
		reco_store_blob(version_id, "layers", buf, sizeof(float) * nl);
		reco_store_blob(version_id, "user_features", f->net.user_feat.table,
						sizeof(float) * f->shape.user_buckets * d);
		reco_store_blob(version_id, "item_features", f->net.item_feat.table,
						sizeof(float) * f->shape.item_buckets * d);
		memcpy(unknown, f->net.user.table, sizeof(float) * d);
		unknown[d] = f->net.user_bias.table[0];
		memcpy(unknown + d + 1, f->net.item.table, sizeof(float) * d);
		unknown[2 * d + 1] = f->net.item_bias.table[0];
		reco_store_blob(version_id, "unknown", unknown, sizeof(float) * (2 * d + 2));
		reco_store_blob(version_id, "mean", &f->net.mean, sizeof(float));
		/* a predicted rating stays within the ratings seen */
		if (f->rated)
			reco_store_blob(version_id, "range", f->range, sizeof(f->range));
	}

	out->factors = f->shape.dim;
	out->n_users = nu;
	out->n_items = ni + ncold;
	out->nnz = f->n;
	out->loss = f->loss;
	out->losses = f->losses;
	out->solve_seconds = f->seconds;
	out->steps = f->epochs;
	out->learns_online = !f->rated;	/* ratings: retrain */
	out->online = NULL;
	(void) read_seconds;
}

/*
 * The serving item side of s, in the current context: sides0/bias0 with
 * row 0 the unknown item (its id row unknown_q, no features, bias
 * unknown_b) and the n items after it, taken from rows [side | b] (row
 * pos[i] for item i, or row i when pos is NULL); then the items'
 * first-layer products P and rn_score's scratch
 */
static void
item_side(MlpModel *s, int32 n, const float *rows, const int32 *pos,
		  const float *unknown_q, float unknown_b)
{
	int			dim = s->shape.dim;
	int			side = s->side;

	s->sides0 = palloc_extended(sizeof(float) * (n + 1) * side, MCXT_ALLOC_HUGE);
	s->bias0 = palloc_extended(sizeof(float) * (n + 1), MCXT_ALLOC_HUGE);
	memcpy(s->sides0, unknown_q, sizeof(float) * dim);
	memset(s->sides0 + dim, 0, sizeof(float) * dim);
	s->bias0[0] = unknown_b;
	for (int32 i = 0; i < n; i++)
	{
		const float *r = rows + (Size) (pos ? pos[i] : i) * (side + 1);

		memcpy(s->sides0 + (Size) (i + 1) * side, r, sizeof(float) * side);
		s->bias0[i + 1] = r[side];
	}
	s->item_sides = s->sides0 + side;
	s->item_bias = s->bias0 + 1;
	s->P = palloc_extended(sizeof(float) * Max(n, 1) * s->shape.hidden[0], MCXT_ALLOC_HUGE);
	rn_item_side(&s->layers, dim, n, s->item_sides, s->P);
	s->scratch = palloc(sizeof(float) * rn_score_floats(&s->layers, s->shape.dim));
}

/* An item's id and where mlp_item_rows put it, to sort by id */
typedef struct ItemPos
{
	int64		id;
	int32		pos;
} ItemPos;

static int
cmp_item_pos(const void *a, const void *b)
{
	const ItemPos *x = a;
	const ItemPos *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/*
 * family->fit_memory: a network trained on the run's interactions (read
 * with the caller's rights) and kept in memory, readable by everything that
 * takes a RecoModel: evaluation, cross-validation and tuning, which write
 * nothing
 */
static RecoModel *
mlp_fit_memory(const RecoTrainParams *params, RecoTriplets *t, const char *what)
{
	MlpFit	   *f = palloc0(sizeof(MlpFit));
	RecoUser	me = reco_current_user();
	RecoModel  *m = palloc0(sizeof(RecoModel));
	MlpModel   *s = palloc0(sizeof(MlpModel));
	int64	   *ids;
	float	   *rows;
	ItemPos    *order;
	int32	   *pos;
	int32		n;
	int			dim;
	int			side;

	mlp_fit(psprintf("the %s query's model", what), params, t, &me, f);
	dim = f->shape.dim;
	side = 2 * dim;
	n = f->ni + f->ncold;
	strlcpy(m->name, "(in memory)", sizeof(m->name));
	m->family = &reco_family_mlp;
	m->fs = s;
	m->params = *params;
	m->factors = dim;
	m->mcxt = CurrentMemoryContext;
	s->fit = f;
	s->shape = f->shape;
	s->side = side;
	s->mean = f->net.mean;
	s->clip = f->rated;
	s->range[0] = f->range[0];
	s->range[1] = f->range[1];
	s->layers = f->net.mlp;		/* rn_score reads only the weights */
	s->user_features = f->net.user_feat.table;
	s->unknown_user = f->net.user.table;
	s->unknown[0] = f->net.user_bias.table[0];
	s->unknown[1] = f->net.item_bias.table[0];

	/* the items by id, as the cache has them; row 0 the unknown item */
	rows = mlp_item_rows(f, t->budget, &ids);
	order = palloc(sizeof(ItemPos) * Max(n, 1));
	for (int32 i = 0; i < n; i++)
	{
		order[i].id = ids[i];
		order[i].pos = i;
	}
	qsort(order, n, sizeof(ItemPos), cmp_item_pos);
	m->n_items = n;
	m->item_ids = palloc_extended(sizeof(int64) * Max(n, 1), MCXT_ALLOC_HUGE);
	m->popularity = palloc_extended(sizeof(float) * Max(n, 1), MCXT_ALLOC_HUGE);
	pos = palloc(sizeof(int32) * Max(n, 1));
	for (int32 i = 0; i < n; i++)
	{
		pos[i] = order[i].pos;
		m->item_ids[i] = order[i].id;
		m->popularity[i] = pos[i] < f->ni ? f->popularity[pos[i]] : 0.0f;
	}
	item_side(s, n, rows, pos, f->net.item.table, s->unknown[1]);
	return m;
}

/* family->load: the item side, the layers and the globals */
static void
mlp_load(RecoModel *m, int64 expected)
{
	MemoryContext old = MemoryContextSwitchTo(m->mcxt);
	MlpModel   *s = palloc0(sizeof(MlpModel));
	bool		isnull;
	Datum		d;
	Jsonb	   *stored;
	int			dim;
	int			side;
	NnArena		a = {NULL, 0, 0};
	int			sizes[NN_MLP_MAX_LAYERS + 1];
	float	   *rows;
	float	   *unknown;

	m->fs = s;
	MemoryContextSwitchTo(old);
	reco_storage_globals(m->version_id, "layers");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	stored = DatumGetJsonbP(d);
	reco_parse_params("mlp", stored, NULL, &m->params);
	/* a version trained before feature_dot existed dotted the ids alone */
	if (getKeyJsonValueFromContainer(&stored->root, "feature_dot", strlen("feature_dot"),
									 NULL) == NULL)
		m->params.mlp.shape.feature_dot = false;
	s->shape = m->params.mlp.shape;
	dim = s->shape.dim;
	side = s->side = 2 * dim;

	MemoryContextSwitchTo(m->mcxt);
	sizes[0] = 2 * side;
	for (int l = 0; l < s->shape.nhidden; l++)
		sizes[l + 1] = s->shape.hidden[l];
	sizes[s->shape.nhidden + 1] = 1;
	nn_mlp_bind(&s->layers, s->shape.nhidden + 1, sizes, s->shape.act, NN_IDENTITY, 1, 0, &a);
	a.base = palloc0(sizeof(float) * a.used);
	a.cap = a.used;
	a.used = 0;
	nn_mlp_bind(&s->layers, s->shape.nhidden + 1, sizes, s->shape.act, NN_IDENTITY, 1, 0, &a);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (isnull)
		elog(ERROR, "reco: version %lld has no layers", (long long) m->version_id);
	layers_copy(&s->layers, (float *) reco_bytea_floats(d, layers_floats(&s->layers), "layers"),
				false);

	s->user_features = palloc(sizeof(float) * s->shape.user_buckets * dim);
	s->unknown_user = palloc(sizeof(float) * dim);
	MemoryContextSwitchTo(old);

	if (!reco_storage_blob(m->version_id, "user_features"))
		elog(ERROR, "reco: version %lld has no user features", (long long) m->version_id);
	memcpy(s->user_features,
		   reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
							 (int64) s->shape.user_buckets * dim, "user features"),
		   sizeof(float) * s->shape.user_buckets * dim);
	if (!reco_storage_blob(m->version_id, "unknown"))
		elog(ERROR, "reco: version %lld has no unknown entities", (long long) m->version_id);
	unknown = palloc(sizeof(float) * (2 * dim + 2));
	memcpy(unknown,
		   reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
							 2 * dim + 2, "unknown entities"),
		   sizeof(float) * (2 * dim + 2));
	memcpy(s->unknown_user, unknown, sizeof(float) * dim);
	s->unknown[0] = unknown[dim];
	s->unknown[1] = unknown[2 * dim + 1];

	rows = reco_model_read_items(m, expected, side + 1);
	MemoryContextSwitchTo(m->mcxt);
	item_side(s, m->n_items, rows, NULL, unknown + dim + 1, s->unknown[1]);
	MemoryContextSwitchTo(old);
	pfree(rows);
	pfree(unknown);
	if (!reco_storage_blob(m->version_id, "mean"))
		elog(ERROR, "reco: version %lld has no mean", (long long) m->version_id);
	s->mean = *reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
								 1, "mean");
	s->clip = reco_storage_blob(m->version_id, "range");
	if (s->clip)
		memcpy(s->range,
			   reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
								 2, "range"), sizeof(s->range));
}

static int
mlp_user_floats(const RecoModel *m)
{
	const MlpModel *s = m->fs;

	return s->side + 1 + s->shape.hidden[0];
}

/* A customer's profile as a feature bag over the version's table, or false */
static bool
profile_bag(RecoModel *m, int64 user_id, float *f)
{
	static RecoPlan plan;
	MlpModel   *s = m->fs;
	Datum		values[1] = {Int64GetDatum(user_id)};
	bool		isnull;
	RecoTokens	tok;

	if (!reco_plan_ready(&plan))
		reco_plan_keep(&plan, psprintf("SELECT attributes FROM %s WHERE user_id OPERATOR(pg_catalog.=) $1",
									   reco_table("reco_user")),
					   1, (Oid[]) {INT8OID});
	if (SPI_execute_plan(plan.plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reco: profile lookup failed");
	if (SPI_processed == 0)
		return false;
	reco_tokens_init(&tok, s->shape.user_buckets);
	reco_tokens_jsonb(&tok, DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull)));
	SPI_freetuptable(SPI_tuptable);
	if (tok.n == 0)
		return false;
	rn_feature_bag(s->user_features, s->shape.dim, tok.ids, tok.n, f);
	return true;
}

/* A user of a fit in memory: their side and bias, and their items */
static RecoUserKind
fit_user(const MlpFit *f, int64 user_id, float *state, ArrayType **seen)
{
	int32		u = (int32) reco_id_index(f->user_ids, f->nu, user_id);
	int			side = 2 * f->shape.dim;

	if (u < 0)
		return RECO_STRANGER;
	rn_side_vector(&f->net, true, u + 1, &f->uf, state);
	state[side] = f->net.user_bias.table[u + 1];
	if (seen != NULL)
		*seen = reco_csr_row_ids(&f->Rui, u, f->item_ids);
	return RECO_PERSONAL;
}

/* family->user: the user's row, else their profile through the unknown user */
static RecoUserKind
mlp_user(RecoModel *m, int64 user_id, float *state, ArrayType **seen)
{
	MlpModel   *s = m->fs;
	MemoryContext caller = CurrentMemoryContext;
	RecoUserKind who = RECO_STRANGER;
	bool		isnull;

	if (s->fit != NULL)
		who = fit_user(s->fit, user_id, state, seen);
	else
	{
		(void) reco_storage_user(m->version_id, user_id);
		MemoryContextSwitchTo(caller);
		if (SPI_processed == 1)
		{
			memcpy(state, reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
														  1, &isnull), s->side + 1, "user weights"),
				   sizeof(float) * (s->side + 1));
			if (seen != NULL)
				*seen = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 2, &isnull));
			who = RECO_PERSONAL;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	if (who == RECO_STRANGER)
	{
		if (!profile_bag(m, user_id, state + s->shape.dim))
			return RECO_STRANGER;
		memcpy(state, s->unknown_user, sizeof(float) * s->shape.dim);
		state[s->side] = s->unknown[0];
		who = RECO_PROFILE;
	}
	rn_user_side(&s->layers, s->shape.dim, state, state + s->side + 1);
	return who;
}

/* A rating model's predictions within the ratings it was trained on */
static void
clip(const MlpModel *s, float *y, int n)
{
	if (s->clip)
		for (int i = 0; i < n; i++)
			y[i] = Min(Max(y[i], s->range[0]), s->range[1]);
}

/* reco.shortlist: items a ranking passes through the layers, 0 all */
static int	shortlist = RECO_DEFAULT_SHORTLIST;

/* Define reco.shortlist (from _PG_init) */
void
reco_mlp_init(void)
{
	DefineCustomIntVariable("reco.shortlist",
							"Items of a neural ranking scored by the whole network (0: all).",
							"Above it, the items the dot product and biases rank first are scored by the network, the others by those terms alone.",
							&shortlist,
							RECO_DEFAULT_SHORTLIST, 0, RECO_MAX_SHORTLIST,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}

static void mlp_score(RecoModel *m, const float *state, const int32 *idx, int n,
					  float *scores);

/*
 * family->rank: above reco.shortlist items, each item's score without the
 * layers' output (mean, biases and the dot product: one GEMV over the item
 * sides), then the shortlist best of those not in skip through the whole
 * network; the others, in the order of the cheap score, below the
 * shortlist's lowest
 */
static void
mlp_rank(RecoModel *m, const float *state, const uint8 *skip, float *scores)
{
	MlpModel   *s = m->fs;
	int			dim = s->shape.dim;
	int32		n = m->n_items;
	float	   *u;
	TopkEntry  *top;
	int32	   *idx;
	float	   *exact;
	uint8	   *listed;
	int			got;
	float		lowest = INFINITY;
	float		rest = -INFINITY;
	double		gap = 0.0;

	if (shortlist == 0 || n <= shortlist)
	{
		mlp_score(m, state, NULL, n, scores);
		return;
	}
	if (s->item_dot == NULL)
	{
		float	   *v = MemoryContextAllocHuge(m->mcxt, sizeof(float) * (Size) n * dim);

		for (int32 i = 0; i < n; i++)
		{
			const float *side = s->item_sides + (Size) i * s->side;

			for (int j = 0; j < dim; j++)
				v[(Size) i * dim + j] = side[j] + (s->shape.feature_dot ? side[dim + j] : 0.0f);
		}
		s->item_dot = v;
	}
	u = palloc(sizeof(float) * dim);
	top = palloc(sizeof(TopkEntry) * shortlist);
	idx = palloc(sizeof(int32) * shortlist);
	exact = palloc(sizeof(float) * shortlist);
	listed = palloc0((n + 7) / 8 + 1);

	/* p_u (+ f_u) against q_i (+ f_i), as rn_score's dot */
	memcpy(u, state, sizeof(float) * dim);
	if (s->shape.feature_dot)
		cblas_saxpy(dim, 1.0f, state + dim, 1, u, 1);
	for (int32 i = 0; i < n; i++)
		scores[i] = s->mean + state[s->side] + s->item_bias[i];
	cblas_sgemv(CblasRowMajor, CblasNoTrans, n, dim, 1.0f, s->item_dot, dim,
				u, 1, 1.0f, scores, 1);

	got = topk_select(scores, n, skip, shortlist, top);
	for (int r = 0; r < got; r++)
	{
		idx[r] = top[r].index;
		topk_bit_set(listed, idx[r]);
	}
	mlp_score(m, state, idx, got, exact);
	for (int r = 0; r < got; r++)
	{
		lowest = Min(lowest, exact[r]);
		gap += exact[r] - scores[idx[r]];
	}
	gap /= Max(got, 1);
	for (int32 i = 0; i < n; i++)
		if (!topk_bit_test(listed, i) && !(skip != NULL && topk_bit_test(skip, i)))
			rest = Max(rest, scores[i] + (float) gap);

	/*
	 * The rest get the layers' mean output over the shortlist, so their
	 * scores stay near what the network would give (the buying-again and
	 * fresh terms scale with the largest |score|), lowered as far as it
	 * takes to put the best of them a step below the shortlist's lowest
	 */
	if (got > 0)
	{
		float		below = nextafterf(lowest, -INFINITY);
		float		shift = (float) gap - Max(0.0f, rest - below);

		/* (in float a sum may round up to the lowest: clamped below it) */
		for (int32 i = 0; i < n; i++)
			scores[i] = Min(scores[i] + shift, below);
	}
	for (int r = 0; r < got; r++)
		scores[idx[r]] = exact[r];
	pfree(u);
	pfree(top);
	pfree(idx);
	pfree(exact);
	pfree(listed);
}

/* family->score: rn_score over all items, or over the gathered few */
static void
mlp_score(RecoModel *m, const float *state, const int32 *idx, int n, float *scores)
{
	MlpModel   *s = m->fs;
	const float *h = state + s->side + 1;
	int			h1 = s->shape.hidden[0];
	float	   *sides;
	float	   *bias;
	float	   *P;

	if (idx == NULL)
	{
		rn_score(&s->layers, &s->shape, s->mean, state, state[s->side], h, m->n_items,
				 s->item_sides, s->item_bias, s->P, scores, s->scratch);
		clip(s, scores, m->n_items);
		return;
	}
	sides = palloc_extended(sizeof(float) * Max(n, 1) * s->side, MCXT_ALLOC_HUGE);
	bias = palloc_extended(sizeof(float) * Max(n, 1), MCXT_ALLOC_HUGE);
	P = palloc_extended(sizeof(float) * Max(n, 1) * h1, MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
	{
		memcpy(sides + (Size) i * s->side, s->item_sides + (Size) idx[i] * s->side,
			   sizeof(float) * s->side);
		bias[i] = s->item_bias[idx[i]];
		memcpy(P + (Size) i * h1, s->P + (Size) idx[i] * h1, sizeof(float) * h1);
	}
	rn_score(&s->layers, &s->shape, s->mean, state, state[s->side], h, n, sides, bias, P,
			 scores, s->scratch);
	clip(s, scores, n);
	pfree(sides);
	pfree(bias);
	pfree(P);
}

/*
 * family->unit_items: the side vectors [q | f] at unit length,
 * factor-major: items alike in behaviour or in attributes (an item without
 * events has only these) are near
 */
static const float *
mlp_unit_items(RecoModel *m, int *dim)
{
	MlpModel   *s = m->fs;
	int			d = s->side;
	int32		n = m->n_items;

	*dim = d;
	if (s->unit == NULL)
	{
		float	   *u = MemoryContextAllocHuge(m->mcxt, sizeof(float) * Max(n, 1) * d);

		for (int32 i = 0; i < n; i++)
		{
			const float *q = s->item_sides + (Size) i * s->side;
			double		norm = 0.0;

			for (int j = 0; j < d; j++)
				norm += (double) q[j] * q[j];
			norm = norm > 0.0 ? 1.0 / sqrt(norm) : 0.0;
			for (int j = 0; j < d; j++)
				u[(Size) j * n + i] = (float) (q[j] * norm);
		}
		s->unit = u;
	}
	return s->unit;
}

/* Other customers read as negatives for a refresh's item steps */
#define REFRESH_POOL 256

/*
 * The row [q | f | b] an item new to the version starts from: the unknown
 * item's id row and bias, and the feature bag of its catalogue row over the
 * version's item table (read once per loaded version), zeros when the
 * catalogue lacks it; false then
 */
static bool
new_item_row(RecoModel *m, int64 item_id, float *row)
{
	MlpModel   *s = m->fs;
	int			dim = s->shape.dim;
	RecoTokens	tok;
	bool		nul[5];
	Datum		d[5];
	bool		isnull;

	if (s->item_features == NULL)
	{
		Size		bytes = sizeof(float) * s->shape.item_buckets * dim;

		if (!reco_storage_blob(m->version_id, "item_features"))
			elog(ERROR, "reco: version %lld has no item features", (long long) m->version_id);
		s->item_features = MemoryContextAllocHuge(m->mcxt, bytes);
		memcpy(s->item_features,
			   reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
								 (int64) s->shape.item_buckets * dim, "item features"),
			   bytes);
		SPI_freetuptable(SPI_tuptable);
	}
	memcpy(row, s->sides0, sizeof(float) * dim);
	memset(row + dim, 0, sizeof(float) * dim);
	row[s->side] = s->bias0[0];
	if (SPI_execute_with_args(psprintf("SELECT category, brand, price::pg_catalog.float8, title, attributes "
									   "FROM %s WHERE item_id OPERATOR(pg_catalog.=) $1",
									   reco_table("reco_item")),
							  1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(item_id)}, NULL,
							  true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reco: catalogue lookup failed");
	if (SPI_processed == 0)
		return false;
	for (int c = 0; c < 5; c++)
		d[c] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 1, &nul[c]);
	reco_tokens_init(&tok, s->shape.item_buckets);
	reco_tokens_item(&tok, nul[0] ? NULL : DatumGetTextPP(d[0]), nul[1] ? NULL : DatumGetTextPP(d[1]),
					 !nul[2], nul[2] ? 0.0 : DatumGetFloat8(d[2]),
					 nul[3] ? NULL : DatumGetTextPP(d[3]), nul[4] ? NULL : DatumGetJsonbP(d[4]));
	rn_feature_bag(s->item_features, dim, tok.ids, tok.n, row + dim);
	return true;
}

/*
 * family->refresh: an item new to the version joins it, starting as the
 * unknown item with its catalogue features and taking online_steps SGD
 * steps on its id embedding and bias (rn_fold_item) against the customers
 * who touched it, as their rows are now, negatives drawn among those and
 * up to REFRESH_POOL other customers of the version.  Items the version
 * was trained on keep their embeddings until the next training: stepping
 * them against the customers of the moment (even at a rate falling with
 * their popularity) cost the MovieLens replay a third to a half of its hits
 * (bench/RESULTS.md).  The layers and feature tables learn at training too.
 */
static int64
mlp_refresh(RecoModel *m, Snapshot snap, RecoResolved *done)
{
	MlpModel   *s = m->fs;
	const RecoMlpParams *p = &m->params.mlp;
	int			side = s->side;
	int			dim = s->shape.dim;
	int64		n;
	int64		nnew = 0;
	int64	   *pu;
	int64	   *pi;
	int64	   *uids;
	int			nu = 0;
	int			nr;
	int64	   *rid;
	float	   *usides;
	float	   *ubias;
	int32	   *rows;
	float	   *row = palloc(sizeof(float) * (side + 1));
	float	   *scratch = NULL;
	int			scratch_rows = 0;
	bool		isnull;

	reco_storage_pending_pairs(m->version_id, snap);
	n = (int64) SPI_processed;
	if (n == 0)
		return 0;
	if (n > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many queued events for one refresh of an \"mlp\" model")));
	/* only the events on items new to the version change anything */
	pu = palloc(sizeof(int64) * n);
	pi = palloc(sizeof(int64) * n);
	uids = palloc(sizeof(int64) * n);
	for (int64 i = 0; i < n; i++)
	{
		int64		item = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
													   2, &isnull));

		if (reco_model_item_index(m, item) >= 0)
			continue;
		pu[nnew] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											   1, &isnull));
		pi[nnew] = item;
		uids[nnew] = pu[nnew];
		nnew++;
	}
	SPI_freetuptable(SPI_tuptable);
	if (nnew == 0)
		return n;				/* nothing to publish: caches stay */
	qsort(uids, nnew, sizeof(int64), reco_cmp_int64);
	for (int64 i = 0; i < nnew; i++)
		if (nu == 0 || uids[nu - 1] != uids[i])
			uids[nu++] = uids[i];

	/* the customers' rows, row 0 the unknown customer */
	reco_storage_user_rows(m->version_id, uids, nu, REFRESH_POOL, snap);
	nr = (int) SPI_processed;
	rid = palloc(sizeof(int64) * Max(nr, 1));
	usides = palloc(sizeof(float) * (nr + 1) * side);
	ubias = palloc(sizeof(float) * (nr + 1));
	memcpy(usides, s->unknown_user, sizeof(float) * dim);
	memset(usides + dim, 0, sizeof(float) * dim);
	ubias[0] = s->unknown[0];
	for (int i = 0; i < nr; i++)
	{
		const float *r = reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
														 2, &isnull), side + 1, "user weights");

		rid[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		memcpy(usides + (Size) (i + 1) * side, r, sizeof(float) * side);
		ubias[i + 1] = r[side];
	}
	SPI_freetuptable(SPI_tuptable);

	rows = palloc(sizeof(int32) * nnew);
	for (int64 a = 0, b; a < nnew; a = b)
	{
		int			cnt = 0;

		CHECK_FOR_INTERRUPTS();
		for (b = a; b < nnew && pi[b] == pi[a]; b++)
		{
			int32		r = (int32) reco_id_index(rid, nr, pu[b]);

			if (r >= 0 && (cnt == 0 || rows[cnt - 1] != r + 1))
				rows[cnt++] = r + 1;
		}
		if (cnt == 0)
			continue;			/* their rows are gone (forgotten) */
		(void) new_item_row(m, pi[a], row);
		if (cnt > scratch_rows)
		{
			scratch_rows = cnt;
			scratch = scratch ? repalloc(scratch, sizeof(float) * rn_fold_floats(&s->layers, dim, cnt, p->train.negatives))
				: palloc(sizeof(float) * rn_fold_floats(&s->layers, dim, cnt, p->train.negatives));
		}
		/* half the customers' rate, as measured (bench/RESULTS.md) */
		rn_fold_item(&s->layers, &s->shape, s->mean, &p->train, p->online_steps,
					 (float) (p->online_rate / 2), cnt, rows, NULL, nr + 1, usides, ubias,
					 row, row + side, (uint64) pi[a], scratch);
		if (!reco_floats_finite(row, side + 1))
			continue;			/* it waits for the next training */
		reco_storage_item_put(m->version_id, pi[a], (float) cnt, row, side + 1);
		done->items++;
		done->new_items++;
	}
	if (done->new_items > 0)
		reco_storage_publish(m->version_id, m->n_items + done->new_items);
	return n;
}

/* How many users hold each of n items (sorted ids) */
typedef struct ItemCount
{
	const int64 *items;
	int64		n;
	int64	   *count;
} ItemCount;

static void
count_users(void *arg, Datum factors, const int64 *ids, const float *w, int len)
{
	ItemCount  *c = arg;

	for (int h = 0; h < len; h++)
	{
		int64		j = reco_id_index(c->items, c->n, ids[h]);

		if (j >= 0)
			c->count[j]++;
	}
}

/*
 * family->forget: the n items (sorted ids) a forgotten customer touched,
 * now that their row is gone.  Popularity counts the users left; an item
 * nobody else touched becomes what training makes of an untouched
 * catalogue item (the unknown item with its attributes, popularity 0), or
 * leaves the version when the catalogue lacks it.  The network and the
 * other embeddings keep the customer's influence until the next training.
 */
static void
mlp_forget(RecoModel *m, const int64 *items, int64 n, RecoResolved *done)
{
	MlpModel   *s = m->fs;
	int			side = s->side;
	int64	   *count = palloc0(sizeof(int64) * Max(n, 1));
	float	   *row = palloc(sizeof(float) * (side + 1));

	memset(done, 0, sizeof(*done));
	if (n == 0)
		return;
	{
		ItemCount	c = {items, n, count};

		reco_storage_each_user(m->version_id, count_users, &c);
	}

	for (int64 i = 0; i < n; i++)
	{
		int32		idx = reco_model_item_index(m, items[i]);
		bool		in_catalogue;

		CHECK_FOR_INTERRUPTS();
		if (idx < 0)
			continue;			/* never joined the version */
		if (count[i] > 0)
		{
			memcpy(row, s->item_sides + (Size) idx * side, sizeof(float) * side);
			row[side] = s->item_bias[idx];
			reco_storage_item_put(m->version_id, items[i], (float) count[i], row, side + 1);
			done->items++;
			continue;
		}
		in_catalogue = new_item_row(m, items[i], row);
		if (in_catalogue)
		{
			reco_storage_item_put(m->version_id, items[i], 0.0f, row, side + 1);
			done->items++;
		}
		else
		{
			reco_storage_item_delete(m->version_id, items[i]);
			done->removed++;
		}
	}
	reco_storage_publish(m->version_id, m->n_items - done->removed);
}

/*
 * family->explain: of the customer's latest "history" items the version
 * knows, how near each is to the item in the network's item space (cosine
 * of the [q | f] vectors): "because they bought X, which the network
 * places near it".  A network's score does not split into per-item terms
 * as a fold-in's does; this is what it can say honestly.
 */
static int
mlp_explain(RecoModel *m, int64 user_id, int64 *ids, const float *w, int n, int32 idx,
			float *contrib)
{
	int			dim;
	const float *unit = mlp_unit_items(m, &dim);
	int			known = 0;

	for (int i = Max(0, n - m->params.history); i < n; i++)
	{
		int32		j = reco_model_item_index(m, ids[i]);
		double		dotp = 0.0;

		if (j < 0)
			continue;
		for (int d = 0; d < dim; d++)
			dotp += (double) unit[(Size) d * m->n_items + j] * unit[(Size) d * m->n_items + idx];
		ids[known] = ids[i];
		contrib[known++] = (float) dotp;
	}
	return known;
}

static int
mlp_row_floats(const RecoModel *m)
{
	const MlpModel *s = m->fs;

	return s->side + 1;
}

/* family->new_row: the unknown user with the customer's profile, if any */
static void
mlp_new_row(RecoModel *m, int64 user_id, float *row)
{
	MlpModel   *s = m->fs;

	memcpy(row, s->unknown_user, sizeof(float) * s->shape.dim);
	if (!profile_bag(m, user_id, row + s->shape.dim))
		memset(row + s->shape.dim, 0, sizeof(float) * s->shape.dim);
	row[s->side] = s->unknown[0];
}

/*
 * family->fold: online_steps SGD steps at online_rate on the customer's id
 * embedding and bias over their latest "history" items the version knows,
 * everything else fixed (rn_fold_user); the item side learns in refresh
 */
static bool
mlp_fold(const RecoModel *m, const int64 *ids, const float *w, int len, float *row,
		 const char **why)
{
	MlpModel   *s = m->fs;
	const RecoMlpParams *p = &m->params.mlp;
	int32	   *rows = palloc(sizeof(int32) * Max(len, 1));
	int			n = 0;
	float	   *x = palloc(sizeof(float) * (s->side + 1));
	float	   *scratch;

	for (int i = Max(0, len - m->params.history); i < len; i++)
	{
		int32		idx = reco_model_item_index(m, ids[i]);

		if (idx >= 0)
			rows[n++] = idx + 1;	/* a new item: refresh or training adds it */
	}
	if (n == 0 || p->online_steps == 0)
		return true;
	memcpy(x, row, sizeof(float) * (s->side + 1));
	scratch = palloc(sizeof(float) * rn_fold_floats(&s->layers, s->shape.dim, n,
													p->train.negatives));
	rn_fold_user(&s->layers, &s->shape, s->mean, &p->train, p->online_steps,
				 (float) p->online_rate, n, rows, NULL, m->n_items + 1, s->sides0, s->bias0,
				 x, x + s->side, (uint64) len, scratch);
	if (!reco_floats_finite(x, s->side + 1))
	{
		*why = "the steps are not finite";
		return false;
	}
	memcpy(row, x, sizeof(float) * (s->side + 1));
	return true;
}

/*
 * family->state: the customer's row (or the unknown customer without a
 * profile) stepped over the events as an online event would, and its
 * first-layer product, without writing it
 */
static void
mlp_state(RecoModel *m, const float *row, const int64 *ids, const float *w, int n,
		  float *state)
{
	MlpModel   *s = m->fs;
	const char *why = NULL;

	if (row != NULL)
		memcpy(state, row, sizeof(float) * (s->side + 1));
	else
	{
		memcpy(state, s->unknown_user, sizeof(float) * s->shape.dim);
		memset(state + s->shape.dim, 0, sizeof(float) * s->shape.dim);
		state[s->side] = s->unknown[0];
	}
	if (!mlp_fold(m, ids, w, n, state, &why))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the basket cannot be folded into model \"%s\": %s",
						reco_name_msg(m->name), why)));
	rn_user_side(&s->layers, s->shape.dim, state, state + s->side + 1);
}

const RecoFamily reco_family_mlp = {
	.name = "mlp",
	.fit_store = mlp_fit_store,
	.fit_memory = mlp_fit_memory,
	.load = mlp_load,
	.user_floats = mlp_user_floats,
	.user = mlp_user,
	.score = mlp_score,
	.rank = mlp_rank,
	.state = mlp_state,
	.unit_items = mlp_unit_items,
	.row_floats = mlp_row_floats,
	.refresh = mlp_refresh,
	.forget = mlp_forget,
	.explain = mlp_explain,
	.new_row = mlp_new_row,
	.fold = mlp_fold,
};
