/*
 * hygiene.c - the events of a training run cleaned before they merge:
 * repeats of one (user, item, kind) within "dedup_window" count once, and
 * every event weighs 2^(-age / "half_life"), its age measured from the
 * newest event of the run
 *
 * Both need the events' times: reco_train reads reco_event's ts; an event
 * query of the evaluation functions gives it as its fourth column, and
 * reco_train_agg as its argument ts; without it they refuse the settings.
 */
#include "reco.h"

#include <float.h>
#include <math.h>

#include "common/int.h"

#include "utils/timestamp.h"

#include "train.h"

/* By user, item, kind, then time */
static int
cmp_event(const void *a, const void *b)
{
	const RecoTriplet *x = a;
	const RecoTriplet *y = b;

	if (x->user != y->user)
		return (x->user > y->user) - (x->user < y->user);
	if (x->item != y->item)
		return (x->item > y->item) - (x->item < y->item);
	if (x->kind != y->kind)
		return (x->kind > y->kind) - (x->kind < y->kind);
	return (x->ts > y->ts) - (x->ts < y->ts);
}

/*
 * Drop every positive event that follows a kept one of the same (user,
 * item, kind) by less than window microseconds: a burst counts as its
 * first event, and the next window opens at the first event after it.
 * Negative events (returns) are always kept and open no window.  Returns
 * how many were dropped.
 */
static int64
dedup(RecoTriplets *t, int64 window)
{
	int64		m = 0;
	int64		open = -1;		/* the kept positive event whose window is open */
	int64		dropped;

	qsort(t->rows, t->n, sizeof(RecoTriplet), cmp_event);
	for (int64 i = 0; i < t->n; i++)
	{
		RecoTriplet r = t->rows[i];	/* rows[i] may be overwritten below */

		/* a new (user, item, kind) closes the window (kept rows are m's) */
		if (open >= 0 && (r.user != t->rows[open].user || r.item != t->rows[open].item ||
						  r.kind != t->rows[open].kind))
			open = -1;
		if (r.weight > 0.0f)
		{
			int64		gap;

			/* sorted, so r.ts >= the open one's: an overflow is a wide gap */
			if (open >= 0 && !pg_sub_s64_overflow(r.ts, t->rows[open].ts, &gap) && gap < window)
				continue;
			open = m;
		}
		t->rows[m++] = r;
	}
	dropped = t->n - m;
	t->n = m;
	return dropped;
}

/*
 * Weigh every event by 2^(-age / half_life), its age (microseconds) counted
 * from the newest event; a weight below float's normal range is 0.  An
 * event at -infinity or infinity has no age: an error (22008).  Returns
 * that newest time.
 */
static int64
decay(RecoTriplets *t, double half_life_us)
{
	int64		newest = PG_INT64_MIN;

	for (int64 i = 0; i < t->n; i++)
	{
		if (TIMESTAMP_NOT_FINITE(t->rows[i].ts))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("an event at %s has no age for \"half_life\"",
							timestamptz_to_str(t->rows[i].ts)),
					 errdetail("User %lld, item %lld.", (long long) t->rows[i].user,
							   (long long) t->rows[i].item),
					 errhint("Give the event a finite time, or set half_life to 0.")));
		newest = Max(newest, t->rows[i].ts);
	}
	for (int64 i = 0; i < t->n; i++)
	{
		/* in double: no int64 overflow between the far ends of timestamptz */
		float		w = t->rows[i].weight *
			(float) exp2(-((double) newest - (double) t->rows[i].ts) / half_life_us);

		t->rows[i].weight = fabsf(w) < FLT_MIN ? 0.0f : w;
	}
	return newest;
}

/*
 * Apply the run's dedup_window, then its half_life, to the events of t;
 * with half_life, p records the time ages count from (the version stores
 * it, and online events are weighed against it)
 */
void
reco_triplets_hygiene(RecoTriplets *t, RecoTrainParams *p)
{
	int64		dropped = 0;
	int64		newest;

	if (p->dedup_window > 0.0 && t->n > 0)
	{
		dropped = dedup(t, (int64) (p->dedup_window * USECS_PER_SEC));
		if (reco_progress)
			ereport(NOTICE,
					(errmsg("reco: %lld repeated events within dedup_window dropped, %lld kept",
							(long long) dropped, (long long) t->n)));
	}
	if (p->half_life > 0.0 && p->explicit_ratings)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"half_life\" does not apply to explicit ratings"),
				 errdetail("A rating is not scaled by its age."),
				 errhint("Set half_life to 0, or train with implicit feedback.")));
	if (p->half_life > 0.0 && t->n > 0)
	{
		newest = decay(t, p->half_life * USECS_PER_SEC);
		p->has_origin = true;
		p->time_origin = newest;
		if (reco_progress)
			ereport(NOTICE,
					(errmsg("reco: event weights halve every %g s before the newest event, at %s",
							p->half_life, timestamptz_to_str(newest))));
	}
}

/* Error when the run asks for hygiene its events cannot have (no times) */
void
reco_hygiene_needs_times(const RecoTrainParams *p, const char *why)
{
	if (p->half_life > 0.0 || p->dedup_window > 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" needs the time of every event",
						p->half_life > 0.0 ? "half_life" : "dedup_window"),
				 errdetail("%s.", why),
				 errhint("Set it to 0, or give the events their times: reco_train reads reco_event.ts, an event query gives them as its fourth column, reco_train_agg as its argument ts.")));
}
