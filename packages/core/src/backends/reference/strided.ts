import type { DType, StorageArray } from '../../dtype';
import { fromBf16Bits, fromF16Bits, toBf16Bits, toF16Bits } from '../../half';
import type { Tensor } from '../../tensor';

/** The typed array behind a reference tensor. */
export function storageOf(t: Tensor): StorageArray {
  return t.storage.handle as StorageArray;
}

/** Storage positions of `t`'s elements in row-major order (handles any strides, stride 0 too). */
export function positions(t: Tensor): Int32Array {
  const out = new Int32Array(t.size);
  if (t.size === 0) return out;
  const rank = t.rank;
  const index = new Array<number>(rank).fill(0);
  let position = t.offset;
  for (let i = 0; i < t.size; i++) {
    out[i] = position;
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis]!++;
      position += t.strides[axis]!;
      if (index[axis]! < t.shape[axis]!) break;
      position -= t.strides[axis]! * t.shape[axis]!;
      index[axis] = 0;
    }
  }
  return out;
}

function decoder(dtype: DType): (raw: number) => number {
  if (dtype === 'f16') return fromF16Bits;
  if (dtype === 'bf16') return fromBf16Bits;
  return (raw) => raw;
}

function encoder(dtype: DType): (value: number) => number {
  if (dtype === 'f16') return toF16Bits;
  if (dtype === 'bf16') return toBf16Bits;
  // Typed-array stores round to f32, or truncate and wrap for integers, as C casts do.
  return (value) => value;
}

/** `t`'s elements as f64 values in row-major order. */
export function readValues(t: Tensor): Float64Array {
  const data = storageOf(t);
  const decode = decoder(t.dtype);
  const out = new Float64Array(t.size);
  if (t.isContiguous) {
    for (let i = 0; i < t.size; i++) out[i] = decode(data[t.offset + i]!);
  } else {
    const at = positions(t);
    for (let i = 0; i < t.size; i++) out[i] = decode(data[at[i]!]!);
  }
  return out;
}

/** Writes row-major `values` into `t` (any strides), rounding to its dtype. */
export function writeValues(t: Tensor, values: ArrayLike<number>): void {
  const data = storageOf(t);
  const encode = encoder(t.dtype);
  if (t.isContiguous) {
    for (let i = 0; i < t.size; i++) data[t.offset + i] = encode(values[i]!);
  } else {
    const at = positions(t);
    for (let i = 0; i < t.size; i++) data[at[i]!] = encode(values[i]!);
  }
}
