/*
 * recnet.h - the 'mlp' family's network on plain arrays (see nn.h)
 *
 * The score of item i for user u:
 *
 *     y = mean + b_u + b_i + <p_u + f_u, q_i + f_i> + mlp([p_u, f_u, q_i, f_i])
 *
 * p_u, q_i are id embeddings (dim wide), b_u, b_i biases, f_u and f_i
 * feature bags: the mean of the rows of the entity's hashed feature tokens
 * (a user table and an item table of buckets, dim wide).  With
 * feature_dot off the dot product is <p_u, q_i> alone (networks trained
 * before it existed); on, a customer's taste meets an item's features
 * directly, which is what an item known only by its features is scored
 * by.  The mlp has the hidden layers with one activation and a linear
 * output unit.  For
 * explicit feedback y is the rating (MSE); for implicit feedback y is a
 * logit (mean 0), trained against sampled negatives (BCE or BPR).
 *
 * Row 0 of the user and of the item id tables is the unknown entity: a
 * customer or item the training never saw is scored with it and its
 * features.  Training replaces an example's id by row 0 with probability
 * unknown_rate, so row 0 and the feature path learn to stand in.
 *
 * The input splits into a user block [p_u, f_u] and an item block [q_i,
 * f_i] (side vectors, 2 * dim each).  Serving a user over many items
 * therefore costs one product of the user block with its columns of the
 * first layer (rn_user_side), an item-side product computed once per
 * version (rn_item_side), and the layers above as GEMMs (rn_score).
 *
 * Nothing here allocates (NnArena, as nn.h).  Deterministic for a seed:
 * negatives, dropout masks and unknown-id draws are counter-based.
 */
#ifndef RECO_CORE_RECNET_H
#define RECO_CORE_RECNET_H

#include "nn.h"

typedef enum RnLoss
{
	RN_MSE,						/* explicit ratings */
	RN_BCE,						/* implicit: positives 1, negatives 0 */
	RN_BPR						/* implicit: positive above each negative */
} RnLoss;

typedef struct RnShape
{
	int32_t		n_users;		/* id rows, row 0 the unknown user */
	int32_t		n_items;		/* id rows, row 0 the unknown item */
	int32_t		user_buckets;	/* feature rows (at least 1) */
	int32_t		item_buckets;
	int			dim;
	int			nhidden;		/* 1 .. NN_MLP_MAX_LAYERS - 1 */
	int			hidden[NN_MLP_MAX_LAYERS - 1];
	NnAct		act;
	bool		feature_dot;	/* the dot product includes f_u and f_i */
} RnShape;

/*
 * Feature tokens per entity row (CSR): row r's bucket ids are
 * ids[indptr[r] .. indptr[r + 1]); a row without tokens has f = 0.
 */
typedef struct RnFeatures
{
	int32_t		nrows;
	const int64_t *indptr;
	const int32_t *ids;
} RnFeatures;

/* A training run's hyperparameters */
typedef struct RnTrain
{
	RnLoss		loss;
	int			negatives;		/* per positive (implicit) */
	float		dropout;		/* on the mlp's hidden activations */
	float		unknown_rate;	/* ids replaced by row 0 */
	float		l2;				/* gradient += l2 w on each row (ids, biases,
								 * feature buckets) a step touches, once */
	/*
	 * Per example, as rating MF regularises: each row of a batch adds
	 * l2_id (|p_u|^2 + |q_i|^2) and l2_bias (b_u^2 + b_i^2) to its loss
	 * (the batch's mean), so a row's weight grows with its examples.  Where
	 * one is > 0 it replaces l2 on those tables; l2 still holds the
	 * feature buckets.  l2_layers: gradient += l2_layers w on the mlp's
	 * weights and biases every step.  All 0: as before.
	 */
	float		l2_id;
	float		l2_bias;
	float		l2_layers;
	uint64_t	seed;
} RnTrain;

typedef struct RnNet
{
	RnShape		shape;
	float		mean;
	NnEmbedding user;			/* n_users x dim */
	NnEmbedding item;			/* n_items x dim */
	NnEmbedding user_bias;		/* n_users x 1 */
	NnEmbedding item_bias;		/* n_items x 1 */
	NnEmbedding user_feat;		/* user_buckets x dim */
	NnEmbedding item_feat;		/* item_buckets x dim */
	NnMlp		mlp;			/* 4 dim -> hidden... -> 1 */
	int			batch_cap;		/* examples per step, negatives included */
	/* private scratch of rn_step / rn_predict (batch_cap rows) */
	float	   *X;				/* rows of [p_u, f_u, q_i, f_i] */
	float	   *dX;
	float	   *out;
	float	   *dout;
	float	   *target;
	float	   *mask[NN_MLP_MAX_LAYERS];	/* dropout masks of hidden layers */
	float	   *drop[NN_MLP_MAX_LAYERS];	/* masked activations, next layer's input */
	int32_t    *users;			/* entity rows (features) */
	int32_t    *items;
	int32_t    *user_ids;		/* id rows: the entity's or 0 (unknown) */
	int32_t    *item_ids;
} RnNet;

/*
 * Take every buffer from a (count with a NULL base first): the tables with
 * nstate optimizer buffers each, the layers, and scratch for batch_cap
 * examples (positives times 1 + negatives).  The id and bias tables'
 * compact gradients hold batch_cap rows, the feature tables' every bucket
 * (a batch's bags may touch any).  The embeddings' index arrays come from
 * a too: slot, touched, and with nstate 2 (Adam) per-row step counts,
 * zeroed, so lazy Adam corrects each row's bias by its own steps.  Then
 * rn_clear, once.  A serving-only network binds with n_users = n_items = 1.
 */
