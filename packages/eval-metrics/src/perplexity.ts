import { cast, crossEntropy, narrow, noGrad, SlimlmError, scope, tensor } from '@slimlm/core';
import type { CausalLM } from '@slimlm/models';

/**
 * How a token stream is cut into windows and which predictions are scored. Perplexities from
 * different protocols are not comparable, so every result names its protocol.
 *
 * - `'gptq-non-overlapping'`: the GPTQ paper's evaluation code (also AutoGPTQ, GPTQModel and
 *   fixtures/gptq/gptq-reference.json). W = floor(len / seqlen) windows
 *   `ids[i·seqlen : (i+1)·seqlen]` (the tail is dropped), each run from position 0 with no context
 *   carried over; the seqlen − 1 next-token predictions of each are scored;
 *   ppl = exp(Σ NLL / (W · (seqlen − 1))).
 * - `'optimum'`: optimum's `evaluate_perplexity` (optimum/gptq/eval.py): the same windows with
 *   seqlen fixed at 512. It sums each window's mean loss times 512 and divides by W · 512, which
 *   is the same mean over the W · 511 predictions, so it equals `gptq-non-overlapping` at 512; it
 *   has its own name because its figures are quoted as optimum's.
 * - `'llama.cpp'`: llama.cpp's `perplexity` tool (examples/perplexity, default mode): chunks of
 *   n_ctx = seqlen tokens, W = floor(len / n_ctx), at least 2 · n_ctx tokens required; the first
 *   token of every chunk is replaced by BOS when the vocabulary adds one (`bosTokenId`); only the
 *   second half is scored — predictions from positions floor(n_ctx/2) … n_ctx − 2, that is
 *   n_ctx − 1 − floor(n_ctx/2) per chunk (255 of 512) — so every scored token has at least
 *   n_ctx/2 tokens of context; ppl = exp(Σ NLL / (W · (n_ctx − 1 − floor(n_ctx/2)))).
 */
export type PerplexityProtocol = 'gptq-non-overlapping' | 'optimum' | 'llama.cpp';

interface ProtocolTraits {
  /** Window length when the caller gives none. */
  defaultSeqlen: number;
  /** The only window length the protocol allows, when it fixes one. */
  fixedSeqlen?: number;
  /** Windows the protocol needs at least (llama.cpp refuses fewer than two chunks). */
  minWindows: number;
  /** Position of the first scored prediction (logits[t] → ids[t + 1]) in a window. */
  firstScored: (seqlen: number) => number;
  /** Whether the first token of each window is replaced by BOS. */
  replacesFirstWithBos: boolean;
}

/** The protocols as data: windowing and scoring differ only in these traits. */
const PROTOCOLS: Readonly<Record<PerplexityProtocol, ProtocolTraits>> = {
  'gptq-non-overlapping': {
    defaultSeqlen: 2048,
    minWindows: 1,
    firstScored: () => 0,
    replacesFirstWithBos: false,
  },
  optimum: {
    defaultSeqlen: 512,
    fixedSeqlen: 512,
    minWindows: 1,
    firstScored: () => 0,
    replacesFirstWithBos: false,
  },
  'llama.cpp': {
    defaultSeqlen: 512,
    minWindows: 2,
    firstScored: (seqlen) => Math.floor(seqlen / 2),
    replacesFirstWithBos: true,
  },
};

/** Every protocol `perplexity` implements. */
export const PERPLEXITY_PROTOCOLS = Object.keys(PROTOCOLS) as readonly PerplexityProtocol[];

/** The window length each protocol uses when none is given (as its authors quote it). */
export function defaultSeqlen(protocol: PerplexityProtocol): number {
  return PROTOCOLS[protocol].defaultSeqlen;
}

export interface PerplexityOptions {
  /** Default `'gptq-non-overlapping'`. */
  protocol?: PerplexityProtocol;
  /**
   * Tokens per window (≥ 2, at most the model's positions). Default: 2048 for
   * gptq-non-overlapping (the paper's), 512 for optimum (the only value it allows) and llama.cpp.
   */
  seqlen?: number;
  /** Score at most this many windows (the first ones); default all. */
  maxWindows?: number;
  /** Windows per forward pass (default 1); peak memory grows with batch · seqlen · vocab. */
  batch?: number;
  /**
   * llama.cpp only: the BOS id that replaces the first token of every chunk, as llama.cpp does when
   * the vocabulary adds BOS. Leave it out for a tokenizer that adds none.
   */
  bosTokenId?: number;
  /** Called after each batch with windows scored so far and in all (and once with 0 first). */
  onProgress?: (done: number, total: number) => void;
}

export interface PerplexityResult {
  /** exp(meanNll). */
  ppl: number;
  /** Mean natural-log negative log-likelihood per scored prediction. */
  meanNll: number;
  /** Windows (chunks) scored. */
  windows: number;
  /** Scored predictions: windows · scoredPerWindow. */
  tokens: number;
  /** Predictions scored in each window: seqlen − 1, or n_ctx − 1 − floor(n_ctx/2) for llama.cpp. */
  scoredPerWindow: number;
  seqlen: number;
  protocol: PerplexityProtocol;
}

const invalid = (message: string) => new SlimlmError('INVALID_ARGUMENT', `perplexity: ${message}`);

