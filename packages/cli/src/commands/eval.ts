import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import { type PerplexityProtocol, perplexity } from '@slimlm/eval-metrics';
// Registers the 'gptq' quantization method, so that GPTQ checkpoints load like any other.
import '@slimlm/gptq';
import { defineCommand } from '../command';
import { UsageError } from '../errors';
import type { Output } from '../io';
import { BACKEND_OPTION, MODEL_OPTIONS } from '../options';
import { type BACKENDS, selectBackend } from '../utils/backend';
import { formatInteger, formatSeconds } from '../utils/format';
import { loadWithProgress } from '../utils/load-model';
import { progressBar } from '../utils/progress';
import { resolveModel } from '../utils/resolve-model';

export const DEFAULT_PPL_SEQLEN = 2048;
const METRICS = ['ppl'] as const;

/** `slimlm eval ppl --json`: one object. */
export interface EvalPplJson {
  model: string;
  /** The text file, as given. */
  text: string;
  ppl: number;
  /** Mean negative log-likelihood per predicted token, in nats. */
  mean_nll: number;
  windows: number;
  /** Predicted (scored) tokens: windows × (seqlen − 1). */
  tokens: number;
  /** Tokens the whole file encodes to (BOS included as the tokenizer adds it). */
  text_tokens: number;
  seqlen: number;
  protocol: PerplexityProtocol;
}

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'Evaluate a model: perplexity on a text file (eval ppl)',
  description:
    "eval ppl tokenizes the whole file once with the model's tokenizer (BOS as it adds it), cuts\n" +
    'the ids into non-overlapping windows of --seqlen tokens (the tail is dropped), scores each\n' +
    "window's next-token predictions independently, and prints exp(mean NLL): the GPTQ paper's\n" +
    'protocol (gptq-non-overlapping). Full-precision and GPTQ checkpoints load alike.',
  positionals: [
    { name: 'metric', description: 'what to measure: ppl (perplexity)' },
    { name: 'model', description: 'local folder, built-in name or Hub id' },
  ],
  options: {
    text: {
      type: 'string',
      required: true,
      placeholder: 'file',
      description: 'UTF-8 text file to score (for example wikitext-2-raw/wiki.test.raw)',
    },
    seqlen: {
      type: 'integer',
      min: 2,
      placeholder: 'n',
      description: `Tokens per window (default ${DEFAULT_PPL_SEQLEN}, capped by the model's max positions)`,
    },
    'max-windows': {
      type: 'integer',
      min: 1,
      placeholder: 'n',
      description: 'Score only the first n windows (default all)',
    },
    batch: {
      type: 'integer',
      min: 1,
      placeholder: 'n',
      description: 'Windows per forward pass (default 1; memory grows with it)',
    },
    dtype: {
      type: 'string',
      choices: ['f32', 'f16', 'bf16'],
      description: 'Compute dtype (default f32; losses are always computed in f32)',
    },
    ...BACKEND_OPTION,
    ...MODEL_OPTIONS,
    json: {
      type: 'boolean',
      description:
        'Print {"model","text","ppl","mean_nll","windows","tokens","text_tokens","seqlen","protocol"}',
    },
  },
  examples: [
    'slimlm eval ppl wikillama --text wikitext-2-raw/wiki.test.raw --seqlen 256',
    'slimlm eval ppl ./llama-gptq-4bit --text wiki.test.raw --max-windows 40 --json',
  ],
  async run({ positionals, options }, { out }) {
    const [metric, argument] = positionals as [string, string];
    if (!(METRICS as readonly string[]).includes(metric)) {
      throw new UsageError(`unknown metric '${metric}' (metrics: ${METRICS.join(', ')})`);
    }
    const textFile = readTextFile(options.text, '--text', out);
    const backend = await selectBackend(options.backend as (typeof BACKENDS)[number], out);
    const { folder } = await resolveModel(argument, {
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      out,
    });
    const loaded = await loadWithProgress(folder, argument, backend, options.dtype, out);
    try {
      const seqlen = windowLength(options.seqlen, loaded.config.maxPositions, out);
      let started = performance.now();
      const ids = loaded.tokenizer.encode(textFile);
      out.diag(
        `tokenized ${formatInteger(textFile.length)} characters into ${formatInteger(ids.length)} tokens in ${formatSeconds(performance.now() - started)}`,
      );
      if (ids.length < seqlen) {
        throw new SlimlmError(
          'INVALID_ARGUMENT',
          `${options.text} encodes to ${ids.length} tokens, fewer than one window of --seqlen ${seqlen}: give a longer text or a smaller --seqlen`,
        );
      }
      const bar = progressBar(out.io.stderr, 'scoring', {
        enabled: out.interactive,
        format: (done, total) => `${done}/${total} windows`,
      });
      started = performance.now();
      let result: ReturnType<typeof perplexity>;
      try {
        result = perplexity(loaded.model, ids, {
          seqlen,
          ...(options['max-windows'] === undefined ? {} : { maxWindows: options['max-windows'] }),
          ...(options.batch === undefined ? {} : { batch: options.batch }),
          onProgress: (done, total) => bar.update(done, total),
        });
      } finally {
        bar.finish();
      }
      const elapsed = performance.now() - started;
      const json: EvalPplJson = {
        model: argument,
        text: options.text,
        ppl: result.ppl,
        mean_nll: result.meanNll,
        windows: result.windows,
        tokens: result.tokens,
        text_tokens: ids.length,
        seqlen: result.seqlen,
        protocol: result.protocol,
      };
      if (out.json) {
        out.result(json);
        return;
      }
      out.table([
        ['perplexity', result.ppl.toFixed(4)],
        ['mean nll', `${result.meanNll.toFixed(6)} nats`],
        [
          'windows',
          `${formatInteger(result.windows)} of ${formatInteger(seqlen)} tokens (${formatInteger(result.tokens)} predictions)`,
        ],
        ['text', `${options.text} (${formatInteger(ids.length)} tokens)`],
        ['protocol', result.protocol],
      ]);
      const perSecond = (result.windows * seqlen) / Math.max(elapsed / 1000, 1e-9);
      out.diag(
        `scored in ${formatSeconds(elapsed)} (${perSecond.toFixed(0)} tokens/s, ${backend})`,
      );
    } finally {
      loaded.dispose();
    }
  },
});

