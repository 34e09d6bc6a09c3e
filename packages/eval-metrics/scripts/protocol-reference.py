#!/usr/bin/env python3
"""Float64 NumPy reference for the optimum and llama.cpp perplexity protocols on a Llama.

Written from the protocols' sources (optimum/gptq/eval.py `evaluate_perplexity`; llama.cpp
examples/perplexity `perplexity`) and from HF LlamaForCausalLM semantics, not from slimlm's
TypeScript, so that @slimlm/eval-metrics can be checked against it.

  protocol-reference.py MODEL_FOLDER IDS_JSON OUT_JSON [--windows N]

IDS_JSON holds {"ids": [...]}: the token stream (BOS included as the tokenizer adds it). OUT_JSON
gets the ids, the per-window losses and the perplexity of each protocol on the first N windows of
512. Only numpy is needed.
"""

import argparse
import json
import math
import struct

import numpy as np

SEQLEN = 512


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = data[8 + header_len :]
    dtypes = {"F64": np.float64, "F32": np.float32, "F16": np.float16}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=np.dtype(dtypes[info["dtype"]]).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"]).astype(np.float64)
    return tensors


class Llama:
    def __init__(self, folder):
        with open(f"{folder}/config.json") as f:
            self.config = json.load(f)
        self.w = read_safetensors(f"{folder}/model.safetensors")

    def rms_norm(self, x, weight):
        eps = self.config["rms_norm_eps"]
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight

    def logits(self, ids):
        c, w = self.config, self.w
        heads, kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
        head_dim = c.get("head_dim") or c["hidden_size"] // heads
        t = len(ids)
        x = w["model.embed_tokens.weight"][np.asarray(ids)]
        inv_freq = 1.0 / (c.get("rope_theta", 10000.0) ** (np.arange(0, head_dim, 2) / head_dim))
        freqs = np.outer(np.arange(t), inv_freq)
        cos = np.cos(np.concatenate([freqs, freqs], axis=-1))
        sin = np.sin(np.concatenate([freqs, freqs], axis=-1))

        def rope(v):  # v: [heads, t, head_dim]; HF rotate_half
            half = head_dim // 2
            rotated = np.concatenate([-v[..., half:], v[..., :half]], axis=-1)
            return v * cos + rotated * sin

        mask = np.triu(np.full((t, t), -np.inf), k=1)
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            n = self.rms_norm(x, w[p + "input_layernorm.weight"])
            q = (n @ w[p + "self_attn.q_proj.weight"].T).reshape(t, heads, head_dim).transpose(1, 0, 2)
            k = (n @ w[p + "self_attn.k_proj.weight"].T).reshape(t, kv_heads, head_dim).transpose(1, 0, 2)
            v = (n @ w[p + "self_attn.v_proj.weight"].T).reshape(t, kv_heads, head_dim).transpose(1, 0, 2)
            q, k = rope(q), rope(k)
            group = heads // kv_heads
            k = np.repeat(k, group, axis=0)
            v = np.repeat(v, group, axis=0)
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            attended = (scores @ v).transpose(1, 0, 2).reshape(t, heads * head_dim)
            x = x + attended @ w[p + "self_attn.o_proj.weight"].T
            n = self.rms_norm(x, w[p + "post_attention_layernorm.weight"])
            gate = n @ w[p + "mlp.gate_proj.weight"].T
            up = n @ w[p + "mlp.up_proj.weight"].T
            x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
        x = self.rms_norm(x, w["model.norm.weight"])
        head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
        return x @ head.T


def log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def optimum(model, ids, windows):
    """optimum's evaluate_perplexity: mean loss of each 512 window times 512, summed, / (n * 512)."""
    nlls = []
    for i in range(windows):
        batch = ids[i * SEQLEN : (i + 1) * SEQLEN]
        lp = log_softmax(model.logits(batch))
        loss = -np.mean([lp[t, batch[t + 1]] for t in range(SEQLEN - 1)])
        nlls.append(loss * SEQLEN)
    return {"window_mean_nll": [n / SEQLEN for n in nlls], "ppl": math.exp(sum(nlls) / (windows * SEQLEN))}


def llama_cpp(model, ids, windows, bos):
    """llama.cpp perplexity: BOS first in each chunk, NLL of the second half only."""
    first = SEQLEN // 2
    nll, count, chunk_nll = 0.0, 0, []
    for i in range(windows):
        start = i * SEQLEN
        batch = list(ids[start : start + SEQLEN])
        batch[0] = bos
        lp = log_softmax(model.logits(batch))
        chunk = 0.0
        for j in range(first, SEQLEN - 1):
            chunk += -lp[j, ids[start + j + 1]]
            count += 1
        nll += chunk
        chunk_nll.append(chunk / (SEQLEN - 1 - first))
    return {"chunk_mean_nll": chunk_nll, "scored": count, "ppl": math.exp(nll / count)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("ids")
    parser.add_argument("out")
    parser.add_argument("--windows", type=int, default=4)
    args = parser.parse_args()
    with open(args.ids) as f:
        ids = json.load(f)["ids"][: args.windows * SEQLEN]
    model = Llama(args.model)
    result = {
        "_about": "Float64 NumPy reference (packages/eval-metrics/scripts/protocol-reference.py) of the "
        "optimum and llama.cpp perplexity protocols for the first windows of 512 of ids = the model's "
        "tokenizer on wiki.test.raw (BOS first); weights widened from their stored dtype to float64.",
        "windows": args.windows,
        "seqlen": SEQLEN,
        "ids": ids,
        "optimum": optimum(model, ids, args.windows),
        "llama.cpp": llama_cpp(model, ids, args.windows, model.config["bos_token_id"]),
    }
    with open(args.out, "w") as f:
        json.dump(result, f)
        f.write("\n")


if __name__ == "__main__":
    main()
