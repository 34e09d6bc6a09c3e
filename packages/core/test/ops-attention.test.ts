import { describe, expect, it } from 'vitest';
import {
  full,
  permute,
  scaledDotProductAttention,
  scope,
  slice,
  sum,
  type Tensor,
  tensor,
} from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectClose, expectNoLeak, normals, normalValues } from './helpers';

interface NaiveOptions {
  causal?: boolean;
  scale?: number;
  /** Dense [B, Hq, Tq, Tk] values. */
  mask?: (b: number, h: number, i: number, j: number) => number;
}

/** Textbook attention with HF repeat_kv head mapping; empty rows give zeros. */
function naiveAttention(q: Tensor, k: Tensor, v: Tensor, options: NaiveOptions = {}): number[] {
  const [B, Hq, Tq, D] = q.shape as [number, number, number, number];
  const [, Hkv, Tk] = k.shape as [number, number, number];
  const Dv = v.shape[3]!;
  const qs = q.dataSync();
  const ks = k.dataSync();
  const vs = v.dataSync();
  const scale = options.scale ?? 1 / Math.sqrt(D);
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kh = Math.floor(h / (Hq / Hkv));
      for (let i = 0; i < Tq; i++) {
        const logits: number[] = [];
        for (let j = 0; j < Tk; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++)
            dot += qs[((b * Hq + h) * Tq + i) * D + d]! * ks[((b * Hkv + kh) * Tk + j) * D + d]!;
          let s = dot * scale + (options.mask?.(b, h, i, j) ?? 0);
          if (options.causal && j > i + Tk - Tq) s = Number.NEGATIVE_INFINITY;
          logits.push(s);
        }
        const top = Math.max(...logits);
        const weights = logits.map((s) =>
          top === Number.NEGATIVE_INFINITY ? 0 : Math.exp(s - top),
        );
        const total = weights.reduce((a, c) => a + c, 0);
        for (let e = 0; e < Dv; e++) {
          let acc = 0;
          for (let j = 0; j < Tk; j++)
            acc +=
              total === 0 ? 0 : (weights[j]! / total) * vs[((b * Hkv + kh) * Tk + j) * Dv + e]!;
          out.push(acc);
        }
      }
    }
  }
  return out;
}

