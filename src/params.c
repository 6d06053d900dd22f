/*
 * params.c - hyperparameters of a training run, read from and written to jsonb
 */
#include "reco.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "params.h"

#define RECO_ALS_KEYS "feedback, factors, iterations, regularization, reg_exponent, alpha, solver, cg_steps, init_scale, seed, value, weights, history, max_weight, half_life, dedup_window, half_life_origin, repeat, fresh_days, fresh_boost"
#define RECO_MLP_KEYS "feedback, seed, value, weights, history, max_weight, half_life, dedup_window, half_life_origin, dim, hidden, activation, loss, negatives, optimizer, learning_rate, batch_size, epochs, l2, l2_id, l2_bias, l2_layers, weight_decay, dropout, unknown_rate, user_buckets, item_buckets, validation, patience, init_scale, lr_decay, online_steps, online_rate, feature_dot, repeat, fresh_days, fresh_boost"

#define RECO_KNN_KEYS "value, weights, history, max_weight, half_life, dedup_window, half_life_origin, similarity, neighbors, shrink, k1, b, repeat, fresh_days, fresh_boost"
#define RECO_EASE_KEYS "value, weights, history, max_weight, half_life, dedup_window, half_life_origin, lambda, neighbors, repeat, fresh_days, fresh_boost"

static const char *const kinds[RECO_NKINDS] = {"view", "click", "cart", "purchase", "rating", "search"};
static const double default_weights[RECO_NKINDS] = {1.0, 2.0, 4.0, 8.0, 1.0, 0.5};

/* Index of an event kind (len bytes, not terminated), or -1 */
int
reco_kind(const char *kind, int len)
{
	for (int i = 0; i < RECO_NKINDS; i++)
		if (strlen(kinds[i]) == (size_t) len && memcmp(kinds[i], kind, len) == 0)
			return i;
	return -1;
}

static const char *const value_names[] = {"linear", "log", "unit"};
static const char *const feedback_names[] = {"implicit", "explicit"};

/* An event's value as the model counts it */
double
reco_event_value(const RecoTrainParams *p, double value)
{
	switch (p->value)
	{
		case RECO_VALUE_LOG:
			return value >= 0 ? log1p(value) : -log1p(-value);
		case RECO_VALUE_UNIT:
			return (value > 0) - (value < 0);
		default:
			return value;
	}
}

/*
 * The factor an event at ts weighs by in a version trained with half_life:
 * 2^((ts - origin) / half_life), origin the newest event the training read,
 * so an online event weighs what it will weigh relative to the trained ones
 * at the next training.  The exponent is capped (RECO_MAX_DECAY_DOUBLINGS):
 * past that many half-lives without a training, new events stop gaining.
 * 1 without half_life.
 */
double
reco_decay_factor(const RecoTrainParams *p, TimestampTz ts)
{
	double		doublings;

	if (p->half_life <= 0.0 || !p->has_origin)
		return 1.0;
	/* in double: ts may be -infinity or infinity, far from the origin */
	doublings = ((double) ts - (double) p->time_origin) / ((double) USECS_PER_SEC * p->half_life);
	return exp2(Min(doublings, RECO_MAX_DECAY_DOUBLINGS));
}

/* A string parameter that must be one of names[0..n) */
static int
param_choice(const char *key, JsonbValue *v, const char *const *names, int n,
			 const char *hint)
{
	if (v->type == jbvString)
		for (int i = 0; i < n; i++)
			if (strlen(names[i]) == (size_t) v->val.string.len &&
				memcmp(names[i], v->val.string.val, v->val.string.len) == 0)
				return i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("parameter \"%s\" must be %s", key, hint)));
	return -1;					/* keep the compiler quiet */
}

/* Numeric value of a jsonb scalar, or an error naming the key */
static double
param_number(const char *key, JsonbValue *v)
{
	double		d;

	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be a number", key)));
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
										   NumericGetDatum(v->val.numeric)));
	return d;
}

