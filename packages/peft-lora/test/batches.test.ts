import '@slimlm/kernels-cpu';
import { SlimlmError, scope } from '@slimlm/core';
import { describe, expect, test } from 'vitest';
import { collate, IGNORE_INDEX } from '../src/index';
import { BatchPlan, usableExamples } from '../src/train/batches';

describe('collate', () => {
  test('pads on the right, shifts the labels and masks padding', () => {
    scope(() => {
      const batch = collate(
        [
          { inputIds: [1, 5, 6, 7], labels: [-100, -100, 6, 7] },
          { inputIds: [1, 9], labels: [1, 9] },
        ],
        0,
      );
      expect(batch.inputIds.toArray()).toEqual([
        [1, 5, 6, 7],
        [1, 9, 0, 0],
      ]);
      // labels[:, 1:], padding ignored: the first example scores 6 and 7, the second 9.
      expect(batch.targets.toArray()).toEqual([
        [-100, 6, 7],
        [9, IGNORE_INDEX, IGNORE_INDEX],
      ]);
      expect(batch.attentionMask?.toArray()).toEqual([
        [1, 1, 1, 1],
        [1, 1, 0, 0],
      ]);
      expect(batch.tokens).toBe(6);
      expect(batch.targetTokens).toBe(3);
    });
  });

  test('equal lengths need no attention mask', () => {
    scope(() => {
      const batch = collate([{ inputIds: [1, 2], labels: [1, 2] }], 0);
      expect(batch.attentionMask).toBeUndefined();
    });
  });
});

describe('usableExamples', () => {
  test('drops examples with nothing to score and names bad ones', () => {
    const { examples, dropped } = usableExamples(
      [
        { inputIds: [1, 2, 3], labels: [1, 2, 3] },
        { inputIds: [1, 2], labels: [1, -100] },
        { inputIds: [7], labels: [7] },
      ],
      10,
      'train',
    );
    expect(examples).toHaveLength(1);
    expect(dropped).toBe(2);
    const bad = (example: { inputIds: number[]; labels: number[] }) => () =>
      usableExamples([example], 10, 'train');
    expect(bad({ inputIds: [1, 2], labels: [1] })).toThrow(
      /train example 0: labels has 1 entries but inputIds has 2/,
    );
    expect(bad({ inputIds: [1, 12], labels: [1, 2] })).toThrow(
      /inputIds\[1\] = 12 is not a token id of the model \(0..9\)/,
    );
    expect(bad({ inputIds: [1, 2], labels: [1, -1] })).toThrow(SlimlmError);
  });
});

describe('BatchPlan', () => {
  test('every epoch is a seeded shuffle of all examples, in steps of accumulated micro-batches', () => {
    const plan = new BatchPlan(7, 2, 2, 42);
    // 7 examples in micro-batches of 2 → 4 micro-batches (the last has 1) → 2 steps per epoch.
    expect(plan.microBatchesPerEpoch).toBe(4);
    expect(plan.stepsPerEpoch).toBe(2);
    const epoch0 = [plan.step(0), plan.step(1)];
    expect(epoch0.map((step) => step.map((b) => b.length))).toEqual([
      [2, 2],
      [2, 1],
    ]);
    expect(epoch0.flat(2).sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const epoch1 = [plan.step(2), plan.step(3)].flat(2);
    expect([...epoch1].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(epoch1).not.toEqual(epoch0.flat(2));
    // The same seed gives the same plan whatever step it is asked from first (a resumed run).
    const again = new BatchPlan(7, 2, 2, 42);
    expect(again.step(3)).toEqual(plan.step(3));
    expect(again.step(0)).toEqual(epoch0[0]);
    expect(new BatchPlan(7, 2, 2, 43).step(0)).not.toEqual(epoch0[0]);
  });
});
