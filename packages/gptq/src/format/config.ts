import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import { ConfigReader } from '@slimlm/hub';
import { version } from '../../package.json';
import type { Bits, GptqFormat } from './pack';

/**
 * A GPTQ quantization config, whichever tool wrote it (AutoGPTQ, optimum, GPTQModel). Field names
 * follow the JSON ones in camelCase.
 */
export interface GptqConfig {
  bits: Bits;
  /** Input channels per group; -1 = one group per output channel (per-channel). */
  groupSize: number;
  descAct: boolean;
  sym: boolean;
  staticGroups: boolean;
  dampPercent: number;
  trueSequential: boolean;
  /** What the qzeros words mean: 'gptq' (v1, z - 1) or 'gptq_v2' (z); missing means 'gptq'. */
  checkpointFormat: GptqFormat;
  quantMethod: 'gptq';
  /** Whether lm_head is quantized too (GPTQModel's `lm_head`). */
  lmHead: boolean;
  /**
   * GPTQModel per-module rules, in order, first match wins: `'-:<regex>': {}` leaves matching
   * modules unquantized, `'+:<regex>'` (or a bare regex) overrides bits/group_size/desc_act/sym.
   * Regexes match from the start of the module path (Python's re.match).
   */
  dynamic?: Record<string, unknown>;
  /** GPTQModel's `mse` (0 = off, else the norm of the MSE grid search). */
  mse?: number;
  /** GPTQModel's `damp_auto_increment`. */
  dampAutoIncrement?: number;
  /** optimum's `modules_in_block_to_quantize` (module names relative to a block, in groups). */
  modulesInBlockToQuantize?: string[][];
  /** The merged JSON object(s) the config came from. */
  raw: Record<string, unknown>;
}

const BITS: readonly Bits[] = [2, 3, 4, 8];

/** Quantization settings one module ends up with after the config's `dynamic` rules. */
export interface ModuleQuantization {
  bits: Bits;
  groupSize: number;
  descAct: boolean;
  sym: boolean;
}

/**
 * Reads the GPTQ config of a model folder: `config.json` → `quantization_config` and/or
 * `quantize_config.json` (AutoGPTQ writes both; `quant_config.json` is an older GPTQModel name).
 * Fields present in config.json win; the others come from the separate file. Undefined when the
 * folder holds neither. Throws INVALID_CONFIG naming the file and field for bad values, and
 * UNSUPPORTED for a quant_method or checkpoint_format other than GPTQ's.
 */
export function readGptqConfig(folder: string): GptqConfig | undefined {
  const readers: ConfigReader[] = [];
  const configFile = join(folder, 'config.json');
  if (existsSync(configFile)) {
    const quantization = ConfigReader.fromFile(configFile).optionalObject('quantization_config');
    if (quantization) readers.push(quantization);
  }
  for (const name of ['quantize_config.json', 'quant_config.json']) {
    const file = join(folder, name);
    if (existsSync(file)) {
      readers.push(ConfigReader.fromFile(file));
      break;
    }
  }
  if (readers.length === 0) return undefined;
  return parseReaders(readers);
}

/**
 * Parses one quantization config object (config.json's `quantization_config` or the content of
 * quantize_config.json). `file` names it in errors; `field` is its dotted path there.
 */
export function parseGptqConfig(
  json: Record<string, unknown>,
  file = 'config.json',
  field = 'quantization_config',
): GptqConfig {
  return parseReaders([new ConfigReader(file, json, field)]);
}