/* true or false */
static bool
param_bool(const char *key, JsonbValue *v)
{
	if (v->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be true or false", key)));
	return v->val.boolean;
}

/* A number within [lo, hi] */
static double
param_range(const char *key, JsonbValue *v, double lo, double hi)
{
	double		d = param_number(key, v);

	if (!(d >= lo && d <= hi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be between %g and %g", key, lo, hi),
				 errdetail("It was %g.", d)));
	return d;
}

/* An integer within [lo, hi] */
static int64
param_int(const char *key, JsonbValue *v, int64 lo, int64 hi)
{
	double		d = param_range(key, v, (double) lo, (double) hi);

	if (d != floor(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be an integer", key),
				 errdetail("It was %g.", d)));
	return (int64) d;
}

/*
 * A span of time in seconds: a number of seconds, or a string PostgreSQL
 * reads as an interval ('30 days', '12 hours'; a month is 30 days, as
 * EXTRACT(epoch) counts it).  0 turns the setting off; otherwise 1 second
 * to 100 years.
 */
static double
param_seconds(const char *key, JsonbValue *v)
{
	double		d;

	if (v->type == jbvString)
	{
		char	   *text = pnstrdup(v->val.string.val, v->val.string.len);
		MemoryContext mcxt = CurrentMemoryContext;
		Datum		span = (Datum) 0;

		/* interval_in only parses: catching its error leaves nothing behind */
		PG_TRY();
		{
			span = DirectFunctionCall3(interval_in, CStringGetDatum(text),
									   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		}
		PG_CATCH();
		{
			ErrorData  *e;

			MemoryContextSwitchTo(mcxt);
			e = CopyErrorData();
			FlushErrorState();
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"%s\" must be a number of seconds or an interval", key),
					 errdetail("%s", e->message),
					 errhint("For example {\"%s\": \"30 days\"} or {\"%s\": 2592000}.", key, key)));
		}
		PG_END_TRY();
		d = DatumGetFloat8(DirectFunctionCall2(interval_part, CStringGetTextDatum("epoch"), span));
	}
	else if (v->type == jbvNumeric)
		d = param_number(key, v);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be a number of seconds or an interval", key),
				 errhint("For example {\"%s\": \"30 days\"} or {\"%s\": 2592000}.", key, key)));
	if (d != 0.0 && !(d >= RECO_MIN_TIME_PARAM && d <= RECO_MAX_TIME_PARAM))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be 0 (off) or between 1 second and 100 years", key),
				 errdetail("It was %g seconds.", d)));
	return d;
}

/* Apply one "weights" object: kind -> non-negative weight */
static void
apply_weights(JsonbValue *v, double *w)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	val;
	JsonbIteratorToken tok;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"weights\" must be an object mapping event kinds to weights"),
				 errhint("For example {\"weights\": {\"view\": 1, \"purchase\": 10}}.")));

	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *kind;
		int			i;

		if (tok != WJB_KEY)
			continue;
		kind = pnstrdup(k.val.string.val, k.val.string.len);
		tok = JsonbIteratorNext(&it, &val, true);
		i = reco_kind(k.val.string.val, k.val.string.len);
		if (i < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown event kind \"%s\" in parameter \"weights\"", kind),
					 errhint("Kinds are view, click, cart, purchase, rating and search.")));
		w[i] = param_range(kind, &val, 0.0, RECO_MAX_PARAM);
	}
}

/* The "hidden" array: 1 to NN_MLP_MAX_LAYERS - 1 layer widths */
static void
apply_hidden(JsonbValue *v, RnShape *shape)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			n = 0;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"hidden\" must be an array of layer widths"),
				 errhint("For example {\"hidden\": [64, 32]}.")));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (n == NN_MLP_MAX_LAYERS - 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"hidden\" may name at most %d layers",
							NN_MLP_MAX_LAYERS - 1)));
		shape->hidden[n++] = (int) param_int("hidden", &e, 1, RECO_MAX_WIDTH);
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"hidden\" must name at least one layer")));
	shape->nhidden = n;
}

