/*
 * events.h - an analyst's event query read into rows (events.c), and the
 * folds of its rows (split.c)
 */
#ifndef RECO_EVENTS_H
#define RECO_EVENTS_H

#include "reco.h"

#include "datatype/timestamp.h"

#include "resources.h"

/* events.c: an analyst's event query, (user_id, item_id [, value [, ts]]) */
typedef struct RecoEventRow
{
	int64		user;
	int64		item;
	double		value;			/* finite, or NaN when absent or NULL */
	bool		has_value;
	TimestampTz ts;
	bool		has_ts;
} RecoEventRow;

extern RecoEventRow *reco_query_events(const char *query, const char *what,
									   int maxcols, RecoBudget *budget,
									   int64 *count);
extern Size reco_events_bytes(int64 n);

/* split.c: cross-validation folds of an event query's rows */
extern int32 *reco_assign_folds(const RecoEventRow *rows, int64 n, const char *method,
								int32 folds, int32 seed);

#endif
