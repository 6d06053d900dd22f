/*
 * family/als_resolve.c - ALS: re-solve some items of a version against its user rows as
 * they are now, and publish the result
 *
 * reco_refresh re-solves the items that online events touched;
 * reco_forget_user re-solves the items a forgotten customer touched, once
 * their row is gone, so the version no longer encodes them.  Each item gets
 * the exact solve of its side of ALS against its current users (implicit:
 * pulled toward its attribute prior if it has one; explicit ratings: the
 * ALS-WR item step).  An item no user holds any more leaves the version
 * (unless it has a prior: it then goes back to it).  The Gram matrix is
 * recomputed and the revision bumped, so every backend reloads.
 *
 * Reads run under the caller's active snapshot; the caller holds the
 * model's registry row lock and an SPI connection.
 */
#include "reco.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include <cblas.h>
#undef I

#include "model.h"
#include "family/als_model.h"
#include "refresh.h"
#include "storage.h"
#include "resources.h"

#define GRAM_BATCH 4096

/* The users of one item, gathered during the pass over all users */
typedef struct ItemUsers
{
	int			n;
	int			cap;
	float	   *X;				/* n x f user factors */
	float	   *w;				/* the item's weight in each user's history */
} ItemUsers;

/* What the pass over the user rows gathers (user_pass) */
typedef struct UserPass
{
	const RecoModel *m;
	const int64 *items;			/* sorted ids */
	int64		n_items;
	ItemUsers  *users;
	RecoBudget *budget;
	float	   *G;
	float	   *X;				/* the batch's user factors, GRAM_BATCH rows */
	int			nx;
	double		weight_sum;
	int64		weight_count;
} UserPass;

/* X'X += the batch of user rows gathered so far */
static void
gram_flush(UserPass *p)
{
	int			f = p->m->factors;

	if (p->nx > 0)
		cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, f, p->nx,
					1.0f, p->X, f, 1.0f, p->G, f);
	p->nx = 0;
}

static void
user_visit(void *arg, Datum factors, const int64 *ids, const float *w, int n)
{
	UserPass   *p = arg;
	int			f = p->m->factors;
	float	   *x = p->X + (Size) p->nx * f;

	memcpy(x, reco_bytea_floats(factors, f, "user factors"), sizeof(float) * f);
	for (int h = 0; h < n; h++)
	{
		int64	   *hit = bsearch(&ids[h], p->items, p->n_items, sizeof(int64), reco_cmp_int64);
		ItemUsers  *u;

		p->weight_sum += w[h];
		p->weight_count++;
		if (hit == NULL)
			continue;
		u = &p->users[hit - p->items];
		if (u->n == u->cap)
		{
			/* repalloc may copy: count the old arrays and the new */
			reco_budget_charge(p->budget, (double) sizeof(float) * (f + 1) * Max(16, u->cap * 2),
							   "the users of the re-solved items");
			reco_budget_release(p->budget, (double) sizeof(float) * (f + 1) * u->cap);
			u->cap = Max(16, u->cap * 2);
			u->X = u->X ? repalloc_huge(u->X, sizeof(float) * f * u->cap)
				: palloc(sizeof(float) * f * u->cap);
			u->w = u->w ? repalloc_huge(u->w, sizeof(float) * u->cap)
				: palloc(sizeof(float) * u->cap);
		}
		memcpy(u->X + (int64) u->n * f, x, sizeof(float) * f);
		/* a customer's weight for an item counts up to max_weight */
		u->w[u->n++] = p->m->params.explicit_ratings ? w[h]
			: (float) Min(w[h], p->m->params.max_weight);
	}
	if (++p->nx == GRAM_BATCH)
		gram_flush(p);
}

/*
 * One pass over every user row of the version: X'X (f x f, both triangles),
 * for each item of items (sorted ids) the users whose history has it, and
 * the sum and count of all history weights (the mean rating of a rating
 * model).  One sequential pass instead of an index probe per item.
 */
static float *
user_pass(const RecoModel *m, const int64 *items, int64 n_items, ItemUsers *users,
		  RecoBudget *budget, double *weight_sum, int64 *weight_count)
{
	int			f = m->factors;
	UserPass	p = {m, items, n_items, users, budget};

	reco_budget_charge(budget, sizeof(float) * f * (f + GRAM_BATCH), "the user Gram matrix");
	p.G = palloc0(sizeof(float) * f * f);
	p.X = palloc(sizeof(float) * f * GRAM_BATCH);
	reco_storage_each_user(m->version_id, user_visit, &p);
	gram_flush(&p);
	for (int i = 0; i < f; i++)
		for (int j = 0; j < i; j++)
			p.G[i * f + j] = p.G[j * f + i];
	pfree(p.X);
	reco_budget_release(budget, sizeof(float) * f * GRAM_BATCH);
	*weight_sum = p.weight_sum;
	*weight_count = p.weight_count;
	return p.G;
}

