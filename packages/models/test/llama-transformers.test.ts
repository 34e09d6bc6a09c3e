import '@slimlm/kernels-cpu';
import { join } from 'node:path';
import { loadTokenizer, type Tokenizer } from '@slimlm/hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../src/generation/generate';
import { modelFromFolder } from '../src/load';
import type { CausalLM } from '../src/model';
import { argmaxOf, idsTensor, logsumexpOf, maxAbsDiff, ROOT, readJson } from './helpers';

/**
 * The two real Llama checkpoints against transformers itself: test/golden/real-llama-transformers.json
 * from tools/golden/check_real_llama.py (transformers 5.18, LlamaForCausalLM in float32 on the CPU,
 * AutoTokenizer, generate(do_sample=False)). slimlm computes in f32 too, so the logits differ by
 * f32 rounding in a different order only.
 */
interface LogitsSummary {
  /** Positions within the prompt. */
  positions: number[];
  first16: number[][];
  argmax: number[];
  logsumexp: number[];
}

interface RealGolden {
  source: string;
  newTokens: number;
  models: {
    name: string;
    folder: string;
    prompts: { text: string; inputIds: number[]; logits: LogitsSummary; greedy: number[] }[];
    paddedBatch: {
      texts: string[];
      inputIds: number[][];
      attentionMask: number[][];
      rows: { logits: LogitsSummary; greedy: number[] }[];
    };
    reference: Record<string, unknown>;
  }[];
}

const golden = readJson<RealGolden>(
  join(ROOT, 'packages', 'models', 'test', 'golden', 'real-llama-transformers.json'),
);
const TOLERANCE = 1e-4;

/** The logits rows [T][vocab] of a batch row (f64 host copies). */
function logitsOf(model: CausalLM, ids: number[][], mask?: number[][]): Float64Array[][] {
  using input = idsTensor(ids);
  using attentionMask = mask ? idsTensor(mask) : undefined;
  using logits = model.forward(input, attentionMask ? { attentionMask } : {});
  const [batch, length, vocab] = logits.shape as [number, number, number];
  const data = logits.dataSync();
  return Array.from({ length: batch }, (_, b) =>
    Array.from({ length }, (_, t) =>
      Float64Array.from(data.subarray((b * length + t) * vocab, (b * length + t + 1) * vocab)),
    ),
  );
}

/** The largest difference from the golden summary; argmax ids must be equal. */
function compare(rows: Float64Array[], summary: LogitsSummary, offset = 0): number {
  let worst = 0;
  summary.positions.forEach((position, i) => {
    const row = rows[offset + position]!;
    expect(argmaxOf(row)).toBe(summary.argmax[i]);
    worst = Math.max(worst, maxAbsDiff(row.subarray(0, 16), summary.first16[i]!));
    worst = Math.max(worst, Math.abs(logsumexpOf(row) - summary.logsumexp[i]!));
  });
  return worst;
}

describe.each(golden.models.map((m) => [m.name, m] as const))('%s vs transformers', (_, entry) => {
  const folder = join(ROOT, entry.folder);
  let model: CausalLM;
  let tokenizer: Tokenizer;

  beforeAll(async () => {
    model = modelFromFolder(folder);
    tokenizer = await loadTokenizer(folder);
  });
  afterAll(() => model.dispose());

  it('transformers agreed with the fixture reference when the golden was made', () => {
    const flags: [string, boolean][] = [];
    const collect = (value: unknown, path: string) => {
      if (typeof value === 'boolean') flags.push([path, value]);
      else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) collect(inner, `${path}.${key}`);
      }
    };
    collect(entry.reference, 'reference');
    expect(flags.length).toBeGreaterThan(0);
    for (const [path, value] of flags) expect([path, value]).toEqual([path, true]);
  });

  it.each(entry.prompts.map((p) => [JSON.stringify(p.text), p] as const))(
    'prompt %s: ids, logits, greedy ids',
    (_, prompt) => {
      expect(tokenizer.encode(prompt.text)).toEqual(prompt.inputIds);
      const [rows] = logitsOf(model, [prompt.inputIds]);
      expect(compare(rows!, prompt.logits)).toBeLessThan(TOLERANCE);
      const { tokens } = generate(model, [prompt.inputIds], { maxNewTokens: golden.newTokens });
      expect(tokens[0]).toEqual(prompt.greedy);
    },
  );

  it('a left-padded batch of two prompts: logits and greedy ids', () => {
    const batch = entry.paddedBatch;
    const prompts = batch.texts.map((text) => tokenizer.encode(text));
    const width = batch.inputIds[0]!.length;
    prompts.forEach((ids, b) => {
      expect(batch.inputIds[b]!.slice(width - ids.length)).toEqual(ids);
      expect(batch.attentionMask[b]!.filter((m) => m === 1).length).toBe(ids.length);
    });
    const rows = logitsOf(model, batch.inputIds, batch.attentionMask);
    let worst = 0;
    batch.rows.forEach((row, b) => {
      worst = Math.max(worst, compare(rows[b]!, row.logits, width - prompts[b]!.length));
    });
    expect(worst).toBeLessThan(TOLERANCE);
    const { tokens } = generate(model, prompts, { maxNewTokens: golden.newTokens });
    expect(tokens).toEqual(batch.rows.map((row) => row.greedy));
  });
});
