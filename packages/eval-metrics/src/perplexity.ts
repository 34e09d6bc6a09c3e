import { cast, crossEntropy, narrow, noGrad, SlimlmError, scope, tensor } from '@slimlm/core';
import type { CausalLM } from '@slimlm/models';

/**
 * How a token stream is cut into windows and scored.
 *
 * - `'gptq-non-overlapping'`: the protocol of the GPTQ paper's evaluation code (and of AutoGPTQ,
 *   GPTQModel and fixtures/gptq/gptq-reference.json): W = floor(len / seqlen) windows
 *   `ids[i*seqlen : (i+1)*seqlen]` (the tail is dropped), each run independently from position 0
 *   with no context carried over; per window the seqlen − 1 next-token predictions are scored;
 *   ppl = exp(Σ NLL / (W · (seqlen − 1))).
 */
export type PerplexityProtocol = 'gptq-non-overlapping';

/** Every protocol `perplexity` implements. */
export const PERPLEXITY_PROTOCOLS: readonly PerplexityProtocol[] = ['gptq-non-overlapping'];

export interface PerplexityOptions {
  /** Tokens per window (≥ 2). */
  seqlen: number;
  /** Score at most this many windows (the first ones); default all. */
  maxWindows?: number;
  /** Windows per forward pass (default 1); peak memory grows with batch · seqlen · vocab. */
  batch?: number;
  /** Default `'gptq-non-overlapping'`, the only one so far. */
  protocol?: PerplexityProtocol;
  /** Called after each batch with windows scored so far and in all. */
  onProgress?: (done: number, total: number) => void;
}

export interface PerplexityResult {
  /** exp(meanNll). */
  ppl: number;
  /** Mean natural-log negative log-likelihood per predicted token. */
  meanNll: number;
  /** Windows scored. */
  windows: number;
  /** Predicted (scored) tokens: windows · (seqlen − 1). */
  tokens: number;
  seqlen: number;
  protocol: PerplexityProtocol;
}

/**
 * Perplexity of `model` on the token stream `ids` (BOS included as the tokenizer gives it), by
 * `options.protocol`. Windows go through `model.forward` `batch` at a time, logits are scored by
 * cross entropy in f32 (cast from f16/bf16 compute), and the sums are accumulated in f64; each
 * batch's tensors are freed before the next one, so memory stays that of one batch.
 */
export function perplexity(
  model: CausalLM,
  ids: readonly number[] | Int32Array,
  options: PerplexityOptions,
): PerplexityResult {
  const op = 'perplexity';
  const invalidArgument = (where: string, message: string) =>
    new SlimlmError('INVALID_ARGUMENT', `${where}: ${message}`);
  const { seqlen, maxWindows, batch = 1, protocol = 'gptq-non-overlapping', onProgress } = options;
  if (!PERPLEXITY_PROTOCOLS.includes(protocol)) {
    throw invalidArgument(
      op,
      `unknown protocol '${protocol}' (known: ${PERPLEXITY_PROTOCOLS.join(', ')})`,
    );
  }
  if (!Number.isInteger(seqlen) || seqlen < 2) {
    throw invalidArgument(op, `seqlen must be an integer >= 2, got ${seqlen}`);
  }
  if (maxWindows !== undefined && (!Number.isInteger(maxWindows) || maxWindows < 1)) {
    throw invalidArgument(op, `maxWindows must be an integer >= 1, got ${maxWindows}`);
  }
  if (!Number.isInteger(batch) || batch < 1) {
    throw invalidArgument(op, `batch must be an integer >= 1, got ${batch}`);
  }
  const available = Math.floor(ids.length / seqlen);
  if (available === 0) {
    throw invalidArgument(
      op,
      `${ids.length} tokens make no window of seqlen ${seqlen}: give more text or a smaller seqlen`,
    );
  }
  const windows = Math.min(available, maxWindows ?? available);
  const stream = ids instanceof Int32Array ? ids : Int32Array.from(ids);
  const vocab = model.config.vocabSize;
  for (let i = 0; i < windows * seqlen; i++) {
    const id = stream[i]!;
    if (!(Number.isInteger(id) && id >= 0 && (!(vocab > 0) || id < vocab))) {
      throw invalidArgument(op, `token ${i} is ${id}, outside the vocabulary 0..${vocab - 1}`);
    }
  }

  const predictions = seqlen - 1;
  let nllSum = 0;
  onProgress?.(0, windows);
  for (let start = 0; start < windows; start += batch) {
    const rows = Math.min(batch, windows - start);
    const nll = noGrad(() =>
      scope(() => {
        const input = tensor(stream.slice(start * seqlen, (start + rows) * seqlen), {
          dtype: 'i32',
          shape: [rows, seqlen],
        });
        const logits = model.forward(input);
        const logits32 = logits.dtype === 'f32' ? logits : cast(logits, 'f32');
        const predicted = narrow(logits32, 1, 0, predictions);
        const targets = narrow(input, 1, 1, predictions);
        return crossEntropy(predicted, targets, { reduction: 'none' }).dataSync();
      }),
    );
    // f64 accumulation of the f32 per-token losses.
    for (let i = 0; i < nll.length; i++) nllSum += nll[i]!;
    onProgress?.(start + rows, windows);
  }
  const tokens = windows * predictions;
  const meanNll = nllSum / tokens;
  return { ppl: Math.exp(meanNll), meanNll, windows, tokens, seqlen, protocol };
}
