import '@slimlm/kernels-cpu';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cast, scope, type Tensor } from '@slimlm/core';
import { openSafetensors } from '@slimlm/hub';
import { type CausalLM, modelFromFolder } from '@slimlm/models';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Trainer, type TrainerOptions, type TrainingExample } from '../src/index';
import { parameterValues, STORIES, wikitextIds, windows } from './train-helpers';

let train: TrainingExample[];
const folder = mkdtempSync(join(tmpdir(), 'slimlm-mixed-'));

beforeAll(async () => {
  train = windows(await wikitextIds(STORIES, 8000), 8, [24, 7, 16]);
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** stories260K with every weight stored in f16 (tied tensors stay one tensor). */
function f16Stories(): CausalLM {
  const model = modelFromFolder(STORIES);
  const converted = new Map<Tensor, Tensor>();
  for (const [name, tensor] of [...model.namedParameters()]) {
    let half = converted.get(tensor);
    if (!half) {
      half = cast(tensor, 'f16');
      converted.set(tensor, half);
    }
    model.setParameter(name, half);
  }
  return model;
}

async function trainOn(model: CausalLM, options: TrainerOptions) {
  const trainer = new Trainer(model, model.namedParameters(), {
    learningRate: 1e-3,
    batchSize: 2,
    ...options,
  });
  return trainer.train({ train });
}

describe('f16 weights with f32 master copies', () => {
  test('the optimizer updates f32 masters and the model holds them rounded to f16', async () => {
    const model = f16Stories();
    const checkpointDir = join(folder, 'masters');
    // Starting at scale 2^8 (not GradScaler's 2^16, which overflows this model's first step).
    const result = await trainOn(model, {
      maxSteps: 4,
      checkpointDir,
      lossScaler: { initScale: 256 },
    });
    for (const [, tensor] of model.namedParameters()) expect(tensor.dtype).toBe('f16');
    const source = openSafetensors(join(result.checkpoint!, 'training_state.safetensors'));
    let subUlp = 0;
    for (const [name, weight] of model.namedParameters()) {
      if (!source.has(`master.${name}`)) continue; // the tied lm_head is trained as embed_tokens
      scope(() => {
        const master = source.read(`master.${name}`);
        expect(master.dtype).toBe('f32');
        const rounded = cast(master, 'f16');
        expect([...rounded.rawSync()]).toEqual([...weight.rawSync()]);
        const exact = master.dataSync();
        const stored = weight.dataSync();
        for (let i = 0; i < exact.length; i++) if (exact[i] !== stored[i]) subUlp++;
      });
    }
    source.close();
    // The masters keep what f16 cannot hold: most trained values differ from their rounding.
    expect(subUlp).toBeGreaterThan(100_000);
    // And training in f16 storage follows training in f32 closely.
    const reference = modelFromFolder(STORIES);
    const f32 = await trainOn(reference, { maxSteps: 4 });
    result.history.forEach((step, i) => {
      expect(Math.abs(step.loss - f32.history[i]!.loss) / step.loss).toBeLessThan(5e-3);
    });
    expect(result.skippedSteps).toBe(0);
    model.dispose();
    reference.dispose();
  });

  test('gradients that overflow f16 skip the step and back the loss scale off', async () => {
    const before = parameterValues(f16Stories());
    // 2^40 overflows f16 gradients (max 65504); backing off by 2^-16 twice reaches 2^8.
    const lossScaler = { initScale: 2 ** 40, backoffFactor: 2 ** -16 };
    const once = f16Stories();
    const skipped = await trainOn(once, { maxSteps: 1, lossScaler });
    expect(skipped.history[0]!.skipped).toBe(true);
    expect(skipped.skippedSteps).toBe(1);
    expect(parameterValues(once)).toEqual(before);
    const model = f16Stories();
    const result = await trainOn(model, { maxSteps: 4, lossScaler });
    expect(result.history.map((s) => s.skipped)).toEqual([true, true, false, false]);
    expect(Number.isFinite(result.history[0]!.gradNorm)).toBe(false);
    expect(Number.isFinite(result.history[2]!.gradNorm)).toBe(true);
    once.dispose();
    model.dispose();
  });

  test('a resumed f16 run reproduces the loss scale and its skipped steps exactly', async () => {
    const options: TrainerOptions = {
      maxSteps: 5,
      saveSteps: 2,
      lossScaler: { initScale: 2 ** 40, backoffFactor: 2 ** -16, growthInterval: 2 },
    };
    const wholeModel = f16Stories();
    const whole = await trainOn(wholeModel, { ...options, checkpointDir: join(folder, 'whole') });
    const checkpointDir = join(folder, 'interrupted');
    const stop = new Error('interrupted');
    const crashed = f16Stories();
    await expect(
      trainOn(crashed, {
        ...options,
        checkpointDir,
        onProgress: (p) => {
          if (p.kind === 'step' && p.step === 3) throw stop;
        },
      }),
    ).rejects.toBe(stop);
    const model = f16Stories();
    const resumed = await trainOn(model, { ...options, checkpointDir, resume: true });
    expect(resumed.resumedFrom).toBe(2);
    expect(resumed.history).toEqual(whole.history);
    expect(resumed.skippedSteps).toBe(2);
    expect(parameterValues(model)).toEqual(parameterValues(wholeModel));
    for (const m of [wholeModel, crashed, model]) m.dispose();
  });
});
