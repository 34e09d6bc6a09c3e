import { invalidArgument, SlimlmError } from '../errors';
import { broadcastShapes, formatShape, shapesEqual } from '../shape';
import type { Tensor } from '../tensor';
import { full } from './creation';
import { assertSameDType, binary, elementwise, type TensorLike } from './elementwise';

// Comparisons give u8 masks (1 true, 0 false) that `where` and `maskedFill` consume. NaN compares
// unequal to everything, itself included, as in IEEE 754.

function compare(op: string, a: TensorLike, b: TensorLike): Tensor {
  return binary(op, a, b, { outDType: 'u8' });
}

export function equal(a: TensorLike, b: TensorLike): Tensor {
  return compare('equal', a, b);
}

export function notEqual(a: TensorLike, b: TensorLike): Tensor {
  return compare('notEqual', a, b);
}

export function greater(a: TensorLike, b: TensorLike): Tensor {
  return compare('greater', a, b);
}

export function greaterEqual(a: TensorLike, b: TensorLike): Tensor {
  return compare('greaterEqual', a, b);
}

export function less(a: TensorLike, b: TensorLike): Tensor {
  return compare('less', a, b);
}

export function lessEqual(a: TensorLike, b: TensorLike): Tensor {
  return compare('lessEqual', a, b);
}

/** 1 where `x` is zero, else 0 (NaN counts as non-zero, as in C). */
export function logicalNot(x: Tensor): Tensor {
  return elementwise('logicalNot', [x], { outDType: 'u8' });
}

function assertMask(op: string, mask: Tensor): void {
  mask.assertAlive(op);
  if (mask.dtype !== 'u8') {
    throw new SlimlmError(
      'DTYPE_MISMATCH',
      `${op}: the mask must be u8 (as comparisons give), got ${mask.dtype}`,
    );
  }
}

/**
 * `a` where `condition` (u8) is non-zero, else `b`; all three broadcast together. A number takes
 * the dtype of the other operand, so at least one of `a` and `b` must be a tensor.
 */
export function where(condition: Tensor, a: TensorLike, b: TensorLike): Tensor {
  assertMask('where', condition);
  const like = typeof a !== 'number' ? a : typeof b !== 'number' ? b : undefined;
  if (like === undefined)
    throw invalidArgument('where', 'a or b must be a tensor, to give the result its dtype');
  if (typeof a !== 'number' && typeof b !== 'number') assertSameDType('where', a, b);
  like.assertAlive('where');
  const scalars: Tensor[] = [];
  const asTensor = (v: TensorLike) => {
    if (typeof v !== 'number') return v;
    const scalar = full([], v, { dtype: like.dtype, backend: like.backend });
    scalars.push(scalar);
    return scalar;
  };
  try {
    return elementwise('where', [condition, asTensor(a), asTensor(b)], { outDType: like.dtype });
  } finally {
    for (const s of scalars) s.dispose();
  }
}

export interface MaskedFillAttrs {
  value: number;
}

/** `x` with `value` wherever `mask` (u8, broadcastable to x's shape) is non-zero. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  x.assertAlive('maskedFill');
  assertMask('maskedFill', mask);
  if (!shapesEqual(broadcastShapes('maskedFill', x.shape, mask.shape), x.shape)) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `maskedFill: mask ${formatShape(mask.shape)} cannot be broadcast to the input's shape ${formatShape(x.shape)}`,
    );
  }
  const attrs: MaskedFillAttrs = { value };
  return elementwise('maskedFill', [x, mask], { attrs });
}
