import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openSafetensors } from '../src/index';
import {
  REPO_ROOT,
  rawFile,
  STORIES_FILE,
  tempFolder,
  WIKILLAMA_FILE,
} from './fixtures/safetensors-files';
import { expectError } from './helpers/errors';

const tmp = tempFolder();
afterAll(tmp.cleanup);

function fileOf(bytes: Uint8Array): string {
  const path = tmp.fresh('case', '.safetensors');
  writeFileSync(path, bytes);
  return path;
}

const f32Tensor = (shape: number[], begin = 0) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'F32', shape, data_offsets: [begin, begin + 4 * n] };
};

describe('reading the real checkpoints', () => {
  it('stories260K: 47 f32 tensors, tied embeddings, values as stored', () => {
    using file = openSafetensors(STORIES_FILE);
    expect(file.location).toBe(STORIES_FILE);
    expect(file.metadata).toEqual({ format: 'pt' });
    const names = file.names();
    expect(names).toHaveLength(47);
    expect(names).not.toContain('lm_head.weight');
    for (const name of names) expect(file.info(name).dtype).toBe('F32');
    expect(file.info('model.embed_tokens.weight')).toEqual({
      name: 'model.embed_tokens.weight',
      dtype: 'F32',
      shape: [512, 64],
      byteLength: 512 * 64 * 4,
      file: STORIES_FILE,
    });
    expect(file.info('model.layers.0.mlp.down_proj.weight').shape).toEqual([64, 172]);

    // The bytes must be exactly the slice of the file the header points at.
    const whole = readFileSync(STORIES_FILE);
    const headerLength = Number(whole.readBigUInt64LE(0));
    const header = JSON.parse(whole.subarray(8, 8 + headerLength).toString());
    const [begin, end] = header['model.norm.weight'].data_offsets as [number, number];
    const expected = whole.subarray(8 + headerLength + begin, 8 + headerLength + end);
    expect(Buffer.from(file.readBytes('model.norm.weight')).equals(expected)).toBe(true);

    const norm = file.read('model.norm.weight');
    expect(norm.dtype).toBe('f32');
    expect(norm.shape).toEqual([64]);
    const floats = new Float32Array(
      expected.buffer.slice(expected.byteOffset, expected.byteOffset + expected.length),
    );
    expect(Array.from(norm.dataSync())).toEqual(Array.from(floats));
    norm.dispose();
  });

  it('wikillama-7m: 57 f16 tensors whose bytes hash to the reference', () => {
    const reference = JSON.parse(
      readFileSync(`${REPO_ROOT}fixtures/wikillama-7m-reference.json`, 'utf8'),
    );
    expect(createHash('sha256').update(readFileSync(WIKILLAMA_FILE)).digest('hex')).toBe(
      reference.model_safetensors_sha256,
    );
    using file = openSafetensors(WIKILLAMA_FILE);
    const names = file.names();
    expect(names).toHaveLength(57);
    let total = 0;
    for (const name of names) {
      const info = file.info(name);
      expect(info.dtype).toBe('F16');
      total += info.byteLength;
    }
    expect(total).toBe(reference.params * 2);
    expect(file.info('model.embed_tokens.weight').shape).toEqual([4096, 256]);
    expect(file.info('lm_head.weight').shape).toEqual([4096, 256]);
    expect(file.info('model.layers.0.self_attn.k_proj.weight').shape).toEqual([128, 256]);

    const w = file.read('model.layers.0.input_layernorm.weight');
    expect(w.dtype).toBe('f16');
    const bits = w.rawSync();
    expect(bits).toBeInstanceOf(Uint16Array);
    expect(
      Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength).equals(
        Buffer.from(file.readBytes('model.layers.0.input_layernorm.weight')),
      ),
    ).toBe(true);
    const up = file.read('model.layers.0.input_layernorm.weight', { dtype: 'f32' });
    expect(up.dtype).toBe('f32');
    expect(Array.from(up.dataSync())).toEqual(Array.from(w.dataSync()));
    w.dispose();
    up.dispose();
  });

  it('names a missing tensor and refuses reads after close', () => {
    const file = openSafetensors(STORIES_FILE);
    expect(file.has('model.norm.weight')).toBe(true);
    expect(file.has('nope')).toBe(false);
    expectError(() => file.info('nope'), 'NOT_FOUND', STORIES_FILE, /"nope"/);
    expectError(() => file.read('nope'), 'NOT_FOUND', STORIES_FILE);
    file.close();
    file.close();
    expectError(() => file.readBytes('model.norm.weight'), 'DISPOSED', STORIES_FILE);
  });

  it('NOT_FOUND for a missing file', () => {
    expectError(() => openSafetensors(`${tmp.dir}/absent.safetensors`), 'NOT_FOUND', /absent/);
  });
});

