#!/usr/bin/env python3
"""Times onnxruntime on all-MiniLM-L6-v2, the baseline for Tandem's BERT benchmark.

    python3 tools/bench_minilm_ort.py [--onnx /tmp/minilm.onnx] [--threads 2] [--runs 50]

The model comes from tools/export_minilm_onnx.py. First checks it against the committed
fixtures: every sentence of tests/fixtures/minilm_token_ids.txt, run alone and unpadded, must
give an embedding with cosine > 0.9999 to tests/fixtures/minilm_embeddings.txt (the script
fails otherwise). Then times batch 1, sequence 128 (the ids of the fixture sentence that
fills 128 tokens, attention mask all ones), intra_op_num_threads as given, inter_op 1,
sequential execution, and prints one JSON line:
  {"median_ms": ..., "min_ms": ..., "runs": ..., "warmup": ..., "threads": ..., "seq": 128,
   "batch": 1, "onnxruntime": "<version>", "min_cosine": ...}
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def read_rows(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return [line.split() for line in f if line.strip() and not line.startswith("#")]


def fixture_ids():
    ids = []
    for i, row in enumerate(read_rows("minilm_token_ids.txt")):
        if int(row[0]) != i or int(row[1]) != len(row) - 2:
            sys.exit(f"minilm_token_ids.txt: malformed record {i}")
        ids.append(np.array(row[2:], dtype=np.int64))
    return ids


def fixture_embeddings():
    return np.array([row[1:] for row in read_rows("minilm_embeddings.txt")], dtype=np.float32)


def feeds(ids):
    ids = ids.reshape(1, -1)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def check(sess, ids, expected):
    worst = 1.0
    for i, seq in enumerate(ids):
        got = sess.run(["sentence_embedding"], feeds(seq))[0][0]
        cos = float(got @ expected[i] / (np.linalg.norm(got) * np.linalg.norm(expected[i])))
        worst = min(worst, cos)
    if worst <= 0.9999:
        sys.exit(f"onnx embeddings disagree with the fixtures: min cosine {worst}")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--onnx", default="/tmp/minilm.onnx")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.onnx, opts, providers=["CPUExecutionProvider"])

    ids = fixture_ids()
    worst = check(sess, ids, fixture_embeddings())
    full = [seq for seq in ids if len(seq) == 128]
    if not full:
        sys.exit("minilm_token_ids.txt has no 128-token sentence to time")
    inputs = feeds(full[0])
    for _ in range(args.warmup):
        sess.run(["sentence_embedding"], inputs)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        sess.run(["sentence_embedding"], inputs)
        times.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"median_ms": round(statistics.median(times), 3), "min_ms": round(min(times), 3),
                      "runs": args.runs, "warmup": args.warmup, "threads": args.threads, "seq": 128,
                      "batch": 1, "onnxruntime": ort.__version__, "min_cosine": worst}))


if __name__ == "__main__":
    main()
