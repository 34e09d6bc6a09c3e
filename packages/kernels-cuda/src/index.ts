/**
 * @slimlm/kernels-cuda: the CUDA backend "cuda". Importing the package registers it (priority 30,
 * above "cpu") when the addon was built and CUDA sees a GPU; otherwise it says why in one line and
 * registers nothing, and the other backends work as before.
 */
import { loadError, native } from './addon';
import { registerGpuBackend } from './gpu';
import type { Capabilities, DeviceInfo, MemoryStats } from './native';

export { CUDA, CUDA_DTYPES, CudaBackend, type DeviceBuffer } from './backend';
export { CudaError } from './errors';
export { LACKS } from './kernels/index';
export type { Capabilities, DeviceInfo, MemoryStats } from './native';

/** The backend's priority: above "cpu" (10) and "rocm" (20). */
export const PRIORITY = 30;

const gpu = registerGpuBackend({
  packageName: '@slimlm/kernels-cuda',
  addon: native,
  loadError,
  priority: PRIORITY,
  deviceVariable: 'SLIMLM_CUDA_DEVICE',
});

/** True when the addon loaded and CUDA sees a device: the "cuda" backend is registered. */
export const available: boolean = gpu.available;

/** Why the backend is not registered, when it is not. */
export const unavailableReason: string | undefined = gpu.unavailableReason;

/** What the build is (tensor-core GEMM, limits); undefined where the addon was not built. */
export const buildCapabilities: Capabilities | undefined = gpu.capabilities;

/** The GPU the backend runs on (opens it on first use). */
export function deviceInfo(): DeviceInfo {
  return gpu.deviceInfo();
}

/** The caching allocator's current and peak bytes, cache hits and cudaMalloc calls. */
export function memoryStats(): MemoryStats {
  return gpu.memoryStats();
}

/** Restarts the peaks of memoryStats() from the current values. */
export function resetPeakMemoryStats(): void {
  gpu.resetPeakMemoryStats();
}

/** Gives cached device memory back to CUDA (after waiting for queued work). */
export function emptyCache(): void {
  gpu.emptyCache();
}

/** Waits for every queued kernel and copy (for timing; reading a tensor waits by itself). */
export function synchronize(): void {
  gpu.synchronize();
}