describe('dtypes', () => {
  const values = {
    F64: new Float64Array([1.5, -2.25, 1e300]),
    F32: new Float32Array([1.5, -2.25, 3.125]),
    I32: new Int32Array([1, -2, 2147483647]),
    I16: new Int16Array([1, -2, -32768]),
    I8: new Int8Array([1, -2, -128]),
    U8: new Uint8Array([1, 2, 255]),
    BOOL: new Uint8Array([1, 0, 1]),
    F16: new Uint16Array([0x3c00, 0xc000, 0x7c00]),
    BF16: new Uint16Array([0x3f80, 0xc000, 0x7f80]),
    I64: new BigInt64Array([1n, -2n, -2147483648n]),
  } as const;
  const expected: Record<string, { dtype: string; values: number[] }> = {
    F64: { dtype: 'f64', values: [1.5, -2.25, 1e300] },
    F32: { dtype: 'f32', values: [1.5, -2.25, 3.125] },
    I32: { dtype: 'i32', values: [1, -2, 2147483647] },
    I16: { dtype: 'i32', values: [1, -2, -32768] },
    I8: { dtype: 'i8', values: [1, -2, -128] },
    U8: { dtype: 'u8', values: [1, 2, 255] },
    BOOL: { dtype: 'u8', values: [1, 0, 1] },
    F16: { dtype: 'f16', values: [1, -2, Number.POSITIVE_INFINITY] },
    BF16: { dtype: 'bf16', values: [1, -2, Number.POSITIVE_INFINITY] },
    I64: { dtype: 'i32', values: [1, -2, -2147483648] },
  };

  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [dtype, array] of Object.entries(values)) {
    const bytes = new Uint8Array(array.buffer.slice(0));
    header[dtype.toLowerCase()] = {
      dtype,
      shape: [3],
      data_offsets: [offset, offset + bytes.length],
    };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const data = Buffer.concat(chunks);

  it.each(Object.keys(values))('reads %s as its natural core dtype', (dtype) => {
    using file = openSafetensors(fileOf(rawFile(header, data)));
    const t = file.read(dtype.toLowerCase());
    expect(t.dtype).toBe(expected[dtype]!.dtype);
    expect(Array.from(t.dataSync())).toEqual(expected[dtype]!.values);
    t.dispose();
  });

  it('converts on request and reads I64 beyond i32 as floats only', () => {
    const big = new BigInt64Array([2n ** 40n, -3n]);
    const path = fileOf(
      rawFile(
        { big: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } },
        new Uint8Array(big.buffer),
      ),
    );
    using file = openSafetensors(path);
    expectError(
      () => file.read('big'),
      'UNSUPPORTED',
      path,
      /"big"/,
      /2\^?1099511627776|1099511627776/,
    );
    const t = file.read('big', { dtype: 'f64' });
    expect(Array.from(t.dataSync())).toEqual([2 ** 40, -3]);
    t.dispose();

    using all = openSafetensors(fileOf(rawFile(header, data)));
    const h = all.read('f32', { dtype: 'f16' });
    expect(h.dtype).toBe('f16');
    expect(Array.from(h.dataSync())).toEqual([1.5, -2.25, 3.125]);
    const i = all.read('i8', { dtype: 'f32' });
    expect(Array.from(i.dataSync())).toEqual([1, -2, -128]);
    h.dispose();
    i.dispose();
  });

  it('lists but refuses F8 and other types slimlm does not read', () => {
    const path = fileOf(
      rawFile(
        {
          fp8: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] },
          e5: { dtype: 'F8_E5M2', shape: [2], data_offsets: [4, 6] },
          ok: { dtype: 'U8', shape: [2], data_offsets: [6, 8] },
        },
        8,
      ),
    );
    using file = openSafetensors(path);
    expect(file.names()).toEqual(['fp8', 'e5', 'ok']);
    expectError(() => file.read('fp8'), 'UNSUPPORTED', path, /"fp8"/, /F8_E4M3/);
    expectError(() => file.info('e5'), 'UNSUPPORTED', path, /"e5"/, /F8_E5M2/);
    expect(file.read('ok').shape).toEqual([2]);
  });

  it('reads 0-d and empty tensors, and allows gaps between tensors', () => {
    const path = fileOf(
      rawFile(
        {
          scalar: { dtype: 'F32', shape: [], data_offsets: [8, 12] },
          empty: { dtype: 'F32', shape: [0, 3], data_offsets: [12, 12] },
          after: { dtype: 'I8', shape: [2], data_offsets: [20, 22] },
        },
        new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x40, 9, 9, 9, 9, 9, 9, 9, 9, 5, 6]),
      ),
    );
    using file = openSafetensors(path);
    const s = file.read('scalar');
    expect(s.shape).toEqual([]);
    expect(s.item()).toBe(2.5);
    const e = file.read('empty');
    expect(e.shape).toEqual([0, 3]);
    expect(e.size).toBe(0);
    expect(Array.from(file.read('after').dataSync())).toEqual([5, 6]);
  });
});

