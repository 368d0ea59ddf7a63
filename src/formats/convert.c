/* Exact scalar conversions between f32 and the narrow float formats: bf16, f16 and
 * the two OCP 8-bit formats (E4M3 and E5M2).
 *
 * All four narrow formats are "sign, biased exponent, mantissa" with subnormals, so
 * one encoder serves them all: it turns |f| into a magnitude code rounded to nearest,
 * ties to even, and the callers only differ in what they do with NaN, infinity and
 * codes past the largest finite one. Decoding is exact (every narrow value is an f32).
 *
 * Special values:
 *   bf16, f16  NaN -> quiet NaN with the sign and the top payload bits kept;
 *              overflow (after rounding) -> infinity, as IEEE 754 does.
 *   E4M3       bias 7, no infinities, NaN only at S.1111.111, max normal 448.
 *              Non-saturating: NaN, +-inf and values that round past 448 -> NaN
 *              (0x7f / 0xff, sign kept). Saturating: finite values that round past
 *              448 and +-inf -> +-448; NaN stays NaN.
 *   E5M2       bias 15, IEEE-style inf (S.11111.00) and NaN (S.11111.xx), max 57344.
 *              Non-saturating: values that round past 57344 -> +-inf. Saturating:
 *              those and +-inf -> +-57344 (the OCP "saturate to max normal" mode, as
 *              CUDA's SATFINITE does); NaN -> quiet NaN 0x7e / 0xfe.
 * The saturating treatment of infinity is the OCP specification's table for
 * saturation mode: the result of a saturating conversion is always finite or NaN. */
#include <string.h>

#include "tandem/formats.h"

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* v / 2^s rounded to nearest, ties to even (v < 2^24). */
static uint32_t shift_round_even(uint32_t v, int s)
{
    if (s <= 0)
        return v;
    if (s > 25) /* v < 2^24 <= half of 2^s: rounds to 0 */
        return 0;
    uint32_t q = v >> s;
    uint32_t rem = v & ((1u << s) - 1);
    uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1)))
        q++;
    return q;
}

/* Magnitude code (exponent field << mbits | mantissa field) of the finite, non-NaN
 * f32 magnitude `abs_bits` in a format with `mbits` mantissa bits and exponent bias
 * `bias`, rounded to nearest even, with no upper limit: callers compare it with their
 * largest finite code. Codes are ordered like the values they stand for, so rounding
 * up out of a binade (or from the largest subnormal to the smallest normal) is just
 * the carry of the +1. */
static uint32_t encode_magnitude(uint32_t abs_bits, int mbits, int bias)
{
    int e = (int)(abs_bits >> 23);
    uint32_t sig = abs_bits & 0x7fffffu;
    if (e == 0)
        e = 1; /* f32 subnormal: same scale as the smallest normal, no implicit bit */
    else
        sig |= 0x800000u;
    int exp = e - 127;      /* unbiased exponent of the f32 value */
    int emin = 1 - bias;    /* exponent of the target's smallest normal */
    int shift = 23 - mbits; /* f32 mantissa bits the target drops */
    if (exp >= emin) {
        /* Normal in the target: exponent field (exp - emin + 1) comes from the base
         * (exp - emin) << mbits plus the implicit bit, which lands on bit mbits. */
        return ((uint32_t)(exp - emin) << mbits) + shift_round_even(sig, shift);
    }
    /* Subnormal in the target: value / 2^(emin - mbits) rounded to an integer. */
    return shift_round_even(sig, shift + (emin - exp));
}

/* f32 value of a magnitude code in a format with `mbits` mantissa bits and bias
 * `bias`, for codes that are neither NaN nor infinity. Exact. */
