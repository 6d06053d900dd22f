/*
 * recnet.c - the 'mlp' family's network: training step, prediction, the
 * serving split and the online fold-in of one user (see recnet.h)
 *
 * A batch of rows is laid out as [p_u, f_u, q_i, f_i] side by side (4 dim
 * floats a row), so the first layer is one GEMM over the whole input and
 * its backward pass one GEMM back; the dot product and the biases are
 * added beside the mlp's output.  Implicit batches hold the n positives
 * first and their k negatives after (row n + i k + j belongs to positive
 * i), which is the layout nn_loss_bpr wants and costs BCE nothing.
 */
#include "recnet.h"

#include <math.h>
#include <string.h>

#include <cblas.h>
#undef I						/* complex.h, pulled in by cblas.h */

/*
 * Streams of one step: negatives, unknown-id draws and one dropout mask
 * per layer each get their own, so changing one never shifts another.
 */
#define RN_STREAMS 16
#define RN_STREAM_NEG 0
#define RN_STREAM_UNKNOWN 1
#define RN_STREAM_DROPOUT 2		/* + layer */

static inline uint64_t
substream(uint64_t stream, int purpose)
{
	return stream * RN_STREAMS + (uint64_t) purpose;
}

/* Entity row's feature tokens; 0 for a row past the table or no table */
static inline int
tokens(const RnFeatures *f, int32_t row, const int32_t **ids)
{
	if (f == NULL || row < 0 || row >= f->nrows)
		return 0;
	*ids = f->ids + f->indptr[row];
	return (int) (f->indptr[row + 1] - f->indptr[row]);
}

static inline float
dot(const float *x, const float *y, int n)
{
	float		s = 0.0f;

	for (int i = 0; i < n; i++)
		s += x[i] * y[i];
	return s;
}

/*
 * The dot product of two side vectors [id, features] (2 dim each): the id
 * halves, or with feature_dot the sums of the halves
 */
static inline float
side_dot(const float *a, const float *b, int dim, bool feature_dot)
{
	float		s = 0.0f;

	if (!feature_dot)
		return dot(a, b, dim);
	for (int i = 0; i < dim; i++)
		s += (a[i] + a[dim + i]) * (b[i] + b[dim + i]);
	return s;
}

/*
 * g += w times what side_dot(self, other) changes by per unit of self's id
 * half: other's id half, or with feature_dot the sum of its halves
 */
static inline void
side_dot_grad(float w, const float *other, int dim, bool feature_dot, float *g)
{
	cblas_saxpy(dim, w, other, 1, g, 1);
	if (feature_dot)
		cblas_saxpy(dim, w, other + dim, 1, g, 1);
}

/* Width of the mlp's widest hidden layer */
static int
widest_hidden(const NnMlp *m)
{
	int			w = 1;

	for (int l = 0; l + 1 < m->nlayers; l++)
		if (m->layer[l].out > w)
			w = m->layer[l].out;
	return w;
}

/* int32 scratch from the float arena (same size, never aliased as float) */
static int32_t *
take_ints(NnArena *a, size_t n)
{
	return (int32_t *) nn_take(a, n);
}

/* An embedding with its index arrays (and zeroed Adam step counts) from a */
static void
bind_table(NnEmbedding *e, int32_t rows, int dim, int32_t cap, int nstate,
		   NnArena *a)
{
	nn_embedding_bind(e, rows, dim, cap, nstate, a);
	e->slot = take_ints(a, rows);
	e->touched = take_ints(a, cap);
	/* pieces are 64-byte aligned: two floats hold an int64 */
	e->steps = nstate >= 2 ? (int64_t *) nn_take(a, 2 * (size_t) rows) : NULL;
	if (e->steps)
		memset(e->steps, 0, sizeof(int64_t) * rows);
}

