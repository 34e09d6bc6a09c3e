import { manualSeed, randn, tensor } from '@slimlm/core';
import { describe, expect, it } from 'vitest';
import { dequantizeCode, quantizeCode } from '../src/algorithm/quantizer';
import { findParams, roundHalfEven, rtnQuantize } from '../src/index';

const f32 = Math.fround;
const params = (row: number[], bits: 2 | 3 | 4 | 8, sym: boolean, mse = false) => {
  const p = findParams(Float32Array.from(row), 1, row.length, row.length, 0, {
    bits,
    sym,
    groupSize: -1,
    mse,
  });
  return { scale: p.scale[0]!, zero: p.zero[0]! };
};

describe('roundHalfEven', () => {
  it('rounds ties to even like torch.round', () => {
    expect([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([
      0, 2, 2, 4, -0, -2, -2, 2, 3,
    ]);
  });

  it('breaks ties in codes the same way', () => {
    expect(quantizeCode(2.5, 1, 0, 15)).toBe(2);
    expect(quantizeCode(3.5, 1, 0, 15)).toBe(4);
    expect(quantizeCode(-0.5, 1, 8, 15)).toBe(8);
    expect(quantizeCode(100, 1, 8, 15)).toBe(15);
    expect(quantizeCode(-100, 1, 8, 15)).toBe(0);
  });
});

describe('findParams', () => {
  it('asymmetric: range [min(row, 0), max(row, 0)], zero = round(-xmin / scale)', () => {
    const { scale, zero } = params([-1, 0.5, 2], 4, false);
    expect(scale).toBe(f32(3 / 15));
    expect(zero).toBe(roundHalfEven(f32(1 / scale)));
    // A positive row still includes 0.
    expect(params([0.5, 3], 4, false)).toEqual({ scale: f32(3 / 15), zero: 0 });
  });

  it('symmetric: ±max|row| and zero 2^(b-1)', () => {
    expect(params([-1, 0.5, 2], 4, true)).toEqual({ scale: f32(4 / 15), zero: 8 });
    expect(params([-3, 0.5, 2], 4, true)).toEqual({ scale: f32(6 / 15), zero: 8 });
  });

  it('symmetric keeps xmin = 0 for a row without negative values, as the reference does', () => {
    expect(params([0.5, 2], 4, true)).toEqual({ scale: f32(2 / 15), zero: 8 });
  });

  it('an all-zero row uses [-1, 1]', () => {
    // In f32, 1 / (2/15) is 7.4999996 and 1 / (2/3) is exactly 1.5 (torch gives 7 and 2).
    expect(params([0, 0, 0], 4, false)).toEqual({ scale: f32(2 / 15), zero: 7 });
    expect(params([0, 0], 4, true)).toEqual({ scale: f32(2 / 15), zero: 8 });
    expect(params([0, 0], 2, false)).toEqual({ scale: f32(2 / 3), zero: 2 });
  });

  it('handles 2, 3, 4 and 8 bits', () => {
    for (const bits of [2, 3, 4, 8] as const) {
      const maxq = 2 ** bits - 1;
      const { scale, zero } = params([-1, 3], bits, false);
      expect(scale).toBe(f32(4 / maxq));
      expect(zero).toBe(roundHalfEven(f32(1 / scale)));
      expect(params([-1, 3], bits, true)).toEqual({ scale: f32(6 / maxq), zero: 2 ** (bits - 1) });
      // Every value of the row maps into [0, maxq] and back within half a step.
      for (const w of [-1, 0, 1.3, 3]) {
        const code = quantizeCode(w, scale, zero, maxq);
        expect(code).toBeGreaterThanOrEqual(0);
        expect(code).toBeLessThanOrEqual(maxq);
        expect(Math.abs(dequantizeCode(code, scale, zero) - w)).toBeLessThanOrEqual(
          scale / 2 + 1e-6,
        );
      }
    }
  });

  it('reads rows with a stride and an offset (one group of a wider matrix)', () => {
    const m = Float32Array.from([9, -1, 2, 9, 9, 4, -2, 9]);
    const p = findParams(m, 2, 2, 4, 1, { bits: 4, sym: false, groupSize: 2 });
    expect(Array.from(p.scale)).toEqual([f32(3 / 15), f32(6 / 15)]);
  });

  it('MSE search matches the reference grid search (values from torch)', () => {
    const rows = [
      Array.from({ length: 64 }, (_, i) => (Math.sin(1.7 * i + 0.3) * (1 + (i % 5))) / 7),
      Array.from({ length: 64 }, (_, i) => Math.cos(0.9 * i) ** 3 - 0.2),
    ];
    const values = Float32Array.from(rows.flat());
    // [bits, sym, scales, zeros] from IST-DASLab quant.py's find_params(mse=True) on these rows.
    const expected: [2 | 3 | 4, boolean, number[], number[]][] = [
      [2, false, [0.3274531066417694, 0.5225157141685486], [1, 2]],
      [2, true, [0.36183619499206543, 0.7107517123222351], [2, 2]],
      [3, false, [0.17826597392559052, 0.25059428811073303], [3, 4]],
      [3, true, [0.19792170822620392, 0.24977846443653107], [4, 4]],
      [4, false, [0.08407579362392426, 0.12440849840641022], [7, 9]],
      [4, true, [0.09522005915641785, 0.1265137940645218], [8, 8]],
    ];
    for (const [bits, sym, scales, zeros] of expected) {
      const p = findParams(values, 2, 64, 64, 0, { bits, sym, groupSize: -1, mse: true });
      expect([Array.from(p.scale), Array.from(p.zero)]).toEqual([scales, zeros]);
    }
    // Without the search, the plain min/max range (torch: 0.4425041675567627 for 2-bit asym).
    const plain = findParams(values, 2, 64, 64, 0, { bits: 2, sym: false, groupSize: -1 });
    expect(plain.scale[0]).toBe(0.4425041675567627);
  });
});

describe('rtnQuantize', () => {
  it('quantizes each group of consecutive columns with its own parameters', () => {
    manualSeed(1);
    const w = randn([6, 80]);
    const result = rtnQuantize(w, { bits: 4, sym: false, groupSize: 32 });
    const values = w.dataSync() as Float32Array;
    expect(result.scales.length).toBe(3 * 6);
    expect(Array.from(result.gIdx)).toEqual(
      Array.from({ length: 80 }, (_, k) => Math.floor(k / 32)),
    );
    const last = findParams(values, 6, 16, 80, 64, { bits: 4, sym: false, groupSize: 32 });
    expect(Array.from(result.scales.subarray(12))).toEqual(Array.from(last.scale));
    const q = result.dequantized.dataSync();
    let loss = 0;
    for (let r = 0; r < 6; r++) {
      for (let k = 0; k < 80; k++) {
        const g = result.gIdx[k]!;
        const scale = result.scales[g * 6 + r]!;
        const zero = result.zeros[g * 6 + r]!;
        const code = quantizeCode(values[r * 80 + k]!, scale, zero, 15);
        expect(result.codes[r * 80 + k]).toBe(code);
        expect(q[r * 80 + k]).toBe(dequantizeCode(code, scale, zero));
        loss += (values[r * 80 + k]! - q[r * 80 + k]!) ** 2;
      }
    }
    expect(result.loss).toBeCloseTo(loss, 10);
    expect(result.damp).toBe(0);
  });

  it('uses one group per row for groupSize -1', () => {
    const result = rtnQuantize(tensor([[1, -2, 3, 0]]), { bits: 2, sym: true, groupSize: -1 });
    expect(Array.from(result.gIdx)).toEqual([0, 0, 0, 0]);
    expect(Array.from(result.scales)).toEqual([f32(6 / 3)]);
    expect(Array.from(result.codes)).toEqual([2, 1, 3, 2]);
  });

  it('rejects unsupported bits and group sizes', () => {
    const w = tensor([[1, 2]]);
    expect(() => rtnQuantize(w, { bits: 5 as 4, sym: true, groupSize: -1 })).toThrow(/bits/);
    expect(() => rtnQuantize(w, { bits: 4, sym: true, groupSize: 0 })).toThrow(/groupSize/);
  });
});
