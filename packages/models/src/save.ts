import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SlimlmError, type Tensor } from '@slimlm/core';
import { saveCheckpoint } from '@slimlm/hub';
import type { CausalLM } from './model';

/**
 * The model's parameters by Hugging Face name, as transformers' `state_dict()` saves them: a tied
 * target that shares its source's tensor (lm_head tied to the embeddings) is left out.
 */
export function stateDict(model: CausalLM): Map<string, Tensor> {
  const tied = new Map(model.tiedParameters());
  const entries = new Map(model.namedParameters());
  for (const [target, source] of tied) {
    if (entries.get(target) === entries.get(source)) entries.delete(target);
  }
  return entries;
}

const TORCH_NAMES: Partial<Record<string, string>> = {
  f32: 'float32',
  f16: 'float16',
  bf16: 'bfloat16',
};

/** config.json's dtype field for the weights as saved (their float dtype, when there is one). */
function storedDType(weights: Map<string, Tensor>): Record<string, string> {
  for (const t of weights.values()) {
    const name = TORCH_NAMES[t.dtype];
    if (name) return { torch_dtype: name };
  }
  return {};
}

export interface SaveModelOptions {
  /** Largest safetensors shard, in bytes or as '5GB' / '500MB' (default '5GB', as transformers). */
  maxShardSize?: number | string;
  /** Extra string metadata for the safetensors header (`format: "pt"` is always set). */
  metadata?: Record<string, string>;
  /** config.json fields to set or replace (a quantization_config, for example). */
  config?: Record<string, unknown>;
  /** Files copied unchanged from another folder (tokenizer.json, generation_config.json, ...). */
  copyFiles?: { from: string; names: string[] };
  /** Replace `folder` if it exists (default: refuse). */
  overwrite?: boolean;
}

/**
 * Writes `model` as a Hugging Face folder: config.json and safetensors weights named by their HF
 * paths (sharded with an index above maxShardSize), plus any copied files. Everything is written
 * into a temporary folder beside `folder` and renamed into place only when complete, so an
 * interrupted save never leaves a folder that looks like a model.
 */
export function saveModel(model: CausalLM, folder: string, options: SaveModelOptions = {}): void {
  if (existsSync(folder) && !options.overwrite) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `saveModel: ${folder} already exists; pass overwrite: true to replace it`,
    );
  }
  mkdirSync(dirname(folder), { recursive: true });
  const temporary = join(dirname(folder), `.${basename(folder)}.tmp-${process.pid}-${Date.now()}`);
  try {
    mkdirSync(temporary);
    const weights = stateDict(model);
    saveCheckpoint(temporary, [...weights], {
      ...(options.maxShardSize === undefined ? {} : { maxShardSize: options.maxShardSize }),
      ...(options.metadata ? { metadata: options.metadata } : {}),
    });
    const config = { ...model.config.raw, ...storedDType(weights), ...options.config };
    writeFileSync(join(temporary, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    for (const name of options.copyFiles?.names ?? []) {
      const from = join(options.copyFiles!.from, name);
      if (existsSync(from)) copyFileSync(from, join(temporary, name));
    }
    if (existsSync(folder)) rmSync(folder, { recursive: true, force: true });
    renameSync(temporary, folder);
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
}
