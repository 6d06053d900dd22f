/*
 * repeat.c - buying again (repeat.h): the repeat-purchase term, fitted on
 * a validation slice in reco_train, stored with the version and added to
 * the scores of a customer's own items when those may be recommended
 */
#include "reco.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "topk.h"

#include "repeat.h"
#include "resources.h"
#include "storage.h"
#include "family/family.h"

#define MAX_CUSTOMERS 2000		/* validation customers scored, at most */
#define SMOOTHING 10.0			/* customers' worth of the overall rate */
#define TOP 10					/* the list the fit judges */
#define MIN_EVENTS 100

static const float weight_grid[] = {0.0f, 0.03f, 0.1f, 0.3f, 1.0f, 3.0f, 10.0f, 30.0f};
static const float half_grid[] = {0.0f, 3.0f, 10.0f, 30.0f};

typedef struct Pair
{
	int64		a;
	int64		b;
} Pair;

static int
cmp_pair(const void *x, const void *y)
{
	const Pair *p = x;
	const Pair *q = y;

	if (p->a != q->a)
		return (p->a > q->a) - (p->a < q->a);
	return (p->b > q->b) - (p->b < q->b);
}

/* Each item's share of buyers again, pulled toward the overall share */
static void
propensity_finish(RecoRepeat *r)
{
	int64		all = 0;
	int64		all_again = 0;

	for (int32 j = 0; j < r->n; j++)
	{
		all += r->buyers[j];
		all_again += r->again[j];
	}
	r->prior = all > 0 ? (float) ((double) all_again / all) : 0.0f;
	for (int32 j = 0; j < r->n; j++)
		r->p[j] = (float) ((r->again[j] + SMOOTHING * r->prior) / (r->buyers[j] + SMOOTHING));
}

/*
 * Count each item's customers and those who bought it more than once (more
 * than one event), over the pairs a family's fit keeps: t merged as the fit
 * merges it (a copy, the same code), so whoever counts has a row; with
 * keep, out->counted gets what each customer counted for
 */
static void
propensity(const RecoTriplets *t, RecoBudget *b, RecoRepeat *out, bool keep)
{
	RecoTriplets pairs;
	int64	   *counts = reco_budget_alloc(b, sizeof(int64) * Max(t->n, 1), "repeat purchases");
	Pair	   *by_item;
	int64		nc = 0;
	int32		n = 0;

	pairs = *t;
	pairs.budget = b;
	pairs.cap = Max(t->n, 1);
	pairs.rows = reco_budget_alloc(b, sizeof(RecoTriplet) * pairs.cap, "repeat purchases");
	memcpy(pairs.rows, t->rows, sizeof(RecoTriplet) * t->n);
	reco_triplets_merge(&pairs, false, counts);

	/* (item, pair) in item order: runs of one item's customers */
	by_item = reco_budget_alloc(b, sizeof(Pair) * Max(pairs.n, 1), "repeat purchases");
	for (int64 k = 0; k < pairs.n; k++)
	{
		by_item[k].a = pairs.rows[k].item;
		by_item[k].b = k;
	}
	qsort(by_item, pairs.n, sizeof(Pair), cmp_pair);
	for (int64 k = 0; k < pairs.n; k++)
		n += k == 0 || by_item[k].a != by_item[k - 1].a;
	out->ids = reco_budget_alloc(b, sizeof(int64) * Max(n, 1), "repeat purchases");
	out->buyers = reco_budget_alloc(b, sizeof(int32) * Max(n, 1), "repeat purchases");
	out->again = reco_budget_alloc(b, sizeof(int32) * Max(n, 1), "repeat purchases");
	out->p = reco_budget_alloc(b, sizeof(float) * Max(n, 1), "repeat purchases");
	n = 0;
	for (int64 k = 0; k < pairs.n; k++)
	{
		if (k == 0 || by_item[k].a != by_item[k - 1].a)
		{
			out->ids[n] = by_item[k].a;
			out->buyers[n] = out->again[n] = 0;
			n++;
		}
		out->buyers[n - 1]++;
		out->again[n - 1] += counts[by_item[k].b] > 1;
	}
	out->n = n;
	propensity_finish(out);

	/* the merged pairs are in (user, item) order already */
	if (keep)
	{
		for (int64 k = 0; k < pairs.n; k++)
			nc += Min(counts[k], 2);
		out->counted.user = reco_budget_alloc(b, sizeof(int64) * Max(nc, 1), "repeat purchases");
		out->counted.item = reco_budget_alloc(b, sizeof(int64) * Max(nc, 1), "repeat purchases");
		nc = 0;
		for (int64 k = 0; k < pairs.n; k++)
			for (int c = 0; c < Min(counts[k], 2); c++)
			{
				out->counted.user[nc] = pairs.rows[k].user;
				out->counted.item[nc++] = pairs.rows[k].item;
			}
		out->counted.n = nc;
	}
	reco_budget_free(b, by_item, sizeof(Pair) * Max(pairs.n, 1));
	reco_budget_free(b, pairs.rows, sizeof(RecoTriplet) * pairs.cap);
	reco_budget_free(b, counts, sizeof(int64) * Max(t->n, 1));
}

