import { defaultGenerator, Generator, SlimlmError, type Tensor } from '@slimlm/core';
import { type CausalLM, Linear, type LinearLayer, type Module } from '@slimlm/models';
import { type LoraConfig, loraScaling, resolveLoraConfig } from './config';
import { initialMatrices } from './init';
import { LoraLinear } from './lora-linear';
import { candidateModules, patternValue, selectTargets } from './targets';

/** What a model carries besides its LoRA layers: each adapter's config and the switches. */
interface ModelAdapters {
  configs: Map<string, LoraConfig>;
  active: string[];
  enabled: boolean;
}

const registry = new WeakMap<Module, ModelAdapters>();

function adaptersOf(model: Module): ModelAdapters {
  let state = registry.get(model);
  if (!state) {
    state = { configs: new Map(), active: [], enabled: true };
    registry.set(model, state);
  }
  return state;
}

/** Forgets every adapter of `model` (after its LoRA layers are merged away). */
export function forgetAdapters(model: Module): void {
  registry.delete(model);
}

/** Every LoRA layer of `model` with its path. */
export function loraLayers(model: Module): [string, LoraLinear][] {
  return [...candidateModules(model)].filter(
    (entry): entry is [string, LoraLinear] => entry[1] instanceof LoraLinear,
  );
}

/** The adapters on `model` by name, with the config each was made (or loaded) with. */
export function adapterConfigs(model: Module): ReadonlyMap<string, LoraConfig> {
  return adaptersOf(model).configs;
}

/** The adapters the forward pass adds, in order. */
export function activeAdapters(model: Module): readonly string[] {
  return adaptersOf(model).active;
}

/** The config of adapter `name`, or a NOT_FOUND naming the adapters there are. */
export function adapterConfig(model: Module, name: string): LoraConfig {
  const config = adaptersOf(model).configs.get(name);
  if (!config) {
    const names = [...adaptersOf(model).configs.keys()];
    throw new SlimlmError(
      'NOT_FOUND',
      `no LoRA adapter '${name}' on this model (adapters: ${names.join(', ') || 'none'})`,
    );
  }
  return config;
}

const ADAPTER_NAME = /^[A-Za-z0-9_-]+$/;

export interface InjectOptions {
  /** The adapter's name, a path component (default 'default', as PEFT). */
  adapterName?: string;
  /** Seeds the initial A and B (default: core's global generator, see manualSeed). */
  seed?: number;
}

/** An adapter as attached: its resolved config and the paths of the layers it wraps. */
export interface InjectedAdapter {
  name: string;
  config: LoraConfig;
  modules: string[];
}

/** The matrices of one adapter layer, [r, in] and [out, r]; the layer takes ownership. */
export type MatricesFor = (path: string, layer: LinearLayer, r: number) => { a: Tensor; b: Tensor };

/** The backend of a module's parameters, if it has any loaded. */
function backendOf(module: Module) {
  for (const [, t] of module.namedParameters()) return t.backend;
  return undefined;
}

/**
 * Attaches adapter `name` to `paths` of `model` with matrices from `matricesFor`: each target is
 * wrapped in a LoraLinear (or gains one more adapter if it is one). The first adapter of a model
 * becomes the active one; later ones wait for setAdapter.
 */
export function attachAdapter(
  model: CausalLM,
  name: string,
  config: LoraConfig,
  paths: readonly string[],
  matricesFor: MatricesFor,
): InjectedAdapter {
  if (!ADAPTER_NAME.test(name)) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `adapter name '${name}' must be letters, digits, '_' or '-' (it becomes a parameter path component)`,
    );
  }
  const state = adaptersOf(model);
  if (state.configs.has(name)) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `this model has an adapter '${name}' already; choose another adapterName or deleteAdapter first`,
    );
  }
  const withBias = [...state.configs].find(([, c]) => c.bias !== 'none');
  if (config.bias !== 'none' && withBias) {
    throw new SlimlmError(
      'UNSUPPORTED',
      `only one adapter per model may train biases (as in PEFT); '${withBias[0]}' has bias '${withBias[1].bias}', so '${name}' needs bias 'none'`,
    );
  }
  const fanInFanOut = paths.some((path) => {
    const layer = model.getModule(path);
    const base = layer instanceof LoraLinear ? layer.base : layer;
    return base instanceof Linear && base.layout === 'in-out';
  });
  const resolved: LoraConfig = { ...config, fanInFanOut };
  const first = state.configs.size === 0;
  for (const path of paths) {
    const found = model.getModule(path);
    let layer: LoraLinear;
    if (found instanceof LoraLinear) {
      layer = found;
    } else {
      layer = new LoraLinear(found as LinearLayer);
      layer.activeAdapters = state.active;
      layer.disabled = !state.enabled;
      model.setModule(path, layer);
    }
    const r = patternValue(config.rankPattern, path, config.r);
    const alpha = patternValue(config.alphaPattern, path, config.loraAlpha);
    const { a, b } = matricesFor(path, layer.base, r);
    layer.addAdapter(
      name,
      {
        r,
        alpha,
        scaling: loraScaling(alpha, r, config.useRslora),
        dropout: config.loraDropout,
      },
      a,
      b,
    );
  }
  state.configs.set(name, resolved);
  if (first) setAdapter(model, name);
  return { name, config: resolved, modules: [...paths] };
}

