import { SlimlmError } from '@slimlm/core';
import { describe, expect, test } from 'vitest';
import {
  accuracy,
  bleu,
  exactMatch,
  normalizeAnswer,
  rougeL,
  tokenF1,
  tokenize13a,
} from '../src/index';

describe('SQuAD exact match and token F1', () => {
  test('normalisation: lower case, no punctuation, no articles, single spaces', () => {
    expect(normalizeAnswer('  The  Eiffel Tower! ')).toBe('eiffel tower');
    expect(normalizeAnswer('An apple a day')).toBe('apple day');
    expect(normalizeAnswer('the theatre, then A-team')).toBe('theatre then ateam');
    // Python's \b is Unicode-aware: "the" glued to a letter such as é is no article.
    expect(normalizeAnswer('éthe the café')).toBe('éthe café');
    expect(normalizeAnswer('the_end')).toBe('theend');
  });

  test('against answers worked out by hand, the best of several references', () => {
    const predictions = ['The Eiffel Tower', 'Paris, France', '1889'];
    const references = ['Eiffel Tower', ['Paris', 'France'], 'in 1889'];
    expect(exactMatch(predictions, references)).toBeCloseTo(1 / 3, 12);
    // 1; "paris france" vs "paris": P ½ R 1 → ⅔; "1889" vs "in 1889": P 1 R ½ → ⅔.
    expect(tokenF1(predictions, references)).toBeCloseTo((1 + 2 / 3 + 2 / 3) / 3, 12);
    // Repeated tokens are matched once per occurrence: "x y y" vs "y y z" share 2 of 3 and 3.
    expect(tokenF1(['x y y'], ['y y z'])).toBeCloseTo(2 / 3, 12);
  });

  test('empty answers score as SQuAD v2.0 scores them', () => {
    expect(tokenF1([''], [''])).toBe(1);
    expect(tokenF1(['the'], ['an'])).toBe(1);
    expect(tokenF1(['a'], ['x'])).toBe(0);
    expect(exactMatch([''], ['the'])).toBe(1);
  });
});

describe('accuracy', () => {
  test('labels compared as given, apart from surrounding whitespace', () => {
    expect(
      accuracy(
        ['positive ', 'negative', 'Positive'],
        ['positive', ['neutral', 'negative'], 'positive'],
      ),
    ).toBeCloseTo(2 / 3, 12);
  });
});