/*
 * The family that evaluation and tuning fit: the "algorithm" of the params
 * given, else ALS
 */
const char *
reco_params_family(Jsonb *given)
{
	JsonbValue *v;

	if (given == NULL || !JB_ROOT_IS_OBJECT(given) || JB_ROOT_IS_SCALAR(given))
		return "als";
	v = getKeyJsonValueFromContainer(&given->root, "algorithm", strlen("algorithm"), NULL);
	if (v == NULL)
		return "als";
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"algorithm\" must be a string")));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A key every family takes; false if key is not one */
static bool
apply_shared(const char *key, JsonbValue *v, RecoTrainParams *out, double *w)
{
	if (strcmp(key, "algorithm") == 0)
	{
		/* evaluation's way to name the family; a model's is its own */
		if (v->type != jbvString || strlen(out->family) != (size_t) v->val.string.len ||
			memcmp(out->family, v->val.string.val, v->val.string.len) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"algorithm\" must be \"%s\" here", out->family)));
	}
	else if (strcmp(key, "seed") == 0)
		out->als.seed = out->mlp.train.seed =
			(uint64_t) param_int(key, v, 0, INT64CONST(9007199254740991));
	else if (strcmp(key, "feedback") == 0)
		out->explicit_ratings =
			param_choice(key, v, feedback_names, 2, "\"implicit\" or \"explicit\"") == 1;
	else if (strcmp(key, "value") == 0)
		out->value = (RecoValueTransform)
			param_choice(key, v, value_names, lengthof(value_names),
						 "\"linear\", \"log\" or \"unit\"");
	else if (strcmp(key, "weights") == 0)
		apply_weights(v, w);
	else if (strcmp(key, "history") == 0)
		out->history = (int) param_int(key, v, 1, RECO_MAX_HISTORY);
	else if (strcmp(key, "max_weight") == 0)
		out->max_weight = param_range(key, v, 1.0, RECO_MAX_VALUE);
	else if (strcmp(key, "fresh_days") == 0)
		out->fresh_days = param_range(key, v, 0.0, 3650.0);
	else if (strcmp(key, "fresh_boost") == 0)
		out->fresh_boost = param_range(key, v, 0.0, 100.0);
	else if (strcmp(key, "repeat") == 0)
		out->repeat = param_bool(key, v);
	else if (strcmp(key, "half_life") == 0)
		out->half_life = param_seconds(key, v);
	else if (strcmp(key, "dedup_window") == 0)
		out->dedup_window = param_seconds(key, v);
	else if (strcmp(key, "half_life_origin") == 0)
	{
		/*
		 * recorded by a training (epoch seconds); the next one sets its own.
		 * Any finite timestamptz (4713 BC to 294276 AD) an event may have,
		 * give or take a second of rounding
		 */
		double		offset = (double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
		double		secs = param_range(key, v, (double) MIN_TIMESTAMP / USECS_PER_SEC + offset - 1.0,
									   (double) END_TIMESTAMP / USECS_PER_SEC + offset + 1.0);

		out->has_origin = true;
		out->time_origin = (TimestampTz) Max(Min((secs - offset) * USECS_PER_SEC,
												 (double) (END_TIMESTAMP - 1024)),
											 (double) MIN_TIMESTAMP);
	}
	else
		return false;
	return true;
}

