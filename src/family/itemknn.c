/*
 * family/itemknn.c - the item-item families (knn.h): 'itemknn', a
 * neighbourhood of each item by weighted co-occurrence, and 'ease', the
 * closed-form linear item-item model (Steck 2019)
 *
 * A version stores each item's list of neighbours and weights as its row
 * (neighbors item ids as int64, then their weights as float4) and each user's
 * history; a user row holds no factors.  A user's serving state is their
 * score over the catalogue, the sum over their latest "history" items of
 * weight x neighbour weight, so an event changes the next answer without
 * anything to solve.  reco_refresh and reco_forget_user recompute lists
 * from the stored histories: itemknn the touched items', ease every one.
 */
#include "reco.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "portability/instr_time.h"
#include "utils/memutils.h"

#include "knn.h"
#include "resources.h"
#include "storage.h"
#include "train.h"
#include "family/family.h"

#define PIECE 64				/* items a worker takes at a time */
#define GRAM_PIECE 1e7			/* products of X'X between interrupt checks */

/* A version's item lists, dense (RecoModel.fs) */
typedef struct KnnModel
{
	int			k;				/* slots per item */
	int32	   *nbr;			/* n_items x k model indexes, -1: none */
	float	   *w;				/* n_items x k */
	float	   *prior;			/* a tie-break far below any weight: popularity */
	const RecoInteractions *fit;	/* users of a fit in memory, or NULL */
} KnnModel;

/* A fit: the interactions and each item's list, by dense index */
typedef struct KnnFit
{
	RecoInteractions in;
	int			k;
	int32	   *nbr;			/* in.ni x k */
	float	   *w;
	float	   *popularity;
} KnnFit;

static bool
is_ease(const RecoTrainParams *p)
{
	return strcmp(p->family, "ease") == 0;
}

/* Between blocks of EASE's inverse: a cancel leaves from here */
static void
poll_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
}

/* itemknn's lists for items [begin, end) on one worker thread */
typedef struct KnnJob
{
	const KnnParams *p;
	const RecoCsr *Xiu;
	const RecoCsr *Xui;
	const float *norm;
	const int32 *items;			/* which items (dense), or NULL: all */
	KnnScratch *scratch;		/* per thread */
	int32	   *nbr;
	float	   *w;
} KnnJob;

static void
knn_work(void *arg, int64_t begin, int64_t end, int thread)
{
	KnnJob	   *j = arg;

	for (int64_t t = begin; t < end; t++)
	{
		int32		i = j->items ? j->items[t] : (int32) t;

		knn_neighbours(j->p, j->Xiu, j->Xui, j->norm, i, &j->scratch[thread],
					   j->nbr + (Size) i * j->p->neighbors, j->w + (Size) i * j->p->neighbors);
	}
}

static int64_t
knn_cut(void *arg, int64_t begin, int64_t end)
{
	return Min(end, begin + PIECE);
}

/*
 * The lists of items (n dense indexes, or every item when items is NULL)
 * into f->nbr/f->w; ease computes every list whatever items says
 */