void
rn_bind(RnNet *net, const RnShape *shape, int batch_cap, int nstate,
		NnArena *a)
{
	int			dim = shape->dim;
	int			width = 4 * dim;
	int			sizes[NN_MLP_MAX_LAYERS + 1];
	int32_t		ucap = shape->n_users < batch_cap ? shape->n_users : batch_cap;
	int32_t		icap = shape->n_items < batch_cap ? shape->n_items : batch_cap;

	net->shape = *shape;
	net->mean = 0.0f;
	net->batch_cap = batch_cap;
	/* a batch touches at most batch_cap id rows; any bucket may be touched */
	bind_table(&net->user, shape->n_users, dim, ucap, nstate, a);
	bind_table(&net->item, shape->n_items, dim, icap, nstate, a);
	bind_table(&net->user_bias, shape->n_users, 1, ucap, nstate, a);
	bind_table(&net->item_bias, shape->n_items, 1, icap, nstate, a);
	bind_table(&net->user_feat, shape->user_buckets, dim, shape->user_buckets,
			   nstate, a);
	bind_table(&net->item_feat, shape->item_buckets, dim, shape->item_buckets,
			   nstate, a);

	sizes[0] = width;
	for (int l = 0; l < shape->nhidden; l++)
		sizes[l + 1] = shape->hidden[l];
	sizes[shape->nhidden + 1] = 1;
	nn_mlp_bind(&net->mlp, shape->nhidden + 1, sizes, shape->act, NN_IDENTITY,
				batch_cap, nstate, a);

	net->X = nn_take(a, (size_t) batch_cap * width);
	net->dX = nn_take(a, (size_t) batch_cap * width);
	net->out = nn_take(a, batch_cap);
	net->dout = nn_take(a, batch_cap);
	net->target = nn_take(a, batch_cap);
	for (int l = 0; l < NN_MLP_MAX_LAYERS; l++)
	{
		size_t		n = l < shape->nhidden ? (size_t) batch_cap * shape->hidden[l] : 0;

		net->mask[l] = n ? nn_take(a, n) : NULL;
		net->drop[l] = n ? nn_take(a, n) : NULL;
	}
	net->users = take_ints(a, batch_cap);
	net->items = take_ints(a, batch_cap);
	net->user_ids = take_ints(a, batch_cap);
	net->item_ids = take_ints(a, batch_cap);
}

void
rn_clear(RnNet *net)
{
	nn_embedding_clear(&net->user);
	nn_embedding_clear(&net->item);
	nn_embedding_clear(&net->user_bias);
	nn_embedding_clear(&net->item_bias);
	nn_embedding_clear(&net->user_feat);
	nn_embedding_clear(&net->item_feat);
}

void
rn_init(RnNet *net, float mean, float init_std, NnRng *r)
{
	const RnShape *s = &net->shape;

	net->mean = mean;
	nn_init_normal(net->user.table, (size_t) s->n_users * s->dim, init_std, r);
	nn_init_normal(net->item.table, (size_t) s->n_items * s->dim, init_std, r);
	nn_init_normal(net->user_feat.table, (size_t) s->user_buckets * s->dim, init_std, r);
	nn_init_normal(net->item_feat.table, (size_t) s->item_buckets * s->dim, init_std, r);
	memset(net->user_bias.table, 0, sizeof(float) * s->n_users);
	memset(net->item_bias.table, 0, sizeof(float) * s->n_items);
	nn_mlp_init(&net->mlp, r);
}

void
rn_feature_bag(const float *table, int dim, const int32_t *ids, int n, float *f)
{
	memset(f, 0, sizeof(float) * dim);
	for (int j = 0; j < n; j++)
	{
		const float *row = table + (size_t) ids[j] * dim;

		for (int d = 0; d < dim; d++)
			f[d] += row[d];
	}
	if (n > 1)
	{
		float		inv = 1.0f / (float) n;

		for (int d = 0; d < dim; d++)
			f[d] *= inv;
	}
}

void
rn_side_vector(const RnNet *net, bool user, int32_t row,
			   const RnFeatures *feats, float *side)
{
	int			dim = net->shape.dim;
	const NnEmbedding *id = user ? &net->user : &net->item;
	const NnEmbedding *ft = user ? &net->user_feat : &net->item_feat;
	const int32_t *ids = NULL;
	int			n = tokens(feats, row, &ids);

	memcpy(side, id->table + (size_t) row * dim, sizeof(float) * dim);
	rn_feature_bag(ft->table, dim, ids, n, side + dim);
}

