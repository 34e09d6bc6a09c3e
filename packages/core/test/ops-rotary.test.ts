import { describe, expect, it } from 'vitest';
import { applyRotary, grad, neg, permute, rotaryTables, scope, sum, tensor } from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectClose, expectNoLeak, normals, normalValues } from './helpers';

/** HF rotate_half applied to rows of length headDim, tables indexed by `tableRow(row)`. */
function naiveRotary(
  x: ArrayLike<number>,
  headDim: number,
  rotaryDim: number,
  cos: ArrayLike<number>,
  sin: ArrayLike<number>,
  tableRow: (row: number) => number,
): number[] {
  const out = Array.from(x);
  const half = rotaryDim / 2;
  for (let row = 0; row < x.length / headDim; row++) {
    const t = tableRow(row) * rotaryDim;
    for (let j = 0; j < half; j++) {
      const x1 = x[row * headDim + j]!;
      const x2 = x[row * headDim + j + half]!;
      out[row * headDim + j] = x1 * cos[t + j]! - x2 * sin[t + j]!;
      out[row * headDim + j + half] = x2 * cos[t + j + half]! + x1 * sin[t + j + half]!;
    }
  }
  return out;
}

describe('rotaryTables', () => {
  it('matches the HF LlamaRotaryEmbedding formula', () => {
    scope(() => {
      const positions = [0, 1, 2, 7, 100, 4095];
      const dim = 8;
      const base = 500000;
      const { cos, sin } = rotaryTables(positions, dim, { base, dtype: 'f64' });
      expect(cos.shape).toEqual([6, 8]);
      const expectedCos: number[] = [];
      const expectedSin: number[] = [];
      for (const p of positions) {
        // HF computes inv_freq and position * inv_freq in float32, then cos/sin of that angle;
        // emb = cat(freqs, freqs): frequency i sits at channels i and i + dim / 2.
        const f32 = Math.fround;
        const freqs = [0, 2, 4, 6].map((k) => f32(p * f32(1 / f32(base ** f32(k / dim)))));
        for (const f of [...freqs, ...freqs]) {
          expectedCos.push(Math.cos(f));
          expectedSin.push(Math.sin(f));
        }
      }
      expectClose(cos.dataSync(), expectedCos, { rtol: 1e-15, atol: 1e-15 });
      expectClose(sin.dataSync(), expectedSin, { rtol: 1e-15, atol: 1e-15 });
    });
  });

  it('starts at the identity and defaults to f32 with base 10000', () => {
    scope(() => {
      const { cos, sin } = rotaryTables([0, 1], 4);
      expect(cos.dtype).toBe('f32');
      expect(Array.from(cos.dataSync())).toEqual([
        1,
        1,
        1,
        1,
        Math.fround(Math.cos(1)),
        Math.fround(Math.cos(0.01)),
        Math.fround(Math.cos(1)),
        Math.fround(Math.cos(0.01)),
      ]);
      expect(Array.from(sin.dataSync()).slice(0, 4)).toEqual([0, 0, 0, 0]);
    });
  });

  it('takes i32 position tensors of any shape', () => {
    scope(() => {
      const { cos, sin } = rotaryTables(
        tensor(new Int32Array([0, 1, 2, 3, 4, 5]), { shape: [2, 3] }),
        6,
        { dtype: 'f64' },
      );
      expect(cos.shape).toEqual([2, 3, 6]);
      const flat = rotaryTables([0, 1, 2, 3, 4, 5], 6, { dtype: 'f64' });
      expect(Array.from(cos.dataSync())).toEqual(Array.from(flat.cos.dataSync()));
      expect(Array.from(sin.dataSync())).toEqual(Array.from(flat.sin.dataSync()));
    });
  });

  it('refuses odd dims, integer dtypes and non-i32 position tensors', () => {
    expect(() => rotaryTables([0], 5)).toThrow(/rotaryTables.*even.*5/);
    expect(() => rotaryTables([0], 4, { dtype: 'i32' })).toThrow(/rotaryTables.*float.*i32/);
    scope(() => {
      expect(() => rotaryTables(tensor([0, 1]), 4)).toThrow(/rotaryTables.*i32.*f32/);
    });
  });
});

