import { SlimlmError } from '@slimlm/core';

export interface LengthFilter<T> {
  /** Keep items at least this long. */
  min?: number;
  /** Keep items at most this long. */
  max?: number;
  /** An item's length; default its `inputIds.length`. */
  length?: (item: T) => number;
}

/** The items whose length lies within [min, max], in order. */
export function filterByLength<T>(items: readonly T[], filter: LengthFilter<T>): T[] {
  const { min = 0, max = Number.POSITIVE_INFINITY } = filter;
  if (!(min >= 0) || !(max >= min)) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `filterByLength: expected 0 ≤ min ≤ max, got min ${filter.min}, max ${filter.max}`,
    );
  }
  const length =
    filter.length ??
    ((item: T) => {
      const ids = (item as { inputIds?: unknown }).inputIds;
      if (!Array.isArray(ids)) {
        throw new SlimlmError(
          'INVALID_ARGUMENT',
          'filterByLength: items have no inputIds; pass length: (item) => its length',
        );
      }
      return ids.length;
    });
  return items.filter((item) => {
    const n = length(item);
    return n >= min && n <= max;
  });
}
