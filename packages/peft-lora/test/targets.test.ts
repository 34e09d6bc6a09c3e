import '@slimlm/kernels-cpu';
import { describe, expect, it } from 'vitest';
import {
  injectLora,
  type LoraLinear,
  matchesTargets,
  minimalTargetModules,
  resolveLoraConfig,
  selectTargets,
} from '../src/index';
import { tinyModel } from './lora-helpers';

const select = (variant: string, config: object, overrides: Record<string, unknown> = {}) => {
  const model = tinyModel(variant, overrides);
  try {
    return selectTargets(model, resolveLoraConfig(config, model.config.modelType));
  } finally {
    model.dispose();
  }
};

describe('target modules (PEFT semantics)', () => {
  it('matches list entries by equality or dotted suffix, and a string as a full regex', () => {
    expect(matchesTargets(['q_proj'], 'model.layers.0.self_attn.q_proj')).toBe(true);
    expect(matchesTargets(['self_attn.q_proj'], 'model.layers.0.self_attn.q_proj')).toBe(true);
    expect(matchesTargets(['proj'], 'model.layers.0.self_attn.q_proj')).toBe(false);
    expect(matchesTargets(['lm_head'], 'lm_head')).toBe(true);
    expect(matchesTargets('.*q_proj', 'model.layers.0.self_attn.q_proj')).toBe(true);
    expect(matchesTargets('q_proj', 'model.layers.0.self_attn.q_proj')).toBe(false);
    expect(matchesTargets('.*\\.(q|v)_proj', 'model.layers.0.self_attn.k_proj')).toBe(false);
  });

  it("uses PEFT's default targets per model_type", () => {
    expect(select('llama-transformers', {}).paths.filter((p) => p.includes('layers.0'))).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.v_proj',
    ]);
    expect(select('gpt2', {}).paths).toEqual([
      'transformer.h.0.attn.c_attn',
      'transformer.h.1.attn.c_attn',
    ]);
    expect(select('gpt_neox', {}).paths).toEqual([
      'gpt_neox.layers.0.attention.query_key_value',
      'gpt_neox.layers.1.attention.query_key_value',
    ]);
  });

  it("resolves 'all-linear' to every linear layer but the output head", () => {
    const neox = select('gpt_neox', { targetModules: 'ALL-LINEAR' });
    expect(neox.paths).toHaveLength(8);
    expect(neox.paths).not.toContain('embed_out');
    expect(neox.targetModules).toEqual(neox.paths);
    // OPT-350m-style projections outside the blocks are linear layers too; lm_head is the head.
    const opt = select('opt-postln', { targetModules: 'all-linear' });
    expect(opt.paths).toContain('model.decoder.project_in');
    expect(opt.paths).toContain('model.decoder.project_out');
    expect(opt.paths).not.toContain('lm_head');
    // PEFT condenses 20 or more names into the fewest distinguishing suffixes.
    const llama = select(
      'llama-transformers',
      { targetModules: 'all-linear' },
      { num_hidden_layers: 3 },
    );
    expect(llama.paths).toHaveLength(21);
    expect(llama.targetModules).toEqual([
      'down_proj',
      'gate_proj',
      'k_proj',
      'o_proj',
      'q_proj',
      'up_proj',
      'v_proj',
    ]);
  });

  it('condenses target lists as PEFT does (its documented example)', () => {
    const targets = [
      ...Array.from({ length: 100 }, (_, i) => `model.decoder.layers.${i}.self_attn.q_proj`),
      ...Array.from({ length: 100 }, (_, i) => `model.decoder.layers.${i}.self_attn.v_proj`),
    ];
    const others = Array.from(
      { length: 100 },
      (_, i) => `model.encoder.layers.${i}.self_attn.k_proj`,
    );
    expect(minimalTargetModules(targets, others).sort()).toEqual(['q_proj', 'v_proj']);
    // A suffix that also names a non-target is not enough.
    expect(minimalTargetModules(['a.x.proj', 'a.y.proj'], ['a.z.proj']).sort()).toEqual([
      'x.proj',
      'y.proj',
    ]);
  });

  it('filters by exclude_modules, layers_to_transform and layers_pattern', () => {
    expect(
      select('opt', { targetModules: ['q_proj', 'v_proj'], excludeModules: ['v_proj'] }).paths,
    ).toEqual([
      'model.decoder.layers.0.self_attn.q_proj',
      'model.decoder.layers.1.self_attn.q_proj',
    ]);
    expect(
      select('opt', { targetModules: 'all-linear', excludeModules: '.*fc\\d' }).paths,
    ).toHaveLength(8);
    expect(select('opt', { targetModules: ['fc1'], layersToTransform: 1 }).paths).toEqual([
      'model.decoder.layers.1.fc1',
    ]);
    expect(
      select('gpt2', { targetModules: ['c_proj'], layersToTransform: [0], layersPattern: 'h' })
        .paths,
    ).toEqual(['transformer.h.0.attn.c_proj', 'transformer.h.0.mlp.c_proj']);
    expect(() =>
      select('gpt2', {
        targetModules: ['c_proj'],
        layersToTransform: [0],
        layersPattern: 'layers',
      }),
    ).toThrow(/selects no module/);
  });

  it('gives modules their rank and alpha from rank_pattern / alpha_pattern', () => {
    const model = tinyModel('llama-transformers');
    injectLora(model, {
      r: 4,
      loraAlpha: 8,
      targetModules: ['q_proj', 'down_proj'],
      rankPattern: { 'layers\\.1\\.self_attn\\.q_proj': 2, down_proj: 6 },
      alphaPattern: { down_proj: 3 },
    });
    const settings = (path: string) => (model.getModule(path) as LoraLinear).settingsOf('default');
    expect(settings('model.layers.0.self_attn.q_proj')).toMatchObject({
      r: 4,
      alpha: 8,
      scaling: 2,
    });
    expect(settings('model.layers.1.self_attn.q_proj')).toMatchObject({
      r: 2,
      alpha: 8,
      scaling: 4,
    });
    expect(settings('model.layers.0.mlp.down_proj')).toMatchObject({
      r: 6,
      alpha: 3,
      scaling: 0.5,
    });
    const a = (model.getModule('model.layers.1.mlp.down_proj') as LoraLinear).loraA('default');
    expect(a.weight.shape).toEqual([6, 48]);
    model.dispose();
  });

  it("records GPT-2's Conv1D layout as fan_in_fan_out", () => {
    const model = tinyModel('gpt2');
    expect(injectLora(model, { targetModules: ['c_attn'] }).config.fanInFanOut).toBe(true);
    model.dispose();
    const llama = tinyModel('llama-transformers');
    expect(injectLora(llama, { fanInFanOut: true }).config.fanInFanOut).toBe(false);
    llama.dispose();
  });
});