/*
 * Inputs of rows examples: id rows user_ids/item_ids (row 0 for an
 * unknown), feature rows users/items (the entity's own, even when its id
 * was replaced).
 */
static void
fill_inputs(RnNet *net, int rows, const int32_t *user_ids,
			const int32_t *users, const int32_t *item_ids,
			const int32_t *items, const RnFeatures *uf, const RnFeatures *itf)
{
	int			dim = net->shape.dim;
	int			width = 4 * dim;

	nn_embedding_forward(&net->user, rows, NULL, user_ids, NULL, net->X, width);
	nn_embedding_forward(&net->item, rows, NULL, item_ids, NULL,
						 net->X + 2 * dim, width);
	for (int r = 0; r < rows; r++)
	{
		float	   *x = net->X + (size_t) r * width;
		const int32_t *ids = NULL;
		int			n;

		n = tokens(uf, users[r], &ids);
		rn_feature_bag(net->user_feat.table, dim, ids, n, x + dim);
		n = tokens(itf, items[r], &ids);
		rn_feature_bag(net->item_feat.table, dim, ids, n, x + 3 * dim);
	}
}

/*
 * The mlp over net->X.  With dropout p > 0, each hidden activation A is
 * kept for the backward pass and the next layer reads drop = A * mask.
 */
static const float *
mlp_forward(RnNet *net, int rows, float p, uint64_t seed, uint64_t stream)
{
	NnMlp	   *m = &net->mlp;
	const float *in = net->X;
	int			ld = 4 * net->shape.dim;

	for (int l = 0; l < m->nlayers; l++)
	{
		NnDense    *d = &m->layer[l];
		bool		hidden = l + 1 < m->nlayers;
		size_t		n = (size_t) rows * d->out;

		nn_dense_forward(d, rows, in, ld, m->Z[l]);
		nn_act_forward(hidden ? m->act : m->out_act, n, m->Z[l], m->A[l]);
		in = m->A[l];
		if (hidden && p > 0.0f)
		{
			float	   *mask = net->mask[l];
			float	   *drop = net->drop[l];

			nn_dropout_mask(mask, n, p, seed,
							substream(stream, RN_STREAM_DROPOUT + l), 0);
			for (size_t i = 0; i < n; i++)
				drop[i] = m->A[l][i] * mask[i];
			in = drop;
		}
		ld = d->out;
	}
	return in;
}

/* Layer gradients from net->dout; net->dX gets the input's gradient */
static void
mlp_backward(RnNet *net, int rows, bool dropped)
{
	NnMlp	   *m = &net->mlp;
	float	   *dz = net->dout;

	for (int l = m->nlayers - 1; l >= 0; l--)
	{
		NnDense    *d = &m->layer[l];
		bool		hidden = l + 1 < m->nlayers;
		const float *in = l == 0 ? net->X : dropped ? net->drop[l - 1] : m->A[l - 1];
		int			ld = l == 0 ? 4 * net->shape.dim : d->in;
		float	   *din = l == 0 ? net->dX : m->dA[l % 2];

		nn_act_backward(hidden ? m->act : m->out_act, (size_t) rows * d->out,
						m->Z[l], m->A[l], dz);
		nn_dense_backward(d, rows, in, ld, dz, din, ld);
		/* through the mask of the layer below: d A = d drop * mask */
		if (l > 0 && dropped)
			nn_dropout_apply((size_t) rows * d->in, net->mask[l - 1], din);
		dz = din;
	}
}

/* y = mean + b_u + b_i + the dot product + mlp for the rows in net->X */
static void
add_linear(RnNet *net, int rows, const float *mlp_out)
{
	int			dim = net->shape.dim;
	int			width = 4 * dim;

	for (int r = 0; r < rows; r++)
	{
		const float *x = net->X + (size_t) r * width;

		net->out[r] = net->mean + net->user_bias.table[net->user_ids[r]] +
			net->item_bias.table[net->item_ids[r]] +
			side_dot(x, x + 2 * dim, dim, net->shape.feature_dot) + mlp_out[r];
	}
}

