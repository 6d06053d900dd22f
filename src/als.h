/*
 * als.h - implicit-feedback alternating least squares on plain arrays
 *
 * Hu, Koren & Volinsky (2008): confidence c = 1 + alpha * weight for observed
 * cells, preference 1 there and 0 elsewhere.  Each half-step solves, for every
 * row u of the interaction matrix,
 *
 *     (G + Y_u' (C_u - I) Y_u + lambda_u I) x_u = Y_u' C_u 1
 *
 * where G = Y'Y is the Gram matrix of the fixed side.  The solver is either
 * a few warm-started conjugate-gradient steps (Takacs, Pilaszy & Tikk 2011)
 * or an exact Cholesky factorisation.  No PostgreSQL headers: the caller
 * hands in every buffer.
 */
#ifndef RECO_ALS_H
#define RECO_ALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csr.h"
#include "workers.h"

typedef struct AlsParams
{
	int			factors;
	int			iterations;
	int			cg_steps;		/* 0 selects the Cholesky solver */
	float		regularization;
	float		reg_exponent;	/* lambda_u = lambda * (1 + |row u|)^exponent */
	float		alpha;
	float		init_scale;		/* stddev of the random starting factors */
	uint64_t	seed;
} AlsParams;

/* Floats of scratch one als_solve_rows or als_loss call needs. */
extern size_t als_scratch_floats(int factors, int64_t max_row);

/* Fill n x f matrix m with N(0, scale^2) draws from a seeded generator. */
extern void als_random_init(float *m, int64_t n, int f, float scale,
							uint64_t seed);

/* G = Y'Y for the n x f row-major matrix Y; G is f x f, both triangles. */
extern void als_gram(const float *Y, int64_t n, int f, float *G);

/*
 * Re-solve rows [begin, end) of X against fixed Y.  Returns the first row
 * whose Cholesky factorisation failed, or -1 when all succeeded.
 */
extern int64_t als_solve_rows(const RecoCsr *R, int32_t begin, int32_t end,
							  float *X, const float *Y, const float *G,
							  const AlsParams *p, float *scratch);

/*
 * Fold one row in exactly against fixed factors: x = the solution of the
 * row's normal equation for its len interactions, whose factor rows are
 * gathered in Yu (len x f, overwritten) and whose weights are w.  This is
 * the online update of a user (implicit's recalculate_user).  With a prior
 * (may be NULL) the regularisation pulls toward it instead of toward zero,
 * (A + lambda I) x = b + lambda prior, so a row with little data stays near
 * its prior and data takes over as it accumulates.  scratch holds
 * als_fold_in_floats() floats.  False if the system is not positive definite.
 */
extern size_t als_fold_in_floats(int factors, int64_t len);
extern bool als_fold_in(const float *G, float *Yu, const float *w, int64_t len,
						const float *prior, const AlsParams *p, float *x,
						float *scratch);

/*
 * Explain a fold-in score (Hu, Koren & Volinsky 2008, section 5; implicit's
 * explain): with W the row's system matrix, the score of an item y is
 * y' W^-1 sum_j c_j y_j, so interaction j contributes c_j y_j' W^-1 y.
 * Fills contrib[len]; Yu (len x f) is left intact.  scratch holds
 * als_explain_floats() floats.  False if W is not positive definite.
 */
extern size_t als_explain_floats(int factors, int64_t len);
extern bool als_explain(const float *G, const float *Yu, const float *w,
						int64_t len, const float *y, const AlsParams *p,
						float *contrib, float *scratch);

/*
 * Weighted squared error of the model plus the regularisation term, divided
 * by the total confidence mass (the loss implicit reports).  The same in two
 * steps: sums over user rows [begin, end) added to *loss and *mass (start
 * them at 0 and nrows * ncols), then the penalty and the division.
 */
extern double als_loss(const RecoCsr *Rui, const RecoCsr *Riu,
					   const float *X, const float *Y, const float *G,
					   const AlsParams *p, float *scratch);