/**
 * Perplexity of `model` on the token stream `ids` (BOS included as the tokenizer gives it), by
 * `options.protocol`. Windows go through `model.forward` `batch` at a time with gradients off,
 * logits are scored by cross entropy in f32 (cast from f16/bf16 compute), and the sums are
 * accumulated in f64; each batch's tensors are freed before the next one, so memory stays that
 * of one batch whatever the text length. Batch size changes nothing but speed and memory.
 */
export function perplexity(
  model: CausalLM,
  ids: readonly number[] | Int32Array,
  options: PerplexityOptions = {},
): PerplexityResult {
  const { protocol = 'gptq-non-overlapping', maxWindows, batch = 1, onProgress } = options;
  const traits = PROTOCOLS[protocol];
  if (traits === undefined) {
    throw invalid(`unknown protocol '${protocol}' (known: ${PERPLEXITY_PROTOCOLS.join(', ')})`);
  }
  const seqlen = options.seqlen ?? traits.defaultSeqlen;
  checkOptions(model, protocol, traits, seqlen, options);
  const available = Math.floor(ids.length / seqlen);
  if (available < traits.minWindows) {
    throw invalid(
      `${ids.length} tokens make ${available === 0 ? 'no window' : `${available} window`} of seqlen ${seqlen}; the ${protocol} protocol needs at least ${traits.minWindows * seqlen} tokens: give more text or a smaller seqlen`,
    );
  }
  const windows = Math.min(available, maxWindows ?? available);
  const stream = ids instanceof Int32Array ? ids : Int32Array.from(ids);
  checkIds(stream, windows * seqlen, model.config.vocabSize);

  const first = traits.firstScored(seqlen);
  const scoredPerWindow = seqlen - 1 - first;
  const bos = traits.replacesFirstWithBos ? options.bosTokenId : undefined;
  let nllSum = 0;
  onProgress?.(0, windows);
  for (let start = 0; start < windows; start += batch) {
    const rows = Math.min(batch, windows - start);
    const window = stream.slice(start * seqlen, (start + rows) * seqlen);
    const input = Int32Array.from(window);
    if (bos !== undefined) for (let r = 0; r < rows; r++) input[r * seqlen] = bos;
    const nll = noGrad(() =>
      scope(() => {
        const logits = model.forward(tensor(input, { dtype: 'i32', shape: [rows, seqlen] }));
        const logits32 = logits.dtype === 'f32' ? logits : cast(logits, 'f32');
        const predicted = narrow(logits32, 1, first, scoredPerWindow);
        // Targets come from the stream itself: a BOS put in for the model is never a target.
        const targets = narrow(
          tensor(window, { dtype: 'i32', shape: [rows, seqlen] }),
          1,
          first + 1,
          scoredPerWindow,
        );
        return crossEntropy(predicted, targets, { reduction: 'none' }).dataSync();
      }),
    );
    // f64 accumulation of the f32 per-token losses.
    for (let i = 0; i < nll.length; i++) nllSum += nll[i]!;
    onProgress?.(start + rows, windows);
  }
  const tokens = windows * scoredPerWindow;
  const meanNll = nllSum / tokens;
  return { ppl: Math.exp(meanNll), meanNll, windows, tokens, scoredPerWindow, seqlen, protocol };
}

function checkOptions(
  model: CausalLM,
  protocol: PerplexityProtocol,
  traits: ProtocolTraits,
  seqlen: number,
  options: PerplexityOptions,
): void {
  const { maxWindows, batch = 1, bosTokenId } = options;
  if (!Number.isInteger(seqlen) || seqlen < 2) {
    throw invalid(`seqlen must be an integer >= 2, got ${seqlen}`);
  }
  if (traits.fixedSeqlen !== undefined && seqlen !== traits.fixedSeqlen) {
    throw invalid(
      `the ${protocol} protocol scores windows of ${traits.fixedSeqlen} tokens only, got seqlen ${seqlen} (use gptq-non-overlapping for other lengths)`,
    );
  }
  const { maxPositions, vocabSize } = model.config;
  if (Number.isFinite(maxPositions) && maxPositions > 0 && seqlen > maxPositions) {
    throw invalid(`seqlen ${seqlen} is more than the model's ${maxPositions} positions`);
  }
  if (maxWindows !== undefined && (!Number.isInteger(maxWindows) || maxWindows < 1)) {
    throw invalid(`maxWindows must be an integer >= 1, got ${maxWindows}`);
  }
  if (!Number.isInteger(batch) || batch < 1) {
    throw invalid(`batch must be an integer >= 1, got ${batch}`);
  }
  if (bosTokenId !== undefined) {
    if (!traits.replacesFirstWithBos) {
      throw invalid(`bosTokenId applies to the llama.cpp protocol only, not ${protocol}`);
    }
    if (!isTokenId(bosTokenId, vocabSize)) {
      throw invalid(`bosTokenId ${bosTokenId} is outside the vocabulary 0..${vocabSize - 1}`);
    }
  }
}

function isTokenId(id: number, vocabSize: number): boolean {
  return Number.isInteger(id) && id >= 0 && (!(vocabSize > 0) || id < vocabSize);
}

function checkIds(stream: Int32Array, count: number, vocabSize: number): void {
  for (let i = 0; i < count; i++) {
    if (!isTokenId(stream[i]!, vocabSize)) {
      throw invalid(`token ${i} is ${stream[i]}, outside the vocabulary 0..${vocabSize - 1}`);
    }
  }
}