/* Mean bag gradients: each token's row gets the bag's gradient / n */
static void
bag_backward(NnEmbedding *e, int rows, const int32_t *ent,
			 const RnFeatures *f, float *dX, int width)
{
	for (int r = 0; r < rows; r++)
	{
		const int32_t *ids = NULL;
		int			n = tokens(f, ent[r], &ids);
		int32_t		offsets[2] = {0, n};
		float	   *d = dX + (size_t) r * width;

		if (n == 0)
			continue;
		if (n > 1)
			cblas_sscal(e->dim, 1.0f / (float) n, d, 1);
		/* cap is every bucket: cannot overflow */
		nn_embedding_backward(e, 1, offsets, ids, NULL, d, e->dim);
	}
}

/*
 * Per-example L2 on an id or bias table: each of the rows examples adds
 * coef |w|^2 / rows to the loss, so its row's gradient gets 2 coef w / rows
 * (the row is touched: the example's loss gradient put it there).
 */
static void
example_l2(NnEmbedding *e, int rows, const int32_t *ids, float coef)
{
	float		c = 2.0f * coef / (float) rows;

	for (int r = 0; r < rows; r++)
		cblas_saxpy(e->dim, c, e->table + (size_t) ids[r] * e->dim, 1,
					e->grad + (size_t) e->slot[ids[r]] * e->dim, 1);
}

/* L2 on the rows a batch touched: grad += l2 w, then the lazy step */
static void
step_rows(const NnOptim *o, NnEmbedding *e, float l2)
{
	if (l2 != 0.0f)
		for (int32_t k = 0; k < e->ntouched; k++)
			cblas_saxpy(e->dim, l2, e->table + (size_t) e->touched[k] * e->dim, 1,
						e->grad + (size_t) k * e->dim, 1);
	nn_optim_rows(o, e);
}

