#!/usr/bin/env python3
"""Float64 NumPy reference for the GPT-family architectures of @slimlm/models.

An independent implementation of gpt2, gpt_neo, gpt_neox and opt as transformers computes them,
written from the transformers modeling files' semantics (not from slimlm's TypeScript). It reads
a folder holding config.json and model.safetensors (F32/F16/F64 tensors, Hugging Face names).

  numpy_reference.py generate [--out packages/models/test/golden]
      Writes the tiny random-init model folders (VARIANTS below) and, beside each,
      <name>-numpy.json with the logits of a single sequence and of a left-padded batch, and the
      greedy continuation of a prompt. The tests compare slimlm against these files.

  numpy_reference.py logits FOLDER ID [ID ...]
      Prints the logits [T, vocab] of one sequence as JSON.

Only numpy (>= 1.20) is needed.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

# ---------------------------------------------------------------------------------------------
# safetensors


_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = data[8 + header_len :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            continue  # integer buffers are never needed
        array = np.frombuffer(body[start:end], dtype=np.dtype(dtype).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"]).astype(np.float64)
    return tensors


def write_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    chunks = []
    offset = 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for raw in chunks:
            f.write(raw)


# ---------------------------------------------------------------------------------------------
# building blocks (float64)


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


_erf = np.vectorize(math.erf)


def activation(name, x):
    if name == "gelu":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if name in ("gelu_new", "gelu_fast", "gelu_pytorch_tanh"):
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    if name == "relu":
        return np.maximum(x, 0.0)
    raise ValueError(f"activation {name!r} is not in this reference")


def linear(x, weight, bias=None):
    """torch.nn.Linear: weight [out, in]."""
    y = x @ weight.T
    return y if bias is None else y + bias


def conv1d(x, weight, bias):
    """transformers Conv1D (GPT-2): weight [in, out]."""
    return x @ weight + bias


def split_heads(x, heads):
    b, t, e = x.shape
    return x.reshape(b, t, heads, e // heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    b, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * d)


def attention(q, k, v, allowed, scale):
    """q, k, v [B, H, T, D]; allowed [B, 1, T, T] booleans. Rows with no key come out as zeros."""
    scores = (q @ k.transpose(0, 1, 3, 2)) * scale
    scores = np.where(allowed, scores, -np.inf)
    top = scores.max(-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.exp(scores - top)
    total = weights.sum(-1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    return weights @ v


def masks(mask):
    """From an HF attention_mask [B, T] (1 real, 0 pad): allowed [B,1,T,T], generate's positions."""
    b, t = mask.shape
    causal = np.tril(np.ones((t, t), dtype=bool))
    allowed = causal[None, None] & (mask[:, None, None, :] != 0)
    positions = np.cumsum(mask, axis=1) - 1
    positions = np.where(mask == 0, 1, positions)
    return allowed, positions


# ---------------------------------------------------------------------------------------------
# architectures: logits(weights, config, ids [B, T], mask [B, T]) -> [B, T, vocab]


def gpt2_logits(w, c, ids, mask):
    p = "transformer."
    heads = c["n_head"]
    eps = c.get("layer_norm_epsilon", 1e-5)
    act = c.get("activation_function", "gelu_new")
    allowed, positions = masks(mask)
    h = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][positions]
    for i in range(c["n_layer"]):
        l = f"{p}h.{i}."
        x = layer_norm(h, w[l + "ln_1.weight"], w[l + "ln_1.bias"], eps)
        qkv = conv1d(x, w[l + "attn.c_attn.weight"], w[l + "attn.c_attn.bias"])
        q, k, v = (split_heads(part, heads) for part in np.split(qkv, 3, axis=-1))
        scale = 1.0 / math.sqrt(q.shape[-1]) if c.get("scale_attn_weights", True) else 1.0
        if c.get("scale_attn_by_inverse_layer_idx", False):
            scale /= i + 1
        a = merge_heads(attention(q, k, v, allowed, scale))
        h = h + conv1d(a, w[l + "attn.c_proj.weight"], w[l + "attn.c_proj.bias"])
        x = layer_norm(h, w[l + "ln_2.weight"], w[l + "ln_2.bias"], eps)
        x = activation(act, conv1d(x, w[l + "mlp.c_fc.weight"], w[l + "mlp.c_fc.bias"]))
        h = h + conv1d(x, w[l + "mlp.c_proj.weight"], w[l + "mlp.c_proj.bias"])
    h = layer_norm(h, w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps)
    return h @ w.get("lm_head.weight", w[p + "wte.weight"]).T


