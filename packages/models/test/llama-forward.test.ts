import '@slimlm/kernels-cpu';
import { scope, tensor } from '@slimlm/core';
import { describe, expect, test } from 'vitest';
import { ropeInverseFrequencies } from '../src/architectures/llama';
import { modelFromFolder } from '../src/load';
import {
  argmaxOf,
  copyFolder,
  editConfig,
  idsTensor,
  logitRows,
  maxAbsDiff,
  modelBeforeAll,
  STORIES,
  WIKILLAMA,
  wikillamaReference,
} from './helpers';

const reference = wikillamaReference();
const PROMPTS: number[][] = reference.greedy.runs.map(
  (run: { input_ids: number[] }) => run.input_ids,
);
const model = modelBeforeAll(WIKILLAMA);

/** Logits [batch][T][vocab] of a left-padded batch (pad id 0, mask 0), with an optional cache. */
function paddedRows(prompts: number[][]): Float64Array[][] {
  const length = Math.max(...prompts.map((p) => p.length));
  const ids = prompts.map((p) => [...new Array(length - p.length).fill(0), ...p]);
  const mask = prompts.map((p) => [...new Array(length - p.length).fill(0), ...p.map(() => 1)]);
  return scope(() => {
    const logits = model().forward(idsTensor(ids), {
      attentionMask: tensor(mask.flat(), { dtype: 'i32', shape: [prompts.length, length] }),
    });
    const vocab = logits.shape[2]!;
    const data = logits.dataSync();
    return ids.map((_, b) =>
      Array.from({ length }, (_, t) =>
        Float64Array.from(data.subarray((b * length + t) * vocab, (b * length + t + 1) * vocab)),
      ),
    );
  });
}

describe('llama forward', () => {
  test('a left-padded batch equals each sequence alone at its real positions', () => {
    const batch = paddedRows(PROMPTS);
    PROMPTS.forEach((prompt: number[], b: number) => {
      const alone = logitRows(model(), prompt);
      const offset = batch[b]!.length - prompt.length;
      prompt.forEach((_, t) => {
        expect(maxAbsDiff(batch[b]![offset + t]!, alone[t]!)).toBeLessThan(1e-4);
      });
    });
  });

  test('a left-padded batch decodes with a KV cache as each sequence alone', () => {
    const length = Math.max(...PROMPTS.map((p: number[]) => p.length));
    const cache = model().createCache(PROMPTS.length, length + 4);
    const mask = PROMPTS.map((p: number[]) => [
      ...new Array(length - p.length).fill(0),
      ...p.map(() => 1),
    ]);
    const sequences: number[][] = PROMPTS.map((p: number[]) => [...p]);
    let input = PROMPTS.map((p: number[]) => [...new Array(length - p.length).fill(0), ...p]);
    for (let step = 0; step < 3; step++) {
      const next = scope(() => {
        const width = mask[0]!.length;
        const logits = model().forward(idsTensor(input), {
          cache,
          attentionMask: tensor(mask.flat(), { dtype: 'i32', shape: [PROMPTS.length, width] }),
        });
        const [, t, vocab] = logits.shape as [number, number, number];
        const data = logits.dataSync();
        return input.map((_, b) => {
          const row = data.subarray((b * t + t - 1) * vocab, (b * t + t) * vocab);
          const alone = logitRows(model(), sequences[b]!);
          expect(maxAbsDiff(row, alone[alone.length - 1]!)).toBeLessThan(1e-4);
          return argmaxOf(row);
        });
      });
      next.forEach((id, b) => {
        sequences[b]!.push(id);
        mask[b]!.push(1);
      });
      input = next.map((id) => [id]);
    }
    cache.dispose();
  });

  test('KV-cache decoding in chunks equals the full recomputation', () => {
    const ids = reference.fixed_prompt_logits.input_ids as number[];
    const full = logitRows(model(), ids);
    const cache = model().createCache(1, 4);
    let at = 0;
    for (const size of [5, 1, 1, 7, 2, ids.length - 16]) {
      const chunk = ids.slice(at, at + size);
      scope(() => {
        const logits = model().forward(idsTensor([chunk]), { cache });
        const vocab = logits.shape[2]!;
        const data = logits.dataSync();
        chunk.forEach((_, t) => {
          const row = data.subarray(t * vocab, (t + 1) * vocab);
          expect(maxAbsDiff(row, full[at + t]!)).toBeLessThan(1e-4);
        });
      });
      at += size;
    }
    expect(cache.length(0)).toBe(ids.length);
    cache.dispose();
  });

  test('f16 compute runs and stays close to f32', () => {
    const half = modelFromFolder(WIKILLAMA, { computeDType: 'f16' });
    try {
      const ids = reference.fixed_prompt_logits.input_ids.slice(0, 8) as number[];
      const logits = half.forward(idsTensor([ids]));
      expect(logits.dtype).toBe('f16');
      const data = logits.dataSync();
      const full = logitRows(model(), ids);
      const vocab = 4096;
      let worst = 0;
      for (let t = 0; t < ids.length; t++) {
        const row = data.subarray(t * vocab, (t + 1) * vocab);
        expect(row.every(Number.isFinite)).toBe(true);
        worst = Math.max(worst, maxAbsDiff(row, full[t]!));
      }
      expect(worst).toBeLessThan(0.1);
      logits.dispose();
    } finally {
      half.dispose();
    }
  });
});

