/* Scalar float conversions: bf16, f16 and OCP FP8 (E4M3, E5M2).
 *
 * The outside oracle is ml_dtypes / numpy, through the fixtures written by
 * tools/gen_float_fixtures.py: every FP8 code decoded, and a few thousand f32
 * inputs per format (ties, neighbours of ties, overflow and subnormal edges, NaN,
 * inf, -0, random values) with the code round-to-nearest-even must give. On top of
 * that, properties that need no oracle are checked exhaustively: every code of every
 * format survives decode -> encode, and encoding random f32 values picks the nearest
 * code (ties to the even one). */
#include <float.h>

#include "td_test.h"

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- fixtures ---- */

typedef struct {
    char kind; /* 'd' decode or 'e' encode */
    uint32_t a, b, c;
    int nfields;
} record;

typedef struct {
    record *rec;
    int n;
} fixture;

static fixture load_fixture(const char *name)
{
    fixture fx = {NULL, 0};
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", TD_FIXTURE_DIR, name);
    FILE *f = fopen(path, "r");
    TD_CHECK(f != NULL, "cannot open fixture %s (run tools/gen_float_fixtures.py)", path);
    if (!f)
        return fx;
    int cap = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        record r = {0};
        unsigned a = 0, b = 0, c = 0;
        int n = sscanf(line, "%c %x %x %x", &r.kind, &a, &b, &c);
        TD_CHECK(n >= 3 && (r.kind == 'd' || r.kind == 'e'), "%s: bad line '%s'", name, line);
        if (n < 3)
            continue;
        r.a = a;
        r.b = b;
        r.c = c;
        r.nfields = n - 1;
        if (fx.n == cap) {
            cap = cap ? cap * 2 : 1024;
            fx.rec = realloc(fx.rec, (size_t)cap * sizeof *fx.rec);
            if (!fx.rec)
                abort();
        }
        fx.rec[fx.n++] = r;
    }
    fclose(f);
    return fx;
}

/* ---- FP8 ---- */

typedef struct {
    const char *name;
    const char *fixture;
    float (*decode)(uint8_t);
    uint8_t (*encode)(float, bool);
    float max_normal;
    int nan_codes; /* NaN codes per sign */
} fp8_format;

static const fp8_format e4m3 = {
    "e4m3", "fp8_e4m3.txt", td_fp8_e4m3_to_f32, td_f32_to_fp8_e4m3, 448.0f, 1};
static const fp8_format e5m2 = {
    "e5m2", "fp8_e5m2.txt", td_fp8_e5m2_to_f32, td_f32_to_fp8_e5m2, 57344.0f, 3};

static bool fp8_is_nan(const fp8_format *fmt, uint8_t code)
{
    return isnan(fmt->decode(code));
}

static void fp8_every_code_decodes_like_the_oracle(const fp8_format *fmt)
{
    fixture fx = load_fixture(fmt->fixture);
    int seen[256] = {0};
    for (int i = 0; i < fx.n; i++) {
        record r = fx.rec[i];
        if (r.kind != 'd')
            continue;
        TD_CHECK(r.a < 256, "%s: code %x", fmt->name, r.a);
        if (r.a >= 256)
            continue;
        seen[r.a]++;
        float want = float_of(r.b), got = fmt->decode((uint8_t)r.a);
        if (isnan(want))
            TD_CHECK(isnan(got), "%s: code %02x should decode to NaN, got %g", fmt->name, r.a, got);
        else
            TD_CHECK(bits_of(got) == r.b, "%s: code %02x decodes to %08x (%g), oracle %08x (%g)",
                     fmt->name, r.a, bits_of(got), got, r.b, want);
    }
    for (int c = 0; c < 256; c++)
        TD_CHECK(seen[c] == 1, "%s: fixture lists code %02x %d times", fmt->name, c, seen[c]);
    free(fx.rec);
}

