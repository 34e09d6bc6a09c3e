/** A number Python holds as a float, so that it is written as one (0.0, not 0). */
export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyJson =
  | null
  | boolean
  | number
  | string
  | PyFloat
  | readonly PyJson[]
  | { readonly [key: string]: PyJson };

/** repr() of a Python float: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
function pythonFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(x);
  if (abs >= 1e-4 && abs < 1e16) {
    const text = String(x);
    return text.includes('.') || text.includes('e') ? text : `${text}.0`;
  }
  const [mantissa, exponent] = x.toExponential().split('e') as [string, string];
  const sign = exponent.startsWith('-') ? '-' : '+';
  const digits = exponent.replace(/^[-+]/, '').padStart(2, '0');
  return `${mantissa}e${sign}${digits}`;
}

/** A JSON string as Python writes it with ensure_ascii: every non-ASCII code unit as \uXXXX. */
function pythonString(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * `value` as Python's `json.dumps(value, indent=2, sort_keys=True)` writes it, which is how PEFT
 * writes adapter_config.json: keys sorted, two-space indent, ASCII only, integers as integers
 * and PyFloat values as Python floats.
 */
export function pythonJsonDumps(value: PyJson, indent = ''): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number')
    return Number.isInteger(value) ? String(value) : pythonFloat(value);
  if (typeof value === 'string') return pythonString(value);
  if (value instanceof PyFloat) return pythonFloat(value.value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const items = value.map((item: PyJson) => `${inner}${pythonJsonDumps(item, inner)}`);
    return `[\n${items.join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, PyJson>).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  if (entries.length === 0) return '{}';
  const items = entries.map(
    ([key, item]) => `${inner}${pythonString(key)}: ${pythonJsonDumps(item, inner)}`,
  );
  return `{\n${items.join(',\n')}\n${indent}}`;
}