/* An item's attribute prior in the version, or NULL */
static float *
item_prior(const RecoModel *m, int64 item_id)
{
	float	   *prior;
	bool		isnull;

	if (!reco_storage_item_prior(m->version_id, item_id))
		return NULL;
	prior = palloc(sizeof(float) * m->factors);
	memcpy(prior, reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												  1, &isnull), m->factors, "an item prior"),
		   sizeof(float) * m->factors);
	return prior;
}

/* Say that an item keeps what it had: its solve failed */
static void
warn_item(const RecoModel *m, int64 item_id)
{
	ereport(WARNING,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("re-solving item %lld of model \"%s\" failed: the solve is not positive definite or not finite",
					(long long) item_id, m->name),
			 errdetail("The item keeps the factors it had."),
			 errhint("Retrain with a larger \"regularization\".")));
}

/*
 * The implicit solve of one item against its users, toward its prior;
 * false when it fails (y untouched).
 */
static bool
solve_implicit(const RecoModel *m, const ItemUsers *u, const float *XtX,
			   const float *prior, float *y)
{
	int			f = m->factors;
	float	   *Xu = palloc(sizeof(float) * f * u->n);
	float	   *scratch = palloc(sizeof(float) * als_fold_in_floats(f, u->n));
	float	   *out = palloc(sizeof(float) * f);
	bool		ok;

	memcpy(Xu, u->X, sizeof(float) * f * u->n);	/* als_fold_in overwrites it */
	ok = als_fold_in(XtX, Xu, u->w, u->n, prior, &m->params.als, out, scratch) &&
		reco_floats_finite(out, f);
	if (ok)
		memcpy(y, out, sizeof(float) * f);
	pfree(Xu);
	pfree(scratch);
	pfree(out);
	return ok;
}

/*
 * The ALS-WR item step for the n items with users (rows of Y, all of
 * factors + ALS_EXPLICIT_EXTRA components), against their raters; false
 * for a row that fails (it keeps what Y held).
 */
static void
solve_explicit(const RecoModel *m, const ItemUsers *users, int64 n, float mean,
			   float *Y, bool *failed)
{
	int			d = m->factors;
	int64		total = 0;
	int64		longest = 1;
	RecoCsr		R;
	float	   *O;
	float	   *scratch;

	for (int64 i = 0; i < n; i++)
	{
		total += users[i].n;
		longest = Max(longest, users[i].n);
	}
	R.nrows = (int32) n;
	R.ncols = (int32) total;
	R.indptr = palloc(sizeof(int64) * (n + 1));
	R.indices = palloc(sizeof(int32) * Max(total, 1));
	R.data = palloc(sizeof(float) * Max(total, 1));
	O = palloc_extended(sizeof(float) * d * Max(total, 1), MCXT_ALLOC_HUGE);
	R.indptr[0] = 0;
	for (int64 i = 0, k = 0; i < n; i++)
	{
		for (int j = 0; j < users[i].n; j++, k++)
		{
			R.indices[k] = (int32) k;
			R.data[k] = users[i].w[j];
			memcpy(O + k * d, users[i].X + (int64) j * d, sizeof(float) * d);
		}
		R.indptr[i + 1] = R.indptr[i] + users[i].n;
	}
	als_explicit_init(Y, n, m->params.als.factors, ALS_ITEMS, mean);
	scratch = palloc(sizeof(float) * als_explicit_scratch_floats(m->params.als.factors, longest));
	for (int64 i = 0; i < n; i++)
	{
		float	   *before = palloc(sizeof(float) * d);

		CHECK_FOR_INTERRUPTS();
		memcpy(before, Y + i * d, sizeof(float) * d);
		failed[i] = !als_solve_explicit_row(&R, (int32) i, Y, O, &m->params.als,
											ALS_ITEMS, mean, scratch) ||
			!reco_floats_finite(Y + i * d, d);
		if (failed[i])
			memcpy(Y + i * d, before, sizeof(float) * d);
		pfree(before);
	}
}

/* The mean rating a rating version was trained around (its "mean" blob) */
static bool
version_mean(const RecoModel *m, float *mean)
{
	bool		isnull;

	if (!reco_storage_blob(m->version_id, "mean"))
		return false;
	*mean = *reco_bytea_floats(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											 &isnull), 1, "the mean rating");
	return true;
}

/*
 * Re-solve the items ids[0..n) (sorted, distinct) of version m against its
 * user rows, add the cold items (their attribute vectors, kept as priors),
 * and publish: recompute the Gram matrix and bump the revision.
 */
