import { SlimlmError } from '@slimlm/core';
import { ConfigReader } from '@slimlm/hub';
import type { LoraConfig, TargetModules } from '../lora/config';
import { PyFloat, type PyJson, pythonJsonDumps } from './python-json';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** PEFT's prefix of every adapter tensor name: the PeftModel's base_model (LoraModel), then model. */
export const PEFT_KEY_PREFIX = 'base_model.model.';

/**
 * The adapter_config.json fields slimlm does not model, with the values PEFT 0.19.1 writes for a
 * plain LoRA adapter of a causal LM (the format slimlm writes).
 */
const PEFT_DEFAULTS: Readonly<Record<string, PyJson>> = {
  alora_invocation_tokens: null,
  arrow_config: null,
  auto_mapping: null,
  corda_config: null,
  ensure_weight_tying: false,
  eva_config: null,
  layer_replication: null,
  loftq_config: {},
  lora_bias: false,
  lora_ga_config: null,
  megatron_config: null,
  megatron_core: 'megatron.core',
  modules_to_save: null,
  peft_type: 'LORA',
  peft_version: '0.19.1',
  qalora_group_size: 16,
  target_parameters: null,
  task_type: 'CAUSAL_LM',
  trainable_token_indices: null,
  use_bdlora: null,
  use_dora: false,
  use_qalora: false,
};

const list = <T>(value: T | readonly T[] | null): PyJson =>
  value === null
    ? null
    : Array.isArray(value)
      ? ([...(value as T[])] as PyJson)
      : (value as PyJson);

/** adapter_config.json's text for `config`, exactly as PEFT's save_pretrained writes it. */
export function adapterConfigJson(config: LoraConfig): string {
  const fields: Record<string, PyJson> = {
    ...PEFT_DEFAULTS,
    ...(config.peftFields as Record<string, PyJson> | undefined),
    alpha_pattern: { ...config.alphaPattern },
    base_model_name_or_path: config.baseModelNameOrPath,
    bias: config.bias,
    exclude_modules: list(config.excludeModules),
    fan_in_fan_out: config.fanInFanOut,
    inference_mode: true,
    // An initialisation slimlm does not make (PiSSA, ...) stays as the loaded file named it.
    init_lora_weights: (config.peftFields?.init_lora_weights as PyJson) ?? config.initLoraWeights,
    layers_pattern: list(config.layersPattern),
    layers_to_transform: list(config.layersToTransform),
    lora_alpha: config.loraAlpha,
    lora_dropout: new PyFloat(config.loraDropout),
    r: config.r,
    rank_pattern: { ...config.rankPattern },
    revision: config.revision,
    target_modules: list(config.targetModules),
    use_rslora: config.useRslora,
  };
  return pythonJsonDumps(fields);
}

/** Fields PEFT reads into LoraConfig attributes that slimlm maps to its own. */
const MODELLED = new Set([
  'alpha_pattern',
  'base_model_name_or_path',
  'bias',
  'exclude_modules',
  'fan_in_fan_out',
  'inference_mode',
  'init_lora_weights',
  'layers_pattern',
  'layers_to_transform',
  'lora_alpha',
  'lora_dropout',
  'r',
  'rank_pattern',
  'revision',
  'target_modules',
  'use_rslora',
]);

/** PEFT features slimlm does not run, and the value(s) that mean "off". */
const MUST_BE_OFF: readonly [field: string, off: (v: unknown) => boolean, what: string][] = [
  ['use_dora', (v) => v === false, 'DoRA'],
  ['lora_bias', (v) => v === false, 'a bias on lora_B'],
  ['use_qalora', (v) => v === false, 'QA-LoRA'],
  ['use_bdlora', (v) => v === false, 'BD-LoRA'],
  ['modules_to_save', (v) => Array.isArray(v) && v.length === 0, 'fully trained extra modules'],
  ['target_parameters', (v) => Array.isArray(v) && v.length === 0, 'LoRA on parameters'],
  ['trainable_token_indices', () => false, 'trainable tokens'],
  ['layer_replication', () => false, 'layer replication'],
  ['alora_invocation_tokens', () => false, 'activated LoRA (aLoRA)'],
  ['arrow_config', () => false, 'Arrow routing'],
  ['megatron_config', () => false, 'Megatron layers'],
];

