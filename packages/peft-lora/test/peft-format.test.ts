import '@slimlm/kernels-cpu';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, randn, SlimlmError, type Tensor, tensor } from '@slimlm/core';
import { openSafetensors, saveSafetensors } from '@slimlm/hub';
import { type CausalLM, getArchitecture, type Linear, modelFromFolder } from '@slimlm/models';
import { afterAll, describe, expect, it } from 'vitest';
import {
  adapterConfigJson,
  applyAdapter,
  injectLora,
  type LoraLinear,
  loadAdapter,
  readAdapter,
  resolveLoraConfig,
  saveAdapter,
} from '../src/index';
import {
  logitsOf,
  maxAbsDiff,
  OPT_ADAPTER,
  readConfig,
  temporaryFolder,
  tinyModel,
} from './lora-helpers';
import { WIKILLAMA } from './train-helpers';

const PROMPT = [3, 14, 15, 9, 26, 5, 35];
const work = temporaryFolder();
afterAll(() => work.remove());

/** Whether two files hold the same bytes (vitest's deep equality is slow on megabytes). */
const sameBytes = (a: string, b: string) => readFileSync(a).equals(readFileSync(b));
const text = (path: string) => readFileSync(path, 'utf8');

/** The error `fn` throws, which must be a SlimlmError. */
function errorOf(fn: () => unknown): SlimlmError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SlimlmError);
    return error as SlimlmError;
  }
  throw new Error('expected an error');
}

/** An OPT with facebook/opt-125m's attention shapes (12 layers, hidden 768) and no weights loaded. */
function opt125mShaped(): CausalLM {
  const config = {
    ...readConfig('opt'),
    hidden_size: 768,
    num_attention_heads: 12,
    num_hidden_layers: 12,
    word_embed_proj_dim: 768,
    ffn_dim: 32,
  };
  return getArchitecture('opt').create(config, 'opt-125m-shaped/config.json');
}

