import { SlimlmError } from '@slimlm/core';

/** Which biases train with the adapter (PEFT's `bias`): none, every bias, or the wrapped layers'. */
export type LoraBias = 'none' | 'all' | 'lora_only';

/**
 * How A and B start (PEFT's `init_lora_weights`): true = A Kaiming-uniform (a = √5, torch's
 * nn.Linear default) and B zeros, so the adapter starts as a no-op; 'gaussian' = A normal with
 * std 1/r, B zeros; false = both as torch's nn.Linear default (B non-zero: a random adapter).
 */
export type LoraInit = boolean | 'gaussian';

/**
 * Which modules an adapter wraps (PEFT semantics): a list targets a module whose path equals an
 * entry or ends with '.' + entry; a string is a regular expression the whole path must match;
 * 'all-linear' (any case) targets every linear layer except the output head.
 */
export type TargetModules = readonly string[] | string;

/** A LoRA adapter's settings: PEFT's LoraConfig fields, camel-cased. */
export interface LoraConfig {
  /** Rank of A [r, in] and B [out, r]. PEFT default 8. */
  r: number;
  /** The update is scaled by loraAlpha / r (rsLoRA: loraAlpha / √r). PEFT default 8. */
  loraAlpha: number;
  /** Dropout on the adapter's input, in training mode only. Default 0. */
  loraDropout: number;
  targetModules: TargetModules;
  /** Modules never targeted, matched as targetModules is. Default null. */
  excludeModules: TargetModules | null;
  /** Rank-stabilised scaling loraAlpha / √r. Default false. */
  useRslora: boolean;
  bias: LoraBias;
  initLoraWeights: LoraInit;
  /** Per-module rank by pattern (a key matches paths ending in it, as a regex). Default {}. */
  rankPattern: Readonly<Record<string, number>>;
  /** Per-module alpha by pattern, as rankPattern. Default {}. */
  alphaPattern: Readonly<Record<string, number>>;
  /** Only these layer indices (with a list of targets). Default null: every layer. */
  layersToTransform: number | readonly number[] | null;
  /** The module list name(s) holding the layer index ('layers', 'h'). Default null: any. */
  layersPattern: string | readonly string[] | null;
  /** Whether the base stores its weight [in, out] (GPT-2's Conv1D); set from the base itself. */
  fanInFanOut: boolean;
  /** Written to adapter_config.json so that others know the base (a Hub id or a path). */
  baseModelNameOrPath: string | null;
  revision: string | null;
  /**
   * Other adapter_config.json fields of a loaded adapter (peft_version, task_type, ...), written
   * back as read when it is saved again.
   */
  peftFields?: Readonly<Record<string, unknown>>;
}

/** PEFT's default targets per model_type (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
const DEFAULT_TARGETS: Readonly<Record<string, readonly string[]>> = {
  llama: ['q_proj', 'v_proj'],
  mistral: ['q_proj', 'v_proj'],
  qwen2: ['q_proj', 'v_proj'],
  opt: ['q_proj', 'v_proj'],
  gpt2: ['c_attn'],
  gpt_neo: ['q_proj', 'v_proj'],
  gpt_neox: ['query_key_value'],
};

const BIASES: readonly LoraBias[] = ['none', 'all', 'lora_only'];

function invalid(field: string, expected: string, got: unknown): SlimlmError {
  return new SlimlmError(
    'INVALID_ARGUMENT',
    `LoraConfig: ${field} must be ${expected}, got ${JSON.stringify(got) ?? String(got)}`,
  );
}

function checkTargets(field: string, value: unknown): TargetModules {
  if (typeof value === 'string') {
    if (value === '') throw invalid(field, 'a non-empty regular expression or a list', value);
    try {
      new RegExp(value);
    } catch (error) {
      throw invalid(field, `a valid regular expression (${(error as Error).message})`, value);
    }
    return value;
  }
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((v) => typeof v === 'string' && v !== '')
  ) {
    throw invalid(
      field,
      'a non-empty list of module names, a regular expression or "all-linear"',
      value,
    );
  }
  return [...new Set(value as string[])];
}

function checkPattern(
  field: string,
  value: unknown,
  integer: boolean,
): Readonly<Record<string, number>> {
  if (value === undefined || value === null) return {};
  const what = `an object of ${integer ? 'positive integers' : 'positive numbers'}`;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(field, what, value);
  for (const [key, v] of Object.entries(value)) {
    const ok = typeof v === 'number' && v > 0 && (!integer || Number.isSafeInteger(v));
    if (!ok)
      throw invalid(`${field}['${key}']`, integer ? 'a positive integer' : 'a positive number', v);
  }
  return { ...(value as Record<string, number>) };
}

/**
 * A complete LoraConfig from `input` with PEFT's defaults, checked field by field; targetModules
 * defaults to PEFT's choice for `modelType`.
 */
