import { runKernel1 } from '../engine';
import { normalizeAxes } from '../shape';
import type { Tensor } from '../tensor';

export interface ReduceOptions {
  /** Keep reduced axes as size 1 (default false). */
  keepDims?: boolean;
}

export interface ReduceAttrs {
  axes: number[];
  keepDims: boolean;
}

/** The output shape of reducing `axes` of `shape`. */
export function reducedShape(shape: readonly number[], axes: readonly number[], keepDims: boolean): number[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

function reduce(op: string, x: Tensor, axes: number | readonly number[] | undefined, options: ReduceOptions): Tensor {
  x.assertAlive(op);
  const attrs: ReduceAttrs = { axes: normalizeAxes(op, axes, x.rank), keepDims: options.keepDims ?? false };
  return runKernel1(op, [x], attrs, { shape: reducedShape(x.shape, attrs.axes, attrs.keepDims), dtype: x.dtype });
}

/** Sum over `axes` (all axes when omitted). Integer sums wrap like their dtype. */
export function sum(x: Tensor, axes?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  return reduce('sum', x, axes, options);
}
