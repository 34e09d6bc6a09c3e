/**
 * @slimlm/kernels-cpu: the native CPU backend "cpu". Importing the package registers it (priority
 * 10, above the reference backend) when the addon loaded; otherwise it says why in one line and the
 * reference backend stays in use.
 */
import { HostMemoryBackend, registerBackend } from '@slimlm/core';
import { CPU } from './backend';
import { registerFallbacks } from './fallback';
import { registerGptq } from './kernels/gptq';
import { registerLinalg } from './kernels/linalg';
import { registerMatmul } from './kernels/matmul';
import { registerOps } from './kernels/ops';
import { registerQuantized } from './kernels/quantized';
import { type CpuInfo, native, unavailableReason } from './native';

export { CPU } from './backend';
export { FALLBACK_OPS } from './fallback';
export { matmulAsync } from './kernels/matmul';
export type { CpuInfo } from './native';

/** True when the native addon loaded and the "cpu" backend is registered. */
export const available = native !== undefined;

if (native) {
  // Host typed arrays, like the reference backend's: native kernels read the tensors in place, and
  // an op or dtype with no native kernel runs the reference kernel on the same storage.
  registerBackend(CPU, () => new HostMemoryBackend(CPU), { priority: 10 });
  registerMatmul(native);
  registerOps(native);
  registerGptq(native);
  registerLinalg(native);
  registerQuantized(native);
  registerFallbacks();
} else {
  console.warn(
    `@slimlm/kernels-cpu: native addon unavailable (${unavailableReason}); using the reference backend`,
  );
}

function addon() {
  if (native === undefined)
    throw new Error(`@slimlm/kernels-cpu: native addon unavailable (${unavailableReason})`);
  return native;
}

/** The CPU's features, the kernel path in use and the thread count. */
export function cpuInfo(): CpuInfo {
  return addon().info();
}

/**
 * Switches the kernel path ('avx512', 'avx2' or 'scalar'); throws if this CPU cannot run it. The
 * SLIMLM_CPU_ISA environment variable does the same at load.
 */
export function setIsa(isa: string): void {
  addon().setIsa(isa);
}

/** Sets the size of the thread pool (default: the cores this process may use, or SLIMLM_NUM_THREADS). */
export function setThreads(threads: number): void {
  addon().setThreads(threads);
}
