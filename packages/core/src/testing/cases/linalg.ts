import type { DType } from '../../dtype';
import { toBf16Bits, toF16Bits } from '../../half';
import { tensor } from '../../ops/creation';
import { concat, embedding, gather, scatterAdd, stack } from '../../ops/indexing';
import { linear, matmul } from '../../ops/matmul';
import { layerNorm, logSoftmax, rmsNorm, softmax } from '../../ops/normalization';
import { argmax, logsumexp, max, mean, min } from '../../ops/reduce';
import { broadcastTo, slice, transpose } from '../../ops/view';
import { Generator } from '../../random';
import type { ConformanceCase } from '../conformance';
import { sample } from './core';

/** Seeded i32 indices in [0, dim): the same on every backend. */
function indices(shape: readonly number[], dim: number, seed: number) {
  const count = shape.reduce((a, b) => a * b, 1);
  const values = Int32Array.from({ length: count }, (_, i) => (i * 7 + seed * 3) % dim);
  return tensor(values, { shape });
}

/**
 * Seeded f16/bf16 values made from their bits on the active backend, without a cast kernel: a
 * backend that cannot store the dtype refuses it (UNSUPPORTED_DTYPE), which skips the case.
 */
function narrow(shape: readonly number[], seed: number, dtype: DType) {
  const g = new Generator(seed);
  const toBits = dtype === 'bf16' ? toBf16Bits : toF16Bits;
  const count = shape.reduce((a, b) => a * b, 1);
  const bits = Uint16Array.from({ length: count }, () => toBits(g.nextNormal()));
  return tensor(bits, { shape, dtype });
}

/** Reductions, matmul, normalizations and indexing. */
export const linalgCases: ConformanceCase[] = [
  {
    name: 'mean over axes',
    op: 'mean',
    build: () => [mean(sample([3, 4, 5], 20), [0, 2]), mean(sample([6], 21))],
  },
  {
    name: 'max with keepDims and over all axes',
    op: 'max',
    build: () => [max(sample([3, 5, 7], 22), 1, { keepDims: true }), max(sample([4, 3], 23))],
  },
  { name: 'min over the last axis', op: 'min', build: () => min(sample([3, 5, 7], 24), -1) },
  {
    name: 'argmax along an axis and flattened',
    op: 'argmax',
    build: () => [
      argmax(sample([4, 6], 25), 1),
      argmax(sample([3, 5], 26), 0, { keepDims: true }),
      argmax(sample([2, 3, 4], 27)),
    ],
  },
  {
    name: 'logsumexp with large values',
    op: 'logsumexp',
    build: () => [
      logsumexp(sample([3, 8], 28), -1),
      logsumexp(
        tensor([
          [1000, 1001, 999],
          [-1000, -1001, -999],
        ]),
        1,
      ),
    ],
  },
  { name: 'matmul 2-D', op: 'matmul', build: () => matmul(sample([3, 5], 30), sample([5, 7], 31)) },
  {
    name: 'matmul with broadcast batch axes',
    op: 'matmul',
    build: () => matmul(sample([2, 1, 3, 4], 32), sample([5, 4, 6], 33)),
  },
  {
    name: 'matmul of 1-D operands',
    op: 'matmul',
    build: () => [
      matmul(sample([4], 34), sample([4, 3], 35)),
      matmul(sample([2, 3, 4], 36), sample([4], 37)),
      matmul(sample([5], 38), sample([5], 39)),
    ],
  },
  {
    name: 'matmul of strided views',
    op: 'matmul',
    build: () =>
      matmul(transpose(sample([2, 6, 3], 40)), slice(sample([7, 5], 41), [1, 0], [7, 4])),
  },
  {
    name: 'matmul with a long inner axis',
    op: 'matmul',
    build: () => matmul(sample([4, 257], 42), sample([257, 3], 43)),
    atol: 1e-4,
  },
  {
    name: 'linear with and without bias',
    op: 'matmul',
    build: () => [
      linear(sample([2, 3, 5], 44), sample([4, 5], 45), sample([4], 46)),
      linear(sample([5], 47), sample([2, 5], 48)),
    ],
  },
  {
    // f32 compute with f16/bf16 storage: the weight is read as stored, the result is f32. A
    // backend whose matmul cannot take mixed dtypes lists 'matmul' in `lacks`.
    name: 'matmul and linear of f32 by f16/bf16 weights (mixed precision)',
    op: 'matmul',
    build: () => [
      matmul(sample([3, 5], 80), narrow([5, 7], 81, 'f16')),
      matmul(sample([4], 82), narrow([4, 3], 83, 'bf16')),
      linear(sample([2, 3, 40], 84), narrow([9, 40], 85, 'f16'), narrow([9], 86, 'f16')),
      linear(sample([1, 67], 87), narrow([33, 67], 88, 'bf16')),
      linear(sample([70, 67], 89), narrow([21, 67], 90, 'f16')),
    ],
    atol: 1e-4,
  },
  {
    name: 'softmax along each axis',
    op: 'softmax',
    build: () => [
      softmax(sample([3, 7], 50)),
      softmax(sample([4, 3, 2], 51), 1),
      softmax(tensor([[1000, 0, -1000]])),
    ],
  },
  {
    name: 'logSoftmax',
    op: 'logSoftmax',
    build: () => [logSoftmax(sample([3, 7], 52)), logSoftmax(transpose(sample([5, 4], 53)), 0)],
  },
  {
    name: 'rmsNorm with and without weight',
    op: 'rmsNorm',
    build: () => [
      rmsNorm(sample([3, 8], 54), sample([8], 55)),
      rmsNorm(sample([2, 2, 5], 56), null, { eps: 1e-6 }),
    ],
  },
  {
    name: 'layerNorm with weight and bias',
    op: 'layerNorm',
    build: () => [
      layerNorm(sample([3, 8], 57), sample([8], 58), sample([8], 59)),
      layerNorm(sample([4, 6], 60), null, null),
      layerNorm(broadcastTo(sample([6], 61), [2, 6]), null, sample([6], 62)),
    ],
  },
  {
    name: 'concat along an inner axis',
    op: 'concat',
    build: () => [
      concat(
        [sample([2, 3, 4], 63), transpose(sample([2, 4, 1], 64), 1, 2), sample([2, 2, 4], 65)],
        1,
      ),
    ],
  },
  { name: 'stack', op: 'concat', build: () => stack([sample([3, 2], 66), sample([3, 2], 67)], -1) },
  {
    name: 'gather along axes',
    op: 'gather',
    build: () => [
      gather(sample([5, 4], 68), indices([3], 5, 1)),
      gather(sample([3, 6, 2], 69), indices([2, 4], 6, 2), 1),
    ],
  },
  {
    name: 'embedding',
    op: 'gather',
    build: () => embedding(sample([10, 4], 70), indices([2, 3], 10, 3)),
  },
  {
    name: 'scatterAdd with repeated indices',
    op: 'scatterAdd',
    build: () =>
      scatterAdd(
        sample([4, 3], 71),
        tensor(new Int32Array([1, 2, 1, 0, 1])),
        sample([4, 5], 72),
        1,
      ),
  },
];
