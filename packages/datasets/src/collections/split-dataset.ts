import { SlimlmError } from '@slimlm/core';
import { shuffle } from './shuffle';

export interface SplitOptions {
  /** A fraction in [0, 1) of the items, or a whole number of them. Default 0. */
  validation?: number;
  /** A fraction in [0, 1) of the items, or a whole number of them. Default 0. */
  test?: number;
  seed: number;
}

export interface DatasetSplits<T> {
  train: T[];
  validation: T[];
  test: T[];
}

/**
 * Seeded train/validation/test splits: the items are shuffled with the seed, then the first
 * `test` go to test, the next `validation` to validation, the rest to train. A fraction f takes
 * ceil(f·n) items, as Hugging Face's train_test_split sizes its test set.
 */
export function splitDataset<T>(items: readonly T[], options: SplitOptions): DatasetSplits<T> {
  const n = items.length;
  const count = (name: 'validation' | 'test') => {
    const size = options[name] ?? 0;
    if (Number.isSafeInteger(size) && size >= 0) return size;
    if (size > 0 && size < 1) return Math.ceil(size * n);
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `splitDataset: ${name} must be a fraction in [0, 1) or a whole number of items, got ${size}`,
    );
  };
  const test = count('test');
  const validation = count('validation');
  if (test + validation > n) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `splitDataset: ${test} test and ${validation} validation items are more than the ${n} given`,
    );
  }
  const order = shuffle(items, options.seed);
  return {
    test: order.slice(0, test),
    validation: order.slice(test, test + validation),
    train: order.slice(test + validation),
  };
}
