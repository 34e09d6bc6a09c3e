import { Generator } from '@slimlm/core';

/**
 * A 32-bit seed derived from `seed` and a path of integers (epoch, step, micro-batch): every
 * random draw of a run is a function of where it happens, so a resumed run draws exactly what an
 * uninterrupted one would, without saving any generator state.
 */
export function deriveSeed(seed: number, ...path: readonly number[]): number {
  let h = seed >>> 0;
  for (const part of path) {
    // One splitmix32-style round per part: distinct paths give unrelated seeds.
    h = (h + 0x9e3779b9 + (part >>> 0)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/** 0..count-1 in a seeded random order (Fisher-Yates). */
export function shuffledIndices(count: number, seed: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  const generator = new Generator(seed);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(generator.nextFloat() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}
