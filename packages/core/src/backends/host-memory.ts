import type { Backend } from '../backend';
import { allocateStorageArray, DTYPES, type DType, type StorageArray } from '../dtype';

/**
 * A backend whose storage is host memory in typed arrays (f16/bf16 as raw Uint16Array bits): the
 * reference backend's, and the one a native CPU addon or a WASM backend can read in place. Only
 * the name, and optionally the dtypes, differ between them.
 */
export class HostMemoryBackend implements Backend {
  readonly stridedInputs = true;

  constructor(
    readonly name: string,
    readonly dtypes: readonly DType[] = DTYPES,
  ) {}

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