double
rn_step(RnNet *net, const RnTrain *t, NnOptim *o, int n,
		const int32_t *users, const int32_t *items, const float *targets,
		const RnFeatures *uf, const RnFeatures *itf, uint64_t stream)
{
	const RnShape *s = &net->shape;
	int			dim = s->dim;
	int			width = 4 * dim;
	int			k = t->loss == RN_MSE ? 0 : t->negatives;
	int			rows = n * (1 + k);
	NnTensor   *params[2 * NN_MLP_MAX_LAYERS];
	int			np = nn_mlp_params(&net->mlp, params);
	bool		dropped = t->dropout > 0.0f;
	bool		fd = s->feature_dot;
	const float *mlp_out;
	double		loss;

	if (n <= 0 || rows > net->batch_cap || (k > 0 && s->n_items < 2))
		return NAN;

	for (int p = 0; p < np; p++)
		nn_tensor_zero_grad(params[p]);
	nn_embedding_zero_grad(&net->user);
	nn_embedding_zero_grad(&net->item);
	nn_embedding_zero_grad(&net->user_bias);
	nn_embedding_zero_grad(&net->item_bias);
	nn_embedding_zero_grad(&net->user_feat);
	nn_embedding_zero_grad(&net->item_feat);

	/* entity rows: positives, then negatives over item rows 1 .. n_items - 1 */
	memcpy(net->users, users, sizeof(int32_t) * n);
	memcpy(net->items, items, sizeof(int32_t) * n);
	if (k > 0)
	{
		int32_t    *shifted = net->item_ids;	/* free until the id rows below */

		for (int i = 0; i < n; i++)
			shifted[i] = items[i] - 1;
		nn_sample_negatives(n, k, shifted, s->n_items - 1, t->seed,
							substream(stream, RN_STREAM_NEG), 0, net->items + n);
		for (int i = 0; i < n; i++)
			for (int j = 0; j < k; j++)
			{
				net->users[n + i * k + j] = users[i];
				net->items[n + i * k + j]++;
			}
	}

	/* id rows: the user per positive (its negatives share it), items per row */
	for (int r = 0; r < rows; r++)
	{
		int			i = r < n ? r : (r - n) / k;
		uint64_t	us = substream(stream, RN_STREAM_UNKNOWN);

		net->user_ids[r] = net->users[r];
		net->item_ids[r] = net->items[r];
		if (t->unknown_rate > 0.0f)
		{
			if (nn_unit_float(nn_rand_at(t->seed, us, 2 * (uint64_t) i)) < t->unknown_rate)
				net->user_ids[r] = 0;
			if (nn_unit_float(nn_rand_at(t->seed, us, 2 * (uint64_t) r + 1)) < t->unknown_rate)
				net->item_ids[r] = 0;
		}
	}

	fill_inputs(net, rows, net->user_ids, net->users, net->item_ids, net->items,
				uf, itf);
	mlp_out = mlp_forward(net, rows, t->dropout, t->seed, stream);
	add_linear(net, rows, mlp_out);

	switch (t->loss)
	{
		case RN_MSE:
			loss = nn_loss_mse(n, net->out, targets, net->dout);
			break;
		case RN_BCE:
			for (int r = 0; r < rows; r++)
				net->target[r] = r < n ? 1.0f : 0.0f;
			loss = nn_loss_bce_logits(rows, net->out, net->target, NULL, net->dout);
			break;
		default:
			loss = nn_loss_bpr(n, k, net->out, net->out + n, net->dout,
							   net->dout + n);
			break;
	}

	/* y is linear in the mlp's output: its gradient is dout as it is */
	mlp_backward(net, rows, dropped);
	for (int r = 0; r < rows; r++)
	{
		const float *x = net->X + (size_t) r * width;
		float	   *dx = net->dX + (size_t) r * width;

		/* with feature_dot the feature halves enter it as the id halves do */
		for (int half = 0; half < (fd ? 2 : 1); half++)
		{
			side_dot_grad(net->dout[r], x + 2 * dim, dim, fd, dx + half * dim);
			side_dot_grad(net->dout[r], x, dim, fd, dx + 2 * dim + half * dim);
		}
	}
	nn_embedding_backward(&net->user, rows, NULL, net->user_ids, NULL, net->dX, width);
	nn_embedding_backward(&net->item, rows, NULL, net->item_ids, NULL,
						  net->dX + 2 * dim, width);
	nn_embedding_backward(&net->user_bias, rows, NULL, net->user_ids, NULL, net->dout, 1);
	nn_embedding_backward(&net->item_bias, rows, NULL, net->item_ids, NULL, net->dout, 1);
	bag_backward(&net->user_feat, rows, net->users, uf, net->dX + dim, width);
	bag_backward(&net->item_feat, rows, net->items, itf, net->dX + 3 * dim, width);
	if (t->l2_id > 0.0f)
	{
		example_l2(&net->user, rows, net->user_ids, t->l2_id);
		example_l2(&net->item, rows, net->item_ids, t->l2_id);
	}
	if (t->l2_bias > 0.0f)
	{
		example_l2(&net->user_bias, rows, net->user_ids, t->l2_bias);
		example_l2(&net->item_bias, rows, net->item_ids, t->l2_bias);
	}
	if (t->l2_layers > 0.0f)
		for (int p = 0; p < np; p++)
			cblas_saxpy((int) params[p]->n, t->l2_layers, params[p]->w, 1,
						params[p]->g, 1);

	nn_optim_begin(o);
	for (int p = 0; p < np; p++)
		nn_optim_dense(o, params[p]);
	step_rows(o, &net->user, t->l2_id > 0.0f ? 0.0f : t->l2);
	step_rows(o, &net->item, t->l2_id > 0.0f ? 0.0f : t->l2);
	step_rows(o, &net->user_bias, t->l2_bias > 0.0f ? 0.0f : t->l2);
	step_rows(o, &net->item_bias, t->l2_bias > 0.0f ? 0.0f : t->l2);
	step_rows(o, &net->user_feat, t->l2);
	step_rows(o, &net->item_feat, t->l2);
	return loss;
}

void
rn_predict(RnNet *net, int n, const int32_t *users, const int32_t *items,
		   const RnFeatures *uf, const RnFeatures *itf, float *y)
{
	for (int start = 0; start < n; start += net->batch_cap)
	{
		int			rows = n - start < net->batch_cap ? n - start : net->batch_cap;

		memcpy(net->user_ids, users + start, sizeof(int32_t) * rows);
		memcpy(net->item_ids, items + start, sizeof(int32_t) * rows);
		fill_inputs(net, rows, users + start, users + start, items + start,
					items + start, uf, itf);
		add_linear(net, rows, mlp_forward(net, rows, 0.0f, 0, 0));
		memcpy(y + start, net->out, sizeof(float) * rows);
	}
}