describe('hostile files fail with INVALID_FILE naming the file', () => {
  const data16 = new Uint8Array(16);
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['shorter than 8 bytes', () => new Uint8Array(5), /too short/],
    ['an empty file', () => new Uint8Array(0), /too short/],
    ['a header length over the cap', () => rawFile({}, 0, 200_000_000n), /limit/],
    ['a header length of 2^63', () => rawFile({}, 0, 2n ** 63n), /limit/],
    ['a header length past the end', () => rawFile({}, 0, 1000n), /past the end/],
    ['a zero header length', () => rawFile('', 0), /JSON/],
    [
      'a header that is not UTF-8',
      () => rawFile(Buffer.from([0x7b, 0xff, 0x7d]).toString('latin1'), 0),
      /UTF-8|JSON/,
    ],
    ['a header that is not JSON', () => rawFile('{"a":', 0), /not valid JSON/],
    ['a header that is an array', () => rawFile('[]', 0), /not a JSON object/],
    ['a header that is null', () => rawFile('null', 0), /not a JSON object/],
    ['a header that is a string', () => rawFile('"x"', 0), /not a JSON object/],
    ['a tensor that is not an object', () => rawFile({ a: 3 }, 0), /"a" must be an object/],
    [
      'an unknown dtype',
      () => rawFile({ a: { dtype: 'F128', shape: [], data_offsets: [0, 16] } }, data16),
      /unknown dtype "F128"/,
    ],
    [
      'a missing dtype',
      () => rawFile({ a: { shape: [1], data_offsets: [0, 4] } }, data16),
      /no dtype/,
    ],
    [
      'a shape that is not a list',
      () => rawFile({ a: { dtype: 'F32', shape: 4, data_offsets: [0, 16] } }, data16),
      /shape 4/,
    ],
    [
      'a negative dimension',
      () => rawFile({ a: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, data16),
      /shape \[-4\]/,
    ],
    [
      'a fractional dimension',
      () => rawFile({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 6] } }, data16),
      /shape \[1.5\]/,
    ],
    [
      'a string dimension',
      () => rawFile({ a: { dtype: 'F32', shape: ['4'], data_offsets: [0, 16] } }, data16),
      /shape \["4"\]/,
    ],
    [
      'a dimension past 2^53',
      () => rawFile({ a: { dtype: 'U8', shape: [2 ** 60], data_offsets: [0, 16] } }, data16),
      /shape/,
    ],
    [
      'a shape whose product is astronomically large',
      () =>
        rawFile(
          {
            a: { dtype: 'F64', shape: [2 ** 26, 2 ** 26, 2 ** 26, 2 ** 26], data_offsets: [0, 16] },
          },
          data16,
        ),
      /needs .* bytes/,
    ],
    [
      'data_offsets that are not a pair',
      () => rawFile({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4, 8] } }, data16),
      /data_offsets/,
    ],
    [
      'data_offsets that are missing',
      () => rawFile({ a: { dtype: 'U8', shape: [4] } }, data16),
      /data_offsets/,
    ],
    [
      'negative data_offsets',
      () => rawFile({ a: { dtype: 'U8', shape: [0], data_offsets: [-1, -1] } }, data16),
      /data_offsets/,
    ],
    [
      'data_offsets that run backwards',
      () => rawFile({ a: { dtype: 'U8', shape: [4], data_offsets: [8, 4] } }, data16),
      /data_offsets/,
    ],
    [
      'fractional data_offsets',
      () => rawFile({ a: { dtype: 'U8', shape: [4], data_offsets: [0.5, 4.5] } }, data16),
      /data_offsets/,
    ],
    [
      'a byte count that does not match the shape',
      () =>
        rawFile(
          { a: f32Tensor([2, 2]), b: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } },
          32,
        ),
      /needs 12 bytes/,
    ],
    [
      'data_offsets past the data section',
      () => rawFile({ a: f32Tensor([8]) }, data16),
      /past the end of the data section/,
    ],
    [
      'overlapping tensors',
      () => rawFile({ a: f32Tensor([4]), b: f32Tensor([2], 8) }, data16),
      /overlap/,
    ],
    [
      'a duplicated tensor name',
      () =>
        rawFile(
          '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
          2,
        ),
      /"a" twice/,
    ],
    [
      'a duplicated escaped name',
      () =>
        rawFile(
          '{"\\u0061":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
          2,
        ),
      /"a" twice/,
    ],
    [
      'a duplicated __metadata__',
      () => rawFile('{"__metadata__":{},"__metadata__":{}}', 0),
      /__metadata__" twice/,
    ],
    [
      'truncated data',
      () => rawFile({ a: f32Tensor([4]) }, data16).subarray(0, -4),
      /past the end of the data section/,
    ],
    [
      '__metadata__ with a number',
      () => rawFile({ __metadata__: { format: 'pt', step: 3 } }, 0),
      /__metadata__ .*"step"/,
    ],
    ['__metadata__ that is a list', () => rawFile({ __metadata__: ['pt'] }, 0), /__metadata__/],
    ['__metadata__ that is a string', () => rawFile({ __metadata__: 'pt' }, 0), /__metadata__/],
  ];

  it.each(cases)('%s', (_, make, problem) => {
    const path = fileOf(make());
    expectError(() => openSafetensors(path), 'INVALID_FILE', path, problem);
  });

  it('keeps nested duplicate keys and __proto__ from confusing the header', () => {
    const path = fileOf(
      rawFile(
        '{"__metadata__":{"__proto__":"x","k":"v"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":{"y":1,"y":2}}}',
        1,
      ),
    );
    using file = openSafetensors(path);
    expect(file.names()).toEqual(['__proto__']);
    expect(Object.keys(file.metadata)).toEqual(['__proto__', 'k']);
    expect(Object.getPrototypeOf(file.metadata)).toBe(Object.prototype);
  });

  it('does not allocate for a huge shape and does not leak descriptors on failure', () => {
    const path = fileOf(
      rawFile(
        { a: { dtype: 'F64', shape: [2 ** 40, 2 ** 13], data_offsets: [0, 2 ** 53 - 1] } },
        16,
      ),
    );
    for (let i = 0; i < 2000; i++) expectError(() => openSafetensors(path), 'INVALID_FILE', path);
  });
});
