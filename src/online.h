/*
 * online.h - learning from events inside the inserting transaction (online.c)
 */
#ifndef RECO_ONLINE_H
#define RECO_ONLINE_H

#include "reco.h"

#include "utils/snapshot.h"

#include "model.h"

/* online.c: events applied to the user side, queued for reco_refresh */
extern bool reco_online_apply(const RecoModel *m, int64 user_id, int64 item_id,
							  int kind, double value, bool from_trigger);
extern int64 reco_online_replay(const RecoModel *m, Snapshot snap);
extern int64 reco_online_catch_up(const RecoModel *m, Snapshot seen, Snapshot now);

/* reco.online: events update online models in the inserting transaction */
extern bool reco_online;
extern void reco_online_init(void);

#endif
