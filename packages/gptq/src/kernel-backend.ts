import { getKernel, listBackends, SlimlmError } from '@slimlm/core';

/**
 * The backend that runs gptq's host-side op `op` (packing codes, RTN with its f64 losses) for
 * tensors on `backend`: that backend where it has a kernel, else the highest-priority one that
 * does (kernels-cpu, then the reference). The GPU backends leave these to the CPU: their results
 * go to the host anyway, and the GPU stores no f64.
 */
export function backendRunning(op: string, backend: string): string {
  if (getKernel(op, backend) !== undefined) return backend;
  const found = listBackends().find((b) => getKernel(op, b.name) !== undefined);
  if (found === undefined)
    throw new SlimlmError('NO_KERNEL', `${op}: no backend has a kernel (import @slimlm/gptq)`);
  return found.name;
}
