/* Minimal test harness: each test file is a program; TD_CHECK records a failure with
 * its location and message and keeps going, so one run reports every broken case. */
#ifndef TD_TEST_H
#define TD_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/tandem.h"

static int td_test_failures = 0;
static int td_test_checks = 0;

#define TD_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        td_test_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            td_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Expects st to be an error of the given code whose message contains `needle`. */
#define TD_CHECK_ERROR(expr, code, needle)                                                         \
    do {                                                                                           \
        td_status st_ = (expr);                                                                    \
        TD_CHECK(td_status_code(st_) == (code), "%s: got '%s' (%s)", #expr,                        \
                 td_status_message(st_), td_code_name(td_status_code(st_)));                       \
        TD_CHECK(st_ == NULL || strstr(td_status_message(st_), (needle)) != NULL,                  \
                 "message '%s' lacks '%s'", td_status_message(st_), (needle));                     \
        td_status_free(st_);                                                                       \
    } while (0)

#define TD_CHECK_OK(expr)                                                                          \
    do {                                                                                           \
        td_status st_ = (expr);                                                                    \
        TD_CHECK(st_ == NULL, "%s failed: %s", #expr, td_status_message(st_));                     \
        td_status_free(st_);                                                                       \
    } while (0)

static inline int td_test_finish(const char *name)
{
    printf("%s: %d checks, %d failures\n", name, td_test_checks, td_test_failures);
    return td_test_failures ? 1 : 0;
}

/* Deterministic PRNG (splitmix64) so every failure reproduces. */
typedef struct {
    uint64_t s;
} td_rng;

static inline uint64_t td_rng_next(td_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static inline float td_rng_uniform(td_rng *r)
{
    return (float)((double)(td_rng_next(r) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/* Approximately normal (sum of 4 uniforms), scaled. */
static inline float td_rng_normal(td_rng *r)
{
    float s = 0;
    for (int i = 0; i < 4; i++)
        s += td_rng_uniform(r);
    return s * 0.8660254f;
}

#endif
