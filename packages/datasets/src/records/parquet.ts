import { SlimlmError } from '@slimlm/core';
import type { DataRecord } from './record';
import { checkFile } from './text-stream';

/**
 * Records of a Parquet file, one row group at a time, with every codec Hugging Face datasets
 * write (snappy, gzip, zstd, brotli, lz4) through hyparquet-compressors. INT64 values that fit a
 * double exactly come out as numbers, larger ones as bigints.
 */
export async function* parquetRecords(path: string): AsyncGenerator<DataRecord> {
  checkFile(path);
  // hyparquet ships as ES modules only; importing it here keeps the CommonJS build loadable.
  const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } = await import(
    'hyparquet'
  );
  const { compressors } = await import('hyparquet-compressors');
  const file = await asyncBufferFromFile(path);
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (error) {
    throw new SlimlmError(
      'INVALID_FILE',
      `${path}: not a Parquet file (${(error as Error).message})`,
    );
  }
  let rowStart = 0;
  for (const [index, group] of metadata.row_groups.entries()) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: DataRecord[];
    try {
      rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, compressors });
    } catch (error) {
      throw new SlimlmError(
        'INVALID_FILE',
        `${path}: row group ${index} cannot be read (${(error as Error).message})`,
      );
    }
    for (const row of rows) yield withSafeIntegers(row);
    rowStart = rowEnd;
  }
}

function withSafeIntegers(row: DataRecord): DataRecord {
  for (const [key, value] of Object.entries(row)) {
    if (typeof value === 'bigint' && Number.isSafeInteger(Number(value))) row[key] = Number(value);
  }
  return row;
}
