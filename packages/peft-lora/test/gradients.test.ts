import '@slimlm/kernels-cpu';
import {
  cast,
  Generator,
  memory,
  mul,
  noGrad,
  randn,
  scope,
  sum,
  type Tensor,
  tensor,
} from '@slimlm/core';
import { QuantLinear } from '@slimlm/gptq';
import { type CausalLM, Linear } from '@slimlm/models';
import { afterAll, describe, expect, it } from 'vitest';
import { dequantizeModel, injectLora, LoraLinear, trainableParameters } from '../src/index';
import {
  ARCHITECTURE_VARIANTS,
  ids,
  maxAbs,
  maxAbsDiff,
  quantized4Bit,
  temporaryFolder,
  tinyModel,
} from './lora-helpers';

/**
 * Gradients of LoRA A and B through every architecture, checked against central finite
 * differences in f64. The scalar is L = Σ logits · P with a seeded projection P, so that every
 * logit counts. Finite differences cost two forward passes per element; a seeded sample of
 * elements (one per matrix of some layers) keeps the file fast, while analytic gradients are
 * compared element by element wherever two of them are compared.
 */

const SEQUENCE = [5, 17, 42, 8, 9];

/** A step and tolerance for a function computed in f64 throughout. */
const F64_STEP = { eps: 1e-6, tolerance: 1e-7 };
/**
 * For a function with f32 arithmetic inside (a QuantLinear; GPT-Neo's attention, which like
 * transformers' computes scores and softmax in f32 whatever the dtype): a loss of ~70 rounded at
 * 6e-8 relative, over a 2e-3 step, leaves ~2e-3 of noise. Larger steps cross ReLU kinks (OPT).
 */
const F32_STEP = { eps: 1e-3, tolerance: 5e-3 };
const stepFor = (variant: string) => (variant === 'gpt_neo' ? F32_STEP : F64_STEP);
const work = temporaryFolder();
afterAll(() => work.remove());

/** Every LoRA matrix made f64 (so finite-difference steps are exact) and the model computing in f64. */
function inF64(model: CausalLM): string[] {
  model.computeDType = 'f64';
  const paths = [...trainableParameters(model).keys()];
  for (const path of paths) {
    model.setParameter(
      path,
      noGrad(() => cast(model.getParameter(path)!, 'f64')),
    );
  }
  return paths;
}

function projectionFor(model: CausalLM, seed: number): Tensor {
  const generator = new Generator(seed);
  const size = SEQUENCE.length * model.config.vocabSize;
  return tensor(
    Float64Array.from({ length: size }, () => generator.nextNormal()),
    {
      shape: [1, SEQUENCE.length, model.config.vocabSize],
      dtype: 'f64',
    },
  );
}

function loss(model: CausalLM, projection: Tensor): number {
  return noGrad(() => scope(() => sum(mul(model.forward(ids([SEQUENCE])), projection)).item()));
}

/** dL/dθ of every parameter at `paths`, by backward. */
function analytic(
  model: CausalLM,
  paths: readonly string[],
  projection: Tensor,
): Map<string, Float64Array> {
  const params = paths.map((path) => model.getParameter(path)!);
  for (const p of params) p.requiresGrad = true;
  scope(() => sum(mul(model.forward(ids([SEQUENCE])), projection)).backward());
  const grads = new Map<string, Float64Array>();
  paths.forEach((path, i) => {
    const p = params[i]!;
    grads.set(path, Float64Array.from(p.grad!.dataSync()));
    p.grad!.dispose();
    p.grad = null;
    p.requiresGrad = false;
  });
  return grads;
}

/** (L(θ + eps) - L(θ - eps)) / 2eps for element `index` of the parameter at `path`. */
function numeric(
  model: CausalLM,
  path: string,
  index: number,
  eps: number,
  projection: Tensor,
): number {
  const original = model.getParameter(path)!;
  const values = Float64Array.from(original.dataSync());
  const at = (value: number) => {
    const shifted = Float64Array.from(values);
    shifted[index] = value;
    model.setParameter(path, tensor(shifted, { shape: original.shape, dtype: 'f64' }));
    return loss(model, projection);
  };
  const result = (at(values[index]! + eps) - at(values[index]! - eps)) / (2 * eps);
  model.setParameter(path, tensor(values, { shape: original.shape, dtype: 'f64' }));
  return result;
}

/** A seeded sample of (matrix, element) pairs: one element of each of `count` matrices. */
function sample(
  model: CausalLM,
  paths: readonly string[],
  count: number,
  seed: number,
): [string, number][] {
  const generator = new Generator(seed);
  const chosen = [...paths].sort(() => generator.nextFloat() - 0.5).slice(0, count);
  return chosen.map((path) => [
    path,
    Math.floor(generator.nextFloat() * model.getParameter(path)!.size),
  ]);
}

/** The largest |analytic - numeric| / (1 + |numeric|) over the sample. */
function worstError(
  model: CausalLM,
  grads: Map<string, Float64Array>,
  probes: [string, number][],
  eps: number,
  projection: Tensor,
): number {
  let worst = 0;
  for (const [path, index] of probes) {
    const n = numeric(model, path, index, eps, projection);
    worst = Math.max(worst, Math.abs(grads.get(path)![index]! - n) / (1 + Math.abs(n)));
  }
  return worst;
}

