import type { DType } from '../../dtype';
import { toBf16Bits, toF16Bits } from '../../half';
import { tensor } from '../../ops/creation';
import {
  dequantize,
  type QuantAttrs,
  type QuantizedWeight,
  quantMatmul,
} from '../../ops/quantized';
import { Generator } from '../../random';
import type { ConformanceCase } from '../conformance';
import { sample } from './core';

/**
 * A seeded GPTQ-packed weight for K inputs and N outputs on the active backend: random words
 * (every bit pattern is a valid packing, at every width) and scales in [0.005, 0.025) stored as
 * `scaleDType`. The same on every backend for the same arguments.
 */
export function sampleQuantizedWeight(
  k: number,
  n: number,
  attrs: QuantAttrs,
  seed: number,
  scaleDType: DType = 'f16',
): QuantizedWeight {
  const g = new Generator(seed);
  const groups = Math.ceil(k / attrs.groupSize);
  const randomWords = (count: number) =>
    Int32Array.from({ length: count }, () => g.nextUint32() | 0);
  const qweight = tensor(randomWords(((k * attrs.bits) / 32) * n), {
    shape: [(k * attrs.bits) / 32, n],
  });
  const qzeros = tensor(randomWords((groups * n * attrs.bits) / 32), {
    shape: [groups, (n * attrs.bits) / 32],
  });
  const values = Array.from({ length: groups * n }, () => 0.005 + 0.02 * g.nextFloat());
  const scales =
    scaleDType === 'f32'
      ? tensor(Float32Array.from(values), { shape: [groups, n] })
      : tensor(Uint16Array.from(values, scaleDType === 'bf16' ? toBf16Bits : toF16Bits), {
          shape: [groups, n],
          dtype: scaleDType,
        });
  return { qweight, qzeros, scales };
}

/** GPTQ dequantization and the quantized matmul. */
export const quantizedCases: ConformanceCase[] = [
  {
    name: 'dequantize 2/3/4/8 bits, v1 and v2 zeros',
    op: 'dequantize',
    build: () => [
      dequantize(sampleQuantizedWeight(64, 16, { bits: 2, groupSize: 32, zeroOffset: 1 }, 60), {
        bits: 2,
        groupSize: 32,
        zeroOffset: 1,
      }),
      dequantize(
        sampleQuantizedWeight(64, 32, { bits: 3, groupSize: 64, zeroOffset: 0 }, 61, 'bf16'),
        { bits: 3, groupSize: 64, zeroOffset: 0 },
      ),
      dequantize(sampleQuantizedWeight(48, 8, { bits: 4, groupSize: 16, zeroOffset: 1 }, 62), {
        bits: 4,
        groupSize: 16,
        zeroOffset: 1,
      }),
      dequantize(
        sampleQuantizedWeight(40, 4, { bits: 8, groupSize: 40, zeroOffset: 0 }, 63, 'f32'),
        { bits: 8, groupSize: 40, zeroOffset: 0 },
      ),
    ],
  },
  {
    name: 'dequantize with an act-order g_idx',
    op: 'dequantize',
    build: () => {
      const attrs: QuantAttrs = { bits: 4, groupSize: 16, zeroOffset: 1 };
      const gIdx = Int32Array.from({ length: 64 }, (_, k) => (k * 7) % 4);
      return dequantize(sampleQuantizedWeight(64, 16, attrs, 64), attrs, tensor(gIdx));
    },
  },
  {
    name: 'quantMatmul 4-bit g32 with bias',
    op: 'quantMatmul',
    build: () => {
      const attrs: QuantAttrs = { bits: 4, groupSize: 32, zeroOffset: 1 };
      return quantMatmul(
        sample([3, 128], 65),
        sampleQuantizedWeight(128, 40, attrs, 66),
        attrs,
        sample([40], 67),
      );
    },
    atol: 1e-4,
  },
  {
    name: 'quantMatmul 4-bit g32 reading x through a permutation (act-order), m = 1 and 12, f32 and int8',
    op: 'quantMatmul',
    build: () => {
      const attrs: QuantAttrs = { bits: 4, groupSize: 32, zeroOffset: 1 };
      const w = sampleQuantizedWeight(128, 64, attrs, 74);
      const order = Int32Array.from({ length: 128 }, (_, i) => (i * 45 + 3) % 128);
      const perm = tensor(order, { dtype: 'i32', shape: [128] });
      return [
        quantMatmul(sample([1, 128], 75), w, attrs, sample([64], 76), perm),
        quantMatmul(sample([12, 128], 77), w, attrs, null, perm),
        quantMatmul(sample([2, 128], 78), w, { ...attrs, activations: 'int8' }, null, perm),
      ];
    },
    atol: 1e-4,
  },
  {
    name: 'quantMatmul 3-bit, 2-bit and 8-bit over batch axes',
    op: 'quantMatmul',
    build: () => {
      const three: QuantAttrs = { bits: 3, groupSize: 64, zeroOffset: 0 };
      const two: QuantAttrs = { bits: 2, groupSize: 128, zeroOffset: 1 };
      const eight: QuantAttrs = { bits: 8, groupSize: 32, zeroOffset: 1 };
      return [
        quantMatmul(sample([2, 1, 128], 68), sampleQuantizedWeight(128, 64, three, 69), three),
        quantMatmul(sample([5, 128], 70), sampleQuantizedWeight(128, 48, two, 71, 'bf16'), two),
        quantMatmul(sample([1, 64], 72), sampleQuantizedWeight(64, 12, eight, 73, 'f32'), eight),
      ];
    },
    atol: 1e-4,
  },
  {
    // Decode (m = 1), a few rows and prefill-sized batches; blocks of x of 128, 64 and 32; N not a
    // multiple of 16 (vector tails); a row with a NaN (its outputs NaN, the others untouched).
    name: 'quantMatmul with int8 activations (2, 4, 8 bits)',
    op: 'quantMatmul',
    build: () => {
      const four: QuantAttrs = { bits: 4, groupSize: 128, zeroOffset: 1, activations: 'int8' };
      const two: QuantAttrs = { bits: 2, groupSize: 64, zeroOffset: 0, activations: 'int8' };
      const eight: QuantAttrs = { bits: 8, groupSize: 32, zeroOffset: 1, activations: 'int8' };
      const perChannel: QuantAttrs = {
        bits: 4,
        groupSize: 256,
        zeroOffset: 0,
        activations: 'int8',
      };
      const withNaN = Float32Array.from(sample([3, 128], 80).dataSync());
      withNaN[128 + 5] = Number.NaN;
      return [
        quantMatmul(
          sample([1, 256], 74),
          sampleQuantizedWeight(256, 72, four, 75),
          four,
          sample([72], 76),
        ),
        quantMatmul(sample([13, 256], 77), sampleQuantizedWeight(256, 40, four, 78), four),
        quantMatmul(sample([2, 3, 128], 79), sampleQuantizedWeight(128, 48, two, 81, 'bf16'), two),
        quantMatmul(
          tensor(withNaN, { shape: [3, 128] }),
          sampleQuantizedWeight(128, 24, eight, 82, 'f32'),
          eight,
        ),
        quantMatmul(
          sample([9, 256], 83),
          sampleQuantizedWeight(256, 32, perChannel, 84),
          perChannel,
        ),
      ];
    },
    atol: 1e-4,
  },
];
