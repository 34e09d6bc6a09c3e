import { checkPairs, meanOfBest, type Reference } from './references';

/**
 * rouge-score's tokenizer without stemming (its default): lower case, every run of characters
 * other than a–z and 0–9 becomes a space, split on whitespace.
 */
function rougeTokens(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .split(/\s+/)
    .filter((token) => token !== '');
}

/** Length of the longest common subsequence of two token lists (one row of the DP table at a time). */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  let previous = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const current = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) {
      current[j] =
        a[i - 1] === b[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, current[j - 1]!);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** rouge-score's rougeL F-measure of one pair: LCS / |prediction| and LCS / |reference|. */
function rougeLOfPair(prediction: string, reference: string): number {
  const predicted = rougeTokens(prediction);
  const expected = rougeTokens(reference);
  if (predicted.length === 0 || expected.length === 0) return 0;
  const lcs = lcsLength(expected, predicted);
  const precision = lcs / predicted.length;
  const recall = lcs / expected.length;
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/**
 * ROUGE-L F-measure as Google's rouge-score computes it (`RougeScorer(['rougeL'])`, no stemmer):
 * per example the LCS of the two token lists gives precision LCS/|prediction| and recall
 * LCS/|reference|, F = 2PR / (P + R), 0 when either text has no token; with several references
 * the best F (as `score_multi`); averaged over the examples (in [0, 1]).
 */
export function rougeL(predictions: readonly string[], references: readonly Reference[]): number {
  checkPairs('rougeL', predictions, references);
  return meanOfBest(predictions, references, rougeLOfPair);
}
