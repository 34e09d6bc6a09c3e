import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  dynamicSkipKey,
  dynamicSkips,
  type GptqConfig,
  gptqConfigJson,
  moduleQuantization,
  parseGptqConfig,
  readGptqConfig,
  SLIMLM_VERSION,
} from '../src/index';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixture = (name: string) => join(root, 'fixtures/gptq', name);
const folders: string[] = [];

/** A temporary model folder holding `files` (target name → fixture path or JSON value). */
function folderWith(files: Record<string, string | Record<string, unknown>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'slimlm-gptq-config-'));
  folders.push(dir);
  for (const [name, content] of Object.entries(files)) {
    if (typeof content === 'string') copyFileSync(content, join(dir, name));
    else writeFileSync(join(dir, name), JSON.stringify(content));
  }
  return dir;
}

afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

describe('readGptqConfig on real configs', () => {
  it('reads AutoGPTQ config.json quantization_config (TheBloke Llama-2-13B-chat-GPTQ)', () => {
    const dir = folderWith({
      'config.json': fixture('autogptq_llama-2-13b-chat-gptq.config.json'),
    });
    const config = readGptqConfig(dir)!;
    expect(config).toMatchObject({
      bits: 4,
      groupSize: 128,
      descAct: false,
      sym: true,
      dampPercent: 0.01,
      trueSequential: true,
      staticGroups: false,
      checkpointFormat: 'gptq', // missing means v1
      quantMethod: 'gptq',
      lmHead: false,
    });
    expect(config.raw.model_file_base_name).toBe('model');
  });

  it('reads an AutoGPTQ quantize_config.json without quant_method (wizard-vicuna 30B)', () => {
    const dir = folderWith({
      'quantize_config.json': fixture('autogptq_wizard-vicuna-30b-gptq.quantize_config.json'),
    });
    expect(readGptqConfig(dir)).toMatchObject({
      bits: 8,
      groupSize: -1,
      descAct: true,
      sym: true,
      checkpointFormat: 'gptq',
      quantMethod: 'gptq',
    });
  });

  it('reads optimum configs (phi-2 GPTQ), config.json winning over quantize_config.json', () => {
    const dir = folderWith({
      'config.json': fixture('optimum_phi-2-gptq.config.json'),
      'quantize_config.json': fixture('optimum_phi-2-gptq.quantize_config.json'),
    });
    const config = readGptqConfig(dir)!;
    expect(config).toMatchObject({ bits: 4, groupSize: 128, dampPercent: 0.1, descAct: false });
    expect(config.raw.disable_exllama).toBe(true); // config.json's value
    expect(config.raw.block_name_to_quantize).toBe('model.layers');
  });

  it('is undefined for a folder without a quantization config', () => {
    expect(readGptqConfig(folderWith({ 'config.json': { model_type: 'llama' } }))).toBeUndefined();
    expect(readGptqConfig(folderWith({}))).toBeUndefined();
  });
});

describe('GPTQModel style and synonyms', () => {
  const gptqmodel = {
    bits: 4,
    dynamic: {
      '-:model\\.layers\\.0\\.mlp\\..*': {},
      '+:.*down_proj.*': { bits: 8, group_size: 32 },
    },
    group_size: 128,
    desc_act: true,
    sym: false,
    lm_head: false,
    quant_method: 'gptq',
    checkpoint_format: 'gptq_v2',
    pack_dtype: 'int32',
    meta: {
      quantizer: ['gptqmodel:1.9.0'],
      uri: 'https://github.com/modelcloud/gptqmodel',
      damp_percent: 0.05,
      damp_auto_increment: 0.0025,
      static_groups: true,
      true_sequential: false,
      mse: 2.4,
    },
  };

  it('reads inference keys at the top level and the rest under meta', () => {
    const dir = folderWith({ 'quantize_config.json': gptqmodel });
    expect(readGptqConfig(dir)).toMatchObject({
      bits: 4,
      groupSize: 128,
      descAct: true,
      sym: false,
      checkpointFormat: 'gptq_v2',
      dampPercent: 0.05,
      dampAutoIncrement: 0.0025,
      staticGroups: true,
      trueSequential: false,
      mse: 2.4,
      dynamic: gptqmodel.dynamic,
    });
  });

  it('accepts the synonyms w_bit and q_group_size', () => {
    const config = parseGptqConfig({ w_bit: 3, q_group_size: 64, quant_method: 'gptq' });
    expect(config.bits).toBe(3);
    expect(config.groupSize).toBe(64);
  });

  it('applies dynamic rules in order, first match wins, matched from the start', () => {
    const config = parseGptqConfig(gptqmodel, 'quantize_config.json', '');
    expect(moduleQuantization(config, 'model.layers.0.mlp.up_proj')).toBeUndefined();
    expect(moduleQuantization(config, 'model.layers.1.mlp.down_proj')).toEqual({
      bits: 8,
      groupSize: 32,
      descAct: true,
      sym: false,
    });
    expect(moduleQuantization(config, 'model.layers.1.self_attn.q_proj')).toEqual({
      bits: 4,
      groupSize: 128,
      descAct: true,
      sym: false,
    });
    // re.match semantics: anchored at the start, not the end.
    expect(moduleQuantization(config, 'x.model.layers.0.mlp.up_proj')).toBeDefined();
  });

  it('writes exact skip keys for unquantized modules', () => {
    expect(dynamicSkipKey('model.layers.3.mlp.down_proj')).toBe(
      '-:model\\.layers\\.3\\.mlp\\.down_proj$',
    );
    const config = parseGptqConfig({
      bits: 4,
      dynamic: dynamicSkips(['model.layers.3.mlp.down_proj']),
    });
    expect(moduleQuantization(config, 'model.layers.3.mlp.down_proj')).toBeUndefined();
    expect(moduleQuantization(config, 'model.layers.3.mlp.down_proj_x')).toBeDefined();
    expect(moduleQuantization(config, 'model.layers.13.mlp.down_proj')).toBeDefined();
  });
});