/* An ALS key; false if key is not one */
static bool
apply_als(const char *key, JsonbValue *v, RecoTrainParams *out)
{
	AlsParams  *a = &out->als;

	if (strcmp(key, "factors") == 0)
		a->factors = (int) param_int(key, v, 1, 1024);
	else if (strcmp(key, "iterations") == 0)
		a->iterations = (int) param_int(key, v, 1, 1000);
	else if (strcmp(key, "regularization") == 0)
		a->regularization = (float) param_range(key, v, 0.0, RECO_MAX_PARAM);
	else if (strcmp(key, "reg_exponent") == 0)
		a->reg_exponent = (float) param_range(key, v, 0.0, 2.0);
	else if (strcmp(key, "alpha") == 0)
		a->alpha = (float) param_range(key, v, 0.0, RECO_MAX_PARAM);
	else if (strcmp(key, "cg_steps") == 0)
		a->cg_steps = (int) param_int(key, v, 1, 100);
	else if (strcmp(key, "init_scale") == 0)
		a->init_scale = (float) param_range(key, v, 1e-6, 10.0);
	else if (strcmp(key, "solver") == 0)
	{
		static const char *const solvers[] = {"cg", "cholesky"};

		out->cholesky = param_choice(key, v, solvers, 2, "\"cg\" or \"cholesky\"") == 1;
	}
	else
		return false;
	return true;
}

static const char *const act_names[] = {"identity", "relu", "sigmoid", "tanh", "gelu"};
static const char *const loss_names[] = {"mse", "bce", "bpr"};
static const char *const optimizer_names[] = {"sgd", "adam", "adamw"};

/* An 'mlp' key; false if key is not one */
static bool
apply_mlp(const char *key, JsonbValue *v, RecoTrainParams *out)
{
	RecoMlpParams *m = &out->mlp;

	if (strcmp(key, "dim") == 0)
		m->shape.dim = (int) param_int(key, v, 1, RECO_MAX_WIDTH);
	else if (strcmp(key, "hidden") == 0)
		apply_hidden(v, &m->shape);
	else if (strcmp(key, "activation") == 0)
		m->shape.act = (NnAct) (1 + param_choice(key, v, act_names + 1, lengthof(act_names) - 1,
												 "\"relu\", \"sigmoid\", \"tanh\" or \"gelu\""));
	else if (strcmp(key, "loss") == 0)
		m->train.loss = (RnLoss) param_choice(key, v, loss_names, lengthof(loss_names),
											  "\"mse\", \"bce\" or \"bpr\"");
	else if (strcmp(key, "negatives") == 0)
		m->train.negatives = (int) param_int(key, v, 1, 100);
	else if (strcmp(key, "optimizer") == 0)
		m->optimizer = (NnOptKind) param_choice(key, v, optimizer_names, lengthof(optimizer_names),
												"\"sgd\", \"adam\" or \"adamw\"");
	else if (strcmp(key, "learning_rate") == 0)
		m->learning_rate = param_range(key, v, 1e-7, 10.0);
	else if (strcmp(key, "batch_size") == 0)
		m->batch_size = (int) param_int(key, v, 1, 65536);
	else if (strcmp(key, "epochs") == 0)
		m->epochs = (int) param_int(key, v, 1, 10000);
	else if (strcmp(key, "l2") == 0)
		m->train.l2 = (float) param_range(key, v, 0.0, 10.0);
	else if (strcmp(key, "l2_id") == 0)
		m->train.l2_id = (float) param_range(key, v, 0.0, 10.0);
	else if (strcmp(key, "l2_bias") == 0)
		m->train.l2_bias = (float) param_range(key, v, 0.0, 10.0);
	else if (strcmp(key, "l2_layers") == 0)
		m->train.l2_layers = (float) param_range(key, v, 0.0, 10.0);
	else if (strcmp(key, "weight_decay") == 0)
		m->weight_decay = param_range(key, v, 0.0, 10.0);
	else if (strcmp(key, "dropout") == 0)
		m->train.dropout = (float) param_range(key, v, 0.0, 0.9);
	else if (strcmp(key, "unknown_rate") == 0)
		m->train.unknown_rate = (float) param_range(key, v, 0.0, 0.5);
	else if (strcmp(key, "user_buckets") == 0)
		m->shape.user_buckets = (int32) param_int(key, v, 1, RECO_MAX_BUCKETS);
	else if (strcmp(key, "item_buckets") == 0)
		m->shape.item_buckets = (int32) param_int(key, v, 1, RECO_MAX_BUCKETS);
	else if (strcmp(key, "validation") == 0)
		m->validation = param_range(key, v, 0.0, 0.5);
	else if (strcmp(key, "patience") == 0)
		m->patience = (int) param_int(key, v, 1, 1000);
	else if (strcmp(key, "init_scale") == 0)
		m->init_scale = (float) param_range(key, v, 1e-6, 10.0);
	else if (strcmp(key, "lr_decay") == 0)
		m->lr_decay = param_range(key, v, 0.1, 1.0);
	else if (strcmp(key, "online_steps") == 0)
		m->online_steps = (int) param_int(key, v, 0, 100);
	else if (strcmp(key, "online_rate") == 0)
		m->online_rate = param_range(key, v, 0.0, 10.0);
	else if (strcmp(key, "feature_dot") == 0)
		m->shape.feature_dot = param_bool(key, v);
	else
		return false;
	return true;
}

