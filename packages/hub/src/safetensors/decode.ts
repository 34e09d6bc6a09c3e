import { type DType, SlimlmError, type StorageArray } from '@slimlm/core';
import { DTYPE_TRAITS, HOST_LITTLE_ENDIAN, swapBytes } from './dtypes';
import type { SafetensorsDType } from './types';

/**
 * The storage array of one tensor from its little-endian bytes (`bytes` must start at offset 0
 * of its own buffer, which it then shares). F16/BF16 stay raw bits, BOOL becomes u8, I16 and
 * I64 become i32 (I64 failing if a value does not fit), or f64/f32 when `target` asks for it.
 */
export function decodeStorage(
  bytes: Uint8Array,
  dtype: SafetensorsDType,
  target: DType | undefined,
  where: () => string,
): { array: StorageArray; dtype: DType } {
  if (!HOST_LITTLE_ENDIAN) swapBytes(bytes, DTYPE_TRAITS[dtype].size);
  const buffer = bytes.buffer;
  const n = bytes.byteLength / DTYPE_TRAITS[dtype].size;
  switch (dtype) {
    case 'F64':
      return { array: new Float64Array(buffer, 0, n), dtype: 'f64' };
    case 'F32':
      return { array: new Float32Array(buffer, 0, n), dtype: 'f32' };
    case 'F16':
      return { array: new Uint16Array(buffer, 0, n), dtype: 'f16' };
    case 'BF16':
      return { array: new Uint16Array(buffer, 0, n), dtype: 'bf16' };
    case 'I32':
      return { array: new Int32Array(buffer, 0, n), dtype: 'i32' };
    case 'I16':
      return { array: Int32Array.from(new Int16Array(buffer, 0, n)), dtype: 'i32' };
    case 'I8':
      return { array: new Int8Array(buffer, 0, n), dtype: 'i8' };
    case 'U8':
    case 'BOOL':
      return { array: bytes, dtype: 'u8' };
    case 'I64':
      return decodeI64(new BigInt64Array(buffer, 0, n), target, where);
  }
}

function decodeI64(
  values: BigInt64Array,
  target: DType | undefined,
  where: () => string,
): { array: StorageArray; dtype: DType } {
  if (target === 'f64' || target === 'f32') {
    const out =
      target === 'f64' ? new Float64Array(values.length) : new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = Number(values[i]!);
    return { array: out, dtype: target };
  }
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < -2147483648n || v > 2147483647n) {
      throw new SlimlmError(
        'UNSUPPORTED',
        `${where()}: I64 value ${v} at index ${i} does not fit in i32 (read it with dtype f64 or f32 instead)`,
      );
    }
    out[i] = Number(v);
  }
  return { array: out, dtype: 'i32' };
}
