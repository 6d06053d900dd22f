/*
 * als.c - implicit-feedback ALS solvers (conjugate gradient and Cholesky)
 */
#include "als.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include <cblas.h>
#undef I						/* complex.h, pulled in by cblas.h */

/* LAPACK from OpenBLAS (Fortran calling convention) */
extern void spotrf_(const char *uplo, const int *n, float *a, const int *lda,
					int *info);
extern void spotrs_(const char *uplo, const int *n, const int *nrhs,
					const float *a, const int *lda, float *b, const int *ldb,
					int *info);

size_t
als_scratch_floats(int factors, int64_t max_row)
{
	size_t		f = (size_t) factors;

	/* r, p, Ap vectors and an f x f matrix, then per row two vectors and Y_u */
	return 3 * f + f * f + (size_t) max_row * (f + 2);
}

/* splitmix64: small, seedable, the same on every platform */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform draw in (0, 1) */
static double
next_uniform(uint64_t *state)
{
	return ((double) (next_random(state) >> 11) + 0.5) / 9007199254740992.0;
}

void
als_random_init(float *m, int64_t n, int f, float scale, uint64_t seed)
{
	uint64_t	state = seed;
	int64_t		total = n * f;

	/* Box-Muller, two normal draws per pair of uniforms */
	for (int64_t i = 0; i < total; i += 2)
	{
		double		r = sqrt(-2.0 * log(next_uniform(&state)));
		double		t = 2.0 * M_PI * next_uniform(&state);

		m[i] = (float) (scale * r * cos(t));
		if (i + 1 < total)
			m[i + 1] = (float) (scale * r * sin(t));
	}
}

void
als_gram(const float *Y, int64_t n, int f, float *G)
{
	cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, f, (int) n,
				1.0f, Y, f, 0.0f, G, f);
	for (int i = 0; i < f; i++)
		for (int j = 0; j < i; j++)
			G[i * f + j] = G[j * f + i];
}

/* Row-specific regularisation lambda_u */
static inline float
row_lambda(const AlsParams *p, int64_t len)
{
	if (p->reg_exponent == 0.0f)
		return p->regularization;
	return p->regularization * powf((float) (1 + len), p->reg_exponent);
}

/* Copy the rows of Y a user touched into a dense block, one per entry */
static void
gather_rows(const RecoCsr *R, int32_t u, const float *Y, int f, float *Yu)
{
	for (int64_t i = R->indptr[u]; i < R->indptr[u + 1]; i++)
		memcpy(Yu + (i - R->indptr[u]) * f, Y + (int64_t) R->indices[i] * f,
			   sizeof(float) * f);
}

/*
 * Ap = (G + lambda I) v + Y_u' diag(c - 1) Y_u v: the system matrix applied
 * to v without forming it.
 */
static void
apply_system(const float *G, const float *Yu, const float *cm1, int64_t len,
			 int f, float lambda, const float *v, float *t, float *out)
{
	/* G holds both triangles; gemv is faster than symv in OpenBLAS */
	cblas_sgemv(CblasRowMajor, CblasNoTrans, f, f, 1.0f, G, f, v, 1, 0.0f, out, 1);
	cblas_saxpy(f, lambda, v, 1, out, 1);
	if (len == 0)
		return;
	cblas_sgemv(CblasRowMajor, CblasNoTrans, (int) len, f, 1.0f, Yu, f,
				v, 1, 0.0f, t, 1);
	for (int64_t i = 0; i < len; i++)
		t[i] *= cm1[i];
	cblas_sgemv(CblasRowMajor, CblasTrans, (int) len, f, 1.0f, Yu, f,
				t, 1, 1.0f, out, 1);
}

/* A few conjugate-gradient steps from the current x (warm start) */
static void
solve_cg(const float *G, const float *Yu, const float *cm1, int64_t len,
		 int f, float lambda, int steps, float *x, float *t,
		 float *r, float *pv, float *Ap)
{
	float		rsold;

	/* r = b - A x, with b = Y_u' c = Y_u' (cm1 + 1) */
	apply_system(G, Yu, cm1, len, f, lambda, x, t, Ap);
	for (int64_t i = 0; i < len; i++)
		t[i] = cm1[i] + 1.0f;
	memset(r, 0, sizeof(float) * f);
	if (len > 0)
		cblas_sgemv(CblasRowMajor, CblasTrans, (int) len, f, 1.0f, Yu, f,
					t, 1, 0.0f, r, 1);
	cblas_saxpy(f, -1.0f, Ap, 1, r, 1);

	memcpy(pv, r, sizeof(float) * f);
	rsold = cblas_sdot(f, r, 1, r, 1);
	for (int s = 0; s < steps; s++)
	{
		float		pAp;
		float		a;
		float		rsnew;

		if (rsold < 1e-20f)
			break;
		apply_system(G, Yu, cm1, len, f, lambda, pv, t, Ap);
		pAp = cblas_sdot(f, pv, 1, Ap, 1);
		if (!(pAp > 0.0f))
			break;
		a = rsold / pAp;
		cblas_saxpy(f, a, pv, 1, x, 1);
		cblas_saxpy(f, -a, Ap, 1, r, 1);
		rsnew = cblas_sdot(f, r, 1, r, 1);
		for (int j = 0; j < f; j++)
			pv[j] = r[j] + (rsnew / rsold) * pv[j];
		rsold = rsnew;
	}
}

