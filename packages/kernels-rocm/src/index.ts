/**
 * @slimlm/kernels-rocm: the AMD backend "rocm", kernels-cuda's kernels built with hipcc (one
 * portability header, native/common/gpu.h, no forked kernels) and its TypeScript glue. Importing
 * the package registers it (priority 20: above "cpu", below "cuda") when the addon was built and
 * HIP sees a GPU; otherwise it says why in one line and registers nothing.
 */
import { type Capabilities, loadAddon, registerGpuBackend } from '@slimlm/kernels-cuda/gpu';

export type { Capabilities, DeviceInfo, MemoryStats } from '@slimlm/kernels-cuda/gpu';
export { CudaError as GpuError } from '@slimlm/kernels-cuda/gpu';

export const ROCM = 'rocm';

/** The backend's priority: above "cpu" (10), below "cuda" (30). */
export const PRIORITY = 20;

// From src/ (tests) and dist/ (the package) alike the addon is one level up; a bundle carried to
// another machine names it with SLIMLM_ROCM_ADDON.
const loaded = loadAddon(
  import.meta.url,
  process.env.SLIMLM_ROCM_ADDON ?? '../build/Release/slimlm_rocm.node',
);

/** Why the addon did not load (never built: no hipcc; or libamdhip64 missing), when it did not. */
export const loadError: string | undefined = 'error' in loaded ? loaded.error : undefined;

const gpu = registerGpuBackend({
  backend: ROCM,
  packageName: '@slimlm/kernels-rocm',
  addon: 'addon' in loaded ? loaded.addon : undefined,
  loadError,
  priority: PRIORITY,
  deviceVariable: 'SLIMLM_ROCM_DEVICE',
});

/** True when the addon loaded and HIP sees a device: the "rocm" backend is registered. */
export const available: boolean = gpu.available;

/** Why the backend is not registered, when it is not. */
export const unavailableReason: string | undefined = gpu.unavailableReason;

/**
 * What the build is (known without a GPU): the matmul path (the portable tiled GEMM on AMD),
 * warp and shared-memory limits, kernels not ported; undefined where the addon was not built.
 */
export const buildCapabilities: Capabilities | undefined = gpu.capabilities;

/**
 * The device-level functions: deviceInfo() (the GPU, opened on first use), memoryStats() (the
 * caching allocator's current and peak bytes), resetPeakMemoryStats(), emptyCache() (gives cached
 * memory back to HIP after waiting for queued work) and synchronize() (waits for every queued
 * kernel and copy; reading a tensor waits by itself).
 */
export const { deviceInfo, memoryStats, resetPeakMemoryStats, emptyCache, synchronize } = gpu;