static void
knn_lists(const char *what, const RecoTrainParams *params, KnnFit *f, RecoBudget *b,
		  const int32 *items, int64 n)
{
	RecoInteractions *in = &f->in;
	int			k = params->knn.neighbors;
	int32		ni = (int32) in->ni;
	RecoCsr		Xui = in->Rui;
	RecoCsr		Xiu = in->Riu;

	f->k = k;
	f->nbr = reco_budget_alloc(b, sizeof(int32) * (Size) ni * k, "neighbour lists");
	f->w = reco_budget_alloc(b, sizeof(float) * (Size) ni * k, "neighbour lists");
	for (Size i = 0; i < (Size) ni * k; i++)
	{
		f->nbr[i] = -1;
		f->w[i] = 0.0f;
	}
	/* the weighting works on copies: the raw weights are the histories */
	Xui.data = reco_budget_alloc(b, sizeof(float) * in->nnz, "weighted interactions");
	Xiu.data = reco_budget_alloc(b, sizeof(float) * in->nnz, "weighted interactions");
	memcpy(Xui.data, in->Rui.data, sizeof(float) * in->nnz);
	memcpy(Xiu.data, in->Riu.data, sizeof(float) * in->nnz);

	if (is_ease(params))
	{
		float	   *G;
		float	   *cand;
		TopkEntry  *top;

		if (ni > RECO_MAX_EASE_ITEMS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s has %d items; \"ease\" inverts an items x items matrix and takes at most %d",
							what, ni, RECO_MAX_EASE_ITEMS),
					 errhint("Use \"itemknn\" or \"als\" for a larger catalogue.")));
		/* EASE weighs presence: X is binary */
		for (int64 e = 0; e < in->nnz; e++)
			Xui.data[e] = 1.0f;
		G = reco_budget_alloc(b, sizeof(float) * (Size) ni * ni,
							  psprintf("the %d x %d item Gram matrix", ni, ni));
		/*
		 * X'X costs the sum of each user's squared history length: in
		 * pieces of about GRAM_PIECE products, cancellable between them
		 */
		memset(G, 0, sizeof(float) * (Size) ni * ni);
		for (int32 u = 0, end; u < Xui.nrows; u = end)
		{
			double		cost = 0.0;

			for (end = u; end < Xui.nrows && cost < GRAM_PIECE; end++)
			{
				double		len = (double) (Xui.indptr[end + 1] - Xui.indptr[end]);

				cost += len * len + 1.0;
			}
			knn_gram_add(&Xui, ni, G, u, end);
			CHECK_FOR_INTERRUPTS();
		}
		if (!knn_ease(G, ni, (float) params->ease_lambda, poll_interrupts))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the item Gram matrix of %s is not positive definite", what),
					 errhint("Raise \"lambda\".")));
		cand = palloc(sizeof(float) * Max(ni, 1));
		top = palloc(sizeof(TopkEntry) * k);
		for (int32 i = 0; i < ni; i++)
		{
			if ((i & 255) == 0)
				CHECK_FOR_INTERRUPTS();
			knn_row_top(G + (Size) i * ni, ni, i, k, cand, top,
						f->nbr + (Size) i * k, f->w + (Size) i * k);
		}
		reco_budget_free(b, G, sizeof(float) * (Size) ni * ni);
	}
	else
	{
		int			nthreads = reco_train_threads;
		float	   *norm = reco_budget_alloc(b, sizeof(float) * Max(ni, 1), "item norms");
		KnnScratch *scratch = palloc(sizeof(KnnScratch) * nthreads);
		KnnJob		job = {&params->knn, &Xiu, &Xui, norm, items, scratch, f->nbr, f->w};
		WorkerJob	wj = {0};

		knn_weight(&params->knn, &Xiu, &Xui, norm);
		reco_budget_charge(b, (double) nthreads * ni * (3 * sizeof(int32) + sizeof(float)),
						   "neighbour scratch");
		for (int th = 0; th < nthreads; th++)
		{
			scratch[th].acc = palloc0(sizeof(float) * Max(ni, 1));
			scratch[th].common = palloc0(sizeof(int32) * Max(ni, 1));
			scratch[th].touched = palloc(sizeof(int32) * Max(ni, 1));
			scratch[th].cand = palloc(sizeof(float) * Max(ni, 1));
			scratch[th].top = palloc(sizeof(TopkEntry) * k);
		}
		wj.begin = 0;
		wj.end = items ? n : ni;
		wj.cut = knn_cut;
		wj.work = knn_work;
		wj.arg = &job;
		reco_workers_run(&wj, nthreads);
	}
}

