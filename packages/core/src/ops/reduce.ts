import { runKernel1 } from '../engine';
import { SlimlmError } from '../errors';
import { formatShape, normalizeAxes, normalizeAxis, sizeOf } from '../shape';
import type { Tensor } from '../tensor';
import { assertFloat } from './elementwise';

export interface ReduceOptions {
  /** Keep reduced axes as size 1 (default false). */
  keepDims?: boolean;
}

export interface ReduceAttrs {
  axes: number[];
  keepDims: boolean;
}

/** The output shape of reducing `axes` of `shape`. */
export function reducedShape(
  shape: readonly number[],
  axes: readonly number[],
  keepDims: boolean,
): number[] {
  return keepDims
    ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : shape.filter((_, i) => !axes.includes(i));
}

/** How many elements each output of a reduction over `axes` combines. */
export function reducedCount(shape: readonly number[], axes: readonly number[]): number {
  return axes.reduce((count, a) => count * shape[a]!, 1);
}

function reduce(
  op: string,
  x: Tensor,
  axes: number | readonly number[] | undefined,
  options: ReduceOptions,
): Tensor {
  x.assertAlive(op);
  const attrs: ReduceAttrs = {
    axes: normalizeAxes(op, axes, x.rank),
    keepDims: options.keepDims ?? false,
  };
  return runKernel1(op, [x], attrs, {
    shape: reducedShape(x.shape, attrs.axes, attrs.keepDims),
    dtype: x.dtype,
  });
}

/** max, min and argmax have no value for an empty group, unlike sum (0) or logsumexp (-inf). */
function assertNonEmptyGroups(op: string, x: Tensor, axes: readonly number[]): void {
  const outputs = sizeOf(x.shape.filter((_, i) => !axes.includes(i)));
  if (reducedCount(x.shape, axes) === 0 && outputs > 0) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: cannot reduce axes ${formatShape(axes)} of ${formatShape(x.shape)}: they hold no elements`,
    );
  }
}

/** Sum over `axes` (all axes when omitted). Integer sums wrap like their dtype. */
export function sum(
  x: Tensor,
  axes?: number | readonly number[],
  options: ReduceOptions = {},
): Tensor {
  return reduce('sum', x, axes, options);
}

/** Mean over `axes` (all axes when omitted); float tensors only. An empty group gives NaN. */
export function mean(
  x: Tensor,
  axes?: number | readonly number[],
  options: ReduceOptions = {},
): Tensor {
  assertFloat('mean', x);
  return reduce('mean', x, axes, options);
}

/** Largest value over `axes` (all axes when omitted); NaN wins, as in PyTorch's amax. */
export function max(
  x: Tensor,
  axes?: number | readonly number[],
  options: ReduceOptions = {},
): Tensor {
  assertNonEmptyGroups('max', x, normalizeAxes('max', axes, x.rank));
  return reduce('max', x, axes, options);
}

/** Smallest value over `axes` (all axes when omitted); NaN wins, as in PyTorch's amin. */
export function min(
  x: Tensor,
  axes?: number | readonly number[],
  options: ReduceOptions = {},
): Tensor {
  assertNonEmptyGroups('min', x, normalizeAxes('min', axes, x.rank));
  return reduce('min', x, axes, options);
}

/**
 * log(sum(exp(x))) over `axes` (all axes when omitted), computed stably (shifted by the max);
 * float tensors only. An empty group gives -Infinity.
 */
export function logsumexp(
  x: Tensor,
  axes?: number | readonly number[],
  options: ReduceOptions = {},
): Tensor {
  assertFloat('logsumexp', x);
  return reduce('logsumexp', x, axes, options);
}

/**
 * Index (i32) of the largest value along `axis`; the first one on ties, and the first NaN if
 * any. Without `axis`, the index into the flattened tensor.
 */
export function argmax(x: Tensor, axis?: number, options: ReduceOptions = {}): Tensor {
  x.assertAlive('argmax');
  const attrs: ReduceAttrs = {
    axes:
      axis === undefined
        ? normalizeAxes('argmax', undefined, x.rank)
        : [normalizeAxis('argmax', axis, x.rank)],
    keepDims: options.keepDims ?? false,
  };
  assertNonEmptyGroups('argmax', x, attrs.axes);
  return runKernel1('argmax', [x], attrs, {
    shape: reducedShape(x.shape, attrs.axes, attrs.keepDims),
    dtype: 'i32',
  });
}
