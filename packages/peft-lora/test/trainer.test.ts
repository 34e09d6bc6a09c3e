import '@slimlm/kernels-cpu';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import { type CausalLM, modelFromFolder } from '@slimlm/models';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  evaluateLoss,
  injectLora,
  Trainer,
  type TrainerOptions,
  type TrainingExample,
  trainableParameters,
} from '../src/index';
import { BatchPlan } from '../src/train/batches';
import { largestDifference, parameterValues, STORIES, wikitextIds, windows } from './train-helpers';

// stories260K (f32, 260K parameters, tied embeddings) trained on real WikiText-2 text: small
// enough that every test takes a fraction of a second per step.
let train: TrainingExample[];
let validation: TrainingExample[];
const folders: string[] = [];

beforeAll(async () => {
  const ids = await wikitextIds(STORIES, 12_000);
  // Lengths from 3 to 24 tokens, so that a mean over examples and a mean over tokens differ.
  const all = windows(ids, 16, [24, 3, 17, 9, 20, 5]);
  train = all.slice(0, 12);
  validation = all.slice(12);
});
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function temporaryFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'slimlm-trainer-'));
  folders.push(folder);
  return folder;
}

/** Trains a freshly loaded stories260K with every parameter trainable; returns result and model. */
async function fullFineTune(options: TrainerOptions, withValidation = true) {
  const model = modelFromFolder(STORIES);
  const trainer = new Trainer(model, model.namedParameters(), { learningRate: 1e-3, ...options });
  const result = await trainer.train({ train, ...(withValidation ? { validation } : {}) });
  return { model, result };
}

function dispose(...models: CausalLM[]) {
  for (const model of models) model.dispose();
}

