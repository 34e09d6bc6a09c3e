import type { NativeAddon } from '../native';
import { registerElementwise } from './elementwise';
import { registerIndexing } from './indexing';
import { registerMemory } from './memory';
import { registerNormalization } from './normalization';
import { registerReduce } from './reduce';
import { registerTransformer } from './transformer';

export type { OpsAddon } from './operands';

/**
 * Registers the native op kernels (data movement, elementwise, reductions, normalizations,
 * attention, loss). Each one hands what it cannot run natively to the reference kernel, case by
 * case in its glue; ops with no native kernel at all are in fallback.ts.
 */
export function registerOps(addon: NativeAddon): void {
  registerMemory(addon);
  registerElementwise(addon);
  registerReduce(addon);
  registerNormalization(addon);
  registerIndexing(addon);
  registerTransformer(addon);
}