extern void als_loss_rows(const RecoCsr *Rui, int32_t begin, int32_t end,
						  const float *X, const float *Y, const float *G,
						  const AlsParams *p, float *scratch,
						  double *loss, double *mass);
extern double als_loss_finish(const RecoCsr *Rui, const RecoCsr *Riu,
							  const float *X, const float *Y,
							  const AlsParams *p, double loss, double mass);

/*
 * Explicit ratings (ALS-WR, Zhou et al. 2008, with user and item biases).
 * Row vectors hold factors + ALS_EXPLICIT_EXTRA components laid out so that
 * a plain dot product is the predicted rating: a user is [x, b_u, 1], an
 * item [y, 1, mu + b_i], mu the mean rating.  A half-step re-solves each
 * row's factors and own bias by regularised least squares over its observed
 * ratings only (the item bias is pulled toward mu instead of 0).
 */
#define ALS_EXPLICIT_EXTRA 2

typedef enum AlsSide
{
	ALS_USERS,
	ALS_ITEMS
} AlsSide;

/* Floats of scratch one thread of als_solve_explicit_parallel needs. */
extern size_t als_explicit_scratch_floats(int factors, int64_t max_row);

/* Set the fixed components of n rows (their factors are left as they are). */
extern void als_explicit_init(float *M, int64_t n, int factors, AlsSide side,
							  float mean);

/* Re-solve row u of W (the side named) against the other side O. */
extern bool als_solve_explicit_row(const RecoCsr *R, int32_t u, float *W,
								   const float *O, const AlsParams *p,
								   AlsSide side, float mean, float *scratch);

/*
 * Squared error over the observed ratings plus the penalty, per rating; in
 * two steps as als_loss (start *loss at 0).
 */
extern double als_loss_explicit(const RecoCsr *Rui, const RecoCsr *Riu,
								const float *X, const float *Y,
								const AlsParams *p, float mean);
extern void als_loss_explicit_rows(const RecoCsr *Rui, int32_t begin, int32_t end,
								   const float *X, const float *Y,
								   const AlsParams *p, double *loss);
extern double als_loss_explicit_finish(const RecoCsr *Rui, const RecoCsr *Riu,
									   const float *Y, const AlsParams *p,
									   float mean, double loss);

/*
 * A sweep: one of the above over every row of R, as a job for workers_run
 * (workers.h), cut into pieces of similar cost (rows weighted by their
 * length and the factors) so a piece takes milliseconds whatever the solver
 * and size and an interrupt is seen within one piece.  Each row is solved by
 * the same code whoever takes it, so results do not depend on the number of
 * threads; loss sweeps add up in row order and must run on one thread.
 */
typedef enum AlsTask
{
	ALS_SOLVE,					/* als_solve_rows */
	ALS_SOLVE_EXPLICIT,			/* als_solve_explicit_row */
	ALS_LOSS,					/* als_loss_rows */
	ALS_LOSS_EXPLICIT			/* als_loss_explicit_rows */
} AlsTask;

typedef struct AlsSweep
{
	AlsTask		task;
	const RecoCsr *R;			/* the rows swept */
	float	   *W;				/* their factors (read only by losses) */
	const float *O;				/* the other side's factors */
	const float *G;				/* Gram matrix of O (implicit only) */
	const AlsParams *p;
	AlsSide		side;			/* explicit only */
	float		mean;			/* explicit only */
	float	  **scratch;		/* one buffer per thread */
	int64_t		failed[WORKERS_MAX];	/* first row not solved, per thread */
	double		loss;			/* loss sweeps: the sums so far */
	double		mass;
} AlsSweep;

/* Set up sweep s over R (scratch etc. filled in by the caller) and its job */
extern void als_sweep_init(AlsSweep *s, AlsTask task, const RecoCsr *R,
						   WorkerJob *job);

/* The first row whose system was not positive definite, or -1 */
extern int64_t als_sweep_failed(const AlsSweep *s);

#endif
