import { copyFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import {
  openSafetensors,
  type SafetensorsEntry,
  saveCheckpoint,
  type TensorSource,
} from '@slimlm/hub';
import type { CausalLM } from '@slimlm/models';
import type { ModuleRecord, SkippedModule } from './options';
import { blockFile } from './resume';
import { storedName } from './weights';

/** Files besides config and weights that make the output a usable model folder. */
function isCompanionFile(name: string): boolean {
  return (
    name.startsWith('tokenizer') ||
    name.endsWith('.jinja') ||
    [
      'generation_config.json',
      'special_tokens_map.json',
      'added_tokens.json',
      'vocab.json',
      'merges.txt',
      'chat_template.json',
    ].includes(name)
  );
}

/** Copies tokenizer files and generation_config.json from `from` into `to`. */
export function copyCompanionFiles(from: string, to: string): void {
  for (const name of readdirSync(from)) {
    if (isCompanionFile(name) && statSync(join(from, name)).isFile()) {
      copyFileSync(join(from, name), join(to, name));
    }
  }
}

/** What the output weights are made of. */
export interface WeightsPlan {
  model: CausalLM;
  source: TensorSource;
  /** Block paths in order ('model.layers.0', ...). */
  blockPaths: readonly string[];
  /** Full paths of the quantized Linears. */
  quantized: ReadonlySet<string>;
  resumeFolder: string;
  maxShardSize?: number | string;
}

/**
 * Writes the output weights into `folder`: every parameter of the model by its full Hugging Face
 * path, the quantized Linears as their packed tensors from the blocks' checkpoint files, and
 * everything else exactly as the source stores it (dtype and bytes). Tied targets the source
 * does not hold are left out, as transformers saves them. Tensors are read one at a time.
 */
export function writeWeights(folder: string, plan: WeightsPlan): void {
  const { model, source } = plan;
  const tiedTo = new Map(model.tiedParameters());
  const blockSources = new Map<number, TensorSource>();
  const blockSource = (index: number): TensorSource => {
    let found = blockSources.get(index);
    if (!found) {
      found = openSafetensors(blockFile(plan.resumeFolder, index));
      blockSources.set(index, found);
    }
    return found;
  };
  const blockOf = (path: string): number =>
    plan.blockPaths.findIndex((block) => path.startsWith(`${block}.`));
  try {
    const entries: SafetensorsEntry[] = [];
    const written = new Set<string>();
    for (const [path] of model.parameterShapes()) {
      const modulePath = path.slice(0, path.lastIndexOf('.'));
      if (plan.quantized.has(modulePath)) {
        if (written.has(modulePath)) continue;
        written.add(modulePath);
        const packed = blockSource(blockOf(path));
        for (const name of packed.names().filter((n) => n.startsWith(`${modulePath}.`))) {
          const info = packed.info(name);
          entries.push({
            name,
            dtype: info.dtype,
            shape: info.shape,
            data: () => packed.readBytes(name),
          });
        }
        continue;
      }
      const stored = storedName(model, source, path, new Map());
      if (stored === undefined) {
        if (tiedTo.has(path)) continue;
        throw new SlimlmError('INVALID_FILE', `${source.location}: '${path}' is missing`);
      }
      const info = source.info(stored);
      entries.push({
        name: path,
        dtype: info.dtype,
        shape: info.shape,
        data: () => source.readBytes(stored),
      });
    }
    saveCheckpoint(folder, entries, {
      ...(plan.maxShardSize === undefined ? {} : { maxShardSize: plan.maxShardSize }),
    });
  } finally {
    for (const opened of blockSources.values()) opened.close();
  }
}

/** quant_log.json and quant_log.csv: one row per Linear (GPTQModel's columns), skipped ones noted. */
export function writeQuantLog(
  folder: string,
  modules: readonly ModuleRecord[],
  skipped: readonly (SkippedModule & { layer: number; name: string })[],
): void {
  const rows = [
    ...modules.map((m) => ({ ...m })),
    ...skipped.map((s) => ({
      layer: s.layer,
      module: s.name,
      loss: null,
      damp: null,
      time: 0,
      skipped: s.reason,
    })),
  ].sort((a, b) => a.layer - b.layer);
  writeFileSync(join(folder, 'quant_log.json'), `${JSON.stringify(rows, null, 2)}\n`);
  const csv = ['layer,module,loss,damp,time,skipped'];
  for (const row of rows) {
    const note = 'skipped' in row ? `"${String(row.skipped).replaceAll('"', '""')}"` : '';
    csv.push([row.layer, row.module, row.loss ?? '', row.damp ?? '', row.time, note].join(','));
  }
  writeFileSync(join(folder, 'quant_log.csv'), `${csv.join('\n')}\n`);
}

export function writeJson(folder: string, name: string, value: unknown): void {
  writeFileSync(join(folder, name), `${JSON.stringify(value, null, 2)}\n`);
}
