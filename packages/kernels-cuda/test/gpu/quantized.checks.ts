import assert from 'node:assert/strict';
import {
  add,
  dequantize,
  matmul,
  type QuantAttrs,
  quantMatmul,
  type Tensor,
  tensor,
  toBackend,
  transpose,
  withBackend,
} from '@slimlm/core';
import { sample, sampleQuantizedWeight } from '@slimlm/core/testing';
import { CUDA } from '../../src/index';
import { assertClose, type GpuCheck, scoped } from './check';

/** x @ W^T (+ bias) by the reference backend: its dequantize, then its f64 matmul. */
function referenceProduct(
  x: Tensor,
  w: ReturnType<typeof sampleQuantizedWeight>,
  attrs: QuantAttrs,
  bias?: Tensor,
) {
  return withBackend('reference', () => {
    const y = matmul(x, transpose(dequantize(w, attrs)));
    return bias ? add(y, bias) : y;
  });
}

const onCuda = (t: Tensor) => toBackend(t, CUDA);

/** quantMatmul on cuda against the reference for one shape and format. */
function compareProduct(
  m: number,
  k: number,
  n: number,
  attrs: QuantAttrs,
  seed: number,
  withBias = false,
) {
  const w = withBackend('reference', () => sampleQuantizedWeight(k, n, attrs, seed));
  const x = withBackend('reference', () => sample([m, k], seed + 1));
  const bias = withBackend('reference', () => (withBias ? sample([n], seed + 2) : undefined));
  const expected = referenceProduct(x, w, attrs, bias);
  const cudaWeight = {
    qweight: onCuda(w.qweight),
    qzeros: onCuda(w.qzeros),
    scales: onCuda(w.scales),
  };
  const actual = quantMatmul(onCuda(x), cudaWeight, attrs, bias ? onCuda(bias) : null);
  assert.equal(actual.backend.name, CUDA);
  // f32 accumulation in a different order than the reference's f64.
  assertClose(
    actual,
    expected,
    2e-6 * Math.sqrt(k),
    `quantMatmul m=${m} k=${k} n=${n} ${JSON.stringify(attrs)}`,
  );
}

export const quantizedChecks: GpuCheck[] = [
  {
    name: 'dequantize matches the reference bit for bit: every width, v1/v2, groups, act-order',
    run: scoped(() => {
      for (const bits of [2, 3, 4, 8] as const) {
        for (const [groupSize, zeroOffset] of [
          [32, 1],
          [128, 0],
          [48, 1],
        ] as const) {
          const attrs: QuantAttrs = { bits, groupSize, zeroOffset };
          const w = withBackend('reference', () =>
            sampleQuantizedWeight(192, 64, attrs, bits + groupSize),
          );
          const expected = withBackend('reference', () => dequantize(w, attrs));
          const cudaWeight = {
            qweight: onCuda(w.qweight),
            qzeros: onCuda(w.qzeros),
            scales: onCuda(w.scales),
          };
          assert.deepEqual(
            dequantize(cudaWeight, attrs).dataSync(),
            expected.dataSync(),
            JSON.stringify(attrs),
          );
        }
      }
      const attrs: QuantAttrs = { bits: 4, groupSize: 32, zeroOffset: 1 };
      const w = withBackend('reference', () => sampleQuantizedWeight(128, 32, attrs, 9));
      const gIdx = Int32Array.from({ length: 128 }, (_, i) => (i * 5) % 4);
      const expected = withBackend('reference', () =>
        dequantize(w, attrs, tensor(gIdx, { dtype: 'i32' })),
      );
      const cudaWeight = {
        qweight: onCuda(w.qweight),
        qzeros: onCuda(w.qzeros),
        scales: onCuda(w.scales),
      };
      const actual = dequantize(
        cudaWeight,
        attrs,
        withBackend(CUDA, () => tensor(gIdx, { dtype: 'i32' })),
      );
      assert.deepEqual(actual.dataSync(), expected.dataSync(), 'act-order');
    }),
  },
  {
    name: 'quantMatmul GEMV (1 to 8 rows): every width, v1/v2, group sizes, with and without bias',
    run: scoped(() => {
      for (const bits of [2, 3, 4, 8] as const) {
        for (const m of [1, 3, 8]) {
          compareProduct(m, 256, 96, { bits, groupSize: 64, zeroOffset: 1 }, 10 * bits + m);
          compareProduct(m, 256, 64, { bits, groupSize: 256, zeroOffset: 0 }, 20 * bits + m, true);
        }
        // Groups that straddle blocks of 32 channels take the code-by-code path.
        compareProduct(2, 192, 32, { bits, groupSize: 48, zeroOffset: 1 }, 30 * bits);
      }
      // K not a multiple of 32 (the last block is partial), N not a multiple of the 128-column strip.
      compareProduct(2, 40, 24, { bits: 4, groupSize: 40, zeroOffset: 1 }, 41);
    }),
  },
  {
    name: 'quantMatmul GEMV on a decode-sized layer splits K and sums the splits exactly once',
    run: scoped(() => {
      compareProduct(1, 4096, 4096, { bits: 4, groupSize: 128, zeroOffset: 1 }, 50);
      compareProduct(4, 11008, 4096, { bits: 4, groupSize: 128, zeroOffset: 1 }, 51, true);
    }),
  },
  {
    name: 'quantMatmul GEMM (more than 8 rows): tiles with edges, every width',
    run: scoped(() => {
      for (const bits of [2, 3, 4, 8] as const) {
        compareProduct(9, 256, 96, { bits, groupSize: 128, zeroOffset: 1 }, 60 + bits);
        // N = 208 (224 at 3 bits, which packs 32 columns at a time): a partial last tile.
        compareProduct(
          130,
          320,
          bits === 3 ? 224 : 208,
          { bits, groupSize: 64, zeroOffset: 0 },
          70 + bits,
          true,
        );
      }
    }),
  },
];
