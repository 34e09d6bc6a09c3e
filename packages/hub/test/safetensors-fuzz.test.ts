import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openSafetensors, type SafetensorsDType, saveSafetensors } from '../src/index';
import { headerOf, rawFile, STORIES_FILE, tempFolder } from './fixtures/safetensors-files';

const tmp = tempFolder('slimlm-st-fuzz-', true);
afterAll(tmp.cleanup);
const target = join(tmp.dir, 'case.safetensors');

const SIZES: Record<SafetensorsDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

function expectSlimlmError(error: unknown, codes: string[]): void {
  if (!(error instanceof SlimlmError)) throw error;
  expect(codes, error.message).toContain(error.code);
  expect(error.message).toContain(target);
}

/**
 * Opens `bytes` as a file and checks the outcome: INVALID_FILE naming the file, or a reader
 * whose every tensor is consistent with its header, reads, and fits in the file.
 */
function checkOutcome(
  bytes: Uint8Array,
  reads = Number.POSITIVE_INFINITY,
): 'accepted' | 'rejected' {
  writeFileSync(target, bytes);
  let file: ReturnType<typeof openSafetensors>;
  try {
    file = openSafetensors(target);
  } catch (error) {
    expectSlimlmError(error, ['INVALID_FILE']);
    return 'rejected';
  }
  try {
    let total = 0;
    let left = reads;
    const names = file.names();
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) {
      let info: ReturnType<typeof file.info>;
      try {
        info = file.info(name);
      } catch (error) {
        expectSlimlmError(error, ['UNSUPPORTED']);
        continue;
      }
      const elements = info.shape.reduce((a, b) => a * b, 1);
      expect(info.byteLength).toBe(elements * SIZES[info.dtype]);
      total += info.byteLength;
      expect(file.readBytes(name).byteLength).toBe(info.byteLength);
      if (left-- <= 0) continue;
      try {
        const t = file.read(name);
        expect(t.shape).toEqual(info.shape);
        t.dispose();
      } catch (error) {
        // Only an I64 value outside i32 may refuse to read.
        expect(info.dtype).toBe('I64');
        expectSlimlmError(error, ['UNSUPPORTED']);
      }
    }
    expect(total).toBeLessThanOrEqual(bytes.byteLength);
    return 'accepted';
  } finally {
    file.close();
  }
}

/** The 8-byte header length of `bytes`, or 0 when it does not fit. */
function headerLength(bytes: Uint8Array): number {
  if (bytes.byteLength < 8) return 0;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return Math.min(n, bytes.byteLength - 8);
}

function withHeader(bytes: Uint8Array, json: string, keepLength: boolean): Uint8Array {
  if (bytes.byteLength < 8) return bytes;
  const old = headerLength(bytes);
  const text = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + text.length + bytes.byteLength - 8 - old);
  out.set(bytes.subarray(0, 8));
  if (!keepLength) new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes.subarray(8 + old), 8 + text.length);
  return out;
}

type Mutation = (bytes: Uint8Array) => Uint8Array;

/** A value a hostile header might put in a field. */
const hostileValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('F8_E4M3', 'F8_E5M2', 'U16', 'I64', 'BOOL', 'F16', 'f32', '', '__metadata__'),
  fc.array(fc.oneof(fc.nat(64), fc.integer(), fc.constantFrom(2 ** 53, 2 ** 60, -1, 0.5, 1e308)), {
    maxLength: 5,
  }),
  fc.tuple(fc.nat(1 << 20), fc.nat(1 << 20)),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // Flip bits, mostly in and around the header.
  fc
    .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 }), fc.boolean()), {
      minLength: 1,
      maxLength: 6,
    })
    .map((flips) => (bytes: Uint8Array) => {
      const out = bytes.slice();
      const near = 8 + headerLength(bytes) + 64;
      for (const [pos, bit, anywhere] of flips) {
        const i = pos % (anywhere ? out.length : Math.min(near, out.length));
        out[i]! ^= 1 << bit;
      }
      return out;
    }),
  // Truncate or extend.
  fc.nat().map((cut) => (bytes: Uint8Array) => bytes.subarray(0, cut % (bytes.length + 1))),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => (bytes: Uint8Array) => {
    const out = new Uint8Array(bytes.length + tail.length);
    out.set(bytes);
    out.set(tail, bytes.length);
    return out;
  }),
  // Rewrite the header length.
  fc
    .oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: -16n, max: 16n }))
    .map((delta) => (bytes: Uint8Array) => {
      const out = bytes.slice();
      if (out.length < 8) return out;
      const view = new DataView(out.buffer);
      const value = delta >= -16n && delta <= 16n ? view.getBigUint64(0, true) + delta : delta;
      view.setBigUint64(0, BigInt.asUintN(64, value), true);
      return out;
    }),
  // Insert or delete bytes inside the header, keeping or fixing its length.
  fc
    .tuple(fc.nat(), fc.string({ maxLength: 8 }), fc.nat(8), fc.boolean())
    .map(([pos, insert, remove, fix]) => (bytes: Uint8Array) => {
      const n = headerLength(bytes);
      const text = Buffer.from(bytes.subarray(8, 8 + n)).toString('latin1');
      const at = pos % (text.length + 1);
      const edited = text.slice(0, at) + insert + text.slice(at + remove);
      return withHeader(bytes, Buffer.from(edited, 'latin1').toString('utf8'), !fix);
    }),
  // Rewrite one field of one entry, or the whole entry, with a hostile value.
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom('dtype', 'shape', 'data_offsets', '*', 'rename'),
      hostileValue,
      fc.boolean(),
    )
    .map(([pick, field, value, keepLength]) => (bytes: Uint8Array) => {
      let header: Record<string, unknown>;
      try {
        header = headerOf(bytes);
      } catch {
        return bytes;
      }
      if (typeof header !== 'object' || header === null) return bytes;
      const keys = Object.keys(header);
      if (keys.length === 0) return bytes;
      const key = keys[pick % keys.length]!;
      const entry = header[key];
      if (field === '*') header[key] = value;
      else if (field === 'rename') {
        const text = JSON.stringify(header);
        const other = keys[(pick + 1) % keys.length]!;
        // A second key of an existing name: JSON.parse would keep only one of them.
        return withHeader(
          bytes,
          text.replace(JSON.stringify(key), JSON.stringify(other)),
          keepLength,
        );
      } else if (typeof entry === 'object' && entry !== null) {
        (entry as Record<string, unknown>)[field] = value;
      }
      return withHeader(bytes, JSON.stringify(header), keepLength);
    }),
);

