import { SlimlmError } from '@slimlm/core';
import { DTYPE_TRAITS, isSafetensorsDType, UNSUPPORTED_DTYPE_BITS } from './dtypes';
import type { SafetensorsDType } from './types';

/**
 * The most header bytes a file may claim: the limit of the reference implementation, so a
 * hostile length cannot make us allocate more than this before anything is checked.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor of a validated header. `dtype` is undefined for types slimlm does not read. */
export interface HeaderEntry {
  name: string;
  dtype: SafetensorsDType | undefined;
  /** The header's dtype string, as written. */
  rawDType: string;
  shape: readonly number[];
  /** Byte offsets relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface ParsedHeader {
  metadata: Record<string, string>;
  /** In header order. */
  entries: HeaderEntry[];
}

function invalid(file: string, problem: string): SlimlmError {
  return new SlimlmError('INVALID_FILE', `safetensors file ${file}: ${problem}`);
}

/**
 * The keys of the top-level object of `text`, in order, duplicates included: JSON.parse keeps
 * only the last of equal keys, which would hide a second tensor of the same name. `text` must
 * already be known to parse as a JSON object.
 */
export function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i++;
      while (text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
      i++;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(start, i)) as string);
        expectKey = false;
      }
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2c && depth === 1) {
      expectKey = true;
    }
    i++;
  }
  return keys;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function parseMetadata(file: string, value: unknown): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (value === null) return metadata;
  if (!isPlainObject(value)) {
    throw invalid(file, `__metadata__ must be an object of strings, got ${JSON.stringify(value)}`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw invalid(
        file,
        `__metadata__ must map strings to strings, but "${key}" is ${JSON.stringify(v)}`,
      );
    }
    // defineProperty: a key named __proto__ must stay data, not replace the prototype.
    Object.defineProperty(metadata, key, { value: v, enumerable: true, writable: true });
  }
  return metadata;
}

function parseEntry(file: string, name: string, value: unknown, dataBytes: number): HeaderEntry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(value)) {
    throw invalid(file, `${where} must be an object with dtype, shape and data_offsets`);
  }
  const rawDType = value.dtype;
  if (typeof rawDType !== 'string') throw invalid(file, `${where} has no dtype string`);
  let bits: number;
  let dtype: SafetensorsDType | undefined;
  if (isSafetensorsDType(rawDType)) {
    dtype = rawDType;
    bits = DTYPE_TRAITS[rawDType].size * 8;
  } else if (Object.hasOwn(UNSUPPORTED_DTYPE_BITS, rawDType)) {
    bits = UNSUPPORTED_DTYPE_BITS[rawDType]!;
  } else {
    throw invalid(file, `${where} has unknown dtype ${JSON.stringify(rawDType)}`);
  }

  const shape = value.shape;
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw invalid(
      file,
      `${where} has shape ${JSON.stringify(shape)}: expected a list of non-negative integers`,
    );
  }
  const offsets = value.data_offsets;
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !isCount(offsets[0]) ||
    !isCount(offsets[1]) ||
    offsets[0] > offsets[1]
  ) {
    throw invalid(
      file,
      `${where} has data_offsets ${JSON.stringify(offsets)}: expected [begin, end] with 0 <= begin <= end`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataBytes) {
    throw invalid(
      file,
      `${where} has data_offsets [${begin}, ${end}] past the end of the data section (${dataBytes} bytes): the file is truncated or the header is wrong`,
    );
  }
  // Compared against the data section before anything is allocated, so a shape with an absurd
  // product is rejected here; the product saturates instead of losing precision.
  let elements = 1;
  for (const d of shape as number[]) elements = Math.min(elements * d, Number.MAX_SAFE_INTEGER);
  if (shape.includes(0)) elements = 0;
  const expectedBits = elements * bits;
  if (!Number.isSafeInteger(expectedBits) || expectedBits !== (end - begin) * 8) {
    throw invalid(
      file,
      `${where} (${rawDType} ${JSON.stringify(shape)}) needs ${expectedBits / 8} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype, rawDType, shape: shape as number[], begin, end };
}

/**
 * Parses and validates the JSON header of a safetensors file whose data section holds
 * `dataBytes` bytes: every tensor's dtype, shape and offsets, no two tensors sharing a name or
 * a byte (gaps are allowed). Throws INVALID_FILE naming `file` and the problem.
 */
export function parseHeader(
  file: string,
  headerBytes: Uint8Array,
  dataBytes: number,
): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw invalid(file, 'the header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw invalid(file, `the header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(json)) throw invalid(file, 'the header is not a JSON object');

  const names = topLevelKeys(text);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw invalid(file, `the header names ${JSON.stringify(name)} twice`);
    seen.add(name);
  }

  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const name of names) {
    const value = json[name];
    if (name === '__metadata__') metadata = parseMetadata(file, value);
    else entries.push(parseEntry(file, name, value, dataBytes));
  }

  const byOffset = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.begin < prev.end) {
      throw invalid(
        file,
        `tensors ${JSON.stringify(prev.name)} [${prev.begin}, ${prev.end}] and ${JSON.stringify(cur.name)} [${cur.begin}, ${cur.end}] overlap`,
      );
    }
  }
  return { metadata, entries };
}
