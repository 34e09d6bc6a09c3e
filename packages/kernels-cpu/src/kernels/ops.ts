import type { NativeAddon } from '../native';

/** Registers the native op kernels (elementwise, reductions, norms, attention...). */
export function registerOps(_addon: NativeAddon): void {}