static float decode_magnitude(uint32_t mag, int mbits, int bias)
{
    uint32_t e = mag >> mbits;
    uint32_t m = mag & ((1u << mbits) - 1);
    if (e == 0) {
        /* Subnormal: m * 2^(1 - bias - mbits); the power of two is a normal f32 for
         * every format here, and m has at most 10 bits, so the product is exact. */
        float unit = bits_f32((uint32_t)(127 + 1 - bias - mbits) << 23);
        return (float)m * unit;
    }
    return bits_f32(((e - (uint32_t)bias + 127u) << 23) | (m << (23 - mbits)));
}

/* ---- bf16: the top half of an f32 ---- */

float td_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t td_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) /* NaN: keep sign and payload top bits, force quiet */
        return (uint16_t)((u >> 16) | 0x0040u);
    if (abs == 0x7f800000u)
        return (uint16_t)(sign | 0x7f80u);
    uint32_t mag = encode_magnitude(abs, 7, 127);
    if (mag > 0x7f7fu) /* rounded past the largest finite bf16 */
        mag = 0x7f80u;
    return (uint16_t)(sign | mag);
}

/* ---- f16 (IEEE binary16) ---- */

float td_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t mag = h & 0x7fffu;
    if (mag >= 0x7c00u) {
        if (mag == 0x7c00u)
            return bits_f32(sign | 0x7f800000u);
        /* NaN: payload moved to the top of the f32 mantissa, quiet bit set */
        return bits_f32(sign | 0x7fc00000u | ((mag & 0x3ffu) << 13));
    }
    return bits_f32(sign | f32_bits(decode_magnitude(mag, 10, 15)));
}

uint16_t td_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
    if (abs == 0x7f800000u)
        return (uint16_t)(sign | 0x7c00u);
    uint32_t mag = encode_magnitude(abs, 10, 15);
    if (mag > 0x7bffu) /* past 65504 */
        mag = 0x7c00u;
    return (uint16_t)(sign | mag);
}

/* ---- OCP FP8 E4M3 ---- */

#define E4M3_MAX_MAG 0x7eu /* S.1111.110 = 448 */
#define E4M3_NAN 0x7fu

float td_fp8_e4m3_to_f32(uint8_t v)
{
    uint32_t sign = (uint32_t)(v & 0x80u) << 24;
    uint32_t mag = v & 0x7fu;
    if (mag == E4M3_NAN)
        return bits_f32(sign | 0x7fc00000u);
    return bits_f32(sign | f32_bits(decode_magnitude(mag, 3, 7)));
}

uint8_t td_f32_to_fp8_e4m3(float f, bool saturate)
{
    uint32_t u = f32_bits(f);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u)
        return sign | E4M3_NAN;
    if (abs == 0x7f800000u)
        return sign | (saturate ? E4M3_MAX_MAG : E4M3_NAN);
    uint32_t mag = encode_magnitude(abs, 3, 7);
    if (mag > E4M3_MAX_MAG) /* rounds past 448: there is no infinity to go to */
        mag = saturate ? E4M3_MAX_MAG : E4M3_NAN;
    return (uint8_t)(sign | mag);
}

/* ---- OCP FP8 E5M2 ---- */

#define E5M2_MAX_MAG 0x7bu /* S.11110.11 = 57344 */
#define E5M2_INF 0x7cu
#define E5M2_QNAN 0x7eu

float td_fp8_e5m2_to_f32(uint8_t v)
{
    /* E5M2 is the top byte of an f16, specials included. */
    return td_f16_to_f32((uint16_t)((uint16_t)v << 8));
}

uint8_t td_f32_to_fp8_e5m2(float f, bool saturate)
{
    uint32_t u = f32_bits(f);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u)
        return sign | E5M2_QNAN;
    if (abs == 0x7f800000u)
        return sign | (saturate ? E5M2_MAX_MAG : E5M2_INF);
    uint32_t mag = encode_magnitude(abs, 2, 15);
    if (mag > E5M2_MAX_MAG)
        mag = saturate ? E5M2_MAX_MAG : E5M2_INF;
    return (uint8_t)(sign | mag);
}