/* Fit on the run's interactions, in the current context */
static void
knn_fit(const char *what, const RecoTrainParams *params, RecoTriplets *t, KnnFit *f)
{
	if (params->explicit_ratings)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" learns from implicit feedback only", params->family),
				 errhint("Use \"als\" or \"mlp\" to predict ratings.")));
	reco_interactions(what, params, t, &f->in);
	if (reco_progress)
		ereport(NOTICE,
				(errmsg("reco: training %s (%s): %lld users, %lld items, %lld interactions",
						what, params->family, (long long) f->in.nu, (long long) f->in.ni,
						(long long) f->in.nnz)));
	knn_lists(what, params, f, t->budget, NULL, 0);
	f->popularity = reco_budget_alloc(t->budget, sizeof(float) * Max(f->in.ni, 1), "popularity");
	for (int64 i = 0; i < f->in.ni; i++)
		f->popularity[i] = (float) (f->in.Riu.indptr[i + 1] - f->in.Riu.indptr[i]);
}

/*
 * Item i's stored row: k neighbour ids (int64), then k weights (float4),
 * in a buffer of 3k floats as reco_store_items takes them
 */
static void
pack_row(const KnnFit *f, int32 i, float *row)
{
	int64	   *ids = (int64 *) row;
	float	   *w = row + 2 * f->k;

	for (int r = 0; r < f->k; r++)
	{
		int32		j = f->nbr[(Size) i * f->k + r];

		ids[r] = j >= 0 ? f->in.item_ids[j] : -1;
		w[r] = j >= 0 ? f->w[(Size) i * f->k + r] : 0.0f;
	}
}

static void
knn_fit_store(const char *model, const RecoTrainParams *params, RecoTriplets *t,
			  double read_seconds, int64 version_id, const RecoUser *reader,
			  RecoFitResult *out)
{
	KnnFit	   *f = palloc0(sizeof(KnnFit));
	instr_time	start;
	float	   *rows;
	float		none = 0.0f;
	RecoCsr		history;
	int			width;

	INSTR_TIME_SET_CURRENT(start);
	knn_fit(psprintf("model \"%s\"", model), params, t, f);
	width = 3 * f->k;
	rows = reco_budget_alloc(t->budget, sizeof(float) * (Size) Max(f->in.ni, 1) * width, "item rows");
	for (int32 i = 0; i < f->in.ni; i++)
		pack_row(f, i, rows + (Size) i * width);
	reco_store_items(version_id, (int32) f->in.ni, f->in.item_ids, f->popularity, rows, width);
	history = reco_history_by_time(&f->in.Rui, t);
	reco_store_users(version_id, (int32) f->in.nu, f->in.user_ids, &none, 0, &history,
					 f->in.item_ids, t->counted);

	out->factors = f->k;
	out->n_users = f->in.nu;
	out->n_items = f->in.ni;
	out->nnz = f->in.nnz;
	out->loss = 0.0;
	out->losses = "";
	out->solve_seconds = reco_seconds_since(start);
	out->steps = 1;
	out->learns_online = true;
	out->online = NULL;
	(void) read_seconds;
	(void) reader;
}

/* Popularity as a tie-break below the smallest weight: "then the popular" */
static void
set_prior(RecoModel *m, KnnModel *s)
{
	float		least = INFINITY;
	float		most = 0.0f;

	for (Size e = 0; e < (Size) m->n_items * s->k; e++)
		if (s->nbr[e] >= 0 && fabsf(s->w[e]) > 0.0f)
			least = Min(least, fabsf(s->w[e]));
	for (int32 i = 0; i < m->n_items; i++)
		most = Max(most, m->popularity[i]);
	if (!isfinite(least))
		least = 1.0f;
	s->prior = MemoryContextAllocHuge(m->mcxt, sizeof(float) * Max(m->n_items, 1));
	for (int32 i = 0; i < m->n_items; i++)
		s->prior[i] = most > 0.0f ? 1e-3f * least * m->popularity[i] / most : 0.0f;
}

