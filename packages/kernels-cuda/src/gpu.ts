/**
 * One GPU backend from one addon: what @slimlm/kernels-cuda does with its nvcc build ("cuda") and
 * @slimlm/kernels-rocm with the hipcc build of the same sources ("rocm"). Side-effect free until
 * registerGpuBackend is called (the package entry `@slimlm/kernels-cuda/gpu`).
 */
import { getBackend, registerBackend } from '@slimlm/core';
import { CudaBackend } from './backend';
import { deviceOrdinal, probeDevice } from './device';
import { guard } from './errors';
import { registerKernels } from './kernels/index';
import type { Capabilities, DeviceInfo, MemoryStats, NativeAddon } from './native';

export { CUDA_DTYPES, CudaBackend, type DeviceBuffer } from './backend';
export { CudaError } from './errors';
export { LACKS, registerKernels } from './kernels/index';
export { registeredOps } from './kernels/launch';
export {
  type Capabilities,
  type DeviceInfo,
  loadAddon,
  type MemoryStats,
  type NativeAddon,
} from './native';

export interface GpuBackendSpec {
  /** The backend's name, which the addon's build must report ("cuda" for nvcc, "rocm" for hipcc). */
  backend: 'cuda' | 'rocm';
  /** The package, for the one line that says why nothing was registered. */
  packageName: string;
  /** The loaded addon, or undefined with `loadError` saying why. */
  addon: NativeAddon | undefined;
  loadError?: string;
  priority: number;
  /** The environment variable that picks the device ordinal (SLIMLM_CUDA_DEVICE, ...). */
  deviceVariable: string;
}

/** A registered (or unavailable) GPU backend and its device-level functions. */
export interface GpuBackend {
  /** The backend's name ("cuda", "rocm"). */
  readonly name: string;
  /** True when the addon loaded and its runtime sees a device: the backend is registered. */
  readonly available: boolean;
  /** Why the backend is not registered, when it is not. */
  readonly unavailableReason: string | undefined;
  /** What the build is (known without a device); undefined where the addon did not load. */
  readonly capabilities: Capabilities | undefined;
  /** The GPU the backend runs on (opens it on first use). */
  deviceInfo(): DeviceInfo;
  /** The caching allocator's current and peak bytes, cache hits and device allocations. */
  memoryStats(): MemoryStats;
  /** Restarts the peaks of memoryStats() from the current values. */
  resetPeakMemoryStats(): void;
  /** Gives cached device memory back to the driver (after waiting for queued work). */
  emptyCache(): void;
  /** Waits for every queued kernel and copy (for timing; reading a tensor waits by itself). */
  synchronize(): void;
}

/**
 * Registers the addon's backend (and its kernels) when its runtime sees a device; otherwise says
 * why in one line on stderr and registers nothing, so the other backends work as before.
 */
export function registerGpuBackend(spec: GpuBackendSpec): GpuBackend {
  const { addon, backend: name } = spec;
  const capabilities = addon?.capabilities();
  if (capabilities && capabilities.backend !== name)
    throw new Error(
      `${spec.packageName}: the addon was built for "${capabilities.backend}", not "${name}"`,
    );
  const probe = probeDevice(addon, spec.loadError);
  if (probe.ok) {
    registerBackend(
      name,
      () => {
        const ordinal = deviceOrdinal(spec.deviceVariable);
        const info = guard(`${name}: opening device ${ordinal}`, () => addon!.open(ordinal));
        return new CudaBackend(name, addon!, info);
      },
      { priority: spec.priority },
    );
    registerKernels(addon!);
  } else {
    console.warn(`${spec.packageName}: ${probe.reason}; backend "${name}" not registered`);
  }

  /** The addon of an open device (opening it if needed), or a clear error where there is none. */
  const openAddon = (): NativeAddon => {
    if (!probe.ok) throw new Error(`${spec.packageName}: ${probe.reason}`);
    getBackend(name);
    return addon!;
  };

  return {
    name,
    available: probe.ok,
    unavailableReason: probe.ok ? undefined : probe.reason,
    capabilities,
    deviceInfo: () => (getBackend(name) as CudaBackend).device,
    memoryStats: () => openAddon().memoryStats(),
    resetPeakMemoryStats: () => openAddon().resetPeakMemoryStats(),
    emptyCache: () => guard(`${name}: emptying the cache`, () => openAddon().emptyCache()),
    synchronize: () => guard(`${name}: synchronizing`, () => openAddon().synchronize()),
  };
}