def gpt_neo_logits(w, c, ids, mask):
    p = "transformer."
    heads = c["num_heads"]
    eps = c.get("layer_norm_epsilon", 1e-5)
    act = c.get("activation_function", "gelu_new")
    layers = []
    for pattern, repeat in c["attention_types"]:
        layers += pattern * repeat
    allowed, positions = masks(mask)
    t = ids.shape[1]
    i_idx, j_idx = np.meshgrid(np.arange(t), np.arange(t), indexing="ij")
    local = allowed & ((i_idx - j_idx) < c["window_size"])[None, None]
    h = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][positions]
    for i in range(c["num_layers"]):
        l = f"{p}h.{i}."
        x = layer_norm(h, w[l + "ln_1.weight"], w[l + "ln_1.bias"], eps)
        q, k, v = (split_heads(linear(x, w[f"{l}attn.attention.{n}_proj.weight"]), heads) for n in "qkv")
        a = attention(q, k, v, local if layers[i] == "local" else allowed, 1.0)
        h = h + linear(merge_heads(a), w[l + "attn.attention.out_proj.weight"], w[l + "attn.attention.out_proj.bias"])
        x = layer_norm(h, w[l + "ln_2.weight"], w[l + "ln_2.bias"], eps)
        x = activation(act, linear(x, w[l + "mlp.c_fc.weight"], w[l + "mlp.c_fc.bias"]))
        h = h + linear(x, w[l + "mlp.c_proj.weight"], w[l + "mlp.c_proj.bias"])
    h = layer_norm(h, w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps)
    return h @ w.get("lm_head.weight", w[p + "wte.weight"]).T


def rotate(x, positions, dim, base):
    """HF rotate_half RoPE on the first `dim` channels of x [B, H, T, D]; positions [B, T]."""
    if dim == 0:
        return x
    inv_freq = 1.0 / base ** (np.arange(0, dim, 2) / dim)
    angles = positions[:, None, :, None] * inv_freq  # [B, 1, T, dim/2]
    angles = np.concatenate([angles, angles], axis=-1)
    rot, rest = x[..., :dim], x[..., dim:]
    half = dim // 2
    rotated = np.concatenate([-rot[..., half:], rot[..., :half]], axis=-1)
    return np.concatenate([rot * np.cos(angles) + rotated * np.sin(angles), rest], axis=-1)


