import { Generator, SlimlmError } from '@slimlm/core';

export interface MixSource<T> {
  items: readonly T[];
  /** Relative probability of drawing from this source; default 1. */
  weight?: number;
}

export interface MixOptions {
  seed: number;
  /**
   * When to stop: as soon as one source runs out ('first-exhausted', default), or once every
   * source has been used up at least once, restarting those that run out before ('all-exhausted').
   * The names and behaviour are Hugging Face's interleave_datasets stopping strategies.
   */
  stop?: 'first-exhausted' | 'all-exhausted';
  /** Stop after this many items in any case. */
  size?: number;
}

/**
 * Multi-task mixing: interleaves several datasets by drawing, at each step, a source with
 * probability proportional to its weight and taking its next item (each source's own order is
 * kept). Seeded, so the same seed gives the same mixture.
 */
export function mixDatasets<T>(sources: readonly MixSource<T>[], options: MixOptions): T[] {
  if (sources.length === 0) throw new SlimlmError('INVALID_ARGUMENT', 'mixDatasets: no sources');
  const weights = sources.map((source, i) => {
    const weight = source.weight ?? 1;
    if (!(weight >= 0) || !Number.isFinite(weight)) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `mixDatasets: source ${i} has weight ${weight}; weights are finite numbers ≥ 0`,
      );
    }
    if (weight > 0 && source.items.length === 0) {
      throw new SlimlmError('INVALID_ARGUMENT', `mixDatasets: source ${i} has no items`);
    }
    return weight;
  });
  const total = weights.reduce((a, b) => a + b, 0);
  if (total === 0) throw new SlimlmError('INVALID_ARGUMENT', 'mixDatasets: every weight is 0');
  const stop = options.stop ?? 'first-exhausted';
  if (stop !== 'first-exhausted' && stop !== 'all-exhausted') {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `mixDatasets: stop must be 'first-exhausted' or 'all-exhausted', got '${String(stop)}'`,
    );
  }
  const size = options.size ?? Number.POSITIVE_INFINITY;
  const generator = new Generator(options.seed);
  const next = sources.map(() => 0);
  // Sources drawn with weight 0 never run out; they do not hold 'all-exhausted' back.
  const exhausted = weights.map((w) => w === 0);
  const mixed: T[] = [];
  while (mixed.length < size) {
    const index = pick(weights, total, generator.nextFloat());
    const source = sources[index]!.items;
    mixed.push(source[next[index]!]!);
    next[index]!++;
    if (next[index] === source.length) {
      exhausted[index] = true;
      if (stop === 'first-exhausted' || exhausted.every(Boolean)) break;
      next[index] = 0;
    }
  }
  return mixed;
}

/** The index whose cumulative-weight interval holds u·total. */
function pick(weights: readonly number[], total: number, u: number): number {
  let target = u * total;
  for (const [i, weight] of weights.entries()) {
    if (target < weight) return i;
    target -= weight;
  }
  return weights.findLastIndex((w) => w > 0);
}
