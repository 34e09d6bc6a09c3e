/**
 * @slimlm/core: tensors, dtypes, ops, the backend/kernel/gradient plugin API, autograd and memory
 * scopes, with the pure-TypeScript reference backend registered on import.
 */
import './backends/reference/index';
import './autograd/gradients/index';

export type { BackwardOptions, GradOptions } from './autograd/backward';
// Autograd
export { backward, grad } from './autograd/backward';
export { isGradEnabled, noGrad } from './autograd/tape';
// Backends and plugins
export type { Backend, BackendFactory, BackendInfo } from './backend';
export {
  activeBackend,
  getBackend,
  listBackends,
  registerBackend,
  removeBackend,
  setBackend,
  withBackend,
} from './backend';
export { HostMemoryBackend } from './backends/host-memory';
export type { DType, StorageArray } from './dtype';
export { allocateStorageArray, bytesPerElement, DTYPES, isFloatDType } from './dtype';
export type { OutputSpec } from './engine';
export { makeView, runKernel, runKernel1, runKernelInto, toBackend } from './engine';
export type { SlimlmErrorCode } from './errors';
export { SlimlmError } from './errors';
export {
  bf16BitsToF32Bits,
  f16BitsToF32Bits,
  f32Bits,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32FromBits,
  fromBf16Bits,
  fromF16Bits,
  toBf16Bits,
  toF16Bits,
} from './half';
export type {
  BackendCapabilities,
  GradientArgs,
  GradientFn,
  KernelArgs,
  KernelFn,
  KernelRegistration,
} from './kernels';
export {
  backendsWithKernel,
  capabilities,
  getGradient,
  getKernel,
  registerGradient,
  registerKernel,
  unregisterKernel,
} from './kernels';
export { KVCache } from './kv-cache';
export type { MemoryInfo } from './memory';
// Memory
export { keep, memory, resetPeakBytes, scope } from './memory';
// Ops
export * from './ops/index';
export { defaultGenerator, Generator, manualSeed } from './random';
export type { Shape } from './shape';
export { broadcastShapes, contiguousStrides, formatShape, sizeOf } from './shape';
export type { NestedArray } from './tensor';
// Tensors and dtypes
export { Tensor } from './tensor';