/*
 * Form the system matrix A = G + lambda I + Y_u' diag(c - 1) Y_u and factor
 * it in place (Cholesky, lower in column-major terms); false if not SPD.
 * The gathered rows Yu are scaled by sqrt(c - 1) on the way.
 */
static bool
factor_system(const float *G, float *Yu, const float *cm1, int64_t len,
			  int f, float lambda, float *A)
{
	int			n = f;
	int			info;

	memcpy(A, G, sizeof(float) * f * f);
	for (int j = 0; j < f; j++)
		A[j * f + j] += lambda;
	if (len > 0)
	{
		for (int64_t i = 0; i < len; i++)
			cblas_sscal(f, sqrtf(cm1[i]), Yu + i * f, 1);
		cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, f, (int) len,
					1.0f, Yu, f, 1.0f, A, f);
	}
	/* row-major upper is column-major lower */
	spotrf_("L", &n, A, &n, &info);
	return info == 0;
}

/* Solve A z = b in place in z, A as factor_system left it */
static bool
solve_factored(const float *A, int f, float *z)
{
	int			n = f;
	int			one = 1;
	int			info;

	spotrs_("L", &n, &one, A, &n, z, &n, &info);
	return info == 0;
}

/*
 * Exact solve: form the f x f system and factor it; false if not SPD.  A
 * prior (may be NULL) adds lambda * prior to the right-hand side.
 */
static bool
solve_cholesky(const float *G, float *Yu, const float *cm1, int64_t len,
			   int f, float lambda, const float *prior, float *x, float *t,
			   float *A)
{
	memset(x, 0, sizeof(float) * f);
	if (prior != NULL)
		cblas_saxpy(f, lambda, prior, 1, x, 1);
	if (len > 0)
	{
		for (int64_t i = 0; i < len; i++)
			t[i] = cm1[i] + 1.0f;
		cblas_sgemv(CblasRowMajor, CblasTrans, (int) len, f, 1.0f, Yu, f,
					t, 1, 1.0f, x, 1);
	}
	return factor_system(G, Yu, cm1, len, f, lambda, A) &&
		solve_factored(A, f, x);
}

int64_t
als_solve_rows(const RecoCsr *R, int32_t begin, int32_t end,
			   float *X, const float *Y, const float *G,
			   const AlsParams *p, float *scratch)
{
	int			f = p->factors;
	float	   *r = scratch;
	float	   *pv = r + f;
	float	   *Ap = pv + f;
	float	   *A = Ap + f;
	float	   *t = A + f * f;

	for (int32_t u = begin; u < end; u++)
	{
		int64_t		len = R->indptr[u + 1] - R->indptr[u];
		float	   *cm1 = t + len;
		float	   *Yu = cm1 + len;
		float	   *x = X + (int64_t) u * f;
		float		lambda = row_lambda(p, len);

		gather_rows(R, u, Y, f, Yu);
		for (int64_t i = 0; i < len; i++)
			cm1[i] = p->alpha * R->data[R->indptr[u] + i];

		if (p->cg_steps > 0)
			solve_cg(G, Yu, cm1, len, f, lambda, p->cg_steps, x, t, r, pv, Ap);
		else if (!solve_cholesky(G, Yu, cm1, len, f, lambda, NULL, x, t, A))
			return u;
	}
	return -1;
}

size_t
als_fold_in_floats(int factors, int64_t len)
{
	return (size_t) factors * factors + 2 * (size_t) len;
}

bool
als_fold_in(const float *G, float *Yu, const float *w, int64_t len,
			const float *prior, const AlsParams *p, float *x, float *scratch)
{
	int			f = p->factors;
	float	   *A = scratch;
	float	   *t = A + f * f;
	float	   *cm1 = t + len;

	for (int64_t i = 0; i < len; i++)
		cm1[i] = p->alpha * w[i];
	return solve_cholesky(G, Yu, cm1, len, f, row_lambda(p, len), prior, x, t, A);
}