/* One validation customer as the fit without the slice saw them */
typedef struct Judged
{
	int			ntop;
	int32		top[TOP];		/* their best items they had not bought */
	float		top_s[TOP];
	int			nseen;
	int32	   *seen;			/* what they had bought, with its */
	float	   *seen_s;			/* score, */
	float	   *seen_c;			/* p x log(1 + weight), */
	int32	   *seen_age;		/* and position from the end of their history */
	float		scale;			/* largest |score| */
	int			nrel;
	int32	   *rel;			/* what they bought in the slice (sorted) */
	double		ideal;			/* DCG of a perfect list */
} Judged;

static int
cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

static float
decay(float half, int32 age)
{
	return half > 0.0f ? exp2f(-(float) age / half) : 1.0f;
}

/* nDCG@TOP of one customer's list with the term at (weight, half) */
static double
judge(const Judged *j, float weight, float half, float *cand, int32 *idx, TopkEntry *top)
{
	int			n = 0;
	int			got;
	double		dcg = 0.0;

	for (int i = 0; i < j->ntop; i++)
	{
		cand[n] = j->top_s[i];
		idx[n++] = j->top[i];
	}
	for (int i = 0; i < j->nseen; i++)
	{
		cand[n] = j->seen_s[i] + weight * j->scale * j->seen_c[i] * decay(half, j->seen_age[i]);
		idx[n++] = j->seen[i];
	}
	got = topk_select(cand, n, NULL, TOP, top);
	for (int r = 0; r < got; r++)
		if (bsearch(&idx[top[r].index], j->rel, j->nrel, sizeof(int32), cmp_int32) != NULL)
			dcg += 1.0 / log2(r + 2.0);
	return dcg / j->ideal;
}

/* The propensity of item id, or the prior */
static float
item_propensity(const RecoRepeat *r, int64 id)
{
	int64		j = reco_id_index(r->ids, r->n, id);

	return j >= 0 ? r->p[j] : r->prior;
}

