import { SlimlmError } from '@slimlm/core';

/** The expected answer of one example: one string, or several acceptable ones. */
export type Reference = string | readonly string[];

/** Every acceptable answer of a reference, as a list. */
export function referenceList(reference: Reference): readonly string[] {
  return typeof reference === 'string' ? [reference] : reference;
}

/**
 * Checks that predictions and references pair up one to one, are strings, and that no example is
 * left without a reference; `metric` names the function in the error.
 */
export function checkPairs(
  metric: string,
  predictions: readonly string[],
  references: readonly Reference[],
): void {
  const invalid = (message: string) => new SlimlmError('INVALID_ARGUMENT', `${metric}: ${message}`);
  if (!Array.isArray(predictions) || !Array.isArray(references)) {
    throw invalid('predictions and references must be arrays');
  }
  if (predictions.length !== references.length) {
    throw invalid(
      `${predictions.length} predictions for ${references.length} references: give one prediction per reference`,
    );
  }
  if (predictions.length === 0) throw invalid('no examples to score');
  for (const [i, prediction] of predictions.entries()) {
    if (typeof prediction !== 'string') {
      throw invalid(`prediction ${i} is ${typeof prediction}, expected a string`);
    }
    const answers = referenceList(references[i]!);
    if (answers.length === 0 || answers.some((a) => typeof a !== 'string')) {
      throw invalid(`reference ${i} must be a string or a non-empty array of strings`);
    }
  }
}

/** The mean over examples of the best score against any acceptable answer. */
export function meanOfBest(
  predictions: readonly string[],
  references: readonly Reference[],
  score: (prediction: string, answer: string) => number,
): number {
  let sum = 0;
  for (const [i, prediction] of predictions.entries()) {
    sum += Math.max(...referenceList(references[i]!).map((answer) => score(prediction, answer)));
  }
  return sum / predictions.length;
}
