#!/usr/bin/env python3
"""Reference for include/tandem/rope.h (numpy, float64) and writer of tests/fixtures/rope/.

    python3 tools/rope_reference.py            (numpy; onnx + onnxruntime for the op cases)

Independent of the C code: frequencies, 2-D tables, the rotation and the tile-grid rule are
written again here from the conventions stated in rope.h, in float64 (the tile rule with exact
fractions). The ONNX RotaryEmbedding cases take their expected outputs from onnxruntime and
are cross-checked here against onnx's reference evaluator and this script's own rotation.

Files (text: one "key v1 v2 ..." line per field, cases between "case NAME" and "end"):
    rope/freqs.txt    per case n_freq theta kind s train_len alpha beta -> freq
    rope/tables.txt   per case the td_rope2d_cfg fields and the grid -> mscale cos sin
    rope/apply.txt    x [batch, heads, seq, dim], tables, rot -> y for both pairings
    rope/tiles.txt    one line per image: W H tile min max slack thumb -> cols rows
    rope/onnx/<case>/model.onnx, test_data_set_0/input_K.pb, output_0.pb
    rope/README.txt   versions that produced them
"""
import os
import shutil
import sys
from fractions import Fraction

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "rope")

NONE, NTK, YARN = 0, 1, 2
SPLIT, ALTERNATE = 0, 1


# ---- frequencies ----

def yarn_ramp(r, alpha, beta):
    if r < alpha:
        return 0.0
    if r > beta:
        return 1.0
    return (r - alpha) / (beta - alpha)


def yarn_mscale(s):
    return 0.1 * np.log(s) + 1.0 if s > 1 else 1.0


def freqs(n, theta, kind=NONE, s=1.0, train_len=0.0, alpha=1.0, beta=32.0):
    d = 2.0 * n
    base = theta
    if kind == NTK and n > 1:
        base = theta * s ** (d / (d - 2.0))
    w = base ** (-2.0 * np.arange(n) / d)
    if kind == YARN:
        r = train_len * w / (2 * np.pi)
        g = np.array([yarn_ramp(x, alpha, beta) for x in r])
        w = (1 - g) * w / s + g * w
    return w


# ---- 2-D tables ----

def default_cfg(rot_dim):
    return dict(rot_dim=rot_dim, theta=10000.0, axes=SPLIT, centered=0, offset_h=0.0,
                offset_w=0.0, scaling=NONE, train_h=0, train_w=0, scale_h=0.0, scale_w=0.0,
                alpha=1.0, beta=32.0, attn_scale=0.0, fold=1)


def axis_scale(cfg, given, train, target):
    if cfg["scaling"] == NONE:
        return 1.0
    if given:
        return given
    return max(1.0, target / train)


def tables2d(cfg, H, W):
    n = cfg["rot_dim"] // 4
    sh = axis_scale(cfg, cfg["scale_h"], cfg["train_h"], H)
    sw = axis_scale(cfg, cfg["scale_w"], cfg["train_w"], W)
    kw = dict(kind=cfg["scaling"], alpha=cfg["alpha"], beta=cfg["beta"])
    fh = freqs(n, cfg["theta"], s=sh, train_len=cfg["train_h"], **kw)
    fw = freqs(n, cfg["theta"], s=sw, train_len=cfg["train_w"], **kw)
    m = 1.0
    if cfg["scaling"] == YARN:
        m = yarn_mscale(cfg["attn_scale"] if cfg["attn_scale"] > 0 else sh * sw)
    fold = m if cfg["fold"] else 1.0
    y = np.arange(H) - ((H - 1) / 2 if cfg["centered"] else 0) + cfg["offset_h"]
    x = np.arange(W) - ((W - 1) / 2 if cfg["centered"] else 0) + cfg["offset_w"]
    P = 2 * n
    ang = np.zeros((H, W, P))
    for k in range(P):
        if cfg["axes"] == SPLIT:
            row, a = (k < n), (k if k < n else k - n)
        else:
            row, a = (k % 2 == 0), k // 2
        ang[:, :, k] = (y[:, None] * fh[a]) if row else (x[None, :] * fw[a])
    ang = ang.reshape(H * W, P)
    return np.cos(ang) * fold, np.sin(ang) * fold, m


# ---- rotation (the ONNX formula, any float type) ----

