import {
  benchmarkGeneration,
  benchmarkTable,
  type GenerationBenchmark,
  weightsLabel,
} from '@slimlm/eval-metrics';
// Registers the 'gptq' quantization method, so that GPTQ checkpoints load like any other.
import '@slimlm/gptq';
import { defineCommand } from '../command';
import { ACTIVATIONS_OPTION, BACKEND_OPTION, MODEL_OPTIONS } from '../options';
import { type BACKENDS, selectBackend } from '../utils/backend';
import { loadWithProgress } from '../utils/load-model';
import { progressBar } from '../utils/progress';
import { resolveModel } from '../utils/resolve-model';

const DEFAULT_LENGTH = 512;

/** `slimlm bench --json`: one object, the columns of optimum's GPTQ benchmark and a few more. */
export interface BenchJson {
  model: string;
  /** How the weights are stored: 'fp (float16)', '4-bit g128 (gptq)'. */
  weights: string;
  backend: string;
  batch: number;
  prompt_len: number;
  new_tokens: number;
  repeats: number;
  load_s: number;
  per_token_ms: number;
  tokens_per_s: number;
  prefill_ms: number;
  decode_tokens_per_s: number;
  peak_memory_mb: number;
  peak_rss_mb: number;
}

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'Benchmark generation: load time, per-token latency, throughput, peak memory',
  description:
    "Measures generation as optimum's GPTQ benchmark does: the model is loaded (timed), then\n" +
    '--batch random prompts of --prompt-len tokens are continued by exactly --new-tokens greedy\n' +
    'tokens (end-of-sequence ignored), once to warm up, once to measure peak memory and\n' +
    '--repeats times timed. Per-token latency is the mean generation time over --new-tokens\n' +
    '(prefill included); throughput is batch / per-token latency. Peak memory is the peak of\n' +
    'tensor storage (weights, KV cache, activations). Lengths default to 512 each, or half the\n' +
    "model's positions each when it has fewer than 1024.",
  positionals: [{ name: 'model', description: 'local folder, built-in name or Hub id' }],
  options: {
    'prompt-len': {
      type: 'integer',
      min: 1,
      placeholder: 'n',
      description: `Prompt tokens per row (default ${DEFAULT_LENGTH}, fitted to the model's positions)`,
    },
    'new-tokens': {
      type: 'integer',
      min: 1,
      placeholder: 'n',
      description: `Tokens generated per row (default ${DEFAULT_LENGTH}, fitted to the model's positions)`,
    },
    batch: {
      type: 'integer',
      min: 1,
      placeholder: 'n',
      description: 'Rows generated together (default 1)',
    },
    repeats: {
      type: 'integer',
      min: 1,
      placeholder: 'n',
      description: 'Timed generations averaged (default 4)',
    },
    seed: {
      type: 'integer',
      min: 0,
      placeholder: 's',
      description: 'Seed of the random prompt ids (default 0)',
    },
    dtype: {
      type: 'string',
      choices: ['f32', 'f16', 'bf16'],
      description: 'Compute dtype (default f32; weights keep their stored dtype)',
    },
    ...BACKEND_OPTION,
    ...ACTIVATIONS_OPTION,
    ...MODEL_OPTIONS,
    json: {
      type: 'boolean',
      description:
        'Print {"model","weights","backend","batch","prompt_len","new_tokens","repeats","load_s","per_token_ms","tokens_per_s","prefill_ms","decode_tokens_per_s","peak_memory_mb","peak_rss_mb"}',
    },
  },
  examples: [
    'slimlm bench wikillama',
    'slimlm bench ./llama-gptq-4bit --prompt-len 512 --new-tokens 512 --batch 4 --json',
  ],
  async run({ positionals, options }, { out }) {
    const argument = positionals[0]!;
    const backend = await selectBackend(options.backend as (typeof BACKENDS)[number], out);
    const { folder } = await resolveModel(argument, {
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      out,
    });
    const bar = progressBar(out.io.stderr, 'benchmarking', {
      enabled: out.interactive,
      format: (done, total) => `${done}/${total}`,
    });
    let result: GenerationBenchmark;
    try {
      result = await benchmarkGeneration(
        () =>
          loadWithProgress(folder, argument, backend, options.dtype, out, {
            activations: options.activations,
          }),
        {
          // Options left out keep the library's defaults.
          promptLength: options['prompt-len'],
          newTokens: options['new-tokens'],
          batch: options.batch,
          repeats: options.repeats,
          seed: options.seed,
          onProgress: (phase, done, total) => {
            if (phase === 'timing') bar.update(done, total, 'timed runs');
            else bar.update(0, 1, phase);
          },
        },
      );
    } finally {
      bar.finish();
    }
    const fitted =
      (options['prompt-len'] === undefined && result.promptLength !== DEFAULT_LENGTH) ||
      (options['new-tokens'] === undefined && result.newTokens !== DEFAULT_LENGTH);
    if (fitted) {
      out.note(
        `prompt length ${result.promptLength} and ${result.newTokens} new tokens, to fit the model's positions`,
      );
    }
    if (out.json) {
      const json: BenchJson = {
        model: argument,
        weights: weightsLabel(result.weights),
        backend,
        batch: result.batch,
        prompt_len: result.promptLength,
        new_tokens: result.newTokens,
        repeats: result.repeats,
        load_s: result.loadSeconds,
        per_token_ms: result.perTokenMs,
        tokens_per_s: result.tokensPerSecond,
        prefill_ms: result.prefillMs,
        decode_tokens_per_s: result.decodeTokensPerSecond,
        peak_memory_mb: result.peakMemoryMb,
        peak_rss_mb: result.peakRssMb,
      };
      out.result(json);
      return;
    }
    out.line(benchmarkTable([{ ...result, model: argument }]));
    out.diag(
      `prefill ${result.prefillMs.toFixed(1)} ms, decode ${result.decodeTokensPerSecond.toFixed(1)} tokens/s, peak RSS ${result.peakRssMb.toFixed(0)} MB (${backend})`,
    );
  },
});
