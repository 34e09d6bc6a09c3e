#!/usr/bin/env python3
"""Goldens for the architectures of @slimlm/models from transformers itself.

Needs torch and transformers (a GPU is not needed; everything runs in float64 on the CPU).

  make_hf_goldens.py [--out packages/models/test/golden]
      For each tiny variant of numpy_reference.VARIANTS: builds the model from the same config
      with transformers, re-initialises it with seeded O(1) weights, saves it with save_pretrained
      into <variant>-transformers/ (config.json + model.safetensors, f32, as transformers writes
      them), reloads it in float64 and writes <variant>-transformers.json: the logits of the same
      single and left-padded cases as the NumPy goldens and a greedy continuation. The tests pick
      these files up as they are; commit them with the folders. Then does the same for the llama
      family (LLAMA_VARIANTS below: llama with GQA, tied embeddings, each rope_scaling type,
      biases; mistral with a sliding window; qwen2), whose greedy continuation is decoded with
      transformers' KV cache, as slimlm's test decodes it.

  make_hf_goldens.py --only NAME [NAME ...]
      Writes only the named variants.

  make_hf_goldens.py --check-numpy
      Loads the NumPy goldens' folders (<variant>/) with transformers and compares its logits with
      <variant>-numpy.json: shows that the NumPy reference is transformers' semantics and that
      transformers loads those folders without missing or unexpected tensors.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_reference as ref  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(__file__), "..", "..", "packages", "models", "test", "golden")
# Tensors transformers never loads (causal-mask buffers older exports hold).
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias", ".attention.bias", ".attention.masked_bias")


def llama_fields(model_type, **overrides):
    """A tiny llama-family config: GQA (4 query heads, 2 key/value heads), head_dim 8, untied
    (about 80 KB of f32 weights)."""
    fields = {
        "model_type": model_type, "vocab_size": ref.VOCAB, "hidden_size": 32, "intermediate_size": 48,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
        "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "hidden_act": "silu",
        "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False,
    }
    fields.update(overrides)
    return fields


# The llama family, from transformers only (numpy_reference.py covers the GPT family). The cases
# run up to 8 prompt + LLAMA_NEW_TOKENS positions, which each variant is shaped to make matter:
# - llama-rope-linear keeps the config.json format of transformers 4 (top-level rope_theta and
#   rope_scaling {"type": ...}); transformers 5 writes rope_parameters, which the others hold.
# - llama-rope-dynamic: max_position_embeddings 6 < 8, so the NTK base is recomputed on every
#   case and on every decoding step (transformers recomputes from the largest position id of the
#   call and never re-rotates cached keys; the greedy case decodes with the cache for that reason).
# - llama-rope-llama3: head_dim 8 has wavelengths 2π·{1, 10, 100, 1000}; with
#   original_max_position_embeddings 64 and low/high freq factors 1/4 (wavelength bounds 64/16)
#   one frequency is kept, one smoothed and two divided by the factor.
# - mistral: sliding_window 3, so query i sees only slots i-2..i (transformers: kv > q - window,
#   on cache slots, left padding included).
# - qwen2: q/k/v biases; config.json holds sliding_window 4 (as Qwen2 checkpoints hold one) with
#   use_sliding_window false, so every layer is full attention (layer_types) and the window must
#   be ignored. `written_fields` are set in config.json after save_pretrained (which writes
#   sliding_window null when it is unused).
LLAMA_VARIANTS = {
    "llama": llama_fields("llama", rope_theta=10000.0),
    "llama-tied": llama_fields("llama", tie_word_embeddings=True, rope_theta=500.0),
    "llama-rope-linear": llama_fields(
        "llama", rope_scaling={"rope_type": "linear", "factor": 2.0}, legacy_rope_format=True
    ),
    "llama-rope-dynamic": llama_fields(
        "llama", max_position_embeddings=6, rope_scaling={"rope_type": "dynamic", "factor": 2.0}
    ),
    "llama-rope-llama3": llama_fields(
        "llama",
        rope_scaling={
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
        max_position_embeddings=512,
    ),
    "llama-bias": llama_fields("llama", attention_bias=True, mlp_bias=True, rms_norm_eps=1e-6),
    "mistral": llama_fields("mistral", sliding_window=3, max_position_embeddings=128),
    "qwen2": llama_fields(
        "qwen2", rope_theta=1000000.0, use_sliding_window=False, max_window_layers=1,
        written_fields={"sliding_window": 4},
    ),
}
LLAMA_NEW_TOKENS = 8


def build(config_fields, seed):
    skipped = ("model_type", "architectures", "legacy_rope_format", "written_fields")
    fields = {k: v for k, v in config_fields.items() if k not in skipped}
    config = AutoConfig.for_model(config_fields["model_type"], **fields)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    conv1d = transformers.pytorch_utils.Conv1D
    with torch.no_grad():
        for _, module in model.named_modules():
            for name, param in module.named_parameters(recurse=False):
                noise = torch.randn(param.shape, generator=generator, dtype=torch.float64)
                if param.dim() == 1:
                    is_norm = name == "weight" and (
                        isinstance(module, torch.nn.LayerNorm) or type(module).__name__.endswith("RMSNorm")
                    )
                    value = (1.0 if is_norm else 0.0) + 0.1 * noise
                elif isinstance(module, torch.nn.Embedding):
                    value = 0.3 * noise
                else:
                    fan_in = param.shape[0] if isinstance(module, conv1d) else param.shape[1]
                    value = noise / fan_in**0.5
                param.copy_(value.to(param.dtype))
    model.tie_weights()
    return model.eval()


def position_ids(model_type, mask):
    """generate()'s position ids for a left-padded batch (OPT derives its own from the mask)."""
    if model_type == "opt":
        return None
    positions = mask.long().cumsum(-1) - 1
    return positions.masked_fill(mask == 0, 1)


