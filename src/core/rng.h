/*
 * rng.h - the random numbers of the neural core
 *
 * splitmix64 (Steele, Lea & Flood 2014), used two ways.  Sequentially
 * (NnRng) where one thread draws in a fixed order: weight initialisation.
 * Counter-based (nn_rand_at) where draws may be taken by any thread in any
 * order: dropout masks and negative samples are a pure function of (seed,
 * stream, index), so they are the same whatever the thread count and
 * whatever the batch is cut into.  Streams are the caller's business: one
 * per layer and step, say.
 */
#ifndef RECO_CORE_RNG_H
#define RECO_CORE_RNG_H

#include <stdint.h>

#define NN_GOLDEN UINT64_C(0x9E3779B97F4A7C15)

typedef struct NnRng
{
	uint64_t	state;
} NnRng;

/* The splitmix64 output function: a bijective 64-bit mix */
static inline uint64_t
nn_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Next draw of a sequential generator */
static inline uint64_t
nn_rng_next(NnRng *r)
{
	return nn_mix64(r->state += NN_GOLDEN);
}

/*
 * Draw number index of stream stream under seed: the index-th output of a
 * splitmix64 generator whose state is keyed by seed and stream.
 */
static inline uint64_t
nn_rand_at(uint64_t seed, uint64_t stream, uint64_t index)
{
	uint64_t	key = nn_mix64(seed + NN_GOLDEN * (stream + 1)) ^ seed;

	return nn_mix64(key + NN_GOLDEN * (index + 1));
}

/* Uniform float in [0, 1) from the top 24 bits: every value exact */
static inline float
nn_unit_float(uint64_t x)
{
	return (float) (x >> 40) * (1.0f / 16777216.0f);
}

/* Uniform integer in [0, n) by a multiply-high (bias below n / 2^64) */
static inline uint32_t
nn_below(uint64_t x, uint32_t n)
{
	return (uint32_t) (((unsigned __int128) x * n) >> 64);
}

#endif
