import '@slimlm/kernels-cpu';
import {
  crossEntropy,
  Generator,
  manualSeed,
  narrow,
  randn,
  SlimlmError,
  scope,
  type Tensor,
} from '@slimlm/core';
import { Linear } from '@slimlm/models';
import { describe, expect, it } from 'vitest';
import {
  activeAdapters,
  adapterConfigs,
  deleteAdapter,
  disableAdapters,
  enableAdapters,
  injectLora,
  LoraLinear,
  loraLayers,
  setAdapter,
  trainableParameters,
} from '../src/index';
import { ids, logitsOf, maxAbs, maxAbsDiff, tinyModel } from './lora-helpers';

const PROMPT = [5, 17, 42, 8, 9, 60, 25, 33];

/** Host copy of a tensor's values. */
const host = (t: Tensor) => Float64Array.from(t.dataSync());

/** base(x) + Σ scaling · (x Aᵀ) Bᵀ for an out-in Linear base, in f64 on the host. */
function expectedOutput(
  x: Float64Array,
  rows: number,
  base: Linear,
  adapters: { a: Tensor; b: Tensor; scaling: number; input?: Float64Array }[],
): Float64Array {
  const { inFeatures: k, outFeatures: n } = base;
  const w = host(base.weight);
  const bias = base.bias ? host(base.bias) : null;
  const y = new Float64Array(rows * n);
  for (let i = 0; i < rows; i++) {
    for (let o = 0; o < n; o++) {
      let s = bias ? bias[o]! : 0;
      for (let j = 0; j < k; j++) s += x[i * k + j]! * w[o * k + j]!;
      y[i * n + o] = s;
    }
  }
  for (const { a, b, scaling, input } of adapters) {
    const r = a.shape[0]!;
    const av = host(a);
    const bv = host(b);
    const xin = input ?? x;
    for (let i = 0; i < rows; i++) {
      const h = new Float64Array(r);
      for (let q = 0; q < r; q++)
        for (let j = 0; j < k; j++) h[q]! += xin[i * k + j]! * av[q * k + j]!;
      for (let o = 0; o < n; o++) {
        let s = 0;
        for (let q = 0; q < r; q++) s += h[q]! * bv[o * r + q]!;
        y[i * n + o]! += scaling * s;
      }
    }
  }
  return y;
}

function std(values: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i]!;
  mean /= values.length;
  let v = 0;
  for (let i = 0; i < values.length; i++) v += (values[i]! - mean) ** 2;
  return Math.sqrt(v / values.length);
}

