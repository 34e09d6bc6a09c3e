import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argmax, narrow, type Tensor, tensor } from '@slimlm/core';
import '@slimlm/kernels-cpu';
import { describe, expect, it } from 'vitest';
import { modelFromFolder } from '../src/index';

/**
 * Goldens in test/golden/: `<variant>-numpy.json` from tools/golden/numpy_reference.py (a float64
 * NumPy implementation written apart from slimlm) and, once a machine with torch has run
 * tools/golden/make_hf_goldens.py, `<variant>-transformers.json` from transformers itself. Each
 * names the model folder beside it (config.json + model.safetensors, f32).
 */
interface Golden {
  source: string;
  folder: string;
  modelType: string;
  cases: {
    name: string;
    inputIds: number[][];
    attentionMask?: number[][];
    /** [batch][position][vocab]; null for padded positions (never compared). */
    logits: (number[] | null)[][];
  }[];
  greedy: { prompt: number[]; tokens: number[] };
}

const GOLDEN = fileURLToPath(new URL('./golden/', import.meta.url));
const files = readdirSync(GOLDEN)
  .filter((name) => /-(numpy|transformers)\.json$/.test(name))
  .sort();

/** f32 slimlm against float64 references: f32 rounding only (about 2e-6 on these models). */
const TOLERANCE = 2e-5;

const ids = (rows: number[][]) =>
  tensor(Int32Array.from(rows.flat()), { shape: [rows.length, rows[0]!.length], dtype: 'i32' });

describe.each(files)('%s', (file) => {
  const golden = JSON.parse(readFileSync(join(GOLDEN, file), 'utf8')) as Golden;

  it.each(golden.cases.map((c) => [c.name, c] as const))('logits: %s', (_, testCase) => {
    using model = modelFromFolder(join(GOLDEN, golden.folder));
    expect(model.config.modelType).toBe(golden.modelType);
    using logits = model.forward(ids(testCase.inputIds), {
      ...(testCase.attentionMask ? { attentionMask: ids(testCase.attentionMask) } : {}),
    });
    const [batch, length, vocab] = logits.shape as [number, number, number];
    const values = logits.dataSync();
    let worst = 0;
    let compared = 0;
    for (let b = 0; b < batch; b++) {
      for (let t = 0; t < length; t++) {
        const expected = testCase.logits[b]![t];
        if (!expected) continue;
        expect(expected.length).toBe(vocab);
        for (let v = 0; v < vocab; v++) {
          worst = Math.max(worst, Math.abs(values[(b * length + t) * vocab + v]! - expected[v]!));
        }
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(0);
    expect(worst).toBeLessThan(TOLERANCE);
  });

  it('greedy decoding with a KV cache', () => {
    using model = modelFromFolder(join(GOLDEN, golden.folder));
    const { prompt, tokens } = golden.greedy;
    using cache = model.createCache(1);
    let input: Tensor = ids([prompt]);
    const produced: number[] = [];
    for (let i = 0; i < tokens.length; i++) {
      using logits = model.forward(input, { cache });
      using last = narrow(logits, 1, logits.shape[1]! - 1, 1);
      using best = argmax(last, -1);
      const id = best.item();
      produced.push(id);
      input.dispose();
      input = ids([[id]]);
    }
    input.dispose();
    expect(produced).toEqual(tokens);
  });
});
