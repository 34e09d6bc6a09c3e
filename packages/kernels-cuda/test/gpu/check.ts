import assert from 'node:assert/strict';
import { scope, type Tensor, toBackend } from '@slimlm/core';

/**
 * One check that needs a GPU. The same checks run under vitest (test/gpu.test.ts, skipped with
 * the reason where there is no GPU) and in the device bundle (scripts/device-tests.ts), which
 * carries them to a GPU machine without node_modules; so they assert with node:assert.
 */
export interface GpuCheck {
  name: string;
  run: () => void | Promise<void>;
}

/** max |actual - expected| / max |expected| (0 when both are all zero): the error of a product. */
export function normalizedError(actual: Tensor, expected: Tensor): number {
  assert.deepEqual(actual.shape, expected.shape);
  const a = actual.dataSync();
  const e = expected.dataSync();
  let worst = 0;
  let largest = 0;
  for (let i = 0; i < e.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - e[i]!));
    largest = Math.max(largest, Math.abs(e[i]!));
  }
  if (Number.isNaN(worst)) return Number.POSITIVE_INFINITY;
  return largest === 0 ? worst : worst / largest;
}

/** Asserts the error is within `tolerance`, naming the case. */
export function assertClose(
  actual: Tensor,
  expected: Tensor,
  tolerance: number,
  what: string,
): void {
  const error = normalizedError(actual, expected);
  assert.ok(error <= tolerance, `${what}: error ${error.toExponential(2)} above ${tolerance}`);
}

/** A copy of `t` on the cuda backend (t stays where it is). */
export function onCuda(t: Tensor): Tensor {
  return toBackend(t, 'cuda');
}

/** Runs `fn` in a scope (so that every tensor it makes is freed). */
export function scoped(fn: () => void): () => void {
  return () => scope(fn);
}
