#!/usr/bin/env python3
"""Writes the float-format conversion fixtures in tests/fixtures/ from an outside
oracle: ml_dtypes (float8_e4m3fn, float8_e5m2, bfloat16) and numpy (float16).

    pip install ml_dtypes numpy && python3 tools/gen_float_fixtures.py

File format (one record per line, all numbers hexadecimal, '#' starts a comment):
    d <code> <f32 bits>        decoding: the code's value as f32 bits
    e <f32 bits> <code>        bf16/f16 encoding, round to nearest even
    e <f32 bits> <code> <sat>  fp8 encoding, non-saturating and saturating
For NaN results the exact NaN bit pattern is not part of the contract: the C test
only checks that a NaN comes out.

ml_dtypes has no saturating mode: its casts are the OCP non-saturating conversion
(E4M3 overflow -> NaN, E5M2 overflow -> inf). The saturating expectation is computed
as "clamp to [-max normal, max normal], then convert", with NaN passed through, which
is the OCP definition of saturation (infinities included: they clamp to max normal).
"""
import os
import sys

import ml_dtypes
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
RNG = np.random.default_rng(20240611)


def f32(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


def bits32(values):
    return np.asarray(values, dtype=np.float32).view(np.uint32)


def codes_of(values, dtype, width):
    utype = np.uint8 if width == 8 else np.uint16
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(values, dtype=np.float32).astype(dtype).view(utype)


def neighbours(values):
    """Each value and the f32 values one ulp below and above it."""
    v = np.asarray(values, dtype=np.float32)
    v = v[np.isfinite(v)]
    with np.errstate(over="ignore"):
        up = np.nextafter(v, np.float32(np.inf))
        down = np.nextafter(v, np.float32(-np.inf))
    return np.concatenate([v, up, down])


def common_edges():
    specials = f32([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
                    0x7F800001, 0xFFA12345, 0x00000001, 0x80000001, 0x007FFFFF, 0x00800000,
                    0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0xBF800000])
    tiny = np.array([1e-30, -1e-30, 1e-38, 1e-40, 1e-20, 2.0**-30], dtype=np.float32)
    return np.concatenate([specials, tiny])


def fp8_file(name, dtype, max_normal):
    codes = np.arange(256, dtype=np.uint8)
    values = codes.view(dtype).astype(np.float32)
    finite = np.isfinite(values)
    pos = np.unique(values[finite & (values >= 0)])  # sorted, +0 once
    mids = (pos[:-1].astype(np.float64) + pos[1:].astype(np.float64)) / 2.0
    mids = mids.astype(np.float32)  # exact: every midpoint of fp8 values is an f32
    above = np.array([max_normal * 1.03125, max_normal * 1.0625, max_normal * 1.07,
                      max_normal * 1.125, max_normal * 1.5, max_normal * 2, max_normal * 1e3,
                      1e30, 3e38], dtype=np.float32)
    smallest = pos[1]  # smallest subnormal
    small = np.array([smallest / 2, smallest / 4, smallest * 0.75, smallest * 1.5, smallest * 2.5],
                     dtype=np.float32)
    randoms = (RNG.uniform(1, 2, 600) * np.exp2(RNG.integers(-20, 18, 600))).astype(np.float32)
    randoms *= RNG.choice([-1, 1], 600).astype(np.float32)
    inputs = np.concatenate([
        neighbours(pos), neighbours(mids), neighbours(above), neighbours(small),
        common_edges(), randoms])
    inputs = np.concatenate([inputs, -inputs])
    inputs = np.unique(bits32(inputs)).view(np.float32)

    nonsat = codes_of(inputs, dtype, 8)
    clamped = np.where(np.isnan(inputs), inputs, np.clip(inputs, -max_normal, max_normal))
    sat = codes_of(clamped.astype(np.float32), dtype, 8)

    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write(f"# {name}: OCP {dtype.__name__} conversions from ml_dtypes "
                f"{ml_dtypes.__version__}, numpy {np.__version__}\n")
        f.write("# written by tools/gen_float_fixtures.py; format described there\n")
        for c, v in zip(codes, values):
            f.write(f"d {c:02x} {bits32(v):08x}\n")
        for v, a, b in zip(inputs, nonsat, sat):
            f.write(f"e {bits32(v):08x} {a:02x} {b:02x}\n")
    return path


def f16_like_file(name, dtype, mbits, emin, emax, n_random, code_stride):
    max_normal = float(ml_dtypes.finfo(dtype).max)
    # Midpoints between neighbouring representable values around each binade edge and
    # at random places, plus the f32 values one ulp either side of them.
    # Every binade near the subnormal and overflow ends, every 5th one in between.
    exps = np.arange(emin - mbits - 2, emax + 1)
    exps = exps[(exps < emin + 4) | (exps > emax - 4) | (exps % 5 == 0)]
    edges = np.exp2(exps.astype(np.float64)).astype(np.float32)
    ulp = np.exp2((exps - mbits).astype(np.float64))
    mids = (edges.astype(np.float64) + ulp / 2).astype(np.float32)  # tie just above 2^e
    mids_odd = (edges.astype(np.float64) + 1.5 * ulp).astype(np.float32)  # tie, odd below
    randoms = (RNG.uniform(1, 2, n_random) * np.exp2(RNG.integers(emin - mbits - 3, emax + 2,
                                                                    n_random))).astype(np.float32)
    randoms *= RNG.choice([-1, 1], n_random).astype(np.float32)
    big = np.array([max_normal, max_normal * (1 + 2.0**-(mbits + 1)), max_normal * 1.01],
                   dtype=np.float32)
    inputs = np.concatenate([neighbours(edges), neighbours(mids), neighbours(mids_odd),
                             neighbours(big), common_edges(), randoms])
    inputs = np.concatenate([inputs, -inputs])
    inputs = np.unique(bits32(inputs)).view(np.float32)
    codes = codes_of(inputs, dtype, 16)

    sample = np.arange(0, 65536, code_stride, dtype=np.uint32)
    sample = np.unique(np.concatenate([sample, [0x0001, 0x8001, 0x7c00, 0xfc00, 0x7f80, 0xff80,
                                               0x03ff, 0x0400, 0x007f, 0x0080, 0x7bff, 0x7f7f]]))
    sample = sample.astype(np.uint16)
    values = sample.view(dtype).astype(np.float32)

    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write(f"# {name}: {np.dtype(dtype).name} conversions (round to nearest even) from "
                f"ml_dtypes {ml_dtypes.__version__}, numpy {np.__version__}\n")
        f.write("# written by tools/gen_float_fixtures.py; format described there\n")
        for c, v in zip(sample, values):
            f.write(f"d {c:04x} {bits32(v):08x}\n")
        for v, c in zip(inputs, codes):
            f.write(f"e {bits32(v):08x} {c:04x}\n")
    return path


def main():
    np.seterr(over="ignore", invalid="ignore")
    os.makedirs(OUT, exist_ok=True)
    paths = [
        fp8_file("fp8_e4m3.txt", ml_dtypes.float8_e4m3fn, 448.0),
        fp8_file("fp8_e5m2.txt", ml_dtypes.float8_e5m2, 57344.0),
        f16_like_file("bf16.txt", ml_dtypes.bfloat16, 7, -126, 127, 1000, 97),
        f16_like_file("f16.txt", np.float16, 10, -14, 15, 1000, 97),
    ]
    total = sum(os.path.getsize(p) for p in paths)
    for p in paths:
        print(f"{os.path.relpath(p)}: {os.path.getsize(p)} bytes")
    print(f"total {total} bytes")
    return 0 if total < 300_000 else 1


if __name__ == "__main__":
    sys.exit(main())