function parseReaders(readers: readonly ConfigReader[]): GptqConfig {
  // Field lookup across sources (first has precedence) and the GPTQModel `meta` object of each.
  const metas = readers.map((reader) => reader.optionalObject('meta'));
  const sources = [...readers, ...metas.filter((meta) => meta !== undefined)];
  const pick = (...names: string[]): { reader: ConfigReader; name: string } | undefined => {
    for (const reader of sources) {
      for (const name of names) if (reader.has(name)) return { reader, name };
    }
    return undefined;
  };
  const first = readers[0]!;

  const method = pick('quant_method');
  if (method) {
    const value = method.reader.string(method.name);
    if (value.toLowerCase() !== 'gptq') {
      throw unsupported(
        method.reader,
        method.name,
        `is '${value}', not 'gptq'; @slimlm/gptq reads GPTQ checkpoints only`,
      );
    }
  }

  const bitsField = pick('bits', 'w_bit');
  const bits = bitsField ? bitsField.reader.int(bitsField.name) : 4;
  if (!(BITS as readonly number[]).includes(bits)) {
    throw (bitsField?.reader ?? first).error(
      bitsField?.name ?? 'bits',
      `must be 2, 3, 4 or 8, got ${bits}`,
    );
  }

  const groupField = pick('group_size', 'q_group_size');
  const groupSize = groupField ? groupField.reader.int(groupField.name) : -1;
  if (groupSize !== -1 && groupSize < 1) {
    throw groupField!.reader.error(
      groupField!.name,
      `must be -1 (per channel) or a positive integer, got ${groupSize}`,
    );
  }

  const bool = (name: string, fallback: boolean): boolean => {
    const found = pick(name);
    return found ? found.reader.boolean(found.name) : fallback;
  };

  const dampField = pick('damp_percent');
  const dampPercent = dampField
    ? dampField.reader.number(dampField.name, { above: 0, below: 1 })
    : 0.01;

  const formatField = pick('checkpoint_format', 'format');
  let checkpointFormat: GptqFormat = 'gptq';
  if (formatField) {
    const value = formatField.reader.string(formatField.name).toLowerCase();
    if (value !== 'gptq' && value !== 'gptq_v2') {
      throw unsupported(
        formatField.reader,
        formatField.name,
        `is '${value}'; supported checkpoint formats are 'gptq' (v1) and 'gptq_v2'`,
      );
    }
    checkpointFormat = value;
  }

  const packDType = pick('pack_dtype');
  if (packDType) {
    const value = packDType.reader.string(packDType.name);
    if (value !== 'int32' && value !== 'torch.int32') {
      throw unsupported(
        packDType.reader,
        packDType.name,
        `is '${value}'; only int32 packing is supported`,
      );
    }
  }

  const dynamicField = pick('dynamic');
  const dynamic = dynamicField ? readDynamic(dynamicField.reader, dynamicField.name) : undefined;

  const mseField = pick('mse');
  const mse = mseField ? mseField.reader.number(mseField.name, { min: 0 }) : undefined;
  const incrementField = pick('damp_auto_increment');
  const dampAutoIncrement = incrementField
    ? incrementField.reader.number(incrementField.name, { min: 0 })
    : undefined;
  const modulesField = pick('modules_in_block_to_quantize');
  const modulesInBlockToQuantize = modulesField
    ? readModuleGroups(modulesField.reader, modulesField.name)
    : undefined;

  const raw: Record<string, unknown> = {};
  for (const reader of [...readers].reverse()) Object.assign(raw, reader.raw);

  return {
    bits: bits as Bits,
    groupSize,
    descAct: bool('desc_act', true),
    sym: bool('sym', true),
    staticGroups: bool('static_groups', false),
    dampPercent,
    trueSequential: bool('true_sequential', true),
    checkpointFormat,
    quantMethod: 'gptq',
    lmHead: bool('lm_head', false),
    ...(dynamic ? { dynamic } : {}),
    ...(mse === undefined ? {} : { mse }),
    ...(dampAutoIncrement === undefined ? {} : { dampAutoIncrement }),
    ...(modulesInBlockToQuantize ? { modulesInBlockToQuantize } : {}),
    raw,
  };
}

/** An UNSUPPORTED error worded as ConfigReader's: `<file>: field '<path>' <message>`. */
function unsupported(reader: ConfigReader, name: string, message: string): SlimlmError {
  return new SlimlmError('UNSUPPORTED', reader.error(name, message).message);
}

function readDynamic(reader: ConfigReader, name: string): Record<string, unknown> {
  const rules = reader.object(name);
  for (const [key, value] of Object.entries(rules.raw)) {
    if (value !== null && (typeof value !== 'object' || Array.isArray(value))) {
      throw rules.error(
        key,
        `must be an object of overrides ({} to skip with '-:'), got ${JSON.stringify(value)}`,
      );
    }
    try {
      new RegExp(dynamicPattern(key));
    } catch (error) {
      throw rules.error(key, `is not a valid regular expression: ${(error as Error).message}`);
    }
    if (value) {
      const overrides = rules.object(key);
      const bits = overrides.optionalInt('bits');
      if (bits !== undefined && !(BITS as readonly number[]).includes(bits)) {
        throw overrides.error('bits', `must be 2, 3, 4 or 8, got ${bits}`);
      }
      const group = overrides.optionalInt('group_size');
      if (group !== undefined && group !== -1 && group < 1) {
        throw overrides.error('group_size', `must be -1 or a positive integer, got ${group}`);
      }
      overrides.optionalBoolean('desc_act');
      overrides.optionalBoolean('sym');
    }
  }
  return { ...rules.raw };
}

function readModuleGroups(reader: ConfigReader, name: string): string[][] {
  const value = reader.get(name);
  const ok =
    Array.isArray(value) &&
    value.every((group) => Array.isArray(group) && group.every((item) => typeof item === 'string'));
  if (!ok)
    throw reader.error(
      name,
      `must be a list of lists of module names, got ${JSON.stringify(value)}`,
    );
  return (value as string[][]).map((group) => [...group]);
}