def gpt_neox_logits(w, c, ids, mask):
    p = "gpt_neox."
    heads = c["num_attention_heads"]
    head_dim = c["hidden_size"] // heads
    rot = int(head_dim * c.get("rotary_pct", 0.25))
    base = c.get("rotary_emb_base", 10000)
    eps = c.get("layer_norm_eps", 1e-5)
    act = c.get("hidden_act", "gelu")
    bias = c.get("attention_bias", True)
    allowed, positions = masks(mask)
    h = w[p + "embed_in.weight"][ids]
    b, t, _ = h.shape
    for i in range(c["num_hidden_layers"]):
        l = f"{p}layers.{i}."
        x = layer_norm(h, w[l + "input_layernorm.weight"], w[l + "input_layernorm.bias"], eps)
        qkv = linear(x, w[l + "attention.query_key_value.weight"], w.get(l + "attention.query_key_value.bias") if bias else None)
        qkv = qkv.reshape(b, t, heads, 3 * head_dim).transpose(0, 2, 1, 3)
        q, k, v = qkv[..., :head_dim], qkv[..., head_dim : 2 * head_dim], qkv[..., 2 * head_dim :]
        q, k = rotate(q, positions, rot, base), rotate(k, positions, rot, base)
        a = merge_heads(attention(q, k, v, allowed, head_dim**-0.5))
        a = linear(a, w[l + "attention.dense.weight"], w.get(l + "attention.dense.bias") if bias else None)

        def mlp(y):
            y = layer_norm(y, w[l + "post_attention_layernorm.weight"], w[l + "post_attention_layernorm.bias"], eps)
            y = activation(act, linear(y, w[l + "mlp.dense_h_to_4h.weight"], w[l + "mlp.dense_h_to_4h.bias"]))
            return linear(y, w[l + "mlp.dense_4h_to_h.weight"], w[l + "mlp.dense_4h_to_h.bias"])

        if c.get("use_parallel_residual", True):
            h = h + a + mlp(h)
        else:
            h = h + a
            h = h + mlp(h)
    h = layer_norm(h, w[p + "final_layer_norm.weight"], w[p + "final_layer_norm.bias"], eps)
    head = w.get("embed_out.weight")
    if head is None:
        head = w[p + "embed_in.weight"]
    return h @ head.T


def opt_logits(w, c, ids, mask):
    p = "model.decoder."
    heads = c["num_attention_heads"]
    head_dim = c["hidden_size"] // heads
    pre = c.get("do_layer_norm_before", True)
    act = c.get("activation_function", "relu")
    eps = 1e-5
    allowed, _ = masks(mask)
    positions = np.cumsum(mask, axis=1) * mask - 1 + 2  # OPTLearnedPositionalEmbedding

    def ln(name, y):
        return layer_norm(y, w[name + ".weight"], w[name + ".bias"], eps)

    h = w[p + "embed_tokens.weight"][ids]
    if p + "project_in.weight" in w:
        h = linear(h, w[p + "project_in.weight"])
    h = h + w[p + "embed_positions.weight"][positions]
    for i in range(c["num_hidden_layers"]):
        l = f"{p}layers.{i}."
        x = ln(l + "self_attn_layer_norm", h) if pre else h
        proj = {n: linear(x, w[f"{l}self_attn.{n}_proj.weight"], w[f"{l}self_attn.{n}_proj.bias"]) for n in "qkv"}
        q = split_heads(proj["q"] * head_dim**-0.5, heads)
        a = attention(q, split_heads(proj["k"], heads), split_heads(proj["v"], heads), allowed, 1.0)
        h = h + linear(merge_heads(a), w[l + "self_attn.out_proj.weight"], w[l + "self_attn.out_proj.bias"])
        if not pre:
            h = ln(l + "self_attn_layer_norm", h)
        x = ln(l + "final_layer_norm", h) if pre else h
        x = activation(act, linear(x, w[l + "fc1.weight"], w[l + "fc1.bias"]))
        h = h + linear(x, w[l + "fc2.weight"], w[l + "fc2.bias"])
        if not pre:
            h = ln(l + "final_layer_norm", h)
    if pre and not c.get("_remove_final_layer_norm", False):
        h = ln(p + "final_layer_norm", h)
    if p + "project_out.weight" in w:
        h = linear(h, w[p + "project_out.weight"])
    return h @ w.get("lm_head.weight", w[p + "embed_tokens.weight"]).T


LOGITS = {"gpt2": gpt2_logits, "gpt_neo": gpt_neo_logits, "gpt_neox": gpt_neox_logits, "opt": opt_logits}


