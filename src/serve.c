/*
 * serve.c - the read-only serving functions: reco_recommend, reco_score,
 * reco_rank and reco_similar_items
 *
 * Nothing here writes, so a hot standby serves the same answers.
 */
#include "reco.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "topk.h"

#include "fresh.h"
#include "repeat.h"
#include "storage.h"

#include "model.h"
#include "family/family.h"

PG_FUNCTION_INFO_V1(reco_recommend);
PG_FUNCTION_INFO_V1(reco_recommend_items);
PG_FUNCTION_INFO_V1(reco_score);
PG_FUNCTION_INFO_V1(reco_rank);
PG_FUNCTION_INFO_V1(reco_similar_items);

static RecoPlan unavailable_plan;
static RecoPlan category_plan;

/* Append one result row */
static void
emit(ReturnSetInfo *rsinfo, int64 item_id, float score, bool score_null,
	 int rank, const char *source)
{
	Datum		values[4];
	bool		nulls[4] = {false, score_null, false, false};

	values[0] = Int64GetDatum(item_id);
	values[1] = Float4GetDatum(score);
	values[2] = Int32GetDatum(rank);
	values[3] = CStringGetTextDatum(source);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* The source column of a ranking for who */
static const char *
source_name(RecoUserKind who)
{
	return who == RECO_PERSONAL ? "personal" : who == RECO_PROFILE ? "profile" : "popular";
}

/* Run a saved single-column item-id query and mark (or keep) those items */
static void
mark_query(const RecoModel *m, SPIPlanPtr plan, Datum *args, uint8 *bits)
{
	if (SPI_execute_plan(plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reco: catalogue filter query failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int32		idx = reco_model_item_index(m,
												DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
																			SPI_tuptable->tupdesc, 1, &isnull)));

		if (idx >= 0)
			topk_bit_set(bits, idx);
	}
	SPI_freetuptable(SPI_tuptable);
}

/* A catalogue query, prepared once per backend (and extension schema) */
static SPIPlanPtr
catalogue_plan(RecoPlan *slot, const char *fmt, int nargs, Oid *types)
{
	if (!reco_plan_ready(slot))
		reco_plan_keep(slot, psprintf(fmt, reco_table("reco_item")), nargs, types);
	return slot->plan;
}

/*
 * The filters of reco_recommend and reco_recommend_items into skip (one bit
 * an item): the items of exclude, unavailable ones, other categories
 */
static void
mark_filters(RecoModel *m, FunctionCallInfo fcinfo, int category_arg, int available_arg,
			 int exclude_arg, uint8 *skip, Size nbytes)
{
	if (!PG_ARGISNULL(exclude_arg))
		reco_model_mark_items(m, PG_GETARG_ARRAYTYPE_P(exclude_arg), skip);
	if (PG_ARGISNULL(available_arg) || PG_GETARG_BOOL(available_arg))
		mark_query(m, catalogue_plan(&unavailable_plan, "SELECT item_id FROM %s WHERE NOT available",
									 0, NULL), NULL, skip);
	if (!PG_ARGISNULL(category_arg))
	{
		uint8	   *keep = palloc0(nbytes);
		Datum		args[1] = {PG_GETARG_DATUM(category_arg)};
		Oid			types[1] = {TEXTOID};

		mark_query(m, catalogue_plan(&category_plan,
									 "SELECT item_id FROM %s WHERE category OPERATOR(pg_catalog.=) $1",
									 1, types), args, keep);
		for (Size i = 0; i < nbytes; i++)
			skip[i] |= (uint8) ~keep[i];
	}
}

/*
 * Emit the k best items not in skip: by the state x (plus the version's
 * buying-again term over a history of nh items, when hist is not NULL, and
 * its boost of fresh items), or by popularity for a stranger
 */
