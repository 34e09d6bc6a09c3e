import { SlimlmError } from '@slimlm/core';

/**
 * A failure reported by CUDA, or by HIP in the "rocm" build (out of memory, a kernel fault, a
 * missing kernel image for this GPU): the message holds what slimlm was doing and the runtime's
 * own words, `cudaError` its name for it (e.g. 'cudaErrorMemoryAllocation', 'hipErrorOutOfMemory').
 * Its code is UNSUPPORTED: the input was valid, but this device could not run it.
 */
export class CudaError extends SlimlmError {
  readonly cudaError: string;

  constructor(message: string, cudaError: string) {
    super('UNSUPPORTED', message);
    this.name = 'CudaError';
    this.cudaError = cudaError;
  }
}

/**
 * A CUDA failure from the addon (an Error carrying `cudaError`) as a CudaError that says what was
 * being done; any other error is returned unchanged.
 */
export function fromNative(error: unknown, doing: string): unknown {
  const cudaError = (error as { cudaError?: unknown } | null)?.cudaError;
  if (typeof cudaError !== 'string') return error;
  return new CudaError(`${doing}: ${(error as Error).message}`, cudaError);
}

/** Runs `fn`, turning an addon failure into a CudaError that says what was being done. */
export function guard<T>(doing: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw fromNative(error, doing);
  }
}
