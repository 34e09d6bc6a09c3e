import type { SlimlmError } from '@slimlm/core';
import { describe, expect, test } from 'vitest';
import { forgettingReport, forgettingTable } from '../src/index';

describe('forgettingReport', () => {
  test('task learned, general text forgotten: catastrophic forgetting', () => {
    const report = forgettingReport(
      { perplexity: { 'wikitext-2': 100, c4: { ppl: 200 } }, task: { exactMatch: 0.1, bleu: 5 } },
      { perplexity: { 'wikitext-2': 125, c4: { ppl: 201 } }, task: { exactMatch: 0.6, bleu: 30 } },
    );
    expect(report.rows).toEqual([
      {
        kind: 'perplexity',
        name: 'wikitext-2',
        before: 100,
        after: 125,
        change: 25,
        relativeChange: 0.25,
        improved: false,
      },
      {
        kind: 'perplexity',
        name: 'c4',
        before: 200,
        after: 201,
        change: 1,
        relativeChange: 0.005,
        improved: false,
      },
      {
        kind: 'task',
        name: 'exactMatch',
        before: 0.1,
        after: 0.6,
        change: 0.5,
        relativeChange: 5,
        improved: true,
      },
      {
        kind: 'task',
        name: 'bleu',
        before: 5,
        after: 30,
        change: 25,
        relativeChange: 5,
        improved: true,
      },
    ]);
    expect(report.forgetting).toBe(true);
    expect(report.learned).toBe(true);
    expect(report.summary).toBe(
      'general-text perplexity wikitext-2 100.00 → 125.00 (+25.0%), c4 200.00 → 201.00 (+0.5%); task exactMatch 0.100 → 0.600, bleu 5.000 → 30.000: catastrophic forgetting: the task was learned at the cost of general text',
    );
    expect(forgettingTable(report).split('\n')).toEqual([
      '| kind | metric | before | after | change | better? |',
      '| --- | --- | ---: | ---: | --- | --- |',
      '| perplexity | wikitext-2 | 100 | 125 | +25.0% | no |',
      '| perplexity | c4 | 200 | 201 | +0.5% | no |',
      '| task | exactMatch | 0.1 | 0.6 | +500.0% | yes |',
      '| task | bleu | 5 | 30 | +500.0% | yes |',
    ]);
  });

  test('a rise within the tolerance is no forgetting', () => {
    const before = { perplexity: { wiki: 100 }, task: { tokenF1: 0 } };
    const after = { perplexity: { wiki: 100.5 }, task: { tokenF1: 0.4 } };
    const report = forgettingReport(before, after);
    expect(report.forgetting).toBe(false);
    expect(report.rows[1]!.relativeChange).toBe(Infinity);
    expect(report.summary).toMatch(/the task was learned without forgetting general text$/);
    expect(forgettingReport(before, after, { tolerance: 0.001 }).forgetting).toBe(true);
  });

  test('snapshots must measure the same things', () => {
    const run = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as SlimlmError;
      }
      throw new Error('expected a failure');
    };
    expect(
      run(() => forgettingReport({ perplexity: { a: 1 } }, { perplexity: { b: 1 } })).message,
    ).toMatch(/perplexity 'a' is measured on one side only/);
    expect(run(() => forgettingReport({}, {})).message).toMatch(
      /share no perplexity or task score/,
    );
    expect(
      run(() => forgettingReport({ task: { bleu: Number.NaN } }, { task: { bleu: 1 } })).code,
    ).toBe('INVALID_ARGUMENT');
  });
});
