import { Generator } from '@slimlm/core';

/** A seeded Fisher–Yates shuffle (a new array): the same seed gives the same order everywhere. */
export function shuffle<T>(items: readonly T[], seed: number): T[] {
  return shuffleWith(items, new Generator(seed));
}

/** The Fisher–Yates shuffle drawing from `generator`: from the last position down, swap with a uniform earlier-or-same one. */
export function shuffleWith<T>(items: readonly T[], generator: Generator): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(generator.nextFloat() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
