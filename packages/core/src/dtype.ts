/**
 * Element types. f64 is there for oracles and gradient checks (the reference backend has it; native
 * backends say in their capabilities whether they do); models use f32, f16 and bf16.
 */
export type DType = 'f64' | 'f32' | 'f16' | 'bf16' | 'i32' | 'i8' | 'u8';

export const DTYPES: readonly DType[] = ['f64', 'f32', 'f16', 'bf16', 'i32', 'i8', 'u8'];

/** The typed array a dtype is stored in: f16 and bf16 keep their raw 16-bit patterns. */
export type StorageArray =
  | Float64Array
  | Float32Array
  | Uint16Array
  | Int32Array
  | Int8Array
  | Uint8Array;

const BYTES: Record<DType, number> = { f64: 8, f32: 4, f16: 2, bf16: 2, i32: 4, i8: 1, u8: 1 };

export function bytesPerElement(dtype: DType): number {
  return BYTES[dtype];
}

export function isFloatDType(dtype: DType): boolean {
  return dtype === 'f64' || dtype === 'f32' || dtype === 'f16' || dtype === 'bf16';
}

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

export function allocateStorageArray(dtype: DType, length: number): StorageArray {
  switch (dtype) {
    case 'f64':
      return new Float64Array(length);
    case 'f32':
      return new Float32Array(length);
    case 'f16':
    case 'bf16':
      return new Uint16Array(length);
    case 'i32':
      return new Int32Array(length);
    case 'i8':
      return new Int8Array(length);
    case 'u8':
      return new Uint8Array(length);
  }
}

/** True when `array` is the storage typed array of `dtype` (Uint16Array for both half types). */
export function isStorageArrayOf(array: ArrayBufferView, dtype: DType): boolean {
  switch (dtype) {
    case 'f64':
      return array instanceof Float64Array;
    case 'f32':
      return array instanceof Float32Array;
    case 'f16':
    case 'bf16':
      return array instanceof Uint16Array;
    case 'i32':
      return array instanceof Int32Array;
    case 'i8':
      return array instanceof Int8Array;
    case 'u8':
      return array instanceof Uint8Array;
  }
}