/* ---------------------------------------------------------------- serving */

void
rn_item_side(const NnMlp *layers, int dim, int n, const float *sides, float *P)
{
	const NnDense *d = &layers->layer[0];

	/* the item block is columns 2 dim .. 4 dim of the first layer */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, d->out, 2 * dim,
				1.0f, sides, 2 * dim, d->W.w + 2 * dim, d->in, 0.0f, P, d->out);
}

void
rn_user_side(const NnMlp *layers, int dim, const float *side, float *h)
{
	const NnDense *d = &layers->layer[0];

	memcpy(h, d->b.w, sizeof(float) * d->out);
	cblas_sgemv(CblasRowMajor, CblasNoTrans, d->out, 2 * dim, 1.0f, d->W.w,
				d->in, side, 1, 1.0f, h, 1);
}

size_t
rn_score_floats(const NnMlp *layers, int dim)
{
	return (size_t) 2 * RN_SCORE_CHUNK * widest_hidden(layers) + dim;
}

/*
 * Layers 1.. over rows first-layer pre-activations Z0 (rows x hidden[0],
 * activated in place); returns the rows outputs, in buf0 or buf1.
 */
static const float *
serve_layers(const NnMlp *m, int rows, float *Z0, float *buf1)
{
	float	   *in = Z0;
	float	   *other = buf1;

	nn_act_forward(m->nlayers > 1 ? m->act : m->out_act,
				   (size_t) rows * m->layer[0].out, in, in);
	for (int l = 1; l < m->nlayers; l++)
	{
		const NnDense *d = &m->layer[l];
		float	   *swap;

		nn_dense_forward(d, rows, in, d->in, other);
		nn_act_forward(l + 1 < m->nlayers ? m->act : m->out_act,
					   (size_t) rows * d->out, other, other);
		swap = in;
		in = other;
		other = swap;
	}
	return in;
}

void
rn_score(const NnMlp *layers, const RnShape *shape, float mean,
		 const float *user_side, float user_bias, const float *h, int n,
		 const float *item_sides, const float *item_bias, const float *P,
		 float *y, float *scratch)
{
	int			dim = shape->dim;
	int			h0 = layers->layer[0].out;
	float	   *buf0 = scratch;
	float	   *buf1 = scratch + (size_t) RN_SCORE_CHUNK * widest_hidden(layers);
	float	   *u = buf1 + (size_t) RN_SCORE_CHUNK * widest_hidden(layers);

	/* the user's half of the dot product, summed once */
	memcpy(u, user_side, sizeof(float) * dim);
	if (shape->feature_dot)
		cblas_saxpy(dim, 1.0f, user_side + dim, 1, u, 1);

	for (int start = 0; start < n; start += RN_SCORE_CHUNK)
	{
		int			rows = n - start < RN_SCORE_CHUNK ? n - start : RN_SCORE_CHUNK;
		const float *out;

		for (int r = 0; r < rows; r++)
		{
			const float *p = P + (size_t) (start + r) * h0;
			float	   *z = buf0 + (size_t) r * h0;

			for (int j = 0; j < h0; j++)
				z[j] = p[j] + h[j];
		}
		out = serve_layers(layers, rows, buf0, buf1);
		for (int r = 0; r < rows; r++)
		{
			int			j = start + r;
			const float *side = item_sides + (size_t) j * 2 * dim;

			y[j] = mean + user_bias + item_bias[j] + dot(u, side, dim) +
				(shape->feature_dot ? dot(u, side + dim, dim) : 0.0f) + out[r];
		}
	}
}

/* ----------------------------------------------------------------- online */

/* Rows of a fold-in batch: the n interactions and their negatives */
static int
fold_rows(const RnTrain *t, int n)
{
	return n * (1 + (t->loss == RN_MSE ? 0 : t->negatives));
}