bool
reco_repeat_fit(const RecoFamily *family, const RecoTrainParams *params, RecoTriplets *t,
				RecoRepeat *out)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work;
	RecoBudget	vb = *t->budget;	/* what the fit allocates is all freed with work */
	RecoBudget *b = &vb;
	RecoTriplets train;
	Pair	   *last;
	int64		nlast = 0;
	Pair	   *val;
	int64		nval = 0;
	int64		step;
	int64		ncust = 0;
	RecoModel  *m;
	RecoRepeat	before = {0};
	Judged	   *judged;
	int			nj = 0;
	float	   *x;
	float	   *scores;
	uint8	   *skip;
	float	   *cand;
	int32	   *cidx;
	TopkEntry	top[TOP];
	double		best = -1.0;

	memset(out, 0, sizeof(*out));
	if (params->explicit_ratings || t->n < MIN_EVENTS)
		return false;
	work = AllocSetContextCreate(caller, "reco buying again", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work);

	/*
	 * The slice: each customer's latest moment (a basket, an invoice: their
	 * events at their latest time), when they have events before it
	 */
	last = reco_budget_alloc(b, sizeof(Pair) * t->n, "the validation slice");
	for (int64 i = 0; i < t->n; i++)
	{
		last[i].a = t->rows[i].user;
		last[i].b = t->rows[i].ts;
	}
	qsort(last, t->n, sizeof(Pair), cmp_pair);
	/* keep, per customer, (user, latest time) when an earlier time exists */
	for (int64 i = 0, end; i < t->n; i = end)
	{
		for (end = i; end < t->n && last[end].a == last[i].a; end++)
			;
		if (last[i].b != last[end - 1].b)
			last[nlast++] = last[end - 1];
	}
	reco_triplets_init(&train, b);
	val = reco_budget_alloc(b, sizeof(Pair) * t->n, "the validation slice");
	for (int64 i = 0; i < t->n; i++)
	{
		const RecoTriplet *r = &t->rows[i];
		Pair		key = {r->user, r->ts};

		if (bsearch(&key, last, nlast, sizeof(Pair), cmp_pair) == NULL)
			reco_triplets_add_at(&train, r->user, r->item, r->weight, r->ts);
		else
		{
			val[nval].a = r->user;
			val[nval++].b = r->item;
		}
	}
	qsort(val, nval, sizeof(Pair), cmp_pair);
	for (int64 i = 0; i < nval; i++)
		ncust += i == 0 || val[i].a != val[i - 1].a;
	if (train.n < MIN_EVENTS || ncust == 0)
		goto none;

	/* judged by propensities of the events before the slice alone */
	propensity(&train, b, &before, false);
	m = family->fit_memory(params, &train, "buying-again validation");
	/* the fit merged train: by (user, item), one row a pair */

	x = palloc(sizeof(float) * family->user_floats(m));
	scores = palloc_extended(sizeof(float) * Max(m->n_items, 1), MCXT_ALLOC_HUGE);
	skip = palloc((m->n_items + 7) / 8 + 1);
	judged = palloc0(sizeof(Judged) * Min(ncust, MAX_CUSTOMERS));
	step = (ncust + MAX_CUSTOMERS - 1) / MAX_CUSTOMERS;
	for (int64 i = 0, c = 0, end; i < nval; i = end, c++)
	{
		int64		user = val[i].a;
		Judged	   *j = &judged[nj];
		int64		first;
		int			nhist;
		Pair	   *order;

		for (end = i; end < nval && val[end].a == user; end++)
			;
		if (c % step != 0)
			continue;
		CHECK_FOR_INTERRUPTS();
		if (family->user(m, user, x, NULL) == RECO_STRANGER)
			continue;
		family->score(m, x, NULL, m->n_items, scores);

		/* their history in the fit: a range of the merged rows */
		first = reco_lower_bound(&train.rows[0].user, train.n, sizeof(RecoTriplet), user);
		for (nhist = 0; first + nhist < train.n && train.rows[first + nhist].user == user; nhist++)
			;
		memset(skip, 0, (m->n_items + 7) / 8 + 1);
		j->seen = palloc(sizeof(int32) * Max(nhist, 1));
		j->seen_s = palloc(sizeof(float) * Max(nhist, 1));
		j->seen_c = palloc(sizeof(float) * Max(nhist, 1));
		j->seen_age = palloc(sizeof(int32) * Max(nhist, 1));
		/* the history least recent first, as it is stored */
		order = palloc(sizeof(Pair) * Max(nhist, 1));
		for (int h = 0; h < nhist; h++)
		{
			order[h].a = train.rows[first + h].ts;
			order[h].b = train.rows[first + h].item;
		}
		qsort(order, nhist, sizeof(Pair), cmp_pair);
		for (int h = 0; h < nhist; h++)
		{
			/* the same customer's rows are sorted by item */
			const RecoTriplet *r = train.rows + first +
				reco_lower_bound(&train.rows[first].item, nhist, sizeof(RecoTriplet), order[h].b);
			int32		idx = reco_model_item_index(m, r->item);

			if (idx < 0)
				continue;
			topk_bit_set(skip, idx);
			j->seen[j->nseen] = idx;
			j->seen_s[j->nseen] = scores[idx];
			/*
			 * times the item's propensity, once known.  The customer's whole
			 * weight: max_weight keeps one customer from owning an item's
			 * vector, but their own repeat signal is theirs (log1p damps it)
			 */
			j->seen_c[j->nseen] = (float) log1p(r->weight);
			j->seen_age[j->nseen] = nhist - 1 - h;
			j->nseen++;
		}
		j->ntop = topk_select(scores, m->n_items, skip, TOP, top);
		for (int r = 0; r < j->ntop; r++)
		{
			j->top[r] = top[r].index;
			j->top_s[r] = top[r].score;
		}
		j->scale = 0.0f;
		for (int32 k = 0; k < m->n_items; k++)
			j->scale = Max(j->scale, fabsf(scores[k]));
		/* what they bought in the slice: the list's relevant items */
		j->rel = palloc(sizeof(int32) * (end - i));
		for (int64 v = i, distinct = 0; v < end; v++)
		{
			int32		idx;

			if (v > i && val[v].b == val[v - 1].b)
				continue;
			if (distinct++ < TOP)
				j->ideal += 1.0 / log2(distinct + 1.0);
			idx = reco_model_item_index(m, val[v].b);
			if (idx >= 0)
				j->rel[j->nrel++] = idx;
		}
		qsort(j->rel, j->nrel, sizeof(int32), cmp_int32);
		nj++;
	}
	if (nj == 0)
		goto none;

	for (int c = 0; c < nj; c++)
		for (int s = 0; s < judged[c].nseen; s++)
			judged[c].seen_c[s] *= item_propensity(&before, m->item_ids[judged[c].seen[s]]);

	cand = palloc(sizeof(float) * (TOP + train.n));
	cidx = palloc(sizeof(int32) * (TOP + train.n));
	for (int a = 0; a < lengthof(weight_grid); a++)
		for (int h = 0; h < lengthof(half_grid); h++)
		{
			double		sum = 0.0;

			if (a == 0 && h > 0)
				continue;		/* no term: the half-life does not matter */
			for (int c = 0; c < nj; c++)
				sum += judge(&judged[c], weight_grid[a], half_grid[h], cand, cidx, top);
			sum /= nj;
			if (a == 0)
				out->ndcg_without = sum;
			/* a term must earn its place: ties keep the smaller weight */
			if (sum > best + 1e-9)
			{
				best = sum;
				out->weight = weight_grid[a];
				out->half = half_grid[h];
			}
		}
	out->ndcg_with = best;
	out->customers = nj;
	/*
	 * serving's propensities count every event; what they keep lives on
	 * through the family's fit, so it counts on the run's own budget
	 */
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(work);
	t->budget->peak = Max(t->budget->peak, vb.peak);
	propensity(t, t->budget, out, true);
	return true;

