#!/usr/bin/python3
"""Writes tests/fixtures/deform/: deformable-convolution outputs and gradients computed by
torchvision.ops.deform_conv2d in float64 (the oracle of tests/test_deform.c), and a tiny ONNX
model with one DeformConv node (opset 19) with its inputs and torchvision's output.

Run with Debian's interpreter, which has torch and torchvision:
    /usr/bin/python3 tools/gen_deform_fixtures.py [OUT_DIR]

Files:
  cases.safetensors   per case "<case>.<tensor>": inputs as F32 (the exact values the C code
                      reads), outputs and gradients as F64; __metadata__ "case.<name>" holds the
                      geometry as "key=value" words, "versions" the library versions.
  deform_conv.onnx    X, offset, mask -> DeformConv(W, B constant) -> Y; expected tensors are
                      "onnx.*" in cases.safetensors.

Semantics reproduced here (see include/tandem/deform.h): asymmetric pads by zero-padding the
input first (bilinear sampling reads zero outside the image either way); limited range as
torch.clamp of the offsets; fixed shape as offsets (s - 1) * (i - (kh-1)/2) * dh per tap.
Gradients are those of sum(dy * y) with a random dy, by autograd.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision.ops import deform_conv2d

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, geometry, mode, options. Keys: n c h w m group og kh kw sh sw dh dw pt pl pb pr.
CASES = [
    ("v1_basic", dict(n=1, c=3, h=6, w=5, m=4, kh=3, kw=3, pt=1, pl=1, pb=1, pr=1), "free",
     dict(mask=False, bias=True, off_scale=1.0)),
    ("v2_basic", dict(n=2, c=4, h=5, w=6, m=3, kh=3, kw=3, pt=1, pl=1, pb=1, pr=1), "free",
     dict(mask=True, bias=True, off_scale=1.0)),
    ("v2_groups", dict(n=1, c=4, h=5, w=5, m=6, group=2, og=2, kh=3, kw=3, pt=1, pl=1, pb=1,
                       pr=1), "free", dict(mask=True, bias=True, off_scale=1.5)),
    ("v2_og_only", dict(n=1, c=6, h=4, w=5, m=2, og=3, kh=2, kw=3, pt=0, pl=1, pb=1, pr=0),
     "free", dict(mask=True, bias=False, off_scale=1.0)),
    ("v2_stride_dil", dict(n=1, c=2, h=9, w=8, m=3, kh=3, kw=2, sh=2, sw=3, dh=2, dw=1, pt=2,
                           pl=1, pb=1, pr=2), "free", dict(mask=True, bias=True, off_scale=1.2)),
    ("v2_outside", dict(n=1, c=2, h=4, w=4, m=2, kh=3, kw=3, pt=1, pl=1, pb=1, pr=1), "free",
     dict(mask=True, bias=True, off_scale=4.0)),
    ("v2_1x1", dict(n=2, c=3, h=3, w=4, m=2, kh=1, kw=1), "free",
     dict(mask=True, bias=True, off_scale=0.8)),
    ("v2_depthwise", dict(n=1, c=4, h=5, w=5, m=8, group=4, og=2, kh=3, kw=3, pt=1, pl=1, pb=1,
                          pr=1), "free", dict(mask=True, bias=True, off_scale=1.0)),
    ("zero_offsets", dict(n=1, c=3, h=5, w=6, m=2, kh=3, kw=3, pt=1, pl=0, pb=1, pr=2), "free",
     dict(mask=True, bias=True, off_scale=0.0, mask_one=True)),
    ("limited", dict(n=1, c=4, h=7, w=6, m=3, og=2, kh=3, kw=3, pt=1, pl=1, pb=1, pr=1),
     "limited", dict(mask=True, bias=True, off_scale=2.0, range=1.25)),
    ("fixed", dict(n=1, c=4, h=7, w=7, m=3, og=2, kh=3, kw=3, dh=1, dw=2, pt=1, pl=2, pb=1, pr=2),
     "fixed", dict(mask=True, bias=True)),
    ("fixed_even", dict(n=1, c=2, h=6, w=6, m=2, kh=2, kw=4, pt=0, pl=1, pb=1, pr=2), "fixed",
     dict(mask=False, bias=False)),
]

# Depthwise variant: 1x1 conv cin -> mid, then deformable depthwise (group = mid).
DW_CASE = ("dw_variant", dict(n=1, c=4, h=6, w=6, m=4, group=4, og=2, kh=3, kw=3, pt=1, pl=1,
                              pb=1, pr=1), dict(cin=3))

# The ONNX model: DeformConv with groups, offset groups, stride, dilation, asymmetric pads.
ONNX_CASE = dict(n=2, c=4, h=7, w=6, m=6, group=2, og=2, kh=3, kw=3, sh=2, sw=1, dh=1, dw=2,
                 pt=1, pl=2, pb=2, pr=1)

DEFAULTS = dict(group=1, og=1, sh=1, sw=1, dh=1, dw=1, pt=0, pl=0, pb=0, pr=0)


def full(geo):
    g = dict(DEFAULTS)
    g.update(geo)
    g["oh"] = (g["h"] + g["pt"] + g["pb"] - g["dh"] * (g["kh"] - 1) - 1) // g["sh"] + 1
    g["ow"] = (g["w"] + g["pl"] + g["pr"] - g["dw"] * (g["kw"] - 1) - 1) // g["sw"] + 1
    return g


def f32(rng, shape, scale=1.0):
    """Random values exactly representable in float32, as float64 tensors."""
    a = (rng.standard_normal(shape) * scale).astype(np.float32).astype(np.float64)
    return torch.tensor(a, dtype=torch.float64)


def fixed_offsets(g, scale):
    """Offsets of the fixed-shape variant from scales N x og x Ho x Wo."""
    kh, kw = g["kh"], g["kw"]
    ty = torch.tensor([(i - (kh - 1) / 2) * g["dh"] for i in range(kh)], dtype=torch.float64)
    tx = torch.tensor([(j - (kw - 1) / 2) * g["dw"] for j in range(kw)], dtype=torch.float64)
    s1 = scale - 1.0  # N, og, Ho, Wo
    dy = s1[:, :, None, None] * ty[None, None, :, None, None, None]
    dx = s1[:, :, None, None] * tx[None, None, None, :, None, None]
    dy = dy.expand(-1, -1, kh, kw, -1, -1)
    dx = dx.expand(-1, -1, kh, kw, -1, -1)
    off = torch.stack([dy, dx], dim=4)  # N, og, kh, kw, 2, Ho, Wo
    n, og = scale.shape[0], scale.shape[1]
    return off.reshape(n, og * kh * kw * 2, g["oh"], g["ow"])


def run_deform(g, x, off, mask, w, b):
    xp = F.pad(x, (g["pl"], g["pr"], g["pt"], g["pb"]))
    return deform_conv2d(xp, off, w, b, stride=(g["sh"], g["sw"]), padding=(0, 0),
                         dilation=(g["dh"], g["dw"]), mask=mask)


def make_case(rng, name, geo, mode, opt):
    g = full(geo)
    n, c, m, kk, og = g["n"], g["c"], g["m"], g["kh"] * g["kw"], g["og"]
    x = f32(rng, (n, c, g["h"], g["w"]))
    w = f32(rng, (m, c // g["group"], g["kh"], g["kw"]), 0.5)
    b = f32(rng, (m,)) if opt.get("bias") else None
    if mode == "fixed":
        raw = torch.tensor(rng.uniform(0.3, 2.2, (n, og, g["oh"], g["ow"])).astype(np.float32)
                           .astype(np.float64))
    else:
        raw = f32(rng, (n, 2 * og * kk, g["oh"], g["ow"]), opt.get("off_scale", 1.0))
    mask = None
    if opt.get("mask"):
        if opt.get("mask_one"):
            mask = torch.ones((n, og * kk, g["oh"], g["ow"]), dtype=torch.float64)
        else:
            mask = torch.tensor(rng.uniform(0, 1, (n, og * kk, g["oh"], g["ow"]))
                                .astype(np.float32).astype(np.float64))
    leaves = [x, raw, w] + ([mask] if mask is not None else []) + ([b] if b is not None else [])
    for t in leaves:
        t.requires_grad_(True)
    if mode == "limited":
        off = raw.clamp(-opt["range"], opt["range"])
    elif mode == "fixed":
        off = fixed_offsets(g, raw)
    else:
        off = raw
    y = run_deform(g, x, off, mask, w, b)
    dy = f32(rng, tuple(y.shape))
    (y * dy).sum().backward()
    if opt.get("off_scale", 1.0) == 0.0 and mask_all_one(mask):
        ref = F.conv2d(F.pad(x, (g["pl"], g["pr"], g["pt"], g["pb"])), w, b,
                       stride=(g["sh"], g["sw"]), dilation=(g["dh"], g["dw"]), groups=g["group"])
        assert torch.allclose(ref, y, atol=1e-12), "zero offsets differ from conv2d"
    t = {"x": x, "offset": raw, "w": w, "dy": dy}
    if mask is not None:
        t["mask"] = mask
    if b is not None:
        t["b"] = b
    out = {"y": y, "gx": x.grad, "goffset": raw.grad, "gw": w.grad}
    if mask is not None:
        out["gmask"] = mask.grad
    if b is not None:
        out["gb"] = b.grad
    meta = " ".join(f"{k}={g[k]}" for k in ["n", "c", "h", "w", "m", "group", "og", "kh", "kw",
                                            "sh", "sw", "dh", "dw", "pt", "pl", "pb", "pr", "oh",
                                            "ow"])
    meta += f" mode={mode} range={opt.get('range', 0)}"
    return meta, t, out


def mask_all_one(mask):
    return mask is None or bool((mask == 1).all())


def make_dw_case(rng):
    name, geo, opt = DW_CASE
    g = full(geo)
    n, mid, cin, kk, og = g["n"], g["c"], opt["cin"], g["kh"] * g["kw"], g["og"]
    x = f32(rng, (n, cin, g["h"], g["w"]))
    pw = f32(rng, (mid, cin, 1, 1), 0.6)
    pw_b = f32(rng, (mid,))
    dw = f32(rng, (mid, 1, g["kh"], g["kw"]), 0.5)
    dw_b = f32(rng, (mid,))
    off = f32(rng, (n, 2 * og * kk, g["oh"], g["ow"]))
    mask = torch.tensor(rng.uniform(0, 1, (n, og * kk, g["oh"], g["ow"])).astype(np.float32)
                        .astype(np.float64))
    mid_t = F.conv2d(x, pw, pw_b)
    y = run_deform(g, mid_t, off, mask, dw, dw_b)
    meta = " ".join(f"{k}={g[k]}" for k in ["n", "c", "h", "w", "m", "group", "og", "kh", "kw",
                                            "sh", "sw", "dh", "dw", "pt", "pl", "pb", "pr", "oh",
                                            "ow"])
    meta += f" mode=free range=0 cin={cin}"
    t = {"x": x, "pw": pw.reshape(mid, cin), "pw_b": pw_b, "offset": off, "mask": mask,
         "w": dw, "b": dw_b}
    return name, meta, t, {"y": y}


def write_onnx(path, g, w, b):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    node = helper.make_node(
        "DeformConv", ["X", "W", "offset", "B", "mask"], ["Y"], name="dcn",
        dilations=[g["dh"], g["dw"]], group=g["group"], kernel_shape=[g["kh"], g["kw"]],
        offset_group=g["og"], pads=[g["pt"], g["pl"], g["pb"], g["pr"]],
        strides=[g["sh"], g["sw"]])
    kk = g["kh"] * g["kw"]
    inputs = [
        helper.make_tensor_value_info("X", TensorProto.FLOAT, [g["n"], g["c"], g["h"], g["w"]]),
        helper.make_tensor_value_info("offset", TensorProto.FLOAT,
                                      [g["n"], 2 * g["og"] * kk, g["oh"], g["ow"]]),
        helper.make_tensor_value_info("mask", TensorProto.FLOAT,
                                      [g["n"], g["og"] * kk, g["oh"], g["ow"]]),
    ]
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                                             [g["n"], g["m"], g["oh"], g["ow"]])]
    inits = [numpy_helper.from_array(w.detach().numpy().astype(np.float32), "W"),
             numpy_helper.from_array(b.detach().numpy().astype(np.float32), "B")]
    graph = helper.make_graph([node], "deform_conv", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)],
                              producer_name="gen_deform_fixtures.py")
    model.ir_version = 8
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def make_onnx_case(rng, out_dir):
    g = full(ONNX_CASE)
    n, c, m, kk, og = g["n"], g["c"], g["m"], g["kh"] * g["kw"], g["og"]
    x = f32(rng, (n, c, g["h"], g["w"]))
    w = f32(rng, (m, c // g["group"], g["kh"], g["kw"]), 0.5)
    b = f32(rng, (m,))
    off = f32(rng, (n, 2 * og * kk, g["oh"], g["ow"]), 1.3)
    mask = torch.tensor(rng.uniform(0, 1, (n, og * kk, g["oh"], g["ow"])).astype(np.float32)
                        .astype(np.float64))
    y = run_deform(g, x, off, mask, w, b)
    write_onnx(os.path.join(out_dir, "deform_conv.onnx"), g, w, b)
    return {"x": x, "offset": off, "mask": mask}, {"y": y}


def write_safetensors(path, tensors, meta):
    """tensors: name -> (dtype string, numpy array)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        dt, a = tensors[name]
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)
    os.replace(path + ".tmp", path)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests/fixtures/deform")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(20240606)
    tensors, meta = {}, {}

    def put(prefix, ins, outs):
        for k, v in ins.items():
            tensors[f"{prefix}.{k}"] = ("F32", v.detach().numpy().astype(np.float32))
        for k, v in outs.items():
            tensors[f"{prefix}.{k}"] = ("F64", v.detach().numpy().astype(np.float64))

    for name, geo, mode, opt in CASES:
        m, ins, outs = make_case(rng, name, geo, mode, opt)
        meta["case." + name] = m
        put(name, ins, outs)
    name, m, ins, outs = make_dw_case(rng)
    meta["dwcase." + name] = m
    put(name, ins, outs)
    ins, outs = make_onnx_case(rng, out_dir)
    put("onnx", ins, outs)
    meta["versions"] = f"torch {torch.__version__}, torchvision {torchvision.__version__}"
    write_safetensors(os.path.join(out_dir, "cases.safetensors"), tensors, meta)
    print(f"wrote {len(CASES)} cases + depthwise + onnx to {out_dir}")


if __name__ == "__main__":
    main()