/**
 * --seqlen, or the default capped by the model's positions (with a note). An explicit --seqlen
 * past the model's positions is a usage error: positions the model never saw mean nothing.
 */
function windowLength(requested: number | undefined, maxPositions: number, out: Output): number {
  const known = Number.isFinite(maxPositions) && maxPositions > 0;
  if (requested !== undefined) {
    if (known && requested > maxPositions) {
      throw new UsageError(
        `option '--seqlen' is ${requested}, more than the model's ${maxPositions} positions`,
      );
    }
    return requested;
  }
  if (known && maxPositions < DEFAULT_PPL_SEQLEN) {
    out.note(
      `--seqlen ${maxPositions}: the model has ${maxPositions} positions, fewer than the default ${DEFAULT_PPL_SEQLEN}`,
    );
    return maxPositions;
  }
  return DEFAULT_PPL_SEQLEN;
}

/** The UTF-8 text of a file option, or a failure naming the path (exit 1). */
export function readTextFile(path: string, flag: string, out: Output): string {
  const file = resolve(out.io.cwd, path);
  if (!existsSync(file)) throw new SlimlmError('NOT_FOUND', `${flag}: no such file: ${path}`);
  if (statSync(file).isDirectory()) {
    throw new SlimlmError('INVALID_ARGUMENT', `${flag}: ${path} is a folder, not a text file`);
  }
  return readFileSync(file, 'utf8');
}
