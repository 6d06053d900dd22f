/*
 * split.c - seeded train/test splits and cross-validation folds of any event
 * query: reco_split and reco_folds
 *
 * Assignment depends only on the events and the seed, never on the order
 * rows arrive in: random and stratified splits shuffle (user, item) pairs
 * by a hash of (seed, user, item), so every event of a pair lands on the
 * same side.  last_n and leave_one_out order each user's events by time,
 * the same hash breaking ties; a temporal split puts every event at or
 * after the cut-off in test, ties included.
 */
#include "reco.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "events.h"
#include "resources.h"

PG_FUNCTION_INFO_V1(reco_split);
PG_FUNCTION_INFO_V1(reco_folds);

typedef enum SplitMethod
{
	SPLIT_RANDOM,				/* per user, a share of their items */
	SPLIT_STRATIFIED,			/* per item, a share of its users */
	SPLIT_TEMPORAL,				/* one cut-off time for everyone */
	SPLIT_LAST_N,				/* per user, their latest n events */
	SPLIT_LEAVE_ONE_OUT			/* per user, their latest event */
} SplitMethod;

typedef struct SplitKey
{
	int64		group;			/* user or item */
	int64		order;			/* time, or 0 */
	uint64		hash;
	int64		user;
	int64		item;
	int64		row;			/* position in the query's output */
} SplitKey;

/* splitmix64 finaliser: a well-mixed 64-bit hash */
static uint64
mix(uint64 z)
{
	z += UINT64CONST(0x9E3779B97F4A7C15);
	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static int
cmp_key(const void *a, const void *b)
{
	const SplitKey *x = a;
	const SplitKey *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->user != y->user)
		return x->user < y->user ? -1 : 1;
	if (x->item != y->item)
		return x->item < y->item ? -1 : 1;
	return (x->row > y->row) - (x->row < y->row);
}

static SplitMethod
parse_method(const char *name, bool folds)
{
	if (strcmp(name, "random") == 0)
		return SPLIT_RANDOM;
	if (strcmp(name, "stratified") == 0)
		return SPLIT_STRATIFIED;
	if (!folds && strcmp(name, "temporal") == 0)
		return SPLIT_TEMPORAL;
	if (!folds && strcmp(name, "last_n") == 0)
		return SPLIT_LAST_N;
	if (!folds && strcmp(name, "leave_one_out") == 0)
		return SPLIT_LEAVE_ONE_OUT;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown %s method \"%s\"", folds ? "fold" : "split", name),
			 errhint(folds ? "Folds are random (per user) or stratified (per item)."
					 : "Methods are random, stratified, temporal, last_n and leave_one_out.")));
	return SPLIT_RANDOM;		/* keep compiler quiet */
}

/* Time of an event for the temporal methods; every event needs one */
static int64
event_time(const RecoEventRow *r)
{
	if (!r->has_ts)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a temporal split needs the time of every event"),
				 errdetail("Event (%lld, %lld) has none.", (long long) r->user, (long long) r->item),
				 errhint("Return the time as the fourth column: (user_id, item_id, value, ts).")));
	return r->ts;
}

/*
 * The events sorted by group (item or user), then time (if timed), then the
 * seeded hash of their pair
 */
static SplitKey *
sorted_keys(const RecoEventRow *rows, int64 n, bool by_item, bool timed, uint64 seed)
{
	SplitKey   *keys = palloc_extended(sizeof(SplitKey) * Max(n, 1), MCXT_ALLOC_HUGE);
	uint64		s = mix(seed);

	for (int64 i = 0; i < n; i++)
	{
		keys[i].group = by_item ? rows[i].item : rows[i].user;
		keys[i].order = timed ? event_time(&rows[i]) : 0;
		keys[i].hash = mix(mix(s ^ (uint64) rows[i].user) ^ (uint64) rows[i].item);
		keys[i].user = rows[i].user;
		keys[i].item = rows[i].item;
		keys[i].row = i;
	}
	qsort(keys, n, sizeof(SplitKey), cmp_key);
	return keys;
}

/*
 * Give every event the position of its pair among its group's distinct
 * pairs, shuffled by the seed: pos[row], and (unless size is NULL) the
 * group's number of distinct pairs: size[row].
 */
static void
pair_positions(const RecoEventRow *rows, int64 n, bool by_item, uint64 seed,
			   int64 *pos, int64 *size)
{
	SplitKey   *keys = sorted_keys(rows, n, by_item, false, seed);

	for (int64 begin = 0, end; begin < n; begin = end)
	{
		int64		pairs = 0;

		CHECK_FOR_INTERRUPTS();
		for (end = begin; end < n && keys[end].group == keys[begin].group; end++)
		{
			if (end == begin || keys[end].user != keys[end - 1].user ||
				keys[end].item != keys[end - 1].item)
				pairs++;
			pos[keys[end].row] = pairs - 1;
		}
		if (size != NULL)
			for (int64 i = begin; i < end; i++)
				size[keys[i].row] = pairs;
	}
	pfree(keys);
}

