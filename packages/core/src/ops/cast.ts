import { DTYPES, type DType, isDType } from '../dtype';
import { runKernel1 } from '../engine';
import { invalidArgument } from '../errors';
import type { Tensor } from '../tensor';
import { contiguous } from './view';

export interface CastAttrs {
  dtype: DType;
}

/**
 * `x` converted to `dtype`, as C casts do: floats to integers truncate toward zero and wrap modulo
 * the integer's range (NaN gives 0), integers wrap, and f16/bf16 round to nearest even. Casting
 * to `x`'s own dtype copies only when `x` is not contiguous.
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  x.assertAlive('cast');
  if (!isDType(dtype)) {
    throw invalidArgument(
      'cast',
      `unknown dtype ${JSON.stringify(dtype)} (expected one of ${DTYPES.join(', ')})`,
    );
  }
  if (x.dtype === dtype) return contiguous(x);
  const attrs: CastAttrs = { dtype };
  return runKernel1('cast', [x], attrs, { shape: x.shape, dtype });
}
