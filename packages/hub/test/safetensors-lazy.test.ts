import * as fs from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openCheckpoint, openSafetensors, saveCheckpoint } from '../src/index';
import { STORIES_FILE, tempFolder, WIKILLAMA_FILE } from './fixtures/safetensors-files';

// Every byte the reader takes from a file goes through fs.readSync: count them.
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  return { ...actual, readSync: vi.fn(actual.readSync), readFileSync: vi.fn(actual.readFileSync) };
});

const readSync = vi.mocked(fs.readSync);
const bytesRead = () =>
  readSync.mock.calls.reduce((sum, call) => sum + (((call as unknown[])[3] as number) ?? 0), 0);

afterEach(() => {
  readSync.mockClear();
});

describe('reading is lazy', () => {
  it('reads the header once and then only the bytes of the tensors asked for', () => {
    const whole = fs.statSync(WIKILLAMA_FILE).size;
    readSync.mockClear();
    using file = openSafetensors(WIKILLAMA_FILE);
    const headerLength = 6104;
    expect(bytesRead()).toBe(8 + headerLength);
    const t = file.read('model.layers.3.self_attn.o_proj.weight');
    expect(bytesRead()).toBe(8 + headerLength + 256 * 256 * 2);
    expect(bytesRead()).toBeLessThan(whole / 10);
    file.info('lm_head.weight');
    file.names();
    expect(bytesRead()).toBe(8 + headerLength + 256 * 256 * 2);
    t.dispose();
    expect(vi.mocked(fs.readFileSync)).not.toHaveBeenCalledWith(WIKILLAMA_FILE, expect.anything());
  });

  it('opens a shard only when one of its tensors is asked for', () => {
    const tmp = tempFolder();
    try {
      const tensors = (() => {
        using f = openSafetensors(STORIES_FILE);
        return f.names().map((n) => [n, f.read(n)] as const);
      })();
      saveCheckpoint(tmp.dir, tensors, { maxShardSize: '100KB' });
      readSync.mockClear();
      using ckpt = openCheckpoint(tmp.dir);
      expect(readSync).not.toHaveBeenCalled();
      const norm = ckpt.read('model.norm.weight');
      const shardFile = ckpt.info('model.norm.weight').file;
      const files = new Set(readSync.mock.calls.map((c) => c[0]));
      expect(files.size).toBe(1);
      expect(bytesRead()).toBeLessThan(fs.statSync(shardFile).size);
      norm.dispose();
      for (const [, t] of tensors) t.dispose();
    } finally {
      tmp.cleanup();
    }
  });
});