/**
 * Wraps the modules `config` targets (PEFT's matching: see LoraConfig.targetModules) in LoRA
 * layers holding a new adapter, initialised as PEFT does (initLoraWeights), its matrices
 * requiring gradients and the base untouched. Several adapters may share a model (only one of
 * them training biases); the first becomes active.
 */
export function injectLora(
  model: CausalLM,
  config: Partial<LoraConfig> = {},
  options: InjectOptions = {},
): InjectedAdapter {
  const resolved = resolveLoraConfig(config, model.config.modelType);
  const { paths, targetModules } = selectTargets(model, resolved);
  const generator = options.seed === undefined ? defaultGenerator : new Generator(options.seed);
  const injected = attachAdapter(
    model,
    options.adapterName ?? 'default',
    { ...resolved, targetModules },
    paths,
    (_, base, r) => {
      const { a, b } = initialMatrices(
        resolved.initLoraWeights,
        r,
        base.inFeatures,
        base.outFeatures,
        generator,
        backendOf(base),
      );
      a.requiresGrad = true;
      b.requiresGrad = true;
      return { a, b };
    },
  );
  return injected;
}

/** Makes `names` the active adapters (in order) of every LoRA layer; each must exist. */
export function setAdapter(model: Module, names: string | readonly string[]): void {
  const list = typeof names === 'string' ? [names] : [...names];
  for (const name of list) adapterConfig(model, name);
  adaptersOf(model).active = list;
  for (const [, layer] of loraLayers(model)) layer.activeAdapters = list;
}

/** Turns every adapter off (the model computes as its base) until enableAdapters. */
export function disableAdapters(model: Module): void {
  adaptersOf(model).enabled = false;
  for (const [, layer] of loraLayers(model)) layer.disabled = true;
}

export function enableAdapters(model: Module): void {
  adaptersOf(model).enabled = true;
  for (const [, layer] of loraLayers(model)) layer.disabled = false;
}

/**
 * Removes adapter `name` and frees its matrices; a layer left without adapters is unwrapped back
 * to its base. If it was active, the first remaining adapter (if any) becomes active.
 */
export function deleteAdapter(model: Module, name: string): void {
  adapterConfig(model, name);
  const state = adaptersOf(model);
  for (const [path, layer] of loraLayers(model)) {
    if (!layer.hasAdapter(name)) continue;
    layer.deleteAdapter(name);
    if (layer.adapterNames.length === 0) model.setModule(path, layer.base);
  }
  state.configs.delete(name);
  const remaining = state.active.filter((n) => n !== name);
  const first = [...state.configs.keys()][0];
  setAdapter(model, remaining.length > 0 || first === undefined ? remaining : first);
}

/**
 * Adapter `name`'s parameters by parameter path: every A and B
 * (`<module>.lora_A.<adapter>.weight`), plus the biases its `bias` mode trains ('all': every bias
 * of the model; 'lora_only': the wrapped layers' `base_layer.bias`), as PEFT selects them.
 */
export function adapterParameters(model: Module, name: string): Map<string, Tensor> {
  const { bias } = adapterConfig(model, name);
  const found = new Map<string, Tensor>();
  for (const [path, layer] of loraLayers(model)) {
    if (!layer.hasAdapter(name)) continue;
    found.set(`${path}.lora_A.${name}.weight`, layer.loraA(name).weight);
    found.set(`${path}.lora_B.${name}.weight`, layer.loraB(name).weight);
    const own = model.getParameter(`${path}.base_layer.bias`);
    if (bias === 'lora_only' && own) found.set(`${path}.base_layer.bias`, own);
  }
  if (bias === 'all') {
    for (const [path, value] of model.namedParameters()) {
      if (path.split('.').at(-1) === 'bias') found.set(path, value);
    }
  }
  return found;
}

export interface TrainableOptions {
  /** The adapter whose parameters to train (default: the active ones). */
  adapterName?: string;
}

/**
 * The parameters a trainer updates, by parameter path (see adapterParameters), for the active
 * adapters or `adapterName`: what the Trainer takes. The base stays frozen.
 */
export function trainableParameters(
  model: CausalLM,
  options: TrainableOptions = {},
): Map<string, Tensor> {
  const names =
    options.adapterName === undefined ? [...activeAdapters(model)] : [options.adapterName];
  if (names.length === 0) {
    throw new SlimlmError(
      'NOT_FOUND',
      'trainableParameters: this model has no active LoRA adapter',
    );
  }
  return new Map(names.flatMap((name) => [...adapterParameters(model, name)]));
}