/* family->load: every item's list, its neighbours' ids made indexes */
static void
knn_load(RecoModel *m, int64 expected)
{
	KnnModel   *s = MemoryContextAllocZero(m->mcxt, sizeof(KnnModel));
	int			k = m->factors;
	char	   *rows = reco_model_read_rows(m, expected, (sizeof(int64) + sizeof(float)) * k);
	Size		n = m->n_items;

	s->k = k;
	s->nbr = MemoryContextAllocHuge(m->mcxt, sizeof(int32) * Max(n, 1) * k);
	s->w = MemoryContextAllocHuge(m->mcxt, sizeof(float) * Max(n, 1) * k);
	for (Size i = 0; i < n; i++)
	{
		const char *row = rows + i * (sizeof(int64) + sizeof(float)) * k;

		memcpy(s->w + i * k, row + sizeof(int64) * k, sizeof(float) * k);
		if (!reco_floats_finite(s->w + i * k, k))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("weights of item %lld in version %lld are not finite",
							(long long) m->item_ids[i], (long long) m->version_id)));
		for (int r = 0; r < k; r++)
		{
			int64		id;

			memcpy(&id, row + sizeof(int64) * r, sizeof(int64));
			s->nbr[i * k + r] = reco_model_item_index(m, id);
		}
	}
	pfree(rows);
	m->fs = s;
	set_prior(m, s);
	{
		bool		isnull;

		reco_storage_globals(m->version_id, NULL);
		reco_parse_params(m->family->name,
						  DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
													   1, &isnull)), NULL, &m->params);
	}
}

/* family->fit_memory: lists and interactions kept in memory, nothing written */
static RecoModel *
knn_fit_memory(const RecoTrainParams *params, RecoTriplets *t, const char *what)
{
	KnnFit	   *f = palloc0(sizeof(KnnFit));
	RecoModel  *m = palloc0(sizeof(RecoModel));
	KnnModel   *s = palloc0(sizeof(KnnModel));

	knn_fit(psprintf("the %s query's model", what), params, t, f);
	strlcpy(m->name, "(in memory)", sizeof(m->name));
	m->family = reco_family(params->family);
	m->fs = s;
	m->params = *params;
	m->factors = f->k;
	m->mcxt = CurrentMemoryContext;
	m->n_items = (int32) f->in.ni;
	m->item_ids = f->in.item_ids;
	m->popularity = f->popularity;
	s->k = f->k;
	s->nbr = f->nbr;
	s->w = f->w;
	s->fit = &f->in;
	set_prior(m, s);
	return m;
}

static int
knn_user_floats(const RecoModel *m)
{
	return Max(m->n_items, 1);
}

/* state = prior + sum of weight x list over the latest history items */
static void
accumulate(const RecoModel *m, const int32 *idx, const float *w, int n, float *state)
{
	const KnnModel *s = m->fs;
	int			from = Max(0, n - m->params.history);

	memcpy(state, s->prior, sizeof(float) * m->n_items);
	for (int h = from; h < n; h++)
	{
		const int32 *nbr;
		const float *sw;

		if (idx[h] < 0)
			continue;
		nbr = s->nbr + (Size) idx[h] * s->k;
		sw = s->w + (Size) idx[h] * s->k;
		/* a neighbour that left the version (-1) may sit mid-list */
		for (int r = 0; r < s->k; r++)
			if (nbr[r] >= 0)
				state[nbr[r]] += w[h] * sw[r];
	}
}

/* family->state: the state after a history of ids (least recent first) */
static void
knn_state(RecoModel *m, const float *row, const int64 *ids, const float *w, int n,
		  float *state)
{
	int32	   *idx = palloc(sizeof(int32) * Max(n, 1));

	for (int h = 0; h < n; h++)
		idx[h] = reco_model_item_index(m, ids[h]);
	accumulate(m, idx, w, n, state);
	pfree(idx);
	(void) row;
}

