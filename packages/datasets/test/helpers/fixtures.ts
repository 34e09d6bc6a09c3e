import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const FIXTURES = join(ROOT, 'fixtures');
export const DATASETS = join(FIXTURES, 'datasets');
export const WIKILLAMA = join(ROOT, 'packages/models/assets/wikillama-7m');

// A type, not an interface, so that it is a DataRecord (which has an index signature).
export type AlpacaRecord = {
  instruction: string;
  input: string;
  output: string;
};

/** The 100 real Alpaca rows every format fixture holds, parsed by JSON.parse itself. */
export const ALPACA: AlpacaRecord[] = JSON.parse(
  readFileSync(join(DATASETS, 'alpaca-100.json'), 'utf8'),
);

/** A temporary folder removed after the file's tests. */
export function scratchFolder(prefix: string): string {
  const folder = mkdtempSync(join(tmpdir(), `slimlm-${prefix}-`));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));
  return folder;
}
