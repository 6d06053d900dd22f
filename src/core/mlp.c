/*
 * mlp.c - a stack of dense layers with activations over a mini-batch
 * (see nn.h): one sgemm per layer forward, two backward
 */
#include "nn.h"

void
nn_mlp_bind(NnMlp *m, int nlayers, const int *sizes, NnAct act, NnAct out_act,
			int batch_cap, int nstate, NnArena *a)
{
	int			widest = sizes[0];

	m->nlayers = nlayers;
	m->batch_cap = batch_cap;
	m->act = act;
	m->out_act = out_act;
	for (int l = 0; l < nlayers; l++)
	{
		NnAct		f = l + 1 < nlayers ? act : out_act;
		size_t		n = (size_t) batch_cap * sizes[l + 1];

		nn_dense_bind(&m->layer[l], sizes[l], sizes[l + 1], nstate, a);
		m->Z[l] = nn_take(a, n);
		/* an identity activation's output is its input: no copy kept */
		m->A[l] = f == NN_IDENTITY ? m->Z[l] : nn_take(a, n);
		if (sizes[l + 1] > widest)
			widest = sizes[l + 1];
	}
	m->dA[0] = nn_take(a, (size_t) batch_cap * widest);
	m->dA[1] = nn_take(a, (size_t) batch_cap * widest);
}

void
nn_mlp_init(NnMlp *m, NnRng *r)
{
	for (int l = 0; l < m->nlayers; l++)
		nn_dense_init(&m->layer[l], r);
}

const float *
nn_mlp_forward(NnMlp *m, int batch, const float *X, int ldx)
{
	const float *in = X;
	int			ld = ldx;

	for (int l = 0; l < m->nlayers; l++)
	{
		NnDense    *d = &m->layer[l];
		NnAct		f = l + 1 < m->nlayers ? m->act : m->out_act;

		nn_dense_forward(d, batch, in, ld, m->Z[l]);
		nn_act_forward(f, (size_t) batch * d->out, m->Z[l], m->A[l]);
		in = m->A[l];
		ld = d->out;
	}
	return in;
}

void
nn_mlp_backward(NnMlp *m, int batch, const float *X, int ldx, float *dOut,
				float *dX, int lddx)
{
	float	   *dz = dOut;

	for (int l = m->nlayers - 1; l >= 0; l--)
	{
		NnDense    *d = &m->layer[l];
		NnAct		f = l + 1 < m->nlayers ? m->act : m->out_act;
		const float *in = l > 0 ? m->A[l - 1] : X;
		int			ld = l > 0 ? m->layer[l - 1].out : ldx;
		/* layer l's input gradient: ping-pong buffers, or dX for the first */
		float	   *din = l > 0 ? m->dA[l % 2] : dX;

		nn_act_backward(f, (size_t) batch * d->out, m->Z[l], m->A[l], dz);
		nn_dense_backward(d, batch, in, ld, dz, din, l > 0 ? d->in : lddx);
		dz = din;
	}
}

int
nn_mlp_params(NnMlp *m, NnTensor **params)
{
	for (int l = 0; l < m->nlayers; l++)
	{
		params[2 * l] = &m->layer[l].W;
		params[2 * l + 1] = &m->layer[l].b;
	}
	return 2 * m->nlayers;
}
