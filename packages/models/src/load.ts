import { statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { type DType, SlimlmError, type Tensor } from '@slimlm/core';
import {
  ConfigReader,
  type GenerationConfig,
  hubSettings,
  loadGenerationConfig,
  loadTokenizer,
  openCheckpoint,
  type PullOptions,
  pull,
  type TensorSource,
  type Tokenizer,
} from '@slimlm/hub';
import { findArchitecture } from './architectures/index';
import { BUILTIN_MODELS } from './builtin';
import type { ArchitectureConfig, CausalLM } from './model';
import { getQuantizationMethod } from './registry';

export interface LoadOptions {
  /** The dtype activations are computed in (default f32). */
  computeDType?: 'f32' | 'f16' | 'bf16';
  /**
   * The dtype float weights are held in. 'stored' keeps the checkpoint's own dtype (f64 becomes
   * f32): f16/bf16 weights take half the memory of f32 ones, and under f32 activations linear
   * layers read them as stored (f32 compute, f16/bf16 storage), as fast as f32 weights or faster,
   * since decoding is bound by the bytes of weights read. 'f32' | 'f16' | 'bf16' convert once at
   * load (as transformers' `torch_dtype` does). Default: 'stored' when the compute dtype is f32;
   * under an f16/bf16 compute dtype, that dtype (a weight in another dtype would be cast on every
   * call).
   */
  weightsDType?: 'f32' | 'f16' | 'bf16' | 'stored';
  /** The backend weights are read into (default: the active one); run the model with it active. */
  backend?: string;
  /** Hub revision (branch, tag or commit) when the name is a Hub id. */
  revision?: string;
  /** Called after each tensor is read: bytes read so far, bytes in all, the tensor's name. */
  onProgress?: (p: { loaded: number; total: number; name: string }) => void;
}

export interface LoadedModel extends Disposable {
  model: CausalLM;
  tokenizer: Tokenizer;
  config: ArchitectureConfig;
  generationConfig?: GenerationConfig;
  folder: string;
  dispose(): void;
}

/**
 * Checkpoint tensors that are buffers in transformers, not parameters (older exports saved
 * them): dropping them loses nothing.
 */
const IGNORED_TENSORS: readonly RegExp[] = [
  /(^|\.)rotary_emb\.inv_freq$/,
  /(^|\.)(attn|attention)(\.attention)?\.(bias|masked_bias)$/,
];

/** How many names an error lists before it says "and N more". */
const LISTED = 5;

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, LISTED).join(', ');
  return names.length > LISTED ? `${shown} and ${names.length - LISTED} more` : shown;
}

/**
 * Builds the model a folder holds from its config.json and safetensors weights (no tokenizer):
 * the architecture by `model_type`, a quantization method by `quantization_config.quant_method`,
 * then every declared parameter read by its Hugging Face name. Tied parameters absent from the
 * checkpoint share their source's tensor.
 */
export function modelFromFolder(folder: string, options: LoadOptions = {}): CausalLM {
  const file = join(folder, 'config.json');
  const reader = ConfigReader.fromFile(file);
  const architecture = findArchitecture(reader.string('model_type'), file);
  const model = architecture.create({ ...reader.raw }, file);
  model.computeDType = options.computeDType ?? 'f32';
  const source = openCheckpoint(folder);
  try {
    const quantization = reader.optionalObject('quantization_config');
    if (quantization) {
      const method = getQuantizationMethod(quantization.string('quant_method'), file);
      method.prepare(model, { ...quantization.raw }, source);
    }
    loadStateDict(model, source, options);
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    source.close();
  }
}

/**
 * Fills every declared, still-empty parameter of `model` from `source` by its Hugging Face name
 * (with or without the architecture's base-model prefix; tied targets from their source), checking
 * shapes, and refusing missing or unexpected tensors with errors that name them.
 */
