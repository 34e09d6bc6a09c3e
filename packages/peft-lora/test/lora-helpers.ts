import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator, randn, scope, type Tensor, tensor } from '@slimlm/core';
import { quantizeModel } from '@slimlm/gptq';
import { type CausalLM, getArchitecture, modelFromFolder, saveModel } from '@slimlm/models';
import { ROOT } from './train-helpers';

/** The tiny architecture configs of @slimlm/models' golden tests, one folder per variant. */
export const GOLDEN = join(ROOT, 'packages', 'models', 'test', 'golden');

/** The real PEFT adapter (r 8 on q_proj/v_proj of facebook/opt-125m) copied into fixtures/. */
export const OPT_ADAPTER = join(ROOT, 'fixtures', 'peft', 'opt-125m-lora');

/**
 * One variant per architecture, with Llama's MLP and key/value widths made multiples of 32 so
 * that GPTQ packs every Linear of the blocks (GQA kept: 4 query heads, 2 key/value heads).
 */
export const ARCHITECTURE_VARIANTS: readonly [string, Record<string, unknown>][] = [
  ['llama-transformers', { intermediate_size: 64, head_dim: 16 }],
  ['gpt_neox', {}],
  ['opt', {}],
  ['gpt2', {}],
  ['gpt_neo', {}],
];

export function readConfig(variant: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(GOLDEN, variant, 'config.json'), 'utf8'));
}

/**
 * A model of `variant`'s tiny config with seeded random f32 weights (norm weights around 1, the
 * rest with std 0.3 for matrices and 0.1 for vectors), tied parameters shared.
 */
export function tinyModel(
  variant: string,
  overrides: Record<string, unknown> = {},
  seed = 1,
): CausalLM {
  const config = { ...readConfig(variant), ...overrides };
  const model = getArchitecture(String(config.model_type)).create(config, `${variant}/config.json`);
  const generator = new Generator(seed);
  const tied = new Map(model.tiedParameters());
  for (const [path, shape] of model.parameterShapes()) {
    if (tied.has(path)) continue;
    const norm = /(norm|ln_\w)\.weight$/.test(path);
    const std = shape.length === 1 ? 0.1 : 0.3;
    model.setParameter(path, randn(shape, { generator, std, mean: norm ? 1 : 0 }));
  }
  for (const [target, source] of tied) model.setParameter(target, model.getParameter(source)!);
  return model;
}

/** A temporary folder, removed by the returned function. */
export function temporaryFolder(prefix = 'slimlm-lora-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * `model` saved to `work` and quantized there by @slimlm/gptq's quantizeModel (RTN, 4 bits,
 * asymmetric, groups of `groupSize`), loaded back: a GPTQ model whose block Linears are
 * QuantLinears.
 */
export async function quantized4Bit(
  model: CausalLM,
  work: string,
  groupSize = 16,
): Promise<CausalLM> {
  const fp = join(work, 'fp');
  const out = join(work, 'rtn4');
  saveModel(model, fp, { overwrite: true });
  await quantizeModel(fp, out, {
    bits: 4,
    groupSize,
    sym: false,
    descAct: false,
    staticGroups: false,
    dampPercent: 0.01,
    method: 'rtn',
    format: 'gptq',
    calibration: [],
    overwrite: true,
  });
  return modelFromFolder(out);
}

/** ids → i32 [rows, T]. */
export function ids(rows: readonly (readonly number[])[]): Tensor {
  return tensor(rows.flat(), { dtype: 'i32', shape: [rows.length, rows[0]?.length ?? 0] });
}

/** The model's logits for one sequence, as a host f64 copy. */
export function logitsOf(model: CausalLM, sequence: readonly number[]): Float64Array {
  return scope(() => Float64Array.from(model.forward(ids([sequence])).dataSync()));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

export function maxAbs(a: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]!));
  return worst;
}
