import { checkPairs, meanOfBest, type Reference } from './references';

/** Python's string.punctuation, which SQuAD's normaliser removes (ASCII only). */
const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
/** `\b(a|an|the)\b` with Python's Unicode word characters (JavaScript's \b knows ASCII only). */
const ARTICLES = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu;

/**
 * SQuAD's answer normalisation (the official evaluate script, v1.1 and v2.0): lower case, remove
 * punctuation, remove the articles a/an/the, collapse whitespace.
 */
export function normalizeAnswer(text: string): string {
  const lowered = text.toLowerCase().replace(PUNCTUATION, '');
  return lowered.replace(ARTICLES, ' ').split(/\s+/u).filter(Boolean).join(' ');
}

/** SQuAD exact match: the mean over examples of normalize(prediction) == normalize(answer), best answer. */
export function exactMatch(
  predictions: readonly string[],
  references: readonly Reference[],
): number {
  checkPairs('exactMatch', predictions, references);
  return meanOfBest(predictions, references, (p, r) =>
    normalizeAnswer(p) === normalizeAnswer(r) ? 1 : 0,
  );
}

/**
 * SQuAD token F1: bag-of-tokens overlap of the normalised texts, F1 = 2PR / (P + R), the best
 * answer per example, averaged. As SQuAD v2.0 scores it, an empty text scores 1 against an empty
 * one and 0 against anything else.
 */
export function tokenF1(predictions: readonly string[], references: readonly Reference[]): number {
  checkPairs('tokenF1', predictions, references);
  return meanOfBest(predictions, references, f1OfPair);
}

function f1OfPair(prediction: string, answer: string): number {
  const predicted = tokens(prediction);
  const expected = tokens(answer);
  if (predicted.length === 0 || expected.length === 0) {
    return predicted.length === expected.length ? 1 : 0;
  }
  const counts = new Map<string, number>();
  for (const token of expected) counts.set(token, (counts.get(token) ?? 0) + 1);
  let same = 0;
  for (const token of predicted) {
    const left = counts.get(token) ?? 0;
    if (left > 0) {
      same++;
      counts.set(token, left - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / predicted.length;
  const recall = same / expected.length;
  return (2 * precision * recall) / (precision + recall);
}

function tokens(text: string): string[] {
  const normalized = normalizeAnswer(text);
  return normalized === '' ? [] : normalized.split(' ');
}
