import { runKernel1 } from '../engine';
import { SlimlmError } from '../errors';
import { scope } from '../memory';
import { broadcastShapes, formatShape } from '../shape';
import type { Tensor } from '../tensor';
import { add, assertSameDType } from './elementwise';
import { broadcastTo, reshape, transpose } from './view';

function shapeError(a: Tensor, b: Tensor, why: string): SlimlmError {
  return new SlimlmError(
    'SHAPE_MISMATCH',
    `matmul: cannot multiply ${formatShape(a.shape)} by ${formatShape(b.shape)}: ${why}`,
  );
}

/**
 * Matrix product with numpy/PyTorch semantics: the last two axes are matrices, the leading ones
 * batch axes that broadcast; a 1-D `a` is a row vector and a 1-D `b` a column vector, and the
 * axis added for them is removed from the result. Products accumulate in f64 on the reference
 * backend; integer products wrap like their dtype.
 *
 * The kernel always sees `a: [...batch, M, K]` and `b: [...batch, K, N]` with identical batch
 * axes (broadcast as stride-0 views), so backends implement only the batched case.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  a.assertAlive('matmul');
  b.assertAlive('matmul');
  assertSameDType('matmul', a, b);
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
        dtype: a.dtype,
      },
    );
    return a.rank === 1 || b.rank === 1 ? reshape(product, shape) : product;
  });
}

/**
 * A fully connected layer in PyTorch's layout: `x @ weight^T + bias` with `weight` of shape
 * [out, in] and `bias` of shape [out].
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
    return bias ? add(projected, bias) : projected;
  });
}
