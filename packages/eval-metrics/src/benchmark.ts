import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, memory, resetPeakBytes, SlimlmError } from '@slimlm/core';
import { type CausalLM, generate, type LoadedModel } from '@slimlm/models';

export interface GenerationBenchmarkOptions {
  /**
   * Prompt tokens per row. Default 512, as optimum's published table, or less when the model's
   * positions cannot hold that many plus the new tokens (see `fitLengths`).
   */
  promptLength?: number;
  /** Tokens generated per row, exactly: end-of-sequence ids are ignored. Default as promptLength. */
  newTokens?: number;
  /** Rows generated together (default 1). */
  batch?: number;
  /** Timed generations averaged (optimum's --num-batches; default 4, as its published table). */
  repeats?: number;
  /** Seed of the random prompt ids (default 0). */
  seed?: number;
  /** Called as each phase starts: load, warmup, memory, then timing runs 1..repeats. */
  onProgress?: (
    phase: 'load' | 'warmup' | 'memory' | 'timing',
    done: number,
    total: number,
  ) => void;
}

/** How the weights are stored, from config.json: full precision, or a quantization method. */
export interface WeightsDescription {
  /** 'gptq' or another quant_method, else 'fp'. */
  method: string;
  bits?: number;
  groupSize?: number;
  descAct?: boolean;
  /** config.json's torch_dtype for full-precision weights. */
  dtype?: string;
}

/** One row of the table of optimum's GPTQ benchmark (tests/benchmark/benchmark_gptq.py). */
export interface GenerationBenchmark {
  weights: WeightsDescription;
  batch: number;
  promptLength: number;
  newTokens: number;
  repeats: number;
  /** Seconds to load the model (weights, tokenizer, configs). */
  loadSeconds: number;
  /** Mean wall time of one generate() call (prefill included) over newTokens. */
  perTokenMs: number;
  /** batch / per-token latency: new tokens per second over all rows. */
  tokensPerSecond: number;
  /** Mean time to the first new token (the prefill of the prompt). */
  prefillMs: number;
  /** Tokens per second after the first: the decode phase alone. */
  decodeTokensPerSecond: number;
  /** Peak bytes of tensor storage during one generation (weights, KV cache, activations), in MB. */
  peakMemoryMb: number;
  /** The process's peak resident set size so far, in MB (Node's runtime included). */
  peakRssMb: number;
}

const MB = 1e6;

/**
 * Measures generation as optimum's GPTQ benchmark does: times `load()`, generates once to warm up,
 * generates once more to measure peak memory, then times `repeats` generate() calls of exactly
 * `newTokens` greedy tokens after `batch` random prompts of `promptLength` ids drawn uniformly
 * from 1 … vocab − 2 (seeded). Per-token latency is the mean call time over `newTokens`, prefill
 * included, and throughput is batch / per-token latency. Peak memory is core's peak tensor bytes
 * (optimum reports torch's peak allocation plus the CUDA context). The model is disposed at the end.
 */
