import '@slimlm/kernels-cpu';
import { modelFromFolder } from '@slimlm/models';
import { expect, test } from 'vitest';
import { evaluateLoss, Trainer, type TrainProgress } from '../src/index';
import { WIKILLAMA, wikitextIds, windows } from './train-helpers';

test('full fine-tuning of wikillama (f16 weights, every tensor trainable) lowers the held-out loss on real text', async () => {
  // WikiText-2 test is held out from wikillama's training: consecutive 48-token windows, the
  // first 12 to train on and the next 4 to validate on.
  const all = windows(await wikitextIds(WIKILLAMA, 20_000), 16, [48]);
  const [train, validation] = [all.slice(0, 12), all.slice(12)];
  const model = modelFromFolder(WIKILLAMA);
  const progress: TrainProgress[] = [];
  const trainer = new Trainer(model, model.namedParameters(), {
    epochs: 2,
    batchSize: 4,
    learningRate: 5e-4,
    evalSteps: 3,
    onProgress: (p) => progress.push(p),
  });
  const result = await trainer.train({ train, validation });
  expect(result.steps).toBe(6);
  expect(result.epochs).toBe(2);
  expect(result.evaluations.map((e) => e.step)).toEqual([0, 3, 6]);
  expect(result.valLossAfter!).toBeLessThan(result.valLossBefore! - 0.1);
  const losses = result.history.map((s) => s.loss);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  expect(mean(losses.slice(3))).toBeLessThan(mean(losses.slice(0, 3)));
  // The model holds the best parameters, in their f16 storage.
  expect(
    Math.abs((await evaluateLoss(model, validation)).loss - result.valLossAfter!),
  ).toBeLessThan(1e-6);
  expect(model.getParameter('model.embed_tokens.weight')!.dtype).toBe('f16');
  // Progress: one event per step (linear schedule from 5e-4) and per evaluation.
  const steps = progress.filter((p) => p.kind === 'step');
  steps.forEach((p, i) => {
    expect(p.lr).toBeCloseTo((5e-4 * (6 - i)) / 6, 15);
  });
  expect(steps.every((p) => p.tokensPerSecond > 0)).toBe(true);
  expect(progress.filter((p) => p.kind === 'evaluation')).toHaveLength(3);
  expect(result.trainTokens).toBe(2 * 12 * 48);
  model.dispose();
});
