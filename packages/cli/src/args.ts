import { parseArgs } from 'node:util';
import { UsageError } from './errors';

interface BaseOption {
  /** One line for --help. */
  description: string;
  /** A one-letter alias (`-h`). */
  short?: string;
}

/** A flag: present or absent, never given a value. */
export interface BooleanOption extends BaseOption {
  type: 'boolean';
}

interface ValueOption extends BaseOption {
  /** Absence is a usage error; the usage line shows the option. */
  required?: boolean;
}

export interface StringOption extends ValueOption {
  type: 'string';
  /** The value's name in help (`--prompt <text>`). */
  placeholder?: string;
  /** The only values accepted. */
  choices?: readonly string[];
  /** Repeatable: every occurrence is kept, in order. */
  multiple?: boolean;
}

export interface NumberOption extends ValueOption {
  /** 'integer' rejects fractions; both reject NaN and infinities. */
  type: 'number' | 'integer';
  placeholder?: string;
  min?: number;
  max?: number;
  /** The bound itself is excluded (`> 0` rather than `>= 0`). */
  exclusiveMin?: boolean;
}

export type OptionSpec = BooleanOption | StringOption | NumberOption;
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** The value an option parses to; absent options are undefined (false for flags, [] when repeatable). */
export type OptionValue<S extends OptionSpec> = S extends BooleanOption
  ? boolean
  : S extends { multiple: true }
    ? string[]
    : S extends { required: true }
      ? ScalarValue<S>
      : ScalarValue<S> | undefined;

type ScalarValue<S extends OptionSpec> = S extends NumberOption ? number : string;

export type ParsedOptions<O extends OptionSpecs> = { -readonly [K in keyof O]: OptionValue<O[K]> };

export interface PositionalSpec {
  name: string;
  description: string;
  /** Default true. */
  required?: boolean;
}

export interface ParsedArgs<O extends OptionSpecs> {
  positionals: string[];
  options: ParsedOptions<O>;
}

/**
 * Parses `argv` against the option specs. Everything the user can get wrong becomes a UsageError
 * naming the flag and what it expects: unknown options, a missing or unexpected value, a bad
 * number or choice, too many or too few positionals.
 */
export function parseCommandArgs<O extends OptionSpecs>(
  argv: readonly string[],
  specs: O,
  positionalSpecs: readonly PositionalSpec[],
): ParsedArgs<O> {
  const parseOptions: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    parseOptions[name] = {
      type: spec.type === 'boolean' ? 'boolean' : 'string',
      ...(spec.short ? { short: spec.short } : {}),
    };
  }
  // Non-strict with tokens: this layer, not parseArgs, decides what is an error and says so.
  const { tokens } = parseArgs({
    args: [...argv],
    options: parseOptions,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });

  const raw = new Map<string, (string | true)[]>();
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind !== 'option') continue;
    const spec = specs[token.name];
    if (!spec) throw new UsageError(`unknown option '${token.rawName}'`);
    const flag = `--${token.name}`;
    if (spec.type === 'boolean') {
      if (token.value !== undefined) {
        throw new UsageError(`option '${flag}' takes no value (got '${token.value}')`);
      }
      raw.set(token.name, [true]);
      continue;
    }
    const value = token.value;
    if (value === undefined) {
      throw new UsageError(`option '${flag}' needs a value: ${flag} ${placeholderOf(spec)}`);
    }
    // `--prompt --json` would silently make '--json' the prompt; `--prompt=--json` still can.
    if (!token.inlineValue && value.startsWith('--') && value.slice(2).split('=')[0]! in specs) {
      throw new UsageError(
        `option '${flag}' needs a value, got the option '${value}' (write ${flag}=${value} if you mean it)`,
      );
    }
    const previous = raw.get(token.name);
    if (previous && !(spec.type === 'string' && spec.multiple)) {
      throw new UsageError(`option '${flag}' is given more than once`);
    }
    raw.set(token.name, [...(previous ?? []), value]);
  }

  const options: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const values = raw.get(name);
    if (spec.type === 'boolean') options[name] = values !== undefined;
    else if (spec.type === 'string') {
      const strings = (values ?? []) as string[];
      for (const value of strings) checkChoice(name, spec, value);
      options[name] = spec.multiple ? strings : strings[0];
    } else {
      const text = values?.[0] as string | undefined;
      options[name] = text === undefined ? undefined : parseNumber(name, spec, text);
    }
    if (spec.type !== 'boolean' && spec.required && options[name] === undefined) {
      throw new UsageError(
        `missing option '${formatOptionName(name, spec).trim()}' (${spec.description})`,
      );
    }
  }

  const required = positionalSpecs.filter((p) => p.required !== false);
  if (positionals.length < required.length) {
    const missing = required[positionals.length]!;
    throw new UsageError(`missing argument <${missing.name}> (${missing.description})`);
  }
  if (positionals.length > positionalSpecs.length) {
    const extra = positionals[positionalSpecs.length]!;
    throw new UsageError(
      positionalSpecs.length === 0
        ? `unexpected argument '${extra}'`
        : `unexpected argument '${extra}' after <${positionalSpecs.at(-1)!.name}> (quote values that contain spaces)`,
    );
  }
  return { positionals, options: options as ParsedOptions<O> };
}

function checkChoice(name: string, spec: StringOption, value: string): void {
  if (spec.choices && !spec.choices.includes(value)) {
    throw new UsageError(
      `option '--${name}' must be one of ${spec.choices.join(', ')}, got '${value}'`,
    );
  }
}

function parseNumber(name: string, spec: NumberOption, text: string): number {
  const flag = `--${name}`;
  const kind = spec.type === 'integer' ? 'an integer' : 'a number';
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(value) || (spec.type === 'integer' && !Number.isInteger(value))) {
    throw new UsageError(`option '${flag}' expects ${kind}${rangeText(spec)}, got '${text}'`);
  }
  const belowMin =
    spec.min !== undefined && (spec.exclusiveMin ? value <= spec.min : value < spec.min);
  const aboveMax = spec.max !== undefined && value > spec.max;
  if (belowMin || aboveMax) {
    throw new UsageError(`option '${flag}' expects ${kind}${rangeText(spec)}, got ${text}`);
  }
  return value;
}

function rangeText(spec: NumberOption): string {
  const low = spec.min === undefined ? undefined : `${spec.exclusiveMin ? '>' : '>='} ${spec.min}`;
  const high = spec.max === undefined ? undefined : `<= ${spec.max}`;
  if (low && high) return ` ${low} and ${high}`;
  if (low ?? high) return ` ${low ?? high}`;
  return '';
}

function placeholderOf(spec: StringOption | NumberOption): string {
  if (spec.type === 'string' && spec.choices) return spec.choices.join('|');
  const fallback = spec.type === 'string' ? 'value' : spec.type === 'integer' ? 'n' : 'x';
  return `<${spec.placeholder ?? fallback}>`;
}

/** Whether `argv` asks for help (before any `--`, which ends the options). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** `--max-new-tokens <n>`, `-h, --help`, `--backend cpu|reference`, as help shows an option. */
export function formatOptionName(name: string, spec: OptionSpec): string {
  const long = spec.short ? `-${spec.short}, --${name}` : `    --${name}`;
  return spec.type === 'boolean' ? long : `${long} ${placeholderOf(spec)}`;
}