size_t
rn_fold_floats(const NnMlp *layers, int dim, int n, int negatives)
{
	size_t		rows = (size_t) n * (1 + negatives);
	size_t		total = 0;

	for (int l = 0; l < layers->nlayers; l++)
		total += 2 * rows * layers->layer[l].out;	/* Z and A */
	total += 2 * rows * widest_hidden(layers);	/* backward ping-pong */
	total += rows * 2 * dim;	/* gathered item sides */
	total += 4 * rows;			/* rows, y, dy, targets */
	total += layers->layer[0].out + dim;	/* user's first-layer part, dp */
	return total;
}

/*
 * The fold-in of one entity, either side: steps SGD steps on the id half of
 * self (its first dim floats) and its bias, against n of the other side's
 * rows (others, 2 dim wide, and their biases), with k negatives per row of
 * the other side for the implicit losses, everything else fixed.  block is
 * where self enters the first layer: 0 for a user, 2 dim for an item.
 */
static void
fold_side(const NnMlp *m, const RnShape *shape, float mean, const RnTrain *t, int steps,
		  float lr, int n, const int32_t *rows_in, const float *targets,
		  int32_t n_others, const float *others, const float *other_bias,
		  float *self, float *self_bias, int block, uint64_t stream,
		  float *scratch)
{
	const NnDense *d0 = &m->layer[0];
	int			dim = shape->dim;
	int			h0 = d0->out;
	int			k = t->loss == RN_MSE ? 0 : t->negatives;
	int			rows = fold_rows(t, n);
	int			wide = widest_hidden(m);
	int			other_block = block == 0 ? 2 * dim : 0;
	float	   *Z[NN_MLP_MAX_LAYERS];
	float	   *A[NN_MLP_MAX_LAYERS];
	float	   *dA[2];
	float	   *S,
			   *y,
			   *dy,
			   *target,
			   *u0,
			   *dp;
	int32_t    *row;
	float	   *at = scratch;

	/* the training's: per example (the mean over rows of l2 |w|^2) or per row */
	float		reg_id = t->l2_id > 0.0f ? 2.0f * t->l2_id : t->l2;
	float		reg_bias = t->l2_bias > 0.0f ? 2.0f * t->l2_bias : t->l2;

	if (n <= 0 || (k > 0 && n_others < 2))
		return;
	for (int l = 0; l < m->nlayers; l++)
	{
		Z[l] = at;
		at += (size_t) rows * m->layer[l].out;
		A[l] = at;
		at += (size_t) rows * m->layer[l].out;
	}
	dA[0] = at;
	at += (size_t) rows * wide;
	dA[1] = at;
	at += (size_t) rows * wide;
	S = at;
	at += (size_t) rows * 2 * dim;
	row = (int32_t *) at;
	at += rows;
	y = at;
	at += rows;
	dy = at;
	at += rows;
	target = at;
	at += rows;
	u0 = at;
	at += h0;
	dp = at;

	memcpy(row, rows_in, sizeof(int32_t) * n);
	for (int r = 0; r < rows; r++)
		target[r] = t->loss == RN_MSE ? targets[r] : r < n ? 1.0f : 0.0f;

	for (int s = 0; s < steps; s++)
	{
		float		db = 0.0f;
		float	   *dz = dy;

		/* fresh negatives each step, as training draws them */
		if (k > 0)
		{
			int32_t    *shifted = (int32_t *) dy;	/* free until the loss */

			for (int i = 0; i < n; i++)
				shifted[i] = rows_in[i] - 1;
			nn_sample_negatives(n, k, shifted, n_others - 1, t->seed,
								substream(stream, RN_STREAM_NEG),
								(int64_t) s * n, row + n);
			for (int r = n; r < rows; r++)
				row[r]++;
		}
		for (int r = 0; r < rows; r++)
			memcpy(S + (size_t) r * 2 * dim, others + (size_t) row[r] * 2 * dim,
				   sizeof(float) * 2 * dim);

		/* forward: the first layer as two products, self's once */
		cblas_sgemv(CblasRowMajor, CblasNoTrans, h0, 2 * dim, 1.0f, d0->W.w + block,
					d0->in, self, 1, 0.0f, u0, 1);
		cblas_saxpy(h0, 1.0f, d0->b.w, 1, u0, 1);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, h0, 2 * dim, 1.0f,
					S, 2 * dim, d0->W.w + other_block, d0->in, 0.0f, Z[0], h0);
		for (int r = 0; r < rows; r++)
			cblas_saxpy(h0, 1.0f, u0, 1, Z[0] + (size_t) r * h0, 1);
		for (int l = 0; l < m->nlayers; l++)
		{
			const NnDense *d = &m->layer[l];

			if (l > 0)
				nn_dense_forward(d, rows, A[l - 1], d->in, Z[l]);
			nn_act_forward(l + 1 < m->nlayers ? m->act : m->out_act,
						   (size_t) rows * d->out, Z[l], A[l]);
		}
		for (int r = 0; r < rows; r++)
			y[r] = mean + *self_bias + other_bias[row[r]] +
				side_dot(self, S + (size_t) r * 2 * dim, dim, shape->feature_dot) +
				A[m->nlayers - 1][r];

		switch (t->loss)
		{
			case RN_MSE:
				nn_loss_mse(rows, y, target, dy);
				break;
			case RN_BCE:
				nn_loss_bce_logits(rows, y, target, NULL, dy);
				break;
			default:
				nn_loss_bpr(n, k, y, y + n, dy, dy + n);
				break;
		}

		/* backward to the first layer's pre-activations only: weights are fixed */
		for (int l = m->nlayers - 1; l >= 0; l--)
		{
			const NnDense *d = &m->layer[l];

			nn_act_backward(l + 1 < m->nlayers ? m->act : m->out_act,
							(size_t) rows * d->out, Z[l], A[l], dz);
			if (l == 0)
				break;
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d->in,
						d->out, 1.0f, dz, d->out, d->W.w, d->in, 0.0f,
						dA[l % 2], d->in);
			dz = dA[l % 2];
		}

		/*
		 * self's id half enters every row through its dim columns of W0 and
		 * the dot product: dp = W0[:, block:block+dim]' sum_r dz0_r + sum_r
		 * dy_r (the other's id half, plus its feature half with feature_dot)_r.
		 */
		memset(u0, 0, sizeof(float) * h0);
		for (int r = 0; r < rows; r++)
		{
			cblas_saxpy(h0, 1.0f, dz + (size_t) r * h0, 1, u0, 1);
			db += dy[r];
		}
		cblas_sgemv(CblasRowMajor, CblasTrans, h0, dim, 1.0f, d0->W.w + block, d0->in,
					u0, 1, 0.0f, dp, 1);
		for (int r = 0; r < rows; r++)
			side_dot_grad(dy[r], S + (size_t) r * 2 * dim, dim, shape->feature_dot, dp);
		for (int j = 0; j < dim; j++)
			self[j] -= lr * (dp[j] + reg_id * self[j]);
		*self_bias -= lr * (db + reg_bias * *self_bias);
	}
}

