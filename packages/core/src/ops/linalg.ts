import { runKernel1 } from '../engine';
import { SlimlmError } from '../errors';
import { formatShape } from '../shape';
import type { Tensor } from '../tensor';

/** Attributes of the 'cholesky' and 'choleskyInverse' kernels. */
export interface CholeskyAttrs {
  /** The factor is upper triangular U (a = UᵀU) instead of lower L (a = LLᵀ). */
  upper: boolean;
}

/** Checks that `a` is a live square f32/f64 matrix and returns its order n. */
function squareFloatMatrix(op: string, a: Tensor, what: string): number {
  a.assertAlive(op);
  if (a.rank !== 2 || a.shape[0] !== a.shape[1]) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: ${what} must be a square matrix [n, n], got ${formatShape(a.shape)}`,
    );
  }
  if (a.dtype !== 'f32' && a.dtype !== 'f64') {
    throw new SlimlmError(
      'DTYPE_MISMATCH',
      `${op}: ${what} must be f32 or f64, got ${a.dtype}; cast it first`,
    );
  }
  return a.shape[0]!;
}

/**
 * The Cholesky factor of a symmetric positive definite matrix `a` [n, n] (f32 or f64): lower
 * triangular L with `a = L Lᵀ` (the default), or upper triangular U with `a = Uᵀ U` when
 * `upper` is set (U = Lᵀ); the other triangle of the result is zero. Only the triangle of `a` on
 * the factor's side is read (the lower one for L, the upper one for U), as LAPACK's potrf does.
 *
 * A matrix that is not positive definite (a pivot that is not > 0, or NaN) throws a SlimlmError
 * with code 'NUMERICAL' naming the failing pivot, so callers can add damping and retry.
 * Like torch.linalg.cholesky. Has no gradient: backward through it is an AUTOGRAD error.
 */
export function cholesky(a: Tensor, options: { upper?: boolean } = {}): Tensor {
  squareFloatMatrix('cholesky', a, 'the input');
  const attrs: CholeskyAttrs = { upper: options.upper ?? false };
  return runKernel1('cholesky', [a], attrs, { shape: a.shape, dtype: a.dtype });
}

/**
 * The inverse of a symmetric positive definite matrix A from its Cholesky factor `factor`
 * [n, n]: lower L with A = L Lᵀ (the default), or upper U with A = Uᵀ U when `upper` is set.
 * Returns A⁻¹, symmetric, with the factor's shape and dtype (f32 or f64). Only the factor's
 * triangle is read. Like torch.cholesky_inverse. A zero on the factor's diagonal gives
 * non-finite values, as there. Has no gradient: backward through it is an AUTOGRAD error.
 */
export function choleskyInverse(factor: Tensor, options: { upper?: boolean } = {}): Tensor {
  squareFloatMatrix('choleskyInverse', factor, 'the factor');
  const attrs: CholeskyAttrs = { upper: options.upper ?? false };
  return runKernel1('choleskyInverse', [factor], attrs, {
    shape: factor.shape,
    dtype: factor.dtype,
  });
}

/** The NUMERICAL error every cholesky kernel throws for a pivot that is not positive. */
export function notPositiveDefinite(pivot: number, value: number): SlimlmError {
  return new SlimlmError(
    'NUMERICAL',
    `cholesky: the matrix is not positive definite (pivot k = ${pivot}, value ${value}); add damping to its diagonal`,
  );
}
