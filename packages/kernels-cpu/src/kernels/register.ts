import { getKernel, type KernelArgs, type KernelFn, registerKernel } from '@slimlm/core';
import { CPU } from '../backend';

/**
 * Registers the "cpu" kernel of `op`. `fn` runs the native kernel, or hands the arguments it
 * cannot take (integer and f64 dtypes, more than MAX_RANK dims...) to `reference`, the reference
 * backend's kernel on the same storage: every such case is written out in the kernel's glue.
 */
export function registerNative<A>(
  op: string,
  fn: (args: KernelArgs<A>, reference: KernelFn<A>) => void,
): void {
  const reference = getKernel(op, 'reference');
  if (reference === undefined)
    throw new Error(`@slimlm/kernels-cpu: core has no reference kernel for '${op}'`);
  registerKernel<A>({ op, backend: CPU, fn: (args) => fn(args, reference) });
}
