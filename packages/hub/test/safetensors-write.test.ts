import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { arange, reshape, SlimlmError, type Tensor, tensor } from '@slimlm/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  openCheckpoint,
  openSafetensors,
  parseSize,
  type SafetensorsEntry,
  saveCheckpoint,
  saveSafetensors,
} from '../src/index';
import { STORIES_FILE, tempFolder, WIKILLAMA_FILE } from './fixtures/safetensors-files';
import { expectError } from './helpers/errors';

const tmp = tempFolder();
afterAll(tmp.cleanup);

function bytesOf(t: Tensor): Buffer {
  const raw = t.rawSync();
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

describe('saveSafetensors', () => {
  it('writes the layout Python safetensors writes', () => {
    const path = `${tmp.fresh()}.safetensors`;
    saveSafetensors(path, [
      ['b', tensor(new Int8Array([1, 2, 3]))],
      ['a', tensor(new Float32Array([1, 2]))],
      ['c', tensor(new Float64Array([0.5]))],
      ['aa', tensor(new Float32Array([3]))],
    ]);
    const bytes = readFileSync(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    const text = bytes.subarray(8, 8 + headerLength).toString();
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},' +
        '"c":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
        '"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
        '"aa":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},' +
        '"b":{"dtype":"I8","shape":[3],"data_offsets":[20,23]}}',
    );
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    expect(bytes.length).toBe(8 + headerLength + 23);
  });

  it('round-trips every core dtype and odd shapes', () => {
    const path = `${tmp.fresh()}.safetensors`;
    const big = reshape(arange(300 * 257), [300, 257]);
    const tensors: [string, Tensor][] = [
      [
        'f64',
        tensor(
          [
            [1.5, -2],
            [3, 4e300],
          ],
          { dtype: 'f64' },
        ),
      ],
      ['f32', big],
      ['f16', tensor(new Uint16Array([0x3c00, 0x7e00, 0x8001]), { dtype: 'f16', shape: [3, 1] })],
      ['bf16', tensor(new Uint16Array([0x3f80, 0xff80]), { dtype: 'bf16' })],
      ['i32', tensor(new Int32Array([-(2 ** 31), 2 ** 31 - 1]))],
      ['i8', tensor(new Int8Array([-128, 127]))],
      ['u8', tensor(new Uint8Array([0, 255]))],
      ['scalar', tensor(new Float32Array([7]), { shape: [] })],
      ['empty', tensor(new Float32Array(0), { shape: [2, 0, 3] })],
    ];
    saveSafetensors(path, tensors, { metadata: { step: '12' } });
    using file = openSafetensors(path);
    expect(file.metadata).toEqual({ format: 'pt', step: '12' });
    expect(file.names().sort()).toEqual(tensors.map(([n]) => n).sort());
    for (const [name, t] of tensors) {
      const back = file.read(name);
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(bytesOf(back).equals(bytesOf(t))).toBe(true);
      back.dispose();
    }
  });

  it('stores I64, I16 and BOOL from integer tensors or raw bytes, and converts floats', () => {
    const path = `${tmp.fresh()}.safetensors`;
    const i64 = new BigInt64Array([2n ** 40n, -1n]);
    const entries: SafetensorsEntry[] = [
      { name: 'i64', dtype: 'I64', shape: [3], data: () => tensor(new Int32Array([-5, 0, 7])) },
      { name: 'i64raw', dtype: 'I64', shape: [2], data: () => new Uint8Array(i64.buffer) },
      { name: 'i16', dtype: 'I16', shape: [2], data: () => tensor(new Int32Array([-300, 300])) },
      { name: 'bool', dtype: 'BOOL', shape: [3], data: () => tensor(new Uint8Array([0, 2, 1])) },
      {
        name: 'half',
        dtype: 'F16',
        shape: [2],
        data: () => tensor([0.5, 3]),
        disposeData: true,
      },
    ];
    saveSafetensors(path, entries);
    using file = openSafetensors(path);
    expect(file.info('i64').dtype).toBe('I64');
    expect(Array.from(file.read('i64').dataSync())).toEqual([-5, 0, 7]);
    expect(Array.from(file.read('i64raw', { dtype: 'f64' }).dataSync())).toEqual([2 ** 40, -1]);
    expect(Array.from(file.read('i16').dataSync())).toEqual([-300, 300]);
    expect(Array.from(file.read('bool').dataSync())).toEqual([0, 1, 1]);
    expect(file.info('half').dtype).toBe('F16');
    expect(Array.from(file.read('half').dataSync())).toEqual([0.5, 3]);
    // The stored bytes are little-endian whatever the host.
    expect(Array.from(file.readBytes('i16'))).toEqual([0xd4, 0xfe, 0x2c, 0x01]);
  });

  it('rejects bad input before writing anything', () => {
    const path = `${tmp.fresh()}.safetensors`;
    const t = tensor([1, 2]);
    expectError(
      () =>
        saveSafetensors(path, [
          ['a', t],
          ['a', t],
        ]),
      'INVALID_ARGUMENT',
      /"a" is given twice/,
    );
    expectError(() => saveSafetensors(path, [['__metadata__', t]]), 'INVALID_ARGUMENT');
    expectError(
      () => saveSafetensors(path, [{ name: 'x', dtype: 'F8' as 'F32', shape: [1], data: () => t }]),
      'INVALID_ARGUMENT',
      /F8/,
    );
    expectError(
      () => saveSafetensors(path, [{ name: 'x', dtype: 'F32', shape: [-1], data: () => t }]),
      'INVALID_ARGUMENT',
    );
    expectError(
      () => saveSafetensors(path, [{ name: 'x', dtype: 'F32', shape: [3], data: () => t }]),
      'SHAPE_MISMATCH',
      /"x"/,
    );
    expectError(
      () =>
        saveSafetensors(path, [
          { name: 'x', dtype: 'F32', shape: [3], data: () => new Uint8Array(8) },
        ]),
      'INVALID_ARGUMENT',
      /needs 12 bytes/,
    );
    expectError(
      () => saveSafetensors(path, [['a', t]], { metadata: { n: 3 as unknown as string } }),
      'INVALID_ARGUMENT',
      /metadata "n"/,
    );
    expectError(
      () =>
        saveSafetensors(path, [
          { name: 'x', dtype: 'I16', shape: [1], data: () => tensor(new Int32Array([40000])) },
        ]),
      'INVALID_ARGUMENT',
      /40000/,
    );
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(existsSync(path)).toBe(false);
  });

  it('leaves neither the file nor a temporary one when a producer fails', () => {
    const path = `${tmp.fresh()}.safetensors`;
    writeFileSync(path, 'previous');
    let produced = 0;
    const entries: SafetensorsEntry[] = ['a', 'b', 'c'].map((name) => ({
      name,
      dtype: 'F32',
      shape: [2],
      data: () => {
        if (++produced === 2) throw new Error('producer failed');
        return tensor([1, 2]);
      },
    }));
    expect(() => saveSafetensors(path, entries)).toThrow('producer failed');
    expect(readFileSync(path, 'utf8')).toBe('previous');
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('produces tensors one at a time, in file order', () => {
    const path = `${tmp.fresh()}.safetensors`;
    const log: string[] = [];
    const entries: SafetensorsEntry[] = ['z', 'y', 'x'].map((name) => ({
      name,
      dtype: 'U8',
      shape: [1],
      data: () => {
        log.push(name);
        return new Uint8Array([name.charCodeAt(0)]);
      },
    }));
    saveSafetensors(path, entries);
    expect(log).toEqual(['x', 'y', 'z']);
  });
});

describe('checkpoints', () => {
  function stories(): [string, Tensor][] {
    using file = openSafetensors(STORIES_FILE);
    return file.names().map((n) => [n, file.read(n)]);
  }

  it('writes one model.safetensors under the shard size', () => {
    const dir = tmp.fresh('ckpt');
    const tensors = stories();
    expect(saveCheckpoint(dir, tensors)).toEqual(['model.safetensors']);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
    expect(readFileSync(join(dir, 'model.safetensors')).equals(readFileSync(STORIES_FILE))).toBe(
      true,
    );
    using ckpt = openCheckpoint(dir);
    expect(ckpt.location).toBe(join(dir, 'model.safetensors'));
    for (const t of tensors) t[1].dispose();
  });

  it('shards like transformers and reads them back through the index', () => {
    const dir = tmp.fresh('ckpt');
    const tensors = stories();
    const files = saveCheckpoint(dir, tensors, { maxShardSize: '200KB', metadata: { note: 'x' } });
    const shards = files.filter((f) => f !== 'model.safetensors.index.json');
    expect(shards.length).toBeGreaterThan(2);
    const pad = (n: number) => String(n).padStart(5, '0');
    for (const [i, f] of shards.entries()) {
      expect(f).toBe(`model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
    }
    expect(readdirSync(dir).sort()).toEqual([...files].sort());
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    const total = tensors.reduce((s, [, t]) => s + t.size * 4, 0);
    expect(index.metadata).toEqual({ total_size: total });
    expect(Object.keys(index.weight_map)).toEqual(tensors.map(([n]) => n).sort());
    // Each shard holds at most 200 kB unless a single tensor is larger.
    for (const shard of shards) {
      using file = openSafetensors(join(dir, shard));
      const bytes = file.names().reduce((s, n) => s + file.info(n).byteLength, 0);
      expect(bytes <= 200_000 || file.names().length === 1).toBe(true);
      expect(file.metadata).toEqual({ format: 'pt', note: 'x' });
    }

    const ckpt = openCheckpoint(dir);
    expect(ckpt.location).toBe(dir);
    expect(ckpt.names().sort()).toEqual(tensors.map(([n]) => n).sort());
    expect(ckpt.metadata).toEqual({ format: 'pt', note: 'x', total_size: String(total) });
    for (const [name, t] of tensors) {
      expect(ckpt.info(name).file).toBe(join(dir, index.weight_map[name]));
      const back = ckpt.read(name);
      expect(bytesOf(back).equals(bytesOf(t))).toBe(true);
      back.dispose();
      t.dispose();
    }
    expectError(() => ckpt.info('nope'), 'NOT_FOUND', dir, /"nope"/);
    ckpt.close();
    expectError(() => ckpt.readBytes(tensors[0]![0]), 'DISPOSED');
  });

  it('replaces an earlier save in an existing folder and keeps other files', () => {
    const dir = tmp.fresh('ckpt');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{}');
    const tensors: [string, Tensor][] = Array.from({ length: 5 }, (_, i) => [
      `w${i}`,
      tensor(new Float32Array(10).fill(i)),
    ]);
    saveCheckpoint(dir, tensors, { maxShardSize: 100 });
    expect(readdirSync(dir).sort()).toEqual([
      'config.json',
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    saveCheckpoint(dir, tensors.slice(0, 2));
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    saveCheckpoint(dir, tensors, { maxShardSize: 120 });
    expect(readdirSync(dir).sort()).toEqual([
      'config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
    ]);
    using ckpt = openCheckpoint(dir);
    expect(Array.from(ckpt.read('w4').dataSync())).toEqual(new Array(10).fill(4));
  });

  it('leaves no checkpoint and no temporary folder when a producer fails', () => {
    const parent = tmp.fresh('atomic');
    mkdirSync(parent);
    const entries = (failAt: number): SafetensorsEntry[] =>
      Array.from({ length: 4 }, (_, i) => ({
        name: `t${i}`,
        dtype: 'F32',
        shape: [8],
        data: () => {
          if (i === failAt) throw new SlimlmError('INVALID_ARGUMENT', 'no data');
          return tensor(new Float32Array(8));
        },
      }));
    const dir = join(parent, 'model');
    expect(() => saveCheckpoint(dir, entries(3), { maxShardSize: 64 })).toThrow('no data');
    expect(readdirSync(parent)).toEqual([]);
    saveCheckpoint(dir, entries(-1));
    const before = readFileSync(join(dir, 'model.safetensors'));
    expect(() => saveCheckpoint(dir, entries(1), { maxShardSize: 64 })).toThrow('no data');
    expect(readdirSync(parent)).toEqual(['model']);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
    expect(readFileSync(join(dir, 'model.safetensors')).equals(before)).toBe(true);
  });

  it('parses shard sizes as transformers does', () => {
    expect(parseSize('5GB')).toBe(5e9);
    expect(parseSize('500MB')).toBe(5e8);
    expect(parseSize('2GiB')).toBe(2 * 2 ** 30);
    expect(parseSize('10KiB')).toBe(10240);
    expect(parseSize('5Gb')).toBe(625e6);
    expect(parseSize('123')).toBe(123);
    expect(parseSize(4096)).toBe(4096);
    for (const bad of ['', 'GB', '-5GB', '5XB', '0', 0, 1.5, Number.NaN]) {
      expectError(() => parseSize(bad as string), 'INVALID_ARGUMENT', /maxShardSize/);
    }
  });
});

describe('openCheckpoint', () => {
  it('opens model.safetensors, else the index, else the only *.safetensors', () => {
    const dir = tmp.fresh('open');
    mkdirSync(dir);
    expectError(() => openCheckpoint(dir), 'NOT_FOUND', dir, /model\.safetensors/, /index\.json/);
    expectError(() => openCheckpoint(join(dir, 'missing')), 'NOT_FOUND', /missing/);
    writeFileSync(join(dir, 'gptq_model-4bit-128g.safetensors'), readFileSync(WIKILLAMA_FILE));
    using gptq = openCheckpoint(dir);
    expect(gptq.location).toBe(join(dir, 'gptq_model-4bit-128g.safetensors'));
    expect(gptq.names()).toHaveLength(57);
    writeFileSync(join(dir, 'other.safetensors'), readFileSync(WIKILLAMA_FILE));
    expectError(() => openCheckpoint(dir), 'NOT_FOUND', /2 \*\.safetensors files/);
  });

  it('validates the index against its shards', () => {
    const dir = tmp.fresh('index');
    const t = tensor([1, 2, 3]);
    saveCheckpoint(
      dir,
      [
        ['a', t],
        ['b', t],
        ['c', t],
      ],
      { maxShardSize: 12 },
    );
    const indexPath = join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8'));
    const write = (value: unknown) =>
      writeFileSync(indexPath, typeof value === 'string' ? value : JSON.stringify(value));

    write({ ...index, weight_map: { ...index.weight_map, d: 'model-00001-of-00003.safetensors' } });
    using lying = openCheckpoint(dir);
    expect(lying.read('b').shape).toEqual([3]);
    expectError(() => lying.read('d'), 'INVALID_FILE', indexPath, /"d"/);
    expectError(() => lying.read('a'), 'INVALID_FILE', indexPath, /"d"/);

    write({ ...index, weight_map: { ...index.weight_map, d: 'model-00009-of-00009.safetensors' } });
    expectError(() => openCheckpoint(dir), 'NOT_FOUND', indexPath, /00009/);
    write({ ...index, weight_map: { a: '../escape.safetensors' } });
    expectError(() => openCheckpoint(dir), 'INVALID_FILE', indexPath, /outside/);
    write({ ...index, weight_map: { a: 3 } });
    expectError(() => openCheckpoint(dir), 'INVALID_FILE', indexPath, /"a"/);
    write({ metadata: {} });
    expectError(() => openCheckpoint(dir), 'INVALID_FILE', indexPath, /weight_map/);
    write('{"weight_map":');
    expectError(() => openCheckpoint(dir), 'INVALID_FILE', indexPath, /JSON/);
    write({ ...index, metadata: 'x' });
    expectError(() => openCheckpoint(dir), 'INVALID_FILE', indexPath, /metadata/);

    write(index);
    renameSync(join(dir, 'model-00002-of-00003.safetensors'), join(dir, 'gone'));
    expectError(() => openCheckpoint(dir), 'NOT_FOUND', /model-00002-of-00003/);
  });
});
