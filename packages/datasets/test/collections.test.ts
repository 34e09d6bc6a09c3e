import { describe, expect, it } from 'vitest';
import { expectError } from '../../hub/test/helpers/errors';
import { mixDatasets, shuffle, splitDataset, stagedDatasets } from '../src/index';

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('shuffle', () => {
  it('is a seeded permutation', () => {
    const items = range(50);
    const a = shuffle(items, 1);
    expect([...a].sort((x, y) => x - y)).toEqual(items);
    expect(a).not.toEqual(items);
    expect(shuffle(items, 1)).toEqual(a);
    expect(shuffle(items, 2)).not.toEqual(a);
    expect(items).toEqual(range(50));
  });

  it('is unbiased: each item lands in each place equally often', () => {
    // 4,000 shuffles of 4 items: each count is binomial(4000, 1/4), mean 1000, sd 27.4.
    const counts = [0, 0, 0, 0];
    for (let seed = 0; seed < 4000; seed++) counts[shuffle([0, 1, 2, 3], seed).indexOf(0)]!++;
    for (const count of counts) expect(Math.abs(count - 1000)).toBeLessThan(100);
  });
});

describe('splitDataset', () => {
  const items = range(100);

  it('takes ceil(fraction · n) or a count for each held-out split, the rest for train', () => {
    const splits = splitDataset(items, { validation: 0.1, test: 0.123, seed: 0 });
    expect(splits.test).toHaveLength(13); // ceil(12.3)
    expect(splits.validation).toHaveLength(10);
    expect(splits.train).toHaveLength(77);
    expect([...splits.train, ...splits.validation, ...splits.test].sort((a, b) => a - b)).toEqual(
      items,
    );
    const counted = splitDataset(items, { test: 7, seed: 0 });
    expect([counted.train.length, counted.validation.length, counted.test.length]).toEqual([
      93, 0, 7,
    ]);
  });

  it('is the seeded shuffle cut in order: test, then validation, then train', () => {
    const order = shuffle(items, 5);
    expect(splitDataset(items, { validation: 3, test: 2, seed: 5 })).toEqual({
      test: order.slice(0, 2),
      validation: order.slice(2, 5),
      train: order.slice(5),
    });
    expect(splitDataset(items, { test: 0.2, seed: 6 }).test).not.toEqual(
      splitDataset(items, { test: 0.2, seed: 5 }).test,
    );
  });

  it('refuses sizes that are not fractions in [0, 1) or counts, or too many', () => {
    expectError(
      () => splitDataset(items, { test: 1.5, seed: 0 }),
      'INVALID_ARGUMENT',
      /test must be a fraction/,
    );
    expectError(
      () => splitDataset(items, { validation: -1, seed: 0 }),
      'INVALID_ARGUMENT',
      /validation must be/,
    );
    expectError(
      () => splitDataset(items, { validation: 60, test: 41, seed: 0 }),
      'INVALID_ARGUMENT',
      /41 test and 60 validation items are more than the 100 given/,
    );
  });
});