describe('a real PEFT adapter (facebook/opt-125m, r 8 on q_proj/v_proj)', () => {
  it('parses and checks the files on their own', () => {
    const adapter = readAdapter(OPT_ADAPTER);
    try {
      expect(adapter.config).toMatchObject({
        r: 8,
        loraAlpha: 16,
        loraDropout: 0.05,
        targetModules: ['v_proj', 'q_proj'],
        bias: 'none',
        useRslora: false,
        baseModelNameOrPath: 'facebook/opt-125m',
      });
      expect(adapter.modules.size).toBe(24);
      expect(adapter.modules.get('model.decoder.layers.11.self_attn.v_proj')).toMatchObject({
        r: 8,
        inFeatures: 768,
        outFeatures: 768,
      });
      expect(adapter.biases.size).toBe(0);
    } finally {
      adapter.close();
    }
  });

  it('says clearly when the base model is not the one it was made for', () => {
    const wikillama = modelFromFolder(WIKILLAMA);
    const other = errorOf(() => loadAdapter(wikillama, OPT_ADAPTER));
    expect(other.code).toBe('NOT_FOUND');
    expect(other.message).toMatch(
      /was made for facebook\/opt-125m, and this llama model does not match: it has no module 'model\.decoder\.layers\.\d+\.self_attn\.[qv]_proj' among those target_modules selects \(and 23 more\)/,
    );
    expect([...wikillama.namedParameters()].some(([n]) => n.includes('lora_'))).toBe(false);
    wikillama.dispose();

    const tiny = tinyModel('opt');
    expect(errorOf(() => loadAdapter(tiny, OPT_ADAPTER)).message).toMatch(/\(and 19 more\)/);
    tiny.dispose();

    const narrow = getArchitecture('opt').create(
      { ...readConfig('opt'), num_hidden_layers: 12 },
      'narrow/config.json',
    );
    const shapes = errorOf(() => loadAdapter(narrow, OPT_ADAPTER));
    expect(shapes.code).toBe('SHAPE_MISMATCH');
    expect(shapes.message).toMatch(
      /'model\.decoder\.layers\.0\.self_attn\.v_proj' maps 32 → 32 features, the adapter's A and B 768 → 768/,
    );

    const gpt2 = tinyModel('gpt2');
    expect(errorOf(() => loadAdapter(gpt2, OPT_ADAPTER)).message).toMatch(
      /does not match: targetModules \["v_proj","q_proj"\] selects no module of this gpt2 model/,
    );
    gpt2.dispose();
  });

  it('loads onto a model of its shapes, computes as PEFT does, and saves back byte for byte', () => {
    const model = opt125mShaped();
    const adapter = applyAdapter(model, OPT_ADAPTER);
    expect(adapter.modules).toHaveLength(24);
    const layer = model.getModule('model.decoder.layers.3.self_attn.q_proj') as LoraLinear;
    const base = layer.base as Linear;
    const generator = new Generator(7);
    base.setParameter('weight', randn([768, 768], { std: 0.02, generator }));
    base.setParameter('bias', randn([768], { std: 0.02, generator }));
    const x = randn([2, 768], { generator });
    const y = Float64Array.from(layer.forward(x).dataSync());
    // PEFT: y = x Wᵀ + b + (alpha / r) · x Aᵀ Bᵀ, alpha 16, r 8.
    const source = openSafetensors(join(OPT_ADAPTER, 'adapter_model.safetensors'));
    const prefix = 'base_model.model.model.decoder.layers.3.self_attn.q_proj';
    const a = source.read(`${prefix}.lora_A.weight`).dataSync();
    const b = source.read(`${prefix}.lora_B.weight`).dataSync();
    source.close();
    const [w, bias, xs] = [base.weight, base.bias!, x].map((t: Tensor) => t.dataSync());
    let worst = 0;
    let update = 0;
    for (let row = 0; row < 2; row++) {
      const h = Array.from({ length: 8 }, (_, q) => {
        let s = 0;
        for (let k = 0; k < 768; k++) s += xs![row * 768 + k]! * a[q * 768 + k]!;
        return s;
      });
      for (let o = 0; o < 768; o++) {
        let s = bias![o]!;
        for (let k = 0; k < 768; k++) s += xs![row * 768 + k]! * w![o * 768 + k]!;
        let lora = 0;
        for (let q = 0; q < 8; q++) lora += h[q]! * b[o * 8 + q]!;
        update = Math.max(update, Math.abs(2 * lora));
        worst = Math.max(worst, Math.abs(y[row * 768 + o]! - (s + 2 * lora)));
      }
    }
    expect(update).toBeGreaterThan(1e-3);
    expect(worst).toBeLessThan(1e-5);

    const out = join(work.path, 'opt-resaved');
    saveAdapter(model, out);
    expect(
      sameBytes(
        join(out, 'adapter_model.safetensors'),
        join(OPT_ADAPTER, 'adapter_model.safetensors'),
      ),
    ).toBe(true);
    expect(text(join(out, 'adapter_config.json'))).toBe(
      text(join(OPT_ADAPTER, 'adapter_config.json')),
    );
    model.dispose();
  });
});