static void fp8_every_code_round_trips(const fp8_format *fmt)
{
    int nans = 0;
    for (int c = 0; c < 256; c++) {
        float v = fmt->decode((uint8_t)c);
        if (isnan(v)) {
            nans++;
            /* NaN in, NaN out, in both modes */
            TD_CHECK(fp8_is_nan(fmt, fmt->encode(v, false)), "%s: NaN %02x", fmt->name, c);
            TD_CHECK(fp8_is_nan(fmt, fmt->encode(v, true)), "%s: NaN %02x sat", fmt->name, c);
            continue;
        }
        TD_CHECK(fmt->encode(v, false) == c, "%s: code %02x -> %g -> %02x", fmt->name, c, v,
                 fmt->encode(v, false));
        /* saturation only touches what lies beyond max normal; inf saturates (E5M2) */
        uint8_t want = isinf(v) ? (uint8_t)((c & 0x80) | fmt->encode(fmt->max_normal, false)) : c;
        TD_CHECK(fmt->encode(v, true) == want, "%s: code %02x -> %g -> sat %02x", fmt->name, c, v,
                 fmt->encode(v, true));
    }
    TD_CHECK(nans == 2 * fmt->nan_codes, "%s: %d NaN codes", fmt->name, nans);
}

/* The NaN/infinity encodings the OCP specification fixes. */
static void fp8_special_codes(void)
{
    TD_CHECK(isnan(td_fp8_e4m3_to_f32(0x7f)) && isnan(td_fp8_e4m3_to_f32(0xff)), "E4M3 NaN");
    TD_CHECK(td_fp8_e4m3_to_f32(0x7e) == 448.0f && td_fp8_e4m3_to_f32(0xfe) == -448.0f,
             "E4M3 max normal at S.1111.110");
    TD_CHECK(td_fp8_e4m3_to_f32(0x78) == 256.0f, "E4M3 S.1111.000 is a normal number (no inf)");
    TD_CHECK(td_fp8_e4m3_to_f32(0x01) == 0x1p-9f, "E4M3 smallest subnormal 2^-9");
    TD_CHECK(td_fp8_e4m3_to_f32(0x08) == 0x1p-6f, "E4M3 smallest normal 2^-6");
    TD_CHECK(td_fp8_e5m2_to_f32(0x7c) == INFINITY && td_fp8_e5m2_to_f32(0xfc) == -INFINITY,
             "E5M2 infinities");
    for (int c = 0x7d; c <= 0x7f; c++)
        TD_CHECK(isnan(td_fp8_e5m2_to_f32((uint8_t)c)) && isnan(td_fp8_e5m2_to_f32(c | 0x80)),
                 "E5M2 NaN %02x", c);
    TD_CHECK(td_fp8_e5m2_to_f32(0x7b) == 57344.0f, "E5M2 max normal");
    TD_CHECK(td_fp8_e5m2_to_f32(0x01) == 0x1p-16f, "E5M2 smallest subnormal 2^-16");
    float nz = td_fp8_e4m3_to_f32(0x80);
    TD_CHECK(nz == 0.0f && signbit(nz), "E4M3 0x80 is -0");
    TD_CHECK(td_f32_to_fp8_e4m3(-0.0f, false) == 0x80 && td_f32_to_fp8_e5m2(-0.0f, true) == 0x80,
             "-0 keeps its sign");
}

/* Overflow: non-saturating goes to NaN (E4M3, which has no infinity) or inf (E5M2);
 * saturating clamps finite values and infinities to max normal; NaN stays NaN. */