describe('Trainer on stories260K', () => {
  test('the loss of a step is the mean over all scored tokens of its micro-batches', async () => {
    const model = modelFromFolder(STORIES);
    const first = new BatchPlan(train.length, 2, 2, 42)
      .step(0)
      .flat()
      .map((i) => train[i]!);
    const expected = await evaluateLoss(model, first);
    const trainer = new Trainer(model, model.namedParameters(), {
      batchSize: 2,
      gradientAccumulationSteps: 2,
      maxSteps: 1,
    });
    const { history } = await trainer.train({ train });
    expect(history[0]!.tokens).toBe(first.reduce((n, e) => n + e.inputIds.length, 0));
    expect(Math.abs(history[0]!.loss - expected.loss)).toBeLessThan(1e-6);
    dispose(model);
  });

  test('accumulating 2 micro-batches of 1 equals 1 batch of 2 (loss, gradient norm, weights)', async () => {
    const common = { maxSteps: 3, maxGradNorm: Number.POSITIVE_INFINITY };
    const batched = await fullFineTune({ ...common, batchSize: 2 }, false);
    const accumulated = await fullFineTune(
      { ...common, batchSize: 1, gradientAccumulationSteps: 2 },
      false,
    );
    const single = await fullFineTune({ ...common, batchSize: 1 }, false);
    for (let i = 0; i < 3; i++) {
      const [a, b] = [batched.result.history[i]!, accumulated.result.history[i]!];
      expect(Math.abs(a.loss - b.loss) / a.loss).toBeLessThan(1e-5);
      expect(Math.abs(a.gradNorm - b.gradNorm) / a.gradNorm).toBeLessThan(1e-4);
      expect(a.tokens).toBe(b.tokens);
    }
    expect(
      largestDifference(parameterValues(batched.model), parameterValues(accumulated.model)),
    ).toBeLessThan(1e-5);
    // Batch 1 without accumulation sees half the examples per step: a different run.
    expect(
      Math.abs(single.result.history[0]!.loss - batched.result.history[0]!.loss),
    ).toBeGreaterThan(1e-3);
    dispose(batched.model, accumulated.model, single.model);
  });

  test('clipping reaches the optimizer, and the reported norm is the unclipped one', async () => {
    // Adam is nearly invariant to a gradient's scale within one step, so clipping shows from the
    // second step on, when the moments mix clipped and unclipped steps differently.
    const run = (maxGradNorm: number) =>
      fullFineTune({ maxSteps: 3, batchSize: 4, maxGradNorm }, false);
    const [clipped, free, loose] = [
      await run(1e-3),
      await run(Number.POSITIVE_INFINITY),
      await run(1e9),
    ];
    expect(clipped.result.history[0]!.gradNorm).toBeCloseTo(free.result.history[0]!.gradNorm, 4);
    expect(clipped.result.history[0]!.gradNorm).toBeGreaterThan(1e-3);
    expect(
      largestDifference(parameterValues(clipped.model), parameterValues(free.model)),
    ).toBeGreaterThan(1e-4);
    expect(largestDifference(parameterValues(loose.model), parameterValues(free.model))).toBe(0);
    dispose(clipped.model, free.model, loose.model);
  });

  test('the loss falls and the best evaluation is kept', async () => {
    const { model, result } = await fullFineTune({
      epochs: 3,
      batchSize: 4,
      evalSteps: 1,
      learningRate: 3e-3,
    });
    expect(result.steps).toBe(9);
    expect(result.evaluations.map((e) => e.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const best = result.evaluations.reduce((a, b) => (b.loss < a.loss ? b : a));
    expect(result.best).toEqual(best);
    expect(result.valLossAfter).toBe(best.loss);
    expect(result.valLossAfter!).toBeLessThan(result.valLossBefore! - 0.1);
    // The model holds the best parameters.
    expect(Math.abs((await evaluateLoss(model, validation)).loss - best.loss)).toBeLessThan(1e-6);
    dispose(model);
  });

  test('early stopping after `patience` evaluations without improvement restores the best', async () => {
    const before = parameterValues(modelFromFolder(STORIES));
    // No evaluation can beat the first by 10 nats: the run stops after 2 evaluations.
    const options = {
      maxSteps: 10,
      batchSize: 4,
      evalSteps: 1,
      earlyStoppingPatience: 2,
      earlyStoppingThreshold: 10,
    };
    const stopped = await fullFineTune(options);
    expect(stopped.result.stoppedEarly).toBe(true);
    expect(stopped.result.steps).toBe(2);
    expect(stopped.result.best?.step).toBe(0);
    expect(largestDifference(parameterValues(stopped.model), before)).toBe(0);
    const kept = await fullFineTune({ ...options, restoreBest: false });
    expect(largestDifference(parameterValues(kept.model), before)).toBeGreaterThan(0);
    dispose(stopped.model, kept.model);
  });

  test('a run resumed after an interruption reproduces the uninterrupted run exactly', async () => {
    const options: TrainerOptions = {
      maxSteps: 6,
      batchSize: 2,
      gradientAccumulationSteps: 2,
      lrScheduler: 'cosine',
      warmupSteps: 1,
      evalSteps: 2,
      saveSteps: 2,
    };
    const whole = await fullFineTune({ ...options, checkpointDir: temporaryFolder() });
    const dir = temporaryFolder();
    const crash = new Error('interrupted');
    await expect(
      fullFineTune({
        ...options,
        checkpointDir: dir,
        onProgress: (p) => {
          if (p.kind === 'step' && p.step === 3) throw crash;
        },
      }),
    ).rejects.toBe(crash);
    const resumed = await fullFineTune({ ...options, checkpointDir: dir, resume: true });
    expect(resumed.result.resumedFrom).toBe(2);
    expect(resumed.result.history).toEqual(whole.result.history);
    expect(resumed.result.evaluations).toEqual(whole.result.evaluations);
    expect(resumed.result.best).toEqual(whole.result.best);
    expect(largestDifference(parameterValues(resumed.model), parameterValues(whole.model))).toBe(0);
    expect(resumed.result.checkpoint).toBe(join(dir, 'checkpoint-6'));
    dispose(whole.model, resumed.model);
  });

  test('a LoRA run with dropout resumes exactly: dropout is reseeded per micro-batch', async () => {
    const options: TrainerOptions = { maxSteps: 4, batchSize: 2, saveSteps: 1, learningRate: 1e-2 };
    const run = async (checkpointDir: string, more: TrainerOptions = {}, loraDropout = 0.3) => {
      const model = modelFromFolder(STORIES);
      injectLora(
        model,
        { r: 4, loraAlpha: 8, loraDropout, targetModules: 'all-linear' },
        { seed: 1 },
      );
      const trainer = new Trainer(model, trainableParameters(model), {
        ...options,
        checkpointDir,
        ...more,
      });
      return { model, result: await trainer.train({ train }) };
    };
    const whole = await run(temporaryFolder());
    const dir = temporaryFolder();
    const crash = new Error('interrupted');
    const crashed = run(dir, {
      onProgress: (p) => {
        if (p.kind === 'step' && p.step === 2) throw crash;
      },
    });
    await expect(crashed).rejects.toBe(crash);
    const resumed = await run(dir, { resume: true });
    // The crash came while reporting step 2, before its checkpoint.
    expect(resumed.result.resumedFrom).toBe(1);
    expect(resumed.result.history).toEqual(whole.result.history);
    expect(largestDifference(parameterValues(resumed.model), parameterValues(whole.model))).toBe(0);
    // Dropout is really on: without it the second step differs (B starts at 0, so the first does not).
    const other = await run(temporaryFolder(), {}, 0);
    expect(other.result.history[0]!.loss).toBe(whole.result.history[0]!.loss);
    expect(Math.abs(other.result.history[1]!.loss - whole.result.history[1]!.loss)).toBeGreaterThan(
      1e-4,
    );
    dispose(whole.model, resumed.model, other.model);
  });

  test('resuming with other data or settings is refused, naming what differs', async () => {
    const dir = temporaryFolder();
    const first = await fullFineTune({ maxSteps: 1, checkpointDir: dir }, false);
    const model = modelFromFolder(STORIES);
    const trainer = new Trainer(model, model.namedParameters(), {
      maxSteps: 2,
      batchSize: 3,
      checkpointDir: dir,
      resume: true,
    });
    await expect(trainer.train({ train })).rejects.toThrow(/made with batchSize 1, this run has 3/);
    dispose(first.model, model);
  });

  test('bad options and data are named', async () => {
    const model = modelFromFolder(STORIES);
    const make = (options: TrainerOptions) => () =>
      new Trainer(model, model.namedParameters(), options);
    expect(make({ batchSize: 0 })).toThrow(/batchSize must be an integer >= 1, got 0/);
    expect(make({ lrScheduler: 'step' as never })).toThrow(
      /lrScheduler must be one of linear, cosine, constant/,
    );
    expect(make({ resume: true })).toThrow(/resume needs checkpointDir/);
    expect(make({ lossScale: -1 })).toThrow(SlimlmError);
    const trainer = new Trainer(model, model.namedParameters());
    await expect(
      trainer.train({ train: [{ inputIds: [1, 2], labels: [-100, -100] }] }),
    ).rejects.toThrow(/none of the 1 training examples has a scored label/);
    dispose(model);
  });
});
