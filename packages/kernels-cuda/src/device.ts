import type { NativeAddon } from './native';

/**
 * Whether this machine can run the backend: the addon loaded and CUDA sees a device. Returns the
 * reason in one phrase when not (no nvcc at build time, no driver, no GPU).
 */
export function probeDevice(
  addon: NativeAddon | undefined,
  loadError: string | undefined,
): { ok: true } | { ok: false; reason: string } {
  if (addon === undefined) return { ok: false, reason: `native addon unavailable (${loadError})` };
  const found = addon.probe();
  if ('error' in found)
    return { ok: false, reason: `no usable CUDA device or driver (${found.error})` };
  if (found.count === 0) return { ok: false, reason: 'no CUDA device' };
  return { ok: true };
}

/** The device to open: SLIMLM_CUDA_DEVICE (an ordinal), else 0. */
export function deviceOrdinal(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.SLIMLM_CUDA_DEVICE;
  if (value === undefined || value === '') return 0;
  const ordinal = Number(value);
  if (!Number.isInteger(ordinal) || ordinal < 0)
    throw new Error(`SLIMLM_CUDA_DEVICE must be a device ordinal (0, 1, ...), got '${value}'`);
  return ordinal;
}
