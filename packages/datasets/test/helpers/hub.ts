import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, afterEach, beforeAll, beforeEach, vi } from 'vitest';
import { type HubServer, startHubServer, stubHubEnv } from '../../../hub/test/helpers/hub-server';
import { FIXTURES, scratchFolder } from './fixtures';

/**
 * WikiText-2 test as the Hub's Salesforce/wikitext parquet holds it: one row per line of the raw
 * file with its "\n", whitespace-only lines stored as "" (as the dataset's builder wrote them).
 */
export function wikitextRows(raw: string): string[] {
  return (raw.match(/[^\n]*\n|[^\n]+$/g) ?? []).map((line) => (line.trim() === '' ? '' : line));
}

export const WIKITEXT_RAW = readFileSync(join(FIXTURES, 'wikitext-2-raw/wiki.test.raw'), 'utf8');

/** The C4 sample's 118 documents (one per line). */
export const C4_DOCUMENTS = readFileSync(join(FIXTURES, 'c4/c4-sample.utf8'), 'utf8')
  .split('\n')
  .filter((line) => line !== '');

/** A one-column parquet file of strings, as the Hub's datasets store text. */
export function textParquet(rows: readonly string[]): Buffer {
  const bytes = parquetWriteBuffer({
    columnData: [{ name: 'text', data: [...rows], type: 'STRING' }],
  });
  return Buffer.from(bytes);
}

/** An allenai/c4-style shard: JSON Lines of {text, timestamp, url}, gzipped. */
export function c4Shard(documents: readonly string[]): Buffer {
  const lines = documents.map((text, i) =>
    JSON.stringify({ text, timestamp: '2019-04-25T12:57:54Z', url: `https://example.com/${i}` }),
  );
  return gzipSync(`${lines.join('\n')}\n`);
}

/**
 * A local Hub serving the datasets these tests pull, each test with a fresh, empty HF_HOME
 * (`home()`), the hub clients pointed at the server.
 */
export function useLocalHub(datasets: Record<string, Record<string, Buffer>>) {
  const scratch = scratchFolder('hub');
  let hub: HubServer;
  let home = '';
  let count = 0;
  beforeAll(async () => {
    hub = await startHubServer();
    for (const [id, files] of Object.entries(datasets)) hub.addRepo(`datasets/${id}`, files);
  });
  afterAll(() => hub.close());
  beforeEach(() => {
    home = join(scratch, `home-${count++}`);
    stubHubEnv(home, hub.url);
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  return {
    server: () => hub,
    home: () => home,
  };
}
