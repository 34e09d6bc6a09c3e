import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer, type Tokenizer } from '@slimlm/hub';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectError, rejection } from '../../hub/test/helpers/errors';
import { calibrationWindows, documentWindows, loadCalibrationText } from '../src/index';
import { ALPACA, DATASETS, FIXTURES, scratchFolder, WIKILLAMA } from './helpers/fixtures';
import {
  C4_DOCUMENTS,
  c4Shard,
  textParquet,
  useLocalHub,
  WIKITEXT_RAW,
  wikitextRows,
} from './helpers/hub';

const scratch = scratchFolder('calibration');

describe('calibrationWindows', () => {
  const ids = Array.from({ length: 1000 }, (_, i) => i);

  it("'first' cuts consecutive windows from the start, with no BOS added", () => {
    const windows = calibrationWindows(ids, 3, 100, 'first');
    expect(windows).toEqual([ids.slice(0, 100), ids.slice(100, 200), ids.slice(200, 300)]);
    expect(() => calibrationWindows(ids, 11, 100, 'first')).toThrow(/10 windows/);
  });

  it("'random' draws seeded windows inside the text", () => {
    const a = calibrationWindows(ids, 16, 100, 'random', 3);
    expect(calibrationWindows(ids, 16, 100, 'random', 3)).toEqual(a);
    expect(calibrationWindows(ids, 16, 100, 'random', 4)).not.toEqual(a);
    for (const w of a) {
      expect(w).toHaveLength(100);
      expect(w[0]!).toBeLessThanOrEqual(899);
      expect(w[99]! - w[0]!).toBe(99);
    }
    expect(() => calibrationWindows(ids.slice(0, 100), 1, 100, 'random')).toThrow(/more than 100/);
  });
});

describe('loadCalibrationText from a local file', () => {
  it('reads a plain text file whole', async () => {
    const path = join(FIXTURES, 'c4/c4-sample.utf8');
    const text = readFileSync(path, 'utf8');
    expect(await loadCalibrationText(path)).toEqual({ text, documents: [text], source: path });
  });

  it('joins the text fields of structured files with blank lines', async () => {
    const shard = join(scratch, 'shard.json.gz');
    writeFileSync(shard, c4Shard(C4_DOCUMENTS.slice(0, 5)));
    const calibration = await loadCalibrationText(shard);
    expect(calibration.documents).toEqual(C4_DOCUMENTS.slice(0, 5));
    expect(calibration.text).toBe(C4_DOCUMENTS.slice(0, 5).join('\n\n'));

    const alpaca = join(DATASETS, 'alpaca-100.parquet');
    const outputs = await loadCalibrationText(alpaca, { field: 'output', maxChars: 1000 });
    let chars = 0;
    const expected = ALPACA.map((r) => r.output).filter((output) => {
      const keep = chars < 1000;
      chars += output.length;
      return keep;
    });
    expect(outputs.documents).toEqual(expected);
    await expect(loadCalibrationText(alpaca)).rejects.toThrow(
      /no "text" field \(it has: instruction, input, output\)/,
    );
  });

  it('names what it cannot find', async () => {
    const error = await rejection(loadCalibrationText('wikitext3'));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toMatch(/not a calibration set name \(wikitext2, c4\)/);
    const empty = join(scratch, 'empty.jsonl');
    writeFileSync(empty, '\n');
    expect((await rejection(loadCalibrationText(empty))).message).toMatch(/holds no records/);
  });
});