def rotate(x, cos, sin, rot, interleaved):
    """x [B, heads, S, dim], cos/sin [S, rot/2]."""
    y = x.copy()
    xr = x[..., :rot]
    if interleaved:
        a, b = xr[..., 0::2], xr[..., 1::2]
    else:
        a, b = xr[..., : rot // 2], xr[..., rot // 2:]
    c, s = cos[None, None], sin[None, None]
    ra, rb = a * c - b * s, a * s + b * c
    if interleaved:
        y[..., 0:rot:2], y[..., 1:rot:2] = ra, rb
    else:
        y[..., : rot // 2], y[..., rot // 2: rot] = ra, rb
    return y


# ---- tile grid ----

def tile_grid(W, H, tile, lo, hi, slack):
    """The rule of rope.h: nearest aspect in log space (exact), then area, then columns."""
    target = Fraction(W, H)
    best = None
    for c in range(1, hi + 1):
        for r in range(1, hi // c + 1):
            if c * r < lo:
                continue
            q = Fraction(c, r) / target
            dist = q if q >= 1 else 1 / q
            fits = c * r * tile * tile <= slack * W * H
            # key: smaller distance, then fitting, then (fits: larger n, else smaller n), cols
            key = (dist, 0 if fits else 1, -(c * r) if fits else c * r, -c)
            if best is None or key < best[0]:
                best = (key, c, r)
    return best[1], best[2]


# ---- writers ----

def fmt(v):
    return " ".join(repr(float(x)) for x in np.ravel(v))


def write_case(f, name, fields):
    f.write("case %s\n" % name)
    for k, v in fields:
        f.write("%s %s\n" % (k, fmt(v)))
    f.write("end\n")


FREQ_CASES = [
    # name, n_freq, theta, kind, s, train_len, alpha, beta
    ("plain_8", 8, 10000.0, NONE, 1.0, 0.0, 1.0, 32.0),
    ("ntk_8_s4", 8, 10000.0, NTK, 4.0, 0.0, 1.0, 32.0),
    ("ntk_1_s4", 1, 10000.0, NTK, 4.0, 0.0, 1.0, 32.0),
    ("yarn_32_s8_llama", 32, 10000.0, YARN, 8.0, 4096.0, 1.0, 32.0),
    ("yarn_16_s2_axis", 16, 100.0, YARN, 2.0, 24.0, 0.5, 8.0),
    ("yarn_8_s1", 8, 10000.0, YARN, 1.0, 64.0, 1.0, 32.0),
]


def table_cases():
    out = []
    c = default_cfg(8)
    c["theta"] = 100.0
    out.append(("plain_2x3_d8", c, 2, 3))
    c = default_cfg(16)
    c.update(axes=ALTERNATE, centered=1, offset_h=0.5, offset_w=-1.25)
    out.append(("alt_centered_3x5_d16", c, 3, 5))
    c = default_cfg(16)
    c.update(scaling=NTK, train_h=3, train_w=2)
    out.append(("ntk_6x4_d16", c, 6, 4))
    c = default_cfg(32)
    c.update(scaling=YARN, train_h=256, train_w=40, scale_h=4.0, scale_w=2.5)
    out.append(("yarn_explicit_3x5_d32", c, 3, 5))
    c = default_cfg(8)
    c.update(scaling=YARN, train_h=2, train_w=2, fold=0, theta=50.0, alpha=0.25, beta=2.0)
    out.append(("yarn_derived_4x3_d8", c, 4, 3))
    c = default_cfg(8)
    c.update(scaling=YARN, train_h=2, train_w=8, attn_scale=3.0, axes=ALTERNATE)
    out.append(("yarn_attn_3x4_d8", c, 3, 4))
    return out


CFG_KEYS = ["rot_dim", "theta", "axes", "centered", "offset_h", "offset_w", "scaling", "train_h",
            "train_w", "scale_h", "scale_w", "alpha", "beta", "attn_scale", "fold"]


def write_freqs():
    with open(os.path.join(OUT, "freqs.txt"), "w") as f:
        f.write("# tools/rope_reference.py: rope frequencies (float64)\n")
        for name, n, theta, kind, s, L, a, b in FREQ_CASES:
            w = freqs(n, theta, kind, s, L, a, b)
            write_case(f, name, [("params", [n, theta, kind, s, L, a, b]), ("freq", w)])


def write_tables():
    with open(os.path.join(OUT, "tables.txt"), "w") as f:
        f.write("# tools/rope_reference.py: 2-D rope tables (float64), cfg fields in order:\n")
        f.write("# %s\n" % " ".join(CFG_KEYS))
        for name, cfg, H, W in table_cases():
            c, s, m = tables2d(cfg, H, W)
            write_case(f, name, [("cfg", [cfg[k] for k in CFG_KEYS]), ("grid", [H, W]),
                                 ("mscale", [m]), ("cos", c), ("sin", s)])


def write_apply():
    rng = np.random.default_rng(6)
    B, NH, H, W, D, rot = 2, 2, 2, 3, 12, 8
    cfg = table_cases()[0][1]
    c, s, _ = tables2d(cfg, H, W)
    c32, s32 = c.astype(np.float32), s.astype(np.float32)
    x = rng.standard_normal((B, NH, H * W, D)).astype(np.float32)
    xd, cd, sd = x.astype(np.float64), c32.astype(np.float64), s32.astype(np.float64)
    with open(os.path.join(OUT, "apply.txt"), "w") as f:
        f.write("# tools/rope_reference.py: rotation of float32 x by float32 tables, in float64\n")
        write_case(f, "grid_2x3_d12_rot8", [
            ("shape", [B, NH, H * W, D, rot]), ("x", x), ("cos", c32), ("sin", s32),
            ("y_interleaved", rotate(xd, cd, sd, rot, True)),
            ("y_halves", rotate(xd, cd, sd, rot, False))])


def write_tiles():
    rng = np.random.default_rng(448)
    rows = []
    fixed = [(448, 448), (1920, 1080), (1080, 1920), (1024, 768), (4480, 448), (448, 4480),
             (800, 800), (900, 900), (1, 1), (10, 1000), (3000, 10)]
    for W, H in fixed:
        rows.append((W, H, 448, 1, 12, 2.0, 1))
    for _ in range(300):
        W = int(np.exp(rng.uniform(0, np.log(8000))))
        H = int(np.exp(rng.uniform(0, np.log(8000))))
        tile = int(rng.choice([224, 336, 448, 512]))
        lo = int(rng.integers(1, 4))
        hi = int(rng.integers(lo, 41))
        slack = float(rng.choice([1.0, 1.5, 2.0, 4.0]))
        rows.append((W, H, tile, lo, hi, slack, int(rng.integers(0, 2))))
    with open(os.path.join(OUT, "tiles.txt"), "w") as f:
        f.write("# tools/rope_reference.py: W H tile min_tiles max_tiles area_slack thumbnail "
                "-> cols rows (exact fractions)\n")
        for W, H, tile, lo, hi, slack, th in rows:
            c, r = tile_grid(W, H, tile, lo, hi, slack)
            f.write("%d %d %d %d %d %r %d %d %d\n" % (W, H, tile, lo, hi, slack, th, c, r))


# ---- ONNX RotaryEmbedding cases ----

def onnx_cases():
    """(name, attrs, inputs as (name, array), with position_ids?)"""
    rng = np.random.default_rng(23)
    cases = []
    # 2-D RoPE of a 3x4 grid through the op: halves, caches by position_ids.
    cfg = default_cfg(16)
    cfg.update(theta=100.0, centered=1)
    c, s, _ = tables2d(cfg, 3, 4)
    x = rng.standard_normal((2, 3, 12, 16)).astype(np.float32)
    pos = np.tile(np.arange(12, dtype=np.int64), (2, 1))
    cases.append(("grid2d_halves_pos", dict(interleaved=0),
                  [("X", x), ("cos_cache", c.astype(np.float32)),
                   ("sin_cache", s.astype(np.float32)), ("position_ids", pos)]))
    # 4-D interleaved, partial rotation (8 of 12), 3-D caches without position_ids.
    cfg = default_cfg(8)
    cfg.update(scaling=YARN, train_h=2, train_w=2, axes=ALTERNATE)
    c, s, _ = tables2d(cfg, 2, 3)
    x = rng.standard_normal((2, 2, 6, 12)).astype(np.float32)
    c3 = np.stack([c, c[::-1]]).astype(np.float32)  # a different table per batch item
    s3 = np.stack([s, s[::-1]]).astype(np.float32)
    cases.append(("partial_interleaved_nopos", dict(interleaved=1, rotary_embedding_dim=8),
                  [("X", x), ("cos_cache", c3), ("sin_cache", s3)]))
    # 3-D input [B, S, heads*head] with num_heads, interleaved, scattered positions.
    ang = np.arange(10)[:, None] * freqs(5, 10000.0)[None, :]
    x = rng.standard_normal((2, 4, 3 * 10)).astype(np.float32)
    pos = np.array([[0, 3, 9, 1], [7, 7, 2, 5]], dtype=np.int64)
    cases.append(("hidden3d_interleaved_pos", dict(interleaved=1, num_heads=3),
                  [("X", x), ("cos_cache", np.cos(ang).astype(np.float32)),
                   ("sin_cache", np.sin(ang).astype(np.float32)), ("position_ids", pos)]))
    return cases


def own_rotation(attrs, feeds):
    """This script's rotation applied to the op's inputs (layouts of the ONNX spec)."""
    x = feeds["X"].astype(np.float64)
    shape = x.shape
    if x.ndim == 3:
        nh = attrs["num_heads"]
        x = x.reshape(shape[0], shape[1], nh, -1).transpose(0, 2, 1, 3)
    rot = attrs.get("rotary_embedding_dim", 0) or x.shape[-1]
    c, s = feeds["cos_cache"].astype(np.float64), feeds["sin_cache"].astype(np.float64)
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        if "position_ids" in feeds:
            cb, sb = c[feeds["position_ids"][b]], s[feeds["position_ids"][b]]
        else:
            cb, sb = c[b], s[b]
        out[b:b + 1] = rotate(x[b:b + 1], cb, sb, rot, attrs.get("interleaved", 0) == 1)
    if len(shape) == 3:
        out = out.transpose(0, 2, 1, 3).reshape(shape)
    return out


def write_onnx():
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    root = os.path.join(OUT, "onnx")
    shutil.rmtree(root, ignore_errors=True)
    for name, attrs, inputs in onnx_cases():
        names = [n for n, _ in inputs]
        node = helper.make_node("RotaryEmbedding", names, ["Y"], **attrs)
        g_in = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype),
                                              a.shape) for n, a in inputs]
        x = inputs[0][1]
        g_out = [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, x.shape)]
        model = helper.make_model(helper.make_graph([node], name, g_in, g_out),
                                  opset_imports=[helper.make_opsetid("", 23)])
        model.ir_version = 10
        onnx.checker.check_model(model, full_check=True)
        feeds = dict(inputs)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(model.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
        y = sess.run(None, feeds)[0]
        y_ref = ReferenceEvaluator(model).run(None, feeds)[0]
        y_own = own_rotation(attrs, feeds)
        for what, other in (("onnx reference", y_ref), ("rope_reference", y_own)):
            err = np.abs(y.astype(np.float64) - other).max()
            if err > 1e-5:
                sys.exit("%s: onnxruntime and %s differ by %g" % (name, what, err))
        d = os.path.join(root, name)
        os.makedirs(os.path.join(d, "test_data_set_0"))
        onnx.save(model, os.path.join(d, "model.onnx"))
        for i, (n, a) in enumerate(inputs):
            with open(os.path.join(d, "test_data_set_0", "input_%d.pb" % i), "wb") as f:
                f.write(numpy_helper.from_array(a, n).SerializeToString())
        with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(y, "Y").SerializeToString())
    return onnx.__version__, ort.__version__


def self_checks():
    """Facts the fixtures rely on, checked here too so a broken reference cannot pass."""
    # 2x3 grid, rot 8, theta 100: per-axis width 4, frequencies 1 and 0.1.
    c, s, _ = tables2d(table_cases()[0][1], 2, 3)
    p = 1 * 3 + 2  # row 1, column 2: angles 1, 0.1 (row), 2, 0.2 (column)
    assert np.allclose(np.arccos(c[p]), [1.0, 0.1, 2.0, 0.2])
    assert tile_grid(800, 800, 448, 1, 12, 2.0) == (2, 2)
    assert tile_grid(900, 900, 448, 1, 12, 2.0) == (2, 2)
    assert tile_grid(4480, 448, 448, 1, 12, 2.0) == (10, 1)


def main():
    self_checks()
    os.makedirs(OUT, exist_ok=True)
    write_freqs()
    write_tables()
    write_apply()
    write_tiles()
    versions = write_onnx()
    with open(os.path.join(OUT, "README.txt"), "w") as f:
        f.write("Written by tools/rope_reference.py (numpy %s, onnx %s, onnxruntime %s).\n"
                "Do not edit; rerun the script.\n" % (np.__version__, *versions))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
