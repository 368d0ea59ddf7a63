#!/usr/bin/env python3
"""Writes tests/fixtures/moe/*.safetensors: mixture-of-experts layers computed in numpy float64,
an oracle independent of Tandem's C code for tests/test_moe.c.

Each file holds the inputs (x, router, expert weights; f32, as the C layer takes them) and the
expected routing and output, computed here from the rules written at the top of
include/tandem/moe.h:

  logits = x @ router (+ router_bias), float64
  ranking: allowed experts by logit descending, ties to the lower index (stable argsort)
  gates: topk_softmax = softmax of the k chosen logits; softmax_topk = softmax over allowed
         experts, chosen probabilities, divided by their sum when normalize
  capacity C = min(T, ceil(cf * T * k / A)); slots served slot-major, then token order;
  overflow drop (gate 0, expert -1) or reroute (next-best allowed expert with room not used by
  the token's other slots: earlier slots' assigned experts, later slots' choices; gate kept)
  y_t = sum_j gate_tj * (W_down act(W_up x_t + b_up) + b_down)   (SwiGLU: silu(W_gate x) * ...)
  load_cv = std/mean of the load over allowed experts, aux = A * sum_e f_e * P_e

Inputs are drawn so that every token's allowed logits are at least 1e-3 apart: the C code
computes the logits in f32, and a near tie would make its ranking legitimately differ.

Usage: python3 tools/gen_moe_fixtures.py   (numpy 2 and the safetensors package)
"""
import math
import os

import numpy as np
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "moe")
MIN_GAP = 1e-3

CASES = [
    dict(name="gelu_topk_drop", T=24, d=24, f=32, E=8, k=2, act="gelu", gating="topk_softmax",
         normalize=0, cf=1.0, overflow="drop", bias=True, router_bias=True, tasks=None, task=-1,
         seed=1),
    dict(name="swiglu_softmax_reroute", T=24, d=24, f=32, E=6, k=2, act="swiglu",
         gating="softmax_topk", normalize=1, cf=1.0, overflow="reroute", bias=False,
         router_bias=True, tasks=None, task=-1, seed=2),
    dict(name="silu_task_k1", T=20, d=16, f=24, E=8, k=1, act="silu", gating="softmax_topk",
         normalize=0, cf=1.0, overflow="reroute", bias=True, router_bias=False,
         tasks=[[1, 1, 1, 0, 0, 0, 0, 1], [0, 0, 1, 1, 1, 1, 0, 0], [1, 0, 0, 0, 0, 1, 1, 1]],
         task=1, seed=3),
    dict(name="gelu_nocap_k3", T=16, d=24, f=32, E=8, k=3, act="gelu", gating="topk_softmax",
         normalize=0, cf=math.inf, overflow="drop", bias=False, router_bias=False, tasks=None,
         task=-1, seed=4),
]


def allowed_mask(c):
    if c["tasks"] is None:
        return np.ones(c["E"], dtype=bool)
    return np.array(c["tasks"][c["task"]], dtype=bool)


def logits_of(c, x, w):
    l = x.astype(np.float64) @ w["router"].astype(np.float64)
    if "router_bias" in w:
        l = l + w["router_bias"].astype(np.float64)
    return l


def well_separated(l, allowed):
    v = np.sort(l[allowed])
    return len(v) < 2 or np.min(np.diff(v)) > MIN_GAP


def route(c, logits):
    T, E, k = c["T"], c["E"], c["k"]
    allowed = allowed_mask(c)
    A = int(allowed.sum())
    idx = np.nonzero(allowed)[0]
    ranking = []
    choice = np.zeros((T, k), dtype=np.int32)
    gate = np.zeros((T, k))
    probs = np.zeros((T, E))
    for t in range(T):
        la = logits[t, idx]
        order = idx[np.argsort(-la, kind="stable")]
        ranking.append(order)
        choice[t] = order[:k]
        p = np.zeros(E)
        ex = np.exp(la - la.max())
        p[idx] = ex / ex.sum()
        probs[t] = p
        if c["gating"] == "topk_softmax":
            z = logits[t, order[:k]]
            g = np.exp(z - z[0])
            gate[t] = g / g.sum()
        else:
            g = p[order[:k]]
            gate[t] = g / g.sum() if c["normalize"] else g
    cap = T if math.isinf(c["cf"]) else min(T, math.ceil(c["cf"] * T * k / A))
    load = np.zeros(E, dtype=np.int64)
    expert = np.full((T, k), -1, dtype=np.int32)
    dropped = rerouted = 0
    for j in range(k):
        for t in range(T):
            e = choice[t, j]
            if load[e] < cap:
                expert[t, j] = e
                load[e] += 1
                continue
            target = -1
            if c["overflow"] == "reroute":
                busy = set(expert[t, :j].tolist()) | set(choice[t, j + 1:].tolist())
                for cand in ranking[t]:
                    if load[cand] < cap and cand not in busy:
                        target = cand
                        break
            if target < 0:
                gate[t, j] = 0.0
                dropped += 1
            else:
                expert[t, j] = target
                load[target] += 1
                rerouted += 1
    la = load[allowed].astype(np.float64)
    cv = la.std() / la.mean() if la.mean() > 0 else 0.0
    f = np.array([(choice == e).sum() for e in range(E)]) / (T * k)
    aux = A * float(np.sum(f * probs.mean(axis=0)))
    return dict(choice=choice, expert=expert, gate=gate, load=load, capacity=cap,
                dropped=dropped, rerouted=rerouted, load_cv=cv, aux_loss=aux)


