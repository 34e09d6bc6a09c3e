import { type Backend, getBackend } from './backend';
import type { DType } from './dtype';
import { SlimlmError } from './errors';
import type { Tensor } from './tensor';

/**
 * What a kernel is given: inputs (on its backend; strided views only if the backend declares
 * `stridedInputs`), outputs to fill, and the op's attributes. Outputs are freshly allocated and
 * contiguous, except for in-place writes (`runKernelInto`, which `assign` uses with the `copy`
 * kernel): there the output may be any view, so `copy` must handle strides on both sides. The op
 * function has already validated shapes and dtypes and computed the outputs' shapes.
 */
export interface KernelArgs<A = Record<string, unknown>> {
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly attrs: A;
  readonly backend: Backend;
}

// biome-ignore lint/suspicious/noExplicitAny: kernels are stored for every attribute type.
export type KernelFn<A = any> = (args: KernelArgs<A>) => void;

export interface KernelRegistration<A = unknown> {
  op: string;
  backend: string;
  fn: KernelFn<A>;
}

/** What a gradient function receives for one recorded op. */
export interface GradientArgs<A = Record<string, unknown>> {
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly attrs: A;
  /** One gradient per output, shaped like that output. */
  readonly gradOutputs: readonly Tensor[];
  /**
   * Which inputs need a gradient: a gradient function may return null for the others and skip
   * their cost (a frozen weight under LoRA, say).
   */
  readonly needsGrad: readonly boolean[];
}

/**
 * Returns the gradient of each input (null where an input needs none), built from ops so that it
 * runs on whichever backend the tensors live on. Runs with gradient recording off.
 */
// biome-ignore lint/suspicious/noExplicitAny: gradients are stored for every attribute type.
export type GradientFn<A = any> = (args: GradientArgs<A>) => readonly (Tensor | null)[];

const kernels = new Map<string, Map<string, KernelFn>>();
const gradients = new Map<string, GradientFn>();

/** Registers (or replaces) the kernel of `op` on `backend`. */
export function registerKernel<A>(registration: KernelRegistration<A>): void {
  let byBackend = kernels.get(registration.op);
  if (byBackend === undefined) {
    byBackend = new Map();
    kernels.set(registration.op, byBackend);
  }
  byBackend.set(registration.backend, registration.fn as KernelFn);
}

export function unregisterKernel(op: string, backend: string): void {
  kernels.get(op)?.delete(backend);
}

export function getKernel(op: string, backend: string): KernelFn | undefined {
  return kernels.get(op)?.get(backend);
}

/** The backends that have a kernel for `op`. */
export function backendsWithKernel(op: string): string[] {
  return [...(kernels.get(op)?.keys() ?? [])];
}

/** Registers the gradient of `op`: one for all backends, since it is composed from ops. */
export function registerGradient<A>(op: string, fn: GradientFn<A>): void {
  gradients.set(op, fn as GradientFn);
}

export function getGradient(op: string): GradientFn | undefined {
  return gradients.get(op);
}

export interface BackendCapabilities {
  name: string;
  dtypes: readonly DType[];
  stridedInputs: boolean;
  /** Ops with a kernel on this backend, sorted. */
  kernels: string[];
}

/** What a backend can do: its dtypes and which ops have kernels there. */
export function capabilities(backendName: string): BackendCapabilities {
  const backend = getBackend(backendName);
  const ops = [...kernels.entries()]
    .filter(([, byBackend]) => byBackend.has(backendName))
    .map(([op]) => op);
  return {
    name: backend.name,
    dtypes: backend.dtypes,
    stridedInputs: backend.stridedInputs,
    kernels: ops.sort(),
  };
}

export function missingKernelError(op: string, backend: string): SlimlmError {
  const elsewhere = backendsWithKernel(op);
  const hint =
    elsewhere.length === 0
      ? `no backend has a kernel for '${op}'; import the package that defines it`
      : `kernels exist on: ${elsewhere.join(', ')}; register one for '${backend}' or move the tensors there`;
  return new SlimlmError('NO_KERNEL', `op '${op}' has no kernel on backend '${backend}' (${hint})`);
}