void
reco_resolve_items(RecoModel *m, const int64 *ids, int64 n, const int64 *cold_ids,
				   const float *Ycold, int64 n_cold, RecoResolved *out)
{
	int			f = m->factors;
	bool		rated = m->params.explicit_ratings;
	RecoBudget	budget;
	ItemUsers  *users;
	float	   *Ynew;
	bool	   *gone;
	bool	   *failed;
	double		weight_sum;
	int64		weight_count;
	float	   *XtX;
	int64		n_all;
	int64		row;
	float	   *Yall;

	memset(out, 0, sizeof(*out));
	reco_budget_init(&budget, "refresh");
	reco_budget_charge(&budget, (double) n * (sizeof(ItemUsers) + sizeof(float) * f + 2),
					   "the re-solved items");
	users = palloc0(sizeof(ItemUsers) * Max(n, 1));
	Ynew = palloc0(sizeof(float) * f * Max(n, 1));
	gone = palloc0(sizeof(bool) * Max(n, 1));
	failed = palloc0(sizeof(bool) * Max(n, 1));
	XtX = user_pass(m, ids, n, users, &budget, &weight_sum, &weight_count);

	/* the solves: what each item becomes, or that it leaves */
	for (int64 i = 0; i < n; i++)
	{
		int32		idx = reco_model_item_index(m, ids[i]);
		float	   *y = Ynew + i * f;
		float	   *prior = rated ? NULL : item_prior(m, ids[i]);

		CHECK_FOR_INTERRUPTS();
		if (idx >= 0)
			reco_model_item(m, als_model(m)->Yt, idx, y);	/* kept if the solve fails */
		if (users[i].n == 0)
		{
			gone[i] = (prior == NULL);
			if (prior != NULL)
				memcpy(y, prior, sizeof(float) * f);
		}
		else if (!rated && !solve_implicit(m, &users[i], XtX, prior, y))
		{
			failed[i] = true;
			if (idx < 0 && prior != NULL)
				memcpy(y, prior, sizeof(float) * f);
			gone[i] = (idx < 0 && prior == NULL);
		}
	}
	if (rated && n > 0)
	{
		float		mean;

		if (!version_mean(m, &mean))
			mean = weight_count > 0 ? (float) (weight_sum / weight_count) : 0.0f;
		solve_explicit(m, users, n, mean, Ynew, failed);
		for (int64 i = 0; i < n; i++)
			if (failed[i] && reco_model_item_index(m, ids[i]) < 0)
				gone[i] = true;
	}

	/* write them */
	for (int64 i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (failed[i])
			warn_item(m, ids[i]);
		if (gone[i])
		{
			if (reco_model_item_index(m, ids[i]) >= 0)
			{
				reco_storage_item_delete(m->version_id, ids[i]);
				out->removed++;
			}
			continue;
		}
		if (reco_model_item_index(m, ids[i]) < 0)
			out->new_items++;
		out->items++;
		reco_storage_item_put(m->version_id, ids[i], (float) users[i].n, Ynew + i * f, f);
	}
	for (int64 i = 0; i < n_cold; i++)
		reco_storage_item_cold(m->version_id, cold_ids[i], Ycold + i * f, f);
	out->cold_items = n_cold;

	/*
	 * Every item of the version as it is now: the cached ones (updated or
	 * gone where re-solved), then the new ones and the cold ones.
	 */
	n_all = m->n_items - out->removed + out->new_items + n_cold;
	Yall = reco_budget_alloc(&budget, sizeof(float) * n_all * f, "the item Gram matrix");
	row = 0;
	for (int32 i = 0; i < m->n_items; i++)
	{
		int64		id = m->item_ids[i];
		int64	   *hit = bsearch(&id, ids, n, sizeof(int64), reco_cmp_int64);

		if (hit == NULL)
			reco_model_item(m, als_model(m)->Yt, i, Yall + row++ * f);
		else if (!gone[hit - ids])
			memcpy(Yall + row++ * f, Ynew + (hit - ids) * f, sizeof(float) * f);
	}
	for (int64 i = 0; i < n; i++)
		if (!gone[i] && reco_model_item_index(m, ids[i]) < 0)
			memcpy(Yall + row++ * f, Ynew + i * f, sizeof(float) * f);
	if (n_cold > 0)
		memcpy(Yall + row * f, Ycold, sizeof(float) * f * n_cold);
	Assert(row + n_cold == n_all);

	if (!rated)
	{
		float	   *G = palloc(sizeof(float) * f * f);

		als_gram(Yall, n_all, f, G);
		if (!reco_floats_finite(G, (int64) f * f))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("re-solving items of model \"%s\" gave a Gram matrix that is not finite", m->name),
					 errdetail("Nothing was published."),
					 errhint("Retrain the model.")));
		reco_storage_blob_update(m->version_id, "gram", G, sizeof(float) * f * f);
	}

	/* a new revision: every backend reloads the item side on its next call */
	reco_storage_publish(m->version_id, n_all);
}
