/* The optimizer's random stream and a stable index sort. */
#include <string.h>

#include "moo/moo_internal.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void td_moo_rng_seed(td_moo_rng *r, uint64_t seed)
{
    /* splitmix64 never yields four zero words, the one state xoshiro cannot leave */
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t td_moo_rng_next(td_moo_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double td_moo_rng_uniform(td_moo_rng *r)
{
    return (double)(td_moo_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t td_moo_rng_below(td_moo_rng *r, uint64_t n)
{
    /* reject the top partial copy of [0, n) so every value is equally likely */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t v = td_moo_rng_next(r);
        if (v < limit)
            return v % n;
    }
}

static void merge_sort(int *a, int n, td_moo_less_fn less, const void *ctx, int *tmp)
{
    if (n < 2)
        return;
    if (n <= 16) { /* insertion sort: stable, and fast on short runs */
        for (int i = 1; i < n; i++) {
            int v = a[i], j = i;
            for (; j > 0 && less(v, a[j - 1], ctx); j--)
                a[j] = a[j - 1];
            a[j] = v;
        }
        return;
    }
    int h = n / 2;
    merge_sort(a, h, less, ctx, tmp);
    merge_sort(a + h, n - h, less, ctx, tmp);
    int i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = less(a[j], a[i], ctx) ? a[j++] : a[i++];
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

void td_moo_sort(int *idx, int n, td_moo_less_fn less, const void *ctx, int *tmp)
{
    merge_sort(idx, n, less, ctx, tmp);
}
