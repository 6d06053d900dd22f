/*
 * model.h - a version of a model as the glue reads it: the per-backend cache
 * of the served ones, a given one, or a fit in memory (cache.c); what a
 * family keeps of its own hangs from fs
 */
#ifndef RECO_MODEL_H
#define RECO_MODEL_H

#include "reco.h"

#include "utils/array.h"
#include "datatype/timestamp.h"

#include "params.h"
#include "train.h"

/* cache.c: the active version's item side, kept per backend */
struct RecoFamily;

typedef struct RecoModel
{
	char		name[64];		/* the cache's hash key: first */
	const struct RecoFamily *family;	/* family/family.h */
	void	   *fs;				/* the family's own state (family/als_model.h, mlp.c) */
	int64		version_id;
	int64		revision;
	TimestampTz trained;		/* tells versions of a re-created extension apart */
	uint64		checked;		/* registry generation this entry was checked at */
	int			factors;
	int32		n_items;
	int64	   *item_ids;		/* ascending */
	int32	   *id_table;		/* when the ids are dense enough: the index
								 * of item_ids[0] + j at j (-1: none), id_span
								 * of them; else NULL (binary search) */
	int64		id_span;
	float	   *popularity;
	RecoTrainParams params;		/* the version's resolved hyperparameters */
	int32	   *by_popularity;	/* indexes, most popular first, built lazily */
	float	   *repeat_p;		/* buying again (repeat.h): each item's propensity, or NULL */
	float		repeat_weight;
	float		repeat_half;
	TimestampTz *created;		/* fresh.h: each item's reco_item.created, or NULL */
	MemoryContext mcxt;
} RecoModel;

extern void reco_cache_init(void);
extern uint64 reco_registry_generation(void);
extern RecoModel *reco_model_get(const char *name);
extern RecoModel *reco_model_version_load(const char *name, int32 version);
extern char *reco_model_read_rows(RecoModel *m, int64 expected, Size width);
extern float *reco_model_read_items(RecoModel *m, int64 expected, int width);
extern void reco_require(const RecoModel *m, const char *what, bool supported,
						 bool learns);
extern int32 reco_model_item_index(const RecoModel *m, int64 item_id);
extern int32 reco_model_known_item(const RecoModel *m, int64 item_id);
extern void reco_model_mark_items(const RecoModel *m, ArrayType *arr, uint8 *bits);
extern const int32 *reco_model_popular(RecoModel *m);

#endif
