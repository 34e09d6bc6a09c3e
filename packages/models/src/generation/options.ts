import { SlimlmError } from '@slimlm/core';
import type { GenerationConfig, Tokenizer } from '@slimlm/hub';
import type { ArchitectureConfig } from '../model';

/** Why a row stopped: its token budget, a stop token (kept in the output), or a stop string. */
export type FinishReason = 'length' | 'stop-token' | 'stop-string';

/** One generated token, as `onToken` receives it. */
export interface TokenEvent {
  /** The row of the batch the token belongs to. */
  batchIndex: number;
  id: number;
  /**
   * The text this token made decodable ('' while a multi-byte character is incomplete, or without
   * a tokenizer); the concatenation over a row is its final text.
   */
  text: string;
}

/**
 * How to generate. Explicit options win; sampling is off unless `temperature` > 0, whatever
 * generation_config.json says (deterministic by default). The other fields fall back as listed.
 */
export interface GenerateOptions {
  /**
   * New tokens per row. Default: generation config `max_new_tokens`, else its `max_length`
   * minus the (padded) prompt length, else 20 (transformers' `max_length` default, counted as
   * new tokens); a default never runs past `maxPositions`, an explicit value that would is an
   * error.
   */
  maxNewTokens?: number;
  /** Softmax temperature; 0 (the default) is greedy argmax, ties to the lowest id. */
  temperature?: number;
  /**
   * Keep the k most likely tokens when sampling (a value >= the vocabulary turns it off).
   * Default: generation config `top_k`, else 50 (transformers' default).
   */
  topK?: number;
  /** Nucleus sampling mass in (0, 1]. Default: generation config `top_p`, else 1 (off). */
  topP?: number;
  /**
   * transformers' repetition penalty over prompt and generated ids, greedy too. Default:
   * generation config `repetition_penalty`, else 1 (off).
   */
  repetitionPenalty?: number;
  /** Stop a row once its generated text contains one of these (the tokens are kept, as in HF). */
  stopStrings?: string[];
  /** Stop a row after one of these ids (kept). Default: the eos ids; an empty list disables. */
  stopTokenIds?: number[];
  /** Seed of a fresh generator for sampling; without it, core's default one (`manualSeed`). */
  seed?: number;
  /**
   * Fed to finished rows and to the left of shorter prompts. Default: the pad id of the
   * generation config, tokenizer or model config, else the first stop token, else 0.
   */
  padTokenId?: number;
  /** Needed for `stopStrings` and for the text of `onToken` events. */
  tokenizer?: Tokenizer;
  /** The model's generation_config.json, the fallback for the settings above. */
  generationConfig?: GenerationConfig;
  onToken?: (event: TokenEvent) => void;
}

export interface GenerateResult {
  /** The generated ids of each row (prompt excluded), up to and including a stop token. */
  tokens: number[][];
  finishReasons: FinishReason[];
}

/** Every setting of one `generate` call, validated and with defaults filled in. */
export interface GenerationSettings {
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  stopStrings: string[];
  stopTokenIds: number[];
  padTokenId: number;
}

/** Transformers' GenerationConfig defaults where neither the options nor the config say. */
const HF_DEFAULT_MAX_LENGTH = 20;
const HF_DEFAULT_TOP_K = 50;

/**
 * Checks the options and fills in defaults for prompts whose longest has `promptLength` ids.
 * Errors are INVALID_ARGUMENT and name the option and the value.
 */
