import { createReadStream, existsSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { SlimlmError } from '@slimlm/core';
import { isGzipped } from './format';

/** Refuses a path that is not a readable file, naming it. */
export function checkFile(path: string): void {
  if (!existsSync(path)) throw new SlimlmError('NOT_FOUND', `${path}: no such file`);
  if (!statSync(path).isFile()) {
    throw new SlimlmError('INVALID_ARGUMENT', `${path}: is a folder, expected a data file`);
  }
}

/**
 * The file's text in chunks as it is read (gunzipped when its name ends in .gz), decoded as UTF-8
 * with characters never split between chunks, and without a leading byte order mark. Stopping
 * early (break) closes the file.
 */
export async function* textChunks(path: string): AsyncGenerator<string> {
  checkFile(path);
  const file = createReadStream(path);
  const stream: Readable = isGzipped(path) ? file.pipe(createGunzip()) : file;
  stream.setEncoding('utf8');
  let first = true;
  try {
    for await (const chunk of stream) {
      let text = chunk as string;
      if (first) {
        text = text.replace(/^\uFEFF/, '');
        first = false;
      }
      yield text;
    }
  } catch (error) {
    throw new SlimlmError(
      'INVALID_FILE',
      `${path}: cannot be read${isGzipped(path) ? ' as gzip' : ''}: ${(error as Error).message}`,
    );
  } finally {
    stream.destroy();
    file.destroy();
  }
}

/** The file's lines without their line ends (LF or CRLF), streamed. */
export async function* textLines(path: string): AsyncGenerator<string> {
  let pending = '';
  for await (const chunk of textChunks(path)) {
    pending += chunk;
    let end = pending.indexOf('\n');
    let start = 0;
    while (end !== -1) {
      yield withoutCarriageReturn(pending.slice(start, end));
      start = end + 1;
      end = pending.indexOf('\n', start);
    }
    pending = pending.slice(start);
  }
  if (pending !== '') yield withoutCarriageReturn(pending);
}

function withoutCarriageReturn(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** The whole file as one string. */
export async function readText(path: string): Promise<string> {
  const parts: string[] = [];
  for await (const chunk of textChunks(path)) parts.push(chunk);
  return parts.join('');
}