none:
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(work);
	t->budget->peak = Max(t->budget->peak, vb.peak);
	return false;
}

/*
 * The stored form: a head, then one entry an item, ascending by id.  format
 * tells it from the layout of development builds before it (three floats,
 * the ids, then the propensities), which no release wrote
 */
typedef struct StoredHead
{
	int32		format;			/* FORMAT */
	float		weight;
	float		half;
	int32		unused;
} StoredHead;

typedef struct StoredItem
{
	int64		id;
	int32		buyers;
	int32		again;
} StoredItem;

#define FORMAT 2

static void
write_term(int64 version_id, const RecoRepeat *r, bool update)
{
	Size		bytes = sizeof(StoredHead) + sizeof(StoredItem) * r->n;
	char	   *buf = palloc0(bytes);
	StoredHead	head = {FORMAT, r->weight, r->half, 0};
	StoredItem *e = (StoredItem *) (buf + sizeof(StoredHead));

	memcpy(buf, &head, sizeof(head));
	for (int32 j = 0; j < r->n; j++)
	{
		e[j].id = r->ids[j];
		e[j].buyers = r->buyers[j];
		e[j].again = r->again[j];
	}
	if (update)
		reco_storage_blob_update(version_id, "repeat", buf, bytes);
	else
		reco_store_blob(version_id, "repeat", buf, bytes);
	pfree(buf);
}

void
reco_repeat_store(int64 version_id, const RecoRepeat *r)
{
	write_term(version_id, r, false);
}

typedef enum TermRead
{
	TERM_NONE,					/* the version has no term */
	TERM_READ,
	TERM_OLD					/* a development build's layout */
} TermRead;