export async function benchmarkGeneration(
  load: () => Promise<LoadedModel>,
  options: GenerationBenchmarkOptions = {},
): Promise<GenerationBenchmark> {
  const { batch = 1, repeats = 4, seed = 0, onProgress } = options;
  const given = { promptLength: options.promptLength, newTokens: options.newTokens };
  for (const [name, value] of Object.entries({ ...given, batch, repeats })) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `benchmarkGeneration: ${name} must be an integer >= 1, got ${value}`,
      );
    }
  }
  onProgress?.('load', 0, 1);
  const loadStarted = performance.now();
  const loaded = await load();
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  try {
    const { model } = loaded;
    const { maxPositions, vocabSize } = model.config;
    const { promptLength, newTokens } = fitLengths(given, maxPositions);
    if (promptLength + newTokens > maxPositions) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `benchmarkGeneration: a prompt of ${promptLength} and ${newTokens} new tokens need ${promptLength + newTokens} positions; the model has ${maxPositions}`,
      );
    }
    const prompts = randomPrompts(batch, promptLength, vocabSize, seed);
    const run = () => timedGeneration(model, prompts, newTokens);
    onProgress?.('warmup', 0, 1);
    run();
    onProgress?.('memory', 0, 1);
    resetPeakBytes();
    run();
    const peakMemoryMb = memory().peakBytes / MB;
    const runs = [];
    for (let i = 0; i < repeats; i++) {
      onProgress?.('timing', i, repeats);
      runs.push(run());
    }
    onProgress?.('timing', repeats, repeats);
    const meanMs = mean(runs.map((r) => r.totalMs));
    const prefillMs = mean(runs.map((r) => r.firstTokenMs));
    const perTokenMs = meanMs / newTokens;
    const decodeMs = meanMs - prefillMs;
    return {
      weights: describeWeights(loaded.folder),
      batch,
      promptLength,
      newTokens,
      repeats,
      loadSeconds,
      perTokenMs,
      tokensPerSecond: batch / (perTokenMs / 1000),
      prefillMs,
      decodeTokensPerSecond: newTokens > 1 ? (batch * (newTokens - 1)) / (decodeMs / 1000) : 0,
      peakMemoryMb,
      peakRssMb: (process.resourceUsage().maxRSS * 1024) / MB,
    };
  } finally {
    loaded.dispose();
  }
}

const DEFAULT_LENGTH = 512;

/**
 * The lengths to benchmark: explicit ones as given; a missing one 512, or less so that prompt and
 * new tokens fit the model's positions (half each when neither is given).
 */
export function fitLengths(
  given: { promptLength?: number | undefined; newTokens?: number | undefined },
  maxPositions: number,
): { promptLength: number; newTokens: number } {
  const limit = Number.isFinite(maxPositions) && maxPositions > 0 ? maxPositions : Infinity;
  const fit = (other: number) => Math.max(1, Math.min(DEFAULT_LENGTH, limit - other));
  const { promptLength, newTokens } = given;
  if (promptLength === undefined && newTokens === undefined) {
    const each = Math.min(DEFAULT_LENGTH, Math.floor(limit / 2));
    return { promptLength: each, newTokens: each };
  }
  if (promptLength === undefined) return { promptLength: fit(newTokens!), newTokens: newTokens! };
  return { promptLength, newTokens: newTokens ?? fit(promptLength) };
}

/** `batch` rows of `length` ids uniform in 1 … vocab − 2, as torch.randint(1, vocab − 1). */
function randomPrompts(batch: number, length: number, vocabSize: number, seed: number): number[][] {
  const generator = new Generator(seed);
  const span = Math.max(1, vocabSize - 2);
  return Array.from({ length: batch }, () =>
    Array.from({ length }, () => 1 + Math.min(span - 1, Math.floor(generator.nextFloat() * span))),
  );
}

/** One greedy generation of exactly `newTokens` (no stop ids), with its total and first-token times. */
function timedGeneration(
  model: CausalLM,
  prompts: number[][],
  newTokens: number,
): { totalMs: number; firstTokenMs: number } {
  const started = performance.now();
  let firstTokenMs: number | undefined;
  generate(model, prompts, {
    maxNewTokens: newTokens,
    stopTokenIds: [],
    onToken: () => {
      firstTokenMs ??= performance.now() - started;
    },
  });
  const totalMs = performance.now() - started;
  return { totalMs, firstTokenMs: firstTokenMs ?? totalMs };
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** The quantization_config (or torch_dtype) of the folder's config.json. */
export function describeWeights(folder: string): WeightsDescription {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
  } catch {
    return { method: 'fp' };
  }
  const quantization = config.quantization_config as Record<string, unknown> | undefined;
  if (quantization && typeof quantization === 'object') {
    const method = String(quantization.quant_method ?? 'gptq');
    return {
      method,
      ...(typeof quantization.bits === 'number' ? { bits: quantization.bits } : {}),
      ...(typeof quantization.group_size === 'number'
        ? { groupSize: quantization.group_size }
        : {}),
      ...(typeof quantization.desc_act === 'boolean' ? { descAct: quantization.desc_act } : {}),
    };
  }
  const dtype = config.torch_dtype ?? config.dtype;
  return { method: 'fp', ...(typeof dtype === 'string' ? { dtype } : {}) };
}