describe('injectLora', () => {
  it('wraps the targeted Linears (PEFT default targets) without changing them', () => {
    const model = tinyModel('llama-transformers');
    const before = logitsOf(model, PROMPT);
    const q = model.getModule('model.layers.0.self_attn.q_proj') as Linear;
    const weight = q.weight;
    const adapter = injectLora(model, {}, { seed: 3 });
    expect(adapter.name).toBe('default');
    expect(adapter.modules).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.v_proj',
      'model.layers.1.self_attn.q_proj',
      'model.layers.1.self_attn.v_proj',
    ]);
    const layer = model.getModule('model.layers.0.self_attn.q_proj');
    expect(layer).toBeInstanceOf(LoraLinear);
    expect((layer as LoraLinear).base).toBe(q);
    expect(q.weight).toBe(weight);
    const names = new Map([...model.namedParameters()].map(([n, t]) => [n, t.shape]));
    expect(names.get('model.layers.0.self_attn.q_proj.base_layer.weight')).toEqual([32, 32]);
    expect(names.get('model.layers.0.self_attn.q_proj.lora_A.default.weight')).toEqual([8, 32]);
    expect(names.get('model.layers.0.self_attn.v_proj.lora_B.default.weight')).toEqual([16, 8]);
    // B starts at zero: the adapted model computes exactly what the base did.
    expect(maxAbsDiff(logitsOf(model, PROMPT), before)).toBe(0);
    expect(activeAdapters(model)).toEqual(['default']);
    model.dispose();
  });

  it("initialises A Kaiming-uniform (a = √5: bound 1/√in), B zeros; 'gaussian' and false as PEFT", () => {
    const model = tinyModel('gpt_neox', { hidden_size: 128, intermediate_size: 128 });
    injectLora(model, { r: 16, targetModules: ['dense_h_to_4h'] }, { seed: 1 });
    injectLora(
      model,
      { r: 4, targetModules: ['dense_h_to_4h'], initLoraWeights: 'gaussian' },
      { adapterName: 'g', seed: 2 },
    );
    injectLora(
      model,
      { r: 4, targetModules: ['dense_h_to_4h'], initLoraWeights: false },
      { adapterName: 'f', seed: 3 },
    );
    const layer = model.getModule('gpt_neox.layers.0.mlp.dense_h_to_4h') as LoraLinear;
    const a = host(layer.loraA('default').weight);
    const bound = 1 / Math.sqrt(128);
    expect(maxAbs(a)).toBeLessThanOrEqual(bound);
    expect(maxAbs(a)).toBeGreaterThan(0.95 * bound);
    expect(std(a)).toBeCloseTo(bound / Math.sqrt(3), 2);
    expect(maxAbs(host(layer.loraB('default').weight))).toBe(0);
    expect(std(host(layer.loraA('g').weight))).toBeCloseTo(1 / 4, 1);
    expect(maxAbs(host(layer.loraB('g').weight))).toBe(0);
    const b = host(layer.loraB('f').weight);
    expect(maxAbs(b)).toBeLessThanOrEqual(1 / 2);
    expect(std(b)).toBeCloseTo(1 / 2 / Math.sqrt(3), 1);
    model.dispose();
  });

  it('computes base(x) + scaling · B·A·x, with scaling alpha/r or alpha/√r (rsLoRA)', () => {
    for (const useRslora of [false, true]) {
      const model = tinyModel('opt');
      injectLora(
        model,
        { r: 4, loraAlpha: 8, useRslora, initLoraWeights: false, targetModules: ['fc1'] },
        { seed: 5 },
      );
      const layer = model.getModule('model.decoder.layers.1.fc1') as LoraLinear;
      expect(layer.settingsOf('default').scaling).toBe(useRslora ? 4 : 2);
      const x = randn([2, 3, 32], { generator: new Generator(9) });
      const y = host(layer.forward(x));
      const expected = expectedOutput(host(x), 6, layer.base as Linear, [
        {
          a: layer.loraA('default').weight,
          b: layer.loraB('default').weight,
          scaling: useRslora ? 4 : 2,
        },
      ]);
      expect(maxAbsDiff(y, expected)).toBeLessThan(1e-4);
      model.dispose();
    }
  });

  it('drops out the adapter input in training mode only, with masks from the global generator', () => {
    const p = 0.25;
    const model = tinyModel('gpt_neo');
    injectLora(
      model,
      { r: 2, loraDropout: p, initLoraWeights: false, targetModules: ['c_fc'] },
      { seed: 11 },
    );
    const path = 'transformer.h.0.mlp.c_fc';
    const layer = model.getModule(path) as LoraLinear;
    const x = randn([1, 4, 32], { generator: new Generator(4) });
    const settings = layer.settingsOf('default');
    const clean = expectedOutput(host(x), 4, layer.base as Linear, [
      {
        a: layer.loraA('default').weight,
        b: layer.loraB('default').weight,
        scaling: settings.scaling,
      },
    ]);
    expect(maxAbsDiff(host(layer.forward(x)), clean)).toBeLessThan(1e-4);
    // Masks come from core's global generator, as torch's dropout from torch's.
    manualSeed(21);
    const replay = new Generator(21);
    const mask = Float64Array.from(host(x), (v) => (replay.nextFloat() < p ? 0 : v / (1 - p)));
    model.train();
    const dropped = host(layer.forward(x));
    const expected = expectedOutput(host(x), 4, layer.base as Linear, [
      {
        a: layer.loraA('default').weight,
        b: layer.loraB('default').weight,
        scaling: settings.scaling,
        input: mask,
      },
    ]);
    expect(maxAbsDiff(dropped, expected)).toBeLessThan(1e-4);
    expect(maxAbsDiff(dropped, clean)).toBeGreaterThan(1e-3);
    model.eval();
    expect(maxAbsDiff(host(layer.forward(x)), clean)).toBeLessThan(1e-4);
    model.dispose();
  });

  it('adds every active adapter; switches, disables and deletes them', () => {
    const model = tinyModel('llama-transformers');
    const base = logitsOf(model, PROMPT);
    injectLora(model, { r: 2, initLoraWeights: false }, { adapterName: 'qv', seed: 1 });
    injectLora(
      model,
      { r: 3, initLoraWeights: false, targetModules: 'all-linear' },
      { adapterName: 'all', seed: 2 },
    );
    expect([...adapterConfigs(model).keys()]).toEqual(['qv', 'all']);
    expect(activeAdapters(model)).toEqual(['qv']);
    const onlyQv = logitsOf(model, PROMPT);
    setAdapter(model, 'all');
    const onlyAll = logitsOf(model, PROMPT);
    setAdapter(model, ['qv', 'all']);
    const both = logitsOf(model, PROMPT);
    for (const logits of [onlyQv, onlyAll, both])
      expect(maxAbsDiff(logits, base)).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(both, onlyAll)).toBeGreaterThan(1e-3);

    const layer = model.getModule('model.layers.0.self_attn.q_proj') as LoraLinear;
    const x = randn([1, 2, 32], { generator: new Generator(6) });
    const term = (name: string) => ({
      a: layer.loraA(name).weight,
      b: layer.loraB(name).weight,
      scaling: layer.settingsOf(name).scaling,
    });
    const expected = expectedOutput(host(x), 2, layer.base as Linear, [term('qv'), term('all')]);
    expect(maxAbsDiff(host(layer.forward(x)), expected)).toBeLessThan(1e-4);

    disableAdapters(model);
    expect(maxAbsDiff(logitsOf(model, PROMPT), base)).toBe(0);
    enableAdapters(model);
    expect(maxAbsDiff(logitsOf(model, PROMPT), both)).toBe(0);

    deleteAdapter(model, 'all');
    expect(activeAdapters(model)).toEqual(['qv']);
    expect(model.getModule('model.layers.0.mlp.up_proj')).toBeInstanceOf(Linear);
    expect(maxAbsDiff(logitsOf(model, PROMPT), onlyQv)).toBe(0);
    deleteAdapter(model, 'qv');
    expect(loraLayers(model)).toEqual([]);
    expect([...model.namedParameters()].some(([name]) => name.includes('lora_'))).toBe(false);
    expect(maxAbsDiff(logitsOf(model, PROMPT), base)).toBe(0);
    model.dispose();
  });

  it('trains A and B only: the base gets no gradient, and A none while B is zero', () => {
    const model = tinyModel('gpt2');
    injectLora(model, { r: 2, targetModules: ['c_attn', 'c_fc'] }, { seed: 1 });
    const params = trainableParameters(model);
    expect(params.size).toBe(8);
    const loss = scope(() => {
      const logits = model.forward(ids([PROMPT]));
      const l = crossEntropy(narrow(logits, 1, 0, 7), ids([PROMPT.slice(1)]));
      l.backward();
      return l.item();
    });
    expect(Number.isFinite(loss)).toBe(true);
    for (const [name, t] of params) {
      const g = host(t.grad!);
      if (name.includes('lora_B')) expect(maxAbs(g)).toBeGreaterThan(0);
      else expect(maxAbs(g)).toBe(0);
    }
    for (const [name, t] of model.namedParameters()) {
      if (!name.includes('lora_')) expect(t.grad).toBeNull();
    }
    model.dispose();
  });

  it("selects biases as PEFT does: 'all' every bias, 'lora_only' the wrapped layers'", () => {
    const model = tinyModel('gpt2');
    injectLora(
      model,
      { r: 2, targetModules: ['c_attn'], bias: 'lora_only' },
      { adapterName: 'own' },
    );
    const own = [...trainableParameters(model).keys()].filter((n) => n.endsWith('bias'));
    expect(own).toEqual([
      'transformer.h.0.attn.c_attn.base_layer.bias',
      'transformer.h.1.attn.c_attn.base_layer.bias',
    ]);
    expect(() =>
      injectLora(model, { targetModules: ['c_fc'], bias: 'all' }, { adapterName: 'all' }),
    ).toThrow(/only one adapter per model may train biases/);
    deleteAdapter(model, 'own');
    injectLora(model, { r: 2, targetModules: ['c_attn'], bias: 'all' }, { adapterName: 'all' });
    const all = [...trainableParameters(model).keys()].filter((n) => n.endsWith('bias'));
    const biases = [...model.namedParameters()].map(([n]) => n).filter((n) => n.endsWith('.bias'));
    expect(all.sort()).toEqual(biases.sort());
    expect(all).toContain('transformer.ln_f.bias');
    expect(all).toContain('transformer.h.1.mlp.c_proj.bias');
    model.dispose();
  });

  it('refuses bad settings with errors naming the field', () => {
    const model = tinyModel('opt');
    const fails = (config: object, pattern: RegExp, options = {}) => {
      let error: unknown;
      try {
        injectLora(model, config, options);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SlimlmError);
      expect((error as Error).message).toMatch(pattern);
    };
    fails({ r: 0 }, /r must be a positive integer, got 0/);
    fails({ loraDropout: 1 }, /loraDropout must be a number in \[0, 1\)/);
    fails({ bias: 'some' }, /bias must be 'none', 'all' or 'lora_only'/);
    fails({ targetModules: [] }, /targetModules must be a non-empty list/);
    fails({ initLoraWeights: 'pissa' }, /initLoraWeights "pissa" is not supported/);
    fails(
      { targetModules: ['nothing_here'] },
      /selects no module of this opt model \(OPTForCausalLM\); its linear layers are named .*fc1/,
    );
    fails(
      { targetModules: ['self_attn'] },
      /'model.decoder.layers.0.self_attn' is a OPTAttention; LoRA wraps linear layers only/,
    );
    fails({}, /adapter name 'a.b' must be letters/, { adapterName: 'a.b' });
    injectLora(model, {});
    fails({}, /has an adapter 'default' already/);
    expect(() => setAdapter(model, 'other')).toThrow(
      /no LoRA adapter 'other' on this model \(adapters: default\)/,
    );
    model.dispose();
  });
});
