import { runKernel1 } from '../engine';
import { invalidArgument, SlimlmError } from '../errors';
import { formatShape, shapesEqual } from '../shape';
import type { Tensor } from '../tensor';
import { assertFloat } from './elementwise';

export type LossReduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  /** Targets equal to this contribute no loss and no gradient (default -100, as in PyTorch). */
  ignoreIndex?: number;
  /** 'mean' over the non-ignored targets (default), 'sum', or 'none' (one loss per target, 0 where ignored). */
  reduction?: LossReduction;
}

export interface CrossEntropyAttrs {
  ignoreIndex: number;
  reduction: LossReduction;
}

/**
 * Cross-entropy of softmax(logits) against class indices: logits [..., C], i32 targets [...]
 * (logits' shape without its last dim). Computed as logsumexp - logit[target], stably. A 'mean'
 * over zero non-ignored targets is NaN (0/0), as in PyTorch. A target outside 0..C-1 that is not
 * ignoreIndex throws naming it. Only the logits get a gradient.
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  const op = 'crossEntropy';
  logits.assertAlive(op);
  targets.assertAlive(op);
  assertFloat(op, logits);
  if (targets.dtype !== 'i32') {
    throw new SlimlmError(
      'DTYPE_MISMATCH',
      `${op}: targets must be i32 class indices, got ${targets.dtype} (logits are ${logits.dtype})`,
    );
  }
  if (logits.rank === 0 || !shapesEqual(targets.shape, logits.shape.slice(0, -1))) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: targets ${formatShape(targets.shape)} must be logits ${formatShape(logits.shape)} without the class dim`,
    );
  }
  const { ignoreIndex = -100, reduction = 'mean' } = options;
  if (!Number.isInteger(ignoreIndex)) {
    throw invalidArgument(op, `ignoreIndex must be an integer, got ${ignoreIndex}`);
  }
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw invalidArgument(op, `reduction must be 'mean', 'sum' or 'none', got '${reduction}'`);
  }
  const attrs: CrossEntropyAttrs = { ignoreIndex, reduction };
  const shape = reduction === 'none' ? targets.shape : [];
  return runKernel1(op, [logits, targets], attrs, { shape, dtype: logits.dtype });
}
