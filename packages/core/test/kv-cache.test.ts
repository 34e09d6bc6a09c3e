import { describe, expect, it } from 'vitest';
import {
  applyRotary,
  concat,
  Generator,
  KVCache,
  memory,
  narrow,
  permute,
  rotaryTables,
  scaledDotProductAttention,
  scope,
  type Tensor,
  tensor,
} from '../src/index';

function random(shape: number[], seed: number, dtype: 'f64' | 'f32' = 'f64'): Tensor {
  const g = new Generator(seed);
  const count = shape.reduce((a, b) => a * b, 1);
  return tensor(
    Array.from({ length: count }, () => g.nextNormal()),
    { shape, dtype },
  );
}

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThanOrEqual(
      tolerance * (1 + Math.abs(expected[i]!)),
    );
  }
}

describe('KVCache', () => {
  it('decoding token by token equals one causal pass over the sequence (GQA 8/4, rotary, growth)', () => {
    scope(() => {
      const [batch, queryHeads, kvHeads, seq, headDim, layers] = [2, 8, 4, 7, 6, 2];
      const { cos, sin } = rotaryTables(
        Array.from({ length: seq }, (_, i) => i),
        headDim,
        { dtype: 'f64' },
      );
      const qs = [
        random([batch, queryHeads, seq, headDim], 1),
        random([batch, queryHeads, seq, headDim], 2),
      ];
      const ks = [
        random([batch, kvHeads, seq, headDim], 3),
        random([batch, kvHeads, seq, headDim], 4),
      ];
      const vs = [
        random([batch, kvHeads, seq, headDim], 5),
        random([batch, kvHeads, seq, headDim], 6),
      ];
      const full = qs.map((q, l) =>
        scaledDotProductAttention(applyRotary(q, cos, sin), applyRotary(ks[l]!, cos, sin), vs[l]!, {
          causal: true,
        }),
      );
      // Capacity 2 forces the buffers to double twice on the way to 7 positions.
      const cache = new KVCache({ layers, batch, kvHeads, headDim, capacity: 2, dtype: 'f64' });
      const steps: Tensor[][] = [[], []];
      for (let t = 0; t < seq; t++) {
        const c = narrow(cos, 0, t, 1);
        const s = narrow(sin, 0, t, 1);
        for (let l = 0; l < layers; l++) {
          const past = cache.append(
            l,
            applyRotary(narrow(ks[l]!, 2, t, 1), c, s),
            narrow(vs[l]!, 2, t, 1),
          );
          expect(past.k.shape).toEqual([batch, kvHeads, t + 1, headDim]);
          steps[l]!.push(
            scaledDotProductAttention(applyRotary(narrow(qs[l]!, 2, t, 1), c, s), past.k, past.v, {
              causal: true,
            }),
          );
        }
      }
      expect(cache.length(0)).toBe(seq);
      for (let l = 0; l < layers; l++)
        expectClose(concat(steps[l]!, 2).dataSync(), full[l]!.dataSync(), 1e-13);
      cache.dispose();
    });
  });

  it('mixes a prefill chunk with decoding and keeps what it was given', () => {
    scope(() => {
      const cache = new KVCache({
        layers: 1,
        batch: 1,
        kvHeads: 2,
        headDim: 3,
        capacity: 4,
        dtype: 'f32',
      });
      const k = random([1, 2, 5, 3], 7, 'f32');
      const v = random([1, 2, 5, 3], 8, 'f32');
      cache.append(0, narrow(k, 2, 0, 3), narrow(v, 2, 0, 3));
      const { k: keys, v: values } = cache.append(0, narrow(k, 2, 3, 2), narrow(v, 2, 3, 2));
      expect(Array.from(keys.dataSync())).toEqual(Array.from(k.dataSync()));
      expect(Array.from(values.dataSync())).toEqual(Array.from(v.dataSync()));
      const q = random([1, 4, 2, 3], 9, 'f32');
      const cached = scaledDotProductAttention(q, keys, values, { causal: true });
      const direct = scaledDotProductAttention(q, k, v, { causal: true });
      expect(Array.from(cached.dataSync())).toEqual(Array.from(direct.dataSync()));
      cache.dispose();
    });
  });

  it('takes strided inputs, resets and reuses its buffers', () => {
    scope(() => {
      const cache = new KVCache({ layers: 2, batch: 1, kvHeads: 2, headDim: 2, dtype: 'f64' });
      // [B, T, H, D] projections viewed as [B, H, T, D].
      const k = permute(random([1, 3, 2, 2], 10), [0, 2, 1, 3]);
      const first = cache.append(1, k, k);
      expect(Array.from(first.k.dataSync())).toEqual(Array.from(k.dataSync()));
      expect(cache.length(0)).toBe(0);
      expect(cache.length(1)).toBe(3);
      cache.reset();
      expect(cache.length(1)).toBe(0);
      const fresh = random([1, 2, 1, 2], 11);
      const again = cache.append(1, fresh, fresh);
      expect(Array.from(again.v.dataSync())).toEqual(Array.from(fresh.dataSync()));
      cache.dispose();
      expect(cache.length(1)).toBe(0);
    });
  });

  it('names shapes, dtypes and layers in its errors', () => {
    scope(() => {
      const cache = new KVCache({ layers: 1, batch: 1, kvHeads: 2, headDim: 4, dtype: 'f32' });
      const good = random([1, 2, 1, 4], 12, 'f32');
      expect(() => cache.append(0, random([1, 3, 1, 4], 13, 'f32'), good)).toThrow(
        /KVCache.append: k \[1, 3, 1, 4\] and v \[1, 2, 1, 4\].*kvHeads 2/,
      );
      expect(() => cache.append(0, good, random([1, 2, 2, 4], 14, 'f32'))).toThrow(
        /KVCache.append.*v \[1, 2, 2, 4\]/,
      );
      expect(() => cache.append(0, random([1, 2, 1, 4], 15), good)).toThrow(
        /KVCache.append: k is f64.*f32/,
      );
      expect(() => cache.append(1, good, good)).toThrow(
        /KVCache: layer 1 is out of range for 1 layers/,
      );
      expect(
        () => new KVCache({ layers: 1, batch: 1, kvHeads: 1.5, headDim: 4, dtype: 'f32' }),
      ).toThrow(/kvHeads.*1.5/);
      cache.dispose();
    });
  });

  it('frees all of its memory on dispose', () => {
    const before = memory('reference');
    scope(() => {
      using cache = new KVCache({
        layers: 3,
        batch: 1,
        kvHeads: 2,
        headDim: 4,
        capacity: 1,
        dtype: 'f32',
      });
      for (let t = 0; t < 5; t++) {
        for (let l = 0; l < 3; l++) {
          const past = cache.append(
            l,
            random([1, 2, 1, 4], t, 'f32'),
            random([1, 2, 1, 4], t + 9, 'f32'),
          );
          past.k.dispose();
          past.v.dispose();
        }
      }
      expect(memory('reference').bytes).toBeGreaterThan(before.bytes);
    });
    const after = memory('reference');
    expect(after.tensors).toBe(before.tensors);
    expect(after.bytes).toBe(before.bytes);
  });
});
