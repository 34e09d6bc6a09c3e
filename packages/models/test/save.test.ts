import '@slimlm/kernels-cpu';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint } from '@slimlm/hub';
import { afterEach, describe, expect, test } from 'vitest';
import { modelFromFolder } from '../src/load';
import { saveModel, stateDict } from '../src/save';
import { logitRows, maxAbsDiff, STORIES, WIKILLAMA } from './helpers';

const made: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slimlm-save-'));
  made.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('saveModel', () => {
  test('wikillama saved and loaded back computes identical logits, weights bit for bit', () => {
    using original = modelFromFolder(WIKILLAMA);
    const out = join(scratch(), 'copy');
    saveModel(original, out, { copyFiles: { from: WIKILLAMA, names: ['tokenizer.json'] } });
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.model_type).toBe('llama');
    expect(config.torch_dtype).toBe('float16');
    using source = openCheckpoint(out);
    using reference = openCheckpoint(WIKILLAMA);
    expect(source.names().sort()).toEqual(reference.names().sort());
    for (const name of reference.names()) {
      expect(
        Buffer.from(source.readBytes(name)).equals(Buffer.from(reference.readBytes(name))),
      ).toBe(true);
    }
    using reloaded = modelFromFolder(out);
    const ids = [1, 620, 358, 3574, 286];
    const a = logitRows(original, ids);
    const b = logitRows(reloaded, ids);
    for (const [t, row] of a.entries()) expect(maxAbsDiff(row, b[t]!)).toBe(0);
  });

  test('tied embeddings are saved once, as transformers does', () => {
    using model = modelFromFolder(STORIES);
    expect(stateDict(model).has('lm_head.weight')).toBe(false);
    const out = join(scratch(), 'stories');
    saveModel(model, out, { maxShardSize: 300_000 });
    expect(existsSync(join(out, 'model.safetensors.index.json'))).toBe(true);
    using reloaded = modelFromFolder(out);
    const a = logitRows(model, [1, 403, 407]);
    const b = logitRows(reloaded, [1, 403, 407]);
    for (const [t, row] of a.entries()) expect(maxAbsDiff(row, b[t]!)).toBe(0);
  });

  test('refuses to replace a folder unless asked, and a failed save leaves nothing behind', () => {
    using model = modelFromFolder(STORIES);
    const dir = scratch();
    const out = join(dir, 'model');
    saveModel(model, out);
    expect(() => saveModel(model, out)).toThrow(/already exists; pass overwrite: true/);
    saveModel(model, out, { overwrite: true, config: { note: 'second' } });
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).note).toBe('second');
    expect(() => saveModel(model, join(dir, 'bad'), { maxShardSize: 'lots' })).toThrow();
    expect(readdirSync(dir)).toEqual(['model']);
  });
});