def load(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    return config, read_safetensors(os.path.join(folder, "model.safetensors"))


def logits(config, weights, ids, mask=None):
    ids = np.asarray(ids, dtype=np.int64)
    mask = np.ones_like(ids) if mask is None else np.asarray(mask, dtype=np.int64)
    return LOGITS[config["model_type"]](weights, config, ids, mask)


# ---------------------------------------------------------------------------------------------
# tiny random-init variants and the golden cases

VOCAB = 64
VARIANTS = {
    "gpt2": {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": VOCAB,
        "n_embd": 32, "n_head": 4, "n_layer": 2, "n_positions": 32, "n_inner": 64,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "scale_attn_weights": True,
        "bos_token_id": 0, "eos_token_id": 0, "tie_word_embeddings": True,
    },
    "gpt_neo": {
        "model_type": "gpt_neo", "architectures": ["GPTNeoForCausalLM"], "vocab_size": VOCAB,
        "hidden_size": 32, "num_heads": 4, "num_layers": 2, "max_position_embeddings": 32,
        "attention_types": [[["global", "local"], 1]], "attention_layers": ["global", "local"],
        "window_size": 4, "intermediate_size": 64, "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5, "bos_token_id": 0, "eos_token_id": 0, "tie_word_embeddings": True,
    },
    "gpt_neox": {
        "model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"], "vocab_size": VOCAB,
        "hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 64,
        "max_position_embeddings": 32, "rotary_pct": 0.5, "rotary_emb_base": 10000, "hidden_act": "gelu",
        "layer_norm_eps": 1e-5, "use_parallel_residual": True, "attention_bias": True,
        "bos_token_id": 0, "eos_token_id": 0, "tie_word_embeddings": False,
    },
    "gpt_neox-sequential": {
        "model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"], "vocab_size": VOCAB,
        "hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 64,
        "max_position_embeddings": 32, "rotary_pct": 0.25, "rotary_emb_base": 500, "hidden_act": "gelu_new",
        "layer_norm_eps": 1e-6, "use_parallel_residual": False, "attention_bias": False,
        "bos_token_id": 0, "eos_token_id": 0, "tie_word_embeddings": False,
    },
    "opt": {
        "model_type": "opt", "architectures": ["OPTForCausalLM"], "vocab_size": VOCAB,
        "hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2, "ffn_dim": 64,
        "max_position_embeddings": 32, "word_embed_proj_dim": 32, "do_layer_norm_before": True,
        "activation_function": "relu", "enable_bias": True, "pad_token_id": 1, "bos_token_id": 2,
        "eos_token_id": 2, "tie_word_embeddings": True,
    },
    "opt-postln": {
        "model_type": "opt", "architectures": ["OPTForCausalLM"], "vocab_size": VOCAB,
        "hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2, "ffn_dim": 64,
        "max_position_embeddings": 32, "word_embed_proj_dim": 16, "do_layer_norm_before": False,
        "activation_function": "relu", "enable_bias": True, "pad_token_id": 1, "bos_token_id": 2,
        "eos_token_id": 2, "tie_word_embeddings": True,
    },
}


