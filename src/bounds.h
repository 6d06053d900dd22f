/*
 * bounds.h - limits on what reco accepts, in one place
 *
 * Plain C (no PostgreSQL headers): the numerical core may use it too.
 */
#ifndef RECO_BOUNDS_H
#define RECO_BOUNDS_H

/* Most items one ranking call returns */
#define RECO_MAX_K 10000

/*
 * Largest magnitude of an event's value (reco_event.value, the weight of a
 * reco_train_agg row, the value column of an event query).  With kind weights
 * and alpha at most RECO_MAX_PARAM, every confidence ALS derives from one
 * event stays below 1e18, far inside float4, so one event cannot overflow a
 * model into NaN.
 */
#define RECO_MAX_VALUE 1e6

/*
 * Longest model name, in bytes (the reco_model_name_bytes constraint says the
 * same; per-backend caches key models by a char[RECO_MAX_NAME + 1])
 */
#define RECO_MAX_NAME 63

/* Largest kind weight, alpha and regularization a model accepts */
#define RECO_MAX_PARAM 1e6

/*
 * An online fold-in solves over a customer's latest this many items (model
 * parameter "history"); the stored history itself is never cut.
 */
#define RECO_DEFAULT_HISTORY 500
#define RECO_DEFAULT_MLP_HISTORY 50

/*
 * A customer's summed weight for one item is capped (model parameter
 * "max_weight"): a bot or a bulk buyer repeating one event cannot make an
 * item's vector, or the float Cholesky of every fold-in, theirs.  16 is two
 * one-unit purchases at the default kind weights: on Online Retail (issue
 * 10, bench/retail.sh) it lifts default ALS over the former 1000, since a
 * wholesaler's quantities no longer outweigh everyone's repeat purchases.
 */
#define RECO_DEFAULT_MAX_WEIGHT 16.0
#define RECO_MAX_HISTORY 100000

/*
 * A neural ranking over more items than reco.shortlist scores the rest by
 * the dot product and biases alone (family/mlp.c)
 */
#define RECO_DEFAULT_SHORTLIST 2000
#define RECO_MAX_SHORTLIST 1000000

/*
 * Event hygiene at training (model parameters "half_life" and
 * "dedup_window", in seconds; 0 turns each off): at most a century, at
 * least a second
 */
#define RECO_MIN_TIME_PARAM 1.0
#define RECO_MAX_TIME_PARAM (100.0 * 365.25 * 86400.0)

/*
 * An online event of a version trained with half_life weighs up to 2^this
 * times its trained weight (events newer than the training gain, see
 * reco_decay_factor): about 1e6, as RECO_MAX_PARAM, so no confidence
 * leaves float4
 */
#define RECO_MAX_DECAY_DOUBLINGS 20.0

/* Widest embedding or hidden layer of an 'mlp' model, and most feature buckets */
#define RECO_MAX_WIDTH 4096

/* neighbours an item-item model keeps per item; items EASE inverts */
#define RECO_MAX_NEIGHBORS 10000
#define RECO_MAX_EASE_ITEMS 40000
#define RECO_MAX_BUCKETS (1 << 22)

/* Threads one training run may use (reco.train_threads; WORKERS_MAX too) */
#define RECO_MAX_TRAIN_THREADS 64

/* Memory one run may allocate (reco.max_train_memory), in kB */
#define RECO_DEFAULT_TRAIN_MEMORY_KB (4 * 1024 * 1024)	/* 4 GB */
#define RECO_MIN_TRAIN_MEMORY_KB 1024

#endif
