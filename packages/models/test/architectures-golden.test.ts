import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argmax, narrow, type Tensor, tensor } from '@slimlm/core';
import '@slimlm/kernels-cpu';
import { describe, expect, it } from 'vitest';
import { modelFromFolder, readLlamaConfig } from '../src/index';

/**
 * Goldens in test/golden/: `<variant>-numpy.json` from tools/golden/numpy_reference.py (a float64
 * NumPy implementation written apart from slimlm) and `<variant>-transformers.json` from
 * transformers itself (tools/golden/make_hf_goldens.py, CPU torch): the GPT family and the llama
 * family (llama, mistral, qwen2 variants). Each names the model folder beside it (config.json +
 * model.safetensors, f32). real-llama-transformers.json is another kind (llama-transformers.test.ts).
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
  /** Greedy ids of `prompt`, decoded with the KV cache (transformers' own, for the llama family). */
  greedy: { prompt: number[]; tokens: number[] };
  /** The llama family: greedy ids [batch][new] of a left-padded batch, decoded with the cache. */
  greedyPadded?: { inputIds: number[][]; attentionMask: number[][]; tokens: number[][] };
}

const GOLDEN = fileURLToPath(new URL('./golden/', import.meta.url));
const files = readdirSync(GOLDEN)
  .filter((name) => /-(numpy|transformers)\.json$/.test(name) && !name.startsWith('real-'))
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

  // Only the llama-family goldens carry this case (make_hf_goldens.py decodes it with transformers'
  // cache); the GPT family's padded decoding is checked against unpadded runs in architectures.test.ts.
  if (golden.greedyPadded)
    it('greedy decoding of a left-padded batch with a KV cache', () => {
      const { inputIds, attentionMask, tokens } = golden.greedyPadded!;
      using model = modelFromFolder(join(GOLDEN, golden.folder));
      using cache = model.createCache(inputIds.length);
      const mask = attentionMask.map((row) => [...row]);
      let input = inputIds;
      const produced: number[][] = inputIds.map(() => []);
      for (let i = 0; i < tokens[0]!.length; i++) {
        using inputTensor = ids(input);
        using maskTensor = ids(mask);
        using logits = model.forward(inputTensor, { cache, attentionMask: maskTensor });
        using last = narrow(logits, 1, logits.shape[1]! - 1, 1);
        using best = argmax(last, -1);
        const next = Array.from(best.dataSync(), Number);
        next.forEach((id, b) => {
          produced[b]!.push(id);
          mask[b]!.push(1);
        });
        input = next.map((id) => [id]);
      }
      expect(produced).toEqual(tokens);
    });
});

describe('llama rope settings in the config.json forms of transformers 4 and 5', () => {
  const base = {
    model_type: 'llama',
    vocab_size: 64,
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    max_position_embeddings: 512,
  };
  const rope = (fields: Record<string, unknown>) =>
    readLlamaConfig({ ...base, ...fields }, 'config.json').rope;
  const llama3 = { factor: 8, low_freq_factor: 1, high_freq_factor: 4 };

  it('reads rope_parameters as it reads rope_theta + rope_scaling', () => {
    expect(rope({ rope_parameters: { rope_type: 'default', rope_theta: 500 } })).toEqual(
      rope({ rope_theta: 500, rope_scaling: null }),
    );
    expect(rope({ rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 500 } })).toEqual(
      rope({ rope_theta: 500, rope_scaling: { type: 'linear', factor: 2 } }),
    );
    // rope_scaling wins over rope_parameters, as in transformers 5; an empty one counts as absent.
    expect(
      rope({
        rope_scaling: { rope_type: 'linear', factor: 2 },
        rope_parameters: { rope_theta: 9 },
      }),
    ).toEqual({ theta: 10000, scaling: { type: 'linear', factor: 2 } });
    expect(rope({ rope_scaling: {}, rope_parameters: { rope_theta: 9 } }).theta).toBe(9);
    // Parameters per layer type (keys from layer_types): the full-attention ones.
    expect(
      rope({
        layer_types: ['full_attention', 'full_attention'],
        rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 7 } },
      }),
    ).toEqual({ theta: 7, scaling: { type: 'none' } });
  });

  it("falls back to max_position_embeddings for llama3's original_max_position_embeddings", () => {
    // As transformers 5.18 reads these model types' configs: a top-level field is not consulted.
    const original = (fields: Record<string, unknown>) => {
      const { scaling } = rope(fields);
      return scaling.type === 'llama3' ? scaling.originalMaxPositions : undefined;
    };
    expect(original({ rope_parameters: { rope_type: 'llama3', ...llama3 } })).toBe(512);
    expect(
      original({
        rope_parameters: { rope_type: 'llama3', ...llama3 },
        original_max_position_embeddings: 64,
      }),
    ).toBe(512);
    expect(
      original({
        rope_scaling: { type: 'llama3', ...llama3, original_max_position_embeddings: 32 },
        original_max_position_embeddings: 64,
      }),
    ).toBe(32);
  });
});
