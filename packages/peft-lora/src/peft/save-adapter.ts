import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import { saveSafetensors } from '@slimlm/hub';
import type { CausalLM } from '@slimlm/models';
import { adapterConfig, adapterConfigs, adapterParameters } from '../lora/adapters';
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  adapterConfigJson,
  PEFT_KEY_PREFIX,
} from './adapter-config';

export interface SaveAdapterOptions {
  /** Which adapter (default: 'default', or the model's only adapter). */
  adapterName?: string;
  /** base_model_name_or_path to record (default: the adapter's config, else none). */
  baseModelNameOrPath?: string;
}

/** The adapter to act on: the named one, else 'default', else the only one. */
export function chooseAdapter(model: CausalLM, name: string | undefined, what: string): string {
  if (name !== undefined) {
    adapterConfig(model, name);
    return name;
  }
  const names = [...adapterConfigs(model).keys()];
  if (names.includes('default')) return 'default';
  if (names.length === 1) return names[0]!;
  throw new SlimlmError(
    names.length === 0 ? 'NOT_FOUND' : 'INVALID_ARGUMENT',
    names.length === 0
      ? `${what}: this model has no LoRA adapter`
      : `${what}: the model has adapters ${names.join(', ')}; pass adapterName`,
  );
}

/**
 * Writes adapter `adapterName` into `dir` as PEFT's save_pretrained does: adapter_model.safetensors
 * with tensors `base_model.model.<module>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r]
 * (no adapter name in keys; biases by the adapter's `bias` mode, named as PEFT names them) and
 * adapter_config.json with PEFT 0.19's fields. Each file is written beside its place and renamed
 * into it. Returns the two paths.
 */
export function saveAdapter(
  model: CausalLM,
  dir: string,
  options: SaveAdapterOptions = {},
): { config: string; weights: string } {
  const name = chooseAdapter(model, options.adapterName, 'saveAdapter');
  const config = adapterConfig(model, name);
  const adapterInfix = new RegExp(`\\.(lora_[AB])\\.${name}\\.weight$`);
  const tensors = [...adapterParameters(model, name)].map(
    ([path, value]) => [PEFT_KEY_PREFIX + path.replace(adapterInfix, '.$1.weight'), value] as const,
  );
  mkdirSync(dir, { recursive: true });
  const weights = join(dir, ADAPTER_WEIGHTS_FILE);
  saveSafetensors(weights, tensors);
  const file = join(dir, ADAPTER_CONFIG_FILE);
  const temporary = `${file}.tmp-${process.pid}`;
  const text = adapterConfigJson({
    ...config,
    baseModelNameOrPath: options.baseModelNameOrPath ?? config.baseModelNameOrPath,
  });
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  return { config: file, weights };
}
