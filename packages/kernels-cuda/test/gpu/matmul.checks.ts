import {
  type DType,
  matmul,
  type Tensor,
  tensor,
  toBackend,
  transpose,
  withBackend,
} from '@slimlm/core';
import { sample } from '@slimlm/core/testing';
import { CUDA } from '../../src/index';
import { assertClose, type GpuCheck, scoped } from './check';

/** A seeded [rows, cols] matrix of `dtype` on the reference backend. */
function matrix(shape: number[], seed: number, dtype: DType): Tensor {
  return withBackend('reference', () => tensor(sample(shape, seed).dataSync(), { shape, dtype }));
}

/** How an operand is laid out: as stored ([rows, cols] row-major) or a transposed view. */
type Layout = 'plain' | 'transposed';

/** The operand [rows, cols] in the layout: a transposed view of a [cols, rows] matrix. */
function operand(rows: number, cols: number, layout: Layout, seed: number, dtype: DType): Tensor {
  return layout === 'plain'
    ? matrix([rows, cols], seed, dtype)
    : transpose(matrix([cols, rows], seed, dtype));
}

/** Tolerance of a product rounded to `dtype`: a few rounding steps of the output. */
const TOLERANCE: Record<string, number> = { f32: 2e-6, f16: 2e-3, bf16: 1.6e-2 };

function compare(
  m: number,
  n: number,
  k: number,
  dtype: DType,
  a: Layout,
  b: Layout,
  seed: number,
  bDType = dtype,
) {
  const left = operand(m, k, a, seed, dtype);
  const right = operand(k, n, b, seed + 1, bDType);
  const expected = withBackend('reference', () => matmul(left, right));
  // The same views on the device: transposed views stay views there.
  const onCuda = (t: Tensor, layout: Layout) =>
    layout === 'plain' ? toBackend(t, CUDA) : transpose(toBackend(transpose(t), CUDA));
  const actual = matmul(onCuda(left, a), onCuda(right, b));
  const what = `matmul ${m}x${k} @ ${k}x${n} ${dtype}${bDType !== dtype ? `x${bDType}` : ''} (${a}, ${b})`;
  assertClose(actual, expected, TOLERANCE[dtype]! * Math.max(1, Math.sqrt(k / 64)), what);
}

const LAYOUTS: [Layout, Layout][] = [
  ['plain', 'plain'],
  ['plain', 'transposed'],
  ['transposed', 'plain'],
  ['transposed', 'transposed'],
];

export const matmulChecks: GpuCheck[] = [
  {
    name: 'fp16/bf16 tensor-core GEMM: all four operand layouts, shapes with edges in M, N and K',
    run: scoped(() => {
      for (const dtype of ['f16', 'bf16'] as const) {
        for (const [a, b] of LAYOUTS) {
          compare(128, 128, 32, dtype, a, b, 1);
          compare(200, 136, 72, dtype, a, b, 2);
          compare(9, 1000, 40, dtype, a, b, 3);
        }
        compare(1024, 1024, 1024, dtype, 'plain', 'transposed', 4);
      }
    }),
  },
  {
    name: 'GEMV (up to 8 rows) on a transposed weight and on a row-major one, every float dtype',
    run: scoped(() => {
      for (const dtype of ['f32', 'f16', 'bf16'] as const) {
        for (const m of [1, 5, 8]) {
          compare(m, 4096, 1024, dtype, 'plain', 'transposed', 10 + m);
          compare(m, 300, 70, dtype, 'plain', 'plain', 20 + m);
        }
      }
    }),
  },
  {
    name: 'SIMT GEMM: f32, f32 by f16/bf16 weights, and half operands the tensor cores cannot align',
    run: scoped(() => {
      for (const [a, b] of LAYOUTS) compare(150, 70, 33, 'f32', a, b, 30);
      compare(64, 96, 50, 'f32', 'plain', 'transposed', 31, 'f16');
      compare(64, 96, 50, 'f32', 'plain', 'transposed', 32, 'bf16');
      // a transposed [33, 50]: its columns lie 33 halves (66 bytes) apart, not in 16-byte chunks.
      compare(33, 17, 50, 'f16', 'transposed', 'plain', 33);
    }),
  },
  {
    name: 'batched products with a broadcast operand',
    run: scoped(() => {
      for (const dtype of ['f32', 'f16'] as const) {
        const a = withBackend('reference', () =>
          tensor(sample([3, 40, 24], 40).dataSync(), { shape: [3, 40, 24], dtype }),
        );
        const b = matrix([24, 56], 41, dtype);
        const expected = withBackend('reference', () => matmul(a, b));
        assertClose(
          matmul(toBackend(a, CUDA), toBackend(b, CUDA)),
          expected,
          TOLERANCE[dtype]!,
          `batched ${dtype}`,
        );
      }
    }),
  },
];
