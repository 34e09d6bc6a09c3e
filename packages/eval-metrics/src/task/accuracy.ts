import { checkPairs, meanOfBest, type Reference } from './references';

/**
 * The fraction of predictions equal to their reference (to any of them, when several are
 * acceptable), compared as given apart from leading and trailing whitespace: for labels
 * ("positive", "B", "yes"). Use `exactMatch` for free-form answers.
 */
export function accuracy(predictions: readonly string[], references: readonly Reference[]): number {
  checkPairs('accuracy', predictions, references);
  return meanOfBest(predictions, references, (p, r) => (p.trim() === r.trim() ? 1 : 0));
}
