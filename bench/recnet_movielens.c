/*
 * recnet_movielens.c - the 'mlp' network (src/core/recnet.c) on one fold of
 * MovieLens 100K: train on uN.base, print the train loss, the test RMSE and
 * the seconds of every epoch
 *
 * Features, hashed with rn_hash: users' age band, gender and occupation
 * (u.user), items' genres and release-year bucket (u.item).  MSE, Adam
 * (weight decay as torch's Adam: L2 in the gradient), the rows shuffled
 * every epoch, predictions clipped to 1..5 for the RMSE.  One thread.
 * bench/recnet_movielens.py trains the same network in PyTorch.
 *
 * Build and run: make bench/recnet_movielens &&
 *   bench/recnet_movielens DATADIR FOLD [key=value ...]
 * keys (defaults below): dim hidden batch lr wd l2 l2_id l2_bias l2_layers
 * dropout epochs unknown std seed buckets decay feature_dot
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/core/recnet.h"

#define MAX_TOKENS 32			/* per entity */

typedef struct Settings
{
	int			dim;
	int			nhidden;
	int			hidden[NN_MLP_MAX_LAYERS - 1];
	int			batch;
	double		lr;
	double		wd;
	float		l2;
	float		l2_id;			/* per example: ids, biases, the layers */
	float		l2_bias;
	float		l2_layers;
	float		dropout;
	int			epochs;
	float		unknown;
	float		std;
	uint64_t	seed;
	int32_t		buckets;
	double		decay;			/* lr multiplied by it after every epoch */
	int			feature_dot;	/* RnShape's */
} Settings;

typedef struct Ratings
{
	int			n;
	int32_t    *user;
	int32_t    *item;
	float	   *rating;
} Ratings;

/* Entity feature tokens as CSR, filled row by row in id order */
typedef struct Tokens
{
	int32_t		nrows;
	int64_t    *indptr;
	int32_t    *ids;
} Tokens;

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static FILE *
open_in(const char *dir, const char *name)
{
	char		path[4096];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f == NULL)
	{
		perror(path);
		exit(1);
	}
	return f;
}

static void
read_ratings(const char *dir, const char *name, Ratings *r)
{
	FILE	   *f = open_in(dir, name);
	int			u,
				i,
				v,
				cap = 1 << 17;
	long		ts;

	r->n = 0;
	r->user = malloc(sizeof(int32_t) * cap);
	r->item = malloc(sizeof(int32_t) * cap);
	r->rating = malloc(sizeof(float) * cap);
	while (r->n < cap && fscanf(f, "%d %d %d %ld", &u, &i, &v, &ts) == 4)
	{
		r->user[r->n] = u;
		r->item[r->n] = i;
		r->rating[r->n] = (float) v;
		r->n++;
	}
	fclose(f);
}

/* Start row id: rows before it without tokens, row id open and empty */
static void
start_row(Tokens *t, int32_t id)
{
	while (t->nrows < id)
	{
		t->indptr[t->nrows + 1] = t->indptr[t->nrows];
		t->nrows++;
	}
	t->indptr[id + 1] = t->indptr[id];
}

/* Append text's bucket to the open row */
static void
add_token(Tokens *t, int32_t buckets, const char *text)
{
	t->ids[t->indptr[t->nrows + 1]++] = rn_hash(text, strlen(text), buckets);
}

/* The '|'-separated fields of line, in place */
static int
split(char *line, char **field, int max)
{
	int			n = 0;
	char	   *s = line;

	field[n++] = s;
	while (n < max && (s = strchr(s, '|')) != NULL)
	{
		*s++ = '\0';
		field[n++] = s;
	}
	return n;
}

/* MovieLens 1M's age bands */
static const char *
age_band(int age)
{
	static const int upto[] = {17, 24, 34, 44, 49, 55};
	static const char *name[] = {"age:-17", "age:18-24", "age:25-34", "age:35-44",
	"age:45-49", "age:50-55"};

	for (int k = 0; k < 6; k++)
		if (age <= upto[k])
			return name[k];
	return "age:56-";
}

/* Users: age band, gender, occupation */
static void
read_users(const char *dir, int32_t buckets, Tokens *t)
{
	FILE	   *f = open_in(dir, "u.user");
	char		line[1024],
				tok[256];
	char	   *field[5];

	t->nrows = 0;
	t->indptr = calloc(4096, sizeof(int64_t));
	t->ids = malloc(sizeof(int32_t) * 4096 * 3);
	while (fgets(line, sizeof(line), f))
	{
		int32_t		id;

		line[strcspn(line, "\r\n")] = '\0';
		if (split(line, field, 5) < 4 || (id = atoi(field[0])) <= 0 || id >= 4095)
			continue;
		start_row(t, id);
		add_token(t, buckets, age_band(atoi(field[1])));
		snprintf(tok, sizeof(tok), "gender:%s", field[2]);
		add_token(t, buckets, tok);
		snprintf(tok, sizeof(tok), "occupation:%s", field[3]);
		add_token(t, buckets, tok);
		t->nrows = id + 1;
	}
	fclose(f);
}