void
rn_fold_user(const NnMlp *layers, const RnShape *shape, float mean, const RnTrain *t,
			 int steps, float lr, int n, const int32_t *items,
			 const float *targets, int32_t n_items, const float *item_sides,
			 const float *item_bias, float *user_side, float *user_bias,
			 uint64_t stream, float *scratch)
{
	fold_side(layers, shape, mean, t, steps, lr, n, items, targets, n_items,
			  item_sides, item_bias, user_side, user_bias, 0, stream, scratch);
}

void
rn_fold_item(const NnMlp *layers, const RnShape *shape, float mean, const RnTrain *t,
			 int steps, float lr, int n, const int32_t *users,
			 const float *targets, int32_t n_users, const float *user_sides,
			 const float *user_bias, float *item_side, float *item_bias,
			 uint64_t stream, float *scratch)
{
	fold_side(layers, shape, mean, t, steps, lr, n, users, targets, n_users,
			  user_sides, user_bias, item_side, item_bias, 2 * shape->dim, stream,
			  scratch);
}

int32_t
rn_hash(const char *token, size_t len, int32_t buckets)
{
	uint64_t	h = UINT64_C(0xcbf29ce484222325);	/* FNV-1a 64 offset basis */

	for (size_t i = 0; i < len; i++)
	{
		h ^= (unsigned char) token[i];
		h *= UINT64_C(0x100000001b3);	/* FNV 64 prime */
	}
	return (int32_t) (h % (uint64_t) buckets);
}