/** The adapter every check uses: all linear layers, rank 2, B random (a zero B would zero A's gradient). */
function adapt(model: CausalLM): string[] {
  injectLora(
    model,
    { targetModules: 'all-linear', r: 2, loraAlpha: 4, initLoraWeights: false },
    { seed: 7 },
  );
  return inF64(model);
}

describe.each(ARCHITECTURE_VARIANTS)('LoRA gradients through %s', (variant, overrides) => {
  it('match finite differences on a full-precision base (f64 where the model computes in f64)', () => {
    const model = tinyModel(variant, overrides);
    const paths = adapt(model);
    const projection = projectionFor(model, 1);
    const grads = analytic(model, paths, projection);
    for (const g of grads.values()) expect(maxAbs(g)).toBeGreaterThan(0);
    const { eps, tolerance } = stepFor(variant);
    expect(worstError(model, grads, sample(model, paths, 12, 2), eps, projection)).toBeLessThan(
      tolerance,
    );
    projection.dispose();
    model.dispose();
  });

  it('flow through the frozen, packed 4-bit base as through its dequantized weights', async () => {
    const fp = tinyModel(variant, overrides);
    const quantized = await quantized4Bit(fp, work.path);
    fp.dispose();
    const layers = [...quantized.namedModules()].filter(([, m]) => m instanceof QuantLinear);
    expect(layers.length).toBe(
      quantized.decoderBlocks().flatMap((b) => b.linearGroups.flat()).length,
    );
    const paths = adapt(quantized);
    const projection = projectionFor(quantized, 3);
    const before = memory().tensors;
    const grads = analytic(quantized, paths, projection);
    // The dequantized weight each backward pass makes is transient: nothing stays behind.
    expect(memory().tensors).toBe(before);
    for (const [, layer] of layers) {
      const q = (layer as QuantLinear).qweight;
      expect(q.dtype).toBe('i32');
      expect(q.grad).toBeNull();
    }
    // The same adapter on the same weights held dequantized in f64: only QuantLinear's f32
    // arithmetic separates the two, so the gradients agree to f32 rounding, element by element.
    const reference = await quantized4Bit(tinyModel(variant, overrides), work.path);
    dequantizeModel(reference);
    adapt(reference);
    const exact = analytic(reference, paths, projection);
    for (const path of paths) {
      const g = exact.get(path)!;
      expect(maxAbsDiff(grads.get(path)!, g), path).toBeLessThan(2e-5 * (1 + maxAbs(g)));
    }
    const { eps, tolerance } = stepFor(variant);
    expect(
      worstError(reference, exact, sample(reference, paths, 12, 4), eps, projection),
    ).toBeLessThan(tolerance);
    // And directly on the 4-bit model, with a step large enough for its f32 arithmetic.
    expect(
      worstError(quantized, grads, sample(quantized, paths, 8, 5), F32_STEP.eps, projection),
    ).toBeLessThan(F32_STEP.tolerance);
    projection.dispose();
    quantized.dispose();
    reference.dispose();
  });
});

describe('an act-order GPTQ base (g_idx not k / group size)', () => {
  it('passes the same gradients to A, B and the input as its dequantized weight', () => {
    const [K, N, r] = [64, 32, 4];
    const generator = new Generator(12);
    // Groups of 16 input channels scattered over K, as desc_act leaves them.
    const order = Array.from({ length: K }, (_, k) => k).sort(() => generator.nextFloat() - 0.5);
    const gIdx = new Int32Array(K);
    order.forEach((k, i) => {
      gIdx[k] = Math.floor(i / 16);
    });
    const quantized = QuantLinear.fromQuantization({
      codes: Uint8Array.from({ length: N * K }, () => Math.floor(generator.nextFloat() * 16)),
      scales: Float32Array.from({ length: 4 * N }, () => 0.01 + 0.02 * generator.nextFloat()),
      zeros: Float32Array.from({ length: 4 * N }, () => Math.floor(generator.nextFloat() * 16)),
      gIdx,
      bits: 4,
      groupSize: 16,
    });
    expect(quantized.actOrder).toBe(true);
    const dense = new Linear(K, N);
    dense.setParameter('weight', quantized.dequantizedWeight());
    const a = randn([r, K], { generator, std: 0.1 });
    const b = randn([N, r], { generator, std: 0.1 });
    const x = randn([2, 3, K], { generator });
    const projection = randn([2, 3, N], { generator });
    const gradients = (base: QuantLinear | Linear) => {
      const layer = new LoraLinear(base);
      const settings = { r, alpha: 8, scaling: 2, dropout: 0 };
      layer.addAdapter('default', settings, mul(a, 1), mul(b, 1));
      layer.activeAdapters = ['default'];
      const input = mul(x, 1);
      const leaves = [layer.loraA('default').weight, layer.loraB('default').weight, input];
      for (const t of leaves) t.requiresGrad = true;
      scope(() => sum(mul(layer.forward(input), projection)).backward());
      return leaves.map((t) => Float64Array.from(t.grad!.dataSync()));
    };
    const viaPacked = gradients(quantized);
    const viaDense = gradients(dense);
    viaPacked.forEach((g, i) => {
      expect(maxAbs(g)).toBeGreaterThan(0);
      expect(maxAbsDiff(g, viaDense[i]!)).toBeLessThan(1e-5 * (1 + maxAbs(viaDense[i]!)));
    });
  });
});
