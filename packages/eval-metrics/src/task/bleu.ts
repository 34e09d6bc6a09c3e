import { checkPairs, type Reference, referenceList } from './references';

const MAX_ORDER = 4;

/** sacrebleu's BLEUScore fields, under their meaning. */
export interface BleuResult {
  /** Corpus BLEU-4 on sacrebleu's 0–100 scale. */
  score: number;
  /** Modified n-gram precisions for n = 1..4, in percent (smoothed as sacrebleu's 'exp'). */
  precisions: number[];
  /** Brevity penalty: 1 when the output is at least as long as the references, else exp(1 − r/c). */
  brevityPenalty: number;
  /** Hypothesis tokens (c) over reference tokens (r). */
  ratio: number;
  hypothesisLength: number;
  referenceLength: number;
  /** Clipped matching n-grams for n = 1..4. */
  matches: number[];
  /** Hypothesis n-grams for n = 1..4. */
  totals: number[];
}

/** mteval-v13a's punctuation: { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ / */
const SYMBOLS = /([{-~[-` -&(-+:-@/])/g;

/**
 * sacrebleu's default '13a' tokenizer (mteval-v13a.pl, as used by WMT): drops `<skipped>`, joins
 * hyphenated line breaks, unescapes &quot; &amp; &lt; &gt;, splits off punctuation, splits periods
 * and commas unless between digits, splits a dash after a digit, and collapses whitespace.
 */
export function tokenize13a(text: string): string {
  let line = text
    .replaceAll('<skipped>', '')
    .replaceAll('-\n', '')
    .replaceAll('\n', ' ')
    .replaceAll('&quot;', '"')
    .replaceAll('&amp;', '&')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>');
  line = ` ${line} `
    .replace(SYMBOLS, ' $1 ')
    .replace(/([^0-9])([.,])/g, '$1 $2 ')
    .replace(/([.,])([^0-9])/g, ' $1 $2')
    .replace(/([0-9])(-)/g, '$1 $2 ');
  return line.trim().split(/\s+/u).filter(Boolean).join(' ');
}

/**
 * Corpus BLEU-4 exactly as sacrebleu's `corpus_bleu` computes it by default: each segment is
 * right-stripped and tokenized with '13a' (case kept); clipped n-gram matches (n = 1..4, against
 * the per-n-gram maximum count over the example's references) and hypothesis n-gram counts are
 * summed over the corpus; the reference length of a segment is the reference length closest to
 * the hypothesis length (the shorter on ties); precisions use the 'exp' smoothing (a zero count
 * at order n counts as 1 / 2^k of the n-grams, k the number of zero orders so far); the brevity
 * penalty is exp(1 − r/c) when c < r. No match at all scores 0.
 */
export function bleu(predictions: readonly string[], references: readonly Reference[]): BleuResult {
  checkPairs('bleu', predictions, references);
  const matches = new Array<number>(MAX_ORDER).fill(0);
  const totals = new Array<number>(MAX_ORDER).fill(0);
  let hypothesisLength = 0;
  let referenceLength = 0;
  for (const [i, prediction] of predictions.entries()) {
    const hypothesis = words(prediction);
    const answers = referenceList(references[i]!).map(words);
    const maxReferenceCounts = new Map<string, number>();
    for (const answer of answers) {
      for (const [gram, count] of ngramCounts(answer)) {
        maxReferenceCounts.set(gram, Math.max(maxReferenceCounts.get(gram) ?? 0, count));
      }
    }
    for (const [gram, count] of ngramCounts(hypothesis)) {
      const order = gram.split(' ').length - 1;
      totals[order]! += count;
      matches[order]! += Math.min(count, maxReferenceCounts.get(gram) ?? 0);
    }
    hypothesisLength += hypothesis.length;
    referenceLength += closestLength(
      hypothesis.length,
      answers.map((a) => a.length),
    );
  }
  return bleuFromCounts(matches, totals, hypothesisLength, referenceLength);
}

function bleuFromCounts(
  matches: number[],
  totals: number[],
  hypothesisLength: number,
  referenceLength: number,
): BleuResult {
  let brevityPenalty = 1;
  if (hypothesisLength < referenceLength) {
    brevityPenalty = hypothesisLength > 0 ? Math.exp(1 - referenceLength / hypothesisLength) : 0;
  }
  const precisions = new Array<number>(MAX_ORDER).fill(0);
  const ratio = referenceLength > 0 ? hypothesisLength / referenceLength : 0;
  const result = { brevityPenalty, ratio, hypothesisLength, referenceLength, matches, totals };
  if (matches.every((m) => m === 0)) return { score: 0, precisions, ...result };
  let smoothing = 1;
  for (let n = 0; n < MAX_ORDER; n++) {
    // An order the hypotheses are too short to have keeps precision 0, and so the score 0.
    if (totals[n] === 0) break;
    if (matches[n] === 0) {
      smoothing *= 2;
      precisions[n] = 100 / (smoothing * totals[n]!);
    } else {
      precisions[n] = (100 * matches[n]!) / totals[n]!;
    }
  }
  if (precisions.some((p) => p === 0)) return { score: 0, precisions, ...result };
  const logMean = precisions.reduce((sum, p) => sum + Math.log(p), 0) / MAX_ORDER;
  return { score: brevityPenalty * Math.exp(logMean), precisions, ...result };
}

function words(text: string): string[] {
  const tokenized = tokenize13a(text.trimEnd());
  return tokenized === '' ? [] : tokenized.split(' ');
}

/** n-grams of orders 1..4 keyed by their space-joined tokens (tokens hold no spaces). */
function ngramCounts(tokens: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (let n = 1; n <= MAX_ORDER; n++) {
    for (let i = 0; i + n <= tokens.length; i++) {
      const gram = tokens.slice(i, i + n).join(' ');
      counts.set(gram, (counts.get(gram) ?? 0) + 1);
    }
  }
  return counts;
}

/** The reference length closest to the hypothesis length, the shorter one on ties. */
function closestLength(hypothesisLength: number, lengths: readonly number[]): number {
  let best = lengths[0]!;
  for (const length of lengths) {
    const distance = Math.abs(hypothesisLength - length);
    const bestDistance = Math.abs(hypothesisLength - best);
    if (distance < bestDistance || (distance === bestDistance && length < best)) best = length;
  }
  return best;
}
