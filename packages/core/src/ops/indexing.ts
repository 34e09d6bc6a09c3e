import { runKernel1 } from '../engine';
import { invalidArgument, SlimlmError } from '../errors';
import { scope } from '../memory';
import { formatShape, normalizeAxis, shapesEqual } from '../shape';
import type { Tensor } from '../tensor';
import { assertSameDType } from './elementwise';
import { unsqueeze } from './view';

export interface IndexAttrs {
  axis: number;
}

/** Joins tensors along an existing `axis`; all other dims and the dtype must agree. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  const first = tensors[0];
  if (first === undefined) throw invalidArgument('concat', 'needs at least one tensor');
  for (const t of tensors) t.assertAlive('concat');
  const a = normalizeAxis('concat', axis, first.rank);
  for (const t of tensors) {
    assertSameDType('concat', first, t);
    const agrees =
      t.rank === first.rank && t.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!agrees) {
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `concat: shapes ${formatShape(first.shape)} and ${formatShape(t.shape)} differ outside axis ${axis}`,
      );
    }
  }
  const shape = [...first.shape];
  shape[a] = tensors.reduce((total, t) => total + t.shape[a]!, 0);
  const attrs: IndexAttrs = { axis: a };
  return runKernel1('concat', tensors, attrs, { shape, dtype: first.dtype });
}

/** Joins equally shaped tensors along a new `axis`. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  const first = tensors[0];
  if (first === undefined) throw invalidArgument('stack', 'needs at least one tensor');
  for (const t of tensors) {
    t.assertAlive('stack');
    assertSameDType('stack', first, t);
    if (!shapesEqual(t.shape, first.shape)) {
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `stack: shapes ${formatShape(first.shape)} and ${formatShape(t.shape)} differ`,
      );
    }
  }
  const a = normalizeAxis('stack', axis, first.rank + 1);
  return scope(() =>
    concat(
      tensors.map((t) => unsqueeze(t, a)),
      a,
    ),
  );
}

/**
 * Checks every index against `dim` before any kernel runs: native kernels can then trust their
 * indices instead of reading out of bounds.
 */
function assertIndices(op: string, indices: Tensor, dim: number, axis: number): void {
  indices.assertAlive(op);
  if (indices.dtype !== 'i32') {
    throw new SlimlmError('DTYPE_MISMATCH', `${op}: indices must be i32, got ${indices.dtype}`);
  }
  const values = indices.dataSync();
  for (let i = 0; i < values.length; i++) {
    const index = values[i]!;
    if (index < 0) {
      throw invalidArgument(
        op,
        `index ${index} (element ${i} of indices) is negative; indices count from 0`,
      );
    }
    if (index >= dim) {
      throw invalidArgument(
        op,
        `index ${index} (element ${i} of indices) is out of range for axis ${axis} of size ${dim}`,
      );
    }
  }
}

/** `x.shape[:axis] + indices.shape + x.shape[axis+1:]`: the shape gather returns. */
function gatheredShape(x: Tensor, indices: Tensor, axis: number): number[] {
  return [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
}

/**
 * Picks entries of `x` along `axis` (numpy's take, PyTorch's index_select for 1-D indices):
 * the result has shape `x.shape[:axis] + indices.shape + x.shape[axis+1:]`. `indices` are i32
 * in [0, dim).
 */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  x.assertAlive('gather');
  const a = normalizeAxis('gather', axis, x.rank);
  assertIndices('gather', indices, x.shape[a]!, a);
  const attrs: IndexAttrs = { axis: a };
  return runKernel1('gather', [x, indices], attrs, {
    shape: gatheredShape(x, indices, a),
    dtype: x.dtype,
  });
}

/** Rows of an embedding table: `weight` [vocab, dim], `ids` i32 of any shape -> [...ids, dim]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.rank !== 2) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `embedding: weight must be [vocab, dim], got ${formatShape(weight.shape)} (ids ${formatShape(ids.shape)})`,
    );
  }
  return gather(weight, ids, 0);
}

/**
 * A copy of `target` with `updates` added at `indices` along `axis`, the inverse of gather:
 * `updates` has the shape `gather(target, indices, axis)` would return, and repeated indices
 * accumulate.
 */
export function scatterAdd(target: Tensor, indices: Tensor, updates: Tensor, axis = 0): Tensor {
  target.assertAlive('scatterAdd');
  updates.assertAlive('scatterAdd');
  assertSameDType('scatterAdd', target, updates);
  const a = normalizeAxis('scatterAdd', axis, target.rank);
  indices.assertAlive('scatterAdd');
  const expected = gatheredShape(target, indices, a);
  if (!shapesEqual(updates.shape, expected)) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `scatterAdd: updates ${formatShape(updates.shape)} do not match target ${formatShape(target.shape)} and indices ${formatShape(indices.shape)} along axis ${axis}; expected ${formatShape(expected)}`,
    );
  }
  assertIndices('scatterAdd', indices, target.shape[a]!, a);
  const attrs: IndexAttrs = { axis: a };
  return runKernel1('scatterAdd', [target, indices, updates], attrs, {
    shape: target.shape,
    dtype: target.dtype,
  });
}