describe('applyRotary', () => {
  it('rotates [batch, heads, seq, headDim] like HF apply_rotary_pos_emb', () => {
    scope(() => {
      const [batch, heads, seq, headDim] = [2, 3, 5, 8];
      const x = normals([batch, heads, seq, headDim], 1);
      const { cos, sin } = rotaryTables([3, 4, 5, 6, 7], headDim, { dtype: 'f64' });
      const y = applyRotary(x, cos, sin);
      const expected = naiveRotary(
        x.dataSync(),
        headDim,
        headDim,
        cos.dataSync(),
        sin.dataSync(),
        (row) => row % seq,
      );
      expectClose(y.dataSync(), expected, { rtol: 1e-14, atol: 1e-14 });
    });
  });

  it('leaves channels past rotaryDim untouched (partial rotary, odd headDim)', () => {
    scope(() => {
      const [heads, seq, headDim, rotaryDim] = [2, 3, 7, 4];
      const x = normals([1, heads, seq, headDim], 2);
      const { cos, sin } = rotaryTables([0, 1, 2], rotaryDim, { dtype: 'f64' });
      const y = applyRotary(x, cos, sin, { rotaryDim });
      const expected = naiveRotary(
        x.dataSync(),
        headDim,
        rotaryDim,
        cos.dataSync(),
        sin.dataSync(),
        (row) => row % seq,
      );
      expectClose(y.dataSync(), expected, { rtol: 1e-14, atol: 1e-14 });
      const xs = x.dataSync();
      const ys = y.dataSync();
      for (let i = 0; i < xs.length; i++) if (i % headDim >= rotaryDim) expect(ys[i]).toBe(xs[i]);
    });
  });

  it('takes per-batch [batch, 1, seq, rotaryDim] tables and strided x', () => {
    scope(() => {
      const [batch, heads, seq, headDim] = [2, 3, 4, 6];
      // The model's projections come out [batch, seq, heads, headDim]; attention wants heads first.
      const x = permute(normals([batch, seq, heads, headDim], 3), [0, 2, 1, 3]);
      const positions = tensor(new Int32Array([0, 1, 2, 3, 10, 11, 12, 13]), {
        shape: [batch, 1, seq],
      });
      const { cos, sin } = rotaryTables(positions, headDim, { dtype: 'f64' });
      const y = applyRotary(x, cos, sin);
      const xDense = Float64Array.from(x.dataSync());
      const expected = naiveRotary(
        xDense,
        headDim,
        headDim,
        cos.dataSync(),
        sin.dataSync(),
        (row) => {
          const b = Math.floor(row / (heads * seq));
          return b * seq + (row % seq);
        },
      );
      expectClose(y.dataSync(), expected, { rtol: 1e-14, atol: 1e-14 });
    });
  });

  it('is undone by rotating with -sin', () => {
    scope(() => {
      const x = normals([1, 2, 5, 10], 4);
      const { cos, sin } = rotaryTables([0, 5, 9, 33, 1000], 6, { dtype: 'f64' });
      const back = applyRotary(applyRotary(x, cos, sin, { rotaryDim: 6 }), cos, neg(sin), {
        rotaryDim: 6,
      });
      expectClose(back.dataSync(), x.dataSync(), { rtol: 1e-14, atol: 1e-14 });
    });
  });

  it('handles rotaryDim 0, a single position and empty dims', () => {
    scope(() => {
      const x = normals([1, 1, 1, 4], 5);
      const none = rotaryTables([7], 2, { dtype: 'f64' });
      const empty = {
        cos: tensor(new Float64Array(0), { shape: [1, 0] }),
        sin: tensor(new Float64Array(0), { shape: [1, 0] }),
      };
      expect(Array.from(applyRotary(x, empty.cos, empty.sin, { rotaryDim: 0 }).dataSync())).toEqual(
        Array.from(x.dataSync()),
      );
      expect(applyRotary(x, none.cos, none.sin, { rotaryDim: 2 }).shape).toEqual([1, 1, 1, 4]);
      const noTokens = rotaryTables([], 4, { dtype: 'f64' });
      expect(applyRotary(normals([2, 3, 0, 4], 6), noTokens.cos, noTokens.sin).shape).toEqual([
        2, 3, 0, 4,
      ]);
    });
  });

  it('gives f16 results within f16 rounding of f32', () => {
    scope(() => {
      const values = normalValues(2 * 4 * 3 * 16, 7);
      const positions = [0, 17, 300];
      const f32 = rotaryTables(positions, 16);
      const f16 = rotaryTables(positions, 16, { dtype: 'f16' });
      const y32 = applyRotary(
        tensor(values, { shape: [2, 4, 3, 16] }),
        f32.cos,
        f32.sin,
      ).dataSync();
      const y16 = applyRotary(
        tensor(values, { shape: [2, 4, 3, 16], dtype: 'f16' }),
        f16.cos,
        f16.sin,
      );
      expect(y16.dtype).toBe('f16');
      expectClose(y16.dataSync(), y32, { rtol: 4e-3, atol: 4e-3 });
    });
  });

  it('names shapes and dtypes in its errors', () => {
    scope(() => {
      const x = tensor(new Float32Array(2 * 3 * 8), { shape: [1, 2, 3, 8] });
      const { cos, sin } = rotaryTables([0, 1, 2], 8);
      const short = rotaryTables([0, 1], 8);
      const narrow = rotaryTables([0, 1, 2], 4);
      expect(() => applyRotary(x, short.cos, short.sin)).toThrow(
        /applyRotary.*\[2, 8\].*\[1, 2, 3, 8\]/,
      );
      expect(() => applyRotary(x, narrow.cos, narrow.sin)).toThrow(
        /applyRotary.*\[3, 4\].*rotaryDim 8/,
      );
      expect(() => applyRotary(x, cos, sin, { rotaryDim: 3 })).toThrow(
        /applyRotary.*rotaryDim 3.*even/,
      );
      expect(() => applyRotary(x, cos, sin, { rotaryDim: 10 })).toThrow(
        /applyRotary.*rotaryDim 10.*headDim 8/,
      );
      expect(() => applyRotary(x, cos, narrow.sin)).toThrow(/applyRotary.*\[3, 8\].*\[3, 4\]/);
      const f64 = rotaryTables([0, 1, 2], 8, { dtype: 'f64' });
      expect(() => applyRotary(x, f64.cos, f64.sin)).toThrow(/applyRotary.*f32.*f64/);
      expect(() =>
        applyRotary(tensor(new Int32Array(48), { shape: [1, 2, 3, 8] }), cos, sin),
      ).toThrow(/applyRotary.*i32/);
    });
  });

  it('gradchecks x for full and partial rotary with broadcast tables', () => {
    scope(() => {
      const { cos, sin } = rotaryTables([2, 3, 4], 4, { dtype: 'f64' });
      const partial = gradcheck(
        (x) => applyRotary(x!, cos, sin, { rotaryDim: 4 }),
        [normals([2, 2, 3, 6], 8)],
      );
      expect(partial.ok).toBe(true);
      const batched = rotaryTables(tensor(new Int32Array([0, 1, 5, 6]), { shape: [2, 1, 2] }), 4, {
        dtype: 'f64',
      });
      const full = gradcheck(
        (x) => applyRotary(x!, batched.cos, batched.sin),
        [normals([2, 3, 2, 4], 9)],
      );
      expect(full.ok).toBe(true);
    });
  });

  it('treats the tables as constants', () => {
    scope(() => {
      const x = normals([1, 1, 2, 4], 10);
      const { cos, sin } = rotaryTables([0, 1], 4, { dtype: 'f64' });
      x.requiresGrad = true;
      cos.requiresGrad = true;
      const [gx, gcos] = grad(sum(applyRotary(x, cos, sin)), [x, cos], { allowUnused: true });
      expect(gx!.shape).toEqual([1, 1, 2, 4]);
      expect(Array.from(gcos!.dataSync())).toEqual(new Array(8).fill(0));
      gx!.dispose();
      gcos!.dispose();
    });
  });

  it('leaks nothing forward and backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const x = normals([2, 2, 3, 6], 11);
        x.requiresGrad = true;
        const { cos, sin } = rotaryTables([0, 1, 2], 4, { dtype: 'f64' });
        sum(applyRotary(x, cos, sin, { rotaryDim: 4 })).backward();
        expect(x.grad!.shape).toEqual([2, 2, 3, 6]);
      }),
    );
  });
});
