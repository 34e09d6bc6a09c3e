import { getKernel, registerKernel } from '@slimlm/core';
import { CPU } from './backend';

/**
 * Ops with no native kernel: the "cpu" backend runs the reference backend's kernel for them, on
 * the same storage. Listed here (and in the README) so that nothing falls back silently. (Native
 * kernels also hand the reference kernel the dtypes they do not take, case by case in their
 * glue under src/kernels/.)
 */
export const FALLBACK_OPS: readonly string[] = [];

/** Registers the reference kernel of every op in FALLBACK_OPS under the "cpu" backend. */
export function registerFallbacks(): void {
  for (const op of FALLBACK_OPS) {
    const kernel = getKernel(op, 'reference');
    if (kernel === undefined)
      throw new Error(`@slimlm/kernels-cpu: core has no reference kernel for '${op}'`);
    registerKernel({ op, backend: CPU, fn: kernel });
  }
}
