import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { cast, SlimlmError, type Tensor, tensor } from '@slimlm/core';
import { decodeStorage } from './decode';
import { DTYPE_TRAITS } from './dtypes';
import { type HeaderEntry, MAX_HEADER_BYTES, parseHeader } from './header';
import type { ReadTensorOptions, TensorInfo, TensorSource } from './types';

function invalid(file: string, problem: string): SlimlmError {
  return new SlimlmError('INVALID_FILE', `safetensors file ${file}: ${problem}`);
}

/** Fills `into` from `position`, failing as a truncated file if the file ends first. */
function readFully(fd: number, file: string, into: Uint8Array, position: number): void {
  let done = 0;
  while (done < into.byteLength) {
    const n = readSync(fd, into, done, into.byteLength - done, position + done);
    if (n === 0) {
      throw invalid(
        file,
        `the file ends after ${position + done} bytes, but ${position + into.byteLength} were expected (truncated?)`,
      );
    }
    done += n;
  }
}

/**
 * One safetensors file, read lazily: the header is read and validated when it opens, and each
 * tensor's bytes are read by offset when asked for. Holds a file descriptor until `close()`.
 */
export class SafetensorsFile implements TensorSource {
  readonly location: string;
  readonly metadata: Readonly<Record<string, string>>;
  private fd: number | null;
  private readonly entries = new Map<string, HeaderEntry>();
  private readonly dataStart: number;

  constructor(path: string) {
    this.location = resolve(path);
    const file = this.location;
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new SlimlmError('NOT_FOUND', `safetensors file ${file} does not exist`);
      }
      throw error;
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw invalid(file, 'not a regular file');
      const size = stat.size;
      if (size < 8) throw invalid(file, `${size} bytes is too short for the 8-byte header length`);
      const prefix = new Uint8Array(8);
      readFully(fd, file, prefix, 0);
      const view = new DataView(prefix.buffer);
      const low = view.getUint32(0, true);
      const high = view.getUint32(4, true);
      const headerBytes = high * 2 ** 32 + low;
      if (high !== 0 || headerBytes > MAX_HEADER_BYTES) {
        throw invalid(
          file,
          `the header length ${view.getBigUint64(0, true)} is over the ${MAX_HEADER_BYTES}-byte limit`,
        );
      }
      if (8 + headerBytes > size) {
        throw invalid(
          file,
          `the header length ${headerBytes} runs past the end of the ${size}-byte file`,
        );
      }
      const header = new Uint8Array(headerBytes);
      readFully(fd, file, header, 8);
      this.dataStart = 8 + headerBytes;
      const parsed = parseHeader(file, header, size - this.dataStart);
      this.metadata = Object.freeze(parsed.metadata);
      for (const entry of parsed.entries) this.entries.set(entry.name, entry);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    this.fd = fd;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): TensorInfo {
    const entry = this.entry(name);
    return {
      name,
      dtype: entry.dtype,
      shape: entry.shape,
      byteLength: entry.end - entry.begin,
      file: this.location,
    };
  }

  readBytes(name: string): Uint8Array {
    const entry = this.entry(name);
    const fd = this.openFd();
    const bytes = new Uint8Array(entry.end - entry.begin);
    readFully(fd, this.location, bytes, this.dataStart + entry.begin);
    return bytes;
  }

  read(name: string, options: ReadTensorOptions = {}): Tensor {
    const entry = this.entry(name);
    const where = () => `safetensors file ${this.location}: tensor ${JSON.stringify(name)}`;
    const decoded = decodeStorage(this.readBytes(name), entry.dtype, options.dtype, where);
    const create = { dtype: decoded.dtype, shape: [...entry.shape] };
    const t = tensor(
      decoded.array,
      options.backend === undefined ? create : { ...create, backend: options.backend },
    );
    if (options.dtype === undefined || options.dtype === t.dtype) return t;
    try {
      return cast(t, options.dtype);
    } finally {
      t.dispose();
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private openFd(): number {
    if (this.fd === null) {
      throw new SlimlmError('DISPOSED', `safetensors file ${this.location} was closed`);
    }
    return this.fd;
  }

  private entry(name: string): HeaderEntry & { dtype: NonNullable<HeaderEntry['dtype']> } {
    const entry = this.entries.get(name);
    if (entry === undefined) {
      throw new SlimlmError(
        'NOT_FOUND',
        `safetensors file ${this.location} has no tensor ${JSON.stringify(name)}`,
      );
    }
    if (entry.dtype === undefined) {
      throw new SlimlmError(
        'UNSUPPORTED',
        `safetensors file ${this.location}: tensor ${JSON.stringify(name)} has dtype ${entry.rawDType}, which slimlm does not read (supported: ${Object.keys(DTYPE_TRAITS).join(', ')})`,
      );
    }
    return entry as HeaderEntry & { dtype: NonNullable<HeaderEntry['dtype']> };
  }
}

/** Opens one safetensors file lazily (see SafetensorsFile). */
export function openSafetensors(path: string): TensorSource {
  return new SafetensorsFile(path);
}
