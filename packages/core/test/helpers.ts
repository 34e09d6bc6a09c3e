// Helpers shared by the core test files. Not a test file itself (vitest only collects *.test.ts).
import { afterEach, beforeEach, expect } from 'vitest';
import { type DType, Generator, memory, SlimlmError, type Tensor, tensor } from '../src/index';
import type { GradcheckResult } from '../src/testing/index';

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** `count` seeded draws from a normal distribution with standard deviation `scale`. */
export function normalValues(count: number, seed: number, scale = 1): number[] {
  const g = new Generator(seed);
  return Array.from({ length: count }, () => scale * g.nextNormal());
}

/** A tensor of seeded standard-normal values (times `scale`); f64 unless `dtype` says otherwise. */
export function normals(
  shape: readonly number[],
  seed: number,
  { scale = 1, dtype = 'f64' }: { scale?: number; dtype?: DType } = {},
): Tensor {
  const values = normalValues(sizeOf(shape), seed, scale);
  return dtype === 'f64'
    ? tensor(Float64Array.from(values), { shape })
    : tensor(values, { shape, dtype });
}

/** An f64 tensor of seeded values uniform in [low, high). */
export function uniform(shape: readonly number[], seed: number, low = -2, high = 2): Tensor {
  const g = new Generator(seed);
  return tensor(
    Float64Array.from({ length: sizeOf(shape) }, () => low + (high - low) * g.nextFloat()),
    { shape },
  );
}

/** An f64 tensor holding `values`. */
export function f64(values: readonly number[], shape: readonly number[] = [values.length]): Tensor {
  return tensor(Float64Array.from(values), { shape });
}

/** An f64 leaf that requires a gradient. */
export function leaf(
  values: readonly number[],
  shape: readonly number[] = [values.length],
): Tensor {
  const t = f64(values, shape);
  t.requiresGrad = true;
  return t;
}

/** A tensor's elements in row-major order, as plain numbers; fails on a missing tensor. */
export function valuesOf(t: Tensor | null | undefined): number[] {
  if (!t) throw new Error(`valuesOf: expected a tensor, got ${t}`);
  return Array.from(t.dataSync());
}

export interface Tolerance {
  /** Allowed error relative to |expected|. */
  rtol?: number;
  /** Allowed absolute error. */
  atol?: number;
}

/** |actual - expected| <= 1e-12 * (1 + |expected|): f64 results against a plain-loop reference. */
export const F64_TOLERANCE: Tolerance = { rtol: 1e-12, atol: 1e-12 };

/**
 * Expects equal lengths and, element by element, |actual - expected| <= atol + rtol * |expected|
 * (both default to 0). A NaN expected needs a NaN; an infinite one needs the same infinity.
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 0, atol = 0 }: Tolerance,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) {
      expect(a, `element ${i}`).toBeNaN();
    } else if (!Number.isFinite(e)) {
      expect(a, `element ${i}`).toBe(e);
    } else if (a !== e) {
      expect(Math.abs(a - e), `element ${i}: ${a} vs ${e}`).toBeLessThanOrEqual(
        atol + rtol * Math.abs(e),
      );
    }
  }
}

/** Expects a gradcheck that passed and compared at least one element. */
export function expectGradOk(result: GradcheckResult): void {
  expect(result.ok, JSON.stringify(result.worst)).toBe(true);
  expect(result.checked).toBeGreaterThan(0);
}

/** The SlimlmError that `fn` throws; fails if it throws nothing, rethrows anything else. */
export function errorOf(fn: () => unknown): SlimlmError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SlimlmError) return error;
    throw error;
  }
  throw new Error('expected a SlimlmError, nothing was thrown');
}

/** Runs `fn` and expects as many live tensors on the reference backend afterwards as before. */
export function expectNoLeak<T>(fn: () => T): T {
  const before = memory('reference').tensors;
  const result = fn();
  expect(memory('reference').tensors).toBe(before);
  return result;
}

/**
 * Registers beforeEach/afterEach hooks that fail every test of the file which changes the number
 * of live tensors on the reference backend (and, with `bytes`, the live bytes).
 */
export function trackLeaks({ bytes = false }: { bytes?: boolean } = {}): void {
  let before = memory('reference');
  beforeEach(() => {
    before = memory('reference');
  });
  afterEach(() => {
    const after = memory('reference');
    expect(after.tensors).toBe(before.tensors);
    if (bytes) expect(after.bytes).toBe(before.bytes);
  });
}
