import type { NativeAddon } from '../native';
import { registerElementwise } from './elementwise';
import { registerIndexing } from './indexing';
import { registerLinalg } from './linalg';
import { registerMatmul } from './matmul';
import { registerMemory } from './memory';
import { registerNormalization } from './normalization';
import { registerQuantized } from './quantized';
import { registerReduce } from './reduce';
import { registerTransformer } from './transformer';

/**
 * Core ops with no cuda kernel: calling them on cuda tensors fails with NO_KERNEL (move the
 * tensors with toBackend). Kept here and in the README; a test checks both against the registry.
 */
export const LACKS: readonly string[] = [];

/** Registers every cuda kernel. */
export function registerKernels(addon: NativeAddon): void {
  registerMemory(addon);
  registerElementwise(addon);
  registerIndexing(addon);
  registerReduce(addon);
  registerNormalization(addon);
  registerTransformer(addon);
  registerMatmul(addon);
  registerQuantized(addon);
  registerLinalg(addon);
}