extern void rn_bind(RnNet *net, const RnShape *shape, int batch_cap,
					int nstate, NnArena *a);
extern void rn_clear(RnNet *net);

/* Embeddings N(0, init_std^2), biases 0, layers as torch's nn.Linear */
extern void rn_init(RnNet *net, float mean, float init_std, NnRng *r);

/*
 * One optimizer step over n positive examples (user and item rows, and for
 * RN_MSE their targets; targets may be NULL otherwise), negatives sampled
 * over item rows 1 .. n_items - 1 for the implicit losses.  stream numbers
 * the step (a fresh one per step).  Feature rows are the given rows even
 * when unknown_rate swaps the id for row 0 (the user's draw covers its
 * negatives too).  Returns the batch's mean loss without the L2 term; NAN,
 * with nothing changed, when n < 1, n (1 + negatives) > batch_cap, or an
 * implicit loss has fewer than 2 item rows.
 */
extern double rn_step(RnNet *net, const RnTrain *t, NnOptim *o, int n,
					  const int32_t *users, const int32_t *items,
					  const float *targets, const RnFeatures *uf,
					  const RnFeatures *itf, uint64_t stream);

/* y for n (user, item) pairs, inference mode (no dropout, no unknown draws) */
extern void rn_predict(RnNet *net, int n, const int32_t *users,
					   const int32_t *items, const RnFeatures *uf,
					   const RnFeatures *itf, float *y);

/* The side vector [p, f] (2 dim) of a row of the user or of the item table */
extern void rn_side_vector(const RnNet *net, bool user, int32_t row,
						   const RnFeatures *feats, float *side);

/* f of a token list: the mean of the feature table's rows (zeros if n = 0) */
extern void rn_feature_bag(const float *table, int dim, const int32_t *ids,
						   int n, float *f);

/*
 * Serving.  layers is the mlp of a network (bound with any batch_cap);
 * sides are 2 dim wide.  P (n x hidden[0]) = item sides times the item
 * block of the first layer; h (hidden[0]) = the user block times the user
 * side plus the first bias.  rn_score then gives n items' y:
 * mean + b_u + b_i[j] + the dot product + mlp, in chunks of RN_SCORE_CHUNK
 * items using scratch of rn_score_floats(layers, dim) floats.
 */
extern void rn_item_side(const NnMlp *layers, int dim, int n,
						 const float *sides, float *P);
extern void rn_user_side(const NnMlp *layers, int dim, const float *side,
						 float *h);
#define RN_SCORE_CHUNK 1024
extern size_t rn_score_floats(const NnMlp *layers, int dim);
extern void rn_score(const NnMlp *layers, const RnShape *shape, float mean,
					 const float *user_side, float user_bias, const float *h,
					 int n, const float *item_sides, const float *item_bias,
					 const float *P, float *y, float *scratch);

/*
 * Online: steps full-batch SGD steps (learning rate lr; on p_u and b_u the
 * training's regularisation: the gradient of t->l2_id |p_u|^2 and of
 * t->l2_bias b_u^2 where those are > 0, else t->l2 w) on one user's p_u
 * (the first dim floats of user_side) and b_u, over
 * their n latest interactions, everything else fixed (f_u, the item sides,
 * the layers); user_side and user_bias are updated in place.  items are
 * the interactions' item rows in item_sides (n_items x 2 dim, rn_side_vector
 * of each row) and item_bias (n_items); targets are the ratings for RN_MSE
 * and unused (may be NULL) for the implicit losses, whose t->negatives
 * negatives per interaction are drawn afresh each step over rows
 * 1 .. n_items - 1, as training draws them (t->seed, stream).  No dropout,
 * no unknown-id draws.  For RN_MSE only the rows items names are read, so
 * a caller may pass just those n sides with items 0 .. n - 1.  Used by the
 * trigger: cost O(steps * n * (1 + negatives) * mlp).  scratch holds
 * rn_fold_floats(layers, dim, n, negatives) floats (negatives 0 for MSE).
 */
extern size_t rn_fold_floats(const NnMlp *layers, int dim, int n, int negatives);
extern void rn_fold_user(const NnMlp *layers, const RnShape *shape, float mean,
						 const RnTrain *t, int steps, float lr, int n,
						 const int32_t *items, const float *targets,
						 int32_t n_items, const float *item_sides,
						 const float *item_bias, float *user_side,
						 float *user_bias, uint64_t stream, float *scratch);

/*
 * Refresh: the same on one item's q (the first dim floats of item_side)
 * and b_i, against n of its customers (rows of user_sides, n_users x 2 dim,
 * and user_bias), negatives drawn over customer rows 1 .. n_users - 1;
 * scratch as rn_fold_floats.  The item side catches up on the events the
 * trigger queued without a lock on the item.
 */
extern void rn_fold_item(const NnMlp *layers, const RnShape *shape, float mean,
						 const RnTrain *t, int steps, float lr, int n,
						 const int32_t *users, const float *targets,
						 int32_t n_users, const float *user_sides,
						 const float *user_bias, float *item_side,
						 float *item_bias, uint64_t stream, float *scratch);

/* A feature token's bucket: FNV-1a of the bytes, mod buckets */
extern int32_t rn_hash(const char *token, size_t len, int32_t buckets);

#endif
