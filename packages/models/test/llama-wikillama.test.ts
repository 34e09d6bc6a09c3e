import '@slimlm/kernels-cpu';
import { readFileSync } from 'node:fs';
import { loadTokenizer, type Tokenizer } from '@slimlm/hub';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { modelFromFolder } from '../src/load';
import type { CausalLM } from '../src/model';
import {
  argmaxOf,
  greedyCached,
  greedyRecompute,
  logitRows,
  logsumexpOf,
  WIKILLAMA,
  WIKITEXT,
  wikillamaReference,
  windowNlls,
} from './helpers';

// The built-in wikillama-7m (f16 storage, f32 compute) against PyTorch fp32 reference values.
const reference = wikillamaReference();
let model: CausalLM;
let tokenizer: Tokenizer;

beforeAll(async () => {
  model = modelFromFolder(WIKILLAMA);
  tokenizer = await loadTokenizer(WIKILLAMA);
});
afterAll(() => model.dispose());

/**
 * The first `count` ids of the held-out protocol, [1] + encode(whole file). Encoding a prefix cut
 * at a line boundary gives the same leading ids as the whole file (no token spans a newline, and
 * the normalizer only prepends '▁' at the very start); scripts/heldout-ppl.mjs encodes the whole
 * file, and the two were checked to agree on the first 64 × 256 ids.
 */
function heldOutIds(count: number): number[] {
  const text = readFileSync(WIKITEXT, 'utf8');
  const cut = text.lastIndexOf('\n', 6 * count) + 1;
  const ids = [1, ...tokenizer.encode(text.slice(0, cut), { addSpecialTokens: false })];
  expect(ids.length).toBeGreaterThanOrEqual(count);
  return ids.slice(0, count);
}

describe('wikillama-7m on the cpu backend', () => {
  test('the tokenizer reproduces the fixed prompt ids', () => {
    const { text, input_ids } = reference.fixed_prompt_logits;
    expect(tokenizer.encode(text)).toEqual(input_ids);
  });

  test('fixed prompt logits', () => {
    const expected = reference.fixed_prompt_logits;
    const rows = logitRows(model, expected.input_ids);
    let worst = 0;
    for (let p = 0; p < expected.positions; p++) {
      const row = rows[p]!;
      expected.logits_first16[p].forEach((logit: number, j: number) => {
        worst = Math.max(worst, Math.abs(row[j]! - logit));
      });
      expect(argmaxOf(row)).toBe(expected.argmax[p]);
      expect(Math.abs(row[argmaxOf(row)]! - expected.max_logit[p])).toBeLessThan(1e-4);
      expect(Math.abs(logsumexpOf(row) - expected.logsumexp[p])).toBeLessThan(1e-4);
    }
    expect(worst).toBeLessThan(1e-4);
  });

  test('greedy runs (32 new tokens each, no early stop at eos)', () => {
    for (const run of reference.greedy.runs) {
      const out = greedyCached(model, run.input_ids, reference.greedy.new_tokens);
      expect(out.slice(run.input_ids.length)).toEqual(run.new_ids);
    }
    const [first] = reference.greedy.runs;
    expect(greedyRecompute(model, first.input_ids, 8)).toEqual(
      first.output_ids.slice(0, first.input_ids.length + 8),
    );
  });

  test('held-out perplexity of the first 64 windows and window 0', () => {
    const expected = reference.heldout_ppl;
    const ids = heldOutIds(64 * 256);
    const windows = Array.from({ length: 64 }, (_, i) => ids.slice(256 * i, 256 * (i + 1)));
    const nlls = windowNlls(model, windows);
    const ppl = Math.exp(nlls.reduce((a, b) => a + b, 0) / nlls.length);
    expect(
      Math.abs(ppl - expected.first_64_windows.ppl) / expected.first_64_windows.ppl,
    ).toBeLessThan(1e-3);
    const window0 = expected.fp32_torch_window0_mean_nll;
    expect(Math.abs(nlls[0]! - window0) / window0).toBeLessThan(1e-3);
  });
});
