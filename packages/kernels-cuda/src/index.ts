/**
 * @slimlm/kernels-cuda: the CUDA backend "cuda". Importing the package registers it (priority 30,
 * above "cpu") when the addon was built and CUDA sees a GPU; otherwise it says why in one line and
 * registers nothing, and the other backends work as before.
 */
import { loadError, native } from './addon';
import { CUDA } from './backend';
import { registerGpuBackend } from './gpu';
import type { Capabilities } from './native';

export { CUDA, CUDA_DTYPES, CudaBackend, type DeviceBuffer } from './backend';
export { CudaError } from './errors';
export { LACKS } from './kernels/index';
export type { Capabilities, DeviceInfo, MemoryStats } from './native';

/** The backend's priority: above "cpu" (10) and "rocm" (20). */
export const PRIORITY = 30;

const gpu = registerGpuBackend({
  backend: CUDA,
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

/**
 * The device-level functions: deviceInfo() (the GPU, opened on first use), memoryStats() (the
 * caching allocator's current and peak bytes), resetPeakMemoryStats(), emptyCache() (gives cached
 * memory back to CUDA after waiting for queued work) and synchronize() (waits for every queued
 * kernel and copy; reading a tensor waits by itself).
 */
export const { deviceInfo, memoryStats, resetPeakMemoryStats, emptyCache, synchronize } = gpu;