static void
emit_top(ReturnSetInfo *rsinfo, RecoModel *m, RecoUserKind who, const float *x,
		 const int64 *hist, const float *hw, int nh, const uint8 *skip, int k,
		 const char *source)
{
	if (who != RECO_STRANGER)
	{
		float	   *scores = palloc_extended(sizeof(float) * Max(m->n_items, 1), MCXT_ALLOC_HUGE);
		TopkEntry  *top = palloc(sizeof(TopkEntry) * k);
		int			n;

		/*
		 * a family's shortlist only when nothing is added to its scores
		 * after: buying again and the fresh boost lift items outside it,
		 * and weigh by the largest |score| over every item
		 */
		if (m->family->rank != NULL && hist == NULL && !reco_fresh_active(m))
			m->family->rank(m, x, skip, scores);
		else
			m->family->score(m, x, NULL, m->n_items, scores);
		if (hist != NULL)
			reco_repeat_apply(m, hist, hw, nh, scores);
		reco_fresh_apply(m, scores);
		n = topk_select(scores, m->n_items, skip, k, top);
		for (int i = 0; i < n; i++)
			emit(rsinfo, m->item_ids[top[i].index], top[i].score, false, i + 1, source);
	}
	else
	{
		const int32 *order = reco_model_popular(m);
		int			rank = 0;

		for (int32 i = 0; i < m->n_items && rank < k; i++)
		{
			if (topk_bit_test(skip, order[i]))
				continue;
			rank++;
			emit(rsinfo, m->item_ids[order[i]], m->popularity[order[i]], false, rank, "popular");
		}
	}
}

/*
 * reco_recommend(user_id, k, model, exclude_seen, category, available_only,
 * exclude): top-k for a user, every filter applied before the cut.
 */
Datum
reco_recommend(PG_FUNCTION_ARGS)
{
	RecoUser	caller;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		user_id;
	int			k;
	char	   *model = reco_text_arg(fcinfo, 2, "model");
	bool		exclude_seen = PG_ARGISNULL(3) ? true : PG_GETARG_BOOL(3);
	RecoModel  *m;
	float	   *x;
	ArrayType  *seen = NULL;
	RecoUserKind who;
	uint8	   *skip;
	Size		nbytes;
	int64	   *hist;
	float	   *hw;
	int			nh;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user_id and k must not be NULL")));
	user_id = PG_GETARG_INT64(0);
	k = PG_GETARG_INT32(1);
	reco_check_k(k);

	InitMaterializedSRF(fcinfo, 0);
	caller = reco_become_owner();
	SPI_connect();
	m = reco_model_get(model);
	x = palloc(sizeof(float) * m->family->user_floats(m));
	who = m->family->user(m, user_id, x, &seen);

	nbytes = (m->n_items + 7) / 8 + 1;
	skip = palloc0(nbytes);
	if (who == RECO_PERSONAL && exclude_seen)
		reco_model_mark_items(m, seen, skip);
	mark_filters(m, fcinfo, 4, 5, 6, skip, nbytes);
	/* the customer's own items may come back: buying again weighs them */
	if (who == RECO_PERSONAL && !exclude_seen && m->repeat_p != NULL &&
		reco_storage_user_history(m->version_id, user_id, NULL, 0, &hist, &hw, &nh))
		emit_top(rsinfo, m, who, x, hist, hw, nh, skip, k, source_name(who));
	else
		emit_top(rsinfo, m, who, x, NULL, NULL, 0, skip, k, source_name(who));
	SPI_finish();
	reco_become(caller);
	return (Datum) 0;
}

/*
 * reco_recommend_items(item_ids, k, model, user_id, exclude_seen, category,
 * available_only, exclude): top-k for a basket or a session, its items
 * folded in as events of kind cart (the family's own fold-in, written
 * nowhere) and never recommended; with user_id, on top of that customer's
 * history (their row, else their profile), so a cart shifts their
 * recommendations in the same call.
 */
