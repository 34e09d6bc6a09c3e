import { SlimlmError } from '@slimlm/core';
import type { CausalLM, Module } from '@slimlm/models';
import { isAllLinear, type LoraConfig, type TargetModules } from './config';
import { isLinearLayer, LoraLinear } from './lora-linear';

/** PEFT condenses target lists at least this long into suffixes (MIN_TARGET_MODULES_FOR_OPTIMIZATION). */
const MIN_TARGETS_TO_CONDENSE = 20;

/** A regular expression `pattern` (Python `re` syntax shared with JavaScript) matching all of `key`. */
function fullMatch(pattern: string, key: string): boolean {
  return new RegExp(`^(?:${pattern})$`).test(key);
}

/** Whether `targets` selects the module at `key`: equal or '.'-suffix for a list, full match for a regex. */
export function matchesTargets(targets: TargetModules, key: string): boolean {
  if (typeof targets === 'string') return fullMatch(targets, key);
  return targets.some((target) => key === target || key.endsWith(`.${target}`));
}

/** PEFT's layers_to_transform filter: the index after `<pattern>.` in `key` must be listed. */
function inSelectedLayer(config: LoraConfig, key: string): boolean {
  const wanted = config.layersToTransform;
  if (wanted === null || (Array.isArray(wanted) && wanted.length === 0)) return true;
  const patterns =
    config.layersPattern === null || config.layersPattern.length === 0
      ? ['[^.]*']
      : typeof config.layersPattern === 'string'
        ? [config.layersPattern]
        : config.layersPattern;
  for (const pattern of patterns) {
    const found = new RegExp(`^.*\\.${pattern}\\.(\\d+)\\.`).exec(key);
    if (found) {
      const index = Number(found[1]);
      return typeof wanted === 'number' ? index === wanted : wanted.includes(index);
    }
  }
  return false;
}

/**
 * The value of the first key of `pattern` that matches `key` (PEFT's get_pattern_key: the key as
 * a regex ending the path at a '.' boundary), or `fallback`.
 */
export function patternValue(
  pattern: Readonly<Record<string, number>>,
  key: string,
  fallback: number,
): number {
  for (const [name, value] of Object.entries(pattern)) {
    if (new RegExp(`^(.*\\.)?(${name})$`).test(key)) return value;
  }
  return fallback;
}

/**
 * Every module of `model` with its path, depth first, without descending into LoRA layers (their
 * base and A/B matrices are never targets themselves: PEFT does not nest adapters).
 */
export function* candidateModules(module: Module, prefix = ''): Generator<[string, Module]> {
  yield [prefix, module];
  if (module instanceof LoraLinear) return;
  for (const [name, child] of module.children()) {
    yield* candidateModules(child, prefix === '' ? name : `${prefix}.${name}`);
  }
}

/**
 * The path of the output head (PEFT's get_output_embeddings): the linear layer outside the
 * decoder blocks that maps to the vocabulary, or undefined when there is none.
 */
export function outputHeadPath(model: CausalLM): string | undefined {
  const blocks = model.decoderBlocks().map((info) => `${info.path}.`);
  let head: string | undefined;
  for (const [path, module] of candidateModules(model)) {
    if (!isLinearLayer(module) || blocks.some((block) => path.startsWith(block))) continue;
    if (module.outFeatures === model.config.vocabSize) head = path;
  }
  return head;
}

/** Every suffix of a dotted name, shortest first ('a.b.c' → 'c', 'b.c', 'a.b.c'). */
function suffixes(name: string): string[] {
  const parts = name.split('.');
  return parts.map((_, i) => parts.slice(i).join('.')).reverse();
}

function compareLists(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}

/**
 * PEFT's _find_minimal_target_modules: the fewest suffixes that select every name of `targets`
 * and none of `others`.
 */
export function minimalTargetModules(
  targets: readonly string[],
  others: readonly string[],
): string[] {
  const otherSuffixes = new Set(others.flatMap(suffixes));
  const required = new Set<string>();
  const items = [...new Set(targets)]
    .map((item) => [item, suffixes(item)] as const)
    .sort((a, b) => compareLists(a[1], b[1]));
  for (const [item, candidates] of items) {
    for (const suffix of candidates) {
      if (required.has(suffix) || otherSuffixes.has(suffix)) continue;
      if (![...required].some((r) => item.endsWith(`.${r}`))) {
        required.add(suffix);
        break;
      }
    }
  }
  return required.size === 0 ? [...new Set(targets)] : [...required];
}

/** What an adapter wraps: the paths, and targetModules as PEFT records it ('all-linear' resolved). */
export interface TargetSelection {
  paths: string[];
  targetModules: TargetModules;
}

/**
 * The modules `config` selects in `model`, with PEFT's rules: 'all-linear' becomes the list of
 * every linear layer but the output head (condensed to suffixes when long), excludeModules and
 * layersToTransform filter, and a selected module that is not a linear layer is refused.
 */
export function selectTargets(model: CausalLM, config: LoraConfig): TargetSelection {
  const modules = [...candidateModules(model)].filter(([path]) => path !== '');
  let targetModules = config.targetModules;
  if (isAllLinear(targetModules)) {
    const head = outputHeadPath(model);
    const linear = modules
      .filter(([path, module]) => isLinearLayer(module) && path !== head)
      .map(([path]) => path);
    if (linear.length === 0) {
      throw new SlimlmError('NOT_FOUND', `${describe(model)} has no linear layer for 'all-linear'`);
    }
    targetModules =
      linear.length >= MIN_TARGETS_TO_CONDENSE
        ? minimalTargetModules(
            linear,
            modules.map(([path]) => path).filter((path) => !matchesTargets(linear, path)),
          ).sort()
        : linear;
  }
  const excluded = config.excludeModules;
  const paths: string[] = [];
  for (const [path, module] of modules) {
    if (excluded !== null && matchesTargets(excluded, path)) continue;
    if (!matchesTargets(targetModules, path)) continue;
    if (typeof targetModules !== 'string' && !inSelectedLayer(config, path)) continue;
    if (!isLinearLayer(module)) {
      throw new SlimlmError(
        'UNSUPPORTED',
        `target module '${path}' is a ${module.constructor.name}; LoRA wraps linear layers only (check targetModules ${JSON.stringify(config.targetModules)})`,
      );
    }
    paths.push(path);
  }
  if (paths.length === 0) {
    const names = [
      ...new Set(modules.filter(([, m]) => isLinearLayer(m)).map(([p]) => p.split('.').at(-1)!)),
    ];
    throw new SlimlmError(
      'NOT_FOUND',
      `targetModules ${JSON.stringify(config.targetModules)} selects no module of ${describe(model)}; its linear layers are named ${names.join(', ')}`,
    );
  }
  return { paths, targetModules };
}

function describe(model: CausalLM): string {
  return `this ${model.config.modelType} model (${model.constructor.name})`;
}