describe("BLEU as sacrebleu's corpus_bleu computes it", () => {
  test('the 13a tokenizer', () => {
    expect(tokenize13a('Hello, world!')).toBe('Hello , world !');
    expect(tokenize13a('It costs $3.50, or 3,000 yen.')).toBe('It costs $ 3.50 , or 3,000 yen .');
    expect(tokenize13a('well-known 1990-2000')).toBe('well-known 1990 - 2000');
    expect(tokenize13a('Tom &amp; Jerry &quot;live&quot;<skipped>')).toBe('Tom & Jerry " live "');
    expect(tokenize13a('line-\nbreak\nand (brackets)')).toBe('linebreak and ( brackets )');
  });

  test('one segment: clipped precisions with exp smoothing of the empty 4-gram order', () => {
    // 1-grams 5/6, 2-grams 3/5, 3-grams 1/4, 4-grams 0/3 → 100 / (2·3); equal lengths, BP 1.
    const result = bleu(['the cat sat on the mat'], ['the cat is on the mat']);
    expect(result.matches).toEqual([5, 3, 1, 0]);
    expect(result.totals).toEqual([6, 5, 4, 3]);
    expect(result.brevityPenalty).toBe(1);
    const precisions = [(100 * 5) / 6, 60, 25, 100 / 6];
    for (const [n, p] of result.precisions.entries()) expect(p).toBeCloseTo(precisions[n]!, 10);
    const expected = Math.exp(precisions.reduce((s, p) => s + Math.log(p), 0) / 4);
    expect(result.score).toBeCloseTo(expected, 10);
    expect(result.score).toBeCloseTo(37.9918, 3);
  });

  test('a corpus: counts summed over segments, brevity penalty from the total lengths', () => {
    // "Hello , world !" vs "Hello , big world !": 4/4, 2/3, 0/2, 0/1; lengths 4 and 5.
    const result = bleu(
      ['the cat sat on the mat', 'Hello, world!'],
      ['the cat is on the mat', 'Hello, big world!'],
    );
    expect(result.matches).toEqual([9, 5, 1, 0]);
    expect(result.totals).toEqual([10, 8, 6, 4]);
    expect(result.hypothesisLength).toBe(10);
    expect(result.referenceLength).toBe(11);
    expect(result.brevityPenalty).toBeCloseTo(Math.exp(1 - 11 / 10), 12);
    const precisions = [90, 62.5, 100 / 6, 100 / (2 * 4)];
    const expected =
      Math.exp(1 - 11 / 10) * Math.exp(precisions.reduce((s, p) => s + Math.log(p), 0) / 4);
    expect(result.score).toBeCloseTo(expected, 10);
  });

  test('several references: per-n-gram maximum counts, the closest length (shorter on ties)', () => {
    // Hypothesis of 4 tokens; references of 3 and 5 tokens are equally close: 3 is used, BP 1.
    // "a b c" comes from the first reference, "b c d" from the second; no reference has the
    // 4-gram, smoothed to 100 / (2·1).
    const result = bleu(['a b c d'], [['a b c', 'x b c d e']]);
    expect(result.referenceLength).toBe(3);
    expect(result.brevityPenalty).toBe(1);
    expect(result.matches).toEqual([4, 3, 2, 0]);
    expect(result.score).toBeCloseTo(Math.exp((3 * Math.log(100) + Math.log(50)) / 4), 10);
    expect(bleu(['a b c d'], ['a b c d']).score).toBeCloseTo(100, 10);
  });

  test('no match, or hypotheses too short for 4-grams, score 0', () => {
    expect(bleu(['x y z w'], ['a b c d']).score).toBe(0);
    expect(bleu(['a b c'], ['a b c']).score).toBe(0);
    expect(bleu([''], ['a b']).brevityPenalty).toBe(0);
  });
});

describe("ROUGE-L as rouge-score's LCS F-measure", () => {
  test('against LCS lengths worked out by hand', () => {
    // LCS "the cat on the mat" = 5 of 6 and 6; "police the gunman" = 3 of 4 and 4.
    expect(rougeL(['The cat sat on the mat.'], ['the cat is on the mat'])).toBeCloseTo(5 / 6, 12);
    expect(
      rougeL(
        ['The cat sat on the mat.', 'police killed the gunman'],
        ['the cat is on the mat', 'police kill the gunman'],
      ),
    ).toBeCloseTo((5 / 6 + 3 / 4) / 2, 12);
    // Unequal lengths: LCS 2 of 2 and 5 → P 1, R 0.4, F 2·0.4/1.4.
    expect(rougeL(['b d'], ['a b c d e'])).toBeCloseTo(0.8 / 1.4, 12);
  });

  test("tokens are rouge-score's: a-z and 0-9 runs only, lower case", () => {
    expect(rougeL(["It's 3:00 — café"], ['it s 3 00 caf'])).toBeCloseTo(1, 12);
    expect(rougeL(['...'], ['anything'])).toBe(0);
    expect(rougeL(['a b'], [['x', 'b a', 'a b c']])).toBeCloseTo(0.8, 12);
  });
});

describe('bad input', () => {
  test('is an INVALID_ARGUMENT naming the metric and the problem', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => exactMatch(['a'], ['a', 'b']), /exactMatch: 1 predictions for 2 references/],
      [() => tokenF1([], []), /tokenF1: no examples to score/],
      [() => bleu(['a'], [[]]), /bleu: reference 0 must be a string or a non-empty array/],
      [() => rougeL([3 as never], ['a']), /rougeL: prediction 0 is number, expected a string/],
      [() => accuracy('a' as never, ['a']), /accuracy: predictions and references must be arrays/],
    ];
    for (const [run, pattern] of cases) {
      let error: unknown;
      try {
        run();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SlimlmError);
      expect((error as SlimlmError).code).toBe('INVALID_ARGUMENT');
      expect((error as Error).message).toMatch(pattern);
    }
  });
});
