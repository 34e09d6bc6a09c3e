import { SlimlmError } from '@slimlm/core';
import { readJsonFile } from './read-json-file';

/** Bounds of a numeric field: `min`/`max` inclusive, `above`/`below` exclusive. */
export interface NumberBounds {
  min?: number;
  max?: number;
  above?: number;
  below?: number;
}

/** A required numeric field: absent (or null) takes `default` when one is given. */
export interface NumberOptions extends NumberBounds {
  default?: number;
}

/**
 * Typed, validated access to one JSON object of a config file (config.json,
 * generation_config.json, tokenizer_config.json). Every getter names the file and the field in
 * its INVALID_CONFIG error, with what was expected and what was found:
 *
 *   config.json: field 'num_attention_heads' must be a positive integer, got "8"
 *
 * A field set to null counts as absent, as in transformers, where null means "use the default".
 */
export class ConfigReader {
  /** The path (or any name) used in error messages. */
  readonly file: string;
  /** The object itself, for fields a getter does not cover. */
  readonly raw: Readonly<Record<string, unknown>>;
  private readonly prefix: string;

  /**
   * @param file the path shown in error messages
   * @param json the parsed JSON, which must be an object
   * @param fieldPrefix the dotted path of a nested object ('rope_scaling'); see {@link object}
   */
  constructor(file: string, json: unknown, fieldPrefix = '') {
    this.file = file;
    this.prefix = fieldPrefix;
    if (!isPlainObject(json)) {
      const where = fieldPrefix === '' ? 'the top level' : `field '${fieldPrefix}'`;
      throw new SlimlmError(
        'INVALID_CONFIG',
        `${file}: expected a JSON object at ${where}, got ${show(json)}`,
      );
    }
    this.raw = json;
  }

  /** Reads a JSON file (see {@link readJsonFile} for its errors) into a reader. */
  static fromFile(path: string): ConfigReader {
    return new ConfigReader(path, readJsonFile(path));
  }

  /** Whether the field is present and not null. */
  has(field: string): boolean {
    return this.value(field) !== undefined;
  }

  /** The raw value of a field; undefined when absent or null. */
  get(field: string): unknown {
    return this.value(field);
  }

  /** An INVALID_CONFIG error about a field, for checks that span fields: `must be ...`. */
  error(field: string, message: string): SlimlmError {
    return new SlimlmError(
      'INVALID_CONFIG',
      `${this.file}: field '${this.path(field)}' ${message}`,
    );
  }

  int(field: string, options: NumberOptions = {}): number {
    const value = this.optionalInt(field, options);
    if (value !== undefined) return value;
    if (options.default !== undefined) return options.default;
    throw this.missing(field, describeNumber('integer', options));
  }

  optionalInt(field: string, bounds: NumberBounds = {}): number | undefined {
    const value = this.value(field);
    if (value === undefined) return undefined;
    if (!isInteger(value) || !inBounds(value, bounds)) {
      throw this.invalid(field, describeNumber('integer', bounds), value);
    }
    return value;
  }

  number(field: string, options: NumberOptions = {}): number {
    const value = this.optionalNumber(field, options);
    if (value !== undefined) return value;
    if (options.default !== undefined) return options.default;
    throw this.missing(field, describeNumber('number', options));
  }

