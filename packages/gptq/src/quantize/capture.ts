import type { Tensor } from '@slimlm/core';
import { type LinearLayer, Module } from '@slimlm/models';

/**
 * Stands in for a Linear while a block runs on the calibration windows: hands every input to
 * `onInput` (a Hessian accumulator) and computes what the Linear computes, as the reference's
 * forward hooks do. It holds the Linear without adopting it, so the block's parameter paths are
 * unchanged once the Linear is put back.
 */
export class CapturingLinear extends Module implements LinearLayer {
  constructor(
    readonly inner: LinearLayer,
    private readonly onInput: (x: Tensor) => void,
  ) {
    super();
  }

  get inFeatures(): number {
    return this.inner.inFeatures;
  }

  get outFeatures(): number {
    return this.inner.outFeatures;
  }

  forward(x: Tensor): Tensor {
    this.onInput(x);
    return this.inner.forward(x);
  }
}

/**
 * Runs `fn` with each Linear of `paths` (relative to `block`) wrapped so that its inputs go to
 * `onInput(path, x)`, and puts the Linears back afterwards, even when `fn` throws.
 */
export function withCapture<T>(
  block: Module,
  paths: readonly string[],
  onInput: (path: string, x: Tensor) => void,
  fn: () => T,
): T {
  const originals: [string, Module][] = [];
  try {
    for (const path of paths) {
      const inner = block.getModule(path) as LinearLayer;
      const wrapper = new CapturingLinear(inner, (x) => onInput(path, x));
      originals.push([path, block.setModule(path, wrapper)]);
    }
    return fn();
  } finally {
    for (const [path, original] of originals) block.setModule(path, original);
  }
}