Datum
reco_recommend_items(PG_FUNCTION_ARGS)
{
	RecoUser	caller;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *model = reco_text_arg(fcinfo, 2, "model");
	bool		exclude_seen = PG_ARGISNULL(4) ? true : PG_GETARG_BOOL(4);
	ArrayType  *basket;
	Datum	   *elems;
	bool	   *nulls;
	int			nb;
	int			k;
	RecoModel  *m;
	float	   *row = NULL;
	int64	   *ids;
	float	   *w;
	int			n = 0;
	int			known = 0;
	float		cart;
	float	   *x;
	int64	   *hist = NULL;
	float	   *hw = NULL;
	int			nh = 0;			/* of ids, the customer's history */
	uint8	   *skip;
	Size		nbytes;
	RecoUserKind who = RECO_STRANGER;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("item_ids and k must not be NULL")));
	basket = PG_GETARG_ARRAYTYPE_P(0);
	k = PG_GETARG_INT32(1);
	reco_check_k(k);
	deconstruct_array(basket, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &nb);
	if (nb > RECO_MAX_HISTORY)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a basket holds at most %d items", RECO_MAX_HISTORY)));

	InitMaterializedSRF(fcinfo, 0);
	caller = reco_become_owner();
	SPI_connect();
	m = reco_model_get(model);
	reco_require(m, "recommending for a basket", m->family->state != NULL, false);
	cart = (float) m->params.weights[reco_kind("cart", 4)];
	if (cart <= 0.0f)
		cart = 1.0f;

	/* the customer's history first, when there is one */
	if (!PG_ARGISNULL(3))
	{
		int64		user_id = PG_GETARG_INT64(3);
		int			f = m->family->row_floats(m);

		row = palloc0(sizeof(float) * Max(f, 1));
		if (reco_storage_user_history(m->version_id, user_id, row, f, &hist, &hw, &n))
		{
			ids = palloc(sizeof(int64) * (n + nb));
			w = palloc(sizeof(float) * (n + nb));
			memcpy(ids, hist, sizeof(int64) * n);
			memcpy(w, hw, sizeof(float) * n);
			who = RECO_PERSONAL;
			known = nh = n;
		}
		else
			m->family->new_row(m, user_id, row);
	}
	if (who != RECO_PERSONAL)
	{
		ids = palloc(sizeof(int64) * Max(nb, 1));
		w = palloc(sizeof(float) * Max(nb, 1));
	}
	for (int i = 0; i < nb; i++)
		if (!nulls[i])
		{
			ids[n] = DatumGetInt64(elems[i]);
			w[n++] = cart;
			if (reco_model_item_index(m, ids[n - 1]) >= 0)
				known++;
		}

	nbytes = (m->n_items + 7) / 8 + 1;
	skip = palloc0(nbytes);
	x = palloc(sizeof(float) * m->family->user_floats(m));
	/* a customer with a row but nothing known yet: their state over no events */
	if (known > 0 || who == RECO_PERSONAL)
	{
		m->family->state(m, row, ids, w, n, x);
		who = RECO_PERSONAL;
	}
	if (exclude_seen)
		for (int i = 0; i < nh; i++)
		{
			int32		idx = reco_model_item_index(m, hist[i]);

			if (idx >= 0)
				topk_bit_set(skip, idx);
		}
	reco_model_mark_items(m, basket, skip);
	mark_filters(m, fcinfo, 5, 6, 7, skip, nbytes);
	emit_top(rsinfo, m, who, x, exclude_seen ? NULL : hist, hw, nh, skip, k, "basket");
	SPI_finish();
	reco_become(caller);
	return (Datum) 0;
}

/* reco_score(user_id, item_id, model): one score, NULL for an unknown user */
Datum
reco_score(PG_FUNCTION_ARGS)
{
	RecoUser	caller;
	int64		user_id = PG_GETARG_INT64(0);
	int64		item_id = PG_GETARG_INT64(1);
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(2));
	RecoModel  *m;
	float	   *x;
	int32		idx;
	bool		personal;
	float		score = 0.0f;

	caller = reco_become_owner();
	SPI_connect();
	m = reco_model_get(model);
	idx = reco_model_known_item(m, item_id);
	x = palloc(sizeof(float) * m->family->user_floats(m));
	personal = m->family->user(m, user_id, x, NULL) != RECO_STRANGER;
	if (personal)
		m->family->score(m, x, &idx, 1, &score);
	SPI_finish();
	reco_become(caller);
	if (!personal)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT4(score);
}

typedef struct RankEntry
{
	int64		id;
	int32		pos;			/* position in the candidate list */
	int32		idx;			/* model index, -1 if unknown */
	float		score;
} RankEntry;

