import type { DType } from '@slimlm/core';
import type { SafetensorsDType } from './types';

interface DTypeTraits {
  /** Bytes per element. */
  size: number;
  /** The core dtype a tensor of this type is read as by default. */
  core: DType;
  /**
   * Position in the safetensors crate's `Dtype` enum, which lists types by increasing alignment:
   * writers sort tensors by it (descending), then by name, so our files match Python's layout.
   */
  rank: number;
}

export const DTYPE_TRAITS: Readonly<Record<SafetensorsDType, DTypeTraits>> = {
  BOOL: { size: 1, core: 'u8', rank: 0 },
  U8: { size: 1, core: 'u8', rank: 4 },
  I8: { size: 1, core: 'i8', rank: 5 },
  I16: { size: 2, core: 'i32', rank: 9 },
  F16: { size: 2, core: 'f16', rank: 11 },
  BF16: { size: 2, core: 'bf16', rank: 12 },
  I32: { size: 4, core: 'i32', rank: 13 },
  F32: { size: 4, core: 'f32', rank: 15 },
  F64: { size: 8, core: 'f64', rank: 16 },
  I64: { size: 8, core: 'i32', rank: 17 },
};

/**
 * Types the format defines that slimlm does not read, with their width in bits: a header may
 * name them (the file is valid and its other tensors readable), reading one is UNSUPPORTED.
 */
export const UNSUPPORTED_DTYPE_BITS: Readonly<Record<string, number>> = {
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  U16: 16,
  U32: 32,
  U64: 64,
  C64: 64,
};

export function isSafetensorsDType(value: string): value is SafetensorsDType {
  return Object.hasOwn(DTYPE_TRAITS, value);
}

/** The safetensors type a core tensor of `dtype` is stored as when nothing else is asked. */
export const STORED_DTYPE: Readonly<Record<DType, SafetensorsDType>> = {
  f64: 'F64',
  f32: 'F32',
  f16: 'F16',
  bf16: 'BF16',
  i32: 'I32',
  i8: 'I8',
  u8: 'U8',
};

export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses each `size`-byte element in place: safetensors data is little-endian. */
export function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}
