import { sum } from '../ops/reduce';
import { reshape } from '../ops/view';
import { type Shape, shapesEqual } from '../shape';
import type { Tensor } from '../tensor';

/** Sums a gradient of a broadcast result back down to the operand's `shape`. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes = g.shape.flatMap((d, i) =>
    i < lead || (shape[i - lead] === 1 && d !== 1) ? [i] : [],
  );
  const summed = sum(g, axes, { keepDims: true });
  const result = reshape(summed, shape);
  summed.dispose();
  return result;
}