export function resolveLoraConfig(input: Partial<LoraConfig>, modelType: string): LoraConfig {
  const r = input.r ?? 8;
  if (!Number.isSafeInteger(r) || r < 1) throw invalid('r', 'a positive integer', r);
  const loraAlpha = input.loraAlpha ?? 8;
  if (!(typeof loraAlpha === 'number' && Number.isFinite(loraAlpha) && loraAlpha > 0)) {
    throw invalid('loraAlpha', 'a positive number', loraAlpha);
  }
  const loraDropout = input.loraDropout ?? 0;
  if (!(typeof loraDropout === 'number' && loraDropout >= 0 && loraDropout < 1)) {
    throw invalid('loraDropout', 'a number in [0, 1)', loraDropout);
  }
  const defaultTargets = DEFAULT_TARGETS[modelType];
  if (input.targetModules === undefined && !defaultTargets) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `LoraConfig: targetModules is required for model_type '${modelType}' (PEFT has no default for it); pass a list of module names, a regular expression or "all-linear"`,
    );
  }
  const targetModules = checkTargets('targetModules', input.targetModules ?? defaultTargets);
  const excludeModules =
    input.excludeModules === undefined || input.excludeModules === null
      ? null
      : checkTargets('excludeModules', input.excludeModules);
  const bias = input.bias ?? 'none';
  if (!BIASES.includes(bias)) throw invalid('bias', "'none', 'all' or 'lora_only'", bias);
  const initLoraWeights = input.initLoraWeights ?? true;
  if (typeof initLoraWeights !== 'boolean' && initLoraWeights !== 'gaussian') {
    throw new SlimlmError(
      'UNSUPPORTED',
      `LoraConfig: initLoraWeights ${JSON.stringify(initLoraWeights)} is not supported; use true (Kaiming A, zero B), 'gaussian' or false`,
    );
  }
  const layers = input.layersToTransform ?? null;
  if (
    layers !== null &&
    !(Number.isSafeInteger(layers) && (layers as number) >= 0) &&
    !(Array.isArray(layers) && layers.every((i) => Number.isSafeInteger(i) && i >= 0))
  ) {
    throw invalid('layersToTransform', 'a layer index or a list of them', layers);
  }
  const layersPattern = input.layersPattern ?? null;
  if (
    layersPattern !== null &&
    typeof layersPattern !== 'string' &&
    !(Array.isArray(layersPattern) && layersPattern.every((p) => typeof p === 'string'))
  ) {
    throw invalid('layersPattern', 'a module list name or a list of them', layersPattern);
  }
  for (const field of ['useRslora', 'fanInFanOut'] as const) {
    const value = input[field];
    if (value !== undefined && typeof value !== 'boolean') throw invalid(field, 'a boolean', value);
  }
  return {
    r,
    loraAlpha,
    loraDropout,
    targetModules,
    excludeModules,
    useRslora: input.useRslora ?? false,
    bias,
    initLoraWeights,
    rankPattern: checkPattern('rankPattern', input.rankPattern, true),
    alphaPattern: checkPattern('alphaPattern', input.alphaPattern, false),
    layersToTransform: Array.isArray(layers) ? [...layers] : layers,
    layersPattern: Array.isArray(layersPattern) ? [...layersPattern] : layersPattern,
    fanInFanOut: input.fanInFanOut ?? false,
    baseModelNameOrPath: input.baseModelNameOrPath ?? null,
    revision: input.revision ?? null,
    ...(input.peftFields ? { peftFields: { ...input.peftFields } } : {}),
  };
}

/** Whether `targets` is PEFT's 'all-linear' shorthand. */
export function isAllLinear(targets: TargetModules): targets is string {
  return typeof targets === 'string' && targets.toLowerCase() === 'all-linear';
}

/** alpha / r, or alpha / √r for rsLoRA. */
export function loraScaling(alpha: number, r: number, useRslora: boolean): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}
