import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { cast, SlimlmError, Tensor } from '@slimlm/core';
import {
  DTYPE_TRAITS,
  HOST_LITTLE_ENDIAN,
  isSafetensorsDType,
  STORED_DTYPE,
  swapBytes,
} from './dtypes';
import type { SafetensorsDType } from './types';

/**
 * One tensor to write. Its data is asked for only when its turn comes, so a checkpoint can be
 * written one tensor at a time.
 */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  /**
   * The tensor's data: its little-endian bytes (exactly elements × element size), or a core
   * Tensor of this shape (converted to `dtype` when its own dtype differs).
   */
  data: () => Uint8Array | Tensor;
  /** Dispose the Tensor that `data` returns once it is written. Default false. */
  disposeData?: boolean;
}

/** Tensors to save: entries, or `[name, tensor]` pairs (stored in the tensor's own dtype). */
export type SafetensorsInput = Iterable<SafetensorsEntry | readonly [string, Tensor]>;

export interface SaveSafetensorsOptions {
  /** The header's `__metadata__`. `format: "pt"` is added unless given (transformers wants it). */
  metadata?: Record<string, string>;
}

/** An entry with its byte count, checked. */
export interface PlannedEntry extends SafetensorsEntry {
  byteLength: number;
}

function invalidArgument(message: string): SlimlmError {
  return new SlimlmError('INVALID_ARGUMENT', message);
}

/** Checks names, dtypes and shapes, and turns `[name, tensor]` pairs into entries. */
export function planEntries(input: SafetensorsInput, what: string): PlannedEntry[] {
  const seen = new Set<string>();
  const planned: PlannedEntry[] = [];
  for (const item of input) {
    const entry: SafetensorsEntry = Array.isArray(item)
      ? tensorEntry(item[0] as string, item[1] as Tensor)
      : (item as SafetensorsEntry);
    const name = entry.name;
    if (typeof name !== 'string' || name === '__metadata__') {
      throw invalidArgument(`${what}: ${JSON.stringify(name)} cannot be a tensor name`);
    }
    if (seen.has(name))
      throw invalidArgument(`${what}: tensor ${JSON.stringify(name)} is given twice`);
    seen.add(name);
    if (typeof entry.dtype !== 'string' || !isSafetensorsDType(entry.dtype)) {
      throw invalidArgument(
        `${what}: tensor ${JSON.stringify(name)} has dtype ${JSON.stringify(entry.dtype)} (expected one of ${Object.keys(DTYPE_TRAITS).join(', ')})`,
      );
    }
    let elements = 1;
    for (const d of entry.shape) {
      if (!Number.isSafeInteger(d) || d < 0) {
        throw invalidArgument(
          `${what}: tensor ${JSON.stringify(name)} has shape ${JSON.stringify(entry.shape)}`,
        );
      }
      elements *= d;
    }
    const byteLength = elements * DTYPE_TRAITS[entry.dtype].size;
    if (!Number.isSafeInteger(byteLength)) {
      throw invalidArgument(`${what}: tensor ${JSON.stringify(name)} is too large`);
    }
    planned.push({ ...entry, shape: [...entry.shape], byteLength });
  }
  return planned;
}

function tensorEntry(name: string, t: Tensor): SafetensorsEntry {
  if (!(t instanceof Tensor)) {
    throw invalidArgument(`saving tensor ${JSON.stringify(name)}: the value is not a Tensor`);
  }
  return { name, dtype: STORED_DTYPE[t.dtype], shape: t.shape, data: () => t };
}

/** Python's safetensors layout: descending dtype alignment, then name (by UTF-8 bytes). */
function fileOrder(entries: readonly PlannedEntry[]): PlannedEntry[] {
  return [...entries].sort(
    (a, b) =>
      DTYPE_TRAITS[b.dtype].rank - DTYPE_TRAITS[a.dtype].rank ||
      Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8')),
  );
}

