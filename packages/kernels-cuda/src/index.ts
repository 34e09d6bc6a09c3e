/**
 * @slimlm/kernels-cuda: the CUDA backend "cuda". Importing the package registers it (priority 30,
 * above "cpu") when the addon was built and CUDA sees a GPU; otherwise it says why in one line and
 * registers nothing, and the other backends work as before.
 */
import { getBackend, registerBackend } from '@slimlm/core';
import { CUDA, CudaBackend } from './backend';
import { deviceOrdinal, probeDevice } from './device';
import { guard } from './errors';
import { registerKernels } from './kernels/index';
import { type DeviceInfo, loadError, type MemoryStats, type NativeAddon, native } from './native';

export { CUDA, CUDA_DTYPES, CudaBackend, type DeviceBuffer } from './backend';
export { CudaError } from './errors';
export { LACKS } from './kernels/index';
export type { DeviceInfo, MemoryStats } from './native';

/** The backend's priority: above "cpu" (10) and the planned "rocm" (20). */
export const PRIORITY = 30;

const probe = probeDevice(native, loadError);

/** True when the addon loaded and CUDA sees a device: the "cuda" backend is registered. */
export const available: boolean = probe.ok;

/** Why the backend is not registered, when it is not. */
export const unavailableReason: string | undefined = probe.ok ? undefined : probe.reason;

if (probe.ok) {
  const addon = native!;
  registerBackend(
    CUDA,
    () => {
      const ordinal = deviceOrdinal();
      const info = guard(`cuda: opening device ${ordinal}`, () => addon.open(ordinal));
      return new CudaBackend(addon, info);
    },
    { priority: PRIORITY },
  );
  registerKernels(addon);
} else {
  console.warn(`@slimlm/kernels-cuda: ${unavailableReason}; backend "cuda" not registered`);
}

/** The addon of an open device (opening it if needed), or a clear error where there is none. */
function openAddon(): NativeAddon {
  if (!probe.ok) throw new Error(`@slimlm/kernels-cuda: ${unavailableReason}`);
  getBackend(CUDA);
  return native!;
}

/** The GPU the backend runs on (opens it on first use). */
export function deviceInfo(): DeviceInfo {
  return (getBackend(CUDA) as CudaBackend).device;
}

/** The caching allocator's current and peak bytes, cache hits and cudaMalloc calls. */
export function memoryStats(): MemoryStats {
  return openAddon().memoryStats();
}

/** Restarts the peaks of memoryStats() from the current values. */
export function resetPeakMemoryStats(): void {
  openAddon().resetPeakMemoryStats();
}

/** Gives cached device memory back to CUDA (after waiting for queued work). */
export function emptyCache(): void {
  guard('cuda: emptying the cache', () => openAddon().emptyCache());
}

/** Waits for every queued kernel and copy (for timing; reading a tensor waits by itself). */
export function synchronize(): void {
  guard('cuda: synchronizing', () => openAddon().synchronize());
}
