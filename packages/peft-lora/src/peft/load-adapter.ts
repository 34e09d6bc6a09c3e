import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cast, SlimlmError, type Tensor } from '@slimlm/core';
import { openSafetensors, readJsonFile, type TensorSource } from '@slimlm/hub';
import type { CausalLM, LinearLayer } from '@slimlm/models';
import { attachAdapter, type InjectedAdapter, setAdapter } from '../lora/adapters';
import type { LoraConfig } from '../lora/config';
import { LoraLinear } from '../lora/lora-linear';
import { patternValue, selectTargets } from '../lora/targets';
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  PEFT_KEY_PREFIX,
  parseAdapterConfig,
} from './adapter-config';

/** One adapted module of an adapter file: its tensor names and the shapes they give. */
export interface AdapterModule {
  a: string;
  b: string;
  r: number;
  inFeatures: number;
  outFeatures: number;
}

/** An adapter folder, parsed and checked on its own (no model involved); close() when done. */
export interface AdapterFile extends Disposable {
  dir: string;
  config: LoraConfig;
  /** The adapted modules by path in the model (the PEFT prefix removed). */
  modules: Map<string, AdapterModule>;
  /** Bias tensor names by the path of the bias in the unadapted model ('x.q_proj.bias'). */
  biases: Map<string, string>;
  source: TensorSource;
  close(): void;
}

const FLOAT_DTYPES = ['F64', 'F32', 'F16', 'BF16'];

/**
 * Opens the PEFT adapter in `dir` (adapter_config.json + adapter_model.safetensors) and checks it
 * alone: the config (see parseAdapterConfig), that every tensor is a LoRA matrix or a bias under
 * `base_model.model.`, that each module has both A [r, in] and B [out, r] with the rank its config
 * gives it. Errors name the file and the tensor.
 */
export function readAdapter(dir: string): AdapterFile {
  const folder = resolve(dir);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new SlimlmError('NOT_FOUND', `adapter folder ${folder} does not exist`);
  }
  const configFile = join(folder, ADAPTER_CONFIG_FILE);
  const config = parseAdapterConfig(readJsonFile(configFile), configFile);
  const weightsFile = join(folder, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(weightsFile)) {
    const pickled = existsSync(join(folder, 'adapter_model.bin'));
    throw new SlimlmError(
      pickled ? 'UNSUPPORTED' : 'NOT_FOUND',
      pickled
        ? `${folder} holds adapter_model.bin (pickle), which slimlm does not read; save the adapter with safetensors (PEFT's default)`
        : `${weightsFile} does not exist`,
    );
  }
  const source = openSafetensors(weightsFile);
  try {
    const fail = (name: string, problem: string) =>
      new SlimlmError('INVALID_FILE', `${weightsFile}: tensor '${name}' ${problem}`);
    const halves = new Map<string, { a?: string; b?: string }>();
    const biases = new Map<string, string>();
    for (const name of source.names()) {
      if (!name.startsWith(PEFT_KEY_PREFIX)) {
        throw fail(name, `does not start with '${PEFT_KEY_PREFIX}' as PEFT's LoRA tensors do`);
      }
      const key = name.slice(PEFT_KEY_PREFIX.length);
      if (!FLOAT_DTYPES.includes(source.info(name).dtype)) {
        throw fail(name, `is ${source.info(name).dtype}; LoRA weights are floats`);
      }
      const matrix = /^(.+)\.lora_([AB])\.weight$/.exec(key);
      if (matrix) {
        const entry = halves.get(matrix[1]!) ?? {};
        entry[matrix[2] === 'A' ? 'a' : 'b'] = name;
        halves.set(matrix[1]!, entry);
      } else if (key.endsWith('.bias')) {
        biases.set(key.replace(/\.base_layer\.bias$/, '.bias'), name);
      } else if (/\.lora_(embedding_)?[AB]\./.test(key)) {
        throw new SlimlmError(
          'UNSUPPORTED',
          `${weightsFile}: tensor '${name}' is ${key.includes('embedding') ? 'a LoRA on an embedding' : 'named with an adapter name'}; slimlm loads LoRA on linear layers as PEFT saves them ('<module>.lora_A.weight')`,
        );
      } else {
        throw fail(name, 'is neither a LoRA matrix (lora_A / lora_B) nor a bias');
      }
    }
    const modules = new Map<string, AdapterModule>();
    for (const [path, { a, b }] of halves) {
      if (a === undefined || b === undefined) {
        throw new SlimlmError(
          'INVALID_FILE',
          `${weightsFile}: module '${path}' has lora_${a === undefined ? 'A' : 'B'} missing`,
        );
      }
      const shapeA = source.info(a).shape;
      const shapeB = source.info(b).shape;
      const r = patternValue(config.rankPattern, path, config.r);
      if (shapeA.length !== 2 || shapeA[0] !== r) {
        throw fail(
          a,
          `is [${shapeA.join(', ')}], expected [r = ${r}, in] (${ADAPTER_CONFIG_FILE} r / rank_pattern)`,
        );
      }
      if (shapeB.length !== 2 || shapeB[1] !== r) {
        throw fail(b, `is [${shapeB.join(', ')}], expected [out, r = ${r}]`);
      }
      modules.set(path, { a, b, r, inFeatures: shapeA[1]!, outFeatures: shapeB[0]! });
    }
    if (modules.size === 0) {
      throw new SlimlmError('INVALID_FILE', `${weightsFile}: holds no LoRA matrices`);
    }
    const close = () => source.close();
    return { dir: folder, config, modules, biases, source, close, [Symbol.dispose]: close };
  } catch (error) {
    source.close();
    throw error;
  }
}

