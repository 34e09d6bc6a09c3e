/**
 * @slimlm/core: tensors, dtypes, ops, the backend/kernel/gradient plugin API, autograd and memory
 * scopes, with the pure-TypeScript reference backend registered on import.
 */
import './backends/reference/index';
import './autograd/gradients/index';

// Tensors and dtypes
export { Tensor } from './tensor';
export type { NestedArray } from './tensor';
export { DTYPES, bytesPerElement, isFloatDType } from './dtype';
export type { DType, StorageArray } from './dtype';
export {
  f32BitsToF16Bits,
  f16BitsToF32Bits,
  f32BitsToBf16Bits,
  bf16BitsToF32Bits,
  toF16Bits,
  toBf16Bits,
  fromF16Bits,
  fromBf16Bits,
  f32Bits,
  f32FromBits,
} from './half';
export type { Shape } from './shape';
export { broadcastShapes, formatShape } from './shape';
export { SlimlmError } from './errors';
export type { SlimlmErrorCode } from './errors';
export { Generator, manualSeed, defaultGenerator } from './random';

// Ops
export * from './ops/index';
export { KVCache } from './kv-cache';

// Backends and plugins
export type { Backend, BackendFactory, BackendInfo } from './backend';
export { registerBackend, removeBackend, setBackend, activeBackend, getBackend, withBackend, listBackends } from './backend';
export type { KernelArgs, KernelFn, KernelRegistration, GradientArgs, GradientFn, BackendCapabilities } from './kernels';
export { registerKernel, unregisterKernel, getKernel, backendsWithKernel, registerGradient, getGradient, capabilities } from './kernels';
export { runKernel, runKernel1, runKernelInto, makeView, toBackend } from './engine';
export type { OutputSpec } from './engine';

// Memory
export { memory, resetPeakBytes, scope, keep } from './memory';
export type { MemoryInfo } from './memory';

// Autograd
export { backward, grad } from './autograd/backward';
export type { BackwardOptions, GradOptions } from './autograd/backward';
export { noGrad, isGradEnabled } from './autograd/tape';
