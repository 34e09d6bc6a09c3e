import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crossEntropy, narrow, scope, type Tensor, tensor } from '@slimlm/core';
import { afterAll, beforeAll } from 'vitest';
import { modelFromFolder } from '../src/load';
import type { CausalLM } from '../src/model';

/** The repository root (fixtures/ lives there). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const STORIES = join(ROOT, 'fixtures', 'stories260K-hf');
export const WIKILLAMA = join(ROOT, 'packages', 'models', 'assets', 'wikillama-7m');
export const WIKITEXT = join(ROOT, 'fixtures', 'wikitext-2-raw', 'wiki.test.raw');

// biome-ignore lint/suspicious/noExplicitAny: the reference JSON files are read untyped.
export function readJson<T = any>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export const storiesReference = () =>
  readJson(join(ROOT, 'fixtures', 'stories260K-reference.json'));
export const wikillamaReference = () =>
  readJson(join(ROOT, 'fixtures', 'wikillama-7m-reference.json'));

/**
 * Loads the model in `folder` before the tests of the enclosing file (or describe block) and
 * disposes it after them; call the result for the model.
 */
export function modelBeforeAll(folder: string): () => CausalLM {
  let model: CausalLM | undefined;
  beforeAll(() => {
    model = modelFromFolder(folder);
  });
  afterAll(() => model?.dispose());
  return () => {
    if (!model) throw new Error(`the model in ${folder} is loaded only inside tests`);
    return model;
  };
}

/** ids → i32 [1, n]. */
export function idsTensor(rows: readonly (readonly number[])[]): Tensor {
  return tensor(rows.flat(), { dtype: 'i32', shape: [rows.length, rows[0]?.length ?? 0] });
}

/** Logits of one sequence as rows per position (f64 host copies). */
export function logitRows(model: CausalLM, ids: readonly number[]): Float64Array[] {
  return scope(() => {
    const logits = model.forward(idsTensor([ids]));
    const vocab = logits.shape[2]!;
    const data = logits.dataSync();
    return Array.from({ length: ids.length }, (_, t) =>
      Float64Array.from(data.subarray(t * vocab, (t + 1) * vocab)),
    );
  });
}

/** The largest difference between the logits of models `a` and `b` for `ids`, at any position. */
export function logitsDiff(a: CausalLM, b: CausalLM, ids: readonly number[]): number {
  const rowsB = logitRows(b, ids);
  return Math.max(...logitRows(a, ids).map((row, t) => maxAbsDiff(row, rowsB[t]!)));
}

export function argmaxOf(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

export function logsumexpOf(row: ArrayLike<number>): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return max + Math.log(sum);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** Greedy decoding with a KV cache: the prompt once, then one token per step. */
export function greedyCached(model: CausalLM, prompt: readonly number[], steps: number): number[] {
  const out = [...prompt];
  const cache = model.createCache(1, prompt.length + steps);
  try {
    let input: readonly number[] = prompt;
    for (let s = 0; s < steps; s++) {
      const next = scope(() => {
        const logits = model.forward(idsTensor([input]), { cache });
        const vocab = logits.shape[2]!;
        const data = logits.dataSync();
        return argmaxOf(data.subarray((input.length - 1) * vocab, input.length * vocab));
      });
      out.push(next);
      input = [next];
    }
  } finally {
    cache.dispose();
  }
  return out;
}

/** Greedy decoding that recomputes the whole sequence every step (no cache). */
export function greedyRecompute(
  model: CausalLM,
  prompt: readonly number[],
  steps: number,
): number[] {
  const out = [...prompt];
  for (let s = 0; s < steps; s++) {
    const rows = logitRows(model, out);
    out.push(argmaxOf(rows[rows.length - 1]!));
  }
  return out;
}

/**
 * Mean next-token NLL (nats) of each row of `windows` ([n][T]), each run from position 0: the
 * T - 1 predictions logits[t] → ids[t + 1], in batches of `batch` rows.
 */
export function windowNlls(model: CausalLM, windows: readonly number[][], batch = 8): number[] {
  const losses: number[] = [];
  for (let start = 0; start < windows.length; start += batch) {
    const rows = windows.slice(start, start + batch);
    const length = rows[0]!.length;
    const values = scope(() => {
      const logits = model.forward(idsTensor(rows));
      const predicted = narrow(logits, 1, 0, length - 1);
      const targets = idsTensor(rows.map((row) => row.slice(1)));
      const nll = crossEntropy(predicted, targets, { reduction: 'none' });
      return Float64Array.from(nll.dataSync());
    });
    for (let r = 0; r < rows.length; r++) {
      let sum = 0;
      for (let t = 0; t < length - 1; t++) sum += values[r * (length - 1) + t]!;
      losses.push(sum / (length - 1));
    }
  }
  return losses;
}

/** A temporary copy of a model folder, edited by `edit`; removed by the returned cleanup. */
export function copyFolder(
  folder: string,
  edit?: (copy: string) => void,
): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'slimlm-models-'));
  cpSync(folder, path, { recursive: true });
  edit?.(path);
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Rewrites config.json in `folder` through `change`. */
export function editConfig(
  folder: string,
  change: (config: Record<string, unknown>) => void,
): void {
  const file = join(folder, 'config.json');
  const config = readJson<Record<string, unknown>>(file);
  change(config);
  writeFileSync(file, JSON.stringify(config, null, 2));
}