/* Items: genres, release year in 5-year buckets (before 1950 one bucket) */
static void
read_items(const char *dir, int32_t buckets, Tokens *t)
{
	FILE	   *f = open_in(dir, "u.item");
	char		line[4096],
				tok[64];
	char	   *field[24];

	t->nrows = 0;
	t->indptr = calloc(4096, sizeof(int64_t));
	t->ids = malloc(sizeof(int32_t) * 4096 * MAX_TOKENS);
	while (fgets(line, sizeof(line), f))
	{
		int32_t		id;
		int			nf;
		const char *date;

		line[strcspn(line, "\r\n")] = '\0';
		nf = split(line, field, 24);
		if (nf < 24 || (id = atoi(field[0])) <= 0 || id >= 4095)
			continue;
		start_row(t, id);
		date = field[2];
		if (strlen(date) >= 4)
		{
			int			year = atoi(date + strlen(date) - 4);

			if (year < 1950)
				snprintf(tok, sizeof(tok), "year:-1949");
			else
				snprintf(tok, sizeof(tok), "year:%d", year / 5 * 5);
			add_token(t, buckets, tok);
		}
		for (int g = 0; g < 19; g++)
			if (field[5 + g][0] == '1')
			{
				snprintf(tok, sizeof(tok), "genre:%d", g);
				add_token(t, buckets, tok);
			}
		t->nrows = id + 1;
	}
	fclose(f);
}

/* key=value settings; hidden is comma-separated widths */
static void
parse(Settings *s, int argc, char **argv)
{
	for (int k = 0; k < argc; k++)
	{
		char	   *eq = strchr(argv[k], '=');
		const char *v;

		if (eq == NULL)
			continue;
		*eq = '\0';
		v = eq + 1;
		if (strcmp(argv[k], "dim") == 0)
			s->dim = atoi(v);
		else if (strcmp(argv[k], "hidden") == 0)
		{
			char	   *end = (char *) v;

			s->nhidden = 0;
			while (*end && s->nhidden < NN_MLP_MAX_LAYERS - 1)
			{
				s->hidden[s->nhidden++] = (int) strtol(end, &end, 10);
				if (*end == ',')
					end++;
			}
		}
		else if (strcmp(argv[k], "batch") == 0)
			s->batch = atoi(v);
		else if (strcmp(argv[k], "lr") == 0)
			s->lr = atof(v);
		else if (strcmp(argv[k], "wd") == 0)
			s->wd = atof(v);
		else if (strcmp(argv[k], "l2") == 0)
			s->l2 = (float) atof(v);
		else if (strcmp(argv[k], "l2_id") == 0)
			s->l2_id = (float) atof(v);
		else if (strcmp(argv[k], "l2_bias") == 0)
			s->l2_bias = (float) atof(v);
		else if (strcmp(argv[k], "l2_layers") == 0)
			s->l2_layers = (float) atof(v);
		else if (strcmp(argv[k], "dropout") == 0)
			s->dropout = (float) atof(v);
		else if (strcmp(argv[k], "epochs") == 0)
			s->epochs = atoi(v);
		else if (strcmp(argv[k], "unknown") == 0)
			s->unknown = (float) atof(v);
		else if (strcmp(argv[k], "std") == 0)
			s->std = (float) atof(v);
		else if (strcmp(argv[k], "seed") == 0)
			s->seed = strtoull(v, NULL, 10);
		else if (strcmp(argv[k], "buckets") == 0)
			s->buckets = atoi(v);
		else if (strcmp(argv[k], "decay") == 0)
			s->decay = atof(v);
		else if (strcmp(argv[k], "feature_dot") == 0)
			s->feature_dot = atoi(v);
		else
		{
			fprintf(stderr, "unknown setting %s\n", argv[k]);
			exit(2);
		}
	}
}

