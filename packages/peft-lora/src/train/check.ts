import { SlimlmError } from '@slimlm/core';

/** An INVALID_ARGUMENT error that names where it happened. */
export function invalidArgument(where: string, message: string): SlimlmError {
  return new SlimlmError('INVALID_ARGUMENT', `${where}: ${message}`);
}

/** `value` when it is an integer >= `min`; throws naming the option otherwise. */
export function checkInteger(where: string, name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw invalidArgument(where, `${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/** `value` when it is a finite number in [min, max]; throws naming the option otherwise. */
export function checkNumber(
  where: string,
  name: string,
  value: number,
  min: number,
  max = Number.POSITIVE_INFINITY,
): number {
  if (!(typeof value === 'number' && value >= min && value <= max && !Number.isNaN(value))) {
    throw invalidArgument(where, `${name} must be a number in [${min}, ${max}], got ${value}`);
  }
  return value;
}
