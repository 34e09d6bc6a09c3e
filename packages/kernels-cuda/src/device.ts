import type { NativeAddon } from './native';

/** How the runtime of each build is called in messages. */
const RUNTIME = { cuda: 'CUDA', rocm: 'ROCm' } as const;

/**
 * Whether this machine can run the backend: the addon loaded and its runtime (CUDA, or HIP in
 * the "rocm" build) sees a device. Returns the reason in one phrase when not (no compiler at
 * build time, no driver, no GPU).
 */
export function probeDevice(
  addon: NativeAddon | undefined,
  loadError: string | undefined,
): { ok: true } | { ok: false; reason: string } {
  if (addon === undefined) return { ok: false, reason: `native addon unavailable (${loadError})` };
  const runtime = RUNTIME[addon.capabilities().backend];
  const found = addon.probe();
  if ('error' in found)
    return { ok: false, reason: `no usable ${runtime} device or driver (${found.error})` };
  if (found.count === 0) return { ok: false, reason: `no ${runtime} device` };
  return { ok: true };
}

/** The device to open: the environment variable `name` (an ordinal), else 0. */
export function deviceOrdinal(name: string, env: NodeJS.ProcessEnv = process.env): number {
  const value = env[name];
  if (value === undefined || value === '') return 0;
  const ordinal = Number(value);
  if (!Number.isInteger(ordinal) || ordinal < 0)
    throw new Error(`${name} must be a device ordinal (0, 1, ...), got '${value}'`);
  return ordinal;
}
