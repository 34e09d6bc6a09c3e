import '@slimlm/kernels-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cast, crossEntropy, narrow, SlimlmError, scope, type Tensor } from '@slimlm/core';
import { QuantLinear } from '@slimlm/gptq';
import { type CausalLM, generate, Linear, modelFromFolder, saveModel } from '@slimlm/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  injectLora,
  type LoraLinear,
  loraLayers,
  mergeAdapter,
  saveMergedModel,
  Trainer,
  trainableParameters,
} from '../src/index';
import {
  ids,
  logitsOf,
  maxAbsDiff,
  quantized4Bit,
  temporaryFolder,
  tinyModel,
} from './lora-helpers';
import { WIKILLAMA, wikitextIds, windows } from './train-helpers';

const work = temporaryFolder();
afterAll(() => work.remove());

let text: number[];
/** A prompt and 8 windows of 64 tokens of WikiText-2 test, away from the training windows. */
let prompt: number[];
let heldOut: number[][];
beforeAll(async () => {
  text = await wikitextIds(WIKILLAMA, 20_000);
  prompt = text.slice(3000, 3048);
  heldOut = Array.from({ length: 8 }, (_, i) => text.slice(3000 + 64 * i, 3064 + 64 * i));
}, 60_000);

/** LoRA on every linear layer with a random B, so that the adapter changes the model from the start. */
function randomAdapter(model: CausalLM, seed = 1): void {
  injectLora(
    model,
    { targetModules: 'all-linear', r: 8, loraAlpha: 16, initLoraWeights: false },
    { seed },
  );
}

const greedy = (model: CausalLM) =>
  generate(model, [prompt.slice(0, 16)], { maxNewTokens: 24 }).tokens[0]!;

/** Mean next-token NLL over `rows` of ids. */
function meanNll(model: CausalLM, rows: number[][]): number {
  return scope(() => {
    const logits = model.forward(ids(rows));
    const length = rows[0]!.length;
    const predicted = narrow(logits, 1, 0, length - 1);
    return crossEntropy(predicted, ids(rows.map((r) => r.slice(1)))).item();
  });
}

const host = (t: Tensor) => Float64Array.from(t.dataSync());

describe('merging into a full-precision base (wikillama)', () => {
  it('gives the logits and greedy text the adapter gave, W + scaling · B·A computed in f32', () => {
    const model = modelFromFolder(WIKILLAMA, { weightsDType: 'f32' });
    const base = logitsOf(model, prompt);
    randomAdapter(model);
    const adapted = logitsOf(model, prompt);
    expect(maxAbsDiff(adapted, base)).toBeGreaterThan(1);
    const generated = greedy(model);
    const layer = model.getModule('model.layers.2.mlp.down_proj') as LoraLinear;
    const weight = host((layer.base as Linear).weight);
    const delta = host(layer.deltaWeight('default'));

    const summary = mergeAdapter(model);
    expect(summary.merged).toHaveLength(6 * 7);
    expect(loraLayers(model)).toEqual([]);
    const fresh = modelFromFolder(WIKILLAMA);
    expect([...model.namedParameters()].map(([n]) => n)).toEqual(
      [...fresh.namedParameters()].map(([n]) => n),
    );
    fresh.dispose();
    const merged = host((model.getModule('model.layers.2.mlp.down_proj') as Linear).weight);
    expect(
      maxAbsDiff(
        merged,
        weight.map((w, i) => Math.fround(w + delta[i]!)),
      ),
    ).toBe(0);
    expect(maxAbsDiff(logitsOf(model, prompt), adapted)).toBeLessThan(1e-4);
    expect(greedy(model)).toEqual(generated);
    model.dispose();
  });

  it('merges an adapter trained by the Trainer, keeping what it learned', async () => {
    const model = modelFromFolder(WIKILLAMA, { weightsDType: 'f32' });
    injectLora(
      model,
      { targetModules: ['q_proj', 'v_proj', 'down_proj'], r: 4, loraAlpha: 8 },
      { seed: 2 },
    );
    const train = windows(text, 16, [48]);
    const rows = train.slice(0, 4).map((e) => [...e.inputIds]);
    const before = meanNll(model, rows);
    await new Trainer(model, trainableParameters(model), {
      maxSteps: 8,
      batchSize: 2,
      learningRate: 3e-3,
      seed: 1,
    }).train({ train });
    const after = meanNll(model, rows);
    console.log(`trained adapter: training NLL ${before.toFixed(4)} → ${after.toFixed(4)}`);
    expect(after).toBeLessThan(before - 0.05);
    const adapted = logitsOf(model, prompt);
    const adaptedHeldOut = meanNll(model, heldOut);
    mergeAdapter(model);
    expect(maxAbsDiff(logitsOf(model, prompt), adapted)).toBeLessThan(1e-4);
    expect(Math.abs(meanNll(model, heldOut) - adaptedHeldOut)).toBeLessThan(1e-5);
    model.dispose();
  });

  it('rounds the f32 sum once into f16 weights kept as stored', () => {
    const half = modelFromFolder(WIKILLAMA);
    const wide = modelFromFolder(WIKILLAMA, { weightsDType: 'f32' });
    randomAdapter(half);
    randomAdapter(wide);
    const adapted = logitsOf(half, prompt);
    mergeAdapter(half);
    mergeAdapter(wide);
    for (const [path, module] of half.namedModules()) {
      if (!(module instanceof Linear) || path === 'lm_head') continue;
      expect(module.weight.dtype).toBe('f16');
      const rounded = host(cast((wide.getModule(path) as Linear).weight, 'f16'));
      expect(maxAbsDiff(host(module.weight), rounded), path).toBe(0);
    }
    // What f16 storage costs the merged logits, measured.
    const error = maxAbsDiff(logitsOf(half, prompt), adapted);
    console.log(`f16 merge: largest logit change ${error.toExponential(2)}`);
    expect(error).toBeLessThan(0.02);
    half.dispose();
    wide.dispose();
  });

  it('refuses to merge into a weight tied to another parameter', () => {
    const model = tinyModel('llama-tied-transformers');
    injectLora(model, { targetModules: ['lm_head', 'q_proj'], initLoraWeights: false });
    expect(() => mergeAdapter(model)).toThrow(SlimlmError);
    expect(() => mergeAdapter(model)).toThrow(/'lm_head' shares its weight with another parameter/);
    model.dispose();
  });
});

