import { SlimlmError } from '@slimlm/core';
import { csvRecords } from './csv';
import { formatOf, type RecordFormat } from './format';
import { jsonRecords } from './json';
import { parquetRecords } from './parquet';
import type { DataRecord } from './record';
import { type SampleBy, textRecords } from './text';

export interface ReadRecordsOptions {
  /** The file format; default from the extension (`.gz` looked through). */
  format?: RecordFormat;
  /** JSON holding one object: the field whose array holds the records. */
  field?: string;
  /** Text files: one record per line (default), per paragraph, or the whole file. */
  sampleBy?: SampleBy;
  /** Stop after this many records (the rest of the file is not read). */
  limit?: number;
}

/**
 * The records of one data file, streamed: JSON, JSON Lines, CSV/TSV, Parquet or plain text, each
 * optionally gzip-compressed (`.jsonl.gz`, `.json.gz`, ...). Big files are never held whole, except
 * a JSON array, which is one value.
 */
export async function* streamRecords(
  path: string,
  options: ReadRecordsOptions = {},
): AsyncGenerator<DataRecord> {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (!(limit >= 0)) {
    throw new SlimlmError('INVALID_ARGUMENT', `limit must be a number ≥ 0, got ${options.limit}`);
  }
  const sampleBy = options.sampleBy ?? 'line';
  if (!['line', 'paragraph', 'document'].includes(sampleBy)) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `sampleBy must be 'line', 'paragraph' or 'document', got '${String(sampleBy)}'`,
    );
  }
  if (limit === 0) return;
  let count = 0;
  for await (const record of recordsOf(path, formatOf(path, options.format), options, sampleBy)) {
    yield record;
    if (++count >= limit) return;
  }
}

function recordsOf(
  path: string,
  format: RecordFormat,
  options: ReadRecordsOptions,
  sampleBy: SampleBy,
): AsyncGenerator<DataRecord> {
  switch (format) {
    case 'json':
    case 'jsonl':
      return jsonRecords(path, format, options);
    case 'csv':
      return csvRecords(path, ',');
    case 'tsv':
      return csvRecords(path, '\t');
    case 'parquet':
      return parquetRecords(path);
    case 'text':
      return textRecords(path, sampleBy);
  }
}

/** All records of one data file (see {@link streamRecords}). */
export async function readRecords(
  path: string,
  options: ReadRecordsOptions = {},
): Promise<DataRecord[]> {
  const records: DataRecord[] = [];
  for await (const record of streamRecords(path, options)) records.push(record);
  return records;
}
