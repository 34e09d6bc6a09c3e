import { runKernel1 } from '../engine';
import { SlimlmError } from '../errors';
import { formatShape, normalizeAxis } from '../shape';
import type { Tensor } from '../tensor';
import { assertFloat, assertSameDType } from './elementwise';

export interface SoftmaxAttrs {
  axis: number;
}

export interface NormAttrs {
  eps: number;
  /** Which optional inputs follow `x` in the kernel's inputs, in the order weight, bias. */
  hasWeight: boolean;
  hasBias: boolean;
}

export interface NormOptions {
  /** Added to the variance (or mean square) before the square root; default 1e-5. */
  eps?: number;
}

function alongAxis(op: string, x: Tensor, axis: number): Tensor {
  x.assertAlive(op);
  assertFloat(op, x);
  const attrs: SoftmaxAttrs = { axis: normalizeAxis(op, axis, x.rank) };
  return runKernel1(op, [x], attrs, { shape: x.shape, dtype: x.dtype });
}

/** exp(x) / sum(exp(x)) along `axis`, shifted by the max so that it never overflows. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return alongAxis('softmax', x, axis);
}

/** log(softmax(x)) along `axis`, computed as x - logsumexp(x) (stable, no log of 0). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return alongAxis('logSoftmax', x, axis);
}

/** Checks an optional per-feature parameter (weight or bias) against `x`'s last axis. */
function assertFeatureParameter(op: string, name: string, x: Tensor, p: Tensor | null): void {
  if (p === null) return;
  p.assertAlive(op);
  assertSameDType(op, x, p);
  const features = x.shape[x.rank - 1];
  if (p.rank !== 1 || p.shape[0] !== features) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: ${name} ${formatShape(p.shape)} does not match input ${formatShape(x.shape)}; expected [${features}]`,
    );
  }
}

function normalize(
  op: string,
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  options: NormOptions,
): Tensor {
  x.assertAlive(op);
  assertFloat(op, x);
  if (x.rank === 0) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: input ${formatShape(x.shape)} has no axis to normalize`,
    );
  }
  assertFeatureParameter(op, 'weight', x, weight);
  assertFeatureParameter(op, 'bias', x, bias);
  const attrs: NormAttrs = {
    eps: options.eps ?? 1e-5,
    hasWeight: weight !== null,
    hasBias: bias !== null,
  };
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return runKernel1(op, inputs, attrs, { shape: x.shape, dtype: x.dtype });
}

/**
 * Root-mean-square normalization over the last axis, as in Llama:
 * `x * rsqrt(mean(x^2) + eps) * weight`, with `weight` of shape [D] or null for none.
 */
export function rmsNorm(x: Tensor, weight: Tensor | null, options: NormOptions = {}): Tensor {
  return normalize('rmsNorm', x, weight, null, options);
}

/**
 * Layer normalization over the last axis: `(x - mean) * rsqrt(var + eps) * weight + bias`, with
 * the biased variance (as PyTorch), `weight` and `bias` of shape [D] or null for none.
 */
export function layerNorm(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  options: NormOptions = {},
): Tensor {
  return normalize('layerNorm', x, weight, bias, options);
}
