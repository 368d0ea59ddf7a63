#!/usr/bin/env python3
"""Writes the attention fixtures in tests/fixtures/attention/ from outside oracles.

    /usr/bin/python3 tools/gen_attention_fixtures.py torch   # Debian's python3 with torch 1.13
    python3 tools/gen_attention_fixtures.py onnx              # onnxruntime (ONNX Attention-23)

torch: softmax(Q K^T * scale + causal mask) V computed in float64 by torch (K and V heads
repeated with repeat_interleave for grouped-query attention; the causal mask is torch's
top-left tril, which is also ONNX Attention's without a past), cross-checked against
torch.nn.functional._scaled_dot_product_attention in float64 where that private function
applies (default scale, no V of another width). These are the oracle for td_attention's kernels.

onnx: single-node ONNX Attention (opset 23) models run by onnxruntime's CPU provider with graph
optimizations off, and by onnx's reference evaluator as a second opinion (they must agree to
1e-5). These are the oracle for the graph operator (src/ops/codesign_attention.c): 4-D and
3-D inputs, grouped heads, boolean and float masks, the scale attribute, causal with
q_len != kv_len.

    python3 tools/gen_attention_fixtures.py onnx-node DIR     # ONNX's own Attention cases

onnx-node writes the onnx package's own Attention backend cases (opset 23-25) into DIR, outside
the repository, for TD_ONNX_NODE_DIR=DIR TD_ONNX_NODE_FILTER=attention test_onnx_node.

File format of the fixtures, one record per line:
    case <name>
    dims <batch> <q_heads> <kv_heads> <q_len> <kv_len> <head_dim> <v_dim>
    causal <0|1>
    scale <value, 0 = 1/sqrt(head_dim)>
    layout <bhsd|bshd>            bshd: ONNX 3-D inputs [B, S, H * D]
    mask <none|bool|float> <ndim> <dims...>
    m <values>                    the mask (0/1 for bool), when present
    q|k|v <f32 bits in hex ...>   inputs in their layout
    y <values>                    expected output in the output's layout (%.10g)
    end
"""
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "attention")


def hexes(a):
    return " ".join("%08x" % x for x in np.asarray(a, dtype=np.float32).ravel().view(np.uint32))


def decs(a):
    return " ".join("%.10g" % x for x in np.asarray(a, dtype=np.float64).ravel())


def write_case(f, name, dims, causal, scale, layout, q, k, v, y, mask=None, mask_kind="none"):
    f.write("case %s\n" % name)
    f.write("dims %s\n" % " ".join(str(d) for d in dims))
    f.write("causal %d\n" % causal)
    f.write("scale %.9g\n" % scale)
    f.write("layout %s\n" % layout)
    if mask is None:
        f.write("mask none 0\n")
    else:
        f.write("mask %s %d %s\n" % (mask_kind, mask.ndim, " ".join(str(d) for d in mask.shape)))
        f.write("m %s\n" % decs(mask.astype(np.float64)))
    f.write("q %s\nk %s\nv %s\n" % (hexes(q), hexes(k), hexes(v)))
    f.write("y %s\nend\n" % decs(y))


def structured(rng, shape, offset=0.0):
    """Normal values plus a per-channel offset, so K's mean is not zero (smoothing matters)."""
    x = rng.standard_normal(shape).astype(np.float32)
    return x + np.float32(offset) * rng.standard_normal(shape[-1]).astype(np.float32)


# ---- torch ----

