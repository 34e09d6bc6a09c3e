import type { Generator } from '@slimlm/core';
import { softmax } from './logits-processors';

/** Greedy choice: the highest score, ties to the lowest id (as torch.argmax). */
export function argmax(scores: Float32Array): number {
  let best = 0;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < scores.length; i++) {
    if (scores[i]! > bestScore) {
      bestScore = scores[i]!;
      best = i;
    }
  }
  return best;
}

/**
 * One draw from softmax(scores) (as torch.multinomial on the probabilities): a uniform number
 * from `generator` picks a token along the cumulative distribution, in id order. Tokens at
 * -Infinity are never drawn.
 */
export function sample(scores: Float32Array, generator: Generator): number {
  const probabilities = softmax(scores);
  const target = generator.nextFloat();
  let cumulative = 0;
  let last = -1;
  for (let i = 0; i < probabilities.length; i++) {
    const p = probabilities[i]!;
    if (p === 0) continue;
    cumulative += p;
    last = i;
    if (target < cumulative) return i;
  }
  // Rounding can leave the total a hair below 1: the draw then falls on the last possible token.
  return last >= 0 ? last : argmax(scores);
}
