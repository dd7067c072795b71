/*
 * rng.h -- seeded random numbers: splitmix64, fixed and portable, so that
 * the same seed gives the same points on every machine.
 */
#ifndef GP_RNG_H
#define GP_RNG_H
#include <stdint.h>

static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) with 53 bits */
static inline double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1p-53; }
#endif
