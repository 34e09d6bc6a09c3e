import {
  allocateStorageArray,
  type Backend,
  bytesPerElement,
  type DType,
  type StorageArray,
} from '@slimlm/core';
import { fromNative, guard } from './errors';
import type { Address, DeviceInfo, NativeAddon } from './native';

export const CUDA = 'cuda';

/**
 * The dtypes the backend stores. Floats compute in f32 with one rounding to f16/bf16; i32 and u8
 * serve indices, masks and integer elementwise ops. f64 and i8 are not stored on the GPU: f64
 * gradient checks run on the reference backend.
 */
export const CUDA_DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'i32', 'u8'];

/** A tensor's storage on the device: one block of the caching allocator. */
export interface DeviceBuffer {
  readonly address: Address;
  readonly bytes: number;
}

/**
 * A GPU backend ("cuda", or "rocm" from the same sources built for AMD): storage in device memory
 * (the addon's caching allocator, zero-filled), copies in the order of the device's one stream.
 * Kernels take strided inputs: each one reads the views it can and makes contiguous copies of
 * the rest itself (src/kernels/).
 */
export class CudaBackend implements Backend {
  readonly dtypes = CUDA_DTYPES;
  readonly stridedInputs = true;

  constructor(
    readonly name: string,
    private readonly addon: NativeAddon,
    readonly device: DeviceInfo,
  ) {}

  allocate(dtype: DType, length: number): DeviceBuffer {
    const bytes = length * bytesPerElement(dtype);
    const address = guard(`${this.name}: allocating ${length} ${dtype} (${bytes} bytes)`, () =>
      this.addon.allocate(bytes),
    );
    return { address, bytes };
  }

  free(handle: unknown): void {
    guard(`${this.name}: freeing a tensor`, () =>
      this.addon.free((handle as DeviceBuffer).address),
    );
  }

  write(handle: unknown, dtype: DType, data: StorageArray, offset: number): void {
    const at = (handle as DeviceBuffer).address + offset * bytesPerElement(dtype);
    guard(`${this.name}: copying ${data.length} ${dtype} to the device`, () =>
      this.addon.write(at, data),
    );
  }

  read(handle: unknown, dtype: DType, offset: number, length: number): StorageArray {
    const target = allocateStorageArray(dtype, length);
    const at = (handle as DeviceBuffer).address + offset * bytesPerElement(dtype);
    guard(`${this.name}: copying ${length} ${dtype} from the device`, () =>
      this.addon.read(at, target),
    );
    return target;
  }

  async readAsync(
    handle: unknown,
    dtype: DType,
    offset: number,
    length: number,
  ): Promise<StorageArray> {
    const target = allocateStorageArray(dtype, length);
    const at = (handle as DeviceBuffer).address + offset * bytesPerElement(dtype);
    try {
      await this.addon.readAsync(at, target);
    } catch (error) {
      throw fromNative(error, `${this.name}: copying ${length} ${dtype} from the device`);
    }
    return target;
  }

  /** Waits for queued work and gives cached memory back to the driver. */
  dispose(): void {
    guard(`${this.name}: releasing the backend`, () => this.addon.emptyCache());
  }
}