export interface LoadAdapterOptions {
  /** The name the adapter gets on the model (default 'default'). */
  adapterName?: string;
  /** Mark A and B requiresGrad to train further (default false: inference, as PEFT's default). */
  trainable?: boolean;
}

/** Where the bias `path` of the unadapted model lives now: inside a LoRA layer, under base_layer. */
function biasPath(model: CausalLM, path: string): string {
  const owner = path.slice(0, path.lastIndexOf('.'));
  return model.getModule(owner) instanceof LoraLinear ? `${owner}.base_layer.bias` : path;
}

/** A float tensor as adapters hold it: f16/bf16 widened to f32 (PEFT's autocast_adapter_dtype). */
function adapterTensor(source: TensorSource, name: string): Tensor {
  const t = source.read(name);
  if (t.dtype !== 'f16' && t.dtype !== 'bf16') return t;
  const wide = cast(t, 'f32');
  t.dispose();
  return wide;
}

/**
 * Loads the PEFT adapter in `dir` onto `model` as adapter `adapterName`, after checking that it
 * fits: its target_modules must select exactly the modules it holds weights for, and every
 * A/B/bias must match the shapes of this model's layers. A mismatch (an adapter made for another
 * base model) is a SlimlmError naming the module, both shapes and the adapter's
 * base_model_name_or_path. The first adapter on a model becomes active.
 */
export function loadAdapter(
  model: CausalLM,
  dir: string,
  options: LoadAdapterOptions = {},
): InjectedAdapter {
  const file = readAdapter(dir);
  try {
    return attachFile(model, file, options);
  } finally {
    file.close();
  }
}

function attachFile(
  model: CausalLM,
  file: AdapterFile,
  options: LoadAdapterOptions,
): InjectedAdapter {
  const { config, modules, biases, source } = file;
  const made = `the adapter in ${file.dir} was made for ${config.baseModelNameOrPath ?? 'another model (base_model_name_or_path is not recorded)'}`;
  const mismatch = (problem: string, code: 'NOT_FOUND' | 'SHAPE_MISMATCH' = 'NOT_FOUND') =>
    new SlimlmError(
      code,
      `${made}, and this ${model.config.modelType} model does not match: ${problem}`,
    );
  let paths: string[];
  try {
    paths = selectTargets(model, config).paths;
  } catch (error) {
    if (error instanceof SlimlmError && error.code === 'NOT_FOUND') throw mismatch(error.message);
    throw error;
  }
  const selected = new Set(paths);
  const extra = [...modules.keys()].filter((path) => !selected.has(path));
  if (extra.length > 0) {
    throw mismatch(
      `it has no module '${extra[0]}' among those target_modules selects${extra.length > 1 ? ` (and ${extra.length - 1} more)` : ''}`,
    );
  }
  const missing = paths.filter((path) => !modules.has(path));
  if (missing.length > 0) {
    throw mismatch(
      `target_modules also selects '${missing[0]}'${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}, which the adapter has no weights for`,
    );
  }
  for (const path of paths) {
    const layer = model.getModule(path) as LinearLayer;
    const weights = modules.get(path)!;
    if (layer.inFeatures !== weights.inFeatures || layer.outFeatures !== weights.outFeatures) {
      throw mismatch(
        `'${path}' maps ${layer.inFeatures} → ${layer.outFeatures} features, the adapter's A and B ${weights.inFeatures} → ${weights.outFeatures}`,
        'SHAPE_MISMATCH',
      );
    }
  }
  for (const [path, name] of biases) {
    const current = model.getParameter(biasPath(model, path));
    const shape = source.info(name).shape;
    if (
      !current ||
      current.shape.length !== shape.length ||
      current.shape.some((d, i) => d !== shape[i])
    ) {
      throw mismatch(
        `its bias '${name}' is [${shape.join(', ')}], the model's '${path}' ${current ? `is [${current.shape.join(', ')}]` : 'does not exist'}`,
        'SHAPE_MISMATCH',
      );
    }
  }
  const adapter = attachAdapter(model, options.adapterName ?? 'default', config, paths, (path) => {
    const { a, b } = modules.get(path)!;
    const matrices = { a: adapterTensor(source, a), b: adapterTensor(source, b) };
    matrices.a.requiresGrad = options.trainable ?? false;
    matrices.b.requiresGrad = options.trainable ?? false;
    return matrices;
  });
  for (const [path, name] of biases) model.setParameter(biasPath(model, path), source.read(name));
  return adapter;
}

/**
 * Loads the PEFT adapter in `dir` onto `model` (see loadAdapter) and makes it the one active
 * adapter: what `slimlm generate --adapter <dir>` does.
 */
export function applyAdapter(
  model: CausalLM,
  dir: string,
  options: LoadAdapterOptions = {},
): InjectedAdapter {
  const adapter = loadAdapter(model, dir, options);
  setAdapter(model, adapter.name);
  return adapter;
}
