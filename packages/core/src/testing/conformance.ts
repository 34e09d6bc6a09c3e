import { withBackend } from '../backend';
import { SlimlmError } from '../errors';
import { scope } from '../memory';
import type { Tensor } from '../tensor';
import { choleskyCases } from './cases/cholesky';
import { coreCases } from './cases/core';
import { linalgCases } from './cases/linalg';
import { mathCases } from './cases/math';
import { quantizedCases } from './cases/quantized';
import { transformerCases } from './cases/transformer';

/**
 * One check of one op: `build` makes its inputs (from a seeded Generator, so every backend gets the
 * same numbers) on the active backend, runs the op and returns the result(s).
 */
export interface ConformanceCase {
  name: string;
  /** The op under test: a backend listing it in `lacks` skips the case. */
  op: string;
  build: () => Tensor | readonly Tensor[];
  /** Allowed |actual - expected| is atol + rtol * |expected| (defaults 1e-5 and 1e-4). */
  atol?: number;
  rtol?: number;
}

export interface ConformanceResult {
  name: string;
  op: string;
  status: 'pass' | 'fail' | 'skipped';
  maxError?: number;
  message?: string;
}

/** Every case core defines, for every op it has. */
export function conformanceCases(): ConformanceCase[] {
  return [
    ...coreCases,
    ...mathCases,
    ...linalgCases,
    ...choleskyCases,
    ...transformerCases,
    ...quantizedCases,
  ];
}

function evaluate(
  build: ConformanceCase['build'],
): { shape: readonly number[]; dtype: string; values: Float64Array }[] {
  return scope(() => {
    const result = build();
    const outputs = Array.isArray(result) ? result : [result as Tensor];
    return outputs.map((t) => ({
      shape: t.shape,
      dtype: t.dtype,
      values: Float64Array.from(t.dataSync()),
    }));
  });
}

function compare(
  expected: ReturnType<typeof evaluate>,
  actual: ReturnType<typeof evaluate>,
  atol: number,
  rtol: number,
): { maxError: number; message?: string } {
  let maxError = 0;
  if (expected.length !== actual.length)
    return {
      maxError: Number.POSITIVE_INFINITY,
      message: `${actual.length} outputs, expected ${expected.length}`,
    };
  for (let k = 0; k < expected.length; k++) {
    const e = expected[k]!;
    const a = actual[k]!;
    if (e.shape.join() !== a.shape.join() || e.dtype !== a.dtype) {
      return {
        maxError: Number.POSITIVE_INFINITY,
        message: `output ${k} is [${a.shape}] ${a.dtype}, expected [${e.shape}] ${e.dtype}`,
      };
    }
    for (let i = 0; i < e.values.length; i++) {
      const ev = e.values[i]!;
      const av = a.values[i]!;
      if (Number.isNaN(ev) && Number.isNaN(av)) continue;
      if (ev === av) continue;
      const error = Math.abs(av - ev);
      if (!(error <= atol + rtol * Math.abs(ev))) {
        return { maxError: error, message: `output ${k} element ${i} is ${av}, expected ${ev}` };
      }
      maxError = Math.max(maxError, error);
    }
  }
  return { maxError };
}

/**
 * Runs every conformance case on `backend` and on the reference backend and compares the results.
 * Ops in `lacks` are skipped: the explicit list of what the backend does not implement; so are
 * cases needing a dtype the backend does not declare.
 */
export function runConformance(
  backend: string,
  options: { lacks?: readonly string[]; cases?: readonly ConformanceCase[] } = {},
): ConformanceResult[] {
  const lacks = new Set(options.lacks ?? []);
  return (options.cases ?? conformanceCases()).map((c) => {
    if (lacks.has(c.op)) return { name: c.name, op: c.op, status: 'skipped' };
    try {
      const expected = withBackend('reference', () => evaluate(c.build));
      const actual = withBackend(backend, () => evaluate(c.build));
      const { maxError, message } = compare(expected, actual, c.atol ?? 1e-5, c.rtol ?? 1e-4);
      return message === undefined
        ? { name: c.name, op: c.op, status: 'pass', maxError }
        : { name: c.name, op: c.op, status: 'fail', maxError, message };
    } catch (error) {
      // A dtype the backend does not declare is a capability it lacks, not a wrong answer.
      const unsupported = error instanceof SlimlmError && error.code === 'UNSUPPORTED_DTYPE';
      return {
        name: c.name,
        op: c.op,
        status: unsupported ? 'skipped' : 'fail',
        message: (error as Error).message,
      };
    }
  });
}
