#!/usr/bin/env python3
"""Goldens for the GPT-family architectures of @slimlm/models from transformers itself.

Needs torch and transformers (a GPU is not needed; everything runs in float64 on the CPU).

  make_hf_goldens.py [--out packages/models/test/golden]
      For each tiny variant of numpy_reference.VARIANTS: builds the model from the same config
      with transformers, re-initialises it with seeded O(1) weights, saves it with save_pretrained
      into <variant>-transformers/ (config.json + model.safetensors, f32, as transformers writes
      them), reloads it in float64 and writes <variant>-transformers.json: the logits of the same
      single and left-padded cases as the NumPy goldens and a greedy continuation. The tests pick
      these files up as they are; commit them with the folders.

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


def build(config_fields, seed):
    fields = {k: v for k, v in config_fields.items() if k not in ("model_type", "architectures")}
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
                    is_norm = isinstance(module, torch.nn.LayerNorm) and name == "weight"
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


def golden_of(model, model_type, folder):
    single = logits_of(model, model_type, [ref.PROMPT])
    ids, mask = ref.PADDED
    padded = logits_of(model, model_type, ids, mask)
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
        "greedy": {"prompt": ref.PROMPT, "tokens": greedy(model, model_type, ref.PROMPT, ref.NEW_TOKENS)},
    }


def load(folder):
    model, info = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float64, output_loading_info=True)
    unexpected = [n for n in info["unexpected_keys"] if not n.endswith(IGNORED_SUFFIXES)]
    if info["missing_keys"] or unexpected or info["mismatched_keys"]:
        raise SystemExit(f"{folder}: transformers reports {info}")
    return model.eval()


def make(out):
    for seed, (name, fields) in enumerate(ref.VARIANTS.items()):
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
    args = parser.parse_args(argv)
    out = os.path.normpath(args.out)
    if args.check_numpy:
        check_numpy(out)
    else:
        make(out)


if __name__ == "__main__":
    main(sys.argv[1:])
