import {
  allocateStorageArray,
  type Backend,
  DTYPES,
  type DType,
  type StorageArray,
} from '@slimlm/core';

export const CPU = 'cpu';

/**
 * Storage is host memory in the same typed arrays as the reference backend's, which the native
 * kernels read in place; that also lets an op without a native kernel run the reference kernel
 * on the same storage (see fallback.ts).
 */
export class CpuBackend implements Backend {
  readonly name = CPU;
  readonly dtypes = DTYPES;
  readonly stridedInputs = true;

  allocate(dtype: DType, length: number): StorageArray {
    return allocateStorageArray(dtype, length);
  }

  free(): void {
    // Typed arrays are reclaimed by the garbage collector once unreferenced.
  }

  write(handle: unknown, _dtype: DType, data: StorageArray, offset: number): void {
    (handle as StorageArray).set(data, offset);
  }

  read(handle: unknown, _dtype: DType, offset: number, length: number): StorageArray {
    return (handle as StorageArray).slice(offset, offset + length);
  }
}
