import { existsSync, statSync } from 'node:fs';
import { SlimlmError } from '@slimlm/core';
import type { PullProgress } from '@slimlm/hub';
import { formatOf } from '../records/format';
import { streamDataset } from '../records/load-dataset';
import { streamRecords } from '../records/read-records';
import { fieldText } from '../records/record';
import { readText } from '../records/text-stream';

/**
 * A named calibration set: the Hub files optimum's `get_dataset` (and AutoGPTQ after it) reads,
 * and how it turns their documents into one text.
 */
export interface CalibrationSet {
  name: string;
  /** The Hub dataset repository. */
  repo: string;
  /** The file of each split, as optimum names the splits (its 'validation' of wikitext2 is the test split). */
  files: { train: string; validation: string };
  /** Characters of whole documents read by default (the rest of a large shard is not read). */
  defaultMaxChars: number;
  join(documents: readonly string[]): string;
}

export const CALIBRATION_SETS: readonly CalibrationSet[] = [
  {
    name: 'wikitext2',
    repo: 'Salesforce/wikitext',
    files: {
      train: 'wikitext-2-raw-v1/train-00000-of-00001.parquet',
      validation: 'wikitext-2-raw-v1/test-00000-of-00001.parquet',
    },
    defaultMaxChars: Number.POSITIVE_INFINITY,
    // optimum: "".join([" \n" if s == "" else s for s in data["text"]]). The rows are the raw
    // file's lines with their "\n", blank lines stored as "", so this is the raw file again.
    join: (rows) => rows.map((row) => (row === '' ? ' \n' : row)).join(''),
  },
  {
    name: 'c4',
    repo: 'allenai/c4',
    files: {
      train: 'en/c4-train.00000-of-01024.json.gz',
      validation: 'en/c4-validation.00000-of-00008.json.gz',
    },
    // ~500k Llama tokens: twice the 128 × 2048 tokens of the default calibration.
    defaultMaxChars: 2_000_000,
    // GPTQ's C4 text joins documents with a space (' '.join(valdata['text'])).
    join: (documents) => documents.join(' '),
  },
];

export interface LoadCalibrationOptions {
  /** Named sets: optimum's split, 'train' (default) or 'validation'. */
  split?: 'train' | 'validation';
  /**
   * Stop reading documents once this many characters are gathered (the document that crosses it
   * is kept whole). Default: all of wikitext2, 2,000,000 characters of c4's 300 MB shard.
   */
  maxChars?: number;
  /** Local JSON/JSONL/CSV/Parquet files: the field holding the text; default `text`. */
  field?: string;
  /** Use the Hugging Face cache only (default: HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Download progress of a named set. */
  onProgress?: (progress: PullProgress) => void;
  revision?: string;
  endpoint?: string;
  cacheDir?: string;
  token?: string;
}

export interface CalibrationText {
  /** The documents as one text, to be encoded once. */
  text: string;
  /** The documents it was made of (one, for a plain text file). */
  documents: string[];
  /** What was read: the file, or `<repo>/<file>` on the Hub with the documents read. */
  source: string;
}

/**
 * Calibration text from a local file or a named set. A file that exists is read: plain text
 * whole; JSON, JSON Lines, CSV or Parquet as the `field` of each record, joined by blank lines
 * (as GPTQ's WikiText-2 loader joins its rows). Otherwise `wikitext2` and `c4` are
 * {@link CALIBRATION_SETS}: their Hub file is downloaded once into the Hugging Face cache and
 * streamed.
 */
export async function loadCalibrationText(
  nameOrPath: string,
  options: LoadCalibrationOptions = {},
): Promise<CalibrationText> {
  const maxChars = options.maxChars;
  if (maxChars !== undefined && !(maxChars > 0)) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `maxChars must be a positive number, got ${maxChars}`,
    );
  }
  if (existsSync(nameOrPath) && statSync(nameOrPath).isFile()) {
    return localCalibrationText(nameOrPath, options.field ?? 'text', maxChars);
  }
  const set = CALIBRATION_SETS.find((s) => s.name === nameOrPath);
  if (set === undefined) {
    throw new SlimlmError(
      'NOT_FOUND',
      `${nameOrPath}: no such file, and not a calibration set name (${CALIBRATION_SETS.map((s) => s.name).join(', ')})`,
    );
  }
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'validation') {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `split must be 'train' or 'validation', got '${String(split)}'`,
    );
  }
  const file = set.files[split];
  const limit = maxChars ?? set.defaultMaxChars;
  const documents: string[] = [];
  let chars = 0;
  try {
    const { offline, onProgress, revision, endpoint, cacheDir, token } = options;
    const records = streamDataset(set.repo, {
      dataFiles: [file],
      offline,
      onProgress,
      revision,
      endpoint,
      cacheDir,
      token,
    });
    for await (const record of records) {
      const text = fieldText(record, 'text', `${set.repo}/${file} row ${documents.length}`);
      documents.push(text);
      chars += text.length;
      if (chars >= limit) break;
    }
  } catch (error) {
    if (error instanceof SlimlmError && error.code === 'NETWORK') {
      throw new SlimlmError(
        'NETWORK',
        `${error.message} Without the Hub, give a local text file instead of "${set.name}" ` +
          '(the slimlm repository has fixtures/c4/c4-sample.utf8 and fixtures/wikitext-2-raw/wiki.test.raw).',
      );
    }
    throw error;
  }
  const whole = Number.isFinite(limit) ? ` (first ${documents.length} documents)` : '';
  return { text: set.join(documents), documents, source: `${set.repo}/${file}${whole}` };
}

async function localCalibrationText(
  path: string,
  field: string,
  maxChars: number | undefined,
): Promise<CalibrationText> {
  let structured: boolean;
  try {
    structured = formatOf(path) !== 'text';
  } catch {
    structured = false; // any other extension is plain text
  }
  if (!structured) {
    const text = await readText(path);
    return { text, documents: [text], source: path };
  }
  const documents: string[] = [];
  let chars = 0;
  for await (const record of streamRecords(path)) {
    const text = fieldText(record, field, `${path} record ${documents.length}`);
    documents.push(text);
    chars += text.length;
    if (maxChars !== undefined && chars >= maxChars) break;
  }
  if (documents.length === 0) {
    throw new SlimlmError('INVALID_FILE', `${path}: holds no records to calibrate with`);
  }
  return { text: documents.join('\n\n'), documents, source: path };
}
