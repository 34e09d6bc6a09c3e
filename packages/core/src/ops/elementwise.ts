import { type DType, isFloatDType } from '../dtype';
import { runKernel1 } from '../engine';
import { invalidArgument, SlimlmError } from '../errors';
import { broadcastShapes, shapesEqual } from '../shape';
import type { Tensor } from '../tensor';
import { full } from './creation';
import { broadcastTo } from './view';

/** A tensor, or a number that takes the other operand's dtype and backend. */
export type TensorLike = Tensor | number;

export function assertFloat(op: string, x: Tensor): void {
  if (!isFloatDType(x.dtype)) {
    throw new SlimlmError('DTYPE_MISMATCH', `${op}: needs a float tensor, got ${x.dtype}`);
  }
}

export function assertSameDType(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new SlimlmError(
      'DTYPE_MISMATCH',
      `${op}: dtypes ${a.dtype} and ${b.dtype} differ; cast one first`,
    );
  }
}

/**
 * Runs an n-ary elementwise kernel: numbers become 0-d tensors like the first tensor operand, all
 * operands are broadcast (as stride-0 views) to the common shape, so kernels see equal shapes.
 */
export function elementwise(
  op: string,
  operands: readonly TensorLike[],
  options: { outDType?: DType; attrs?: object; float?: boolean } = {},
): Tensor {
  const like = operands.find((o): o is Tensor => typeof o !== 'number');
  if (like === undefined)
    throw new SlimlmError('INVALID_ARGUMENT', `${op}: needs at least one tensor operand`);
  like.assertAlive(op);
  const temporaries: Tensor[] = [];
  try {
    const tensors = operands.map((o) => {
      if (typeof o !== 'number') return o;
      // A fraction against an integer tensor would silently truncate (less(i, 2.5) testing < 2).
      if (!isFloatDType(like.dtype) && !Number.isInteger(o)) {
        throw invalidArgument(
          op,
          `${o} is not a ${like.dtype} value; cast the tensor to a float dtype first`,
        );
      }
      const scalar = full([], o, { dtype: like.dtype, backend: like.backend });
      temporaries.push(scalar);
      return scalar;
    });
    for (const t of tensors) {
      t.assertAlive(op);
      if (options.float) assertFloat(op, t);
    }
    const shape = broadcastShapes(op, ...tensors.map((t) => t.shape));
    const broadcast = tensors.map((t) => {
      if (shapesEqual(t.shape, shape)) return t;
      const view = broadcastTo(t, shape);
      temporaries.push(view);
      return view;
    });
    return runKernel1(op, broadcast, options.attrs ?? {}, {
      shape,
      dtype: options.outDType ?? like.dtype,
    });
  } finally {
    for (const t of temporaries) t.dispose();
  }
}

/** A binary elementwise op on operands of one dtype. */
export function binary(
  op: string,
  a: TensorLike,
  b: TensorLike,
  options: { float?: boolean; outDType?: DType } = {},
): Tensor {
  if (typeof a !== 'number' && typeof b !== 'number') assertSameDType(op, a, b);
  return elementwise(op, [a, b], options);
}

export function add(a: TensorLike, b: TensorLike): Tensor {
  return binary('add', a, b);
}

export function sub(a: TensorLike, b: TensorLike): Tensor {
  return binary('sub', a, b);
}

export function mul(a: TensorLike, b: TensorLike): Tensor {
  return binary('mul', a, b);
}

/** True division; float tensors only. */
export function div(a: TensorLike, b: TensorLike): Tensor {
  return binary('div', a, b, { float: true });
}

/** A unary elementwise op; `float` ops refuse integer tensors. */
export function unary(op: string, x: Tensor, float = true, attrs: object = {}): Tensor {
  return elementwise(op, [x], { float, attrs });
}

export function neg(x: Tensor): Tensor {
  return unary('neg', x, false);
}