export function loadStateDict(
  model: CausalLM,
  source: TensorSource,
  options: Pick<LoadOptions, 'weightsDType' | 'backend' | 'onProgress'> = {},
): void {
  const name = `${model.config.modelType} (${model.constructor.name})`;
  const declared = new Map(model.parameterShapes());
  const tiedTo = new Map(model.tiedParameters());
  // A quantization method may have filled its own parameters already.
  const pending = [...declared.keys()].filter((path) => model.getParameter(path) === undefined);
  // Checkpoints saved from the base model (GPT2Model rather than GPT2LMHeadModel) name their
  // tensors without transformers' base_model_prefix.
  const prefix = model.baseModelPrefix === undefined ? undefined : `${model.baseModelPrefix}.`;
  const stored = (path: string): string | undefined => {
    if (source.has(path)) return path;
    if (prefix && path.startsWith(prefix) && source.has(path.slice(prefix.length))) {
      return path.slice(prefix.length);
    }
    return undefined;
  };
  const missing: string[] = [];
  const plan: { path: string; tensor: string }[] = [];
  for (const path of pending) {
    const tied = tiedTo.get(path);
    const tensor = stored(path) ?? (tied === undefined ? undefined : stored(tied));
    if (tensor === undefined) missing.push(path);
    else plan.push({ path, tensor });
  }
  if (missing.length > 0) {
    throw new SlimlmError(
      'INVALID_FILE',
      `${source.location}: ${missing.length} tensor(s) that ${name} needs are missing: ${listNames(missing)}`,
    );
  }
  const unexpected = source
    .names()
    .filter(
      (tensor) =>
        !declared.has(tensor) &&
        !(prefix && declared.has(prefix + tensor)) &&
        !IGNORED_TENSORS.some((re) => re.test(tensor)),
    );
  if (unexpected.length > 0) {
    throw new SlimlmError(
      'INVALID_FILE',
      `${source.location}: ${unexpected.length} tensor(s) are not parameters of ${name}: ${listNames(unexpected)} (is config.json for these weights?)`,
    );
  }
  for (const { path, tensor } of plan) {
    const shape = source.info(tensor).shape;
    const expected = declared.get(path)!;
    if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `${source.location}: ${name} expects '${tensor}' to be [${expected.join(', ')}], but the checkpoint holds [${shape.join(', ')}]`,
      );
    }
  }
  const total = plan.reduce((sum, { tensor }) => sum + source.info(tensor).byteLength, 0);
  const read = new Map<string, Tensor>();
  let loaded = 0;
  for (const { path, tensor } of plan) {
    let value = read.get(tensor);
    if (!value) {
      const info = source.info(tensor);
      const dtype = weightsDTypeFor(info.dtype, model.computeDType, options.weightsDType);
      value = source.read(tensor, {
        ...(dtype ? { dtype } : {}),
        ...(options.backend ? { backend: options.backend } : {}),
      });
      read.set(tensor, value);
      loaded += info.byteLength;
      options.onProgress?.({ loaded, total, name: tensor });
    }
    model.setParameter(path, value);
  }
}

/** The dtype to read a float tensor stored as `stored` in; undefined keeps integers as they are. */
function weightsDTypeFor(
  stored: string,
  computeDType: DType,
  choice: LoadOptions['weightsDType'],
): DType | undefined {
  if (!['F64', 'F32', 'F16', 'BF16'].includes(stored)) return undefined;
  const target = choice ?? (computeDType === 'f32' ? 'stored' : computeDType);
  if (target === 'stored') return stored === 'F64' ? 'f32' : undefined;
  return target;
}

/** owner/name as the Hub spells repository ids. */
const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** What a model needs to load, not the other formats a repository may also hold. */
const MODEL_FILES = ['*.json', '*.safetensors', 'tokenizer*', '*.jinja'];

export interface ResolveModelOptions {
  /** Hub revision (branch, tag or commit) when the argument is a Hub id. */
  revision?: string;
  /** Where relative paths start (default: the process's working directory). */
  cwd?: string;
  /** Environment for the Hub settings (HF_HOME, HF_TOKEN, ...; default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Download progress when the model is pulled from the Hub. */
  onProgress?: PullOptions['onProgress'];
}

/**
 * The local folder for a model argument: a built-in name (BUILTIN_MODELS), an existing folder, or
 * a Hub id `org/name` pulled (config, tokenizer and safetensors files only) into the Hugging Face
 * cache. Something that looks like a path but does not exist is NOT_FOUND, not a Hub request.
 */
export async function resolveModelFolder(
  nameOrPath: string,
  options: ResolveModelOptions = {},
): Promise<string> {
  const builtin = BUILTIN_MODELS[nameOrPath];
  if (builtin) return builtin.folder;
  const local = resolve(options.cwd ?? process.cwd(), nameOrPath);
  const stats = statSync(local, { throwIfNoEntry: false });
  if (stats?.isDirectory()) return local;
  if (stats) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `model '${nameOrPath}' is a file; give the folder that holds config.json and the weights`,
    );
  }
  if (!HUB_ID.test(nameOrPath) || isAbsolute(nameOrPath) || nameOrPath.startsWith('.')) {
    throw new SlimlmError(
      'NOT_FOUND',
      `model folder '${local}' does not exist (a model is a local folder, a built-in name (${Object.keys(BUILTIN_MODELS).join(', ')}) or a Hub id owner/name)`,
    );
  }
  const settings = hubSettings(options.env);
  return pull(nameOrPath, {
    ...(options.revision === undefined ? {} : { revision: options.revision }),
    allowPatterns: MODEL_FILES,
    cacheDir: settings.cacheDir,
    endpoint: settings.endpoint,
    offline: settings.offline,
    ...(settings.token === undefined ? {} : { token: settings.token }),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}

/** A model ready to run: weights, tokenizer and generation defaults, from any model argument. */
export async function loadModel(
  nameOrPath: string,
  options: LoadOptions = {},
): Promise<LoadedModel> {
  const folder = await resolveModelFolder(
    nameOrPath,
    options.revision ? { revision: options.revision } : {},
  );
  const tokenizer = await loadTokenizer(folder);
  const generationConfig = loadGenerationConfig(folder);
  const model = modelFromFolder(folder, options);
  const dispose = () => model.dispose();
  return {
    model,
    tokenizer,
    config: model.config,
    ...(generationConfig ? { generationConfig } : {}),
    folder,
    dispose,
    [Symbol.dispose]: dispose,
  };
}
