import { type Backend, type DType, SlimlmError, type StorageArray } from '@slimlm/core';

export const EXAMPLE = 'example';

/** Floats for activations and weights, i32 for indices, u8 for masks: nothing more. */
const DTYPES: readonly DType[] = ['f32', 'i32', 'u8'];

/** The storage handle of this backend: a typed array per allocation. */
export type ExampleStorage = Float32Array | Int32Array | Uint8Array;

/**
 * A backend that keeps tensors in plain typed arrays and whose kernels read them with simple
 * contiguous loops. It declares `stridedInputs: false`, so core hands its kernels contiguous
 * inputs; only its `copy` kernel ever sees a strided view.
 */
export class ExampleBackend implements Backend {
  readonly name = EXAMPLE;
  readonly dtypes = DTYPES;
  readonly stridedInputs = false;

  allocate(dtype: DType, length: number): ExampleStorage {
    switch (dtype) {
      case 'f32':
        return new Float32Array(length);
      case 'i32':
        return new Int32Array(length);
      case 'u8':
        return new Uint8Array(length);
      default:
        // Core checks `dtypes` before allocating; this guards direct calls.
        throw new SlimlmError('UNSUPPORTED_DTYPE', `backend '${EXAMPLE}' cannot store ${dtype}`);
    }
  }

  free(): void {
    // Typed arrays go to the garbage collector once the last tensor on them is disposed.
  }

  write(handle: unknown, _dtype: DType, data: StorageArray, offset: number): void {
    (handle as ExampleStorage).set(data, offset);
  }

  read(handle: unknown, _dtype: DType, offset: number, length: number): StorageArray {
    return (handle as ExampleStorage).slice(offset, offset + length);
  }
}
