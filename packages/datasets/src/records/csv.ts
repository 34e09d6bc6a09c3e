import { SlimlmError } from '@slimlm/core';
import type { DataRecord } from './record';
import { textChunks } from './text-stream';

/**
 * Records of a CSV (or TSV) file, streamed: the first row names the columns, each later row is
 * one record of strings (values are not converted: "5" stays "5"). Quoting follows RFC 4180
 * (fields in double quotes may hold delimiters, line breaks and "" for a quote); rows end with LF
 * or CRLF; blank lines are skipped.
 */
export async function* csvRecords(path: string, delimiter: string): AsyncGenerator<DataRecord> {
  let header: string[] | undefined;
  for await (const { fields, line } of csvRows(path, delimiter)) {
    if (fields.length === 1 && fields[0] === '') continue;
    if (header === undefined) {
      header = fields;
      const seen = new Set<string>();
      for (const name of header) {
        if (seen.has(name)) {
          throw new SlimlmError('INVALID_FILE', `${path}: the header names column "${name}" twice`);
        }
        seen.add(name);
      }
      continue;
    }
    if (fields.length !== header.length) {
      throw new SlimlmError(
        'INVALID_FILE',
        `${path}: the row starting on line ${line} has ${fields.length} fields, the header ${header.length}`,
      );
    }
    const record: DataRecord = {};
    header.forEach((name, i) => {
      record[name] = fields[i];
    });
    yield record;
  }
}

type State = 'start' | 'unquoted' | 'quoted' | 'quote-in-quoted';

/** The rows of the file as field lists, each with the line it starts on. */
async function* csvRows(
  path: string,
  delimiter: string,
): AsyncGenerator<{ fields: string[]; line: number }> {
  let state: State = 'start';
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let rowLine = 1;
  let carriageReturn = false;
  const endField = () => {
    fields.push(field);
    field = '';
  };
  const endRow = () => {
    endField();
    const row = { fields, line: rowLine };
    fields = [];
    rowLine = line;
    state = 'start';
    return row;
  };
  for await (const chunk of textChunks(path)) {
    for (const char of chunk) {
      if (carriageReturn) {
        carriageReturn = false;
        if (char !== '\n') field += '\r';
      }
      if (char === '\n') line++;
      switch (state) {
        case 'quoted':
          if (char === '"') state = 'quote-in-quoted';
          else field += char;
          continue;
        case 'quote-in-quoted':
          if (char === '"') {
            field += '"';
            state = 'quoted';
            continue;
          }
          state = 'unquoted';
          break;
        case 'start':
          if (char === '"') {
            state = 'quoted';
            continue;
          }
          state = 'unquoted';
          break;
        case 'unquoted':
          break;
      }
      if (char === delimiter) {
        endField();
        state = 'start';
      } else if (char === '\n') {
        yield endRow();
      } else if (char === '\r') {
        carriageReturn = true;
      } else {
        field += char;
      }
    }
  }
  if (state === 'quoted') {
    throw new SlimlmError(
      'INVALID_FILE',
      `${path}: the quoted field opened on line ${rowLine} is never closed`,
    );
  }
  if (fields.length > 0 || field !== '' || state !== 'start') yield endRow();
}