def act(name, v):
    if name == "gelu":
        erf = np.vectorize(math.erf)
        return 0.5 * v * (1.0 + erf(v / math.sqrt(2.0)))
    return v / (1.0 + np.exp(-v))


def expert_out(c, w, e, xt):
    x64 = xt.astype(np.float64)
    h = w["w_up"][e].astype(np.float64) @ x64
    if "b_up" in w:
        h = h + w["b_up"][e]
    if c["act"] == "swiglu":
        g = w["w_gate"][e].astype(np.float64) @ x64
        h = act("silu", g) * h
    else:
        h = act(c["act"], h)
    o = w["w_down"][e].astype(np.float64) @ h
    if "b_down" in w:
        o = o + w["b_down"][e]
    return o


def make_case(c):
    rng = np.random.default_rng(c["seed"])
    T, d, f, E = c["T"], c["d"], c["f"], c["E"]
    f32 = np.float32
    w = {
        "router": (rng.standard_normal((d, E)) / math.sqrt(d)).astype(f32),
        "w_up": (rng.standard_normal((E, f, d)) / math.sqrt(d)).astype(f32),
        "w_down": (rng.standard_normal((E, d, f)) / math.sqrt(f)).astype(f32),
    }
    if c["act"] == "swiglu":
        w["w_gate"] = (rng.standard_normal((E, f, d)) / math.sqrt(d)).astype(f32)
    if c["bias"]:
        w["b_up"] = (0.1 * rng.standard_normal((E, f))).astype(f32)
        w["b_down"] = (0.1 * rng.standard_normal((E, d))).astype(f32)
    if c["router_bias"]:
        # favour the first experts so capacity limits bite
        w["router_bias"] = np.linspace(0.8, -0.4, E).astype(f32)
    allowed = allowed_mask(c)
    x = np.zeros((T, d), dtype=f32)
    for t in range(T):
        while True:
            x[t] = rng.standard_normal(d).astype(f32)
            if well_separated(logits_of(c, x[t:t + 1], w)[0], allowed):
                break
    r = route(c, logits_of(c, x, w))
    y = np.zeros((T, d))
    for t in range(T):
        for j in range(c["k"]):
            if r["expert"][t, j] >= 0:
                y[t] += r["gate"][t, j] * expert_out(c, w, r["expert"][t, j], x[t])
    tensors = dict(w)
    tensors["x"] = x
    tensors["y"] = y
    for key in ("choice", "expert", "gate", "load"):
        tensors[key] = r[key]
    if c["tasks"] is not None:
        tensors["task_mask"] = np.array(c["tasks"], dtype=np.uint8)
    meta = {key: str(c[key]) for key in ("T", "d", "f", "E", "k", "act", "gating", "normalize",
                                           "overflow", "task")}
    meta["cf"] = "inf" if math.isinf(c["cf"]) else repr(c["cf"])
    meta["bias"] = str(int(c["bias"]))
    for key in ("capacity", "dropped", "rerouted"):
        meta[key] = str(r[key])
    meta["load_cv"] = repr(float(r["load_cv"]))
    meta["aux_loss"] = repr(float(r["aux_loss"]))
    meta["source"] = "tools/gen_moe_fixtures.py (numpy float64)"
    return tensors, meta, r


def main():
    os.makedirs(OUT, exist_ok=True)
    for c in CASES:
        tensors, meta, r = make_case(c)
        path = os.path.join(OUT, c["name"] + ".safetensors")
        save_file(tensors, path, metadata=meta)
        print(f"{c['name']}: capacity {r['capacity']}, dropped {r['dropped']}, rerouted "
              f"{r['rerouted']}, load {r['load'].tolist()}, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