  optionalNumber(field: string, bounds: NumberBounds = {}): number | undefined {
    const value = this.value(field);
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || !inBounds(value, bounds)) {
      throw this.invalid(field, describeNumber('number', bounds), value);
    }
    return value;
  }

  string(field: string, options: { default?: string } = {}): string {
    const value = this.optionalString(field);
    if (value !== undefined) return value;
    if (options.default !== undefined) return options.default;
    throw this.missing(field, 'a string');
  }

  optionalString(field: string): string | undefined {
    const value = this.value(field);
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw this.invalid(field, 'a string', value);
    return value;
  }

  boolean(field: string, options: { default?: boolean } = {}): boolean {
    const value = this.optionalBoolean(field);
    if (value !== undefined) return value;
    if (options.default !== undefined) return options.default;
    throw this.missing(field, 'true or false');
  }

  optionalBoolean(field: string): boolean | undefined {
    const value = this.value(field);
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') throw this.invalid(field, 'true or false', value);
    return value;
  }

  /** A string that must be one of `values`. */
  enum<const T extends string>(
    field: string,
    values: readonly T[],
    options: { default?: T } = {},
  ): T {
    const value = this.optionalEnum(field, values);
    if (value !== undefined) return value;
    if (options.default !== undefined) return options.default;
    throw this.missing(field, describeEnum(values));
  }

  optionalEnum<const T extends string>(field: string, values: readonly T[]): T | undefined {
    const value = this.value(field);
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
      throw this.invalid(field, describeEnum(values), value);
    }
    return value as T;
  }

  /** A field that holds one integer or a list of them (eos_token_id), always returned as a list. */
  intOrIntList(field: string, options: NumberBounds & { default?: number[] } = {}): number[] {
    const value = this.optionalIntOrIntList(field, options);
    if (value !== undefined) return value;
    if (options.default !== undefined) return [...options.default];
    throw this.missing(field, describeIntOrList(options));
  }

  optionalIntOrIntList(field: string, bounds: NumberBounds = {}): number[] | undefined {
    const value = this.value(field);
    if (value === undefined) return undefined;
    const list = Array.isArray(value) ? value : [value];
    if (!list.every((item) => isInteger(item) && inBounds(item, bounds))) {
      throw this.invalid(field, describeIntOrList(bounds), value);
    }
    return list as number[];
  }

  intList(field: string, options: NumberBounds & { default?: number[] } = {}): number[] {
    const value = this.optionalIntList(field, options);
    if (value !== undefined) return value;
    if (options.default !== undefined) return [...options.default];
    throw this.missing(field, `a list of ${plural(describeNumber('integer', options))}`);
  }

  optionalIntList(field: string, bounds: NumberBounds = {}): number[] | undefined {
    return this.list(field, `a list of ${plural(describeNumber('integer', bounds))}`, (item) =>
      isInteger(item) ? inBounds(item, bounds) : false,
    );
  }

  numberList(field: string, options: NumberBounds & { default?: number[] } = {}): number[] {
    const value = this.optionalNumberList(field, options);
    if (value !== undefined) return value;
    if (options.default !== undefined) return [...options.default];
    throw this.missing(field, `a list of ${plural(describeNumber('number', options))}`);
  }

  optionalNumberList(field: string, bounds: NumberBounds = {}): number[] | undefined {
    return this.list(
      field,
      `a list of ${plural(describeNumber('number', bounds))}`,
      (item) => typeof item === 'number' && Number.isFinite(item) && inBounds(item, bounds),
    );
  }

  stringList(field: string, options: { default?: string[] } = {}): string[] {
    const value = this.optionalStringList(field);
    if (value !== undefined) return value;
    if (options.default !== undefined) return [...options.default];
    throw this.missing(field, 'a list of strings');
  }

  optionalStringList(field: string): string[] | undefined {
    return this.list(field, 'a list of strings', (item) => typeof item === 'string');
  }

  /** A nested object, read with its own reader whose errors name 'field.subfield'. */
  object(field: string): ConfigReader {
    const reader = this.optionalObject(field);
    if (reader === undefined) throw this.missing(field, 'an object');
    return reader;
  }

  optionalObject(field: string): ConfigReader | undefined {
    const value = this.value(field);
    if (value === undefined) return undefined;
    if (!isPlainObject(value)) throw this.invalid(field, 'an object', value);
    return new ConfigReader(this.file, value, this.path(field));
  }

  private value(field: string): unknown {
    const value = Object.hasOwn(this.raw, field) ? this.raw[field] : undefined;
    return value === null ? undefined : value;
  }

  private list<T>(
    field: string,
    expected: string,
    isItem: (item: unknown) => boolean,
  ): T[] | undefined {
    const value = this.value(field);
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every(isItem)) throw this.invalid(field, expected, value);
    return value as T[];
  }

  private path(field: string): string {
    return this.prefix === '' ? field : `${this.prefix}.${field}`;
  }

  private invalid(field: string, expected: string, value: unknown): SlimlmError {
    return this.error(field, `must be ${expected}, got ${show(value)}`);
  }

  private missing(field: string, expected: string): SlimlmError {
    return this.error(field, `is missing; expected ${expected}`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

function inBounds(value: number, { min, max, above, below }: NumberBounds): boolean {
  return (
    (min === undefined || value >= min) &&
    (max === undefined || value <= max) &&
    (above === undefined || value > above) &&
    (below === undefined || value < below)
  );
}

function describeNumber(kind: 'integer' | 'number', bounds: NumberBounds): string {
  const { min, max, above, below } = bounds;
  const article = kind === 'integer' ? 'an' : 'a';
  if (max === undefined && below === undefined) {
    if (
      (kind === 'integer' && min === 1 && above === undefined) ||
      (above === 0 && min === undefined)
    ) {
      return `a positive ${kind}`;
    }
    if (min === 0 && above === undefined) return `a non-negative ${kind}`;
  }
  const limits = [
    above === undefined ? undefined : `> ${above}`,
    min === undefined ? undefined : `>= ${min}`,
    below === undefined ? undefined : `< ${below}`,
    max === undefined ? undefined : `<= ${max}`,
  ].filter((limit) => limit !== undefined);
  return limits.length === 0 ? `${article} ${kind}` : `${article} ${kind} ${limits.join(' and ')}`;
}

function describeIntOrList(bounds: NumberBounds): string {
  const one = describeNumber('integer', bounds);
  return `${one} or a list of ${plural(one)}`;
}

/** 'a positive integer' -> 'positive integers'. */
function plural(description: string): string {
  return description.replace(/^an? (\S+ )?(integer|number)/, (_, adjective = '', noun) => {
    return `${adjective}${noun}s`;
  });
}

function describeEnum(values: readonly string[]): string {
  return `one of ${values.map((value) => JSON.stringify(value)).join(', ')}`;
}

/** A short JSON rendering of a bad value for an error message. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