/** The regex of a `dynamic` key without its '+:' / '-:' prefix. */
function dynamicPattern(key: string): string {
  return key.startsWith('-:') || key.startsWith('+:') ? key.slice(2) : key;
}

/**
 * The settings of module `path` under `config.dynamic` (GPTQModel semantics: rules in order, first
 * matching regex wins, matched from the start of the path): undefined when a '-:' rule skips it,
 * else the config's settings with a '+:' rule's overrides.
 */
export function moduleQuantization(
  config: GptqConfig,
  path: string,
): ModuleQuantization | undefined {
  const base: ModuleQuantization = {
    bits: config.bits,
    groupSize: config.groupSize,
    descAct: config.descAct,
    sym: config.sym,
  };
  for (const [key, value] of Object.entries(config.dynamic ?? {})) {
    if (!new RegExp(`^(?:${dynamicPattern(key)})`).test(path)) continue;
    if (key.startsWith('-:')) return undefined;
    const overrides = (value ?? {}) as Record<string, unknown>;
    return {
      bits: (overrides.bits as Bits | undefined) ?? base.bits,
      groupSize: (overrides.group_size as number | undefined) ?? base.groupSize,
      descAct: (overrides.desc_act as boolean | undefined) ?? base.descAct,
      sym: (overrides.sym as boolean | undefined) ?? base.sym,
    };
  }
  return base;
}

/** A GPTQModel `dynamic` key that leaves exactly the module at `path` unquantized. */
export function dynamicSkipKey(path: string): string {
  return `-:${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
}

/** The `dynamic` rules that leave the modules at `paths` unquantized ({'-:<regex>': {}} each). */
export function dynamicSkips(paths: readonly string[]): Record<string, Record<string, never>> {
  const rules: Record<string, Record<string, never>> = {};
  for (const path of paths) rules[dynamicSkipKey(path)] = {};
  return rules;
}

/** The slimlm version GPTQModel-style configs name as their quantizer. */
export const SLIMLM_VERSION: string = version;

/**
 * The JSON object a tool of `style` writes for `config`:
 * - 'autogptq': AutoGPTQ's quantize_config.json, which is also config.json's
 *   `quantization_config` (bits, group_size, damp_percent, desc_act, static_groups, sym,
 *   true_sequential, model_name_or_path, model_file_base_name, quant_method, checkpoint_format);
 * - 'gptqmodel': inference keys at the top (bits, dynamic, group_size, desc_act, sym, lm_head,
 *   quant_method, checkpoint_format, pack_dtype) and the rest under `meta` with
 *   quantizer ['slimlm:<version>'].
 * Both carry `dynamic` when some modules were left unquantized (readers that do not know it ignore
 * it), and optimum's `modules_in_block_to_quantize` when the config has it.
 */
export function gptqConfigJson(
  config: GptqConfig,
  style: 'autogptq' | 'gptqmodel',
): Record<string, unknown> {
  const dynamic =
    config.dynamic && Object.keys(config.dynamic).length > 0 ? config.dynamic : undefined;
  const modules = config.modulesInBlockToQuantize
    ? { modules_in_block_to_quantize: config.modulesInBlockToQuantize.map((group) => [...group]) }
    : {};
  if (style === 'autogptq') {
    return {
      bits: config.bits,
      group_size: config.groupSize,
      damp_percent: config.dampPercent,
      desc_act: config.descAct,
      static_groups: config.staticGroups,
      sym: config.sym,
      true_sequential: config.trueSequential,
      model_name_or_path: null,
      model_file_base_name: 'model',
      quant_method: 'gptq',
      checkpoint_format: config.checkpointFormat,
      ...(config.lmHead ? { lm_head: true } : {}),
      ...(dynamic ? { dynamic: cloneJson(dynamic) } : {}),
      ...modules,
    };
  }
  if (style !== 'gptqmodel') {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `gptqConfigJson: style must be 'autogptq' or 'gptqmodel', got '${style}'`,
    );
  }
  return {
    bits: config.bits,
    ...(dynamic ? { dynamic: cloneJson(dynamic) } : {}),
    group_size: config.groupSize,
    desc_act: config.descAct,
    sym: config.sym,
    lm_head: config.lmHead,
    quant_method: 'gptq',
    checkpoint_format: config.checkpointFormat,
    pack_dtype: 'int32',
    ...modules,
    meta: {
      quantizer: [`slimlm:${SLIMLM_VERSION}`],
      damp_percent: config.dampPercent,
      ...(config.dampAutoIncrement === undefined
        ? {}
        : { damp_auto_increment: config.dampAutoIncrement }),
      static_groups: config.staticGroups,
      true_sequential: config.trueSequential,
      mse: config.mse ?? 0,
    },
  };
}

function cloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
