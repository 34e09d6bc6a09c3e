import '@slimlm/kernels-cpu';
import { modelFromFolder } from '@slimlm/models';
import { afterAll, describe, expect, test } from 'vitest';
import { evaluateLoss, type TrainingExample } from '../src/index';
import { WIKILLAMA, wikitextIds } from './train-helpers';

const model = modelFromFolder(WIKILLAMA);
afterAll(() => model.dispose());

const lm = (ids: readonly number[]): TrainingExample => ({ inputIds: ids, labels: [...ids] });

describe('evaluateLoss', () => {
  test("matches PyTorch's cross-entropy of the held-out window 0 (fixtures/wikillama-7m-reference.json)", async () => {
    // fp32_torch_window0_mean_nll: cross_entropy(model(X)[:-1], X[1:]) over the first 256 ids.
    const window = (await wikitextIds(WIKILLAMA, 2000)).slice(0, 256);
    const result = await evaluateLoss(model, [lm(window)]);
    expect(result.tokens).toBe(255);
    expect(Math.abs(result.loss - 4.15709)).toBeLessThan(1e-4);
  });

  test('padding, masked labels and batching do not change the loss per token', async () => {
    const ids = await wikitextIds(WIKILLAMA, 2000);
    const long = lm(ids.slice(0, 48));
    const short = lm(ids.slice(48, 60));
    // Only the answer half of `prompted` is scored.
    const prompted = {
      inputIds: ids.slice(60, 90),
      labels: ids.slice(60, 90).map((id, t) => (t < 15 ? -100 : id)),
    };
    const alone = await Promise.all([long, short, prompted].map((e) => evaluateLoss(model, [e])));
    const together = await evaluateLoss(model, [long, short, prompted], { batchSize: 3 });
    expect(alone.map((r) => r.tokens)).toEqual([47, 11, 15]);
    const weighted = alone.reduce((s, r) => s + r.loss * r.tokens, 0) / 73;
    expect(together.tokens).toBe(73);
    expect(Math.abs(together.loss - weighted)).toBeLessThan(1e-5);
  });
});