def parameter_shapes(c):
    """Hugging Face names and shapes of every parameter save_pretrained writes (tied heads left out)."""
    t = c["model_type"]
    shapes = {}
    if t == "gpt2":
        e, inner = c["n_embd"], c["n_inner"] or 4 * c["n_embd"]
        shapes["transformer.wte.weight"] = (c["vocab_size"], e)
        shapes["transformer.wpe.weight"] = (c["n_positions"], e)
        for i in range(c["n_layer"]):
            l = f"transformer.h.{i}."
            for n in ("ln_1", "ln_2"):
                shapes[l + n + ".weight"] = shapes[l + n + ".bias"] = (e,)
            for n, (fan_in, fan_out) in {"attn.c_attn": (e, 3 * e), "attn.c_proj": (e, e), "mlp.c_fc": (e, inner), "mlp.c_proj": (inner, e)}.items():
                shapes[l + n + ".weight"], shapes[l + n + ".bias"] = (fan_in, fan_out), (fan_out,)
        shapes["transformer.ln_f.weight"] = shapes["transformer.ln_f.bias"] = (e,)
    elif t == "gpt_neo":
        e, inner = c["hidden_size"], c["intermediate_size"] or 4 * c["hidden_size"]
        shapes["transformer.wte.weight"] = (c["vocab_size"], e)
        shapes["transformer.wpe.weight"] = (c["max_position_embeddings"], e)
        for i in range(c["num_layers"]):
            l = f"transformer.h.{i}."
            for n in ("ln_1", "ln_2"):
                shapes[l + n + ".weight"] = shapes[l + n + ".bias"] = (e,)
            for n in "qkv":
                shapes[f"{l}attn.attention.{n}_proj.weight"] = (e, e)
            shapes[l + "attn.attention.out_proj.weight"], shapes[l + "attn.attention.out_proj.bias"] = (e, e), (e,)
            shapes[l + "mlp.c_fc.weight"], shapes[l + "mlp.c_fc.bias"] = (inner, e), (inner,)
            shapes[l + "mlp.c_proj.weight"], shapes[l + "mlp.c_proj.bias"] = (e, inner), (e,)
        shapes["transformer.ln_f.weight"] = shapes["transformer.ln_f.bias"] = (e,)
    elif t == "gpt_neox":
        e, inner, bias = c["hidden_size"], c["intermediate_size"], c["attention_bias"]
        shapes["gpt_neox.embed_in.weight"] = (c["vocab_size"], e)
        for i in range(c["num_hidden_layers"]):
            l = f"gpt_neox.layers.{i}."
            for n in ("input_layernorm", "post_attention_layernorm"):
                shapes[l + n + ".weight"] = shapes[l + n + ".bias"] = (e,)
            shapes[l + "attention.query_key_value.weight"] = (3 * e, e)
            shapes[l + "attention.dense.weight"] = (e, e)
            if bias:
                shapes[l + "attention.query_key_value.bias"], shapes[l + "attention.dense.bias"] = (3 * e,), (e,)
            shapes[l + "mlp.dense_h_to_4h.weight"], shapes[l + "mlp.dense_h_to_4h.bias"] = (inner, e), (inner,)
            shapes[l + "mlp.dense_4h_to_h.weight"], shapes[l + "mlp.dense_4h_to_h.bias"] = (e, inner), (e,)
        shapes["gpt_neox.final_layer_norm.weight"] = shapes["gpt_neox.final_layer_norm.bias"] = (e,)
        shapes["embed_out.weight"] = (c["vocab_size"], e)
    elif t == "opt":
        e, ffn, proj = c["hidden_size"], c["ffn_dim"], c["word_embed_proj_dim"]
        p = "model.decoder."
        shapes[p + "embed_tokens.weight"] = (c["vocab_size"], proj)
        shapes[p + "embed_positions.weight"] = (c["max_position_embeddings"] + 2, e)
        if proj != e:
            shapes[p + "project_out.weight"], shapes[p + "project_in.weight"] = (proj, e), (e, proj)
        if c["do_layer_norm_before"]:
            shapes[p + "final_layer_norm.weight"] = shapes[p + "final_layer_norm.bias"] = (e,)
        for i in range(c["num_hidden_layers"]):
            l = f"{p}layers.{i}."
            for n in ("k_proj", "v_proj", "q_proj", "out_proj"):
                shapes[f"{l}self_attn.{n}.weight"], shapes[f"{l}self_attn.{n}.bias"] = (e, e), (e,)
            for n in ("self_attn_layer_norm", "final_layer_norm"):
                shapes[l + n + ".weight"] = shapes[l + n + ".bias"] = (e,)
            shapes[l + "fc1.weight"], shapes[l + "fc1.bias"] = (ffn, e), (ffn,)
            shapes[l + "fc2.weight"], shapes[l + "fc2.bias"] = (e, ffn), (e,)
    return shapes