size_t
als_explain_floats(int factors, int64_t len)
{
	return (size_t) factors * factors + (size_t) factors + (size_t) len * (factors + 1);
}

bool
als_explain(const float *G, const float *Yu, const float *w, int64_t len,
			const float *y, const AlsParams *p, float *contrib, float *scratch)
{
	int			f = p->factors;
	float	   *A = scratch;
	float	   *z = A + f * f;
	float	   *cm1 = z + f;
	float	   *Ys = cm1 + len;

	for (int64_t i = 0; i < len; i++)
		cm1[i] = p->alpha * w[i];
	memcpy(Ys, Yu, sizeof(float) * f * len);
	memcpy(z, y, sizeof(float) * f);
	if (!factor_system(G, Ys, cm1, len, f, row_lambda(p, len), A) ||
		!solve_factored(A, f, z))
		return false;
	/* z = W^-1 y: item j contributes c_j y_j . z */
	for (int64_t i = 0; i < len; i++)
		contrib[i] = (cm1[i] + 1.0f) * cblas_sdot(f, Yu + i * f, 1, z, 1);
	return true;
}

/* Sum of lambda_u |x_u|^2 over the rows of X */
static double
penalty(const RecoCsr *R, const float *X, const AlsParams *p)
{
	double		sum = 0.0;
	int			f = p->factors;

	for (int32_t u = 0; u < R->nrows; u++)
	{
		const float *x = X + (int64_t) u * f;

		sum += row_lambda(p, R->indptr[u + 1] - R->indptr[u]) *
			(double) cblas_sdot(f, x, 1, x, 1);
	}
	return sum;
}

void
als_loss_rows(const RecoCsr *Rui, int32_t begin, int32_t end,
			  const float *X, const float *Y, const float *G,
			  const AlsParams *p, float *scratch, double *loss, double *mass)
{
	int			f = p->factors;
	float	   *Gx = scratch;
	float	   *s = Gx + f;

	for (int32_t u = begin; u < end; u++)
	{
		const float *x = X + (int64_t) u * f;
		int64_t		start = Rui->indptr[u];
		int64_t		len = Rui->indptr[u + 1] - start;

		/* every cell with confidence 1 and preference 0 ... */
		cblas_sgemv(CblasRowMajor, CblasNoTrans, f, f, 1.0f, G, f, x, 1, 0.0f,
					Gx, 1);
		*loss += cblas_sdot(f, x, 1, Gx, 1);
		if (len == 0)
			continue;
		/* ... corrected on the observed cells */
		for (int64_t i = 0; i < len; i++)
			s[i] = cblas_sdot(f, x, 1, Y + (int64_t) Rui->indices[start + i] * f, 1);
		for (int64_t i = 0; i < len; i++)
		{
			double		c = 1.0 + (double) p->alpha * Rui->data[start + i];

			*loss += (c - 1.0) * s[i] * s[i] - 2.0 * c * s[i] + c;
			*mass += c - 1.0;
		}
	}
}

double
als_loss_finish(const RecoCsr *Rui, const RecoCsr *Riu, const float *X,
				const float *Y, const AlsParams *p, double loss, double mass)
{
	loss += penalty(Rui, X, p) + penalty(Riu, Y, p);
	return loss / mass;
}

double
als_loss(const RecoCsr *Rui, const RecoCsr *Riu,
		 const float *X, const float *Y, const float *G,
		 const AlsParams *p, float *scratch)
{
	double		loss = 0.0;
	double		mass = (double) Rui->nrows * Rui->ncols;

	als_loss_rows(Rui, 0, Rui->nrows, X, Y, G, p, scratch, &loss, &mass);
	return als_loss_finish(Rui, Riu, X, Y, p, loss, mass);
}

/*
 * Explicit ratings.  Row vectors hold factors + 2 components so that a plain
 * dot product predicts the rating: a user is [x, b_u, 1], an item [y, 1,
 * mu + b_i].  The free components of a row are its factors and its own
 * bias (slot f for users, f + 1 for items); the other bias slot is fixed.
 */
size_t
als_explicit_scratch_floats(int factors, int64_t max_row)
{
	size_t		d = (size_t) factors + 1;

	return d * d + 2 * d + (size_t) max_row * (d + 1);
}