describe('validation errors name the file and field', () => {
  it('bits', () => {
    const dir = folderWith({
      'config.json': { quantization_config: { bits: 5, quant_method: 'gptq' } },
    });
    expect(() => readGptqConfig(dir)).toThrow(
      /config\.json: field 'quantization_config\.bits' must be 2, 3, 4 or 8, got 5/,
    );
    expect(() => parseGptqConfig({ bits: '4' })).toThrow(
      /field 'quantization_config\.bits' must be an integer, got "4"/,
    );
  });

  it('group_size, damp_percent, booleans', () => {
    expect(() => parseGptqConfig({ group_size: 0 })).toThrow(
      /'quantization_config\.group_size' must be -1/,
    );
    expect(() => parseGptqConfig({ damp_percent: 1.5 })).toThrow(
      /'quantization_config\.damp_percent'/,
    );
    expect(() => parseGptqConfig({ desc_act: 'yes' })).toThrow(
      /'quantization_config\.desc_act' must be true or false/,
    );
    const dir = folderWith({ 'quantize_config.json': { bits: 4, meta: { damp_percent: -1 } } });
    expect(() => readGptqConfig(dir)).toThrow(/quantize_config\.json: field 'meta\.damp_percent'/);
  });

  it('quant_method, checkpoint_format, pack_dtype and dynamic', () => {
    expect(() => parseGptqConfig({ quant_method: 'awq' })).toThrow(
      /field 'quantization_config\.quant_method' is 'awq', not 'gptq'/,
    );
    expect(() => parseGptqConfig({ checkpoint_format: 'marlin' })).toThrow(
      /field 'quantization_config\.checkpoint_format' is 'marlin'/,
    );
    expect(() => parseGptqConfig({ pack_dtype: 'int8' })).toThrow(/pack_dtype' is 'int8'/);
    expect(() => parseGptqConfig({ dynamic: { '-:model(': {} } })).toThrow(
      /field 'quantization_config\.dynamic\.-:model\(' is not a valid regular expression/,
    );
    expect(() => parseGptqConfig({ dynamic: { '+:x': { bits: 6 } } })).toThrow(
      /'quantization_config\.dynamic\.\+:x\.bits' must be 2, 3, 4 or 8/,
    );
  });
});

describe('gptqConfigJson', () => {
  const config: GptqConfig = {
    bits: 3,
    groupSize: 64,
    descAct: true,
    sym: false,
    staticGroups: false,
    dampPercent: 0.01,
    trueSequential: true,
    checkpointFormat: 'gptq_v2',
    quantMethod: 'gptq',
    lmHead: false,
    dynamic: dynamicSkips(['model.layers.0.mlp.down_proj']),
    raw: {},
  };

  it('writes the AutoGPTQ style (quantize_config.json = config.json quantization_config)', () => {
    const json = gptqConfigJson(config, 'autogptq');
    expect(json).toEqual({
      bits: 3,
      group_size: 64,
      damp_percent: 0.01,
      desc_act: true,
      static_groups: false,
      sym: false,
      true_sequential: true,
      model_name_or_path: null,
      model_file_base_name: 'model',
      quant_method: 'gptq',
      checkpoint_format: 'gptq_v2',
      dynamic: { '-:model\\.layers\\.0\\.mlp\\.down_proj$': {} },
    });
    expect(parseGptqConfig(json)).toMatchObject({ ...config, raw: json });
  });

  it('writes the GPTQModel style with meta and the slimlm quantizer', () => {
    const json = gptqConfigJson({ ...config, mse: 2.4 }, 'gptqmodel');
    expect(json).toEqual({
      bits: 3,
      dynamic: { '-:model\\.layers\\.0\\.mlp\\.down_proj$': {} },
      group_size: 64,
      desc_act: true,
      sym: false,
      lm_head: false,
      quant_method: 'gptq',
      checkpoint_format: 'gptq_v2',
      pack_dtype: 'int32',
      meta: {
        quantizer: [`slimlm:${SLIMLM_VERSION}`],
        damp_percent: 0.01,
        static_groups: false,
        true_sequential: true,
        mse: 2.4,
      },
    });
    expect(SLIMLM_VERSION).toMatch(/^\d+\.\d+\.\d+/);
    expect(parseGptqConfig(json)).toMatchObject({ ...config, mse: 2.4, raw: json });
  });

  it('leaves dynamic out when nothing is skipped', () => {
    const plain = { ...config, dynamic: {} };
    expect(gptqConfigJson(plain, 'autogptq')).not.toHaveProperty('dynamic');
    expect(gptqConfigJson(plain, 'gptqmodel')).not.toHaveProperty('dynamic');
  });
});
