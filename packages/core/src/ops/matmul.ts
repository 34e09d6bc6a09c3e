import { isGradEnabled } from '../autograd/tape';
import type { DType } from '../dtype';
import { runKernel1 } from '../engine';
import { SlimlmError } from '../errors';
import { scope } from '../memory';
import { broadcastShapes, formatShape, sizeOf } from '../shape';
import type { Tensor } from '../tensor';
import { cast } from './cast';
import { add } from './elementwise';
import { broadcastTo, reshape, transpose } from './view';

function shapeError(a: Tensor, b: Tensor, why: string): SlimlmError {
  return new SlimlmError(
    'SHAPE_MISMATCH',
    `matmul: cannot multiply ${formatShape(a.shape)} by ${formatShape(b.shape)}: ${why}`,
  );
}

/** The narrow float dtypes a weight may be stored in while an f32 operand multiplies it. */
const MIXED_WEIGHT_DTYPES: readonly DType[] = ['f16', 'bf16'];

/** Whether matmul takes a second operand of dtype `b` as it is beside a first operand of dtype `a`. */
export function multipliesDirectly(a: DType, b: DType): boolean {
  return a === b || (a === 'f32' && MIXED_WEIGHT_DTYPES.includes(b));
}

/**
 * The dtype of `a @ b`, or a DTYPE_MISMATCH naming the rule: equal dtypes, or `a` f32 with `b`
 * f16/bf16 (f32 compute with f16/bf16 storage), which gives f32.
 */
export function matmulDType(op: string, a: Tensor, b: Tensor): DType {
  if (multipliesDirectly(a.dtype, b.dtype)) return a.dtype;
  throw new SlimlmError(
    'DTYPE_MISMATCH',
    `${op}: dtypes ${a.dtype} and ${b.dtype} differ; they must be equal, or f32 times f16/bf16 (the second operand narrower); cast one first`,
  );
}

/**
 * Matrix product with numpy/PyTorch semantics: the last two axes are matrices, the leading ones
 * batch axes that broadcast; a 1-D `a` is a row vector and a 1-D `b` a column vector, and the
 * axis added for them is removed from the result. Products accumulate in f64 on the reference
 * backend; integer products wrap like their dtype.
 *
 * Dtypes: equal, or mixed precision with `a` f32 and `b` f16 or bf16 (a weight kept in its
 * stored dtype): the result is f32 and exactly what casting `b` to f32 first would give (every
 * f16/bf16 value is an f32 value, and products accumulate in f32 or wider), without making the
 * f32 copy of `b`. Anything else is a DTYPE_MISMATCH. The gradient of a mixed `b` is computed in
 * f32 and rounded to `b`'s dtype; none is computed for a `b` that needs none (a frozen weight).
 *
 * The kernel always sees `a: [...batch, M, K]` and `b: [...batch, K, N]` with identical batch
 * axes (broadcast as stride-0 views), so backends implement only the batched case, and must
 * accept the mixed f32 x f16/bf16 operands (a backend that cannot lists 'matmul' in conformance's
 * `lacks`, or refuses them with UNSUPPORTED_DTYPE).
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  a.assertAlive('matmul');
  b.assertAlive('matmul');
  const dtype = matmulDType('matmul', a, b);
  if (a.rank === 0 || b.rank === 0) throw shapeError(a, b, 'operands must have at least one axis');
  const rowsA = a.rank === 1 ? [1, ...a.shape] : a.shape;
  const colsB = b.rank === 1 ? [...b.shape, 1] : b.shape;
  const [m, k] = rowsA.slice(-2) as [number, number];
  const [kb, n] = colsB.slice(-2) as [number, number];
  if (k !== kb) throw shapeError(a, b, `inner dims ${k} and ${kb} differ`);
  let batch: number[];
  try {
    batch = broadcastShapes('matmul', rowsA.slice(0, -2), colsB.slice(0, -2));
  } catch {
    throw shapeError(a, b, 'batch dims cannot be broadcast together');
  }
  const shape = [...batch, ...(a.rank === 1 ? [] : [m]), ...(b.rank === 1 ? [] : [n])];
  return scope(() => {
    if (dtype !== b.dtype) {
      // A weight shared by every batch entry multiplies all of a's rows at once: one product, and
      // its gradient is a single f32 sum rounded once, not one rounded to b's dtype per entry.
      if (a.rank > 2 && b.rank <= 2)
        return reshape(matmul(reshape(a, [sizeOf(batch) * m, k]), b), shape);
      // Any other broadcast of a narrow b that needs a gradient is widened first for the same
      // reason: its gradient sums over the broadcast axes in f32.
      const broadcast = sizeOf(batch) !== sizeOf(colsB.slice(0, -2));
      if (broadcast && isGradEnabled() && b.requiresGrad) return matmul(a, cast(b, dtype));
    }
    // Only 1-D operands are reshaped: a reshape would copy a transposed view, such as the
    // weight of `linear`, which kernels read in place.
    const left = broadcastTo(a.rank === 1 ? reshape(a, rowsA) : a, [...batch, m, k]);
    const right = broadcastTo(b.rank === 1 ? reshape(b, colsB) : b, [...batch, k, n]);
    const product = runKernel1(
      'matmul',
      [left, right],
      {},
      {
        shape: [...batch, m, n],
        dtype,
      },
    );
    return a.rank === 1 || b.rank === 1 ? reshape(product, shape) : product;
  });
}

/**
 * A fully connected layer in PyTorch's layout: `x @ weight^T + bias` with `weight` of shape
 * [out, in] and `bias` of shape [out]. An f32 `x` takes an f16/bf16 `weight` as it is stored
 * (see matmul), and so does an f16/bf16 `bias`, widened to f32 (a small copy) before it is added.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.rank !== 2) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `linear: weight must be [out, in], got ${formatShape(weight.shape)} (input ${formatShape(x.shape)})`,
    );
  }
  if (x.shape[x.rank - 1] !== weight.shape[1]) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `linear: input ${formatShape(x.shape)} has ${x.shape[x.rank - 1]} features, weight ${formatShape(weight.shape)} expects ${weight.shape[1]}`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `linear: bias ${formatShape(bias.shape)} does not match weight ${formatShape(weight.shape)}; expected [${weight.shape[0]}]`,
    );
  }
  return scope(() => {
    const projected = matmul(x, transpose(weight));
    if (!bias) return projected;
    const mixed = projected.dtype === 'f32' && MIXED_WEIGHT_DTYPES.includes(bias.dtype);
    return add(projected, mixed ? cast(bias, 'f32') : bias);
  });
}