static const char *const weighting_names[] = {"cosine", "tfidf", "bm25"};

/* An 'itemknn' or 'ease' key; false if key is not one */
static bool
apply_knn(const char *key, JsonbValue *v, RecoTrainParams *out, bool ease)
{
	KnnParams  *k = &out->knn;

	if (strcmp(key, "neighbors") == 0)
		k->neighbors = (int) param_int(key, v, 1, RECO_MAX_NEIGHBORS);
	else if (ease && strcmp(key, "lambda") == 0)
		out->ease_lambda = param_range(key, v, 1e-3, RECO_MAX_PARAM);
	else if (ease)
		return false;
	else if (strcmp(key, "similarity") == 0)
		k->weighting = (KnnWeighting) param_choice(key, v, weighting_names, lengthof(weighting_names),
												   "\"cosine\", \"tfidf\" or \"bm25\"");
	else if (strcmp(key, "shrink") == 0)
		k->shrink = (float) param_range(key, v, 0.0, RECO_MAX_PARAM);
	else if (strcmp(key, "k1") == 0)
		k->k1 = (float) param_range(key, v, 0.0, RECO_MAX_PARAM);
	else if (strcmp(key, "b") == 0)
		k->b = (float) param_range(key, v, 0.0, 1.0);
	else
		return false;
	return true;
}

/* The keys a family takes, for hints */
static const char *
family_keys(const char *family)
{
	if (strcmp(family, "mlp") == 0)
		return RECO_MLP_KEYS;
	if (strcmp(family, "itemknn") == 0)
		return RECO_KNN_KEYS;
	if (strcmp(family, "ease") == 0)
		return RECO_EASE_KEYS;
	return RECO_ALS_KEYS;
}

/* A key of out's family; false if key is not one */
static bool
apply_family(const char *key, JsonbValue *v, RecoTrainParams *out)
{
	if (strcmp(out->family, "mlp") == 0)
		return apply_mlp(key, v, out);
	if (strcmp(out->family, "itemknn") == 0 || strcmp(out->family, "ease") == 0)
		return apply_knn(key, v, out, strcmp(out->family, "ease") == 0);
	return apply_als(key, v, out);
}

/* Apply every key of one params object on top of out */
static void
apply_params(Jsonb *params, RecoTrainParams *out, double *w)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;
	const char *keys = family_keys(out->family);

	if (params == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(params) || JB_ROOT_IS_SCALAR(params))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params must be a JSON object"),
				 errhint("Valid keys: %s.", keys)));

	it = JsonbIteratorInit(&params->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(k.val.string.val, k.val.string.len);
		(void) JsonbIteratorNext(&it, &v, true);
		if (!apply_shared(key, &v, out, w) && !apply_family(key, &v, out))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown parameter \"%s\"", key),
					 errhint("Valid keys: %s.", keys)));
	}
}

/*
 * Resolve the hyperparameters of a run: the defaults, then what the model
 * has stored, then what this call gives.
 */