function targetsField(
  reader: ConfigReader,
  field: string,
  required: boolean,
): TargetModules | null {
  const value = reader.get(field);
  if (value === undefined) {
    if (required) throw reader.error(field, 'is required: the modules the adapter wraps');
    return null;
  }
  if (typeof value === 'string' && value !== '') return value;
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((v) => typeof v === 'string' && v !== '')
  ) {
    return value as string[];
  }
  throw reader.error(
    field,
    `must be a list of module names or a regular expression, got ${JSON.stringify(value)}`,
  );
}

function patternField(
  reader: ConfigReader,
  field: string,
  integer: boolean,
): Record<string, number> {
  const object = reader.optionalObject(field);
  if (!object) return {};
  const out: Record<string, number> = {};
  for (const key of Object.keys(object.raw)) {
    out[key] = integer ? object.int(key, { min: 1 }) : object.number(key, { above: 0 });
  }
  return out;
}

/**
 * The LoraConfig of an adapter_config.json (parsed JSON, `file` for messages), with every field
 * checked: a PEFT type other than LORA, a task other than CAUSAL_LM or a PEFT feature slimlm does
 * not run (DoRA, modules_to_save, ...) is UNSUPPORTED; malformed fields are INVALID_CONFIG.
 */
export function parseAdapterConfig(json: unknown, file: string): LoraConfig {
  const reader = new ConfigReader(file, json);
  const peftType = reader.string('peft_type');
  if (peftType !== 'LORA') {
    throw new SlimlmError(
      'UNSUPPORTED',
      `${file}: peft_type '${peftType}' is not supported; slimlm loads LoRA adapters (peft_type "LORA")`,
    );
  }
  const task = reader.optionalString('task_type');
  if (task !== undefined && task !== 'CAUSAL_LM') {
    throw new SlimlmError(
      'UNSUPPORTED',
      `${file}: task_type '${task}' is not supported; slimlm runs causal language models (CAUSAL_LM)`,
    );
  }
  for (const [field, off, what] of MUST_BE_OFF) {
    const value = reader.get(field);
    if (value !== undefined && !off(value)) {
      throw new SlimlmError(
        'UNSUPPORTED',
        `${file}: ${what} (${field}: ${JSON.stringify(value)}) is not supported by slimlm`,
      );
    }
  }
  const init = reader.get('init_lora_weights');
  const layers = reader.get('layers_to_transform');
  const layersPattern = reader.get('layers_pattern');
  const ownInit = init === undefined || init === true || init === false || init === 'gaussian';
  const peftFields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(reader.raw)) {
    if (!MODELLED.has(key) || (key === 'init_lora_weights' && !ownInit)) peftFields[key] = value;
  }
  return {
    r: reader.int('r', { min: 1 }),
    loraAlpha: reader.number('lora_alpha', { above: 0, default: 8 }),
    loraDropout: reader.number('lora_dropout', { min: 0, below: 1, default: 0 }),
    targetModules: targetsField(reader, 'target_modules', true)!,
    excludeModules: targetsField(reader, 'exclude_modules', false),
    useRslora: reader.boolean('use_rslora', { default: false }),
    bias: reader.enum('bias', ['none', 'all', 'lora_only'], { default: 'none' }),
    // The weights are loaded, so how PEFT initialised them matters only when saving again.
    initLoraWeights: init === false || init === 'gaussian' ? init : true,
    rankPattern: patternField(reader, 'rank_pattern', true),
    alphaPattern: patternField(reader, 'alpha_pattern', false),
    layersToTransform:
      layers === undefined || layers === null
        ? null
        : typeof layers === 'number'
          ? reader.int('layers_to_transform', { min: 0 })
          : reader.intList('layers_to_transform', { min: 0 }),
    layersPattern:
      layersPattern === undefined || layersPattern === null
        ? null
        : typeof layersPattern === 'string'
          ? layersPattern
          : reader.stringList('layers_pattern'),
    fanInFanOut: reader.boolean('fan_in_fan_out', { default: false }),
    baseModelNameOrPath: reader.optionalString('base_model_name_or_path') ?? null,
    revision: reader.optionalString('revision') ?? null,
    peftFields,
  };
}
