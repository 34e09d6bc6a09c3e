import { SlimlmError } from '@slimlm/core';
import { expect } from 'vitest';

/** The SlimlmError `fn` throws; fails the test when it throws anything else or nothing. */
export function thrown(fn: () => unknown): SlimlmError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SlimlmError);
    return error as SlimlmError;
  }
  throw new Error('expected an error');
}

/** The SlimlmError `promise` rejects with; fails the test when it rejects otherwise or resolves. */
export async function rejection(promise: Promise<unknown>): Promise<SlimlmError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SlimlmError);
    return error as SlimlmError;
  }
  throw new Error('expected a rejection');
}

/** Expects `fn` to throw a SlimlmError with `code` whose message matches every part. */
export function expectError(fn: () => unknown, code: string, ...parts: (string | RegExp)[]): void {
  const error = thrown(fn);
  expect(error.code, error.message).toBe(code);
  for (const part of parts) expect(error.message).toMatch(part);
}
