import { mul, noGrad, scope, square, sum, type Tensor } from '@slimlm/core';
import { checkNumber } from './check';
import { overwrite } from './in-place';

/** The L2 norm of all `grads` taken together, as one vector (NaN or Infinity if any element is). */
export function globalGradNorm(grads: Iterable<Tensor>): number {
  let squares = 0;
  for (const g of grads) squares += noGrad(() => scope(() => sum(square(g)).item()));
  return Math.sqrt(squares);
}

/** Multiplies every gradient by `factor` in place. */
export function scaleGradients(grads: Iterable<Tensor>, factor: number): void {
  if (factor === 1) return;
  for (const g of grads) noGrad(() => scope(() => overwrite(g, mul(g, factor))));
}

/**
 * Clips gradients by their global norm, as torch.nn.utils.clip_grad_norm_: when the norm exceeds
 * `maxNorm`, every gradient is scaled in place by maxNorm / (norm + 1e-6). Returns the norm
 * before clipping; a non-finite norm leaves the gradients as they are.
 */
export function clipGradNorm(grads: Iterable<Tensor>, maxNorm: number): number {
  checkNumber('clipGradNorm', 'maxNorm', maxNorm, 0);
  const list = [...grads];
  const norm = globalGradNorm(list);
  const coefficient = maxNorm / (norm + 1e-6);
  if (Number.isFinite(norm) && coefficient < 1) scaleGradients(list, coefficient);
  return norm;
}
