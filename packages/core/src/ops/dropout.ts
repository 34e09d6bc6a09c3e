import { makeView } from '../engine';
import { invalidArgument } from '../errors';
import { defaultGenerator, type Generator } from '../random';
import type { Tensor } from '../tensor';
import { tensor } from './creation';
import { assertFloat, mul } from './elementwise';

export interface DropoutOptions {
  /** Off (identity) when false, as in evaluation (default true). */
  training?: boolean;
  /** Draws the mask (default: the global generator, see manualSeed). */
  generator?: Generator;
}

/**
 * Inverted dropout: each element is kept with probability 1 - p and scaled by 1 / (1 - p), so the
 * expected value is unchanged. The mask is drawn on the host, in row-major order, from the
 * generator (the same seed gives the same mask on every backend) and multiplied in, so the
 * gradient is the same mask times the output gradient. With p = 0 or training off, the result is
 * a view of `x` itself; with p = 1 it is x * 0.
 */
export function dropout(x: Tensor, p: number, options: DropoutOptions = {}): Tensor {
  const op = 'dropout';
  x.assertAlive(op);
  assertFloat(op, x);
  if (!(p >= 0 && p <= 1)) throw invalidArgument(op, `p must be in [0, 1], got ${p}`);
  const { training = true, generator = defaultGenerator } = options;
  // Recorded as a 'copy' view, whose gradient passes the output gradient straight through.
  if (p === 0 || !training) return makeView('copy', x, x.shape, x.strides, x.offset, {});
  if (p === 1) return mul(x, 0);
  const keepScale = 1 / (1 - p);
  const mask = new Float64Array(x.size);
  for (let i = 0; i < mask.length; i++) mask[i] = generator.nextFloat() < p ? 0 : keepScale;
  const maskTensor = tensor(mask, { shape: x.shape, dtype: x.dtype, backend: x.backend });
  try {
    return mul(x, maskTensor);
  } finally {
    maskTensor.dispose();
  }
}
