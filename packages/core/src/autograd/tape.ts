import { isFloatDType } from '../dtype';
import type { Tensor } from '../tensor';
import { alias, attachNode, GradNode } from './node';

let disabledDepth = 0;

export function isGradEnabled(): boolean {
  return disabledDepth === 0;
}

/** Runs `fn` without recording ops for autograd (inference, optimizer steps, gradient math). */
export function noGrad<T>(fn: () => T): T {
  disabledDepth++;
  try {
    return fn();
  } finally {
    disabledDepth--;
  }
}

/**
 * Records an op whose inputs need gradients: its float outputs then require a gradient and point
 * at a node that saved the inputs and outputs for the gradient function.
 */
export function recordOp(
  op: string,
  inputs: readonly Tensor[],
  outputs: readonly Tensor[],
  attrs: unknown,
): void {
  if (disabledDepth > 0 || !inputs.some((t) => t.requiresGrad)) return;
  if (!outputs.some((t) => isFloatDType(t.dtype))) return;
  const saved = inputs.map((input) => ({
    saved: alias(input, true),
    leaf: input.requiresGrad && input.gradNode === null ? input : null,
    requiresGrad: input.requiresGrad,
  }));
  // Output aliases carry no node: a node that pointed at itself would never be freed.
  const node = new GradNode(
    op,
    attrs,
    saved,
    outputs.map((o) => alias(o, false)),
  );
  outputs.forEach((output, index) => {
    if (!isFloatDType(output.dtype)) return;
    attachNode(output, node, index);
    output.requiresGrad = true;
  });
}