function checkMetadata(metadata: Record<string, string> | undefined, what: string) {
  const out: [string, string][] = [['format', 'pt']];
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (typeof value !== 'string') {
      throw invalidArgument(`${what}: metadata ${JSON.stringify(key)} must be a string`);
    }
    if (key === 'format') out[0] = [key, value];
    else out.push([key, value]);
  }
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The 8-byte length and the JSON header, padded with spaces to a multiple of 8 bytes. */
function encodeHeader(order: readonly PlannedEntry[], metadata: [string, string][]): Uint8Array {
  const parts: string[] = [];
  if (metadata.length > 0) {
    const fields = metadata.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    parts.push(`"__metadata__":{${fields.join(',')}}`);
  }
  let offset = 0;
  for (const e of order) {
    const end = offset + e.byteLength;
    parts.push(
      `${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":[${e.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}

/**
 * Hands `write` a tensor's data as the little-endian bytes of `entry.dtype`. The bytes may be the
 * tensor's own storage, so they are used before any tensor is disposed.
 */
function withTensorBytes(
  t: Tensor,
  entry: PlannedEntry,
  what: string,
  write: (bytes: Uint8Array) => void,
): void {
  const where = `${what}: tensor ${JSON.stringify(entry.name)}`;
  if (t.shape.length !== entry.shape.length || t.shape.some((d, i) => d !== entry.shape[i])) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${where} has shape [${t.shape.join(', ')}], expected [${entry.shape.join(', ')}]`,
    );
  }
  const core = DTYPE_TRAITS[entry.dtype].core;
  const converted = t.dtype === core ? t : cast(t, core);
  try {
    let raw: ArrayBufferView = converted.rawSync();
    const values = raw as Int32Array | Uint8Array;
    if (entry.dtype === 'I64') {
      const out = new BigInt64Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]!);
      raw = out;
    } else if (entry.dtype === 'I16') {
      const out = new Int16Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (v < -32768 || v > 32767) {
          throw invalidArgument(`${where}: value ${v} at index ${i} does not fit in I16`);
        }
        out[i] = v;
      }
      raw = out;
    } else if (entry.dtype === 'BOOL') {
      raw = Uint8Array.from(values, (v) => (v === 0 ? 0 : 1));
    }
    let bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    if (!HOST_LITTLE_ENDIAN) {
      bytes = bytes.slice();
      swapBytes(bytes, DTYPE_TRAITS[entry.dtype].size);
    }
    write(bytes);
  } finally {
    if (converted !== t) converted.dispose();
  }
}

function writeEntry(fd: number, entry: PlannedEntry, what: string): void {
  const data = entry.data();
  if (data instanceof Tensor) {
    try {
      withTensorBytes(data, entry, what, (bytes) => writeAll(fd, bytes));
    } finally {
      if (entry.disposeData) data.dispose();
    }
    return;
  }
  if (!(data instanceof Uint8Array) || data.byteLength !== entry.byteLength) {
    throw invalidArgument(
      `${what}: tensor ${JSON.stringify(entry.name)} (${entry.dtype} [${entry.shape.join(', ')}]) needs ${entry.byteLength} bytes, its data gave ${data instanceof Uint8Array ? data.byteLength : 'no Uint8Array'}`,
    );
  }
  writeAll(fd, data);
}

/** Writes one complete safetensors file at `path`, which must not exist, and fsyncs it. */
export function writeSafetensorsFile(
  path: string,
  entries: readonly PlannedEntry[],
  metadata: Record<string, string> | undefined,
  what: string,
): void {
  const meta = checkMetadata(metadata, what);
  const order = fileOrder(entries);
  const fd = openSync(path, 'wx');
  try {
    writeAll(fd, encodeHeader(order, meta));
    for (const entry of order) writeEntry(fd, entry, what);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A name beside `path` that no other writer uses. */
export function temporaryPath(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/**
 * Writes a safetensors file that Python's `safetensors` loads, one tensor at a time: the header,
 * then each tensor's data as it is produced. The file appears at `path` only once complete (it
 * is written beside it, fsynced, then renamed), so a failure leaves no partial file.
 */
export function saveSafetensors(
  path: string,
  entries: SafetensorsInput,
  options: SaveSafetensorsOptions = {},
): void {
  const what = `saving ${path}`;
  const planned = planEntries(entries, what);
  const tmp = temporaryPath(path);
  try {
    writeSafetensorsFile(tmp, planned, options.metadata, what);
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}