static RecoUserKind
knn_user(RecoModel *m, int64 user_id, float *state, ArrayType **seen)
{
	KnnModel   *s = m->fs;
	int64	   *ids;
	float	   *w;
	int			n;

	if (s->fit != NULL)
	{
		const RecoInteractions *in = s->fit;
		int64		u = reco_id_index(in->user_ids, in->nu, user_id);
		int64		start;
		int			len;

		if (u < 0)
			return RECO_STRANGER;
		start = in->Rui.indptr[u];
		len = (int) (in->Rui.indptr[u + 1] - start);
		/* a fit's items are the model's: dense indexes already */
		accumulate(m, in->Rui.indices + start, in->Rui.data + start, len, state);
		if (seen != NULL)
			*seen = reco_csr_row_ids(&in->Rui, u, in->item_ids);
		return RECO_PERSONAL;
	}
	if (!reco_storage_user_history(m->version_id, user_id, NULL, 0, &ids, &w, &n))
		return RECO_STRANGER;
	knn_state(m, NULL, ids, w, n, state);
	if (seen != NULL)
	{
		Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

		for (int i = 0; i < n; i++)
			d[i] = Int64GetDatum(ids[i]);
		*seen = construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	}
	return RECO_PERSONAL;
}

static void
knn_score(RecoModel *m, const float *state, const int32 *idx, int n, float *scores)
{
	if (idx == NULL)
		memcpy(scores, state, sizeof(float) * m->n_items);
	else
		for (int i = 0; i < n; i++)
			scores[i] = state[idx[i]];
}

/* family->similar: the item's own list; nothing else is similar */
static void
knn_similar(RecoModel *m, int32 idx, float *scores)
{
	KnnModel   *s = m->fs;

	for (int32 i = 0; i < m->n_items; i++)
		scores[i] = NAN;
	for (int r = 0; r < s->k; r++)
		if (s->nbr[(Size) idx * s->k + r] >= 0)
			scores[s->nbr[(Size) idx * s->k + r]] = s->w[(Size) idx * s->k + r];
}

/* family->explain: each history item's weight x its weight for idx, exactly */
static int
knn_explain(RecoModel *m, int64 user_id, int64 *ids, const float *w, int n, int32 idx,
			float *contrib)
{
	KnnModel   *s = m->fs;
	int			kept = 0;

	for (int h = Max(0, n - m->params.history); h < n; h++)
	{
		int32		i = reco_model_item_index(m, ids[h]);
		float		c = 0.0f;

		if (i < 0)
			continue;
		for (int r = 0; r < s->k; r++)
			if (s->nbr[(Size) i * s->k + r] == idx)
				c = w[h] * s->w[(Size) i * s->k + r];
		ids[kept] = ids[h];
		contrib[kept++] = c;
	}
	(void) user_id;
	return kept;
}

static int
knn_row_floats(const RecoModel *m)
{
	return 0;
}

static void
knn_new_row(RecoModel *m, int64 user_id, float *row)
{
}

/* family->fold: nothing to solve; the history online.c keeps is the state */
static bool
knn_fold(const RecoModel *m, const int64 *ids, const float *w, int len, float *row,
		 const char **why)
{
	return true;
}

/* A stored history as the interactions of one more user */
static void
add_history(void *arg, Datum factors, const int64 *ids, const float *w, int n)
{
	RecoTriplets *t = arg;
	int64		user = t->n > 0 ? t->rows[t->n - 1].user + 1 : 0;

	for (int h = 0; h < n; h++)
		reco_triplets_add(t, user, ids[h], w[h]);
}

/*
 * The lists of items (sorted ids) recomputed from the version's stored
 * histories as they are now, written, and published; an item nobody holds
 * leaves.  ease recomputes every list (its weights are one inverse).
 */