def logits_of(model, model_type, ids, mask=None):
    ids = torch.tensor(ids, dtype=torch.long)
    kwargs = {}
    if mask is not None:
        mask = torch.tensor(mask, dtype=torch.long)
        kwargs["attention_mask"] = mask
        positions = position_ids(model_type, mask)
        if positions is not None:
            kwargs["position_ids"] = positions
    with torch.no_grad():
        return model(ids, **kwargs).logits.to(torch.float64).numpy()


def greedy(model, model_type, prompt, count):
    ids = list(prompt)
    for _ in range(count):
        ids.append(int(np.argmax(logits_of(model, model_type, [ids])[0, -1])))
    return ids[len(prompt) :]


def greedy_cached(model, prompt, count):
    """Greedy ids decoded the way slimlm's test decodes: the prompt once, then one token per step
    with transformers' KV cache (its own, as generate() builds it from the config)."""
    ids, cache, tokens, margin = torch.tensor([prompt], dtype=torch.long), None, [], float("inf")
    with torch.no_grad():
        for _ in range(count):
            out = model(ids, past_key_values=cache, use_cache=True)
            cache, last = out.past_key_values, out.logits[0, -1].to(torch.float64)
            top = torch.topk(last, 2).values
            margin = min(margin, float(top[0] - top[1]))
            tokens.append(int(last.argmax()))
            ids = torch.tensor([[tokens[-1]]], dtype=torch.long)
    return tokens, margin


