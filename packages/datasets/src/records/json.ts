import { SlimlmError } from '@slimlm/core';
import { type DataRecord, isRecord } from './record';
import { readText, textChunks, textLines } from './text-stream';

export interface JsonOptions {
  /** For a file holding one JSON object: the field whose array holds the records. */
  field?: string;
}

/**
 * Records of a JSON Lines file (one object per line, streamed), or of a JSON file: an array of
 * objects (or of strings, read as `{text}`), an object whose `field` is such an array, or JSON
 * Lines under a .json name as Hugging Face datasets accepts (allenai/c4's shards are).
 */
export async function* jsonRecords(
  path: string,
  format: 'json' | 'jsonl',
  options: JsonOptions = {},
): AsyncGenerator<DataRecord> {
  if (format === 'json' && (options.field !== undefined || (await firstCharacter(path)) === '[')) {
    yield* wholeJsonRecords(path, options.field);
    return;
  }
  let lineNumber = 0;
  for await (const line of textLines(path)) {
    lineNumber++;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      const hint =
        lineNumber === 1 && format === 'json'
          ? ' (a file holding one JSON object needs the option field: the name of its array of records)'
          : '';
      throw new SlimlmError(
        'INVALID_FILE',
        `${path}: line ${lineNumber} is not JSON (${(error as Error).message})${hint}`,
      );
    }
    if (!isRecord(value)) {
      throw new SlimlmError(
        'INVALID_FILE',
        `${path}: line ${lineNumber} is ${describe(value)}, expected a JSON object per line`,
      );
    }
    yield value;
  }
}

async function firstCharacter(path: string): Promise<string | undefined> {
  for await (const chunk of textChunks(path)) {
    const match = chunk.match(/\S/);
    if (match) return match[0];
  }
  return undefined;
}

async function* wholeJsonRecords(
  path: string,
  field: string | undefined,
): AsyncGenerator<DataRecord> {
  let value: unknown;
  try {
    value = JSON.parse(await readText(path));
  } catch (error) {
    throw new SlimlmError('INVALID_FILE', `${path}: not JSON (${(error as Error).message})`);
  }
  let items = value;
  if (field !== undefined) {
    if (!isRecord(value) || !Array.isArray(value[field])) {
      throw new SlimlmError(
        'INVALID_FILE',
        `${path}: expected an object whose "${field}" field is an array of records, got ${describe(value)}`,
      );
    }
    items = value[field];
  }
  if (!Array.isArray(items)) {
    throw new SlimlmError(
      'INVALID_FILE',
      `${path}: expected an array of records, got ${describe(items)} (for an object holding the array, pass field)`,
    );
  }
  for (const [i, item] of items.entries()) {
    if (typeof item === 'string') {
      yield { text: item };
    } else if (isRecord(item)) {
      yield item;
    } else {
      throw new SlimlmError(
        'INVALID_FILE',
        `${path}: item ${i} is ${describe(item)}, expected an object (or a string)`,
      );
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
