import { basename } from 'node:path';
import { SlimlmError } from '@slimlm/core';

/** The file formats records are read from. JSON files may hold JSON Lines, as in Hugging Face datasets. */
export type RecordFormat = 'json' | 'jsonl' | 'csv' | 'tsv' | 'parquet' | 'text';

const BY_EXTENSION: Record<string, RecordFormat> = {
  json: 'json',
  jsonl: 'jsonl',
  ndjson: 'jsonl',
  csv: 'csv',
  tsv: 'tsv',
  parquet: 'parquet',
  txt: 'text',
  text: 'text',
  raw: 'text',
  utf8: 'text',
  md: 'text',
};

/** Files that are data, by extension (before an optional `.gz`). */
export const DATA_FILE_EXTENSIONS = Object.keys(BY_EXTENSION);

/** Whether the file is gzip-compressed, by its name. */
export function isGzipped(path: string): boolean {
  return path.toLowerCase().endsWith('.gz');
}

/** The format of a file from its extension (`.gz` looked through), or the one asked for. */
export function formatOf(path: string, requested?: RecordFormat): RecordFormat {
  if (requested !== undefined) {
    if (!Object.values(BY_EXTENSION).includes(requested)) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `format must be one of json, jsonl, csv, tsv, parquet, text; got "${String(requested)}"`,
      );
    }
    return requested;
  }
  const name = basename(path).toLowerCase().replace(/\.gz$/, '');
  const extension = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1) : '';
  const format = BY_EXTENSION[extension];
  if (format === undefined) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `${path}: cannot tell the format from the extension "${extension || '(none)'}"; ` +
        `pass format: 'json' | 'jsonl' | 'csv' | 'tsv' | 'parquet' | 'text' (known extensions: ${DATA_FILE_EXTENSIONS.join(', ')}, each optionally .gz)`,
    );
  }
  return format;
}