const stories = new Uint8Array(readFileSync(STORIES_FILE));

describe('fuzzing the reader', () => {
  it('the real stories260K file is accepted whole', () => {
    expect(checkOutcome(stories)).toBe('accepted');
  });

  it('mutations of stories260K fail cleanly or read consistently', () => {
    const outcomes = { accepted: 0, rejected: 0 };
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
        const bytes = mutations.reduce<Uint8Array>((b, m) => m(b), stories);
        outcomes[checkOutcome(bytes, 2)]++;
      }),
      { numRuns: 1000, seed: 260 },
    );
    expect(outcomes.rejected).toBeGreaterThan(300);
    expect(outcomes.accepted).toBeGreaterThan(50);
  });

  const dtypes = Object.keys(SIZES) as SafetensorsDType[];
  const smallFile = fc
    .uniqueArray(
      fc.record({
        name: fc.oneof(
          fc.string({ maxLength: 6 }),
          fc.constantFrom('a', 'b', '"', '\\', '__proto__', 'é', '🙂'),
        ),
        dtype: fc.constantFrom(...dtypes),
        shape: fc.array(fc.nat(3), { maxLength: 3 }),
        seed: fc.nat(255),
      }),
      { selector: (t) => t.name, maxLength: 5 },
    )
    .filter((tensors) => tensors.every((t) => t.name !== '__metadata__'));

  it('small generated files round-trip, and their mutations fail cleanly', () => {
    const outcomes = { accepted: 0, rejected: 0 };
    let cases = 0;
    fc.assert(
      fc.property(
        smallFile,
        fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        (tensors, metadata, mutations) => {
          const data = tensors.map((t) => {
            const n = t.shape.reduce((a, b) => a * b, 1) * SIZES[t.dtype];
            // Small byte values keep I64 within i32 and BOOL within {0, 1}.
            return Uint8Array.from({ length: n }, (_, i) =>
              t.dtype === 'I64' || t.dtype === 'BOOL'
                ? i % 8 === 0
                  ? (t.seed + i) & 1
                  : 0
                : (t.seed + i * 31) & 255,
            );
          });
          // The writer fsyncs, which is slow on some disks: it writes one case in eight, the
          // rest are laid out here the same way (contiguous, in the given order).
          if (++cases % 8 === 0) {
            saveSafetensors(
              target,
              tensors.map((t, i) => ({ ...t, data: () => data[i]! })),
              { metadata },
            );
          } else {
            const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...metadata } };
            let offset = 0;
            tensors.forEach((t, i) => {
              const end = offset + data[i]!.length;
              Object.defineProperty(header, t.name, {
                value: { dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] },
                enumerable: true,
              });
              offset = end;
            });
            writeFileSync(target, rawFile(header, Buffer.concat(data)));
          }
          const original = new Uint8Array(readFileSync(target));
          {
            using file = openSafetensors(target);
            expect(file.metadata).toEqual({ format: 'pt', ...metadata });
            expect(file.names().sort()).toEqual(tensors.map((t) => t.name).sort());
            tensors.forEach((t, i) => {
              expect(file.info(t.name).shape).toEqual(t.shape);
              expect(Buffer.from(file.readBytes(t.name)).equals(Buffer.from(data[i]!))).toBe(true);
              file.read(t.name).dispose();
            });
          }
          const bytes = mutations.reduce<Uint8Array>((b, m) => m(b), original);
          outcomes[checkOutcome(bytes)]++;
        },
      ),
      { numRuns: 3000, seed: 4 },
    );
    expect(outcomes.rejected).toBeGreaterThan(1000);
    expect(outcomes.accepted).toBeGreaterThan(100);
  });
});
