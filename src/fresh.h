/*
 * fresh.h - new products first: a version's items created in the catalogue
 * within its fresh_days get fresh_boost times the customer's largest |score|
 * added at serving (fresh.c)
 */
#ifndef RECO_FRESH_H
#define RECO_FRESH_H

#include "reco.h"

#include "model.h"

/* Read when each of m's items entered reco_item (with the version, if boosted) */
extern void reco_fresh_load(RecoModel *m);

/* Whether the version boosts fresh items */
extern bool reco_fresh_active(const RecoModel *m);

/* Add the boost to scores (every item of m) for items fresh now */
extern void reco_fresh_apply(const RecoModel *m, float *scores);

/* How many of m's items are fresh now */
extern int32 reco_fresh_count(const RecoModel *m);

#endif
