import { SlimlmError } from '@slimlm/core';

/** One row of a dataset, column name to value, as JSON, CSV and Parquet rows are read. */
export type DataRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is DataRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A field of a record as text: strings as they are, numbers, bigints and booleans printed. A
 * missing, null or structured value is an INVALID_ARGUMENT naming the field and `where`.
 */
export function fieldText(record: DataRecord, field: string, where: string): string {
  const value = record[field];
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    default: {
      const present = Object.keys(record).slice(0, 8).join(', ');
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        value === undefined || value === null
          ? `${where}: the record has no "${field}" field (it has: ${present || 'no fields'})`
          : `${where}: field "${field}" is ${Array.isArray(value) ? 'an array' : 'an object'}, expected text or a number`,
      );
    }
  }
}
