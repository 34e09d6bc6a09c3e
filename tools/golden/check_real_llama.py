#!/usr/bin/env python3
"""The two real Llama checkpoints of the repository through transformers itself.

Needs torch and transformers (CPU wheels are enough; everything runs in float32 on the CPU).

  check_real_llama.py [--out packages/models/test/golden/real-llama-transformers.json]

Loads fixtures/stories260K-hf and packages/models/assets/wikillama-7m with LlamaForCausalLM
(torch_dtype float32: wikillama's float16 weights upcast) and their tokenizers (AutoTokenizer, and
PreTrainedTokenizerFast on tokenizer.json alone, which must agree), and writes, per model:
  - per prompt: the ids the tokenizer gives (BOS as tokenizer_config says), the logits at a few
    positions (first 16 entries, argmax, logsumexp) and model.generate(do_sample=False,
    max_new_tokens=32) (KV cache, stops at EOS);
  - a left-padded batch of two prompts (tokenizer padding_side 'left'): ids, attention mask,
    the same logits per row at real positions, and generate()'s ids per row (up to EOS);
  - `reference`: how these agree with fixtures/<model>-reference.json (ids, logits, greedy).
packages/models/test/llama-transformers.test.ts compares slimlm against the file.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import AutoTokenizer, LlamaForCausalLM, PreTrainedTokenizerFast

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_OUT = os.path.join(ROOT, "packages", "models", "test", "golden", "real-llama-transformers.json")
NEW_TOKENS = 32
FIRST = 16


def rounded(values):
    return [float(f"{float(x):.7g}") for x in values]


def positions_of(length):
    """The first 8 positions (the wikillama reference's), the middle one and the last one."""
    return sorted(set(range(min(length, 8))) | {length // 2, length - 1})


def logits_summary(row_logits, positions):
    rows = row_logits[positions].to(torch.float64)
    return {
        "positions": positions,
        "first16": [rounded(r[:FIRST]) for r in rows],
        "argmax": [int(r.argmax()) for r in rows],
        "logsumexp": rounded(torch.logsumexp(rows, -1)),
    }


def until_eos(ids, eos):
    """generate()'s new ids of one row, cut after the first EOS (later ones are padding)."""
    out = []
    for token in ids:
        out.append(int(token))
        if int(token) in eos:
            break
    return out


def tokenizers_of(folder):
    auto = AutoTokenizer.from_pretrained(folder)
    fast = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"))
    return auto, fast


def encode(auto, fast, text):
    ids = auto(text)["input_ids"]
    # tokenizer.json alone (its own post-processor adds BOS) must give the same ids.
    fast_ids = fast(text)["input_ids"]
    if fast_ids != ids:
        raise SystemExit(f"AutoTokenizer {ids} and tokenizer.json {fast_ids} disagree on {text!r}")
    return ids


def run_model(name, folder, prompts, batch_prompts, reference_check):
    model = LlamaForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).eval()
    auto, fast = tokenizers_of(folder)
    eos = set(model.generation_config.eos_token_id if isinstance(model.generation_config.eos_token_id, list)
              else [model.generation_config.eos_token_id])
    entry = {"name": name, "folder": os.path.relpath(folder, ROOT), "prompts": []}
    with torch.no_grad():
        for text in prompts:
            ids = encode(auto, fast, text)
            input_ids = torch.tensor([ids])
            logits = model(input_ids).logits[0]
            generated = model.generate(
                input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False, max_new_tokens=NEW_TOKENS
            )[0, len(ids) :]
            entry["prompts"].append(
                {
                    "text": text,
                    "inputIds": ids,
                    "logits": logits_summary(logits, positions_of(len(ids))),
                    "greedy": until_eos(generated.tolist(), eos),
                }
            )

        auto.padding_side = "left"
        if auto.pad_token is None:
            auto.pad_token = auto.unk_token
        encoded = auto(batch_prompts, padding=True, return_tensors="pt")
        rows = [encode(auto, fast, t) for t in batch_prompts]
        ids, mask = encoded["input_ids"], encoded["attention_mask"]
        for r, row in enumerate(rows):
            if ids[r][mask[r] == 1].tolist() != row:
                raise SystemExit(f"{name}: padded batch row {r} differs from the prompt's own ids")
        # generate()'s position ids for a left-padded batch: cumsum(mask) - 1, 1 on padding.
        position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
        logits = model(ids, attention_mask=mask, position_ids=position_ids).logits
        generated = model.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=NEW_TOKENS)
        width = ids.shape[1]
        batch = {"texts": batch_prompts, "inputIds": ids.tolist(), "attentionMask": mask.tolist(), "rows": []}
        for r, row in enumerate(rows):
            pad = width - len(row)
            summary = logits_summary(logits[r], [pad + p for p in positions_of(len(row))])
            summary["positions"] = [p - pad for p in summary["positions"]]  # within the prompt itself
            batch["rows"].append({"logits": summary, "greedy": until_eos(generated[r, width:].tolist(), eos)})
            # The padded row must decode as the prompt does alone.
            alone = next((p for p in entry["prompts"] if p["text"] == batch_prompts[r]), None)
            if alone and batch["rows"][-1]["greedy"] != alone["greedy"]:
                print(f"{name}: NOTE padded row {r} decodes differently from the prompt alone")
        entry["paddedBatch"] = batch
        entry["reference"] = reference_check(model, auto, entry)
    return entry


def max_diff(a, b):
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


def check_wikillama(model, tokenizer, entry):
    with open(os.path.join(ROOT, "fixtures", "wikillama-7m-reference.json")) as f:
        ref = json.load(f)
    fixed = ref["fixed_prompt_logits"]
    prompt = next(p for p in entry["prompts"] if p["text"] == fixed["text"])
    with torch.no_grad():
        logits = model(torch.tensor([prompt["inputIds"]])).logits[0].to(torch.float64)
    count = fixed["positions"]
    ours = logits[:count]
    result = {
        "file": "fixtures/wikillama-7m-reference.json",
        "fixedPromptIdsEqual": prompt["inputIds"] == fixed["input_ids"],
        "fixedPromptFirst16MaxDiff": max_diff(ours[:, :FIRST].numpy(), fixed["logits_first16"]),
        "fixedPromptArgmaxEqual": [int(r.argmax()) for r in ours] == fixed["argmax"],
        "fixedPromptLogsumexpMaxDiff": max_diff(torch.logsumexp(ours, -1).numpy(), fixed["logsumexp"]),
        "greedy": [],
    }
    for run in ref["greedy"]["runs"]:
        p = next(p for p in entry["prompts"] if p["text"] == run["prompt"])
        result["greedy"].append(
            {"prompt": run["prompt"], "idsEqual": p["inputIds"] == run["input_ids"], "newIdsEqual": p["greedy"] == run["new_ids"]}
        )
    return result


def check_stories(model, tokenizer, entry):
    with open(os.path.join(ROOT, "fixtures", "stories260K-reference.json")) as f:
        ref = json.load(f)
    by_text = {p["text"]: p for p in entry["prompts"]}
    bos_only = by_text[""]
    expected = ref["greedy_from_bos"]["output_ids"][1 : 1 + NEW_TOKENS]
    with torch.no_grad():
        first = model(torch.tensor([[1]])).logits[0, 0].to(torch.float64)
    top = torch.topk(first, 5)
    story = by_text["Once upon a time"]
    llama2c = ref["llama2c_golden"]
    decoded = tokenizer.decode(story["inputIds"] + story["greedy"], skip_special_tokens=True)
    nll = ref["nll"][0]
    return {
        "file": "fixtures/stories260K-reference.json",
        "bosOnlyIdsEqual": bos_only["inputIds"] == ref["greedy_from_bos"]["input_ids"],
        "bosOnlyGreedyEqual": bos_only["greedy"] == expected,
        "pos0Top5IdsEqual": top.indices.tolist() == [i for i, _ in ref["logits_pos0_after_bos"]["top5_id_logit"]],
        "pos0Top5MaxDiff": max_diff(top.values.numpy(), [v for _, v in ref["logits_pos0_after_bos"]["top5_id_logit"]]),
        "pos0SumDiff": abs(float(first.sum()) - ref["logits_pos0_after_bos"]["sum_of_512_logits"]),
        "llama2cPromptIdsEqual": story["inputIds"] == llama2c["prompt_ids_with_bos"],
        "llama2cTextStartsWithGreedy": llama2c["text"].startswith(decoded),
        "nllTextIdsEqual": by_text[nll["text"]]["inputIds"] == nll["ids_with_bos"],
    }


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    with open(os.path.join(ROOT, "fixtures", "wikillama-7m-reference.json")) as f:
        wiki = json.load(f)
    with open(os.path.join(ROOT, "fixtures", "stories260K-reference.json")) as f:
        stories = json.load(f)
    wiki_prompts = [wiki["fixed_prompt_logits"]["text"]] + [r["prompt"] for r in wiki["greedy"]["runs"]]
    story_prompts = ["", "Once upon a time", stories["nll"][0]["text"], "The little dog was sad"]
    golden = {
        "source": (
            f"transformers {transformers.__version__} (torch {torch.__version__}), float32 on the CPU, "
            "tools/golden/check_real_llama.py"
        ),
        "newTokens": NEW_TOKENS,
        "models": [
            run_model(
                "stories260K", os.path.join(ROOT, "fixtures", "stories260K-hf"), story_prompts,
                ["Once upon a time", "The little dog was sad"], check_stories,
            ),
            run_model(
                "wikillama-7m", os.path.join(ROOT, "packages", "models", "assets", "wikillama-7m"), wiki_prompts,
                ["He was born in", "In 1998 , the band released their second album"], check_wikillama,
            ),
        ],
    }
    with open(args.out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    for entry in golden["models"]:
        print(entry["name"], json.dumps(entry["reference"], indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
