import { type Backend, registerBackend } from '../../backend';
import { allocateStorageArray, DTYPES, type DType, type StorageArray } from '../../dtype';

export const REFERENCE = 'reference';

/**
 * The pure-TypeScript backend: typed arrays as storage, every kernel written for clarity and
 * exactness (f64 arithmetic, strided inputs). It runs anywhere, browsers included, and is the
 * oracle every faster backend is tested against.
 */
class ReferenceBackend implements Backend {
  readonly name = REFERENCE;
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

registerBackend(REFERENCE, () => new ReferenceBackend(), { priority: 0 });
