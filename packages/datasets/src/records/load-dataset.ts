import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import { filterPaths, type PullProgress, pull } from '@slimlm/hub';
import { DATA_FILE_EXTENSIONS } from './format';
import { type ReadRecordsOptions, streamRecords } from './read-records';
import type { DataRecord } from './record';

export interface LoadDatasetOptions extends Omit<ReadRecordsOptions, 'limit'> {
  /** The split to read from a folder or Hub dataset; default `train`. */
  split?: string;
  /** The configuration (subset) folder of a Hub dataset, e.g. `wikitext-2-raw-v1`. */
  config?: string;
  /**
   * Exactly which files to read, as globs relative to the dataset's root (Hugging Face's
   * data_files), e.g. `['en/c4-train.00000-of-01024.json.gz']`; overrides split and config.
   */
  dataFiles?: string[];
  /** Stop after this many records over all files. */
  limit?: number;
  /** Hub datasets: branch, tag or commit (default main). */
  revision?: string;
  /** Hub datasets: use the local cache only (default: HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Hub datasets: download progress. */
  onProgress?: (progress: PullProgress) => void;
  endpoint?: string;
  cacheDir?: string;
  token?: string;
}

/** What a dataset source resolved to: its data files, in reading order, and where they came from. */
export interface DatasetFiles {
  files: string[];
  /** The file, the folder, or `<repo>@<revision>` on the Hub. */
  origin: string;
}

/** Dataset names the Hub redirects to their organisation's repository. */
const CANONICAL_DATASETS: Record<string, string> = {
  wikitext: 'Salesforce/wikitext',
  c4: 'allenai/c4',
};

const HUB_ID = /^[\w.-]+(\/[\w.-]+)?$/;

/**
 * The data files of a dataset source: a data file, a folder, or a Hub dataset id (`org/name`,
 * downloaded into the Hugging Face cache, only the files wanted). A folder or repository is
 * searched for the split's files as the Hub lays them out: `[<config>/][data/]<split>-*.<ext>`,
 * `<split>.<ext>` or `<split>/*.<ext>` (Parquet, JSON, JSON Lines, CSV, TSV, text; `.gz` too).
 */
export async function resolveDatasetFiles(
  source: string,
  options: LoadDatasetOptions = {},
): Promise<DatasetFiles> {
  if (existsSync(source)) {
    if (statSync(source).isFile()) return { files: [source], origin: source };
    const files = matchingFiles(source, patternsFor(options));
    if (files.length === 0) throw noDataFiles(source, options);
    return { files, origin: source };
  }
  if (!HUB_ID.test(source) || source.includes('..')) {
    throw new SlimlmError(
      'NOT_FOUND',
      `${source}: no such file or folder, and not a Hub dataset id ("<org>/<name>")`,
    );
  }
  const repo = CANONICAL_DATASETS[source] ?? source;
  const patterns = patternsFor(options);
  const { revision, offline, onProgress, endpoint, cacheDir, token } = options;
  const snapshot = await pull(repo, {
    repoType: 'dataset',
    allowPatterns: patterns,
    revision,
    offline,
    onProgress,
    endpoint,
    cacheDir,
    token,
  });
  const files = matchingFiles(snapshot, patterns);
  const origin = `${repo}@${options.revision ?? 'main'}`;
  if (files.length === 0) throw noDataFiles(`Hub dataset ${origin}`, options);
  return { files, origin };
}

/** The records of a dataset source (see {@link resolveDatasetFiles}), file after file, streamed. */
export async function* streamDataset(
  source: string,
  options: LoadDatasetOptions = {},
): AsyncGenerator<DataRecord> {
  const { files } = await resolveDatasetFiles(source, options);
  let left = options.limit ?? Number.POSITIVE_INFINITY;
  for (const file of files) {
    if (left <= 0) return;
    for await (const record of streamRecords(file, { ...options, limit: left })) {
      left--;
      yield record;
    }
  }
}

/** All records of a dataset source: a data file, a folder or a Hub dataset id. */
export async function loadDataset(
  source: string,
  options: LoadDatasetOptions = {},
): Promise<DataRecord[]> {
  const records: DataRecord[] = [];
  for await (const record of streamDataset(source, options)) records.push(record);
  return records;
}

function patternsFor(options: LoadDatasetOptions): string[] {
  if (options.dataFiles !== undefined) {
    if (options.dataFiles.length === 0) {
      throw new SlimlmError('INVALID_ARGUMENT', 'dataFiles is empty: give at least one glob');
    }
    return options.dataFiles;
  }
  const split = options.split ?? 'train';
  const base = options.config === undefined ? '' : `${options.config}/`;
  const stems = [`${base}${split}`, `${base}data/${split}`];
  const extensions = DATA_FILE_EXTENSIONS.flatMap((e) => [e, `${e}.gz`]);
  return stems.flatMap((stem) =>
    extensions.flatMap((e) => [`${stem}-*.${e}`, `${stem}.${e}`, `${stem}/*.${e}`]),
  );
}

/** Files under `folder` whose path relative to it matches a pattern, sorted. */
function matchingFiles(folder: string, patterns: readonly string[]): string[] {
  const names: string[] = [];
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (statSync(path).isFile()) names.push(relative(folder, path).split(sep).join('/'));
  }
  return filterPaths(names, patterns)
    .sort()
    .map((name) => join(folder, name));
}

function noDataFiles(where: string, options: LoadDatasetOptions): SlimlmError {
  const looked =
    options.dataFiles !== undefined
      ? `the dataFiles ${options.dataFiles.join(', ')}`
      : `${options.config === undefined ? '' : `${options.config}/`}[data/]${options.split ?? 'train'}-*, ` +
        `${options.split ?? 'train'}.* or ${options.split ?? 'train'}/* data files`;
  return new SlimlmError(
    'NOT_FOUND',
    `${where} has no ${looked}. Pass split, config (the subset folder) or dataFiles (globs of the files to read).`,
  );
}
