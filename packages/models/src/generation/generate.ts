import {
  defaultGenerator,
  Generator,
  type KVCache,
  narrow,
  noGrad,
  scope,
  tensor,
} from '@slimlm/core';
import type { LoadedModel } from '../load';
import type { CausalLM } from '../model';
import { logitsProcessors } from './logits-processors';
import {
  type FinishReason,
  type GenerateOptions,
  type GenerateResult,
  invalid,
  resolveGenerationSettings,
} from './options';
import { argmax, sample } from './samplers';
import { stoppingCriteria } from './stopping-criteria';
import { TextStreamer } from './streamer';

/**
 * Continues each prompt (token ids) with up to `maxNewTokens` ids. The batch is left-padded to
 * its longest prompt and run through the model once (prefill, filling a KV cache), then one token
 * per step; a finished row keeps being fed the pad id, its further output dropped. Next-token
 * scores go through the logits processors on the host in f32, then argmax (temperature 0, the
 * default) or a seeded draw.
 */
export function generate(
  model: CausalLM,
  prompts: number[][],
  options: GenerateOptions = {},
): GenerateResult {
  const { vocabSize } = model.config;
  checkPrompts(prompts, vocabSize);
  const batch = prompts.length;
  const promptLength = Math.max(...prompts.map((p) => p.length));
  const settings = resolveGenerationSettings(model.config, options, promptLength);
  const tokens: number[][] = prompts.map(() => []);
  const finishReasons: (FinishReason | undefined)[] = prompts.map(() => undefined);
  if (settings.maxNewTokens === 0) return { tokens, finishReasons: prompts.map(() => 'length') };

  const processors = logitsProcessors(settings);
  const isDone = stoppingCriteria(settings);
  const generator = options.seed === undefined ? defaultGenerator : new Generator(options.seed);
  const { tokenizer, onToken } = options;
  const streamers =
    tokenizer && (onToken || settings.stopStrings.length > 0)
      ? prompts.map((p) => new TextStreamer(tokenizer, p))
      : undefined;
  const history = prompts.map((p) => [...p]);

  const { input, mask: promptMask } = leftPad(prompts, promptLength, settings.padTokenId);
  let mask = promptMask;

  const cache = model.createCache(batch, promptLength + settings.maxNewTokens);
  try {
    let scores = nextTokenScores(model, input, batch, cache, mask);
    for (;;) {
      const next = new Int32Array(batch).fill(settings.padTokenId);
      for (let b = 0; b < batch; b++) {
        if (finishReasons[b] !== undefined) continue;
        const row = scores.subarray(b * vocabSize, (b + 1) * vocabSize);
        for (const process of processors) process(row, history[b]!);
        const id = settings.temperature > 0 ? sample(row, generator) : argmax(row);
        next[b] = id;
        tokens[b]!.push(id);
        history[b]!.push(id);
        const streamer = streamers?.[b];
        let text = streamer?.put(id) ?? '';
        const reason = isDone(id, tokens[b]!.length, streamer?.text ?? '');
        if (reason) {
          finishReasons[b] = reason;
          text += streamer?.end() ?? '';
        }
        onToken?.({ batchIndex: b, id, text });
      }
      if (finishReasons.every((r) => r !== undefined)) break;
      if (mask) mask = appendColumn(mask, batch);
      scores = nextTokenScores(model, next, batch, cache, mask);
    }
  } finally {
    cache.dispose();
  }
  return { tokens, finishReasons: finishReasons as FinishReason[] };
}

/** The result of `generateText`: the prompt's ids, the new ids and their text. */
export interface GenerateTextResult {
  promptTokens: number[];
  tokens: number[];
  /** The generated text alone (special tokens skipped), as streamed through `onToken`. */
  text: string;
  finishReason: FinishReason;
}

/**
 * Encodes `prompt` with the model's tokenizer (special tokens such as BOS added as the tokenizer
 * says) and continues it; the model's generation config and tokenizer are the defaults.
 */
export function generateText(
  loaded: Pick<LoadedModel, 'model' | 'tokenizer' | 'generationConfig'>,
  prompt: string,
  options: GenerateOptions = {},
): GenerateTextResult {
  const tokenizer = options.tokenizer ?? loaded.tokenizer;
  const promptTokens = tokenizer.encode(prompt);
  if (promptTokens.length === 0) {
    throw invalid(`the prompt ${JSON.stringify(prompt)} encodes to no tokens`);
  }
  let text = '';
  const generationConfig = options.generationConfig ?? loaded.generationConfig;
  const result = generate(loaded.model, [promptTokens], {
    ...options,
    tokenizer,
    ...(generationConfig ? { generationConfig } : {}),
    onToken: (event) => {
      text += event.text;
      options.onToken?.(event);
    },
  });
  return {
    promptTokens,
    tokens: result.tokens[0]!,
    text,
    finishReason: result.finishReasons[0]!,
  };
}

function checkPrompts(prompts: number[][], vocabSize: number): void {
  if (!Array.isArray(prompts) || prompts.length === 0) {
    throw invalid('prompts must be a non-empty array of token id arrays');
  }
  for (const [b, prompt] of prompts.entries()) {
    if (!Array.isArray(prompt) || prompt.length === 0) {
      throw invalid(`prompt ${b} is empty: give at least one token (BOS, for example)`);
    }
    for (const id of prompt) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw invalid(
          `prompt ${b} holds ${id}, not a token id of the ${vocabSize}-token vocabulary`,
        );
      }
    }
  }
}

/**
 * Prompts → ids [batch, length] right-aligned on `pad`, and their attention mask (1 for a real
 * token), or no mask when no row is padded.
 */
function leftPad(
  prompts: number[][],
  length: number,
  pad: number,
): { input: Int32Array; mask?: Int32Array } {
  const input = new Int32Array(prompts.length * length).fill(pad);
  const mask = new Int32Array(prompts.length * length);
  for (const [b, prompt] of prompts.entries()) {
    const start = (b + 1) * length - prompt.length;
    input.set(prompt, start);
    mask.fill(1, start, (b + 1) * length);
  }
  return prompts.every((p) => p.length === length) ? { input } : { input, mask };
}

/** Runs ids [batch, T] and returns the scores of their last position, [batch, vocab] in f32. */
function nextTokenScores(
  model: CausalLM,
  ids: Int32Array,
  batch: number,
  cache: KVCache,
  mask: Int32Array | undefined,
): Float32Array {
  const length = ids.length / batch;
  return noGrad(() =>
    scope(() => {
      const inputIds = tensor(ids, { shape: [batch, length], dtype: 'i32' });
      const attentionMask = mask
        ? tensor(mask, { shape: [batch, mask.length / batch], dtype: 'i32' })
        : undefined;
      const logits = model.forward(inputIds, {
        cache,
        ...(attentionMask ? { attentionMask } : {}),
      });
      return Float32Array.from(narrow(logits, 1, length - 1, 1).dataSync());
    }),
  );
}

/** The mask [batch, n] → [batch, n + 1] with the new position attended in every row (as HF). */
function appendColumn(mask: Int32Array, batch: number): Int32Array {
  const width = mask.length / batch;
  const grown = new Int32Array(batch * (width + 1)).fill(1);
  for (let b = 0; b < batch; b++) {
    grown.set(mask.subarray(b * width, (b + 1) * width), b * (width + 1));
  }
  return grown;
}