void
reco_parse_params(const char *family, Jsonb *stored, Jsonb *given,
				  RecoTrainParams *out)
{
	RecoMlpParams *m = &out->mlp;

	memset(out, 0, sizeof(*out));
	strlcpy(out->family, family, sizeof(out->family));
	out->als.factors = 64;
	out->als.iterations = 15;
	out->als.regularization = 1.5f;
	out->als.reg_exponent = 0.5f;
	out->als.alpha = 1.0f;
	out->als.cg_steps = 3;
	out->als.init_scale = 0.01f;
	out->als.seed = 42;
	memcpy(out->weights, default_weights, sizeof(out->weights));
	/* each event once: quantities and ratings as weights lost on every data set */
	out->value = RECO_VALUE_UNIT;
	out->history = RECO_DEFAULT_HISTORY;
	out->max_weight = RECO_DEFAULT_MAX_WEIGHT;
	out->repeat = true;
	out->fresh_days = 0.0;
	out->fresh_boost = 0.3;

	/* the 'mlp' family: a feature MLP beside biases and a dot product */
	m->shape.dim = 32;
	m->shape.nhidden = 2;
	m->shape.hidden[0] = 64;
	m->shape.hidden[1] = 32;
	m->shape.act = NN_RELU;
	m->shape.feature_dot = true;
	m->shape.user_buckets = 4096;
	m->shape.item_buckets = 16384;
	m->train.loss = RN_BCE;
	m->train.negatives = 4;
	m->train.dropout = 0.1f;
	m->train.unknown_rate = 0.05f;
	m->train.l2 = 1e-5f;
	m->train.seed = 42;
	m->optimizer = NN_ADAM;
	m->learning_rate = 1e-3;
	m->weight_decay = 0.0;
	m->batch_size = 256;
	m->epochs = 20;
	m->validation = 0.1;
	m->patience = 3;
	m->init_scale = 0.05f;
	m->lr_decay = 1.0;
	m->online_steps = 10;
	m->online_rate = 1.0;
	/* neighbourhoods: BM25 as for text retrieval, 100 neighbours an item */
	out->knn.weighting = KNN_BM25;
	out->knn.neighbors = 100;
	out->knn.shrink = 0.0f;
	out->knn.k1 = 1.2f;
	out->knn.b = 0.75f;
	out->ease_lambda = 500.0;

	/* a network's fold-in steps through the layers per item: a shorter window */
	if (strcmp(family, "mlp") == 0)
		out->history = RECO_DEFAULT_MLP_HISTORY;

	apply_params(stored, out, out->weights);
	apply_params(given, out, out->weights);
	/* a rating model regresses; one given a loss keeps it */
	if (out->explicit_ratings)
		m->train.loss = RN_MSE;
	else if (m->train.loss == RN_MSE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("loss \"mse\" needs \"feedback\": \"explicit\""),
				 errhint("Implicit feedback trains with \"bce\" or \"bpr\" against sampled negatives.")));
}