void
als_explicit_init(float *M, int64_t n, int factors, AlsSide side, float mean)
{
	int			d = factors + ALS_EXPLICIT_EXTRA;

	for (int64_t i = 0; i < n; i++)
	{
		float	   *w = M + i * d;

		w[factors] = side == ALS_USERS ? 0.0f : 1.0f;
		w[factors + 1] = side == ALS_USERS ? 1.0f : mean;
	}
}

/* Least squares for one row's free components over its observed ratings */
bool
als_solve_explicit_row(const RecoCsr *R, int32_t u, float *W, const float *O,
				   const AlsParams *p, AlsSide side, float mean, float *scratch)
{
	int			f = p->factors;
	int			d = f + 1;
	int			stride = f + ALS_EXPLICIT_EXTRA;
	int			own = side == ALS_USERS ? f : f + 1;	/* this row's bias slot */
	int			other = side == ALS_USERS ? f + 1 : f;	/* fixed at 1 here */
	int64_t		start = R->indptr[u];
	int64_t		len = R->indptr[u + 1] - start;
	float		lambda = row_lambda(p, len);
	float	   *A = scratch;
	float	   *w = A + d * d;
	float	   *t = w + d;
	float	   *Z = t + len;
	float	   *row = W + (int64_t) u * stride;
	int			n = d;
	int			one = 1;
	int			info;

	/* features: the other side's factors and its 1; target: rating - its bias */
	for (int64_t i = 0; i < len; i++)
	{
		const float *o = O + (int64_t) R->indices[start + i] * stride;

		memcpy(Z + i * d, o, sizeof(float) * f);
		Z[i * d + f] = o[own];
		t[i] = R->data[start + i] - o[other];
	}
	memset(A, 0, sizeof(float) * d * d);
	for (int j = 0; j < d; j++)
		A[j * d + j] = lambda;
	memset(w, 0, sizeof(float) * d);
	if (side == ALS_ITEMS)
		w[f] = lambda * mean;	/* the item bias is pulled toward the mean */
	if (len > 0)
	{
		cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int) len,
					1.0f, Z, d, 1.0f, A, d);
		cblas_sgemv(CblasRowMajor, CblasTrans, (int) len, d, 1.0f, Z, d,
					t, 1, 1.0f, w, 1);
	}
	spotrf_("L", &n, A, &n, &info);
	if (info != 0)
		return false;
	spotrs_("L", &n, &one, A, &n, w, &n, &info);
	if (info != 0)
		return false;
	memcpy(row, w, sizeof(float) * f);
	row[own] = w[f];
	row[other] = 1.0f;
	return true;
}

void
als_loss_explicit_rows(const RecoCsr *Rui, int32_t begin, int32_t end,
					   const float *X, const float *Y, const AlsParams *p,
					   double *loss)
{
	int			f = p->factors;
	int			stride = f + ALS_EXPLICIT_EXTRA;

	for (int32_t u = begin; u < end; u++)
	{
		const float *x = X + (int64_t) u * stride;
		int64_t		len = Rui->indptr[u + 1] - Rui->indptr[u];
		double		norm = (double) x[f] * x[f];

		for (int64_t i = Rui->indptr[u]; i < Rui->indptr[u + 1]; i++)
		{
			double		e = Rui->data[i] -
				cblas_sdot(stride, x, 1, Y + (int64_t) Rui->indices[i] * stride, 1);

			*loss += e * e;
		}
		norm += cblas_sdot(f, x, 1, x, 1);
		*loss += row_lambda(p, len) * norm;
	}
}

double
als_loss_explicit_finish(const RecoCsr *Rui, const RecoCsr *Riu,
						 const float *Y, const AlsParams *p, float mean,
						 double loss)
{
	int			f = p->factors;
	int			stride = f + ALS_EXPLICIT_EXTRA;

	for (int32_t i = 0; i < Riu->nrows; i++)
	{
		const float *y = Y + (int64_t) i * stride;
		int64_t		len = Riu->indptr[i + 1] - Riu->indptr[i];
		double		b = (double) y[f + 1] - mean;

		loss += row_lambda(p, len) * (cblas_sdot(f, y, 1, y, 1) + b * b);
	}
	return Rui->indptr[Rui->nrows] > 0 ? loss / Rui->indptr[Rui->nrows] : 0.0;
}

double
als_loss_explicit(const RecoCsr *Rui, const RecoCsr *Riu, const float *X,
				  const float *Y, const AlsParams *p, float mean)
{
	double		loss = 0.0;

	als_loss_explicit_rows(Rui, 0, Rui->nrows, X, Y, p, &loss);
	return als_loss_explicit_finish(Rui, Riu, Y, p, mean, loss);
}
