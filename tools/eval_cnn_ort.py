#!/usr/bin/env python3
"""Checks models/mnist_cnn.onnx with onnxruntime on the held-out split.

    python3 tools/eval_cnn_ort.py [--models DIR]     # pyenv python: onnxruntime, safetensors

Applies the normalization recorded in mnist_test.safetensors' __metadata__ (x = pixel * scale
+ offset), prints the onnxruntime accuracy, and fails if it differs from the torch accuracy
that tools/train_cnn.py stored in the model's metadata_props, or if the calibration file is
malformed.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]


def normalized(path):
    meta = metadata(path)
    tensors = load_file(path)
    x = tensors["x"].astype(np.float32) * np.float32(float(meta["scale"])) + np.float32(float(meta["offset"]))
    return x, tensors.get("y")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    args = ap.parse_args()
    model_path = os.path.join(args.models, "mnist_cnn.onnx")
    props = {p.key: p.value for p in onnx.load(model_path).metadata_props}

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    x, y = normalized(os.path.join(args.models, "mnist_test.safetensors"))
    pred = sess.run(None, {"x": x})[0].argmax(1)
    acc = float((pred == y).mean())
    print(f"onnxruntime {ort.__version__}: held-out accuracy {acc:.4f} on {len(y)} images "
          f"({int((pred == y).sum())} correct); torch said {props.get('heldout_accuracy_torch')}")

    calib, _ = normalized(os.path.join(args.models, "mnist_calib.safetensors"))
    if calib.shape != (256, 1, 28, 28) or not (0.0 <= calib.min() and calib.max() <= 1.0):
        sys.exit(f"mnist_calib.safetensors: unexpected shape {calib.shape} or range")
    if f"{acc:.4f}" != props.get("heldout_accuracy_torch"):
        sys.exit("onnxruntime and torch accuracies differ")


if __name__ == "__main__":
    main()
