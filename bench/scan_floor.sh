#!/bin/bash
# scan_floor.sh - what the scoring pass of reco_recommend costs outside
# PostgreSQL, and what the hardware allows
#
# Compiles the extension's own src/topk.c (flags as the Makefile: the PGXS
# CFLAGS plus -O3) together with a small driver into a temporary directory,
# links OpenBLAS as the extension does, and times on an N_ITEMS x FACTORS
# random float4 matrix (same shape as bench/serve.sh):
#
#   topk_scores           the extension's scoring over its factor-major
#                         cache (cblas_sgemv RowMajor Trans on f x n)
#   topk_select           the extension's top-k heap, k = 10
#   baseline              the same product over an item-major copy (one
#                         dot product per item row: the layout used before
#                         2026-11-28), for the ratio
#   reference             a plain vectorised sum over the matrix (reads the
#                         same bytes; the matrix is smaller than a 32 MB L3,
#                         so repeated passes are served largely from L3)
#
# No database is touched.  Needs gcc, pg_config and OpenBLAS headers
# (libopenblas-dev), like the extension's build.
#
#   bench/scan_floor.sh            REPS=300 N_ITEMS=100000 FACTORS=64
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src="$here/../src"
N_ITEMS=${N_ITEMS:-100000}
FACTORS=${FACTORS:-64}
REPS=${REPS:-300}
OMP_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1
export OMP_NUM_THREADS OPENBLAS_NUM_THREADS

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/driver.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
#include "topk.h"

extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int);

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static int
cmpd(const void *a, const void *b)
{
	double		x = *(const double *) a, y = *(const double *) b;

	return (x > y) - (x < y);
}

static void
report(const char *what, double *t, int reps, double bytes)
{
	qsort(t, reps, sizeof(double), cmpd);
	printf("%-44s %8.3f %8.3f %8.3f", what, t[reps / 2] * 1e3, t[0] * 1e3,
		   t[(int) (reps * 0.99)] * 1e3);
	if (bytes > 0)
		printf(" %8.1f", bytes / t[reps / 2] / 1e9);
	printf("\n");
}

/* 64 independent accumulators (8 AVX registers) so the compiler vectorises
 * without -ffast-math and the adds do not wait on each other */
static float
sum_floats(const float *a, long n)
{
	float		acc[64] = {0};
	float		s = 0;

	for (long i = 0; i + 64 <= n; i += 64)
		for (int k = 0; k < 64; k++)
			acc[k] += a[i + k];
	for (int k = 0; k < 64; k++)
		s += acc[k];
	return s;
}

int
main(int argc, char **argv)
{
	int			n = atoi(argv[1]);
	int			f = atoi(argv[2]);
	int			reps = atoi(argv[3]);
	float	   *Y = malloc(sizeof(float) * n * f);
	float	   *Yt = malloc(sizeof(float) * n * f);
	float	   *x = malloc(sizeof(float) * f);
	float	   *s = malloc(sizeof(float) * n);
	uint8_t    *skip = calloc((n + 7) / 8 + 1, 1);
	double	   *t = malloc(sizeof(double) * reps);
	TopkEntry	top[10];
	double		bytes = (double) n * f * sizeof(float);
	volatile float sink = 0;

	openblas_set_num_threads(1);
	srand(42);
	for (long i = 0; i < (long) n * f; i++)
		Y[i] = rand() / (float) RAND_MAX - 0.5f;
	topk_transpose(Y, n, f, Yt);
	for (int j = 0; j < f; j++)
		x[j] = rand() / (float) RAND_MAX - 0.5f;

	printf("OpenBLAS core: %s; %d x %d float4 = %.1f MB; %d repetitions\n",
		   openblas_get_corename(), n, f, bytes / 1e6, reps);
	printf("%-44s %8s %8s %8s %8s\n", "", "median", "min", "p99", "GB/s");
	printf("%-44s %8s %8s %8s %8s\n", "", "ms", "ms", "ms", "(median)");

	for (int r = 0; r < reps; r++)
	{
		double		a = now();

		topk_scores(Yt, n, f, x, s);
		t[r] = now() - a;
	}
	report("topk_scores (factor-major)", t, reps, bytes);

	for (int r = 0; r < reps; r++)
	{
		double		a = now();

		sink += topk_select(s, n, skip, 10, top);
		t[r] = now() - a;
	}
	report("topk_select (k = 10, nothing skipped)", t, reps, 0);

	for (int r = 0; r < reps; r++)
	{
		double		a = now();

		topk_scores(Yt, n, f, x, s);
		sink += topk_select(s, n, skip, 10, top);
		t[r] = now() - a;
	}
	report("topk_scores + topk_select", t, reps, bytes);

	for (int r = 0; r < reps; r++)
	{
		double		a = now();

		cblas_sgemv(CblasRowMajor, CblasNoTrans, n, f, 1.0f, Y, f, x, 1,
					0.0f, s, 1);
		t[r] = now() - a;
	}
	report("baseline: sgemv over an item-major copy", t, reps, bytes);

	for (int r = 0; r < reps; r++)
	{
		double		a = now();

		sink += sum_floats(Y, (long) n * f);
		t[r] = now() - a;
	}
	report("reference: plain vectorised sum of Y", t, reps, bytes);

	return sink == 12345.0f;
}
EOF

cflags=$(pg_config --cflags)
blas=$(pkg-config --cflags openblas)
# shellcheck disable=SC2086
gcc $cflags -O3 $blas -I"$src" -c "$src/topk.c" -o "$work/topk.o"
# shellcheck disable=SC2086
gcc -O3 -march=native $blas -I"$src" -c "$work/driver.c" -o "$work/driver.o"
# shellcheck disable=SC2086
gcc -o "$work/scan_floor" "$work/driver.o" "$work/topk.o" $(pkg-config --libs openblas) -lm
"$work/scan_floor" "$N_ITEMS" "$FACTORS" "$REPS"