int
main(int argc, char **argv)
{
	Settings	s = {64, 2, {128, 64}, 256, 1e-3, 0.0, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 10, 0.0f,
	0.1f, 1, 1024, 1.0, 0};
	char		name[64];
	Ratings		train,
				test;
	Tokens		ut,
				it;
	RnFeatures	uf,
				itf;
	RnShape		shape;
	RnNet		net;
	RnTrain		t;
	NnOptim		o;
	NnArena		a = {NULL, 0, 0};
	NnRng		r;
	int32_t    *order,
			   *bu,
			   *bi;
	float	   *bt,
			   *pred;
	double		mean = 0.0;

	if (argc < 3)
	{
		fprintf(stderr, "usage: %s DATADIR FOLD [key=value ...]\n", argv[0]);
		return 2;
	}
	parse(&s, argc - 3, argv + 3);
	r.state = s.seed;
	snprintf(name, sizeof(name), "u%s.base", argv[2]);
	read_ratings(argv[1], name, &train);
	snprintf(name, sizeof(name), "u%s.test", argv[2]);
	read_ratings(argv[1], name, &test);
	read_users(argv[1], s.buckets, &ut);
	read_items(argv[1], s.buckets, &it);
	uf = (RnFeatures) {ut.nrows, ut.indptr, ut.ids};
	itf = (RnFeatures) {it.nrows, it.indptr, it.ids};

	memset(&shape, 0, sizeof(shape));
	shape.n_users = ut.nrows;
	shape.n_items = it.nrows;
	shape.user_buckets = s.buckets;
	shape.item_buckets = s.buckets;
	shape.dim = s.dim;
	shape.nhidden = s.nhidden;
	memcpy(shape.hidden, s.hidden, sizeof(s.hidden));
	shape.act = NN_RELU;
	shape.feature_dot = s.feature_dot != 0;

	nn_optim_init(&o, NN_ADAM, s.lr);
	o.weight_decay = s.wd;
	rn_bind(&net, &shape, s.batch, nn_optim_state(&o), &a);
	a = (NnArena) {aligned_alloc(64, (a.used * sizeof(float) + 63) / 64 * 64), a.used, 0};
	rn_bind(&net, &shape, s.batch, nn_optim_state(&o), &a);
	rn_clear(&net);
	for (int k = 0; k < train.n; k++)
		mean += train.rating[k];
	mean /= train.n;
	rn_init(&net, (float) mean, s.std, &r);
	memset(&t, 0, sizeof(t));
	t.loss = RN_MSE;
	t.dropout = s.dropout;
	t.unknown_rate = s.unknown;
	t.l2 = s.l2;
	t.l2_id = s.l2_id;
	t.l2_bias = s.l2_bias;
	t.l2_layers = s.l2_layers;
	t.seed = s.seed;

	printf("fold u%s: %d train, %d test ratings, %d users, %d items; dim %d hidden",
		   argv[2], train.n, test.n, ut.nrows - 1, it.nrows - 1, s.dim);
	for (int l = 0; l < s.nhidden; l++)
		printf("%s%d", l ? "," : " ", s.hidden[l]);
	printf(" batch %d lr %g wd %g l2 %g l2_id %g l2_bias %g l2_layers %g dropout %g unknown %g std %g decay %g buckets %d feature_dot %d\n",
		   s.batch, s.lr, s.wd, s.l2, s.l2_id, s.l2_bias, s.l2_layers, s.dropout, s.unknown, s.std, s.decay, s.buckets,
		   s.feature_dot);

	order = malloc(sizeof(int32_t) * train.n);
	bu = malloc(sizeof(int32_t) * s.batch);
	bi = malloc(sizeof(int32_t) * s.batch);
	bt = malloc(sizeof(float) * s.batch);
	pred = malloc(sizeof(float) * test.n);
	for (int k = 0; k < train.n; k++)
		order[k] = k;
	for (int epoch = 0; epoch < s.epochs; epoch++)
	{
		double		t0 = now(),
					loss = 0.0,
					seconds,
					se = 0.0;
		int64_t		step = 0;

		for (int k = train.n - 1; k > 0; k--)
		{
			int			j = (int) nn_below(nn_rng_next(&r), (uint32_t) k + 1);
			int32_t		x = order[k];

			order[k] = order[j];
			order[j] = x;
		}
		for (int start = 0; start < train.n; start += s.batch)
		{
			int			n = train.n - start < s.batch ? train.n - start : s.batch;

			for (int k = 0; k < n; k++)
			{
				bu[k] = train.user[order[start + k]];
				bi[k] = train.item[order[start + k]];
				bt[k] = train.rating[order[start + k]];
			}
			loss += n * rn_step(&net, &t, &o, n, bu, bi, bt, &uf, &itf,
								(uint64_t) epoch * 1000000 + step++);
		}
		seconds = now() - t0;
		o.lr *= s.decay;

		rn_predict(&net, test.n, test.user, test.item, &uf, &itf, pred);
		for (int k = 0; k < test.n; k++)
		{
			float		y = pred[k] < 1.0f ? 1.0f : pred[k] > 5.0f ? 5.0f : pred[k];

			se += (y - test.rating[k]) * (y - test.rating[k]);
		}
		printf("epoch %d loss %.4f rmse %.4f seconds %.3f\n", epoch + 1,
			   loss / train.n, sqrt(se / test.n), seconds);
		fflush(stdout);
	}
	return 0;
}