static void fp8_overflow_and_saturation(void)
{
    /* 464 is the tie between 448 (even mantissa) and the NaN slot: it rounds to 448 */
    TD_CHECK(td_f32_to_fp8_e4m3(464.0f, false) == 0x7e, "464 -> 448");
    TD_CHECK(td_f32_to_fp8_e4m3(nextafterf(464.0f, 1e9f), false) == 0x7f, "just past 464 -> NaN");
    TD_CHECK(td_f32_to_fp8_e4m3(nextafterf(464.0f, 1e9f), true) == 0x7e, "sat: -> 448");
    TD_CHECK(td_f32_to_fp8_e4m3(-1e6f, false) == 0xff, "-1e6 -> -NaN");
    TD_CHECK(td_f32_to_fp8_e4m3(-1e6f, true) == 0xfe, "sat: -1e6 -> -448");
    TD_CHECK(td_f32_to_fp8_e4m3(INFINITY, false) == 0x7f, "E4M3 inf -> NaN");
    TD_CHECK(td_f32_to_fp8_e4m3(-INFINITY, true) == 0xfe, "E4M3 sat -inf -> -448");
    TD_CHECK(td_f32_to_fp8_e4m3(NAN, true) == 0x7f, "E4M3 sat NaN stays NaN");
    /* E5M2: 61440 is the tie between 57344 (odd mantissa 11) and 2^16: rounds up to inf */
    TD_CHECK(td_f32_to_fp8_e5m2(nextafterf(61440.0f, 0.0f), false) == 0x7b, "just below tie");
    TD_CHECK(td_f32_to_fp8_e5m2(61440.0f, false) == 0x7c, "61440 -> inf");
    TD_CHECK(td_f32_to_fp8_e5m2(61440.0f, true) == 0x7b, "sat: 61440 -> 57344");
    TD_CHECK(td_f32_to_fp8_e5m2(INFINITY, false) == 0x7c, "E5M2 inf stays inf");
    TD_CHECK(td_f32_to_fp8_e5m2(-INFINITY, true) == 0xfb, "E5M2 sat -inf -> -57344");
    TD_CHECK(isnan(td_fp8_e5m2_to_f32(td_f32_to_fp8_e5m2(NAN, true))), "E5M2 sat NaN");
    TD_CHECK(isnan(td_fp8_e5m2_to_f32(td_f32_to_fp8_e5m2(-NAN, false))), "E5M2 -NaN");
}

/* Subnormal boundaries: below half the smallest subnormal goes to 0, the exact half
 * ties to 0 (even), anything above goes to the smallest subnormal. */
static void fp8_subnormal_edges(void)
{
    TD_CHECK(td_f32_to_fp8_e4m3(0x1p-10f, false) == 0x00, "E4M3 2^-10 ties to 0");
    TD_CHECK(td_f32_to_fp8_e4m3(nextafterf(0x1p-10f, 1.0f), false) == 0x01, "above tie -> 2^-9");
    TD_CHECK(td_f32_to_fp8_e4m3(-0x1.8p-9f, false) == 0x82, "-1.5 * 2^-9 ties to -2 * 2^-9");
    TD_CHECK(td_f32_to_fp8_e4m3(0x1.ep-7f, false) == 0x08, "largest subnormal + rounds up");
    TD_CHECK(td_f32_to_fp8_e4m3(1e-30f, false) == 0x00, "tiny -> 0");
    TD_CHECK(td_f32_to_fp8_e5m2(0x1p-17f, false) == 0x00, "E5M2 2^-17 ties to 0");
    TD_CHECK(td_f32_to_fp8_e5m2(0x1.8p-16f, false) == 0x02, "E5M2 1.5 * 2^-16 ties to even 2");
    TD_CHECK(td_f32_to_fp8_e5m2(FLT_TRUE_MIN, false) == 0x00, "f32 subnormal -> 0");
}

/* Generic fixture comparison for encode records with 1 (16-bit) or 2 (fp8) results.
 * is_nan tells whether a code of the format is NaN. */
static void check_encode_record(const char *name, record r, uint32_t got, uint32_t want,
                                bool want_nan, bool got_nan, const char *mode)
{
    if (want_nan)
        TD_CHECK(got_nan, "%s %s: %08x (%g) should be NaN, got %x", name, mode, r.a, float_of(r.a),
                 got);
    else
        TD_CHECK(got == want, "%s %s: %08x (%.9g) -> %x, oracle %x", name, mode, r.a, float_of(r.a),
                 got, want);
}

static void fp8_encoding_matches_the_oracle(const fp8_format *fmt)
{
    fixture fx = load_fixture(fmt->fixture);
    int n = 0;
    for (int i = 0; i < fx.n; i++) {
        record r = fx.rec[i];
        if (r.kind != 'e')
            continue;
        TD_CHECK(r.nfields == 3, "%s: encode record needs two codes", fmt->name);
        float f = float_of(r.a);
        uint8_t ns = fmt->encode(f, false), sat = fmt->encode(f, true);
        check_encode_record(fmt->name, r, ns, r.b, fp8_is_nan(fmt, (uint8_t)r.b),
                            fp8_is_nan(fmt, ns), "non-saturating");
        check_encode_record(fmt->name, r, sat, r.c, fp8_is_nan(fmt, (uint8_t)r.c),
                            fp8_is_nan(fmt, sat), "saturating");
        n++;
    }
    TD_CHECK(n > 1000, "%s: only %d encode records", fmt->name, n);
    free(fx.rec);
}

