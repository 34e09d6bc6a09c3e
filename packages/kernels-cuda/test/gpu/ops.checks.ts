import assert from 'node:assert/strict';
import {
  add,
  applyRotary,
  argmax,
  cast,
  concat,
  crossEntropy,
  type DType,
  exp,
  gather,
  gelu,
  greater,
  layerNorm,
  logsumexp,
  max,
  mean,
  rmsNorm,
  rotaryTables,
  SlimlmError,
  softmax,
  sum,
  type Tensor,
  tensor,
  toBackend,
  transpose,
  where,
  withBackend,
} from '@slimlm/core';
import { sample } from '@slimlm/core/testing';
import { CUDA } from '../../src/index';
import { assertClose, type GpuCheck, scoped } from './check';

// The op kernels beyond core's (small, f32) conformance cases: f16/bf16, sizes that take the
// block-per-row paths, strided and broadcast views, as a model's forward pass meets them.

const TOLERANCE: Record<string, number> = { f32: 1e-5, f16: 2e-3, bf16: 1.6e-2 };

function input(shape: number[], seed: number, dtype: DType = 'f32'): Tensor {
  return withBackend('reference', () => tensor(sample(shape, seed).dataSync(), { shape, dtype }));
}

/** Runs `f` on the reference backend and on cuda (inputs moved there) and compares. */
function compare(
  what: string,
  inputs: Tensor[],
  f: (...xs: Tensor[]) => Tensor,
  tolerance: number,
) {
  const expected = withBackend('reference', () => f(...inputs));
  const actual = f(...inputs.map((t) => toBackend(t, CUDA)));
  assert.equal(actual.backend.name, CUDA, what);
  assert.equal(actual.dtype, expected.dtype, what);
  assertClose(actual, expected, tolerance, what);
}

export const opsChecks: GpuCheck[] = [
  {
    name: 'elementwise on transposed and broadcast views, every float dtype, casts between them',
    run: scoped(() => {
      for (const dtype of ['f32', 'f16', 'bf16'] as const) {
        const x = input([300, 257], 1, dtype);
        const row = input([257], 2, dtype);
        const t = TOLERANCE[dtype]!;
        compare(`add broadcast ${dtype}`, [x, row], (a, b) => add(a!, b!), t);
        compare(`exp of a transposed view ${dtype}`, [x], (a) => exp(transpose(a!)), t);
        compare(`gelu tanh ${dtype}`, [x], (a) => gelu(a!, { approximate: 'tanh' }), t);
        compare(`greater ${dtype}`, [x, row], (a, b) => greater(a!, b!), 0);
        compare(`where ${dtype}`, [x, row], (a, b) => where(greater(a!, b!), a!, b!), 0);
        compare(`cast ${dtype} to f32`, [x], (a) => cast(a!, 'f32'), 0);
      }
      compare(
        'cast f32 to bf16 (round to nearest even)',
        [input([4096], 3)],
        (a) => cast(a!, 'bf16'),
        0,
      );
    }),
  },
  {
    name: 'reductions over leading, trailing and several axes, short and long rows',
    run: scoped(() => {
      for (const dtype of ['f32', 'f16', 'bf16'] as const) {
        const x = input([64, 33, 5000], 4, dtype);
        const t = TOLERANCE[dtype]!;
        compare(`sum last ${dtype}`, [x], (a) => sum(a!, -1), t);
        compare(`mean of axes 0, 2 ${dtype}`, [x], (a) => mean(a!, [0, 2]), t);
        compare(`max of axis 1 ${dtype}`, [x], (a) => max(a!, 1), 0);
        compare(`logsumexp last ${dtype}`, [x], (a) => logsumexp(a!, -1), t);
        compare(`argmax last ${dtype}`, [x], (a) => argmax(a!, -1), 0);
      }
    }),
  },
  {
    name: 'softmax along the last axis and along a leading one; norms with short and long rows',
    run: scoped(() => {
      for (const dtype of ['f32', 'f16', 'bf16'] as const) {
        const t = TOLERANCE[dtype]!;
        compare(
          `softmax 32000 wide ${dtype}`,
          [input([6, 32000], 5, dtype)],
          (a) => softmax(a!),
          t,
        );
        compare(`softmax axis 0 ${dtype}`, [input([50, 70], 6, dtype)], (a) => softmax(a!, 0), t);
        for (const features of [64, 4096]) {
          const x = input([300, features], 7, dtype);
          const w = input([features], 8, dtype);
          const b = input([features], 9, dtype);
          compare(
            `rmsNorm ${features} ${dtype}`,
            [x, w],
            (a, c) => rmsNorm(a!, c!, { eps: 1e-6 }),
            t,
          );
          compare(
            `layerNorm ${features} ${dtype}`,
            [x, w, b],
            (a, c, d) => layerNorm(a!, c!, d!),
            t,
          );
        }
      }
    }),
  },
  {
    name: 'rotary with tables broadcast over heads and a partial rotary dimension',
    run: scoped(() => {
      for (const dtype of ['f32', 'f16', 'bf16'] as const) {
        const x = input([2, 8, 37, 128], 10, dtype);
        const positions = Array.from({ length: 37 }, (_, i) => i + 5);
        for (const rotaryDim of [128, 64]) {
          const { cos, sin } = withBackend('reference', () =>
            rotaryTables(positions, rotaryDim, { dtype }),
          );
          compare(
            `applyRotary ${rotaryDim} ${dtype}`,
            [x, cos, sin],
            (a, c, s) => applyRotary(a!, c!, s!, { rotaryDim }),
            TOLERANCE[dtype]!,
          );
        }
      }
    }),
  },
  {
    name: 'cross-entropy over a large vocabulary with ignored targets, and the out-of-range error',
    run: scoped(() => {
      const targets = withBackend('reference', () =>
        tensor(
          Array.from({ length: 24 }, (_, i) => (i % 5 === 0 ? -100 : (i * 977) % 32000)),
          { dtype: 'i32' },
        ),
      );
      for (const dtype of ['f32', 'f16', 'bf16'] as const) {
        const logits = input([24, 32000], 11, dtype);
        for (const reduction of ['mean', 'sum', 'none'] as const) {
          compare(
            `crossEntropy ${reduction} ${dtype}`,
            [logits, targets],
            (l, y) => crossEntropy(l!, y!, { reduction }),
            TOLERANCE[dtype]!,
          );
        }
      }
      const bad = withBackend(CUDA, () => tensor([1, 2, 40000], { dtype: 'i32' }));
      assert.throws(
        () => crossEntropy(toBackend(input([3, 32000], 12), CUDA), bad),
        (error: unknown) =>
          error instanceof SlimlmError &&
          error.message ===
            'crossEntropy: target 40000 at position 2 is out of range for 32000 classes (expected 0..31999, or ignoreIndex -100)',
      );
    }),
  },
  {
    name: 'gather of embedding rows, concat along an inner axis',
    run: scoped(() => {
      for (const dtype of ['f32', 'bf16', 'i32'] as const) {
        const table = withBackend('reference', () => cast(input([1000, 96], 13), dtype));
        const ids = withBackend('reference', () =>
          tensor([3, 999, 0, 3, 512], { shape: [5], dtype: 'i32' }),
        );
        compare(`gather ${dtype}`, [table, ids], (w, i) => gather(w!, i!, 0), 0);
        const a = withBackend('reference', () => cast(input([4, 3, 10], 14), dtype));
        const b = withBackend('reference', () => cast(input([4, 5, 10], 15), dtype));
        compare(`concat ${dtype}`, [a, b], (x, y) => concat([x!, y!], 1), 0);
      }
    }),
  },
];
