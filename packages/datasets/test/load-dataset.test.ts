import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { rejection } from '../../hub/test/helpers/errors';
import { loadDataset, resolveDatasetFiles, streamDataset } from '../src/index';
import { ALPACA, scratchFolder } from './helpers/fixtures';
import {
  C4_DOCUMENTS,
  c4Shard,
  textParquet,
  useLocalHub,
  WIKITEXT_RAW,
  wikitextRows,
} from './helpers/hub';

const scratch = scratchFolder('load-dataset');
const jsonl = (records: readonly object[]) => records.map((r) => JSON.stringify(r)).join('\n');

describe('a local folder', () => {
  const folder = join(scratch, 'local');
  mkdirSync(join(folder, 'validation'), { recursive: true });
  writeFileSync(join(folder, 'train-00000-of-00002.jsonl'), jsonl(ALPACA.slice(0, 30)));
  writeFileSync(join(folder, 'train-00001-of-00002.jsonl'), jsonl(ALPACA.slice(30, 50)));
  writeFileSync(join(folder, 'test.jsonl'), jsonl(ALPACA.slice(50, 60)));
  writeFileSync(join(folder, 'validation', '0000.parquet'), textParquet(['a', 'b']));
  writeFileSync(join(folder, 'README.md'), '# not data\n');

  it('reads the split the file names say, shards in order', async () => {
    expect(await loadDataset(folder)).toEqual(ALPACA.slice(0, 50));
    expect(await loadDataset(folder, { split: 'test' })).toEqual(ALPACA.slice(50, 60));
    expect(await loadDataset(folder, { split: 'validation' })).toEqual([
      { text: 'a' },
      { text: 'b' },
    ]);
    expect(await loadDataset(folder, { dataFiles: ['README.md'] })).toEqual([
      { text: '# not data' },
    ]);
  });

  it('stops at the limit across files, and reads a single file as itself', async () => {
    expect(await loadDataset(folder, { limit: 35 })).toEqual(ALPACA.slice(0, 35));
    const file = join(folder, 'test.jsonl');
    expect(await resolveDatasetFiles(file)).toEqual({ files: [file], origin: file });
    const first: unknown[] = [];
    for await (const record of streamDataset(folder)) {
      first.push(record);
      if (first.length === 3) break;
    }
    expect(first).toEqual(ALPACA.slice(0, 3));
  });

  it('says which files it looked for', async () => {
    const error = await rejection(loadDataset(folder, { split: 'dev' }));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toMatch(/\[data\/\]dev-\*, dev\.\* or dev\/\*/);
    expect(error.message).toMatch(/split, config .* or dataFiles/);
    const missing = await rejection(loadDataset(join(scratch, 'nothing/here.json')));
    expect(missing.message).toMatch(/no such file or folder, and not a Hub dataset id/);
  });
});

describe('a Hub dataset', () => {
  const testRows = wikitextRows(WIKITEXT_RAW);
  const hub = useLocalHub({
    'Salesforce/wikitext': {
      'README.md': Buffer.from('---\nlicense: cc-by-sa-3.0\n---\n'),
      'wikitext-2-raw-v1/test-00000-of-00001.parquet': textParquet(testRows),
      'wikitext-2-raw-v1/train-00000-of-00001.parquet': textParquet(testRows.slice(0, 500)),
      'wikitext-2-v1/test-00000-of-00001.parquet': textParquet(['<unk> tokenized']),
    },
    'allenai/c4': {
      'en/c4-train.00000-of-01024.json.gz': c4Shard(C4_DOCUMENTS),
      'en/c4-train.00001-of-01024.json.gz': c4Shard(['another shard']),
    },
  });

  it('downloads only the split and config asked for, into the datasets-- cache', async () => {
    const onProgress = vi.fn();
    const records = await loadDataset('wikitext', {
      config: 'wikitext-2-raw-v1',
      split: 'test',
      onProgress,
    });
    expect(records.map((r) => r.text)).toEqual(testRows);
    expect(records[1]).toEqual({ text: ' = Robert Boulter = \n' });
    const snapshots = join(hub.home(), 'hub', 'datasets--Salesforce--wikitext', 'snapshots');
    const [commit] = readdirSync(snapshots);
    expect(readdirSync(join(snapshots, commit!), { recursive: true }).sort()).toEqual([
      'wikitext-2-raw-v1',
      'wikitext-2-raw-v1/test-00000-of-00001.parquet',
    ]);
    expect(onProgress).toHaveBeenLastCalledWith(
      expect.objectContaining({
        file: 'wikitext-2-raw-v1/test-00000-of-00001.parquet',
        filesDone: 1,
      }),
    );
  });

  it('reads data files named exactly, as optimum names C4 shards', async () => {
    const records = await loadDataset('allenai/c4', {
      dataFiles: ['en/c4-train.00000-of-01024.json.gz'],
      limit: 3,
    });
    expect(records.map((r) => r.text)).toEqual(C4_DOCUMENTS.slice(0, 3));
    expect(records[0]).toMatchObject({ url: 'https://example.com/0' });
  });

  it('works offline from the cache, and says when the cache lacks it', async () => {
    await loadDataset('Salesforce/wikitext', { config: 'wikitext-2-raw-v1', split: 'train' });
    const requests = hub.server().requests.length;
    const offline = await loadDataset('Salesforce/wikitext', {
      config: 'wikitext-2-raw-v1',
      split: 'train',
      offline: true,
    });
    expect(offline).toHaveLength(500);
    expect(hub.server().requests.length).toBe(requests);
    const error = await rejection(loadDataset('allenai/c4', { offline: true }));
    expect(error.code).toBe('NETWORK');
    expect(error.message).toMatch(/Offline mode/);
  });

  it('asks for a config when the split lies in config folders', async () => {
    const error = await rejection(loadDataset('Salesforce/wikitext', { split: 'test' }));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toMatch(/Hub dataset Salesforce\/wikitext@main has no/);
    expect(existsSync(join(hub.home(), 'hub', 'datasets--Salesforce--wikitext'))).toBe(true);
  });
});
