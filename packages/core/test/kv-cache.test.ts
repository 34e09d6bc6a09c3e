import { describe, expect, it } from 'vitest';
import {
  applyRotary,
  concat,
  KVCache,
  memory,
  narrow,
  permute,
  rotaryTables,
  scaledDotProductAttention,
  scope,
  type Tensor,
} from '../src/index';
import { expectClose, normals } from './helpers';

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
        normals([batch, queryHeads, seq, headDim], 1),
        normals([batch, queryHeads, seq, headDim], 2),
      ];
      const ks = [
        normals([batch, kvHeads, seq, headDim], 3),
        normals([batch, kvHeads, seq, headDim], 4),
      ];
      const vs = [
        normals([batch, kvHeads, seq, headDim], 5),
        normals([batch, kvHeads, seq, headDim], 6),
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
        expectClose(concat(steps[l]!, 2).dataSync(), full[l]!.dataSync(), {
          rtol: 1e-13,
          atol: 1e-13,
        });
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
      const k = normals([1, 2, 5, 3], 7, { dtype: 'f32' });
      const v = normals([1, 2, 5, 3], 8, { dtype: 'f32' });
      cache.append(0, narrow(k, 2, 0, 3), narrow(v, 2, 0, 3));
      const { k: keys, v: values } = cache.append(0, narrow(k, 2, 3, 2), narrow(v, 2, 3, 2));
      expect(Array.from(keys.dataSync())).toEqual(Array.from(k.dataSync()));
      expect(Array.from(values.dataSync())).toEqual(Array.from(v.dataSync()));
      const q = normals([1, 4, 2, 3], 9, { dtype: 'f32' });
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
      const k = permute(normals([1, 3, 2, 2], 10), [0, 2, 1, 3]);
      const first = cache.append(1, k, k);
      expect(Array.from(first.k.dataSync())).toEqual(Array.from(k.dataSync()));
      expect(cache.length(0)).toBe(0);
      expect(cache.length(1)).toBe(3);
      cache.reset();
      expect(cache.length(1)).toBe(0);
      const fresh = normals([1, 2, 1, 2], 11);
      const again = cache.append(1, fresh, fresh);
      expect(Array.from(again.v.dataSync())).toEqual(Array.from(fresh.dataSync()));
      cache.dispose();
      expect(cache.length(1)).toBe(0);
    });
  });

  it('names shapes, dtypes and layers in its errors', () => {
    scope(() => {
      const cache = new KVCache({ layers: 1, batch: 1, kvHeads: 2, headDim: 4, dtype: 'f32' });
      const good = normals([1, 2, 1, 4], 12, { dtype: 'f32' });
      expect(() => cache.append(0, normals([1, 3, 1, 4], 13, { dtype: 'f32' }), good)).toThrow(
        /KVCache.append: k \[1, 3, 1, 4\] and v \[1, 2, 1, 4\].*kvHeads 2/,
      );
      expect(() => cache.append(0, good, normals([1, 2, 2, 4], 14, { dtype: 'f32' }))).toThrow(
        /KVCache.append.*v \[1, 2, 2, 4\]/,
      );
      expect(() => cache.append(0, normals([1, 2, 1, 4], 15), good)).toThrow(
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
            normals([1, 2, 1, 4], t, { dtype: 'f32' }),
            normals([1, 2, 1, 4], t + 9, { dtype: 'f32' }),
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
