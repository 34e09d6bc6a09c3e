import { assign, detach, keep, type Tensor, zerosLike } from '@slimlm/core';

/**
 * Writes `value` (same shape and dtype) into `target`'s storage, whatever its gradient flag:
 * how parameters held by a model change under the optimizer without the model knowing.
 */
export function overwrite(target: Tensor, value: Tensor): void {
  const view = detach(target);
  try {
    assign(view, value);
  } finally {
    view.dispose();
  }
}

/** A new tensor with `source`'s values, outside any scope (its owner disposes it). */
export function copyOf(source: Tensor): Tensor {
  const copy = keep(zerosLike(source));
  overwrite(copy, source);
  return copy;
}