describe('loadCalibrationText of the named sets', () => {
  const testRows = wikitextRows(WIKITEXT_RAW);
  const trainRows = testRows.slice(0, 800);
  useLocalHub({
    'Salesforce/wikitext': {
      'wikitext-2-raw-v1/train-00000-of-00001.parquet': textParquet(trainRows),
      'wikitext-2-raw-v1/test-00000-of-00001.parquet': textParquet(testRows),
    },
    'allenai/c4': {
      'en/c4-train.00000-of-01024.json.gz': c4Shard(C4_DOCUMENTS),
      'en/c4-validation.00000-of-00008.json.gz': c4Shard(C4_DOCUMENTS.slice(100)),
    },
  });

  it('wikitext2 joins the rows as optimum does, which gives back the raw file', async () => {
    const test = await loadCalibrationText('wikitext2', { split: 'validation' });
    expect(test.text).toBe(WIKITEXT_RAW);
    expect(test.source).toBe('Salesforce/wikitext/wikitext-2-raw-v1/test-00000-of-00001.parquet');
    const train = await loadCalibrationText('wikitext2');
    expect(train.documents).toEqual(trainRows);
    expect(train.text).toBe(trainRows.map((row) => (row === '' ? ' \n' : row)).join(''));
  });

  it('c4 streams whole documents of the train shard up to maxChars, joined by spaces', async () => {
    const all = await loadCalibrationText('c4');
    expect(all.documents).toEqual(C4_DOCUMENTS);
    expect(all.text).toBe(C4_DOCUMENTS.join(' '));
    expect(all.source).toBe('allenai/c4/en/c4-train.00000-of-01024.json.gz (first 118 documents)');

    // The documents are 11,978, 2,080 and 2,205 characters long: 15,000 is crossed by the third,
    // which is kept whole.
    expect(C4_DOCUMENTS.slice(0, 3).map((d) => d.length)).toEqual([11_978, 2_080, 2_205]);
    const few = await loadCalibrationText('c4', { maxChars: 15_000 });
    expect(few.documents).toEqual(C4_DOCUMENTS.slice(0, 3));
    expect(few.source).toMatch(/\(first 3 documents\)$/);

    const validation = await loadCalibrationText('c4', { split: 'validation' });
    expect(validation.documents).toEqual(C4_DOCUMENTS.slice(100));
  });

  it('offline without the files in the cache, says to give a local file', async () => {
    const error = await rejection(loadCalibrationText('c4', { offline: true }));
    expect(error.code).toBe('NETWORK');
    expect(error.message).toMatch(/give a local text file instead of "c4"/);
    expect(error.message).toMatch(/fixtures\/c4\/c4-sample\.utf8/);
  });
});

describe('documentWindows', () => {
  let tokenizer: Tokenizer;
  let encoded: number[][];
  beforeAll(async () => {
    tokenizer = await loadTokenizer(WIKILLAMA);
    encoded = C4_DOCUMENTS.map((d) => tokenizer.encode(d));
  });

  /** Where a window lies: the document and offset whose ids it repeats. */
  function locate(window: readonly number[]): { doc: number; start: number } | undefined {
    for (const [doc, ids] of encoded.entries()) {
      for (let start = 0; start + window.length <= ids.length; start++) {
        if (window.every((id, k) => ids[start + k] === id)) return { doc, start };
      }
    }
    return undefined;
  }

  it('cuts each window from one document longer than seqlen, as optimum draws C4 windows', () => {
    const seqlen = 512;
    const windows = documentWindows(C4_DOCUMENTS, tokenizer, { nsamples: 12, seqlen, seed: 3 });
    expect(windows).toHaveLength(12);
    for (const window of windows) {
      expect(window).toHaveLength(seqlen);
      const where = locate(window);
      expect(where).toBeDefined();
      expect(encoded[where!.doc]!.length).toBeGreaterThan(seqlen);
    }
    expect(documentWindows(C4_DOCUMENTS, tokenizer, { nsamples: 12, seqlen, seed: 3 })).toEqual(
      windows,
    );
    expect(documentWindows(C4_DOCUMENTS, tokenizer, { nsamples: 12, seqlen, seed: 4 })).not.toEqual(
      windows,
    );
    // Some documents are too short for the window: the length filter is doing work here.
    expect(encoded.some((ids) => ids.length <= seqlen)).toBe(true);
  });

  it('says when no document is long enough', () => {
    const longest = Math.max(...encoded.map((ids) => ids.length));
    expectError(
      () => documentWindows(C4_DOCUMENTS, tokenizer, { nsamples: 1, seqlen: longest }),
      'INVALID_ARGUMENT',
      `none of the 118 documents is longer than seqlen ${longest} tokens`,
    );
    expectError(
      () => documentWindows([], tokenizer, { nsamples: 1, seqlen: 8 }),
      'INVALID_ARGUMENT',
      /no documents/,
    );
  });
});