def greedy_cached_batch(model, ids, mask, count):
    """Greedy ids of a left-padded batch with transformers' KV cache, as generate() decodes it:
    each step passes the whole attention mask and position ids cumsum(mask) - 1 (1 on padding)."""
    ids, mask = torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.long)
    cache, rows = None, [[] for _ in range(ids.shape[0])]
    with torch.no_grad():
        for _ in range(count):
            positions = position_ids("llama", mask)[:, -ids.shape[1] :]
            out = model(ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            best = out.logits[:, -1].argmax(-1)
            for row, token in zip(rows, best.tolist()):
                row.append(token)
            ids = best[:, None]
            mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
    return rows


def golden_of(model, model_type, folder, fresh=None):
    """`fresh`: loads a new model for each case (dynamic RoPE keeps state between calls)."""
    single = logits_of(model, model_type, [ref.PROMPT])
    ids, mask = ref.PADDED
    padded = logits_of(fresh() if fresh else model, model_type, ids, mask)
    if fresh:
        tokens, margin = greedy_cached(fresh(), ref.PROMPT, LLAMA_NEW_TOKENS)
        greedy_case = {"prompt": ref.PROMPT, "tokens": tokens, "minTop2Margin": round(margin, 6), "kvCache": True}
    else:
        greedy_case = {"prompt": ref.PROMPT, "tokens": greedy(model, model_type, ref.PROMPT, ref.NEW_TOKENS)}
    extra = {}
    if fresh:
        extra["greedyPadded"] = {
            "inputIds": ids,
            "attentionMask": mask,
            "tokens": greedy_cached_batch(fresh(), ids, mask, LLAMA_NEW_TOKENS),
        }
    return {
        "source": f"transformers {transformers.__version__} (torch {torch.__version__}), float64, tools/golden/make_hf_goldens.py",
        "folder": folder,
        "modelType": model_type,
        "cases": [
            {"name": "single", "inputIds": [ref.PROMPT], "logits": [[ref.rounded(r) for r in single[0]]]},
            {
                "name": "left-padded",
                "inputIds": ids,
                "attentionMask": mask,
                "logits": [
                    [ref.rounded(padded[b, t]) if mask[b][t] else None for t in range(len(ids[b]))]
                    for b in range(len(ids))
                ],
            },
        ],
        "greedy": greedy_case,
        **extra,
    }


def load(folder, attn_implementation=None):
    extra = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
    model, info = AutoModelForCausalLM.from_pretrained(
        folder, torch_dtype=torch.float64, output_loading_info=True, **extra
    )
    unexpected = [n for n in info["unexpected_keys"] if not n.endswith(IGNORED_SUFFIXES)]
    if info["missing_keys"] or unexpected or info["mismatched_keys"]:
        raise SystemExit(f"{folder}: transformers reports {info}")
    return model.eval()


def rewrite_config(path, fields):
    """`legacy_rope_format`: config.json as transformers 4 wrote it (rope_theta and rope_scaling
    {"type": ...} at the top instead of rope_parameters); `written_fields`: set as given."""
    config_path = os.path.join(path, "config.json")
    with open(config_path) as f:
        config = json.load(f)
    if fields.get("legacy_rope_format"):
        rope = dict(config.pop("rope_parameters"))
        config["rope_theta"] = rope.pop("rope_theta")
        rope["type"] = rope.pop("rope_type")
        config["rope_scaling"] = rope
    config.update(fields.get("written_fields", {}))
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def check_llama(path, fields, golden):
    """Self-checks of the llama-family goldens against transformers' other code paths: eager
    attention agrees with the default (sdpa) one (to float32 rounding: eager takes its softmax in
    float32 even in a float64 model), and, except for dynamic RoPE (where re-rotating
    every key differs from keeping cached ones by design), greedy ids without a cache agree."""
    case = golden["cases"][1]
    eager = logits_of(load(path, "eager"), fields["model_type"], case["inputIds"], case["attentionMask"])
    worst = 0.0
    for b, row in enumerate(case["logits"]):
        for t, expected in enumerate(row):
            if expected is not None:
                worst = max(worst, float(np.abs(eager[b, t] - np.asarray(expected)).max()))
    if worst > 1e-5:
        raise SystemExit(f"{path}: eager and sdpa attention differ by {worst}")
    if fields.get("sliding_window"):
        # The window must change the logits of these cases, or the golden would not test it.
        unwindowed = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float64, sliding_window=None)
        full = logits_of(unwindowed.eval(), fields["model_type"], case["inputIds"], case["attentionMask"])
        change = max(
            float(np.abs(full[b, t] - np.asarray(expected)).max())
            for b, row in enumerate(case["logits"])
            for t, expected in enumerate(row)
            if expected is not None
        )
        print(f"{path}: without the sliding window the logits change by up to {change:.3g}")
        if change < 1e-2:
            raise SystemExit(f"{path}: the sliding window does not matter in these cases")
    padded = golden["greedyPadded"]
    model = load(path)
    generated = model.generate(
        torch.tensor(padded["inputIds"]), attention_mask=torch.tensor(padded["attentionMask"]),
        do_sample=False, max_new_tokens=LLAMA_NEW_TOKENS, min_new_tokens=LLAMA_NEW_TOKENS, pad_token_id=0,
    )[:, len(padded["inputIds"][0]) :].tolist()
    if generated != padded["tokens"]:
        raise SystemExit(f"{path}: generate() decodes the padded batch as {generated}, not {padded['tokens']}")
    tokens = golden["greedy"]["tokens"]
    uncached = greedy(load(path), fields["model_type"], ref.PROMPT, len(tokens))
    dynamic = (fields.get("rope_scaling") or {}).get("rope_type") == "dynamic"
    if uncached != tokens and not dynamic:
        raise SystemExit(f"{path}: greedy with and without the cache differ: {tokens} / {uncached}")
    return worst, uncached == tokens