/* Mark test events: a share of each group's pairs, or the latest ones */
static void
assign(const RecoEventRow *rows, int64 n, SplitMethod method, double fraction,
	   uint64 seed, int last_n, bool has_cutoff, TimestampTz cutoff, bool *test)
{
	if (method == SPLIT_RANDOM || method == SPLIT_STRATIFIED)
	{
		int64	   *pos = palloc_extended(sizeof(int64) * Max(n, 1), MCXT_ALLOC_HUGE);
		int64	   *size = palloc_extended(sizeof(int64) * Max(n, 1), MCXT_ALLOC_HUGE);

		pair_positions(rows, n, method == SPLIT_STRATIFIED, seed, pos, size);
		for (int64 i = 0; i < n; i++)
			test[i] = pos[i] < (int64) floor(fraction * size[i] + 0.5);
	}
	else if (method == SPLIT_TEMPORAL)
	{
		if (!has_cutoff && n > 0)
		{
			/* the cut-off leaving about fraction of the events after it */
			int64	   *times = palloc_extended(sizeof(int64) * n, MCXT_ALLOC_HUGE);
			int64		ntest = (int64) floor(fraction * n + 0.5);

			for (int64 i = 0; i < n; i++)
				times[i] = event_time(&rows[i]);
			qsort(times, n, sizeof(int64), reco_cmp_int64);
			cutoff = ntest > 0 ? times[n - ntest] : PG_INT64_MAX;
			pfree(times);
		}
		for (int64 i = 0; i < n; i++)
			test[i] = event_time(&rows[i]) >= cutoff;
	}
	else
	{
		/* per user, by time then by hash: the last n, keeping one to train on */
		SplitKey   *keys = sorted_keys(rows, n, false, true, seed);

		for (int64 begin = 0, end; begin < n; begin = end)
		{
			int64		first_test;

			CHECK_FOR_INTERRUPTS();
			for (end = begin; end < n && keys[end].group == keys[begin].group; end++)
				;
			first_test = Max(end - last_n, begin + 1);
			for (int64 i = begin; i < end; i++)
				test[keys[i].row] = i >= first_test;
		}
		pfree(keys);
	}
}

/* One output row: the event and its side (test) or fold */
static void
emit(ReturnSetInfo *rsinfo, const RecoEventRow *r, Datum last)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, !r->has_value, !r->has_ts, false};

	values[0] = Int64GetDatum(r->user);
	values[1] = Int64GetDatum(r->item);
	values[2] = Float4GetDatum((float) r->value);
	values[3] = TimestampTzGetDatum(r->ts);
	values[4] = last;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * reco_split(source, method, test_fraction, seed, last_n, cutoff): every
 * event of the source query, marked test or not.
 */
Datum
reco_split(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *source = reco_text_arg(fcinfo, 0, "source");
	SplitMethod method = parse_method(reco_text_arg(fcinfo, 1, "method"), false);
	double		fraction = PG_ARGISNULL(2) ? 0.25 : PG_GETARG_FLOAT8(2);
	int32		seed = PG_ARGISNULL(3) ? 42 : PG_GETARG_INT32(3);
	int32		last_n = PG_ARGISNULL(4) ? 1 : PG_GETARG_INT32(4);
	bool		has_cutoff = !PG_ARGISNULL(5);
	TimestampTz cutoff = has_cutoff ? PG_GETARG_TIMESTAMPTZ(5) : 0;
	RecoEventRow *rows;
	int64		n;
	bool	   *test;
	RecoBudget	budget;

	if (!(fraction >= 0.0 && fraction <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_fraction must be between 0 and 1")));
	if (last_n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("last_n must be at least 1")));
	if (method == SPLIT_LEAVE_ONE_OUT)
		last_n = 1;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	reco_budget_init(&budget, "splitting");
	rows = reco_query_events(source, "source", 4, &budget, &n);
	test = reco_budget_alloc(&budget, sizeof(bool) * n, "the split marks");
	assign(rows, n, method, fraction, (uint64) seed, last_n, has_cutoff, cutoff, test);
	for (int64 i = 0; i < n; i++)
		emit(rsinfo, &rows[i], BoolGetDatum(test[i]));
	SPI_finish();
	return (Datum) 0;
}

/*
 * The cross-validation fold of every event, 0 to folds - 1, for a method
 * ("random": per user, "stratified": per item): each group's pairs are
 * dealt evenly, in turn from a fold the seed picks for the group, so small
 * groups spread too.  The caller checks folds (2 to 100).
 */
int32 *
reco_assign_folds(const RecoEventRow *rows, int64 n, const char *method,
				  int32 folds, int32 seed)
{
	bool		by_item = parse_method(method, true) == SPLIT_STRATIFIED;
	int64	   *pos = palloc_extended(sizeof(int64) * Max(n, 1), MCXT_ALLOC_HUGE);
	int32	   *fold = palloc_extended(sizeof(int32) * Max(n, 1), MCXT_ALLOC_HUGE);

	Assert(folds >= 1);
	pair_positions(rows, n, by_item, (uint64) seed, pos, NULL);
	for (int64 i = 0; i < n; i++)
	{
		int64		group = by_item ? rows[i].item : rows[i].user;
		uint64		first = mix(mix((uint64) seed) ^ (uint64) group) % (uint64) folds;

		fold[i] = (int32) ((pos[i] + first) % folds);
	}
	pfree(pos);
	return fold;
}

/*
 * reco_folds(source, folds, method, seed): every event of the source query
 * with its cross-validation fold (reco_assign_folds)
 */
Datum
reco_folds(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *source = reco_text_arg(fcinfo, 0, "source");
	int32		folds = PG_ARGISNULL(1) ? 5 : PG_GETARG_INT32(1);
	char	   *method = reco_text_arg(fcinfo, 2, "method");
	int32		seed = PG_ARGISNULL(3) ? 42 : PG_GETARG_INT32(3);
	RecoEventRow *rows;
	int64		n;
	int32	   *fold;
	RecoBudget	budget;

	/* arguments first, before the source query runs */
	(void) parse_method(method, true);
	if (folds < 2 || folds > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("folds must be between 2 and 100")));

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	reco_budget_init(&budget, "splitting");
	rows = reco_query_events(source, "source", 4, &budget, &n);
	fold = reco_assign_folds(rows, n, method, folds, seed);
	for (int64 i = 0; i < n; i++)
		emit(rsinfo, &rows[i], Int32GetDatum(fold[i]));
	SPI_finish();
	return (Datum) 0;
}