static int
cmp_id_pos(const void *a, const void *b)
{
	const RankEntry *x = a;
	const RankEntry *y = b;

	if (x->id != y->id)
		return (x->id > y->id) - (x->id < y->id);
	return (x->pos > y->pos) - (x->pos < y->pos);
}

static int
cmp_rank(const void *a, const void *b)
{
	const RankEntry *x = a;
	const RankEntry *y = b;

	/* known items by score, unknown ones last; ties keep input order */
	if ((x->idx < 0) != (y->idx < 0))
		return x->idx < 0 ? 1 : -1;
	if (x->idx >= 0 && x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

/* reco_rank(user_id, item_ids, model): re-rank a candidate list */
Datum
reco_rank(PG_FUNCTION_ARGS)
{
	RecoUser	caller;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		user_id = PG_GETARG_INT64(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(2));
	RecoModel  *m;
	float	   *x;
	RecoUserKind who;
	bool		personal;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			kept = 0;
	RankEntry  *entries;

	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	if (n > RECO_MAX_K * 10)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("at most %d candidates can be ranked in one call", RECO_MAX_K * 10)));

	InitMaterializedSRF(fcinfo, 0);
	caller = reco_become_owner();
	SPI_connect();
	m = reco_model_get(model);
	x = palloc(sizeof(float) * m->family->user_floats(m));
	who = m->family->user(m, user_id, x, NULL);
	personal = who != RECO_STRANGER;

	entries = palloc(sizeof(RankEntry) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			continue;
		entries[kept].id = DatumGetInt64(elems[i]);
		entries[kept].pos = i;
		kept++;
	}
	/* a candidate listed twice counts once, at its first position */
	qsort(entries, kept, sizeof(RankEntry), cmp_id_pos);
	n = 0;
	for (int i = 0; i < kept; i++)
	{
		RankEntry  *e;

		if (n > 0 && entries[n - 1].id == entries[i].id)
			continue;
		e = &entries[n++];
		*e = entries[i];
		e->idx = reco_model_item_index(m, e->id);
		e->score = 0.0f;
		if (e->idx >= 0 && personal)
			m->family->score(m, x, &e->idx, 1, &e->score);
		else if (e->idx >= 0)
			e->score = m->popularity[e->idx];
	}
	qsort(entries, n, sizeof(RankEntry), cmp_rank);
	for (int i = 0; i < n; i++)
		emit(rsinfo, entries[i].id, entries[i].score, entries[i].idx < 0,
			 i + 1, source_name(who));
	SPI_finish();
	reco_become(caller);
	return (Datum) 0;
}

/* reco_similar_items(item_id, k, model): nearest items by cosine */
Datum
reco_similar_items(PG_FUNCTION_ARGS)
{
	RecoUser	caller;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		item_id = PG_GETARG_INT64(0);
	int			k = PG_GETARG_INT32(1);
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(2));
	RecoModel  *m;
	int32		idx;
	const float *unit;
	int			dim;
	float	   *q;
	float	   *scores;
	uint8	   *skip;
	TopkEntry  *top;
	int			n;

	reco_check_k(k);
	InitMaterializedSRF(fcinfo, 0);
	caller = reco_become_owner();
	SPI_connect();
	m = reco_model_get(model);
	idx = reco_model_known_item(m, item_id);
	scores = palloc_extended(sizeof(float) * Max(m->n_items, 1), MCXT_ALLOC_HUGE);
	skip = palloc0((m->n_items + 7) / 8 + 1);
	topk_bit_set(skip, idx);
	top = palloc(sizeof(TopkEntry) * k);
	if (m->family->similar != NULL)
		m->family->similar(m, idx, scores);
	else
	{
		unit = m->family->unit_items(m, &dim);
		q = palloc(sizeof(float) * dim);
		for (int j = 0; j < dim; j++)
			q[j] = unit[(int64) j * m->n_items + idx];
		topk_scores(unit, m->n_items, dim, q, scores);
	}
	n = topk_select(scores, m->n_items, skip, k, top);
	for (int i = 0; i < n; i++)
		emit(rsinfo, m->item_ids[top[i].index], top[i].score, false, i + 1, "similar");
	SPI_finish();
	reco_become(caller);
	return (Datum) 0;
}