/* ---- bf16 / f16 ---- */

typedef struct {
    const char *name;
    const char *fixture;
    float (*decode)(uint16_t);
    uint16_t (*encode)(float);
} half_format;

static const half_format bf16 = {"bf16", "bf16.txt", td_bf16_to_f32, td_f32_to_bf16};
static const half_format f16 = {"f16", "f16.txt", td_f16_to_f32, td_f32_to_f16};

static void half_matches_the_oracle(const half_format *fmt)
{
    fixture fx = load_fixture(fmt->fixture);
    int nd = 0, ne = 0;
    for (int i = 0; i < fx.n; i++) {
        record r = fx.rec[i];
        if (r.kind == 'd') {
            float want = float_of(r.b), got = fmt->decode((uint16_t)r.a);
            if (isnan(want))
                TD_CHECK(isnan(got), "%s: %04x should decode to NaN", fmt->name, r.a);
            else
                TD_CHECK(bits_of(got) == r.b, "%s: %04x decodes to %08x, oracle %08x", fmt->name,
                         r.a, bits_of(got), r.b);
            nd++;
        } else {
            uint16_t got = fmt->encode(float_of(r.a));
            check_encode_record(fmt->name, r, got, r.b, isnan(fmt->decode((uint16_t)r.b)),
                                isnan(fmt->decode(got)), "encode");
            ne++;
        }
    }
    TD_CHECK(nd > 500 && ne > 2000, "%s: %d decode, %d encode records", fmt->name, nd, ne);
    free(fx.rec);
}

/* All 65536 codes: decode then encode gives the code back (NaNs stay NaN, with their
 * sign), and positive codes decode to strictly increasing values. */
static void half_every_code_round_trips(const half_format *fmt)
{
    int bad = 0, nans = 0;
    float prev = -1.0f;
    for (uint32_t c = 0; c < 65536; c++) {
        float v = fmt->decode((uint16_t)c);
        uint16_t back = fmt->encode(v);
        if (isnan(v)) {
            nans++;
            bad += !isnan(fmt->decode(back)) || (back & 0x8000) != (c & 0x8000);
            continue;
        }
        bad += back != c;
        if (c < 0x8000) {
            bad += !(v > prev) && c != 0;
            prev = v;
        }
    }
    TD_CHECK(bad == 0, "%s: %d codes fail the round trip or ordering", fmt->name, bad);
    /* 2 * (2^mantissa_bits - 1) NaN codes: 254 for bf16, 2046 for f16 */
    TD_CHECK(nans == (fmt == &bf16 ? 254 : 2046), "%s: %d NaN codes", fmt->name, nans);
}

static void half_special_values(void)
{
    TD_CHECK(td_f32_to_bf16(FLT_MAX) == 0x7f80, "FLT_MAX rounds past bf16 max -> inf");
    TD_CHECK(td_f32_to_bf16(-INFINITY) == 0xff80, "bf16 -inf");
    TD_CHECK(td_f32_to_bf16(1.00390625f) == 0x3f80, "1 + 2^-8 ties to even 1");
    TD_CHECK(td_f32_to_bf16(1.01171875f) == 0x3f82, "1 + 3 * 2^-8 ties to even 1 + 2^-6");
    uint16_t n = td_f32_to_bf16(float_of(0xff800001u)); /* signaling NaN, negative */
    TD_CHECK((n & 0xffc0) == 0xffc0, "bf16 NaN is quiet and keeps its sign: %04x", n);
    TD_CHECK(td_f32_to_f16(65504.0f) == 0x7bff, "f16 max");
    TD_CHECK(td_f32_to_f16(65520.0f) == 0x7c00, "f16 tie past max -> inf");
    TD_CHECK(td_f32_to_f16(nextafterf(65520.0f, 0.0f)) == 0x7bff, "just below -> max");
    TD_CHECK(td_f32_to_f16(0x1p-24f) == 0x0001, "f16 smallest subnormal");
    TD_CHECK(td_f32_to_f16(0x1p-25f) == 0x0000, "half of it ties to 0");
    TD_CHECK(td_f32_to_f16(-0x1.8p-24f) == 0x8002, "-1.5 * 2^-24 ties to even");
    uint16_t h = td_f32_to_f16(float_of(0x7f800001u));
    TD_CHECK((h & 0x7e00) == 0x7e00, "f16 NaN is quiet: %04x", h);
    TD_CHECK(isnan(td_f16_to_f32(0x7c01)) && td_f16_to_f32(0xfc00) == -INFINITY, "f16 specials");
}