describe('scaledDotProductAttention', () => {
  it('matches textbook attention without masking', () => {
    scope(() => {
      const q = normals([2, 3, 4, 5], 1);
      const k = normals([2, 3, 6, 5], 2);
      const v = normals([2, 3, 6, 5], 3);
      const y = scaledDotProductAttention(q, k, v);
      expect(y.shape).toEqual([2, 3, 4, 5]);
      expectClose(y.dataSync(), naiveAttention(q, k, v), { rtol: 1e-13, atol: 1e-13 });
    });
  });

  it('is causal over a square prefill', () => {
    scope(() => {
      const q = normals([1, 2, 5, 4], 4);
      const k = normals([1, 2, 5, 4], 5);
      const v = normals([1, 2, 5, 4], 6);
      const y = scaledDotProductAttention(q, k, v, { causal: true });
      expectClose(y.dataSync(), naiveAttention(q, k, v, { causal: true }), {
        rtol: 1e-13,
        atol: 1e-13,
      });
      // The first query sees only the first key: its output is that key's value.
      expectClose(y.dataSync().slice(0, 4), v.dataSync().slice(0, 4), { rtol: 1e-15, atol: 1e-15 });
    });
  });

  it('offsets causal masking to the newest keys (KV cache) and groups 8 query heads on 4 kv heads', () => {
    scope(() => {
      const q = normals([2, 8, 3, 8], 7);
      const k = normals([2, 4, 7, 8], 8);
      const v = normals([2, 4, 7, 8], 9);
      const y = scaledDotProductAttention(q, k, v, { causal: true });
      expectClose(y.dataSync(), naiveAttention(q, k, v, { causal: true }), {
        rtol: 1e-13,
        atol: 1e-13,
      });
      const decode = scaledDotProductAttention(slice(q, [0, 0, 2]), k, v, { causal: true });
      expect(decode.shape).toEqual([2, 8, 1, 8]);
      expectClose(decode.dataSync(), naiveAttention(slice(q, [0, 0, 2]), k, v), {
        rtol: 1e-13,
        atol: 1e-13,
      });
    });
  });

  it('supports multi-query attention and a value dim of its own', () => {
    scope(() => {
      const q = normals([1, 6, 2, 3], 10);
      const k = normals([1, 1, 5, 3], 11);
      const v = normals([1, 1, 5, 7], 12);
      const y = scaledDotProductAttention(q, k, v, { scale: 0.7 });
      expect(y.shape).toEqual([1, 6, 2, 7]);
      expectClose(y.dataSync(), naiveAttention(q, k, v, { scale: 0.7 }), {
        rtol: 1e-13,
        atol: 1e-13,
      });
    });
  });

  it('adds a broadcast mask, with -Infinity hiding keys', () => {
    scope(() => {
      const q = normals([2, 4, 3, 4], 13);
      const k = normals([2, 2, 5, 4], 14);
      const v = normals([2, 2, 5, 4], 15);
      // Padding: batch 1's first two keys are hidden; a soft bias on top.
      const maskValues = Array.from({ length: 2 * 5 }, (_, n) =>
        n >= 5 && n % 5 < 2 ? Number.NEGATIVE_INFINITY : 0.1 * n,
      );
      const mask = tensor(Float64Array.from(maskValues), { shape: [2, 1, 1, 5] });
      const y = scaledDotProductAttention(q, k, v, { mask, causal: true });
      const expected = naiveAttention(q, k, v, {
        causal: true,
        mask: (b, _h, _i, j) => maskValues[b * 5 + j]!,
      });
      expectClose(y.dataSync(), expected, { rtol: 1e-13, atol: 1e-13 });
      const square = normals([3, 5], 16);
      const bySquare = scaledDotProductAttention(q, k, v, { mask: square });
      const sq = square.dataSync();
      expectClose(
        bySquare.dataSync(),
        naiveAttention(q, k, v, { mask: (_b, _h, i, j) => sq[i * 5 + j]! }),
        { rtol: 1e-13, atol: 1e-13 },
      );
    });
  });

  it('gives zeros, not NaN, for rows that admit no key', () => {
    scope(() => {
      const q = normals([1, 2, 5, 3], 17);
      const k = normals([1, 2, 3, 3], 18);
      const v = normals([1, 2, 3, 3], 19);
      // Five queries over three keys: the first two queries come before every key.
      const y = scaledDotProductAttention(q, k, v, { causal: true });
      const values = Array.from(y.dataSync());
      expect(values.every(Number.isFinite)).toBe(true);
      expect(values.slice(0, 6)).toEqual([0, 0, 0, 0, 0, 0]);
      expectClose(values, naiveAttention(q, k, v, { causal: true }), { rtol: 1e-13, atol: 1e-13 });
      const hideAll = full([1, 1, 1, 3], Number.NEGATIVE_INFINITY, { dtype: 'f64' });
      expect(
        Array.from(scaledDotProductAttention(q, k, v, { mask: hideAll }).dataSync()).every(
          (x) => x === 0,
        ),
      ).toBe(true);
    });
  });

  it('reads strided views as the model produces them', () => {
    scope(() => {
      // [B, T, H, D] projections viewed as [B, H, T, D].
      const q = permute(normals([2, 4, 6, 5], 20), [0, 2, 1, 3]);
      const k = permute(normals([2, 7, 3, 5], 21), [0, 2, 1, 3]);
      const v = permute(normals([2, 7, 3, 5], 22), [0, 2, 1, 3]);
      const y = scaledDotProductAttention(q, k, v, { causal: true });
      expectClose(y.dataSync(), naiveAttention(q, k, v, { causal: true }), {
        rtol: 1e-13,
        atol: 1e-13,
      });
    });
  });

  it('handles empty dims', () => {
    scope(() => {
      const k = normals([1, 2, 3, 4], 23);
      const v = normals([1, 2, 3, 4], 24);
      expect(
        scaledDotProductAttention(normals([1, 2, 0, 4], 25), k, v, { causal: true }).shape,
      ).toEqual([1, 2, 0, 4]);
      expect(
        scaledDotProductAttention(
          normals([0, 2, 3, 4], 26),
          normals([0, 2, 3, 4], 27),
          normals([0, 2, 3, 4], 28),
        ).shape,
      ).toEqual([0, 2, 3, 4]);
      const noKeys = scaledDotProductAttention(
        normals([1, 2, 2, 4], 29),
        normals([1, 2, 0, 4], 30),
        normals([1, 2, 0, 4], 31),
      );
      expect(Array.from(noKeys.dataSync())).toEqual(new Array(16).fill(0));
    });
  });

  it('gives f16 results within f16 rounding of f32', () => {
    scope(() => {
      const shapes = [
        [1, 8, 4, 16],
        [1, 4, 6, 16],
        [1, 4, 6, 16],
      ];
      const values = shapes.map((s, i) =>
        normalValues(
          s.reduce((a, b) => a * b, 1),
          40 + i,
        ),
      );
      const make = (dtype: 'f32' | 'f16') =>
        values.map((vals, i) => tensor(vals, { shape: shapes[i]!, dtype }));
      const [q32, k32, v32] = make('f32');
      const [q16, k16, v16] = make('f16');
      const y32 = scaledDotProductAttention(q32!, k32!, v32!, { causal: true });
      const y16 = scaledDotProductAttention(q16!, k16!, v16!, { causal: true });
      expect(y16.dtype).toBe('f16');
      expectClose(y16.dataSync(), y32.dataSync(), { rtol: 5e-3, atol: 5e-3 });
    });
  });

  it('names shapes and dtypes in its errors', () => {
    scope(() => {
      const q = normals([1, 6, 2, 4], 50);
      const k = normals([1, 4, 3, 4], 51);
      const v = normals([1, 4, 3, 4], 52);
      expect(() => scaledDotProductAttention(q, k, v)).toThrow(
        /scaledDotProductAttention: 6 query heads are not a multiple of 4 kv heads in q \[1, 6, 2, 4\], k \[1, 4, 3, 4\]/,
      );
      const q4 = normals([1, 4, 2, 4], 53);
      expect(() => scaledDotProductAttention(q4, k, normals([1, 4, 5, 4], 54))).toThrow(
        /scaledDotProductAttention.*k \[1, 4, 3, 4\], v \[1, 4, 5, 4\]/,
      );
      expect(() => scaledDotProductAttention(q4, normals([1, 4, 3, 5], 55), v)).toThrow(
        /scaledDotProductAttention.*q \[1, 4, 2, 4\], k \[1, 4, 3, 5\]/,
      );
      expect(() => scaledDotProductAttention(normals([4, 2, 4], 56), k, v)).toThrow(
        /scaledDotProductAttention.*\[batch, heads, seq, headDim\].*q \[4, 2, 4\]/,
      );
      expect(() => scaledDotProductAttention(q4, k, v, { mask: normals([3, 2], 57) })).toThrow(
        /scaledDotProductAttention: mask \[3, 2\].*\[1, 4, 2, 3\]/,
      );
      expect(() =>
        scaledDotProductAttention(q4, tensor(new Float32Array(48), { shape: [1, 4, 3, 4] }), v),
      ).toThrow(/scaledDotProductAttention.*f64.*f32/);
      expect(() => scaledDotProductAttention(q4, k, v, { scale: Number.NaN })).toThrow(
        /scaledDotProductAttention.*scale/,
      );
    });
  });

  it('gradchecks q, k and v with causal grouped-query attention', () => {
    scope(() => {
      const inputs = [
        normals([2, 4, 3, 3], 60),
        normals([2, 2, 3, 3], 61),
        normals([2, 2, 3, 2], 62),
      ];
      const result = gradcheck(
        (q, k, v) => scaledDotProductAttention(q!, k!, v!, { causal: true }),
        inputs,
      );
      expect(result.ok).toBe(true);
    });
  });

  it('gradchecks a decode step over a longer cache, and rows with no key', () => {
    scope(() => {
      const decode = gradcheck(
        (q, k, v) => scaledDotProductAttention(q!, k!, v!, { causal: true, scale: 0.4 }),
        [normals([1, 2, 2, 3], 63), normals([1, 1, 5, 3], 64), normals([1, 1, 5, 3], 65)],
      );
      expect(decode.ok).toBe(true);
      const empty = gradcheck(
        (q, k, v) => scaledDotProductAttention(q!, k!, v!, { causal: true }),
        [normals([1, 2, 4, 2], 66), normals([1, 2, 2, 2], 67), normals([1, 2, 2, 2], 68)],
      );
      expect(empty.ok).toBe(true);
    });
  });

  it('gradchecks through a broadcast mask, the mask included', () => {
    scope(() => {
      const maskValues = [
        0.3,
        Number.NEGATIVE_INFINITY,
        -0.5,
        0,
        1.2,
        Number.NEGATIVE_INFINITY,
        0.1,
        -2,
      ];
      const mask = tensor(Float64Array.from(maskValues), { shape: [2, 1, 1, 4] });
      const withInfinities = gradcheck(
        (q, k, v) => scaledDotProductAttention(q!, k!, v!, { mask, causal: true }),
        [normals([2, 2, 3, 2], 69), normals([2, 1, 4, 2], 70), normals([2, 1, 4, 2], 71)],
      );
      expect(withInfinities.ok).toBe(true);
      const soft = gradcheck(
        (q, k, v, m) => scaledDotProductAttention(q!, k!, v!, { mask: m! }),
        [
          normals([1, 2, 3, 2], 72),
          normals([1, 2, 4, 2], 73),
          normals([1, 2, 4, 2], 74),
          normals([3, 4], 75),
        ],
      );
      expect(soft.ok).toBe(true);
    });
  });

  it('leaks nothing forward and backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const q = normals([1, 4, 3, 2], 80);
        const k = normals([1, 2, 5, 2], 81);
        const v = normals([1, 2, 5, 2], 82);
        const mask = normals([3, 5], 83);
        for (const t of [q, k, v, mask]) t.requiresGrad = true;
        sum(scaledDotProductAttention(q, k, v, { causal: true, mask })).backward();
        expect(k.grad!.shape).toEqual([1, 2, 5, 2]);
        expect(mask.grad!.shape).toEqual([3, 5]);
      }),
    );
  });
});