describe('saving and loading adapters made here', () => {
  it('writes the keys, shapes and config fields PEFT writes, and loads them back bit-exactly', () => {
    const model = tinyModel('llama-transformers');
    injectLora(
      model,
      { r: 4, loraAlpha: 16, useRslora: true, targetModules: 'all-linear', initLoraWeights: false },
      { seed: 2 },
    );
    const expected = logitsOf(model, PROMPT);
    const dir = join(work.path, 'llama-all');
    const files = saveAdapter(model, dir, { baseModelNameOrPath: 'tiny-llama' });
    const file = openSafetensors(files.weights);
    expect(file.names()).toHaveLength(2 * 14);
    expect(file.info('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight').shape).toEqual([
      4, 48,
    ]);
    expect(file.info('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight').shape).toEqual([
      32, 4,
    ]);
    expect(file.names().every((n) => /^base_model\.model\..*\.lora_[AB]\.weight$/.test(n))).toBe(
      true,
    );
    expect(file.metadata).toEqual({ format: 'pt' });
    file.close();
    const config = JSON.parse(text(files.config));
    const real = JSON.parse(text(join(OPT_ADAPTER, 'adapter_config.json')));
    expect(Object.keys(config)).toEqual(Object.keys(real));
    expect(config).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
      lora_alpha: 16,
      use_rslora: true,
      lora_dropout: 0,
      base_model_name_or_path: 'tiny-llama',
      init_lora_weights: false,
      inference_mode: true,
    });
    expect(config.target_modules).toHaveLength(14);
    expect(text(files.config)).toContain('"lora_dropout": 0.0,');

    const fresh = tinyModel('llama-transformers');
    const loaded = loadAdapter(fresh, dir, { adapterName: 'mine' });
    expect(loaded.config.targetModules).toEqual(config.target_modules);
    expect(maxAbsDiff(logitsOf(fresh, PROMPT), expected)).toBe(0);
    const again = join(work.path, 'llama-all-again');
    saveAdapter(fresh, again);
    expect(sameBytes(join(again, 'adapter_model.safetensors'), files.weights)).toBe(true);
    expect(text(join(again, 'adapter_config.json'))).toBe(text(files.config));
    model.dispose();
    fresh.dispose();
  });

  it('saves and restores trained biases by bias mode, named as PEFT names them', () => {
    for (const bias of ['lora_only', 'all'] as const) {
      const model = tinyModel('gpt2');
      injectLora(
        model,
        { r: 2, targetModules: ['c_attn'], bias, initLoraWeights: false },
        { seed: 4 },
      );
      // Stand-ins for trained biases: change every bias the mode trains.
      const generator = new Generator(5);
      const changed =
        bias === 'all'
          ? [...model.namedParameters()].map(([n]) => n).filter((n) => n.endsWith('.bias'))
          : [
              'transformer.h.0.attn.c_attn.base_layer.bias',
              'transformer.h.1.attn.c_attn.base_layer.bias',
            ];
      for (const path of changed) {
        model.setParameter(path, randn(model.getParameter(path)!.shape, { generator }));
      }
      const expected = logitsOf(model, PROMPT);
      const dir = join(work.path, `gpt2-${bias}`);
      saveAdapter(model, dir);
      const file = openSafetensors(join(dir, 'adapter_model.safetensors'));
      const saved = file.names().filter((n) => n.endsWith('bias'));
      file.close();
      expect(saved.sort()).toEqual(changed.map((n) => `base_model.model.${n}`).sort());
      const fresh = tinyModel('gpt2');
      expect(maxAbsDiff(logitsOf(fresh, PROMPT), expected)).toBeGreaterThan(1e-2);
      loadAdapter(fresh, dir);
      expect(maxAbsDiff(logitsOf(fresh, PROMPT), expected)).toBe(0);
      model.dispose();
      fresh.dispose();
    }
  });

  it("writes numbers as Python's json.dumps does", () => {
    const config = resolveLoraConfig(
      {
        r: 16,
        loraAlpha: 32.5,
        loraDropout: 1e-5,
        targetModules: '.*\\.(q|v)_proj',
        layersToTransform: 3,
      },
      'llama',
    );
    const json = adapterConfigJson(config);
    expect(json).toContain('"lora_alpha": 32.5,');
    expect(json).toContain('"lora_dropout": 1e-05,');
    expect(json).toContain('"target_modules": ".*\\\\.(q|v)_proj",');
    expect(json).toContain('"layers_to_transform": 3,');
    expect(json).toContain('"alpha_pattern": {},');
    expect(json.endsWith('}')).toBe(true);
  });
});