/* ---- nearest-code property on random inputs (no oracle needed) ---- */

/* Checks that `code` (magnitude `mag` of a format whose positive magnitudes 0..max_mag
 * decode in increasing order) is a nearest code to |f|, ties to the even code. */
static bool is_nearest(double a, uint32_t mag, uint32_t max_mag, double (*value)(uint32_t))
{
    double v = value(mag);
    double d = fabs(a - v);
    if (mag > 0 && fabs(a - value(mag - 1)) < d)
        return false;
    if (mag < max_mag && fabs(a - value(mag + 1)) < d)
        return false;
    if (mag > 0 && fabs(a - value(mag - 1)) == d && (mag & 1))
        return false;
    if (mag < max_mag && fabs(a - value(mag + 1)) == d && (mag & 1))
        return false;
    return true;
}

static double e4m3_value(uint32_t m)
{
    return td_fp8_e4m3_to_f32((uint8_t)m);
}
static double e5m2_value(uint32_t m)
{
    return td_fp8_e5m2_to_f32((uint8_t)m);
}
static double f16_value(uint32_t m)
{
    return td_f16_to_f32((uint16_t)m);
}
static double bf16_value(uint32_t m)
{
    return td_bf16_to_f32((uint16_t)m);
}

static void encoders_pick_the_nearest_code(void)
{
    td_rng rng = {7};
    int bad[4] = {0};
    for (int i = 0; i < 200000; i++) {
        /* a random f32 in the formats' interesting ranges (2^-30 .. 2^20) */
        float f = (1.0f + (float)(td_rng_next(&rng) >> 40) * 0x1p-24f) *
                  ldexpf(1.0f, (int)(td_rng_next(&rng) % 51) - 30);
        double a = f;
        if (a <= 448.0)
            bad[0] += !is_nearest(a, td_f32_to_fp8_e4m3(f, false), 0x7e, e4m3_value);
        if (a <= 57344.0)
            bad[1] += !is_nearest(a, td_f32_to_fp8_e5m2(f, false), 0x7b, e5m2_value);
        if (a <= 65504.0)
            bad[2] += !is_nearest(a, td_f32_to_f16(f), 0x7bff, f16_value);
        bad[3] += !is_nearest(a, td_f32_to_bf16(f), 0x7f7f, bf16_value);
    }
    TD_CHECK(bad[0] == 0, "e4m3: %d inputs not rounded to nearest even", bad[0]);
    TD_CHECK(bad[1] == 0, "e5m2: %d", bad[1]);
    TD_CHECK(bad[2] == 0, "f16: %d", bad[2]);
    TD_CHECK(bad[3] == 0, "bf16: %d", bad[3]);
}

int main(void)
{
    fp8_every_code_decodes_like_the_oracle(&e4m3);
    fp8_every_code_decodes_like_the_oracle(&e5m2);
    fp8_every_code_round_trips(&e4m3);
    fp8_every_code_round_trips(&e5m2);
    fp8_special_codes();
    fp8_overflow_and_saturation();
    fp8_subnormal_edges();
    fp8_encoding_matches_the_oracle(&e4m3);
    fp8_encoding_matches_the_oracle(&e5m2);
    half_matches_the_oracle(&bf16);
    half_matches_the_oracle(&f16);
    half_every_code_round_trips(&bf16);
    half_every_code_round_trips(&f16);
    half_special_values();
    encoders_pick_the_nearest_code();
    return td_test_finish("test_convert");
}