export function resolveGenerationSettings(
  config: ArchitectureConfig,
  options: GenerateOptions,
  promptLength: number,
): GenerationSettings {
  const generation = options.generationConfig;
  const temperature = options.temperature ?? 0;
  // top_k 0 in a generation config means "off" in transformers.
  const configTopK = generation?.topK === 0 ? config.vocabSize : generation?.topK;
  const topK = options.topK ?? configTopK ?? HF_DEFAULT_TOP_K;
  const topP = options.topP ?? generation?.topP ?? 1;
  const repetitionPenalty = options.repetitionPenalty ?? generation?.repetitionPenalty ?? 1;
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw invalid(`temperature must be a finite number >= 0 (0 = greedy), got ${temperature}`);
  }
  if (!Number.isInteger(topK) || topK < 1) {
    throw invalid(`topK must be a positive integer, got ${topK}`);
  }
  if (!(topP > 0 && topP <= 1)) {
    throw invalid(`topP must be in (0, 1], got ${topP}`);
  }
  if (!Number.isFinite(repetitionPenalty) || repetitionPenalty <= 0) {
    throw invalid(`repetitionPenalty must be a finite number > 0, got ${repetitionPenalty}`);
  }
  const stopStrings = options.stopStrings ?? [];
  if (stopStrings.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw invalid('stopStrings must be non-empty strings');
  }
  if (stopStrings.length > 0 && !options.tokenizer) {
    throw invalid('stopStrings need a tokenizer (options.tokenizer) to decode the generated text');
  }
  const stopTokenIds = options.stopTokenIds ?? defaultStopTokenIds(config, options);
  for (const id of stopTokenIds) checkTokenId(config, 'stopTokenIds', id);
  const padTokenId = resolvePadTokenId(config, options, stopTokenIds);
  checkTokenId(config, 'padTokenId', padTokenId);
  const maxNewTokens = resolveMaxNewTokens(config, options, promptLength);
  return {
    maxNewTokens,
    temperature,
    topK,
    topP,
    repetitionPenalty,
    stopStrings,
    stopTokenIds,
    padTokenId,
  };
}

/** The first non-empty eos list of: generation config, model config, tokenizer. */
function defaultStopTokenIds(config: ArchitectureConfig, options: GenerateOptions): number[] {
  for (const ids of [
    options.generationConfig?.eosTokenIds,
    config.eosTokenIds,
    options.tokenizer?.eosTokenIds,
  ]) {
    if (ids && ids.length > 0) return [...ids];
  }
  return [];
}

/**
 * The pad id: options, generation config, tokenizer, model config, the first stop token (HF pads
 * with eos when there is no pad token), else 0. Its value never reaches the output: padded
 * positions are masked out of attention and finished rows' tokens are dropped.
 */
function resolvePadTokenId(
  config: ArchitectureConfig,
  options: GenerateOptions,
  stopTokenIds: readonly number[],
): number {
  return (
    options.padTokenId ??
    options.generationConfig?.padTokenId ??
    options.tokenizer?.padTokenId ??
    config.padTokenId ??
    stopTokenIds[0] ??
    0
  );
}

function resolveMaxNewTokens(
  config: ArchitectureConfig,
  options: GenerateOptions,
  promptLength: number,
): number {
  const limit = Number.isFinite(config.maxPositions) && config.maxPositions > 0;
  if (limit && promptLength > config.maxPositions) {
    throw invalid(
      `the prompt has ${promptLength} tokens, more than the model's ${config.maxPositions} positions (config maxPositions)`,
    );
  }
  if (options.maxNewTokens !== undefined) {
    const value = options.maxNewTokens;
    if (!Number.isInteger(value) || value < 0) {
      throw invalid(`maxNewTokens must be a non-negative integer, got ${value}`);
    }
    if (limit && promptLength + value > config.maxPositions) {
      throw invalid(
        `prompt (${promptLength} tokens) + maxNewTokens (${value}) = ${promptLength + value} exceeds the model's ${config.maxPositions} positions (config maxPositions)`,
      );
    }
    return value;
  }
  const generation = options.generationConfig;
  let value = HF_DEFAULT_MAX_LENGTH;
  if (generation?.maxNewTokens !== undefined) value = generation.maxNewTokens;
  else if (generation?.maxLength !== undefined) value = generation.maxLength - promptLength;
  value = Math.max(0, Math.floor(value));
  return limit ? Math.min(value, config.maxPositions - promptLength) : value;
}

function checkTokenId(config: ArchitectureConfig, name: string, id: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
    throw invalid(`${name}: ${id} is not a token id of the ${config.vocabSize}-token vocabulary`);
  }
}

export function invalid(message: string): SlimlmError {
  return new SlimlmError('INVALID_ARGUMENT', `generate: ${message}`);
}