def random_weights(shapes, seed, conv1d_layout):
    """Weights with O(1) activations (std 1/sqrt(fan_in)), so that logits spread and greedy ids
    are stable; norm weights near 1, biases small. `conv1d_layout`: matrices are [in, out] (GPT-2)."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in shapes.items():
        if len(shape) == 1:
            is_norm = name.endswith("norm.weight") or (".ln_" in name and name.endswith(".weight"))
            weights[name] = (1.0 if is_norm else 0.0) + 0.1 * rng.standard_normal(shape)
        elif "embed_" in name or name.endswith(("wte.weight", "wpe.weight")):
            # Small enough that the blocks, not the token's own (tied) embedding, decide the logits.
            weights[name] = 0.3 * rng.standard_normal(shape)
        else:
            fan_in = shape[0] if conv1d_layout else shape[1]
            weights[name] = rng.standard_normal(shape) / math.sqrt(fan_in)
    return {name: array.astype(np.float32) for name, array in weights.items()}


PROMPT = [3, 17, 42, 8, 9, 60, 25, 33]
PADDED = ([[0, 0, 0, 5, 11, 47, 20, 2], [7, 30, 14, 50, 6, 19, 44, 12]], [[0, 0, 0, 1, 1, 1, 1, 1], [1] * 8])
NEW_TOKENS = 6


def rounded(array):
    return [float(f"{x:.9g}") for x in array]


def greedy(config, weights, prompt, count):
    ids = list(prompt)
    margins = []
    for _ in range(count):
        last = logits(config, weights, [ids])[0, -1]
        top = np.sort(last)[-2:]
        margins.append(float(top[1] - top[0]))
        ids.append(int(np.argmax(last)))
    return ids[len(prompt) :], min(margins)


def golden_cases(config, weights):
    single = logits(config, weights, [PROMPT])
    ids, mask = PADDED
    padded = logits(config, weights, ids, mask)
    padded_rows = [
        [rounded(padded[b, t]) if mask[b][t] else None for t in range(len(ids[b]))] for b in range(len(ids))
    ]
    tokens, margin = greedy(config, weights, PROMPT, NEW_TOKENS)
    return {
        "cases": [
            {"name": "single", "inputIds": [PROMPT], "logits": [[rounded(row) for row in single[0]]]},
            {"name": "left-padded", "inputIds": ids, "attentionMask": mask, "logits": padded_rows},
        ],
        "greedy": {"prompt": PROMPT, "tokens": tokens, "minTop2Margin": margin},
    }


def generate(out):
    os.makedirs(out, exist_ok=True)
    for seed, (name, config) in enumerate(VARIANTS.items()):
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        weights = random_weights(parameter_shapes(config), seed, config["model_type"] == "gpt2")
        if config["model_type"] == "gpt2":
            # Older GPT-2 exports also hold the causal-mask buffers; loaders must skip them.
            for i in range(config["n_layer"]):
                n = config["n_positions"]
                weights[f"transformer.h.{i}.attn.bias"] = np.tril(np.ones((n, n), dtype=np.float32))[None, None]
                weights[f"transformer.h.{i}.attn.masked_bias"] = np.array(-1e4, dtype=np.float32)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump({**config, "torch_dtype": "float32"}, f, indent=2)
            f.write("\n")
        write_safetensors(os.path.join(folder, "model.safetensors"), weights)
        config_read, weights_read = load(folder)
        golden = {
            "source": "float64 NumPy reference, tools/golden/numpy_reference.py (not transformers)",
            "folder": name,
            "modelType": config["model_type"],
            **golden_cases(config_read, weights_read),
        }
        with open(os.path.join(out, f"{name}-numpy.json"), "w") as f:
            json.dump(golden, f, separators=(",", ":"))
            f.write("\n")
        print(f"{name}: greedy {golden['greedy']['tokens']} (smallest top-2 margin {golden['greedy']['minTop2Margin']:.3g})")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate")
    gen.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "packages", "models", "test", "golden"))
    show = commands.add_parser("logits")
    show.add_argument("folder")
    show.add_argument("ids", type=int, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "generate":
        generate(os.path.normpath(args.out))
    else:
        config, weights = load(args.folder)
        print(json.dumps([rounded(row) for row in logits(config, weights, [args.ids])[0]]))


if __name__ == "__main__":
    main(sys.argv[1:])
