import type { Backend, DType, Tensor } from '@slimlm/core';

/** The dtype names of the safetensors header that slimlm reads and writes. */
export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U8'
  | 'BOOL';

/** One tensor's header entry. */
export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  /** Bytes of its data (elements × element size). */
  byteLength: number;
  /** The file that holds it (absolute path). */
  file: string;
}

export interface ReadTensorOptions {
  /**
   * The core dtype to produce. Default: the stored dtype's natural one (F16 → f16, BF16 → bf16,
   * BOOL → u8; I64 and I16 → i32, failing clearly if a value does not fit).
   */
  dtype?: DType;
  /** Default: the active backend. */
  backend?: string | Backend;
}

/**
 * Named tensors read one at a time, by offset, on demand: one safetensors file or a sharded
 * checkpoint. Never reads a whole file into memory.
 */
export interface TensorSource extends Disposable {
  /** Where the tensors come from (a file, or the folder of a sharded checkpoint), for messages. */
  readonly location: string;
  /** The header's `__metadata__` (merged across shards). */
  readonly metadata: Readonly<Record<string, string>>;
  names(): string[];
  has(name: string): boolean;
  /** Throws NOT_FOUND naming the location and tensor. */
  info(name: string): TensorInfo;
  /** The raw little-endian bytes of one tensor (a fresh buffer of exactly byteLength bytes). */
  readBytes(name: string): Uint8Array;
  /** One tensor as a core Tensor. */
  read(name: string, options?: ReadTensorOptions): Tensor;
  close(): void;
}
