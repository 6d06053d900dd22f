#!/bin/bash
# scan_floor.sh - what the scoring pass of reco_recommend costs outside
# PostgreSQL, and what the hardware allows
#
# Compiles the extension's own src/topk.c (flags as the Makefile: the PGXS
# CFLAGS plus -O3) together with a small driver into a temporary directory,
# links OpenBLAS as the extension does, and times on an N_ITEMS x FACTORS
# random float4 matrix (same shape as bench/serve.sh):
#
#   topk_scores           the extension's scoring: cblas_sgemv(RowMajor,
#                         NoTrans) over the row-major item matrix
#   topk_select           the extension's top-k heap over the scores with an
#                         all-clear skip bitmap, k = 10
#   sgemv, item-major     the same product with the matrix stored transposed
#                         (factor-major, ColMajor NoTrans), for comparison
#   read 25.6 MB          a plain vectorised sum over the matrix: the memory
#                         (here mostly L3) read floor
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

/* 8 independent accumulators so the compiler vectorises without -ffast-math */
static float
sum_floats(const float *a, long n)
{
	float		acc[16] = {0};
	float		s = 0;

	for (long i = 0; i + 16 <= n; i += 16)
		for (int k = 0; k < 16; k++)
			acc[k] += a[i + k];
	for (int k = 0; k < 16; k++)
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
	for (long i = 0; i < n; i++)
		for (int j = 0; j < f; j++)
			Yt[(long) j * n + i] = Y[i * f + j];
	for (int j = 0; j < f; j++)
		x[j] = rand() / (float) RAND_MAX - 0.5f;

	printf("OpenBLAS core: %s; %d x %d float4 = %.1f MB; %d repetitions\n",
		   openblas_get_corename(), n, f, bytes / 1e6, reps);
	printf("%-44s %8s %8s %8s %8s\n", "", "median", "min", "p99", "GB/s");
	printf("%-44s %8s %8s %8s %8s\n", "", "ms", "ms", "ms", "(median)");

	for (int r = 0; r < reps; r++)
	{
		double		a = now();

		topk_scores(Y, n, f, x, s);
		t[r] = now() - a;
	}
	report("topk_scores (sgemv RowMajor NoTrans)", t, reps, bytes);

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

		topk_scores(Y, n, f, x, s);
		sink += topk_select(s, n, skip, 10, top);
		t[r] = now() - a;
	}
	report("topk_scores + topk_select", t, reps, bytes);

	for (int r = 0; r < reps; r++)
	{
		double		a = now();

		cblas_sgemv(CblasColMajor, CblasNoTrans, n, f, 1.0f, Yt, n, x, 1,
					0.0f, s, 1);
		t[r] = now() - a;
	}
	report("sgemv, factor-major copy (ColMajor NoTrans)", t, reps, bytes);

	for (int r = 0; r < reps; r++)
	{
		double		a = now();

		sink += sum_floats(Y, (long) n * f);
		t[r] = now() - a;
	}
	report("read the matrix once (vectorised sum)", t, reps, bytes);

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