describe('llama variants', () => {
  test('a Mistral sliding window hides old keys, with and without a cache', () => {
    const copy = copyFolder(STORIES, (path) =>
      editConfig(path, (config) => {
        config.model_type = 'mistral';
        config.sliding_window = 4;
      }),
    );
    const plain = modelFromFolder(STORIES);
    const windowed = modelFromFolder(copy.path);
    try {
      const ids = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376];
      const a = logitRows(plain, ids);
      const b = logitRows(windowed, ids);
      for (let t = 0; t < 4; t++) expect(maxAbsDiff(a[t]!, b[t]!)).toBeLessThan(1e-5);
      expect(maxAbsDiff(a[9]!, b[9]!)).toBeGreaterThan(1e-3);
      const cache = windowed.createCache(1);
      ids.forEach((id, t) => {
        scope(() => {
          const row = windowed.forward(idsTensor([[id]]), { cache }).dataSync();
          expect(maxAbsDiff(row, b[t]!)).toBeLessThan(1e-4);
        });
      });
      cache.dispose();
    } finally {
      plain.dispose();
      windowed.dispose();
      copy.remove();
    }
  });

  test('qwen2 biases q, k and v but not o', () => {
    const copy = copyFolder(STORIES, (path) =>
      editConfig(path, (config) => {
        config.model_type = 'qwen2';
      }),
    );
    try {
      expect(() => modelFromFolder(copy.path)).toThrow(/self_attn\.[qkv]_proj\.bias/);
    } finally {
      copy.remove();
    }
  });

  test('rope_scaling: linear divides, dynamic waits for long inputs, llama3 keeps high frequencies', () => {
    const base = ropeInverseFrequencies({ theta: 10000, scaling: { type: 'none' } }, 8, 1);
    const linear = ropeInverseFrequencies(
      { theta: 10000, scaling: { type: 'linear', factor: 2 } },
      8,
      1,
    );
    for (const [i, f] of linear.entries()) expect(f).toBeCloseTo(base[i]! / 2, 7);
    const dynamic = {
      theta: 10000,
      scaling: { type: 'dynamic', factor: 2, maxPositions: 16 },
    } as const;
    expect(ropeInverseFrequencies(dynamic, 8, 16)).toEqual(base);
    const stretched = ropeInverseFrequencies(dynamic, 8, 64);
    expect(stretched[0]).toBe(base[0]);
    expect(stretched[3]!).toBeLessThan(base[3]!);
    const llama3 = ropeInverseFrequencies(
      {
        theta: 500000,
        scaling: {
          type: 'llama3',
          factor: 8,
          lowFreqFactor: 1,
          highFreqFactor: 4,
          originalMaxPositions: 8192,
        },
      },
      128,
      1,
    );
    const plain = ropeInverseFrequencies({ theta: 500000, scaling: { type: 'none' } }, 128, 1);
    expect(llama3[0]).toBe(plain[0]);
    expect(llama3[63]).toBeCloseTo(plain[63]! / 8, 12);
  });

  test('rope_scaling types it does not implement are refused naming the field', () => {
    const copy = copyFolder(STORIES, (path) =>
      editConfig(path, (config) => {
        config.rope_scaling = { rope_type: 'yarn', factor: 4 };
      }),
    );
    try {
      expect(() => modelFromFolder(copy.path)).toThrow(
        /rope_scaling\.rope_type.*yarn.*not supported/,
      );
    } finally {
      copy.remove();
    }
  });
});