/* The term of a version, palloc'd; corrupt data is an error */
static TermRead
read_term(int64 version_id, RecoRepeat *r)
{
	bool		isnull;
	bytea	   *b;
	Size		len;
	StoredHead	head;
	const char *data;

	memset(r, 0, sizeof(*r));
	if (!reco_storage_blob(version_id, "repeat"))
		return TERM_NONE;
	b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	len = VARSIZE_ANY_EXHDR(b);
	data = VARDATA_ANY(b);
	if (len >= sizeof(head))
		memcpy(&head, data, sizeof(head));
	if (len < sizeof(head) || head.format != FORMAT)
	{
		SPI_freetuptable(SPI_tuptable);
		return TERM_OLD;
	}
	if ((len - sizeof(head)) % sizeof(StoredItem) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the repeat-purchase term of version %lld is malformed",
						(long long) version_id)));
	r->weight = head.weight;
	r->half = head.half;
	r->n = (int32) ((len - sizeof(head)) / sizeof(StoredItem));
	r->ids = palloc(sizeof(int64) * Max(r->n, 1));
	r->buyers = palloc(sizeof(int32) * Max(r->n, 1));
	r->again = palloc(sizeof(int32) * Max(r->n, 1));
	r->p = palloc(sizeof(float) * Max(r->n, 1));
	for (int32 j = 0; j < r->n; j++)
	{
		StoredItem	e;

		memcpy(&e, data + sizeof(head) + sizeof(StoredItem) * j, sizeof(StoredItem));
		r->ids[j] = e.id;
		r->buyers[j] = e.buyers;
		r->again[j] = e.again;
		if (e.buyers < 1 || e.again < 0 || e.again > e.buyers || (j > 0 && e.id <= r->ids[j - 1]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the repeat-purchase term of version %lld is malformed",
							(long long) version_id)));
	}
	if (!isfinite(head.weight) || !isfinite(head.half))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the repeat-purchase term of version %lld is not finite",
						(long long) version_id)));
	SPI_freetuptable(SPI_tuptable);
	propensity_finish(r);
	return TERM_READ;
}

void
reco_repeat_load(RecoModel *m)
{
	RecoRepeat	r;

	m->repeat_p = NULL;
	switch (read_term(m->version_id, &r))
	{
		case TERM_NONE:
			return;
		case TERM_OLD:
			ereport(WARNING,
					(errmsg("the repeat-purchase term of model \"%s\" was written by a development build and is ignored",
							reco_name_msg(m->name)),
					 errhint("Retrain the model to fit it again.")));
			return;
		case TERM_READ:
			break;
	}
	m->repeat_weight = r.weight;
	m->repeat_half = r.half;
	m->repeat_p = MemoryContextAllocHuge(m->mcxt, sizeof(float) * Max(m->n_items, 1));
	for (int32 i = 0; i < m->n_items; i++)
		m->repeat_p[i] = item_propensity(&r, m->item_ids[i]);
}

void
reco_repeat_forget(int64 version_id, int64 *counted, int n)
{
	RecoRepeat	r;
	int32		kept = 0;

	switch (n == 0 ? TERM_NONE : read_term(version_id, &r))
	{
		case TERM_NONE:
			return;
		case TERM_OLD:
			/* unreadable, so it cannot be recounted: it goes */
			reco_storage_blob_delete(version_id, "repeat");
			return;
		case TERM_READ:
			break;
	}
	qsort(counted, n, sizeof(int64), reco_cmp_int64);
	for (int i = 0, run; i < n; i += run)
	{
		int64		j;

		for (run = 1; i + run < n && counted[i + run] == counted[i]; run++)
			;
		j = reco_id_index(r.ids, r.n, counted[i]);
		if (j < 0)
			continue;
		r.buyers[j]--;
		r.again[j] -= run > 1;
	}
	for (int32 j = 0; j < r.n; j++)
		if (r.buyers[j] > 0)
		{
			r.ids[kept] = r.ids[j];
			r.buyers[kept] = r.buyers[j];
			r.again[kept++] = Max(Min(r.again[j], r.buyers[j]), 0);
		}
	r.n = kept;
	write_term(version_id, &r, true);
}

void
reco_repeat_apply(const RecoModel *m, const int64 *ids, const float *w, int n, float *scores)
{
	float		scale = 0.0f;

	if (m->repeat_p == NULL || m->repeat_weight == 0.0f)
		return;
	for (int32 i = 0; i < m->n_items; i++)
		scale = Max(scale, fabsf(scores[i]));
	for (int h = 0; h < n; h++)
	{
		int32		idx = reco_model_item_index(m, ids[h]);

		if (idx < 0)
			continue;
		scores[idx] += m->repeat_weight * scale * m->repeat_p[idx] *
			(float) log1p(w[h]) * decay(m->repeat_half, n - 1 - h);
	}
}
