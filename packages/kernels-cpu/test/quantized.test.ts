import {
  type DType,
  dequantize,
  type QuantAttrs,
  quantMatmul,
  scope,
  type Tensor,
  takesInt8Activations,
  tensor,
  toBackend,
  withBackend,
} from '@slimlm/core';
import { sample, sampleQuantizedWeight } from '@slimlm/core/testing';
import { describe, expect, it } from 'vitest';
import { available, CPU, setIsa, setThreads } from '../src/index';
import { defaultThreads, isas, restoreIsaAndThreadsAfterAll } from './isa-paths';

// The native GPTQ kernels against core's reference kernels, for every ISA this CPU runs: every bit
// width, v1 and v2 zeros, f16/bf16/f32 scales, group sizes 32/64/128/K, m from the GEMV path
// (<= 8) to the GEMM path, odd N and K, one and two threads, f32 and int8 activations. Random
// words are valid packed data.

const REFERENCE = 'reference';

restoreIsaAndThreadsAfterAll();

interface Case {
  bits: QuantAttrs['bits'];
  k: number;
  n: number;
  groupSize: number;
  zeroOffset: 0 | 1;
  scaleDType: DType;
  bias?: DType;
}

/** Runs `fn` on the reference backend and on "cpu" with the same seeded inputs. */
function both(c: Case, m: number, withBias: boolean, activations: 'f32' | 'int8' = 'f32') {
  const attrs: QuantAttrs = {
    bits: c.bits,
    groupSize: c.groupSize,
    zeroOffset: c.zeroOffset,
    activations,
  };
  const run = (backend: string) =>
    withBackend(backend, () =>
      scope(() => {
        const w = sampleQuantizedWeight(c.k, c.n, attrs, c.k + c.n + c.bits, c.scaleDType);
        const x = toBackend(
          withBackend(REFERENCE, () => sample([m, c.k], m + c.k)),
          backend,
        );
        const bias =
          withBias && c.bias
            ? toBackend(
                withBackend(REFERENCE, () =>
                  tensor(sample([c.n], 7).dataSync(), { dtype: c.bias! }),
                ),
                backend,
              )
            : null;
        return [
          Float64Array.from(quantMatmul(x, w, attrs, bias).dataSync()),
          Float64Array.from(dequantize(w, attrs).dataSync()),
        ];
      }),
    );
  return { expected: run(REFERENCE), actual: run(CPU) };
}

/** |actual - expected| within f32 accumulation error of a k-term sum of products. */
function expectProduct(actual: Float64Array, expected: Float64Array, k: number): void {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  const tolerance = 2e-7 * Math.sqrt(k) * 8 * (scale + 1);
  let worst = 0;
  for (let i = 0; i < expected.length; i++)
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

const CASES: Case[] = [
  { bits: 4, k: 256, n: 200, groupSize: 128, zeroOffset: 1, scaleDType: 'f16', bias: 'f16' },
  { bits: 4, k: 96, n: 24, groupSize: 32, zeroOffset: 0, scaleDType: 'bf16', bias: 'f32' },
  { bits: 4, k: 160, n: 72, groupSize: 160, zeroOffset: 1, scaleDType: 'f32' },
  { bits: 2, k: 192, n: 48, groupSize: 64, zeroOffset: 1, scaleDType: 'f16', bias: 'bf16' },
  { bits: 2, k: 64, n: 144, groupSize: 64, zeroOffset: 0, scaleDType: 'f32' },
  { bits: 3, k: 224, n: 96, groupSize: 32, zeroOffset: 1, scaleDType: 'f16', bias: 'f32' },
  { bits: 3, k: 128, n: 32, groupSize: 128, zeroOffset: 0, scaleDType: 'bf16' },
  { bits: 8, k: 96, n: 36, groupSize: 32, zeroOffset: 1, scaleDType: 'f16', bias: 'f16' },
  { bits: 8, k: 288, n: 20, groupSize: 96, zeroOffset: 0, scaleDType: 'f32' },
  // Shapes the native kernels do not take directly (dequantize + GEMM): K not a multiple of 32,
  // groups of 16.
  { bits: 4, k: 72, n: 16, groupSize: 24, zeroOffset: 1, scaleDType: 'f16', bias: 'f32' },
  { bits: 8, k: 64, n: 8, groupSize: 16, zeroOffset: 0, scaleDType: 'f16' },
];

describe.skipIf(!available)('quantMatmul and dequantize on "cpu"', () => {
  for (const isa of isas) {
    for (const threads of [1, 2]) {
      describe(`${isa}, ${threads} thread${threads > 1 ? 's' : ''}`, () => {
        for (const c of CASES) {
          const name = `${c.bits}-bit K=${c.k} N=${c.n} g=${c.groupSize} v${c.zeroOffset ? 1 : 2} ${c.scaleDType}`;
          it(name, () => {
            setIsa(isa);
            setThreads(threads);
            for (const m of [1, 3, 8, 33]) {
              const { expected, actual } = both(c, m, m !== 8);
              expectProduct(actual[0]!, expected[0]!, c.k);
              // Dequantization is exact: s * (q - z) rounded once to f32 on both backends.
              expect(actual[1]).toEqual(expected[1]);
              if (takesInt8Activations(c.bits, c.k, c.groupSize)) {
                // int8 activations: the same integer sums, then f32 rounding of a few terms.
                const int8 = both(c, m, m !== 8, 'int8');
                expectProduct(int8.actual[0]!, int8.expected[0]!, c.k);
              }
            }
          });
        }
      });
    }
  }

  it('gathers groups through g_idx and reads batched x', () => {
    setIsa(isas[0]!);
    setThreads(defaultThreads);
    const attrs: QuantAttrs = { bits: 4, groupSize: 32, zeroOffset: 1 };
    const run = (backend: string) =>
      withBackend(backend, () =>
        scope(() => {
          const w = sampleQuantizedWeight(128, 64, attrs, 3);
          const gIdx = tensor(Int32Array.from({ length: 128 }, (_, k) => (k * 3) % 4));
          const x = toBackend(
            withBackend(REFERENCE, () => sample([2, 5, 128], 4)),
            backend,
          );
          return [
            Float64Array.from(dequantize(w, attrs, gIdx).dataSync()),
            Float64Array.from(quantMatmul(x, w, attrs).dataSync()),
          ];
        }),
      );
    const expected = run(REFERENCE);
    const actual = run(CPU);
    expect(actual[0]).toEqual(expected[0]);
    expectProduct(actual[1]!, expected[1]!, 128);
  });

  it('leaves no tensors behind and returns f32 [..., N]', () => {
    withBackend(CPU, () =>
      scope(() => {
        const attrs: QuantAttrs = { bits: 3, groupSize: 64, zeroOffset: 0 };
        const w = sampleQuantizedWeight(64, 32, attrs, 9);
        const out: Tensor = quantMatmul(sample([4, 1, 64], 1), w, attrs);
        expect(out.shape).toEqual([4, 1, 32]);
        expect(out.backend.name).toBe(CPU);
      }),
    );
  });
});
