import { full, tensor } from '../../ops/creation';
import { add, div, mul, neg, sub } from '../../ops/elementwise';
import { sum } from '../../ops/reduce';
import { contiguous, permute, slice } from '../../ops/view';
import { Generator } from '../../random';
import type { ConformanceCase } from '../conformance';

/** Seeded f32 values for case inputs: the same on every backend. */
export function sample(
  shape: readonly number[],
  seed: number,
  options: { positive?: boolean } = {},
) {
  const g = new Generator(seed);
  const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () =>
    options.positive ? 0.5 + g.nextFloat() : g.nextNormal(),
  );
  return tensor(values, { shape });
}

export const coreCases: ConformanceCase[] = [
  {
    name: 'copy of a transposed slice',
    op: 'copy',
    build: () => contiguous(permute(slice(sample([4, 5, 3], 1), [1, 0, 1]), [2, 0, 1])),
  },
  { name: 'fill', op: 'fill', build: () => [full([2, 3], 1.5), full([4], -2, { dtype: 'i32' })] },
  {
    name: 'add with broadcasting',
    op: 'add',
    build: () => add(sample([2, 1, 4], 3), sample([3, 1], 4)),
  },
  { name: 'sub', op: 'sub', build: () => sub(sample([3, 4], 5), sample([4], 6)) },
  { name: 'mul', op: 'mul', build: () => mul(sample([3, 4], 7), sample([3, 4], 8)) },
  {
    name: 'div',
    op: 'div',
    build: () => div(sample([3, 4], 9), sample([3, 4], 10, { positive: true })),
  },
  { name: 'neg', op: 'neg', build: () => neg(sample([5], 11)) },
  {
    name: 'sum over axes',
    op: 'sum',
    build: () => [
      sum(sample([3, 4, 5], 12), [0, 2]),
      sum(sample([3, 4], 13), -1, { keepDims: true }),
    ],
  },
];
