import { readFileSync } from 'node:fs';
import { SlimlmError } from '@slimlm/core';

/**
 * Reads and parses a JSON file. A missing file is NOT_FOUND; unreadable or malformed JSON is
 * INVALID_FILE with the path, line and column, so that a hand-edited config is easy to fix.
 */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SlimlmError('NOT_FOUND', `${path}: file not found`);
    if (code === 'EISDIR') {
      throw new SlimlmError('INVALID_FILE', `${path}: is a folder, expected a JSON file`);
    }
    throw new SlimlmError('INVALID_FILE', `${path}: cannot read: ${(error as Error).message}`);
  }
  // Some editors on Windows write a byte-order mark, which JSON.parse rejects.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (error) {
    const found = locateJsonError(text);
    if (found === undefined) {
      throw new SlimlmError('INVALID_FILE', `${path}: invalid JSON: ${(error as Error).message}`);
    }
    const { line, column } = lineAndColumn(text, found.offset);
    throw new SlimlmError(
      'INVALID_FILE',
      `${path}: invalid JSON at line ${line}, column ${column}: ${found.reason}`,
    );
  }
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

class JsonSyntaxError {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {}
}

/**
 * Finds the first syntax error of text that JSON.parse rejected. V8's own messages give a
 * position only for some errors, and quote the text for others (useless for a 5 MB
 * tokenizer.json), so this scanner validates the grammar without building values.
 */
function locateJsonError(text: string): { offset: number; reason: string } | undefined {
  let i = 0;

  const describe = (at: number): string =>
    at >= text.length ? 'end of file' : JSON.stringify(String.fromCodePoint(text.codePointAt(at)!));
  const fail = (reason: string, at = i): never => {
    throw new JsonSyntaxError(at, reason);
  };
  const skipWhitespace = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const expect = (char: string, what: string): void => {
    skipWhitespace();
    if (text[i] !== char) fail(`expected ${what}, found ${describe(i)}`);
    i++;
  };
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(`unexpected ${describe(i)}`);
  };
  const digits = (): number => {
    const start = i;
    while (i < text.length && text[i]! >= '0' && text[i]! <= '9') i++;
    return i - start;
  };
  const number = (): void => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (digits() === 0) fail(`expected a digit, found ${describe(i)}`);
    if (text[i] === '.') {
      i++;
      if (digits() === 0) fail(`expected a digit after '.', found ${describe(i)}`);
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (digits() === 0) fail(`expected an exponent, found ${describe(i)}`);
    }
  };
  const string = (): void => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) fail('unterminated string', start);
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail('control character (such as a raw newline) inside a string');
      if (c === 0x5c) {
        const escaped = text[i + 1];
        if (escaped === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('invalid \\u escape');
          i += 6;
        } else if (escaped !== undefined && '"\\/bfnrt'.includes(escaped)) {
          i += 2;
        } else {
          fail('invalid escape in string');
        }
      } else {
        i++;
      }
    }
  };
  const value = (): void => {
    skipWhitespace();
    const c = text[i];
    if (c === '{') {
      i++;
      skipWhitespace();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        skipWhitespace();
        if (text[i] !== '"')
          fail(`expected a property name in double quotes, found ${describe(i)}`);
        string();
        expect(':', "':'");
        value();
        skipWhitespace();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail(`expected ',' or '}', found ${describe(i)}`);
      }
    }
    if (c === '[') {
      i++;
      skipWhitespace();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        skipWhitespace();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail(`expected ',' or ']', found ${describe(i)}`);
      }
    }
    if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) number();
    else fail(`unexpected ${describe(i)}`);
  };

  try {
    value();
    skipWhitespace();
    if (i < text.length) fail(`unexpected ${describe(i)} after the end of the JSON value`);
  } catch (error) {
    // Anything else (a stack overflow on absurd nesting) falls back to V8's message.
    if (error instanceof JsonSyntaxError) return { offset: error.offset, reason: error.reason };
  }
  return undefined;
}
