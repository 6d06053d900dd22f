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
#   alternatives, for comparison only (not the extension's code):
#     threshold-first     a top-k that compares each score with the current
#                         k-th best before anything else (same result)
#     factor-major sgemv  the same product with the matrix stored transposed
#                         (f x n, cblas_sgemv ColMajor NoTrans: OpenBLAS's
#                         sgemv_n kernel instead of sgemv_t)
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

/* For comparison only: top-k that first compares with the current k-th best
 * (one predictable branch per item once the heap is full); same result as
 * topk_select, since a later index loses ties */
static int
worse(const TopkEntry *a, const TopkEntry *b)
{
	return a->score < b->score || (a->score == b->score && a->index > b->index);
}

static void
sift(TopkEntry *h, int n)
{
	int			i = 0;

	for (;;)
	{
		int			l = 2 * i + 1, m = i;
		TopkEntry	tmp;

		if (l < n && worse(&h[l], &h[m]))
			m = l;
		if (l + 1 < n && worse(&h[l + 1], &h[m]))
			m = l + 1;
		if (m == i)
			return;
		tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

static int
topk_threshold_first(const float *scores, int32_t n, const uint8_t *skip, int k,
					 TopkEntry *out)
{
	int			size = 0;
	int32_t		i = 0;

	for (; i < n && size < k; i++)
	{
		if (topk_bit_test(skip, i) || scores[i] != scores[i])
			continue;
		out[size].score = scores[i];
		out[size].index = i;
		size++;
		for (int j = size - 1; j > 0 && worse(&out[j], &out[(j - 1) / 2]); j = (j - 1) / 2)
		{
			TopkEntry	tmp = out[j];

			out[j] = out[(j - 1) / 2];
			out[(j - 1) / 2] = tmp;
		}
	}
	for (; i < n; i++)
	{
		if (!(scores[i] > out[0].score) || topk_bit_test(skip, i))
			continue;
		out[0].score = scores[i];
		out[0].index = i;
		sift(out, size);
	}
	for (int end = size - 1; end > 0; end--)
	{
		TopkEntry	tmp = out[0];

		out[0] = out[end];
		out[end] = tmp;
		sift(out, end);
	}
	return size;
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

	{
		TopkEntry	top2[10];
		int			n1 = topk_select(s, n, skip, 10, top),
					n2 = topk_threshold_first(s, n, skip, 10, top2);

		for (int r = 0; r < reps; r++)
		{
			double		a = now();

			sink += topk_threshold_first(s, n, skip, 10, top2);
			t[r] = now() - a;
		}
		if (n1 != n2 || memcmp(top, top2, sizeof(TopkEntry) * n1) != 0)
			printf("(threshold-first top-k disagrees with topk_select!)\n");
		report("  alternative: threshold-first top-k", t, reps, 0);
	}

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
	report("  alternative: sgemv on a factor-major copy", t, reps, bytes);

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