static void
rebuild(RecoModel *m, const int64 *items, int64 n, RecoResolved *done)
{
	RecoBudget	budget;
	RecoTriplets t;
	KnnFit	   *f = palloc0(sizeof(KnnFit));
	int32	   *dense;
	int64		nd = 0;
	float	   *row;
	bool		all = is_ease(&m->params);

	reco_budget_init(&budget, "refresh");
	reco_triplets_init(&t, &budget);
	reco_storage_each_user(m->version_id, add_history, &t);

	memset(done, 0, sizeof(*done));
	if (t.n == 0)
	{
		/* nobody left: every item goes */
		for (int64 i = 0; i < m->n_items; i++)
			reco_storage_item_delete(m->version_id, m->item_ids[i]);
		done->removed = m->n_items;
		reco_storage_publish(m->version_id, 0);
		return;
	}
	reco_interactions(psprintf("model \"%s\"", m->name), &m->params, &t, &f->in);
	dense = palloc(sizeof(int32) * Max(n, 1));
	for (int64 i = 0; i < n; i++)
	{
		int64		j = reco_id_index(f->in.item_ids, f->in.ni, items[i]);

		if (j >= 0)
			dense[nd++] = (int32) j;
		else if (!all && reco_model_item_index(m, items[i]) >= 0)
		{
			/* (ease deletes every item nobody holds below, these too) */
			reco_storage_item_delete(m->version_id, items[i]);
			done->removed++;
		}
	}
	knn_lists(psprintf("model \"%s\"", m->name), &m->params, f, &budget, dense, nd);
	f->popularity = NULL;
	row = palloc(sizeof(float) * 3 * f->k);
	for (int64 t2 = 0; t2 < (all ? f->in.ni : nd); t2++)
	{
		int32		j = all ? (int32) t2 : dense[t2];
		int64		id = f->in.item_ids[j];

		CHECK_FOR_INTERRUPTS();
		pack_row(f, j, row);
		if (reco_model_item_index(m, id) < 0)
			done->new_items++;
		reco_storage_item_put(m->version_id, id,
							  (float) (f->in.Riu.indptr[j + 1] - f->in.Riu.indptr[j]),
							  row, 3 * f->k);
		done->items++;
	}
	if (all)
		for (int32 i = 0; i < m->n_items; i++)
			if (reco_id_index(f->in.item_ids, f->in.ni, m->item_ids[i]) < 0)
			{
				reco_storage_item_delete(m->version_id, m->item_ids[i]);
				done->removed++;
			}
	reco_storage_publish(m->version_id, m->n_items + done->new_items - done->removed);
}

/* family->refresh: the queue taken, the touched items' lists recomputed */
static int64
knn_refresh(RecoModel *m, Snapshot snap, RecoResolved *done)
{
	int64		n;
	int64	   *touched;
	int64		events = reco_storage_pending_take(m->version_id, snap, &touched, &n);

	if (n > 0)
		rebuild(m, touched, n, done);
	return events;
}

/* family->forget: the lists of the customer's items without them */
static void
knn_forget(RecoModel *m, const int64 *items, int64 n, RecoResolved *done)
{
	memset(done, 0, sizeof(*done));
	if (n > 0)
		rebuild(m, items, n, done);
}

#define KNN_FAMILY(fname) \
	.name = fname, \
	.fit_store = knn_fit_store, \
	.fit_memory = knn_fit_memory, \
	.load = knn_load, \
	.user_floats = knn_user_floats, \
	.user = knn_user, \
	.score = knn_score, \
	.state = knn_state, \
	.similar = knn_similar, \
	.row_floats = knn_row_floats, \
	.refresh = knn_refresh, \
	.forget = knn_forget, \
	.explain = knn_explain, \
	.new_row = knn_new_row, \
	.fold = knn_fold

const RecoFamily reco_family_itemknn = {KNN_FAMILY("itemknn")};
const RecoFamily reco_family_ease = {KNN_FAMILY("ease")};
