import { describe, expect, test } from 'vitest';
import { type LrSchedulerType, learningRateFactor } from '../src/index';

const factors = (type: LrSchedulerType, warmupSteps: number, totalSteps: number) =>
  Array.from({ length: totalSteps + 1 }, (_, step) =>
    learningRateFactor(step, { type, warmupSteps, totalSteps }),
  );

describe('learning-rate schedules (transformers LambdaLR factors)', () => {
  test('linear: warmup 2 of 10, then down to 0', () => {
    // step < 2: step/2; then (10 - step)/(10 - 2).
    expect(factors('linear', 2, 10)).toEqual([
      0,
      0.5,
      1,
      7 / 8,
      6 / 8,
      5 / 8,
      4 / 8,
      3 / 8,
      2 / 8,
      1 / 8,
      0,
    ]);
  });

  test('cosine: half a cycle after warmup', () => {
    const f = factors('cosine', 2, 10);
    expect(f.slice(0, 3)).toEqual([0, 0.5, 1]);
    // progress = (step - 2)/8; factor = (1 + cos(π·progress))/2.
    expect(f[4]).toBeCloseTo((1 + Math.SQRT1_2) / 2, 15);
    expect(f[6]).toBeCloseTo(0.5, 15);
    expect(f[8]).toBeCloseTo((1 - Math.SQRT1_2) / 2, 15);
    expect(f[10]).toBeCloseTo(0, 15);
  });

  test('constant after warmup, and no warmup starts at full rate', () => {
    expect(factors('constant', 4, 6)).toEqual([0, 0.25, 0.5, 0.75, 1, 1, 1]);
    expect(factors('linear', 0, 4)).toEqual([1, 0.75, 0.5, 0.25, 0]);
  });
});