def make_llama(out, names):
    for seed, (name, fields) in enumerate(LLAMA_VARIANTS.items()):
        if names and name not in names:
            continue
        folder = f"{name}-transformers"
        path = os.path.join(out, folder)
        build(fields, 2000 + seed).save_pretrained(path, safe_serialization=True)
        rewrite_config(path, fields)
        size = os.path.getsize(os.path.join(path, "model.safetensors"))
        golden = golden_of(load(path), fields["model_type"], folder, fresh=lambda: load(path))
        with open(os.path.join(out, f"{name}-transformers.json"), "w") as f:
            json.dump(golden, f, separators=(",", ":"))
            f.write("\n")
        eager_diff, uncached_same = check_llama(path, fields, golden)
        print(
            f"{name}: {size} bytes of weights, greedy {golden['greedy']['tokens']} "
            f"(margin {golden['greedy']['minTop2Margin']}; without cache {'same' if uncached_same else 'DIFFERENT'}), "
            f"eager vs sdpa {eager_diff:.2g}"
        )


def make(out, names=None):
    for seed, (name, fields) in enumerate(ref.VARIANTS.items()):
        if names and name not in names:
            continue
        folder = f"{name}-transformers"
        path = os.path.join(out, folder)
        build(fields, 1000 + seed).save_pretrained(path, safe_serialization=True)
        size = os.path.getsize(os.path.join(path, "model.safetensors"))
        model = load(path)
        golden = golden_of(model, fields["model_type"], folder)
        with open(os.path.join(out, f"{name}-transformers.json"), "w") as f:
            json.dump(golden, f, separators=(",", ":"))
            f.write("\n")
        print(f"{name}: {size} bytes of weights, greedy {golden['greedy']['tokens']}")


def check_numpy(out):
    worst_overall = 0.0
    for name in ref.VARIANTS:
        with open(os.path.join(out, f"{name}-numpy.json")) as f:
            golden = json.load(f)
        model = load(os.path.join(out, golden["folder"]))
        worst = 0.0
        for case in golden["cases"]:
            actual = logits_of(model, golden["modelType"], case["inputIds"], case.get("attentionMask"))
            for b, row in enumerate(case["logits"]):
                for t, expected in enumerate(row):
                    if expected is not None:
                        worst = max(worst, float(np.abs(actual[b, t] - np.asarray(expected)).max()))
        tokens = greedy(model, golden["modelType"], golden["greedy"]["prompt"], len(golden["greedy"]["tokens"]))
        same = tokens == golden["greedy"]["tokens"]
        print(f"{name}: transformers vs NumPy reference: max |logit diff| {worst:.3g}, greedy {'equal' if same else 'DIFFERS'}")
        worst_overall = max(worst_overall, worst if same else float("inf"))
    if worst_overall > 1e-6:
        raise SystemExit("the NumPy reference disagrees with transformers")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--check-numpy", action="store_true")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="variants to write (default: all)")
    args = parser.parse_args(argv)
    out = os.path.normpath(args.out)
    if args.check_numpy:
        check_numpy(out)
    else:
        unknown = set(args.only or ()) - set(ref.VARIANTS) - set(LLAMA_VARIANTS)
        if unknown:
            raise SystemExit(f"unknown variants {sorted(unknown)}")
        make(out, args.only)
        make_llama(out, args.only)


if __name__ == "__main__":
    main(sys.argv[1:])
