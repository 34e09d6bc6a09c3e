import { SlimlmError } from '@slimlm/core';
import type { Tokenizer } from '@slimlm/hub';
import { type CausalLM, generate } from '@slimlm/models';
import { accuracy } from './accuracy';
import { type BleuResult, bleu } from './bleu';
import type { Reference } from './references';
import { rougeL } from './rouge';
import { exactMatch, tokenF1 } from './squad';

/** The task metrics, named as the functions that compute them. */
export type TaskMetric = 'accuracy' | 'exactMatch' | 'tokenF1' | 'bleu' | 'rougeL';

export const TASK_METRICS: readonly TaskMetric[] = [
  'accuracy',
  'exactMatch',
  'tokenF1',
  'bleu',
  'rougeL',
];

/** One held-out example: the prompt the model continues and the expected response(s). */
export interface TaskExample {
  prompt: string;
  response: Reference;
}

export interface EvaluateTaskOptions {
  /** Metrics to compute (default all of TASK_METRICS). */
  metrics?: readonly TaskMetric[];
  /** New tokens per example at most (default 64); generation also stops at an end-of-sequence id. */
  maxNewTokens?: number;
  /** The prediction is cut before the first of these strings (generation stops there too). */
  stopStrings?: readonly string[];
  /** Examples generated together, left-padded (default 1). */
  batch?: number;
  /**
   * Whether prompts are encoded with the tokenizer's special tokens (BOS for Llama; default true).
   * False for prompts that hold them already, as a chat template's do.
   */
  addSpecialTokens?: boolean;
  /** Called after each batch with examples done and in all (and once with 0 first). */
  onProgress?: (done: number, total: number) => void;
}

export interface TaskEvaluation {
  examples: number;
  /** Each requested metric: BLEU on sacrebleu's 0–100 scale, the others in [0, 1]. */
  scores: Partial<Record<TaskMetric, number>>;
  /** BLEU's details (precisions, brevity penalty, lengths) when BLEU was requested. */
  bleu?: BleuResult;
  /** The model's answer to each example, in order. */
  predictions: string[];
  /** New tokens generated over all examples. */
  generatedTokens: number;
}

const DEFAULT_MAX_NEW_TOKENS = 64;

/**
 * Generates an answer to every example greedily (temperature 0, no repetition penalty) with
 * @slimlm/models' `generate` — the prompt encoded with the tokenizer's special tokens (BOS) unless
 * `addSpecialTokens` is false, up to `maxNewTokens` or an end-of-sequence id — decodes it without
 * special tokens, cuts it at the first stop string, trims it, and scores the answers against the
 * responses with each metric.
 */
export function evaluateTask(
  model: CausalLM,
  tokenizer: Tokenizer,
  examples: readonly TaskExample[],
  options: EvaluateTaskOptions = {},
): TaskEvaluation {
  const {
    metrics = TASK_METRICS,
    maxNewTokens = DEFAULT_MAX_NEW_TOKENS,
    stopStrings = [],
    batch = 1,
    addSpecialTokens = true,
    onProgress,
  } = options;
  checkOptions(examples, metrics, maxNewTokens, batch);
  const predictions: string[] = [];
  let generatedTokens = 0;
  onProgress?.(0, examples.length);
  for (let start = 0; start < examples.length; start += batch) {
    const group = examples.slice(start, start + batch);
    const prompts = group.map((example) => tokenizer.encode(example.prompt, { addSpecialTokens }));
    const result = generate(model, prompts, {
      maxNewTokens,
      temperature: 0,
      repetitionPenalty: 1,
      tokenizer,
      ...(stopStrings.length > 0 ? { stopStrings: [...stopStrings] } : {}),
    });
    for (const tokens of result.tokens) {
      generatedTokens += tokens.length;
      predictions.push(
        answerText(tokenizer.decode(tokens, { skipSpecialTokens: true }), stopStrings),
      );
    }
    onProgress?.(start + group.length, examples.length);
  }
  const references = examples.map((example) => example.response);
  const scores: Partial<Record<TaskMetric, number>> = {};
  let bleuResult: BleuResult | undefined;
  for (const metric of metrics) {
    if (metric === 'bleu') {
      bleuResult = bleu(predictions, references);
      scores.bleu = bleuResult.score;
    } else {
      scores[metric] = SCORERS[metric](predictions, references);
    }
  }
  return {
    examples: examples.length,
    scores,
    ...(bleuResult ? { bleu: bleuResult } : {}),
    predictions,
    generatedTokens,
  };
}

const SCORERS: Record<
  Exclude<TaskMetric, 'bleu'>,
  (predictions: readonly string[], references: readonly Reference[]) => number
> = { accuracy, exactMatch, tokenF1, rougeL };

/** The generated text up to the first stop string, trimmed. */
function answerText(text: string, stopStrings: readonly string[]): string {
  let end = text.length;
  for (const stop of stopStrings) {
    const at = text.indexOf(stop);
    if (at >= 0 && at < end) end = at;
  }
  return text.slice(0, end).trim();
}

function checkOptions(
  examples: readonly TaskExample[],
  metrics: readonly TaskMetric[],
  maxNewTokens: number,
  batch: number,
): void {
  const invalid = (message: string) =>
    new SlimlmError('INVALID_ARGUMENT', `evaluateTask: ${message}`);
  if (!Array.isArray(examples) || examples.length === 0) throw invalid('no examples to evaluate');
  for (const [i, example] of examples.entries()) {
    if (typeof example?.prompt !== 'string' || example.prompt === '') {
      throw invalid(`example ${i} has no prompt (a non-empty string)`);
    }
    const response = example.response;
    const valid =
      typeof response === 'string' ||
      (Array.isArray(response) &&
        response.length > 0 &&
        response.every((r) => typeof r === 'string'));
    if (!valid)
      throw invalid(`example ${i}: response must be a string or a non-empty array of strings`);
  }
  if (metrics.length === 0) throw invalid('no metrics requested');
  for (const metric of metrics) {
    if (!TASK_METRICS.includes(metric)) {
      throw invalid(`unknown metric '${metric}' (known: ${TASK_METRICS.join(', ')})`);
    }
  }
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw invalid(`maxNewTokens must be an integer >= 1, got ${maxNewTokens}`);
  }
  if (!Number.isInteger(batch) || batch < 1) {
    throw invalid(`batch must be an integer >= 1, got ${batch}`);
  }
}
