/*
 * params.c - hyperparameters of a training run, read from and written to jsonb
 */
#include "reco.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#include "params.h"

#define RECO_PARAM_KEYS "feedback, factors, iterations, regularization, reg_exponent, alpha, solver, cg_steps, init_scale, seed, value, weights, history, max_weight"

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

/* Apply every key of one params object on top of out */
static void
apply_params(Jsonb *params, RecoTrainParams *out, double *w)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (params == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(params) || JB_ROOT_IS_SCALAR(params))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params must be a JSON object"),
				 errhint("Valid keys: " RECO_PARAM_KEYS ".")));

	it = JsonbIteratorInit(&params->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *key;
		AlsParams  *a = &out->als;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(k.val.string.val, k.val.string.len);
		(void) JsonbIteratorNext(&it, &v, true);

		if (strcmp(key, "factors") == 0)
			a->factors = (int) param_int(key, &v, 1, 1024);
		else if (strcmp(key, "iterations") == 0)
			a->iterations = (int) param_int(key, &v, 1, 1000);
		else if (strcmp(key, "regularization") == 0)
			a->regularization = (float) param_range(key, &v, 0.0, RECO_MAX_PARAM);
		else if (strcmp(key, "reg_exponent") == 0)
			a->reg_exponent = (float) param_range(key, &v, 0.0, 2.0);
		else if (strcmp(key, "alpha") == 0)
			a->alpha = (float) param_range(key, &v, 0.0, RECO_MAX_PARAM);
		else if (strcmp(key, "cg_steps") == 0)
			a->cg_steps = (int) param_int(key, &v, 1, 100);
		else if (strcmp(key, "init_scale") == 0)
			a->init_scale = (float) param_range(key, &v, 1e-6, 10.0);
		else if (strcmp(key, "seed") == 0)
			a->seed = (uint64_t) param_int(key, &v, 0, INT64CONST(9007199254740991));
		else if (strcmp(key, "solver") == 0)
		{
			static const char *const solvers[] = {"cg", "cholesky"};

			out->cholesky = param_choice(key, &v, solvers, 2, "\"cg\" or \"cholesky\"") == 1;
		}
		else if (strcmp(key, "feedback") == 0)
			out->explicit_ratings =
				param_choice(key, &v, feedback_names, 2, "\"implicit\" or \"explicit\"") == 1;
		else if (strcmp(key, "value") == 0)
			out->value = (RecoValueTransform)
				param_choice(key, &v, value_names, lengthof(value_names),
							 "\"linear\", \"log\" or \"unit\"");
		else if (strcmp(key, "weights") == 0)
			apply_weights(&v, w);
		else if (strcmp(key, "history") == 0)
			out->history = (int) param_int(key, &v, 1, RECO_MAX_HISTORY);
		else if (strcmp(key, "max_weight") == 0)
			out->max_weight = param_range(key, &v, 1.0, RECO_MAX_VALUE);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown parameter \"%s\"", key),
					 errhint("Valid keys: " RECO_PARAM_KEYS ".")));
	}
}

/*
 * Resolve the hyperparameters of a run: the defaults, then what the model
 * has stored, then what this call gives.
 */
void
reco_parse_params(Jsonb *stored, Jsonb *given, RecoTrainParams *out)
{

	memset(out, 0, sizeof(*out));
	out->als.factors = 64;
	out->als.iterations = 15;
	out->als.regularization = 1.5f;
	out->als.reg_exponent = 0.5f;
	out->als.alpha = 1.0f;
	out->als.cg_steps = 3;
	out->als.init_scale = 0.01f;
	out->als.seed = 42;
	memcpy(out->weights, default_weights, sizeof(out->weights));
	out->history = RECO_DEFAULT_HISTORY;
	out->max_weight = RECO_DEFAULT_MAX_WEIGHT;

	apply_params(stored, out, out->weights);
	apply_params(given, out, out->weights);
}

/* The resolved hyperparameters as a jsonb object, as a version records them */
Jsonb *
reco_params_jsonb(const RecoTrainParams *p)
{
	StringInfoData buf;
	const AlsParams *a = &p->als;

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"feedback\": \"%s\", \"factors\": %d, \"iterations\": %d, \"regularization\": %.7g, "
					 "\"reg_exponent\": %.7g, \"alpha\": %.7g, \"solver\": \"%s\", "
					 "\"cg_steps\": %d, \"init_scale\": %.7g, \"seed\": " UINT64_FORMAT ", "
					 "\"value\": \"%s\", \"weights\": {",
					 feedback_names[p->explicit_ratings], a->factors, a->iterations, a->regularization,
					 a->reg_exponent, a->alpha, p->cholesky ? "cholesky" : "cg",
					 a->cg_steps, a->init_scale, a->seed, value_names[p->value]);
	for (int i = 0; i < RECO_NKINDS; i++)
		appendStringInfo(&buf, "%s\"%s\": %.7g", i ? ", " : "", kinds[i], p->weights[i]);
	appendStringInfo(&buf, "}, \"history\": %d, \"max_weight\": %.7g}", p->history,
					 p->max_weight);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
