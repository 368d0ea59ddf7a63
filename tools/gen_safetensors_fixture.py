#!/usr/bin/env python3
"""Writes tests/fixtures/st_python.safetensors with the reference `safetensors` package, so the
C reader is checked against files written by the Hugging Face implementation. The values are
simple closed forms (see tests/test_safetensors.c) so the test recomputes them without numpy.

With --check FILE it instead loads FILE (e.g. one written by Tandem) with the reference loader
and prints each tensor, which is the one-off interop check for the writer."""
import os
import sys

import numpy as np
from safetensors import deserialize
from safetensors.numpy import save_file


def tensors():
    return {
        "f32": (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3),
        "f16": np.array([1.5, -2.0, 65504.0], dtype=np.float16),
        "f64": np.array([[1e300], [-3.25]], dtype=np.float64),
        "i64": np.array([-(2**40), 7], dtype=np.int64),
        "i32": np.arange(-2, 2, dtype=np.int32),
        "i16": np.array([-300, 300], dtype=np.int16),
        "i8": np.array([-128, 127], dtype=np.int8),
        "u8": np.arange(5, dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "scalar": np.array(42.0, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        # deserialize() validates the whole file like load_file() but needs no numpy dtype,
        # so BF16 and FP8 tensors are checked too.
        with open(sys.argv[2], "rb") as f:
            for name, t in sorted(deserialize(f.read())):
                print(name, t["dtype"], t["shape"], len(t["data"]), "bytes")
        return
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                       "st_python.safetensors")
    save_file(tensors(), out, metadata={"format": "np", "source": "gen_safetensors_fixture.py"})
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