describe('malformed or unsupported adapters', () => {
  const real = JSON.parse(text(join(OPT_ADAPTER, 'adapter_config.json')));

  /** An adapter folder with `config` (merged over the real one) and `tensors`. */
  function adapterDir(
    name: string,
    config: Record<string, unknown>,
    tensors: [string, number[]][] = [
      ['base_model.model.model.decoder.layers.0.self_attn.q_proj.lora_A.weight', [8, 32]],
      ['base_model.model.model.decoder.layers.0.self_attn.q_proj.lora_B.weight', [32, 8]],
    ],
  ): string {
    const dir = join(work.path, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...real, ...config }));
    saveSafetensors(
      join(dir, 'adapter_model.safetensors'),
      tensors.map(([key, shape]) => [
        key,
        tensor(new Float32Array(shape[0]! * shape[1]!), { shape }),
      ]),
    );
    return dir;
  }

  it('names the file, the field or the tensor at fault', () => {
    const cases: [string, () => unknown, string, RegExp][] = [
      [
        'no folder',
        () => readAdapter(join(work.path, 'absent')),
        'NOT_FOUND',
        /adapter folder .*absent does not exist/,
      ],
      [
        'IA3',
        () => readAdapter(adapterDir('ia3', { peft_type: 'IA3' })),
        'UNSUPPORTED',
        /peft_type 'IA3' is not supported/,
      ],
      [
        'DoRA',
        () => readAdapter(adapterDir('dora', { use_dora: true })),
        'UNSUPPORTED',
        /DoRA \(use_dora: true\)/,
      ],
      [
        'modules_to_save',
        () => readAdapter(adapterDir('mts', { modules_to_save: ['lm_head'] })),
        'UNSUPPORTED',
        /fully trained extra modules \(modules_to_save: \["lm_head"\]\)/,
      ],
      [
        'r as text',
        () => readAdapter(adapterDir('r', { r: '8' })),
        'INVALID_CONFIG',
        /adapter_config.json: field 'r' must be/,
      ],
      [
        'wrong rank',
        () =>
          readAdapter(
            adapterDir('rank', {}, [
              ['base_model.model.x.q_proj.lora_A.weight', [4, 32]],
              ['base_model.model.x.q_proj.lora_B.weight', [32, 4]],
            ]),
          ),
        'INVALID_FILE',
        /tensor 'base_model.model.x.q_proj.lora_A.weight' is \[4, 32\], expected \[r = 8, in\]/,
      ],
      [
        'half a module',
        () =>
          readAdapter(
            adapterDir('half', {}, [['base_model.model.x.q_proj.lora_A.weight', [8, 32]]]),
          ),
        'INVALID_FILE',
        /module 'x.q_proj' has lora_B missing/,
      ],
      [
        'no prefix',
        () => readAdapter(adapterDir('prefix', {}, [['x.q_proj.lora_A.weight', [8, 32]]])),
        'INVALID_FILE',
        /does not start with 'base_model.model.'/,
      ],
      [
        'adapter name in key',
        () =>
          readAdapter(
            adapterDir('named', {}, [['base_model.model.x.q_proj.lora_A.default.weight', [8, 32]]]),
          ),
        'UNSUPPORTED',
        /named with an adapter name/,
      ],
    ];
    for (const [what, fn, code, message] of cases) {
      const error = errorOf(fn);
      expect(error.code, what).toBe(code);
      expect(error.message, what).toMatch(message);
    }
    const pickled = join(work.path, 'pickled');
    mkdirSync(pickled);
    writeFileSync(join(pickled, 'adapter_config.json'), JSON.stringify(real));
    writeFileSync(join(pickled, 'adapter_model.bin'), 'not read');
    expect(errorOf(() => readAdapter(pickled)).message).toMatch(/adapter_model.bin \(pickle\)/);
  });
});