describe('merging into a 4-bit GPTQ base (wikillama, RTN 4-bit g128)', () => {
  let gptqFolder: string;
  /** What 4-bit RTN cost the base model in held-out NLL: the yardstick for requantization. */
  let quantizationCost: number;
  beforeAll(async () => {
    const fp = modelFromFolder(WIKILLAMA);
    const quantized = await quantized4Bit(fp, work.path, 128);
    quantizationCost = meanNll(quantized, heldOut) - meanNll(fp, heldOut);
    quantized.dispose();
    fp.dispose();
    gptqFolder = join(work.path, 'rtn4');
  }, 120_000);

  /** The 4-bit model with the random adapter, and its logits on the prompt. */
  function adaptedGptq(): { model: CausalLM; logits: Float64Array } {
    const model = modelFromFolder(gptqFolder);
    randomAdapter(model);
    return { model, logits: logitsOf(model, prompt) };
  }

  it('dequantized and merged, computes what the adapter on the packed base computed', () => {
    const { model, logits } = adaptedGptq();
    const summary = mergeAdapter(model, { quantized: 'dequantize' });
    expect(summary.dequantized).toHaveLength(42);
    expect(model.getModule('model.layers.0.self_attn.q_proj')).toBeInstanceOf(Linear);
    expect(maxAbsDiff(logitsOf(model, prompt), logits)).toBeLessThan(1e-4);
    model.dispose();
  });

  it('requantized with RTN, stays a GPTQ model that saves and loads back exactly', () => {
    const { model } = adaptedGptq();
    const adapted = meanNll(model, heldOut);
    const summary = mergeAdapter(model);
    expect(summary.requantized).toHaveLength(42);
    expect(model.getModule('model.layers.5.mlp.down_proj')).toBeInstanceOf(QuantLinear);
    const merged = logitsOf(model, prompt);
    // Requantizing the merged weights costs about what quantizing the base cost.
    const requantization = meanNll(model, heldOut) - adapted;
    console.log(
      `RTN requantization: held-out NLL +${requantization.toFixed(4)} (4-bit RTN of the base: +${quantizationCost.toFixed(4)})`,
    );
    expect(Math.abs(requantization)).toBeLessThan(2 * quantizationCost);
    const saved = join(work.path, 'merged-rtn');
    saveModel(model, saved, { overwrite: true });
    const config = JSON.parse(readFileSync(join(saved, 'config.json'), 'utf8'));
    expect(config.quantization_config).toMatchObject({ quant_method: 'gptq', bits: 4 });
    const loaded = modelFromFolder(saved);
    expect(maxAbsDiff(logitsOf(loaded, prompt), merged)).toBe(0);
    loaded.dispose();
    model.dispose();
  });

  it('writes a merged fp model, or one requantized by quantizeModel with GPTQ and calibration', async () => {
    const fp = adaptedGptq();
    const fpFolder = join(work.path, 'merged-fp');
    const fpResult = await saveMergedModel(fp.model, fpFolder, { overwrite: true });
    expect(fpResult.dequantized).toHaveLength(42);
    const fpConfig = JSON.parse(readFileSync(join(fpFolder, 'config.json'), 'utf8'));
    expect(fpConfig.quantization_config).toBeUndefined();
    const fpLoaded = modelFromFolder(fpFolder);
    expect(maxAbsDiff(logitsOf(fpLoaded, prompt), fp.logits)).toBeLessThan(1e-4);
    fpLoaded.dispose();
    fp.model.dispose();

    const { model } = adaptedGptq();
    const calibration = windows(text, 4, [64]).map((e) => [...e.inputIds]);
    const events: string[] = [];
    const out = join(work.path, 'merged-gptq');
    const result = await saveMergedModel(model, out, {
      overwrite: true,
      quantize: {
        method: 'gptq',
        bits: 4,
        groupSize: 128,
        sym: false,
        descAct: false,
        staticGroups: false,
        dampPercent: 0.01,
        format: 'gptq',
        calibration,
        onProgress: (p) => events.push(p.phase),
      },
    });
    expect(result.quantized?.modules).toHaveLength(42);
    expect(events.at(-1)).toBe('done');
    const loaded = modelFromFolder(out);
    expect(loaded.getModule('model.layers.0.self_attn.q_proj')).toBeInstanceOf(QuantLinear);
    const reference = modelFromFolder(fpFolder);
    const requantization = meanNll(loaded, heldOut) - meanNll(reference, heldOut);
    console.log(
      `GPTQ requantization (4 calibration windows): held-out NLL ${requantization >= 0 ? '+' : ''}${requantization.toFixed(4)} (4-bit RTN of the base: +${quantizationCost.toFixed(4)})`,
    );
    expect(Math.abs(requantization)).toBeLessThan(2 * quantizationCost);
    reference.dispose();
    loaded.dispose();
    model.dispose();
  });
});