def torch_attention(q, k, v, causal, scale):
    import torch
    hq, hkv = q.shape[1], k.shape[1]
    kk = torch.from_numpy(k).double().repeat_interleave(hq // hkv, dim=1)
    vv = torch.from_numpy(v).double().repeat_interleave(hq // hkv, dim=1)
    qq = torch.from_numpy(q).double()
    s = torch.matmul(qq, kk.transpose(-1, -2)) * scale
    if causal:
        sq, skv = q.shape[2], k.shape[2]
        keep = torch.ones(sq, skv, dtype=torch.bool).tril()
        s = s.masked_fill(~keep, float("-inf"))
    y = torch.matmul(torch.softmax(s, dim=-1), vv)
    return y, qq, kk, vv


def torch_cases():
    import torch
    import torch.nn.functional as F
    rng = np.random.default_rng(20251130)
    cases = [
        # name, B, Hq, Hkv, Sq, Skv, D, Dv, causal, scale (0: default)
        ("mha_odd", 1, 2, 2, 33, 33, 20, 20, 0, 0.0),
        ("gqa_causal_cross", 2, 4, 2, 13, 29, 12, 12, 1, 0.0),
        ("decode_mqa", 1, 2, 1, 1, 70, 16, 16, 0, 0.0),
        ("scale_vdim_causal", 1, 1, 1, 40, 40, 12, 20, 1, 0.3),
    ]
    path = os.path.join(OUT, "torch_cases.txt")
    with open(path, "w") as f:
        f.write("# torch %s float64 attention (tools/gen_attention_fixtures.py torch)\n"
                % torch.__version__)
        for name, b, hq, hkv, sq, skv, d, dv, causal, scale in cases:
            q = structured(rng, (b, hq, sq, d))
            k = structured(rng, (b, hkv, skv, d), offset=2.0)
            v = structured(rng, (b, hkv, skv, dv))
            sc = scale if scale else 1.0 / np.sqrt(d)
            y, qq, kk, vv = torch_attention(q, k, v, causal, sc)
            if not scale and d == dv:
                ref = F._scaled_dot_product_attention(qq, kk, vv, None, 0.0, False, bool(causal))
                err = (ref[0] - y).abs().max().item()
                assert err < 1e-12, "%s: _scaled_dot_product_attention differs by %g" % (name,
                                                                                         err)
            write_case(f, name, (b, hq, hkv, sq, skv, d, dv), causal, scale, "bhsd", q, k, v,
                       y.numpy())
    print("wrote", path)


# ---- onnxruntime ----

def onnx_cases():
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator
    rng = np.random.default_rng(20251201)
    cases = [
        # name, layout, B, Hq, Hkv, Sq, Skv, D, Dv, causal, scale, mask kind, mask shape
        ("onnx_gqa_causal_boolmask", "bhsd", 1, 4, 2, 9, 17, 8, 8, 1, 0.0, "bool", (9, 17)),
        ("onnx_3d_floatmask", "bshd", 2, 2, 1, 7, 11, 8, 8, 0, 0.0, "float", (1, 2, 7, 11)),
        ("onnx_scale_vdim", "bhsd", 1, 2, 2, 6, 6, 12, 4, 1, 0.25, "none", None),
    ]
    path = os.path.join(OUT, "onnx_cases.txt")
    with open(path, "w") as f:
        f.write("# onnxruntime %s, onnx %s: ONNX Attention opset 23 "
                "(tools/gen_attention_fixtures.py onnx)\n" % (ort.__version__, onnx.__version__))
        for name, layout, b, hq, hkv, sq, skv, d, dv, causal, scale, mk, mshape in cases:
            if layout == "bhsd":
                qs, ks, vs = (b, hq, sq, d), (b, hkv, skv, d), (b, hkv, skv, dv)
            else:
                qs, ks, vs = (b, sq, hq * d), (b, skv, hkv * d), (b, skv, hkv * dv)
            q = structured(rng, qs)
            k = structured(rng, ks, offset=1.0)
            v = structured(rng, vs)
            attrs = {"is_causal": causal}
            if scale:
                attrs["scale"] = scale
            if layout == "bshd":
                attrs["q_num_heads"] = hq
                attrs["kv_num_heads"] = hkv
            inputs = [helper.make_tensor_value_info("Q", TensorProto.FLOAT, qs),
                      helper.make_tensor_value_info("K", TensorProto.FLOAT, ks),
                      helper.make_tensor_value_info("V", TensorProto.FLOAT, vs)]
            feed = {"Q": q, "K": k, "V": v}
            mask = None
            if mk != "none":
                if mk == "bool":
                    mask = rng.random(mshape) > 0.3
                    mask[..., 0] = True  # every row keeps a key
                    et = TensorProto.BOOL
                else:
                    mask = rng.uniform(-2.0, 1.0, mshape).astype(np.float32)
                    et = TensorProto.FLOAT
                inputs.append(helper.make_tensor_value_info("M", et, mshape))
                feed["M"] = mask
            node = helper.make_node("Attention", list(feed), ["Y"], **attrs)
            graph = helper.make_graph([node], name, inputs,
                                      [helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                                                                     None)])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            sess = ort.InferenceSession(model.SerializeToString(), so,
                                        providers=["CPUExecutionProvider"])
            y = sess.run(None, feed)[0]
            y2 = ReferenceEvaluator(model).run(None, feed)[0]
            err = float(np.abs(y - y2).max())
            assert err < 1e-5, "%s: onnxruntime and the reference differ by %g" % (name, err)
            write_case(f, name, (b, hq, hkv, sq, skv, d, dv), causal, scale, layout, q, k, v, y,
                       mask, mk)
    print("wrote", path)


# ---- ONNX's own Attention test cases, for test_onnx_node ----

def onnx_node_cases(out):
    """Writes the Attention cases of the installed onnx package's backend test generators
    (onnx.backend.test.case.node) in the backend-test layout (model.onnx, test_data_set_0) under
    out, for `TD_ONNX_NODE_DIR=out TD_ONNX_NODE_FILTER=attention test_onnx_node`. Debian's
    libonnx-testdata predates the operator. Nothing is written into the repository."""
    import onnx
    from onnx import numpy_helper
    from onnx.backend.test.case import node
    count = 0
    for case in node.collect_testcases(None):
        if case.kind != "node" or not case.name.startswith("test_attention"):
            continue
        d = os.path.join(out, case.name, "test_data_set_0")
        os.makedirs(d, exist_ok=True)
        onnx.save(case.model, os.path.join(out, case.name, "model.onnx"))
        inputs, outputs = case.data_sets[0]
        for kind, values, infos in (("input", inputs, case.model.graph.input),
                                    ("output", outputs, case.model.graph.output)):
            for i, x in enumerate(values):
                t = numpy_helper.from_array(x, infos[i].name)
                with open(os.path.join(d, "%s_%d.pb" % (kind, i)), "wb") as f:
                    f.write(t.SerializeToString())
        count += 1
    print("wrote %d cases under %s" % (count, out))


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "onnx-node" and len(sys.argv) > 2:
        onnx_node_cases(sys.argv[2])
        return
    os.makedirs(OUT, exist_ok=True)
    if which == "torch":
        torch_cases()
    elif which == "onnx":
        onnx_cases()
    else:
        sys.exit("usage: gen_attention_fixtures.py torch|onnx|onnx-node DIR "
                 "(see the docstring for which python)")


if __name__ == "__main__":
    main()
