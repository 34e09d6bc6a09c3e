import { type DType, dequantize, type QuantAttrs, tensor, withBackend } from '@slimlm/core';
import { sampleQuantizedWeight } from '@slimlm/core/testing';
import { describe, expect, it } from 'vitest';
import { native } from '../src/addon';
import { DTYPE_CODES } from '../src/kernels/launch';

// The GPTQ reading the kernels do (native/common/gptq_packing.h), run on the host through the
// addon, against core's reference dequantize: every bit width, both zero-point conventions,
// scale dtypes, group sizes and act-order. The sampled weights are random words (any words are a
// valid packing), so every bit pattern is covered, the 3-bit fields that straddle words included.

interface Case extends QuantAttrs {
  k: number;
  n: number;
  scaleType: DType;
  actOrder: boolean;
}

/** The packed weight as host arrays, and core's reference dequantize of it ([n, k] f32). */
function sampled(c: Case, seed: number) {
  return withBackend('reference', () => {
    const attrs: QuantAttrs = { bits: c.bits, groupSize: c.groupSize, zeroOffset: c.zeroOffset };
    const w = sampleQuantizedWeight(c.k, c.n, attrs, seed, c.scaleType);
    const groups = w.scales.shape[0]!;
    const gIdx = c.actOrder
      ? Int32Array.from({ length: c.k }, (_, i) => (i * 7) % groups)
      : undefined;
    const expected = dequantize(w, attrs, gIdx ? tensor(gIdx, { dtype: 'i32' }) : null);
    return {
      arrays: {
        qweight: w.qweight.rawSync() as Int32Array,
        qzeros: w.qzeros.rawSync() as Int32Array,
        scales: w.scales.rawSync(),
        gIdx,
      },
      expected: expected.dataSync(),
    };
  });
}

const cases: Case[] = [];
for (const bits of [2, 3, 4, 8] as const) {
  const base = { bits, actOrder: false };
  cases.push({ ...base, k: 256, n: 64, groupSize: 64, zeroOffset: 0, scaleType: 'f16' });
  cases.push({ ...base, k: 256, n: 64, groupSize: 64, zeroOffset: 1, scaleType: 'f16' });
  cases.push({ ...base, k: 128, n: 32, groupSize: 128, zeroOffset: 1, scaleType: 'bf16' });
  cases.push({ ...base, k: 192, n: 96, groupSize: 48, zeroOffset: 0, scaleType: 'f32' });
  cases.push({
    ...base,
    k: 128,
    n: 32,
    groupSize: 32,
    zeroOffset: 1,
    scaleType: 'f16',
    actOrder: true,
  });
}

describe.runIf(native !== undefined)('GPTQ unpacking shared with the kernels', () => {
  it.each(cases)(
    'matches core bit for bit: $bits bits, K $k, N $n, group $groupSize, zero offset $zeroOffset, $scaleType scales, act-order $actOrder',
    (c) => {
      const { arrays, expected } = sampled(c, c.bits * 100 + c.groupSize + c.zeroOffset);
      const actual = native!.gptqDequantize({
        ...arrays,
        scaleType: DTYPE_CODES[c.scaleType],
        bits: c.bits,
        n: c.n,
        k: c.k,
        groupSize: c.groupSize,
        zeroOffset: c.zeroOffset,
      });
      expect(actual).toEqual(expected);
    },
  );

  it.each([2, 3, 4, 8] as const)(
    'extracts the 32 codes of a %i-bit block as core reads them',
    (bits) => {
      // Column 0 of one block read back with scale 1 and zero 0 (zero words, v2): its codes.
      const weight = withBackend('reference', () =>
        sampleQuantizedWeight(32, 32, { bits, groupSize: 32, zeroOffset: 0 }, 7 * bits, 'f32'),
      );
      const words = weight.qweight.rawSync() as Int32Array;
      const codes = withBackend('reference', () =>
        dequantize(
          {
            qweight: weight.qweight,
            qzeros: tensor(new Int32Array(bits), { shape: [1, bits], dtype: 'i32' }),
            scales: tensor(new Float32Array(32).fill(1), { shape: [1, 32] }),
          },
          { bits, groupSize: 32, zeroOffset: 0 },
        ).dataSync(),
      );
      const column0 = Uint32Array.from({ length: bits }, (_, r) => words[r * 32]!);
      expect(Array.from(native!.gptqBlockCodes(column0, bits))).toEqual(
        Array.from(codes.subarray(0, 32)),
      );
    },
  );

  it('lays codes out as the format says: field j at bit b*j, only 3-bit fields 10 and 21 straddle', () => {
    for (const bits of [2, 3, 4, 8]) {
      const fields = native!.gptqCodeFields(bits);
      fields.forEach((f, j) => {
        expect(f.word * 32 + f.shift).toBe(bits * j);
      });
      const straddling = fields.flatMap((f, j) => (f.straddles ? [j] : []));
      expect(straddling).toEqual(bits === 3 ? [10, 21] : []);
    }
  });
});