/* The shared keys' tail: value, weights, history, max_weight, half_life, dedup_window */
static void
append_shared(StringInfo buf, const RecoTrainParams *p)
{
	appendStringInfo(buf, "\"value\": \"%s\", \"weights\": {", value_names[p->value]);
	for (int i = 0; i < RECO_NKINDS; i++)
		appendStringInfo(buf, "%s\"%s\": %.7g", i ? ", " : "", kinds[i], p->weights[i]);
	appendStringInfo(buf, "}, \"history\": %d, \"max_weight\": %.7g, \"half_life\": %.10g, "
					 "\"dedup_window\": %.10g, \"repeat\": %s, \"fresh_days\": %.7g, "
					 "\"fresh_boost\": %.7g", p->history, p->max_weight, p->half_life,
					 p->dedup_window, p->repeat ? "true" : "false", p->fresh_days, p->fresh_boost);
	if (p->half_life > 0.0 && p->has_origin)
		appendStringInfo(buf, ", \"half_life_origin\": %.6f",
						 (double) p->time_origin / USECS_PER_SEC +
						 (double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);
	appendStringInfoChar(buf, '}');
}

/* An 'mlp' version's resolved hyperparameters */
static Jsonb *
mlp_jsonb(const RecoTrainParams *p)
{
	StringInfoData buf;
	const RecoMlpParams *m = &p->mlp;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"feedback\": \"%s\", \"dim\": %d, \"hidden\": [",
					 feedback_names[p->explicit_ratings], m->shape.dim);
	for (int i = 0; i < m->shape.nhidden; i++)
		appendStringInfo(&buf, "%s%d", i ? ", " : "", m->shape.hidden[i]);
	appendStringInfo(&buf,
					 "], \"activation\": \"%s\", \"loss\": \"%s\", \"negatives\": %d, "
					 "\"optimizer\": \"%s\", \"learning_rate\": %.7g, \"batch_size\": %d, "
					 "\"epochs\": %d, \"l2\": %.7g, \"l2_id\": %.7g, \"l2_bias\": %.7g, "
					 "\"l2_layers\": %.7g, \"weight_decay\": %.7g, \"dropout\": %.7g, "
					 "\"unknown_rate\": %.7g, \"user_buckets\": %d, \"item_buckets\": %d, "
					 "\"validation\": %.7g, \"patience\": %d, \"init_scale\": %.7g, "
					 "\"lr_decay\": %.7g, \"feature_dot\": %s, "
					 "\"online_steps\": %d, \"online_rate\": %.7g, \"seed\": " UINT64_FORMAT ", ",
					 act_names[m->shape.act], loss_names[m->train.loss], m->train.negatives,
					 optimizer_names[m->optimizer], m->learning_rate, m->batch_size,
					 m->epochs, m->train.l2, m->train.l2_id, m->train.l2_bias,
					 m->train.l2_layers, m->weight_decay, m->train.dropout,
					 m->train.unknown_rate, m->shape.user_buckets, m->shape.item_buckets,
					 m->validation, m->patience, m->init_scale,
					 m->lr_decay, m->shape.feature_dot ? "true" : "false", m->online_steps,
					 m->online_rate, m->train.seed);
	append_shared(&buf, p);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* An 'itemknn' or 'ease' version's resolved hyperparameters */
static Jsonb *
knn_jsonb(const RecoTrainParams *p)
{
	StringInfoData buf;
	const KnnParams *k = &p->knn;

	initStringInfo(&buf);
	if (strcmp(p->family, "ease") == 0)
		appendStringInfo(&buf, "{\"lambda\": %.7g, \"neighbors\": %d, ", p->ease_lambda,
						 k->neighbors);
	else
		appendStringInfo(&buf, "{\"similarity\": \"%s\", \"neighbors\": %d, \"shrink\": %.7g, "
						 "\"k1\": %.7g, \"b\": %.7g, ", weighting_names[k->weighting],
						 k->neighbors, k->shrink, k->k1, k->b);
	append_shared(&buf, p);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* The resolved hyperparameters as a jsonb object, as a version records them */
Jsonb *
reco_params_jsonb(const RecoTrainParams *p)
{
	StringInfoData buf;
	const AlsParams *a = &p->als;

	if (strcmp(p->family, "mlp") == 0)
		return mlp_jsonb(p);
	if (strcmp(p->family, "itemknn") == 0 || strcmp(p->family, "ease") == 0)
		return knn_jsonb(p);
	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"feedback\": \"%s\", \"factors\": %d, \"iterations\": %d, \"regularization\": %.7g, "
					 "\"reg_exponent\": %.7g, \"alpha\": %.7g, \"solver\": \"%s\", "
					 "\"cg_steps\": %d, \"init_scale\": %.7g, \"seed\": " UINT64_FORMAT ", ",
					 feedback_names[p->explicit_ratings], a->factors, a->iterations, a->regularization,
					 a->reg_exponent, a->alpha, p->cholesky ? "cholesky" : "cg",
					 a->cg_steps, a->init_scale, a->seed);
	append_shared(&buf, p);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