describe('mixDatasets', () => {
  const a = range(6, 100);
  const b = range(2000, 1000);

  it('keeps each source in order and draws sources by weight', () => {
    const big = range(4000, 10_000);
    const mixed = mixDatasets(
      [
        { items: big, weight: 3 },
        { items: b, weight: 1 },
      ],
      { seed: 0, size: 2000 },
    );
    expect(mixed).toHaveLength(2000);
    const fromBig = mixed.filter((x) => x >= 10_000);
    const fromB = mixed.filter((x) => x < 10_000);
    expect(fromBig).toEqual(big.slice(0, fromBig.length));
    expect(fromB).toEqual(b.slice(0, fromB.length));
    // Binomial(2000, 3/4): sd 19.4 items, about 1% of the mix.
    expect(Math.abs(fromBig.length / 2000 - 0.75)).toBeLessThan(0.03);
    expect(mixDatasets([{ items: a }, { items: b, weight: 0 }], { seed: 1 })).toEqual(a);
  });

  it("stops as soon as one source runs out ('first-exhausted')", () => {
    const mixed = mixDatasets([{ items: a }, { items: b }], { seed: 2 });
    expect(mixed.at(-1)).toBe(105);
    expect(mixed.filter((x) => x < 1000)).toEqual(a);
    expect(mixDatasets([{ items: a }, { items: b }], { seed: 2 })).toEqual(mixed);
  });

  it("restarts sources until every one is used up ('all-exhausted')", () => {
    const small = range(3, 0);
    const other = range(4, 10);
    const mixed = mixDatasets([{ items: small }, { items: other, weight: 0.2 }], {
      seed: 3,
      stop: 'all-exhausted',
    });
    const fromOther = mixed.filter((x) => x >= 10);
    const fromSmall = mixed.filter((x) => x < 10);
    expect(fromOther).toEqual(other);
    expect(mixed.at(-1)).toBe(13);
    expect(fromSmall.length).toBeGreaterThan(3);
    expect(fromSmall).toEqual(fromSmall.map((_, i) => small[i % 3]));
  });

  it('refuses what cannot be mixed', () => {
    expectError(() => mixDatasets([], { seed: 0 }), 'INVALID_ARGUMENT', /no sources/);
    expectError(
      () => mixDatasets([{ items: a, weight: -1 }], { seed: 0 }),
      'INVALID_ARGUMENT',
      /weight -1/,
    );
    expectError(
      () => mixDatasets([{ items: a, weight: 0 }], { seed: 0 }),
      'INVALID_ARGUMENT',
      /every weight is 0/,
    );
    expectError(
      () => mixDatasets([{ items: [] }], { seed: 0 }),
      'INVALID_ARGUMENT',
      /source 0 has no items/,
    );
  });
});

describe('stagedDatasets', () => {
  const stages = [
    { name: 'sentiment', train: range(10, 0), validation: [90, 91] },
    { name: 'summaries', train: range(10, 10) },
    { name: 'questions', train: range(4, 20), validation: [92] },
  ];

  it('runs stages in order, each evaluated on its own and every earlier validation set', () => {
    const plan = stagedDatasets(stages);
    expect(plan.map((s) => [s.index, s.name, s.replayed])).toEqual([
      [0, 'sentiment', 0],
      [1, 'summaries', 0],
      [2, 'questions', 0],
    ]);
    expect(plan.map((s) => s.train)).toEqual(stages.map((s) => s.train));
    expect(plan.map((s) => s.evaluateOn.map((e) => e.name))).toEqual([
      ['sentiment'],
      ['sentiment'],
      ['sentiment', 'questions'],
    ]);
    expect(plan[2]!.evaluateOn[1]!.items).toEqual([92]);
  });

  it('replays a seeded fraction of earlier training data', () => {
    const plan = stagedDatasets(stages, { replay: 0.5, seed: 1 });
    expect(plan.map((s) => s.replayed)).toEqual([0, 5, 2]);
    const replayed = plan[1]!.train.slice(10);
    expect(plan[1]!.train.slice(0, 10)).toEqual(range(10, 10));
    expect(new Set(replayed).size).toBe(5);
    for (const item of replayed) expect(item).toBeLessThan(10);
    for (const item of plan[2]!.train.slice(4)) expect(item).toBeLessThan(20);
    expect(stagedDatasets(stages, { replay: 0.5, seed: 1 })).toEqual(plan);
  });

  it('needs distinct names and training items', () => {
    expectError(
      () => stagedDatasets([stages[0]!, { ...stages[1]!, name: 'sentiment' }]),
      'INVALID_ARGUMENT',
      /stage 1 needs a name of its own/,
    );
    expectError(
      () => stagedDatasets([{ name: 'x', train: [] }]),
      'INVALID_ARGUMENT',
      /"x" has no training items/,
    );
    expectError(
      () => stagedDatasets(stages, { replay: -0.1 }),
      'INVALID_ARGUMENT',
      /replay must be/,
    );
  });
});
